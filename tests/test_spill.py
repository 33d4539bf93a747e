"""A report whose lines live in a file (``build_report(..., spill_dir=FOLDER)``).

``relcycle report`` builds every non-HTML report this way, so the report holds
a few figures per client while it is built and written, not every line. These
tests check that a spilled report is the same report (every field, every way a
user reads it), that its file goes when the report goes, that a bad folder or a
full disk is a clear error, and that its memory per client is a few figures.
"""

from __future__ import annotations

import gc
import sqlite3
import tempfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from relcycle import _spill
from relcycle.errors import OutputError, UsageError
from relcycle.history import Portfolio
from relcycle.io import load_history
from relcycle.report import Report, build_report
from relcycle.simulate import simulate_portfolio
from relcycle.testing import portfolios

AS_OF = datetime(2024, 6, 30, tzinfo=UTC)


def _same(spilled: Report, memory: Report) -> None:
    """Every way a user reads a report gives the same answer."""
    assert spilled.to_json() == memory.to_json()
    assert len(spilled) == len(memory) == len(spilled.clients)
    assert list(spilled) == list(memory)
    assert spilled.to_records() == memory.to_records()
    n = len(memory)
    for i in range(n):
        assert spilled.clients[i] == memory.clients[i]
        assert spilled.clients[i - n] == memory.clients[i - n]
    assert tuple(spilled.clients[1:-1]) == tuple(memory.clients[1:-1])
    assert tuple(spilled.clients[::2]) == tuple(memory.clients[::2])
    assert tuple(spilled.clients[::-1]) == tuple(memory.clients[::-1])
    with pytest.raises(IndexError):
        spilled.clients[n]
    for client in memory:
        assert client.client_id in spilled
        assert spilled[client.client_id] == client
        assert spilled[client.client_id].explain() == client.explain()
    assert "no such client" not in spilled
    assert 7 not in spilled
    assert memory.clients[-1] in spilled.clients  # a sequence of client reports
    with pytest.raises(KeyError):
        spilled["no such client"]


class TestSameReport:
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(portfolio=portfolios(min_clients=1, max_clients=6, max_records=8, currency="EUR"))
    def test_a_spilled_report_is_the_report(self, portfolio: Portfolio) -> None:
        """Spilled or in memory, with or without a compared moment: the same report."""
        as_of = portfolio.last_moment or AS_OF
        first = portfolio.histories[0].first_moment
        compare_to = None if first is None or first >= as_of else first
        options: dict[str, Any] = {"as_of": as_of, "currency": "EUR", "compare_to": compare_to}
        memory = build_report(portfolio, **options)
        with tempfile.TemporaryDirectory() as folder:
            spilled = build_report(portfolio, spill_dir=folder, **options)
            _same(spilled, memory)
            assert spilled.migrations == memory.migrations
            assert spilled.summary == memory.summary

    def test_a_simulated_portfolio_with_every_table(self, tmp_path: Path) -> None:
        """Costs, complaints, contacts, losses, columns kept: the same JSON, the same lines."""
        portfolio = simulate_portfolio(n_clients=120, seed=5).portfolio()
        compare_to = datetime(2025, 6, 30, tzinfo=UTC)
        memory = build_report(portfolio, compare_to=compare_to, keep_assessments=False)
        spilled = build_report(
            portfolio, compare_to=compare_to, keep_assessments=False, spill_dir=tmp_path
        )
        _same(spilled, memory)
        assert any(c.loss_reason is not None for c in memory)  # the losses were summed
        assert any(c.change == "worsened" for c in spilled)

    def test_a_spilled_report_sorts_as_the_report(self, tmp_path: Path) -> None:
        """``--sort``/``--top`` views pick the same clients, in the same order."""
        from relcycle.render.view import View

        portfolio = simulate_portfolio(n_clients=60, seed=9).portfolio()
        memory = build_report(portfolio, keep_assessments=False)
        spilled = build_report(portfolio, keep_assessments=False, spill_dir=tmp_path)
        for view in (
            View(sort="priority"),
            View(sort="revenue", descending=True, top=7),
            View(sort="cost_to_serve", top=50),
            View(top=3),
        ):
            shown = view.clients(spilled)
            assert list(shown) == list(view.clients(memory))
            assert len(shown) == len(view.clients(memory))
            assert list(shown[1:3]) == list(view.clients(memory)[1:3])

    def test_a_spilled_report_makes_the_same_frame(self, tmp_path: Path) -> None:
        """``to_polars`` and ``to_arrow`` read the spilled lines: the same table."""
        pytest.importorskip("polars")
        portfolio = simulate_portfolio(n_clients=40, seed=6).portfolio()
        memory = build_report(portfolio, keep_assessments=False)
        spilled = build_report(portfolio, keep_assessments=False, spill_dir=tmp_path)
        assert spilled.to_polars().equals(memory.to_polars())
        assert spilled.to_arrow().equals(memory.to_arrow())

    def test_the_columnar_path_spills_the_same_report(self, tmp_path: Path) -> None:
        """The arrow engine's spilled report equals the python one; explanations look
        the client up in the tables."""
        pytest.importorskip("polars")
        from relcycle.columnar import build_report as columnar_report
        from relcycle.columnar import read_tables
        from relcycle.io import write_history

        portfolio = simulate_portfolio(n_clients=60, seed=8).portfolio()
        folder = tmp_path / "in"
        write_history(portfolio, folder)
        memory = build_report(load_history(folder).portfolio, keep_assessments=False)
        spill = tmp_path / "spill"
        spill.mkdir()
        spilled = columnar_report(read_tables(folder), spill_dir=spill)
        _same(spilled, memory)


class TestTheFile:
    def test_the_file_goes_with_the_report(self, tmp_path: Path) -> None:
        portfolio = simulate_portfolio(n_clients=30, seed=2).portfolio()
        report = build_report(portfolio, spill_dir=tmp_path)
        files = list(tmp_path.iterdir())
        assert len(files) == 1
        assert files[0].name.startswith("relcycle-lines-")
        assert report.clients[0].client_id == portfolio.client_ids[0]
        del report
        gc.collect()
        assert list(tmp_path.iterdir()) == []

    def test_the_file_goes_when_the_report_fails(self, tmp_path: Path) -> None:
        """A report that fails half-way (a line that cannot be assessed) leaves no file."""
        portfolio = simulate_portfolio(n_clients=30, seed=2).portfolio()

        def failing(done: int, total: int) -> None:
            if done > 1:
                raise RuntimeError("stop")

        with pytest.raises(RuntimeError, match="stop") as caught:
            build_report(portfolio, spill_dir=tmp_path, progress=failing)
        # removed at once, even while the traceback (and the frame holding the
        # spill) is still alive: a caller that keeps the exception keeps no file
        assert caught.traceback
        assert list(tmp_path.iterdir()) == []

    def test_a_folder_that_is_not_there_is_named(self, tmp_path: Path) -> None:
        portfolio = simulate_portfolio(n_clients=3, seed=2).portfolio()
        missing = tmp_path / "nowhere"
        with pytest.raises(UsageError, match=r"spill_dir .*nowhere.*not an existing folder"):
            build_report(portfolio, spill_dir=missing)
        (tmp_path / "file").write_text("x", encoding="utf-8")
        with pytest.raises(UsageError, match="not an existing folder"):
            build_report(portfolio, spill_dir=tmp_path / "file")

    def test_a_full_disk_is_an_output_error_and_no_file_stays(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SQLite's "database or disk is full" while lines are written: OutputError, file gone."""
        real = sqlite3.connect

        def small(name: str) -> sqlite3.Connection:
            db = real(name)
            db.execute("PRAGMA max_page_count = 8")  # a disk that fills after a few lines
            return db

        monkeypatch.setattr(_spill.sqlite3, "connect", small)
        monkeypatch.setattr(_spill, "CHUNK", 5)
        portfolio = simulate_portfolio(n_clients=200, seed=2).portfolio()
        with pytest.raises(OutputError, match=r"relcycle-lines-.*full"):
            build_report(portfolio, spill_dir=tmp_path)
        gc.collect()
        assert list(tmp_path.iterdir()) == []


class TestMemory:
    def test_a_spilled_report_holds_a_few_figures_per_client(self, tmp_path: Path) -> None:
        """Memory per extra client, spilled: a fraction of an in-memory line.

        The slope between 200 and 400 simulated clients (caches warm), by tracemalloc
        while the report is built and then held: in memory each line costs
        several KB; spilled, the report keeps the value class, RFM scores and
        revenue of each client (a few hundred bytes).
        """
        portfolios = {n: simulate_portfolio(n_clients=n, seed=4).portfolio() for n in (200, 400)}
        build_report(portfolios[400], keep_assessments=False)  # the modules' caches filled
        slopes = {}
        for spill in (False, True):
            sizes = []
            for n, portfolio in portfolios.items():
                gc.collect()
                tracemalloc.start()
                try:
                    report = build_report(
                        portfolio,
                        keep_assessments=False,
                        spill_dir=tmp_path if spill else None,
                    )
                    gc.collect()
                    sizes.append(tracemalloc.get_traced_memory()[0])
                finally:
                    tracemalloc.stop()
                assert len(report) == n
                del report
            slopes[spill] = (sizes[1] - sizes[0]) / 200
        # measured: about 3,000 bytes per client in memory, 300 spilled
        assert slopes[True] < 1_000 < 2_000 < slopes[False], slopes
