"""Hardening: outputs never destroy anything, bad input never ends in a traceback.

One class per family of attacks (docs/reliability.md, "Hardening"); each test is
parametrised over several inputs of its family, so a fix of one example that
misses its siblings fails here.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import relcycle
from relcycle import lifecycle
from relcycle.cli import main
from relcycle.errors import (
    BudgetError,
    InputError,
    RecordTypeError,
    RelcycleError,
    StoreError,
    UsageError,
    ValidationError,
)
from relcycle.history import build_portfolio
from relcycle.io import _parse, load_history, load_records, write_rejects
from relcycle.io._csv import CSV_FIELD_LIMIT
from relcycle.io._sqlite import APPLICATION_ID
from relcycle.model import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    Client,
    Complaint,
    ContactPerson,
    Interaction,
    Order,
)
from relcycle.render import atomic_write
from relcycle.report import build_report
from relcycle.store import ingest, read_store

ORDERS = (
    "order_id,client_id,placed_at,amount,currency\n"
    "o1,007,2024-01-05,1252.57,EUR\n"
    "o2,007,2024-02-05T10:00:00+02:00,10.00,EUR\n"
    "o3,C2,2024-03-05,5.00,EUR\n"
)

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def folder(tmp_path: Path, name: str = "src", **files: str) -> Path:
    """A source folder holding ``files`` (``orders`` defaults to :data:`ORDERS`)."""
    out = tmp_path / name
    out.mkdir()
    files.setdefault("orders.csv", ORDERS)
    for file, text in files.items():
        (out / file).write_text(text, encoding="utf-8")
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in-process."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(src: Path) -> dict[str, str]:
    """Every file of a folder (or the one file) by name, with its digest."""
    files = sorted(src.iterdir()) if src.is_dir() else [src]
    return {p.name: digest(p) for p in files}


# ---------------------------------------------------------------------------- outputs


class TestOutputTargets:
    """``--output`` and ``--rejects``: regular files atomically, others never replaced."""

    def test_a_device_is_written_in_place_and_stays_a_device(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """/dev/null receives the report; it is not replaced by a regular file."""
        code, _, _ = run(capsys, "report", str(folder(tmp_path)), "--output", os.devnull)
        assert code == 0
        assert stat.S_ISCHR(os.stat(os.devnull).st_mode)

    @pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
    @pytest.mark.parametrize("fmt", ["table", "json", "csv"])
    def test_a_full_device_is_a_clear_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
    ) -> None:
        """/dev/full: exit 1 naming the path and the reason; the device stays a device."""
        src = folder(tmp_path)
        code, _, err = run(capsys, "report", str(src), "--format", fmt, "--output", "/dev/full")
        assert code == 1
        assert "/dev/full" in err
        assert "No space left" in err
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
    def test_a_fifo_is_written_in_place(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A named pipe gets the report streamed into it and stays a pipe."""
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
        reader.start()
        code, _, _ = run(
            capsys, "report", str(folder(tmp_path)), "--format", "json", "--output", str(fifo)
        )
        reader.join(timeout=60)
        assert code == 0
        assert stat.S_ISFIFO(fifo.lstat().st_mode)
        assert json.loads(received[0])["clients"]

    @pytest.mark.parametrize("existing", [True, False])
    def test_a_symlink_is_written_through(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], existing: bool
    ) -> None:
        """A symbolic link stays a link; the file it names gets the report."""
        real = tmp_path / "real.json"
        if existing:
            real.write_text("old", encoding="utf-8")
        link = tmp_path / "link.json"
        link.symlink_to(real)
        code, _, _ = run(
            capsys, "report", str(folder(tmp_path)), "--format", "json", "--output", str(link)
        )
        assert code == 0
        assert link.is_symlink()
        assert json.loads(real.read_text(encoding="utf-8"))["clients"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json", "src"]

    @pytest.mark.parametrize(
        "target",
        ["src/orders.csv", "link-to-input.csv", "hard-link.csv", "src/clients.csv"],
    )
    @pytest.mark.parametrize("option", ["--output", "--rejects"])
    def test_an_output_naming_an_input_is_refused_before_reading(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, option: str
    ) -> None:
        """The input by any name (path, symlink, hard link) is a usage error; nothing changes.

        The source also holds a bad row: exit 2 (not 1) shows the refusal came first.
        """
        src = folder(
            tmp_path,
            **{"orders.csv": ORDERS + "o9,C3,yesterday,1\n", "clients.csv": "client_id\n007\n"},
        )
        (tmp_path / "link-to-input.csv").symlink_to(src / "orders.csv")
        os.link(src / "orders.csv", tmp_path / "hard-link.csv")
        before = snapshot(src)
        argv = ["report", str(src), option, str(tmp_path / target)]
        argv += ["--skip-bad-rows"] + (["--output", "-"] if option == "--rejects" else [])
        if option == "--output":
            argv += ["--rejects", str(tmp_path / "rejects.csv")]
        code, _, err = run(capsys, *argv)
        assert code == 2
        assert "source" in err
        assert snapshot(src) == before

    def test_a_store_source_cannot_be_the_output(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Reporting a store into the store itself is refused, the store unchanged."""
        db = tmp_path / "s.db"
        ingest(folder(tmp_path), db)
        before = digest(db)
        code, _, _ = run(capsys, "report", str(db), "--output", str(db))
        assert code == 2
        assert digest(db) == before

    @pytest.mark.parametrize("same", ["same-path", "symlink"])
    def test_output_and_rejects_must_differ(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], same: str
    ) -> None:
        """--output and --rejects naming one file is a usage error."""
        out = tmp_path / "out.csv"
        other = out
        if same == "symlink":
            other = tmp_path / "alias.csv"
            other.symlink_to(out)
        code, _, err = run(
            capsys,
            "report",
            str(folder(tmp_path)),
            "--skip-bad-rows",
            "--output",
            str(out),
            "--rejects",
            str(other),
        )
        assert code == 2
        assert "same file" in err
        assert not out.exists()

    @pytest.mark.parametrize("target", ["a-folder", "missing/out.json", "a-folder/"])
    def test_a_folder_or_a_missing_folder_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
    ) -> None:
        """No traceback, exit 2, nothing written."""
        (tmp_path / "a-folder").mkdir()
        code, _, err = run(
            capsys, "report", str(folder(tmp_path)), "--output", str(tmp_path / target)
        )
        assert code == 2
        assert err.startswith("relcycle: error:")
        assert list((tmp_path / "a-folder").iterdir()) == []

    @pytest.mark.skipif(ROOT, reason="root writes to read-only folders")
    def test_an_unwritable_folder_is_a_clear_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A folder without write permission: exit 1 naming the output, nothing written."""
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        try:
            code, _, err = run(
                capsys, "report", str(folder(tmp_path)), "--output", str(locked / "r.json")
            )
        finally:
            locked.chmod(0o755)
        assert code == 1
        assert "r.json" in err
        assert list(locked.iterdir()) == []

    @pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
    @pytest.mark.parametrize("fmt", ["table", "jsonl"])
    def test_stdout_on_a_full_disk(self, tmp_path: Path, fmt: str) -> None:
        """``relcycle report > /dev/full``: exit 1, one clear line, no traceback."""
        src = folder(tmp_path)
        with open("/dev/full", "w") as full:
            proc = subprocess.run(
                [sys.executable, "-m", "relcycle", "report", str(src), "--format", fmt],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
        assert proc.returncode == 1
        assert "cannot write stdout" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert "Exception ignored" not in proc.stderr

    def test_atomic_write_api(self, tmp_path: Path) -> None:
        """The Python API: a folder is a UsageError, a failed chunk leaves nothing."""
        with pytest.raises(UsageError):
            atomic_write(tmp_path, "x")

        def chunks() -> Any:
            yield "partial"
            raise RuntimeError("render failed")

        target = tmp_path / "r.txt"
        with pytest.raises(RuntimeError):
            atomic_write(target, chunks())
        assert list(tmp_path.iterdir()) == []

    def test_rejects_quote_undecodable_text(self, tmp_path: Path) -> None:
        """A rejected row holding a lone surrogate is written, escaped, not a crash."""
        loaded = load_records(
            [{"order_id": "o\ud800", "client_id": "A", "placed_at": "x", "amount": "1"}],
            skip_bad_rows=True,
        )
        path = write_rejects(loaded.rejects, tmp_path / "rejects.csv")
        assert "\\ud800" in path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- the store


def _sql(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _foreign_clients_int(db: Path) -> None:
    _sql(
        db,
        "CREATE TABLE clients (client_id INTEGER, name TEXT)",
        "INSERT INTO clients VALUES ('007', 'Acme')",
    )


def _foreign_orders(db: Path) -> None:
    _sql(
        db,
        "CREATE TABLE orders (order_id TEXT, client_id TEXT, total REAL)",
        "INSERT INTO orders VALUES ('u1', 'A', 3.5)",
    )


def _other_application(db: Path) -> None:
    ingest(folder(db.parent, "seed"), db)
    _sql(db, "PRAGMA application_id = 1234")


def _unrelated_tables(db: Path) -> None:
    _sql(db, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")


def _store_with_a_real_column(db: Path) -> None:
    ingest(folder(db.parent, "seed"), db)
    _sql(db, "ALTER TABLE orders ADD COLUMN weight REAL")


class TestForeignDatabases:
    """``ingest --db`` never alters an SQLite file relcycle did not create."""

    @pytest.mark.parametrize(
        "make",
        [
            _foreign_clients_int,
            _foreign_orders,
            _other_application,
            _unrelated_tables,
            _store_with_a_real_column,
        ],
    )
    def test_refused_byte_for_byte_unchanged(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], None]
    ) -> None:
        """A usage error (exit 2) before anything is written; the file keeps every byte."""
        db = tmp_path / "crm.db"
        make(db)
        before = digest(db)
        src = folder(tmp_path, **{"clients.csv": "client_id\n007\nC2\n"})
        with pytest.raises(UsageError, match="not a relcycle store"):
            ingest(src, db)
        code, _, err = run(capsys, "ingest", str(src), "--db", str(db))
        assert code == 2
        assert "not a relcycle store" in err
        assert digest(db) == before
        assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0

    def test_ids_keep_their_zeros(self, tmp_path: Path) -> None:
        """The store relcycle makes keeps '007' as '007' (its columns are TEXT)."""
        db = tmp_path / "s.db"
        ingest(folder(tmp_path, **{"clients.csv": "client_id\n007\nC2\n"}), db)
        assert load_history(db).portfolio.client_ids == ("007", "C2")

    def test_a_new_store_carries_the_marker(self, tmp_path: Path) -> None:
        """application_id and user_version are written with the first ingest."""
        db = tmp_path / "s.db"
        ingest(folder(tmp_path), db)
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        conn.close()

    def test_a_store_made_before_the_marker_is_migrated(self, tmp_path: Path) -> None:
        """A store without the id (an older relcycle's) is accepted and marked."""
        db = tmp_path / "s.db"
        ingest(folder(tmp_path), db)
        _sql(db, "PRAGMA application_id = 0", "PRAGMA user_version = 0")
        more = folder(tmp_path, "more", **{"orders.csv": ORDERS.replace("o3,", "o4,")})
        assert ingest(more, db).added["orders"] == 1
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        conn.close()


def _truncate(size: Callable[[int], int]) -> Callable[[Path], None]:
    def damage(db: Path) -> None:
        data = db.read_bytes()
        db.write_bytes(data[: size(len(data))])

    return damage


def _scribble(db: Path) -> None:
    data = bytearray(db.read_bytes())
    for at in range(4096, len(data), 4096):
        data[at + 8 : at + 40] = b"\xff" * 32  # every page after the first
    db.write_bytes(bytes(data))


def _unindexed(db: Path, index: str, *statements: str) -> None:
    """Run ``statements`` on ``db`` while SQLite does not know ``index``, so the index
    is not kept up to date: the damage a torn write or another tool can leave, which
    SQLite's quick_check does not see."""
    conn = sqlite3.connect(db, isolation_level=None)
    entry = conn.execute(
        "SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master WHERE name = ?", (index,)
    ).fetchone()
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("DELETE FROM sqlite_master WHERE name = ?", (index,))
    conn.close()
    conn = sqlite3.connect(db, isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("INSERT INTO sqlite_master VALUES (?, ?, ?, ?, ?)", entry)
    conn.close()


def _row_count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table} NOT INDEXED").fetchone()[0])
    finally:
        conn.close()


class TestDamagedStores:
    """A corrupt or truncated store is a clear error, never a traceback."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Path:
        """A store of a few clients, checkpointed into its main file."""
        db = tmp_path / "s.db"
        ingest(folder(tmp_path, **{"clients.csv": "client_id\n007\nC2\n"}), db)
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.close()
        return db

    @pytest.mark.parametrize(
        "damage",
        [
            _truncate(lambda n: 100),
            _truncate(lambda n: 4096),
            _truncate(lambda n: n // 2),
            _truncate(lambda n: n - 1),
            _scribble,
        ],
        ids=["header-only", "first-page", "half", "one-byte-short", "scribbled"],
    )
    def test_ingest_and_report(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        store: Path,
        damage: Callable[[Path], None],
    ) -> None:
        """Ingest exits 1 or 2 naming the store, or (SQLite repaired it) leaves it intact.

        The report then exits 0 or 1 naming the store; the API raises a
        RelcycleError, never sqlite3's own.
        """
        damage(store)
        src = folder(tmp_path, "more")
        code, _, err = run(capsys, "ingest", str(src), "--db", str(store))
        assert code in (0, 1, 2), err
        if code:
            assert "s.db" in err
        else:
            conn = sqlite3.connect(store)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.close()
        code, _, err = run(capsys, "report", str(store))
        assert code in (0, 1), err  # a damaged page no table uses may still read
        if code == 1:
            assert "s.db" in err
        if code:
            with pytest.raises((StoreError, UsageError, InputError)):
                ingest(src, store)

    def test_an_index_that_misses_a_row(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], store: Path
    ) -> None:
        """An order the clients' index does not list: the report would leave it out
        without a word (it reads client by client through that index), so report
        and ingest refuse the store, naming the index; after SQLite's REINDEX, as
        the message says, the order is reported."""
        _unindexed(
            store,
            "relcycle_orders_client",
            "INSERT INTO orders (order_id, client_id, placed_at, amount, currency) "
            "VALUES ('o4', 'C2', '2024-03-06T00:00:00+00:00', '7.00', 'EUR')",
        )
        conn = sqlite3.connect(store)
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        conn.close()
        code, _, err = run(capsys, "report", str(store), "--format", "json")
        assert code == 1
        assert "relcycle_orders_client lists 3 of the 4 rows of orders" in err
        assert "REINDEX" in err
        with pytest.raises(StoreError, match="lists 3 of the 4 rows"):
            read_store(store)
        more = folder(tmp_path, "more", **{"orders.csv": ORDERS.replace("o3,", "o5,")})
        with pytest.raises(StoreError, match="lists 3 of the 4 rows"):
            ingest(more, store)
        assert _row_count(store, "orders") == 4  # nothing added
        conn = sqlite3.connect(store)
        conn.execute("REINDEX")
        conn.close()
        code, out, err = run(capsys, "report", str(store), "--format", "json")
        assert code == 0, err
        c2 = next(c for c in json.loads(out)["clients"] if c["client_id"] == "C2")
        assert c2["orders"] == 2

    def test_rows_no_client_run_reaches(
        self, capsys: pytest.CaptureFixture[str], store: Path
    ) -> None:
        """A row without a client id (a table whose schema another tool loosened)
        is in no run of clients: the report refuses the store instead of leaving
        the row out."""
        conn = sqlite3.connect(store, isolation_level=None)
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'orders'").fetchone()[0]
        loosened = sql.replace('"client_id" TEXT NOT NULL', '"client_id" TEXT')
        assert loosened != sql
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'orders'", (loosened,))
        conn.close()
        conn = sqlite3.connect(store, isolation_level=None)
        conn.execute(
            "INSERT INTO orders (order_id, client_id, placed_at, amount, currency) "
            "VALUES ('o4', NULL, '2024-03-06T00:00:00+00:00', '7.00', 'EUR')"
        )
        conn.close()
        code, _, err = run(capsys, "report", str(store), "--format", "json")
        assert code == 1
        assert "found 3 of the 4 rows of orders" in err
        with pytest.raises(StoreError, match="or rows have no client_id"):
            read_store(store)

    def test_a_damaged_ingest_log(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], store: Path
    ) -> None:
        """The contract tables read, the ingest log's page is damaged: the report in
        worker processes (which reads the log to see that no ingest ran meanwhile)
        exits 1 naming the store, and the API raises StoreError, not sqlite3's error
        (a case a fuzzing run found)."""
        conn = sqlite3.connect(store)
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'relcycle_ingests'"
        ).fetchone()
        conn.close()
        data = bytearray(store.read_bytes())
        data[(root - 1) * page_size] = 0xFF  # not a b-tree page type
        store.write_bytes(bytes(data))
        code, _, err = run(capsys, "report", str(store), "--workers", "2")
        assert code == 1
        assert "s.db" in err
        assert "damaged" in err
        with read_store(store) as stored, pytest.raises(StoreError, match="damaged"):
            build_report(stored, workers=2)

    @pytest.mark.skipif(ROOT, reason="root writes read-only files")
    def test_a_read_only_store(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], store: Path
    ) -> None:
        """A store without write permission (nor its folder) reports; ingest exits 1."""
        store.chmod(0o444)
        store.parent.chmod(0o555)
        try:
            code, out, err = run(capsys, "report", str(store), "--format", "json")
            assert code == 0, err
            assert {c["client_id"] for c in json.loads(out)["clients"]} == {"007", "C2"}
            code, _, err = run(
                capsys, "ingest", str(folder(tmp_path / "x", "more")), "--db", str(store)
            )
            assert code in (1, 2)
        finally:
            store.parent.chmod(0o755)
            store.chmod(0o644)


def _rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute("SELECT * FROM orders ORDER BY order_id"))
    finally:
        conn.close()


class TestRespelledValues:
    """A re-ingested record whose values are equal but written differently."""

    @pytest.mark.parametrize(
        ("first", "again"),
        [
            ("o1,007,2024-01-05,1252.57,EUR", "o1,007,2024-01-05,1252.570,EUR"),
            ("o1,007,2024-01-05T12:00:00+02:00,5,EUR", "o1,007,2024-01-05T10:00:00Z,5,EUR"),
            ("o1,007,2024-01-05T12:00:00+02:00,5,EUR", "o1,007,2024-01-05T11:00:00+01:00,5.0,EUR"),
        ],
    )
    def test_same_values_are_kept_as_stored_and_counted(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], first: str, again: str
    ) -> None:
        """Nothing added, the stored text kept, and the summary says so."""
        header = "order_id,client_id,placed_at,amount,currency\n"
        db = tmp_path / "s.db"
        ingest(folder(tmp_path, "a", **{"orders.csv": header + first + "\n"}), db)
        stored = load_history(db).tables.orders
        before = _rows(db)
        src = folder(tmp_path, "b", **{"orders.csv": header + again + "\n"})
        result = ingest(src, db)
        assert result.total_added == 0
        assert dict(result.respelled) == {"orders": 1}
        assert load_history(db).tables.orders == stored
        assert _rows(db) == before
        code, out, _ = run(capsys, "ingest", str(src), "--db", str(db))
        assert code == 0
        assert "1 record (orders 1) spelled differently, same values: kept as stored" in out

    def test_other_values_still_conflict(self, tmp_path: Path) -> None:
        """A different amount is a ConflictError, as before."""
        header = "order_id,client_id,placed_at,amount,currency\n"
        db = tmp_path / "s.db"
        ingest(folder(tmp_path, "a", **{"orders.csv": header + "o1,A,2024-01-05,1.5,EUR\n"}), db)
        with pytest.raises(relcycle.ConflictError):
            ingest(
                folder(tmp_path, "b", **{"orders.csv": header + "o1,A,2024-01-05,1.6,EUR\n"}), db
            )


# ---------------------------------------------------------------------------- input


def _jsonl(tmp_path: Path, lines: list[str], table: str = "orders") -> Path:
    files = {f"{table}.jsonl": "\n".join(lines) + "\n"}
    if table != "orders":
        files["orders.jsonl"] = (
            '{"order_id": "o1", "client_id": "A", "placed_at": "2024-01-01", "amount": "1"}\n'
        )
    src = tmp_path / "src"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    return src


GOOD = '{"order_id": "o0", "client_id": "A", "placed_at": "2024-01-01", "amount": "1"}'
ENGINES = ["python", "arrow"]


def _problems(src: Path) -> list[Any]:
    with pytest.raises(InputError) as info:
        load_history(src)
    return list(info.value.problems)


class TestJsonLines:
    """JSON Lines oddities are FILE:LINE problems, on both engines."""

    @pytest.mark.parametrize(
        ("line", "column"),
        [
            (
                '{"order_id": "o1", "client_id": "A", "placed_at": "2024-01-02", "amount": "1", '
                '"amount": "2"}',
                "amount",
            ),
            (
                '{"order_id": "o1", "order_id": "o2", "client_id": "A", "placed_at": "2024-01-02", '
                '"amount": "1"}',
                "order_id",
            ),
            (
                '{"order_id": "o1", "client_id": "A", "client_id": "A", "placed_at": "2024-01-02", '
                '"amount": "1"}',
                "client_id",
            ),
        ],
    )
    def test_a_key_twice_is_named(self, tmp_path: Path, line: str, column: str) -> None:
        """Never the last value silently: the line and the key are named."""
        [p] = _problems(_jsonl(tmp_path, [GOOD, line]))
        assert (p.source, p.line, p.column) == ("orders.jsonl", 2, column)
        assert "twice" in p.reason

    @pytest.mark.parametrize(
        ("line", "table", "column"),
        [
            (
                '{"order_id": "o\\ud800", "client_id": "A", "placed_at": "2024-01-02", '
                '"amount": "1"}',
                "orders",
                "order_id",
            ),
            (
                '{"order_id": "o1", "client_id": "A\\udfff", "placed_at": "2024-01-02", '
                '"amount": "1"}',
                "orders",
                "client_id",
            ),
            (
                '{"order_id": "o1", "client_id": "A", "placed_at": "2024-01-02", "amount": "1", '
                '"product": "x\\ud83d"}',
                "orders",
                "product",
            ),
            ('{"client_id": "A", "name": "\\udc00"}', "clients", "name"),
            ('{"client_id": "A", "tier": "\\ud800gold"}', "clients", "tier"),
            (
                '{"interaction_id": "i1", "client_id": "A", "at": "2024-01-02", "note": "\\ud800"}',
                "interactions",
                "note",
            ),
        ],
    )
    @pytest.mark.parametrize("engine", ENGINES)
    def test_a_lone_surrogate_is_refused_at_read_time(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        line: str,
        table: str,
        column: str,
        engine: str,
    ) -> None:
        """The cell is named (file, line, column); the report exits 1, no traceback."""
        src = _jsonl(tmp_path, [line], table)
        [p] = _problems(src)
        assert (p.source, p.line, p.column) == (f"{table}.jsonl", 1, column)
        assert "surrogate" in p.reason
        out = tmp_path / "r.json"
        code, _, err = run(capsys, "report", str(src), "--engine", engine, "--output", str(out))
        assert code == 1
        assert f"{table}.jsonl:1: column {column}" in err
        assert not out.exists()

    def test_a_valid_surrogate_pair_is_text(self, tmp_path: Path) -> None:
        """An escaped pair (an emoji) is one valid character, kept."""
        src = _jsonl(
            tmp_path,
            [
                '{"order_id": "o1", "client_id": "A", "placed_at": "2024-01-02", "amount": "1", '
                '"product": "\\ud83d\\ude00"}'
            ],
        )
        assert load_history(src).tables.orders[0].product == "\U0001f600"

    @pytest.mark.parametrize(
        "line",
        [
            '{"order_id": ' + "[" * 100_000 + "]" * 100_000 + "}",
            '{"order_id": "o1", "x": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}",
            "[" * 100_000,
            '{"client_id": "A", "contact_persons": ' + "[" * 100_000 + "]" * 100_000 + "}",
        ],
        ids=["arrays", "objects", "unclosed", "contacts"],
    )
    @pytest.mark.parametrize("engine", ENGINES)
    def test_deep_nesting_is_a_line_problem(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, engine: str
    ) -> None:
        """100,000 levels: a problem at its line, not a RecursionError."""
        table = "clients" if "contact_persons" in line else "orders"
        src = _jsonl(tmp_path, [GOOD if table == "orders" else '{"client_id": "B"}', line], table)
        problems = _problems(src)
        assert (problems[0].source, problems[0].line) == (f"{table}.jsonl", 2)
        code, _, _ = run(capsys, "report", str(src), "--engine", engine)
        assert code == 1

    def test_deep_nesting_in_a_csv_contacts_cell(self, tmp_path: Path) -> None:
        """The JSON inside a CSV cell is guarded too."""
        cell = "[" * 100_000
        src = folder(
            tmp_path,
            **{
                "clients.csv": f"client_id,contact_persons\nA,{cell}\n",
                "orders.csv": "order_id,client_id,placed_at,amount\no1,A,2024-01-01,1\n",
            },
        )
        [p] = _problems(src)
        assert (p.source, p.line, p.column) == ("clients.csv", 2, "contact_persons")


class TestLongCells:
    """A CSV cell over the csv module's limit names its line and column."""

    @pytest.mark.parametrize(
        ("row", "line", "column"),
        [
            ('o2,A,2024-01-01,1,"{long}"', 3, "product"),
            ("o2,A,2024-01-01,1,{long}", 3, "product"),
            ('"{long}",A,2024-01-01,1,x', 3, "order_id"),
            ('o2,"multi\nline {long}",2024-01-01,1,x', 3, "client_id"),
            ('o2,A,2024-01-01,1,"never closed', 3, "product"),
        ],
    )
    @pytest.mark.parametrize("engine", ENGINES)
    def test_named(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        row: str,
        line: int,
        column: str,
        engine: str,
    ) -> None:
        """FILE:LINE, the column and the limit; exit 1 on either engine."""
        body = row.replace("{long}", "x" * (CSV_FIELD_LIMIT + 10))
        if "never closed" in row:
            body += "\n" + ("y" * 1000 + "\n") * 200
        text = "order_id,client_id,placed_at,amount,product\no1,A,2024-01-01,1,ok\n" + body + "\n"
        src = folder(tmp_path, **{"orders.csv": text})
        [p] = _problems(src)
        assert (p.source, p.line, p.column) == ("orders.csv", line, column)
        assert f"{CSV_FIELD_LIMIT:,}" in p.reason
        code, _, err = run(capsys, "report", str(src), "--engine", engine)
        assert code == 1
        assert f"orders.csv:{line}: column {column}" in err

    def test_a_cell_at_the_limit_is_read(self, tmp_path: Path) -> None:
        """Exactly the limit is accepted, to the last character."""
        text = (
            "order_id,client_id,placed_at,amount,product\n"
            f"o1,A,2024-01-01,1,{'x' * CSV_FIELD_LIMIT}\n"
        )
        loaded = load_history(folder(tmp_path, **{"orders.csv": text}))
        assert loaded.tables.orders[0].product == "x" * CSV_FIELD_LIMIT


class TestYears:
    """One supported range of years, for cells, --as-of and the records themselves."""

    def test_one_constant(self) -> None:
        """The readers use the model's constants (one definition)."""
        assert _parse.EARLIEST_YEAR is EARLIEST_YEAR
        assert _parse.LATEST_YEAR is LATEST_YEAR

    @pytest.mark.parametrize(
        "moment",
        ["0001-01-01", "9999-12-31", "1899-12-31T23:59", "2200-01-01", "9999-12-31T23:59:59+14:00"],
    )
    @pytest.mark.parametrize("option", ["--as-of", "--compare-to"])
    @pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati"])
    def test_out_of_range_moments_are_usage_errors(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        moment: str,
        option: str,
        zone: str,
    ) -> None:
        """Exit 2 naming the option and the range, before reading."""
        code, _, err = run(capsys, "report", str(folder(tmp_path)), option, moment, "--tz", zone)
        assert code == 2
        assert option in err
        assert f"{EARLIEST_YEAR}-{LATEST_YEAR}" in err

    @pytest.mark.parametrize("year", [1, EARLIEST_YEAR - 1, LATEST_YEAR + 1, 9999])
    @pytest.mark.parametrize(
        ("make", "field"),
        [
            (lambda t: Order(order_id="o", client_id="A", placed_at=t, amount=1), "placed_at"),
            (lambda t: Interaction(interaction_id="i", client_id="A", at=t), "at"),
            (lambda t: Complaint(complaint_id="k", client_id="A", opened_at=t), "opened_at"),
            (lambda t: Client(client_id="A", since=t), "since"),
            (
                lambda t: Complaint(
                    complaint_id="k",
                    client_id="A",
                    opened_at=datetime(2000, 1, 1, tzinfo=UTC),
                    status="resolved",
                    resolved_at=t,
                ),
                "resolved_at",
            ),
        ],
    )
    def test_records_refuse_other_years(
        self, year: int, make: Callable[[datetime], object], field: str
    ) -> None:
        """The constructors enforce the readers' range (no record fails later instead)."""
        with pytest.raises(ValidationError) as info:
            make(datetime(year, 6, 1, tzinfo=UTC))
        assert info.value.field == field

    @pytest.mark.parametrize("year", [EARLIEST_YEAR, LATEST_YEAR])
    def test_the_ends_of_the_range_report(self, year: int) -> None:
        """A record in the first or last supported year is reported as of its own moment."""
        at = datetime(year, 6, 1, tzinfo=timezone(timedelta(hours=5)))
        order = Order(order_id="o", client_id="A", placed_at=at, amount=Decimal(1))
        report = build_report(build_portfolio(orders=[order]), as_of=at)
        assert len(report.clients) == 1

    @pytest.mark.parametrize("year", [1, 1899, 2200, 9999])
    def test_as_of_in_the_api(self, year: int) -> None:
        """build_report refuses an as_of outside the range with a ValidationError."""
        order = Order(
            order_id="o", client_id="A", placed_at=datetime(2000, 1, 1, tzinfo=UTC), amount=1
        )
        with pytest.raises(ValidationError):
            build_report(build_portfolio(orders=[order]), as_of=datetime(year, 1, 1, tzinfo=UTC))

    @pytest.mark.parametrize(
        "make",
        [
            lambda: Client(client_id="A", name="\ud800"),
            lambda: Client(client_id="A", attributes={"tier\udc00": "x"}),
            lambda: ContactPerson(name="Ann\ud800"),
            lambda: Order(
                order_id="\udfff",
                client_id="A",
                placed_at=datetime(2000, 1, 1, tzinfo=UTC),
                amount=1,
            ),
        ],
    )
    def test_records_refuse_lone_surrogates(self, make: Callable[[], object]) -> None:
        """No record can hold text no file can be written with."""
        with pytest.raises(ValidationError, match="surrogate"):
            make()


# ---------------------------------------------------------------------------- the Python API


SIM = relcycle.simulate_portfolio(4, seed=2)
PORTFOLIO = SIM.portfolio()
HISTORY = PORTFOLIO.histories[0]

#: Good values for the required arguments the probe does not test.
GOOD_ARGS: dict[str, Any] = {
    "history": HISTORY,
    "portfolio": PORTFOLIO,
    "as_of": SIM.as_of,
    "values": {"A": Decimal(1)},
    "n_clients": 2,
    "orders": [],
    "figures_by_client": {},
}

WRONG = [5, "x", b"x", None, object(), [5], [{"order_id": "1"}], {"a": 1}, iter([{"a": 1}])]


def _api_functions() -> list[tuple[str, Callable[..., Any]]]:
    return [
        (name, obj)
        for name in sorted(relcycle.__all__)
        if inspect.isfunction(obj := getattr(relcycle, name))
    ]


class TestPythonApi:
    """Every public function refuses a wrong argument with a RelcycleError."""

    @pytest.mark.parametrize(("name", "function"), _api_functions(), ids=lambda v: str(v)[:30])
    def test_every_argument_of_every_function(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        name: str,
        function: Callable[..., Any],
    ) -> None:
        """Each argument, given each wrong value: a RelcycleError or a result, never another."""
        monkeypatch.chdir(tmp_path)  # "x" as a path is a file here, not in the checkout
        good = dict(GOOD_ARGS, source=str(folder(tmp_path)), db_path=str(tmp_path / "x.db"))
        good["dest"] = str(tmp_path / "out")
        params = [
            p
            for p in inspect.signature(function).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        for param in params:
            for wrong in WRONG:
                kwargs = {
                    p.name: good.get(p.name, [])
                    for p in params
                    if p.default is p.empty and p.name != param.name
                }
                kwargs[param.name] = wrong
                args = [kwargs.pop(p.name) for p in params if p.kind is p.POSITIONAL_ONLY]
                try:
                    function(*args, **kwargs)
                except RelcycleError:
                    pass
                except Exception as exc:  # pragma: no cover - the failure being tested
                    pytest.fail(f"{name}({param.name}={wrong!r:.40}) raised {exc!r}")

    @pytest.mark.parametrize(
        ("call", "function", "argument"),
        [
            (lambda: relcycle.build_portfolio(orders=5), "build_portfolio", "orders"),
            (
                lambda: relcycle.build_portfolio(orders=[{"order_id": "1"}]),
                "build_portfolio",
                "orders",
            ),
            (lambda: relcycle.build_portfolio(orders=iter([{}])), "build_portfolio", "orders"),
            (
                lambda: relcycle.build_portfolio(complaints=[HISTORY]),
                "build_portfolio",
                "complaints",
            ),
            (lambda: relcycle.build_portfolio(clients=["A"]), "build_portfolio", "clients"),
            (lambda: relcycle.build_report([{"client_id": "A"}]), "build_report", "portfolio"),
            (lambda: relcycle.load_records(5), "load_records", "orders"),
            (lambda: relcycle.load_history(5), "load_history", "source"),
            (lambda: relcycle.ingest(PORTFOLIO, 5), "ingest", "db_path"),
            (
                lambda: relcycle.write_history(PORTFOLIO, "out", format=5),
                "write_history",
                "format",
            ),
            (lambda: relcycle.record_sort_key({"at": 1}), "record_sort_key", "record"),
        ],
    )
    def test_the_argument_is_named(
        self, call: Callable[[], object], function: str, argument: str
    ) -> None:
        """The error names the function and the argument, and is a TypeError too."""
        with pytest.raises(RecordTypeError) as info:
            call()
        assert (info.value.record, info.value.field) == (function, argument)
        assert isinstance(info.value, TypeError)


# ---------------------------------------------------------------------------- resources


def _open_at_once(n: int) -> list[Complaint]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        Complaint(complaint_id=f"k{i}", client_id="A", opened_at=start + timedelta(minutes=i))
        for i in range(n)
    ]


def _recurring_resolved(n: int) -> list[Complaint]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        Complaint(
            complaint_id=f"k{i}",
            client_id="A",
            opened_at=start + timedelta(minutes=10 * i),
            status="resolved",
            resolved_at=start + timedelta(minutes=10 * i + 1),
        )
        for i in range(n)
    ]


class TestMemoryBudget:
    """One huge client fails with a clear error naming it and the budget."""

    @pytest.mark.parametrize("pattern", [_open_at_once, _recurring_resolved])
    @pytest.mark.parametrize("engine", ENGINES)
    def test_over_the_budget(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        pattern: Callable[[int], list[Complaint]],
        engine: str,
    ) -> None:
        """The report exits 1 naming the client and the budget; nothing is written."""
        monkeypatch.setattr(lifecycle, "EVIDENCE_BUDGET", 2_000)
        complaints = pattern(300)
        order = Order(order_id="o1", client_id="A", placed_at=complaints[0].opened_at, amount=1)
        src = tmp_path / "src"
        relcycle.write_history(
            build_portfolio(orders=[order], complaints=complaints), src, format="csv"
        )
        with pytest.raises(BudgetError) as info:
            build_report(load_history(src).portfolio)
        assert (info.value.client_id, info.value.budget) == ("A", 2_000)
        out = tmp_path / "r.json"
        code, _, err = run(capsys, "report", str(src), "--engine", engine, "--output", str(out))
        assert code == 1
        assert "client 'A'" in err
        assert "2,000" in err
        assert not out.exists()

    @pytest.mark.parametrize("pattern", [_open_at_once, _recurring_resolved])
    def test_under_the_budget_completes(
        self, monkeypatch: pytest.MonkeyPatch, pattern: Callable[[int], list[Complaint]]
    ) -> None:
        """The same history under the budget is reported."""
        monkeypatch.setattr(lifecycle, "EVIDENCE_BUDGET", 100_000)
        complaints = pattern(300)
        order = Order(order_id="o1", client_id="A", placed_at=complaints[0].opened_at, amount=1)
        report = build_report(build_portfolio(orders=[order], complaints=complaints))
        assert report.clients[0].client_id == "A"
