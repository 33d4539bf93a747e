"""The python engine's clients assessed by several processes (``build_report(workers=N)``).

The clients of a store are split into runs, each read and assessed in a worker
process; the report must be the one a single process makes, byte for byte, and
a worker's failure must reach the caller as the single process would raise it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import pytest

import relcycle.report as report_module
from relcycle.cli import main
from relcycle.errors import RecordTypeError, StoreError, UsageError
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory
from relcycle.render.formats import render_csv, render_json, render_jsonl
from relcycle.render.view import View
from relcycle.report import Cell, Column, ReportPolicies, build_report
from relcycle.simulate import simulate_portfolio
from relcycle.store import StoredPortfolio, ingest, read_store

#: Clients per run in these tests (the report's own is relcycle.store.CHUNK).
RUN = 7


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 40 simulated clients (orders, contacts, complaints): six runs."""
    sim = simulate_portfolio(40, seed=5)
    db = tmp_path_factory.mktemp("workers") / "history.db"
    ingest(sim.portfolio(), db)
    return db


@pytest.fixture
def stored(store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoredPortfolio]:
    monkeypatch.setattr(report_module, "_STORE_CHUNK", RUN)
    with read_store(store) as portfolio:
        yield portfolio


def _bytes(report: report_module.Report) -> tuple[str, ...]:
    return (
        render_jsonl(report),
        render_json(report),
        render_csv(report),
        render_csv(report, View(csv_nested=True, csv_raw_formulas=True)),
    )


class TestSameReport:
    @pytest.mark.parametrize("spill", [True, False])
    def test_workers_give_the_report_of_one_process(
        self, stored: StoredPortfolio, tmp_path: Path, spill: bool
    ) -> None:
        """Every line, the summary and the warnings are those of one process."""
        assert len(stored.parts(RUN)) == 6
        one_calls: list[tuple[int, int]] = []
        two_calls: list[tuple[int, int]] = []
        options = {"spill_dir": tmp_path if spill else None, "keep_assessments": not spill}
        one = build_report(stored, workers=1, progress=lambda *a: one_calls.append(a), **options)
        pools: list[int] = []
        started = report_module._pool

        def counted(workers: int) -> object:
            pools.append(workers)
            return started(workers)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(report_module, "_pool", counted)
            two = build_report(
                stored, workers=2, progress=lambda *a: two_calls.append(a), **options
            )
            assert pools == [2]  # the clients were assessed by two workers
            assert _bytes(two) == _bytes(one)
        # a report whose lines are in a file is written by its workers too (JSON
        # Lines, JSON and two CSV forms: one pool each); one in memory is written here
        assert pools == ([2, 2, 2, 2, 2] if spill else [2])
        # the runs' tallies merged: lost clients and their exact lost revenue included
        assert one.summary["losses"]["clients"] > 0
        assert two_calls == one_calls
        assert two_calls[-1] == (40, 40)
        # a line built in a worker still explains itself from the store
        cid = stored.client_ids[17]
        assert two[cid].explain() == one[cid].explain()

    def test_workers_give_the_same_migrations(self, stored: StoredPortfolio) -> None:
        """With --compare-to both passes run in the workers, and the matrices agree."""
        as_of = stored.last_moment
        assert as_of is not None
        compare_to = as_of - timedelta(days=200)
        one = build_report(stored, workers=1, compare_to=compare_to)
        two = build_report(stored, workers=3, compare_to=compare_to)
        assert two.to_dict()["migrations"] == one.to_dict()["migrations"]
        assert _bytes(two) == _bytes(one)

    def test_one_run_is_assessed_in_this_process(
        self, stored: StoredPortfolio, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A portfolio of one run starts no worker."""
        monkeypatch.setattr(report_module, "_STORE_CHUNK", 1000)

        def no_workers(*args: object, **kwargs: object) -> None:
            raise AssertionError("a worker pool was started")

        monkeypatch.setattr(report_module._Workers, "__init__", no_workers)
        assert _bytes(build_report(stored, workers=4)) == _bytes(build_report(stored))


# Module-level, so that a worker process can import them.
def _picky(history: ClientHistory, *, as_of: datetime, tz: tzinfo) -> Cell:
    value = "odd" if history.client_id.endswith("3") else "even"
    return Cell(value, Evidence(f"client {history.client_id}", []))


PICKY = Column("parity", _picky, values=("even",))


class TestFailures:
    def test_a_worker_error_is_the_error_of_one_process(self, stored: StoredPortfolio) -> None:
        """The first client that fails, in client id order, fails the report as before."""
        policies = ReportPolicies(columns=(PICKY,))
        with pytest.raises(UsageError) as one:
            build_report(stored, workers=1, policies=policies)
        with pytest.raises(UsageError) as two:
            build_report(stored, workers=2, policies=policies)
        assert "value 'odd' is not one of even" in str(one.value)
        assert str(two.value) == str(one.value)

    def test_policies_that_cannot_be_sent_are_refused_by_name(
        self, stored: StoredPortfolio
    ) -> None:
        """A column defined inside a function cannot reach a worker: said before any work."""
        local = Column("local", lambda h, *, as_of, tz: Cell("x", Evidence("x", [])), values=("x",))
        with pytest.raises(UsageError, match="policies cannot be sent to worker processes"):
            build_report(stored, workers=2, policies=ReportPolicies(columns=(local,)))
        # one process needs no pickling
        assert len(build_report(stored, workers=1, policies=ReportPolicies(columns=(local,))))

    def test_a_zone_that_cannot_be_sent_is_refused_by_name(self, stored: StoredPortfolio) -> None:
        class Local(tzinfo):  # defined here: a worker cannot import it
            def utcoffset(self, dt: datetime | None) -> timedelta:
                return timedelta(hours=2)

            def dst(self, dt: datetime | None) -> timedelta:
                return timedelta(0)

        with pytest.raises(UsageError, match="the time zone cannot be sent"):
            build_report(stored, workers=2, tz=Local())

    def test_an_in_memory_portfolio_needs_a_store(self) -> None:
        portfolio = simulate_portfolio(3, seed=1).portfolio()
        with pytest.raises(UsageError, match="give a StoredPortfolio"):
            build_report(portfolio, workers=2)

    @pytest.mark.parametrize("workers", [0, -1, True])
    def test_workers_must_be_a_positive_int(self, stored: StoredPortfolio, workers: object) -> None:
        with pytest.raises(UsageError, match="workers must be a whole number of 1 or more"):
            build_report(stored, workers=workers)  # type: ignore[arg-type]

    def test_workers_of_another_type_name_the_argument(self, stored: StoredPortfolio) -> None:
        with pytest.raises(RecordTypeError, match="workers"):
            build_report(stored, workers=1.5)  # type: ignore[arg-type]

    def test_a_run_read_after_an_ingest_is_refused(self, tmp_path: Path) -> None:
        """The portfolio's checks were made on the store as it was: a later write is said."""
        db = tmp_path / "h.db"
        sim = simulate_portfolio(10, seed=2)
        ingest(sim.portfolio(), db)
        with read_store(db) as stored:
            parts = stored.parts(4)
            assert [p.count for p in parts] == [4, 4, 2]
            assert [h.client_id for p in parts for h in p.read()] == list(stored.client_ids)
            ingest(simulate_portfolio(12, seed=2).portfolio(), db)
            with pytest.raises(StoreError, match=r"written .* while the report read it"):
                parts[0].read()


class TestCommandLine:
    def test_workers_write_the_same_bytes(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``--workers 2`` and ``--workers 1`` write the same file, from a folder or a store."""
        monkeypatch.setattr(report_module, "_STORE_CHUNK", RUN)
        folder = tmp_path / "in"
        assert main(["demo", "--clients", "30", "--out", str(folder)]) == 0
        db = tmp_path / "h.db"
        ingest(folder, db)
        for source in (folder, db):
            for suffix in ("jsonl", "csv"):
                written = []
                for workers in ("1", "2"):
                    out = tmp_path / f"{source.name}-{workers}.{suffix}"
                    args = ["report", str(source), "--workers", workers, "--output", str(out)]
                    assert main(args) == 0
                    written.append(out.read_bytes())
                assert written[0] == written[1]
                text = written[0].decode("utf-8")
                if suffix == "jsonl":
                    assert [json.loads(line)["client_id"] for line in text.splitlines()]
                    assert len(text.splitlines()) == 30
                else:
                    assert len(list(csv.reader(io.StringIO(text)))) == 31  # and the header

    def test_workers_do_not_apply_to_the_arrow_engine(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pytest.importorskip("polars")
        folder = tmp_path / "in"
        assert main(["demo", "--clients", "3", "--out", str(folder)]) == 0
        capsys.readouterr()
        args = ["report", str(folder), "--engine", "arrow", "--workers", "2"]
        assert main(args) == 2
        assert "the arrow engine runs in one process" in capsys.readouterr().err
        # one process is what it does: said, not refused
        assert main([*args[:-1], "1", "--output", str(tmp_path / "r.jsonl")]) == 0
