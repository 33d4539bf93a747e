"""Tests for relcycle.store: the embedded SQLite store and its crash-safe ingest."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from relcycle.errors import ConflictError, DuplicateIdError, InputError, UsageError
from relcycle.io import HistoryTables, load_history, write_history
from relcycle.simulate import simulate_portfolio
from relcycle.store import create_store, ingest, store_counts

ORDERS = "order_id,client_id,placed_at,amount\n"


def write(folder: Path, name: str, text: str) -> Path:
    """Write one file of a source folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def integrity(db: Path) -> str:
    """The result of PRAGMA integrity_check."""
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def ingests(db: Path) -> int:
    """How many ingests the store's log holds."""
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM relcycle_ingests").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture(scope="module")
def batches(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, dict[str, int], dict[str, int]]:
    """Two disjoint contract CSV folders (clients 1-60 and 61-120 of one simulation)."""
    root = tmp_path_factory.mktemp("batches")
    sim = simulate_portfolio(120, seed=3)
    counts = []
    folders = []
    for name, keep in (("a", lambda cid: int(cid[1:]) <= 60), ("b", lambda cid: int(cid[1:]) > 60)):
        tables = HistoryTables(
            clients=tuple(c for c in sim.clients if keep(c.client_id)),
            orders=tuple(o for o in sim.orders if keep(o.client_id)),
            interactions=tuple(i for i in sim.interactions if keep(i.client_id)),
            complaints=tuple(c for c in sim.complaints if keep(c.client_id)),
        )
        folder = root / name
        write_history(tables, folder)
        folders.append(folder)
        counts.append(
            {
                "clients": len(tables.clients or ()),
                "orders": len(tables.orders),
                "interactions": len(tables.interactions),
                "complaints": len(tables.complaints),
            }
        )
    return folders[0], folders[1], counts[0], counts[1]


def plus(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Table counts of two batches together."""
    return {k: a[k] + b[k] for k in a}


class TestIngest:
    def test_ingest_then_read_back(self, tmp_path: Path, batches: tuple) -> None:
        """A store holds what was ingested and reads back with the SQLite reader."""
        a, _, count_a, _ = batches
        db = tmp_path / "store.db"
        result = ingest(a, db)
        assert dict(result.added) == count_a
        assert result.sequence == 1
        assert store_counts(db) == count_a
        assert load_history(db).portfolio == load_history(a).portfolio
        assert integrity(db) == "ok"

    def test_store_uses_wal(self, tmp_path: Path) -> None:
        """The store is in WAL mode."""
        db = create_store(tmp_path / "s.db")
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()

    def test_idempotent(self, tmp_path: Path, batches: tuple) -> None:
        """Ingesting the same records again adds nothing and logs no ingest."""
        a, _, count_a, _ = batches
        db = tmp_path / "store.db"
        ingest(a, db)
        again = ingest(a, db)
        assert again.total_added == 0
        assert dict(again.unchanged) == count_a
        assert again.sequence is None
        assert store_counts(db) == count_a
        assert ingests(db) == 1

    def test_incremental(self, tmp_path: Path) -> None:
        """Rows appended to a source are appended to the store; earlier ones are kept."""
        src = write(
            tmp_path / "src",
            "orders.csv",
            "client_id,placed_at,amount\nA,2024-01-02,1\nA,2024-01-02,1\n",
        )
        db = tmp_path / "store.db"
        assert ingest(src, db).total_added == 2
        with (src / "orders.csv").open("a", encoding="utf-8") as fh:
            fh.write("A,2024-01-02,1\nB,2024-02-01,3\n")
        second = ingest(src, db)
        assert second.added["orders"] == 2
        assert second.unchanged["orders"] == 2
        assert store_counts(db)["orders"] == 4

    def test_conflict_writes_nothing(self, tmp_path: Path) -> None:
        """The same id with other content is a conflict listing the ids; nothing is written."""
        db = tmp_path / "store.db"
        ingest(
            write(tmp_path / "one", "orders.csv", ORDERS + "1,A,2024-01-02,10\n2,A,2024-01-03,5\n"),
            db,
        )
        two = write(
            tmp_path / "two",
            "orders.csv",
            ORDERS + "1,A,2024-01-02,10\n2,A,2024-01-03,6\n3,A,2024-01-04,7\n",
        )
        write(two, "interactions.csv", "client_id,at\nA,2024-01-05\n")
        with pytest.raises(ConflictError) as info:
            ingest(two, db)
        assert info.value.table == "orders"
        assert info.value.ids == ("2",)
        assert store_counts(db) == {"clients": 0, "orders": 2, "interactions": 0, "complaints": 0}

    def test_same_meaning_is_not_a_conflict(self, tmp_path: Path) -> None:
        """A stored row spelled differently but meaning the same record is not a conflict."""
        db = tmp_path / "store.db"
        ingest(write(tmp_path / "one", "orders.csv", ORDERS + "1,A,2024-01-02,10\n"), db)
        conn = sqlite3.connect(db)
        conn.execute("UPDATE orders SET placed_at = '2024-01-02T00:00Z', discounted = 'no'")
        conn.commit()
        conn.close()
        assert (
            ingest(
                write(tmp_path / "two", "orders.csv", ORDERS + "1,A,2024-01-02,10\n"), db
            ).total_added
            == 0
        )

    def test_bad_source_touches_nothing(self, tmp_path: Path) -> None:
        """A source with bad rows fails before the store is created or opened."""
        src = write(tmp_path / "src", "orders.csv", ORDERS + "1,A,yesterday,10\n")
        db = tmp_path / "store.db"
        with pytest.raises(InputError):
            ingest(src, db)
        assert not db.exists()

    def test_skip_bad_rows(self, tmp_path: Path) -> None:
        """With skip_bad_rows the good rows are stored and the bad ones returned."""
        src = write(tmp_path / "src", "orders.csv", ORDERS + "1,A,yesterday,10\n2,A,2024-01-02,1\n")
        result = ingest(src, tmp_path / "store.db", skip_bad_rows=True)
        assert result.added["orders"] == 1
        assert result.load is not None
        assert result.load.rejected == 1

    def test_clients_must_cover_the_stored_records(self, tmp_path: Path) -> None:
        """Adding a clients table that misses stored records' clients fails whole."""
        db = tmp_path / "store.db"
        ingest(
            write(tmp_path / "one", "orders.csv", ORDERS + "1,A,2024-01-02,10\n2,B,2024-01-02,1\n"),
            db,
        )
        two = write(tmp_path / "two", "clients.csv", "client_id\nA\n")
        write(two, "orders.csv", ORDERS)
        with pytest.raises(InputError) as info:
            ingest(two, db)
        assert [p.value for p in info.value.problems] == ["B"]
        assert store_counts(db)["clients"] == 0

    def test_users_own_database_is_refused_untouched(self, tmp_path: Path) -> None:
        """A database relcycle did not create is refused, its tables and bytes unchanged."""
        db = tmp_path / "crm.db"
        conn = sqlite3.connect(db)
        conn.execute(
            "CREATE TABLE orders (order_id TEXT, client_id TEXT, placed_at TEXT, amount TEXT)"
        )
        conn.execute("INSERT INTO orders VALUES ('u1', 'A', '2024-01-01', '3')")
        conn.execute("CREATE TABLE other (x)")
        conn.commit()
        conn.close()
        before = db.read_bytes()
        with pytest.raises(UsageError, match="not a relcycle store"):
            ingest(write(tmp_path / "src", "orders.csv", ORDERS + "1,A,2024-01-02,10\n"), db)
        assert db.read_bytes() == before
        loaded = load_history(db)  # still readable as a source of its own
        assert [o.order_id for o in loaded.tables.orders] == ["u1"]

    def test_refuses_a_file_that_is_not_a_database(self, tmp_path: Path) -> None:
        """The target must be an SQLite database (or missing, in an existing folder)."""
        target = tmp_path / "notes.txt"
        target.write_text("hello", encoding="utf-8")
        with pytest.raises(UsageError):
            create_store(target)
        with pytest.raises(UsageError, match="does not exist"):
            create_store(tmp_path / "missing" / "s.db")

    def test_write_history_as_sqlite(self, tmp_path: Path, batches: tuple) -> None:
        """write_history(format='sqlite') makes a store that reads back unchanged."""
        a, *_ = batches
        loaded = load_history(a)
        write_history(loaded, tmp_path / "x.db", format="sqlite")
        assert load_history(tmp_path / "x.db").portfolio == loaded.portfolio


# --------------------------------------------------------------------------- crash safety

_LOAD_THEN_INGEST = textwrap.dedent(
    """
    import sys
    from relcycle.io import load_history
    from relcycle.store import ingest
    loaded = load_history(sys.argv[1])
    print("loaded", flush=True)
    ingest(loaded, sys.argv[2])
    print("done", flush=True)
    """
)

_INGEST = textwrap.dedent(
    """
    import sys
    from relcycle.store import ingest
    result = ingest(sys.argv[1], sys.argv[2], timeout=60)
    print(result.total_added, flush=True)
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _kill_mid_ingest(tmp_path: Path, batches: tuple, kills: int, seed: int) -> int:
    """Kill ingests of batch b at random points of their write; check all-or-none each time."""
    a, b, count_a, count_b = batches
    rng = random.Random(seed)
    base = tmp_path / "base.db"
    ingest(a, base)
    both = plus(count_a, count_b)
    torn_checks = 0
    for attempt in range(kills):
        db = tmp_path / f"store{attempt}.db"
        conn_src = sqlite3.connect(base)
        conn_dst = sqlite3.connect(db)
        conn_src.backup(conn_dst)
        conn_src.close()
        conn_dst.close()
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOAD_THEN_INGEST, str(b), str(db)],
            stdout=subprocess.PIPE,
            env=_env(),
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "loaded"
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert integrity(db) == "ok"
        counts = store_counts(db)
        assert counts in (count_a, both), counts
        assert ingests(db) == (1 if counts == count_a else 2)
        torn_checks += 1
        # re-running the ingest completes it
        ingest(b, db)
        assert store_counts(db) == both
        assert integrity(db) == "ok"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    return torn_checks


class TestCrashSafety:
    def test_sigkill_mid_ingest_leaves_all_or_nothing(self, tmp_path: Path, batches: tuple) -> None:
        """A SIGKILL during an ingest leaves the store intact with all of it or none."""
        assert _kill_mid_ingest(tmp_path, batches, kills=3, seed=1) == 3

    @pytest.mark.slow
    def test_many_sigkills(self, tmp_path: Path, batches: tuple) -> None:
        """Thirty kills at random points: the store is never torn or corrupt."""
        assert _kill_mid_ingest(tmp_path, batches, kills=30, seed=2) == 30

    def test_two_ingests_at_once(self, tmp_path: Path, batches: tuple) -> None:
        """Two concurrent ingests both succeed, one after the other; nothing lost or doubled."""
        a, b, count_a, count_b = batches
        db = tmp_path / "store.db"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _INGEST, str(src), str(db)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_env(),
                text=True,
            )
            for src in (a, b, a)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outputs
        added = sorted(int(out.strip()) for out, _ in outputs)
        assert added[0] == 0  # one of the two ingests of a found it already stored
        assert store_counts(db) == plus(count_a, count_b)
        assert integrity(db) == "ok"
        assert ingests(db) == 2

    def test_reader_sees_a_consistent_snapshot(self, tmp_path: Path, batches: tuple) -> None:
        """A report reading while an ingest writes sees all of the batch or none of it."""
        a, b, count_a, count_b = batches
        db = tmp_path / "store.db"
        ingest(a, db)
        both = plus(count_a, count_b)
        proc = subprocess.Popen(
            [sys.executable, "-c", _INGEST, str(b), str(db)],
            stdout=subprocess.PIPE,
            env=_env(),
            text=True,
        )
        seen = []
        while proc.poll() is None or not seen:
            loaded = load_history(db)
            counts = {
                "clients": len(loaded.tables.clients or ()),
                "orders": len(loaded.tables.orders),
                "interactions": len(loaded.tables.interactions),
                "complaints": len(loaded.tables.complaints),
            }
            assert counts in (count_a, both), counts
            seen.append(counts == both)
        proc.communicate(timeout=120)
        assert proc.returncode == 0
        assert store_counts(db) == both


class TestObjects:
    def test_ingest_a_portfolio_and_a_simulation(self, tmp_path: Path) -> None:
        """Portfolios and simulated histories ingest directly, without files."""
        sim = simulate_portfolio(10, seed=4)
        db = tmp_path / "s.db"
        assert ingest(sim, db).added["orders"] == len(sim.orders)
        assert ingest(sim.portfolio(), db).total_added == 0
        assert load_history(db).portfolio == sim.portfolio()

    def test_duplicate_objects_are_refused(self, tmp_path: Path) -> None:
        """Hand-built tables with a repeated id are refused before anything is written."""
        sim = simulate_portfolio(3, seed=4)
        tables = HistoryTables(clients=None, orders=(sim.orders[0], sim.orders[0]))
        with pytest.raises(DuplicateIdError):
            ingest(tables, tmp_path / "s.db")
        assert not (tmp_path / "s.db").exists()
