"""A portfolio read client by client from a store (:class:`relcycle.store.StoredPortfolio`).

The python engine's report reads its portfolio this way: a relcycle store as it
is, any other source through a temporary store. These tests check that the
stored portfolio is the in-memory one, that the report built from it is the
same report, and that the temporary store never outlives the report.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle import store
from relcycle.cli import main
from relcycle.errors import InputError, UsageError
from relcycle.history import ClientHistory, Portfolio, build_portfolio, last_moment_of
from relcycle.io import load_history
from relcycle.io._sqlite import foreign_schema
from relcycle.report import build_report
from relcycle.store import StoredPortfolio, ingest, read_store, spilled
from relcycle.testing import complaints, interactions, orders, portfolios

AS_OF = datetime(2024, 6, 30, tzinfo=UTC)
SRC = str(Path(__file__).resolve().parent.parent / "src")


def _store(portfolio: Portfolio, folder: Path) -> Path:
    db = folder / "history.db"
    ingest(portfolio, db)
    return db


def _same(stored: StoredPortfolio, portfolio: Portfolio) -> None:
    assert len(stored) == len(portfolio)
    assert stored.client_ids == portfolio.client_ids
    assert list(stored) == list(portfolio)
    assert list(stored) == list(portfolio)  # every iteration reads the store again
    assert stored.last_moment == portfolio.last_moment
    for history in portfolio:
        assert history.client_id in stored
        assert stored[history.client_id] == history
    assert "no such client" not in stored


class TestStoredPortfolio:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(portfolio=portfolios(max_clients=6, max_records=6))
    def test_a_stored_portfolio_is_the_portfolio(self, portfolio: Portfolio) -> None:
        """Ingested then read client by client, every history comes back equal."""
        with tempfile.TemporaryDirectory() as folder:
            db = _store(portfolio, Path(folder))
            with read_store(db) as stored:
                _same(stored, portfolio)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(portfolio=portfolios(min_clients=1, max_clients=6, max_records=6, currency="EUR"))
    def test_the_report_of_a_store_is_the_report_of_memory(self, portfolio: Portfolio) -> None:
        """The report built from the store equals the one built from the portfolio."""
        as_of = portfolio.last_moment or AS_OF
        with tempfile.TemporaryDirectory() as folder:
            db = _store(portfolio, Path(folder))
            with read_store(db) as stored:
                first = portfolio.histories[0].first_moment
                compare_to = None if first is None or first >= as_of else first
                options = {"as_of": as_of, "currency": "EUR", "compare_to": compare_to}
                from_store = build_report(stored, **options)  # type: ignore[arg-type]
                from_memory = build_report(portfolio, **options)  # type: ignore[arg-type]
                assert from_store.to_json() == from_memory.to_json()
                for line in from_store:
                    # the line keeps no history: it looks its client up again
                    assert line.history == portfolio[line.client_id].as_of(as_of)
                    assert line.explain() == from_memory[line.client_id].explain()

    def test_a_store_read_in_small_chunks_is_the_portfolio(self, tmp_path: Path) -> None:
        """Clients split across many queries come back whole and in order."""
        rows = [
            {"client_id": f"C{i % 7}", "placed_at": f"2024-01-{1 + i % 28:02d}", "amount": "1.50"}
            for i in range(60)
        ]
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "orders.csv").write_text(
            "client_id,placed_at,amount\n"
            + "".join(f"{r['client_id']},{r['placed_at']},{r['amount']}\n" for r in rows),
            encoding="utf-8",
        )
        loaded = load_history(folder, currency="USD")
        portfolio = loaded.portfolio
        db = tmp_path / "h.db"
        ingest(loaded, db)
        with read_store(db) as stored:
            stored._chunk = 2
            _same(stored, portfolio)

    def test_a_bad_store_is_refused_as_load_history_refuses_it(self, tmp_path: Path) -> None:
        """Bad cells in a store raise the same problems as loading it whole."""
        db = tmp_path / "h.db"
        portfolio = build_portfolio_of(("A", "2024-01-02", "9.99"), ("B", "2024-01-03", "1.00"))
        ingest(portfolio, db)
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE orders SET amount = 'ten' WHERE client_id = 'B'")
            conn.execute("UPDATE orders SET placed_at = 'soon' WHERE client_id = 'A'")
        conn.close()
        with pytest.raises(InputError) as whole:
            load_history(db)
        with pytest.raises(InputError) as chunked:
            read_store(db)
        assert chunked.value.problems == whole.value.problems

    def test_a_record_of_a_missing_client_is_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A record naming a client missing from the store's clients table: same problem."""
        db = tmp_path / "h.db"
        ingest(build_portfolio_of(("A", "2024-01-02", "9.99")), db)
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO clients (client_id) VALUES ('A')")
            # a client range with no client row at all: Z sorts after A
            conn.execute(
                "INSERT INTO orders (order_id, client_id, placed_at, amount, currency) "
                "VALUES ('o9', 'Z', '2024-01-02', '1.00', 'USD')"
            )
        conn.close()
        with pytest.raises(InputError) as whole:
            load_history(db)
        monkeypatch.setattr(store, "CHUNK", 1)  # Z's chunk holds no client row
        with pytest.raises(InputError) as chunked:
            read_store(db)
        assert chunked.value.problems == whole.value.problems
        assert "no such client in the clients table" in str(whole.value)

    def test_a_database_that_is_not_a_store_is_refused(self, tmp_path: Path) -> None:
        db = tmp_path / "crm.db"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE orders (client_id TEXT, placed_at TEXT, amount TEXT)")
        conn.close()
        with pytest.raises(UsageError, match="not a relcycle store"):
            read_store(db)


class TestTemporaryStore:
    def _loaded(self, tmp_path: Path) -> object:
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "orders.csv").write_text(
            "client_id,placed_at,amount\nA,2024-01-02,9.99\nB,2024-02-03,1.00\n",
            encoding="utf-8",
        )
        return load_history(folder, currency="USD")

    def test_the_records_move_to_the_store_and_the_folder_goes(self, tmp_path: Path) -> None:
        """The load lets go of its records; the portfolio is theirs; the folder is removed."""
        loaded = self._loaded(tmp_path)
        expected = list(loaded.portfolio)  # type: ignore[attr-defined]
        with spilled(loaded) as stored:  # type: ignore[arg-type]
            where = stored._path.parent
            assert where.is_dir()
            assert loaded.tables.orders == ()  # type: ignore[attr-defined]
            assert list(stored) == expected
            assert stored.last_moment == datetime(2024, 2, 3, tzinfo=UTC)
        assert not where.exists()

    def test_the_store_is_indexed_after_its_rows_go_in(self, tmp_path: Path) -> None:
        """The temporary store is written before its indexes are built; it is a
        store relcycle accepts, its ids are unique and its clients' records indexed."""
        loaded = self._loaded(tmp_path)
        with spilled(loaded) as stored:  # type: ignore[arg-type]
            path = stored._path
            assert store.is_store(path)
            conn = sqlite3.connect(path)
            try:
                assert foreign_schema(conn) is None
                indexes = {
                    str(r[0])
                    for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
                }
                assert {"relcycle_orders_id", "relcycle_orders_client"} <= indexes
                order_id = conn.execute("SELECT order_id FROM orders LIMIT 1").fetchone()[0]
                with pytest.raises(sqlite3.IntegrityError):
                    conn.execute(
                        "INSERT INTO orders (order_id, client_id, placed_at, amount) "
                        "VALUES (?, 'Z', '2024-01-01', '1')",
                        (order_id,),
                    )
            finally:
                conn.close()

    def test_the_moment_and_currencies_come_from_the_load_not_a_second_pass(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The default moment and the currencies of a temporary store are known from
        the loaded records: asking for them reads nothing from the store."""
        loaded = self._loaded(tmp_path)

        def second_pass(*_: object, **__: object) -> None:
            raise AssertionError("the store was read again for its last moment")

        monkeypatch.setattr(store, "_last_of", second_pass)
        with spilled(loaded) as stored:  # type: ignore[arg-type]
            monkeypatch.setattr(StoredPortfolio, "__iter__", second_pass)
            assert stored.last_moment == datetime(2024, 2, 3, tzinfo=UTC)
            assert stored.currencies(datetime(2024, 1, 31, tzinfo=UTC)) == {"USD"}
            assert stored.currencies(datetime(2024, 1, 1, tzinfo=UTC)) == set()

    def test_the_folder_goes_when_the_report_fails(self, tmp_path: Path) -> None:
        loaded = self._loaded(tmp_path)
        seen: list[Path] = []

        def fail() -> None:
            with spilled(loaded) as stored:  # type: ignore[arg-type]
                seen.append(stored._path.parent)
                raise RuntimeError("the report failed")

        with pytest.raises(RuntimeError):
            fail()
        assert seen
        assert not seen[0].exists()

    def test_the_cli_leaves_no_temporary_store(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Success or failure (a bad --compare-to found late), the temporary folder is gone."""
        temp = tmp_path / "temp"
        temp.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(temp))
        self._loaded(tmp_path)
        out = tmp_path / "r.jsonl"
        assert (
            main(["report", str(tmp_path / "in"), "--format", "jsonl", "--output", str(out)]) == 0
        )
        assert out.read_text(encoding="utf-8").count("\n") == 2
        assert list(temp.iterdir()) == []
        # the orders are in USD: a report in EUR fails once the records are stored
        (tmp_path / "in" / "orders.csv").write_text(
            "client_id,placed_at,amount,currency\nA,2024-01-02,9.99,USD\n", encoding="utf-8"
        )
        assert main(["report", str(tmp_path / "in"), "--currency", "EUR"]) != 0
        assert list(temp.iterdir()) == []


class TestTerminated:
    def test_a_terminated_report_removes_its_temporary_store(self, tmp_path: Path) -> None:
        """SIGTERM while the report reads its temporary store: the folder is removed."""
        temp = tmp_path / "temp"
        temp.mkdir()
        folder = _orders_folder(tmp_path / "in", 3000, 3)
        env = dict(os.environ, TMPDIR=str(temp))
        env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
        out = tmp_path / "r.jsonl"
        command = [sys.executable, "-m", "relcycle", "report", str(folder), "--output", str(out)]
        proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        try:
            for _ in range(6000):  # wait for the store (at most a minute)
                if list(temp.glob("relcycle-*/history.db")) or proc.poll() is not None:
                    break
                time.sleep(0.01)
            assert proc.poll() is None, "the report ended before its store was seen"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 128 + signal.SIGTERM
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert list(temp.iterdir()) == []
        assert not out.exists()


class TestCommandLine:
    def test_a_store_and_its_folder_give_the_same_report(self, tmp_path: Path) -> None:
        """``relcycle report STORE.db`` (read client by client) equals the folder's report."""
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "orders.csv").write_text(
            "order_id,client_id,placed_at,amount,currency\n"
            + "".join(
                f"o{i},C{i % 9},2024-{1 + i % 12:02d}-{1 + i % 28:02d},{i}.25,USD\n"
                for i in range(80)
            ),
            encoding="utf-8",
        )
        db = tmp_path / "h.db"
        ingest(folder, db)
        outs = []
        for source in (folder, db):
            out = tmp_path / f"{source.name}.json"
            assert main(["report", str(source), "--format", "json", "--output", str(out)]) == 0
            outs.append(json.loads(out.read_text(encoding="utf-8")))
        assert outs[0] == outs[1]


def _orders_folder(folder: Path, clients: int, per_client: int, prefix: str = "C") -> Path:
    folder.mkdir()
    with (folder / "orders.csv").open("w", encoding="utf-8") as fh:
        fh.write("order_id,client_id,placed_at,amount,currency\n")
        for c in range(clients):
            for k in range(per_client):
                day = f"2023-{1 + k % 12:02d}-{1 + c % 28:02d}"
                fh.write(f"o{c}-{k},{prefix}{c:05d},{day},1.00,USD\n")
    return folder


class TestMemory:
    def test_the_report_keeps_no_history(self, tmp_path: Path) -> None:
        """Built from a store, no report line holds its client's history."""
        db = tmp_path / "h.db"
        ingest(_orders_folder(tmp_path / "in", 50, 4, prefix="kept-"), db)
        with read_store(db) as stored:
            report = build_report(stored, as_of=AS_OF)
            gc.collect()
            alive = [
                o
                for o in gc.get_objects()
                if isinstance(o, ClientHistory) and o.client_id.startswith("kept-")
            ]
            assert len(alive) <= 1  # at most the last client's (a one-entry memo)
            assert report["kept-00007"].history is not None  # looked up again
            assert len(report["kept-00007"].history.orders) == 4
        with pytest.raises(UsageError, match="closed"):
            report["kept-00007"].cost  # noqa: B018 - the store it looks the history up in is closed

    def test_memory_per_client_does_not_grow_with_its_records(self, tmp_path: Path) -> None:
        """The report's memory per extra client stays within a line's size.

        A slope between 150 and 300 clients of 20 orders each: a line is about
        3 KB; holding each client's 20 orders would add about 5 KB more.
        """
        sizes = []
        for n in (150, 300):
            db = tmp_path / f"h{n}.db"
            ingest(_orders_folder(tmp_path / f"in{n}", n, 20), db)
            with read_store(db) as stored:
                gc.collect()
                tracemalloc.start()
                try:
                    report = build_report(stored, as_of=AS_OF, keep_assessments=False)
                    gc.collect()
                    sizes.append(tracemalloc.get_traced_memory()[0])
                finally:
                    tracemalloc.stop()
                assert len(report) == n
                del report
        slope = (sizes[1] - sizes[0]) / 150
        assert slope < 6000, f"{slope:.0f} bytes per extra client"


def build_portfolio_of(*orders: tuple[str, str, str]) -> Portfolio:
    from relcycle.io import load_records

    rows = [
        {"order_id": f"o{i}", "client_id": c, "placed_at": t, "amount": a, "currency": "USD"}
        for i, (c, t, a) in enumerate(orders)
    ]
    return load_records(rows).portfolio


class TestLastMomentOfRecords:
    """The temporary store's last moment, found from the loaded records in one pass."""

    @staticmethod
    def _tied_times() -> st.SearchStrategy[datetime]:
        # two instants, each written at several offsets: ties between kinds and clients
        instants = (datetime(2024, 3, 1, 12, tzinfo=UTC), datetime(2024, 3, 2, 9, tzinfo=UTC))
        offsets = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)))
        return st.tuples(st.sampled_from(instants), st.sampled_from(offsets)).map(
            lambda pair: pair[0].astimezone(pair[1])
        )

    @settings(max_examples=150, deadline=None)
    @given(data=st.data())
    def test_the_same_moment_and_offset_as_the_portfolio(self, data: st.DataObject) -> None:
        """Equal instants at other offsets: the portfolio's choice, offset included."""
        times = self._tied_times()
        client = st.sampled_from(("A", "B", "C"))
        records = {
            "orders": data.draw(
                st.lists(
                    client.flatmap(lambda c: orders(client_id=c, times=times)),
                    max_size=6,
                    unique_by=lambda r: r.id,
                )
            ),
            "interactions": data.draw(
                st.lists(
                    client.flatmap(lambda c: interactions(client_id=c, times=times)),
                    max_size=6,
                    unique_by=lambda r: r.id,
                )
            ),
            "complaints": data.draw(
                st.lists(
                    client.flatmap(lambda c: complaints(client_id=c, times=times)),
                    max_size=6,
                    unique_by=lambda r: r.id,
                )
            ),
        }
        expected = build_portfolio(**records).last_moment
        found = last_moment_of(**records)
        assert found == expected
        if expected is not None:
            assert found is not None
            assert found.utcoffset() == expected.utcoffset()
            assert found.tzinfo == expected.tzinfo

    def test_no_records_no_moment(self) -> None:
        assert last_moment_of() is None
