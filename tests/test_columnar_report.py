"""The columnar report equals the object path's report, client by client, field by field."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

from relcycle import report as object_report
from relcycle.cli import main
from relcycle.columnar import build_report, frames_from_tables, read_tables
from relcycle.errors import CurrencyMismatchError, UsageError
from relcycle.history import Portfolio
from relcycle.io import as_tables, load_history, write_history
from relcycle.lifecycle import LifecyclePolicy
from relcycle.losses import LossPolicy
from relcycle.segmentation.cost import CostRates
from relcycle.segmentation.motivation import MotivationPolicy
from relcycle.segmentation.regularity import RegularityPolicy
from relcycle.segmentation.value import ValueBasis
from relcycle.simulate import simulate_portfolio
from relcycle.testing import portfolios
from test_clientbase import AS_OF as STAGES_AS_OF
from test_clientbase import stages_portfolio
from test_losses import AS_OF as LOSSES_AS_OF
from test_losses import losses_portfolio

BERLIN = ZoneInfo("Europe/Berlin")


@st.composite
def report_policies(draw: st.DrawFn) -> object_report.ReportPolicies | None:
    """Report policies varying every flag and window the two engines read."""
    if draw(st.booleans()):
        return None
    lifecycle = LifecyclePolicy(
        recurrence_count=draw(st.integers(2, 4)),
        recurrence_window=timedelta(days=draw(st.integers(10, 120))),
        trouble_free_period=timedelta(days=draw(st.integers(20, 120))),
        late_orders_fail=draw(st.booleans()),
        cancelled_orders_fail=draw(st.booleans()),
        failures_recur_as=draw(st.sampled_from([None, "delivery", "quality"])),
        management_complaints_escalate=draw(st.booleans()),
        reactivate_on_sale=draw(st.booleans()),
        reactivation_sales=draw(st.integers(1, 3)),
        reactivation_window=timedelta(days=draw(st.integers(10, 120))),
        lapse_after=draw(st.sampled_from([None, timedelta(days=60), timedelta(days=365)])),
        lapse_intervals=draw(st.sampled_from([None, Decimal(2), Decimal(4)])),
        lapse_min_silence=draw(st.sampled_from([None, timedelta(days=30), timedelta(days=90)])),
    )
    return object_report.ReportPolicies(
        # the rates that make cost-to-serve known, unknown (a rate missing) or partly so
        cost_rates=CostRates(
            default_rate=draw(st.sampled_from([None, Decimal(30)])),
            marketing_per_touch=draw(st.sampled_from([None, Decimal(0), Decimal(5)])),
        ),
        value_basis=draw(st.sampled_from(list(ValueBasis))),
        lifecycle=lifecycle,
        motivation=MotivationPolicy(window_days=draw(st.sampled_from([None, 90, 365]))),
        regularity=RegularityPolicy(
            window_days=draw(st.sampled_from([None, 400])),
            min_gaps=draw(st.integers(1, 4)),
            max_cv=draw(st.sampled_from(["0.3", "0.5", "1"])),
        ),
        losses=LossPolicy(window_days=draw(st.sampled_from([365, 30, 1]))),
    )


def _frames(portfolio: Portfolio) -> Any:
    return frames_from_tables(as_tables(portfolio))


def assert_same_report(got: object_report.Report, want: object_report.Report) -> None:
    """Equal reports, with a readable diff of the first client that differs."""
    assert [c.client_id for c in got] == [c.client_id for c in want]
    for mine, theirs in zip(got, want, strict=True):
        assert mine.to_record() == theirs.to_record(), mine.client_id
        assert mine == theirs, mine.client_id
    assert got.to_dict(clients=False) == want.to_dict(clients=False)
    assert got == want


def _moment(portfolio: Portfolio, data: st.DataObject) -> datetime | None:
    last = portfolio.last_moment
    if last is None:
        return data.draw(st.sampled_from([datetime(2020, 1, 1, tzinfo=UTC)]))
    choice = data.draw(st.sampled_from(["latest", "inside", "after"]))
    if choice == "latest":
        return None
    if choice == "after":
        return last + timedelta(days=data.draw(st.integers(1, 400)))
    return last - timedelta(
        days=data.draw(st.integers(0, 800)), hours=data.draw(st.integers(0, 23))
    )


class TestEqualsObjectPath:
    """Every field of every client, the summary and the migrations equal the object path's."""

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        portfolio=portfolios(min_clients=1, max_clients=6, max_records=10),
        policies=report_policies(),
        tz=st.sampled_from([UTC, BERLIN]),
        data=st.data(),
    )
    def test_random_portfolios(
        self,
        portfolio: Portfolio,
        policies: object_report.ReportPolicies | None,
        tz: Any,
        data: st.DataObject,
    ) -> None:
        """Random histories, moments, zones and every policy flag: the two reports are equal."""
        as_of = _moment(portfolio, data)
        compare_to = None
        if as_of is not None and data.draw(st.booleans()):
            compare_to = as_of - timedelta(days=data.draw(st.integers(1, 300)))
        kwargs: dict[str, Any] = {"as_of": as_of, "compare_to": compare_to, "tz": tz}
        if policies is not None:
            kwargs["policies"] = policies
        try:
            want = object_report.build_report(portfolio, **kwargs)
        except (CurrencyMismatchError, UsageError) as exc:
            with pytest.raises(type(exc)):
                build_report(_frames(portfolio), **kwargs)
            return
        got = build_report(_frames(portfolio), **kwargs)
        assert_same_report(got, want)

    def test_demo_portfolio(self) -> None:
        """The demo portfolio (with migrations) gives the same report on both paths."""
        portfolio = simulate_portfolio(600, seed=1).portfolio()
        as_of = portfolio.last_moment
        assert as_of is not None
        compare_to = as_of - timedelta(days=182)
        want = object_report.build_report(portfolio, compare_to=compare_to)
        got = build_report(_frames(portfolio), compare_to=compare_to)
        assert_same_report(got, want)
        assert got.to_json() == want.to_json()
        # the per-client comparison is there and equal on both paths
        assert [c.previous for c in got] == [c.previous for c in want]
        assert {"worsened", "unchanged"} <= {c.change for c in got}

    def test_a_portfolio_read_in_runs_of_clients(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A portfolio larger than one run (read in runs of client ids, the last run
        short: signals, histories, the lifecycle's client set and the funnel column's
        fold each per run) gives the report of one pass, byte for byte."""
        from relcycle import funnel
        from relcycle.columnar import _tables

        portfolio = simulate_portfolio(120, seed=2).portfolio()
        as_of = portfolio.last_moment
        assert as_of is not None
        want = object_report.build_report(portfolio, compare_to=as_of - timedelta(days=90))
        monkeypatch.setattr(_tables, "CLIENTS_PER_PASS", 7)
        folded: list[int] = []
        cls = type(funnel.FUNNEL_COLUMN.assess)
        over_tables = cls.over_tables

        def counted(self: Any, frames: Any, **kwargs: Any) -> Any:
            folded.append(frames.clients.height)
            return over_tables(self, frames, **kwargs)

        monkeypatch.setattr(cls, "over_tables", counted)
        got = build_report(_frames(portfolio), compare_to=as_of - timedelta(days=90))
        assert got.to_json() == want.to_json()
        assert folded == [7] * 17 + [1]  # 120 clients: 17 runs of 7, then 1

    @pytest.mark.parametrize(
        "policies", [None, object_report.ReportPolicies(losses=LossPolicy(window_days=30))]
    )
    def test_losses_and_client_stages(self, policies: object_report.ReportPolicies | None) -> None:
        """The hand-made losses (price, manager_left) and client-base stages: the same JSON,
        byte for byte, with the default and a narrower loss window."""
        for portfolio, as_of in (
            (losses_portfolio(), LOSSES_AS_OF),
            (stages_portfolio(), STAGES_AS_OF),
        ):
            kwargs: dict[str, Any] = {"as_of": as_of}
            if policies is not None:
                kwargs["policies"] = policies
            want = object_report.build_report(portfolio, **kwargs)
            got = build_report(_frames(portfolio), **kwargs)
            assert_same_report(got, want)
            assert got.to_json() == want.to_json()
            assert any(c.lost_revenue is not None for c in got)

    def test_kept_assessments_equal(self) -> None:
        """With keep_assessments, each line's lifecycle, ladder and motivation are the same."""
        portfolio = simulate_portfolio(60, seed=4).portfolio()
        want = object_report.build_report(portfolio)
        got = build_report(_frames(portfolio), keep_assessments=True)
        for mine, theirs in zip(got, want, strict=True):
            assert mine.lifecycle == theirs.lifecycle
            assert mine.ladder == theirs.ladder
            assert mine.motivation == theirs.motivation
            assert mine.explain() == theirs.explain()


class TestFromFiles:
    """Read from files, the columnar path gives what the object path gives."""

    @pytest.mark.parametrize("fmt", ["csv", "parquet"])
    def test_written_history(self, tmp_path: Path, fmt: str) -> None:
        """A simulated history written as CSV or Parquet: equal reports."""
        portfolio = simulate_portfolio(150, seed=7).portfolio()
        write_history(portfolio, tmp_path / "h", format=fmt)  # type: ignore[arg-type]
        want = object_report.build_report(load_history(tmp_path / "h").portfolio)
        frames = read_tables(tmp_path / "h")
        assert frames.path == "fast"  # the vectorized reader, not the fallback
        assert_same_report(build_report(frames), want)

    def test_orders_alone(self, tmp_path: Path) -> None:
        """A plain transaction log (orders only, clients inferred): equal reports."""
        folder = tmp_path / "log"
        folder.mkdir()
        (folder / "orders.csv").write_text(
            "client_id,placed_at,amount\n"
            "007,2024-01-05,10.50\n007,2024-02-07,12\n007,2024-03-06,9.5\n"
            "007,2024-04-04,11.25\n8,2024-03-01,100\n8,2024-03-01,100\n",
            encoding="utf-8",
        )
        want = object_report.build_report(load_history(folder).portfolio)
        frames = read_tables(folder)
        assert frames.path == "fast"
        got = build_report(frames)
        assert_same_report(got, want)
        assert got["007"].revenue.amount == Decimal("43.25")

    def test_the_clients_own_service_levels(self, tmp_path: Path) -> None:
        """The clients' ``sla_*`` columns reach the lifecycle on both paths alike."""
        folder = tmp_path / "sla"
        folder.mkdir()
        (folder / "clients.csv").write_text("client_id,sla_medium\nc1,2\nc2,\n", encoding="utf-8")
        (folder / "complaints.csv").write_text(
            "complaint_id,client_id,opened_at,severity\n"
            "k1,c1,2024-03-01,medium\nk2,c2,2024-03-01,medium\n",
            encoding="utf-8",
        )
        (folder / "orders.csv").write_text(
            "client_id,placed_at,amount\nc1,2024-01-05,10\nc2,2024-01-05,10\n",
            encoding="utf-8",
        )
        as_of = datetime(2024, 3, 4, tzinfo=UTC)
        want = object_report.build_report(load_history(folder).portfolio, as_of=as_of)
        got = build_report(read_tables(folder), as_of=as_of)
        assert_same_report(got, want)
        # c1 expects 2 days: overdue and voicing; c2 has the default 7 days
        assert got["c1"].lifecycle_stage.value == "voicing_discontent"
        assert "overdue_complaint" in got["c1"].risk_flags
        assert got["c2"].lifecycle_stage.value == "satisfied"
        assert got["c2"].risk_flags == ()


class TestLatestMoment:
    """The default as_of is the object path's, offset included."""

    def test_same_instant_other_offsets(self, tmp_path: Path) -> None:
        """Records at one instant in several offsets: the same one is taken as as_of."""
        folder = tmp_path / "h"
        folder.mkdir()
        (folder / "orders.csv").write_text(
            "order_id,client_id,placed_at,amount\n"
            "o1,b,2024-05-01T12:00:00+02:00,1\n"
            "o2,a,2024-05-01T10:00:00+00:00,1\n"
            "o3,a,2024-05-01T13:00:00+03:00,1\n",
            encoding="utf-8",
        )
        want = object_report.build_report(load_history(folder).portfolio)
        got = build_report(read_tables(folder))
        assert got.as_of == want.as_of
        assert got.as_of.utcoffset() == want.as_of.utcoffset()
        assert got.to_json() == want.to_json()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated history as a folder of CSV tables."""
    folder = tmp_path_factory.mktemp("cli") / "h"
    write_history(simulate_portfolio(80, seed=3).portfolio(), folder, format="csv")
    return folder


class TestCommandLine:
    """``relcycle report --engine``: every engine writes the same report."""

    def _run(self, folder: Path, out: Path, *extra: str) -> dict[str, Any]:
        code = main(["report", str(folder), "--format", "json", "--output", str(out), *extra])
        assert code == 0
        loaded: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return loaded

    def test_arrow_equals_python(self, folder: Path, tmp_path: Path) -> None:
        """--engine arrow and --engine python write identical JSON."""
        python = self._run(folder, tmp_path / "p.json", "--engine", "python")
        arrow = self._run(folder, tmp_path / "a.json", "--engine", "arrow")
        assert arrow == python

    def test_auto_picks_the_engine_that_is_not_heavier(self, folder: Path, tmp_path: Path) -> None:
        """auto: python for a folder of any size and for a store (arrow, measured, is
        never faster *and* lighter); an engine asked for by name is that engine."""
        from relcycle import cli
        from relcycle.store import ingest

        store = tmp_path / "store.db"
        ingest(load_history(folder).tables, store)
        for source in (folder, store):
            assert cli.choose_engine("auto", str(source)) == "python"
            assert cli.choose_engine("arrow", str(source)) == "arrow"
            assert cli.choose_engine("python", str(source)) == "python"

    def test_dask_needs_as_of(self, folder: Path, tmp_path: Path, capsys: Any) -> None:
        """--engine dask without --as-of is a usage error (exit 2), nothing written."""
        pytest.importorskip("distributed")
        out = tmp_path / "d.json"
        code = main(["report", str(folder), "--engine", "dask", "--output", str(out)])
        assert code == 2
        assert "--as-of" in capsys.readouterr().err
        assert not out.exists()

    def test_dask_reads_a_csv_as_io_does(self, tmp_path: Path, capfd: Any) -> None:
        """Blank lines and rows of empty cells keep the file's line numbers in a
        problem, and the currency the load assumed is said, on every engine."""
        pytest.importorskip("distributed")
        rows = "client_id,placed_at,amount\nA,2024-01-01,1\n\n,,\nB,2024-01-02,{}\n"
        (tmp_path / "orders.csv").write_text(rows.format("x"), encoding="utf-8")
        engines = ("python", "arrow", "dask")
        argv = ["report", str(tmp_path), "--as-of", "2024-06-01", "--workers", "1"]
        errors = []
        for engine in engines:
            assert main([*argv, "--engine", engine]) == 1
            errors.append(capfd.readouterr().err)
        assert errors[1:] == errors[:-1]
        assert "orders.csv:5: column amount: value 'x'" in errors[0]
        (tmp_path / "orders.csv").write_text(rows.format("3"), encoding="utf-8")
        reports = []
        for engine in engines:
            out = tmp_path / f"{engine}.json"
            code = main([*argv, "--engine", engine, "--format", "json", "--output", str(out)])
            assert code == 0
            reports.append(out.read_text(encoding="utf-8"))
            assert "2 row(s) have no currency" in capfd.readouterr().err
        assert reports[1:] == reports[:-1]
        assert json.loads(reports[0])["warnings"][0].startswith("2 row(s) have no currency")

    def test_dask_refuses_a_json_lines_table(self, tmp_path: Path, capsys: Any) -> None:
        """--engine dask reads CSV and Parquet: a JSON Lines table is a usage error
        naming the file (it used to be left out without a word)."""
        pytest.importorskip("distributed")
        (tmp_path / "orders.csv").write_text("client_id,placed_at,amount\nA,2024-01-01,1\n")
        (tmp_path / "interactions.jsonl").write_text("")
        out = tmp_path / "d.json"
        argv = ["report", str(tmp_path), "--engine", "dask", "--as-of", "2024-06-01"]
        assert main([*argv, "--output", str(out)]) == 2
        assert "interactions.jsonl: --engine dask reads CSV and Parquet" in capsys.readouterr().err
        assert not out.exists()

    def test_dask_equals_python(self, folder: Path, tmp_path: Path) -> None:
        """--engine dask (a local cluster) writes the same JSON as --engine python."""
        pytest.importorskip("distributed")
        as_of = "2026-06-01T00:00:00+00:00"
        python = self._run(folder, tmp_path / "p.json", "--engine", "python", "--as-of", as_of)
        dask = self._run(
            folder, tmp_path / "d.json", "--engine", "dask", "--workers", "1", "--as-of", as_of
        )
        assert dask == python

    def test_dask_says_nothing_when_dasks_port_is_taken(self, folder: Path, tmp_path: Path) -> None:
        """Another cluster or notebook holds dask's dashboard port (8787): the local
        cluster takes another, quietly (it used to warn on stderr)."""
        import socket
        import warnings

        pytest.importorskip("distributed")
        holder = socket.socket()
        try:
            holder.bind(("", 8787))
        except OSError:
            holder.close()
            pytest.skip("port 8787 is taken on this machine already")
        holder.listen()
        out = tmp_path / "d.json"
        argv = ["report", str(folder), "--engine", "dask", "--workers", "1"]
        argv += ["--as-of", "2026-06-01T00:00:00+00:00", "--output", str(out)]
        try:
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                assert main(argv) == 0
        finally:
            holder.close()
        assert not [w for w in said if "8787" in str(w.message)]
        assert out.exists()

    @staticmethod
    def _bad_folder(tmp_path: Path) -> Path:
        folder = tmp_path / "bad"
        folder.mkdir()
        (folder / "orders.csv").write_text(
            "order_id,client_id,placed_at,amount\n"
            "o1,a,2024-05-01,10\no2,a,2024-05-02,-3\no3,b,not a time,5\no4,b,2024-05-03,7\n",
            encoding="utf-8",
        )
        return folder

    def test_bad_rows_fail_alike(self, tmp_path: Path, capfd: Any) -> None:
        """Bad rows: every engine exits 1 with the same messages, naming the file's
        lines, and writes nothing (the Dask cluster's own log lines, a worker's
        failed task among them, stay off stderr: captured at the descriptor)."""
        folder = self._bad_folder(tmp_path)
        engines = ["python", "arrow"]
        if importlib.util.find_spec("distributed") is not None:
            engines.append("dask")
        errors = []
        for engine in engines:
            out = tmp_path / f"{engine}.json"
            argv = ["report", str(folder), "--engine", engine, "--output", str(out)]
            code = main([*argv, "--as-of", "2024-06-01", "--workers", "1"])
            assert code == 1
            assert not out.exists()
            errors.append(capfd.readouterr().err)
        assert errors[1:] == errors[:-1]
        assert "orders.csv:3" in errors[0]
        assert "orders.csv:4" in errors[0]

    def test_skipped_rows_alike(self, tmp_path: Path) -> None:
        """--skip-bad-rows: both engines write the same report and the same rejects."""
        folder = self._bad_folder(tmp_path)
        outputs = []
        for engine in ("python", "arrow"):
            rejects = tmp_path / f"{engine}-rejects.csv"
            out = tmp_path / f"{engine}.json"
            args = ["--engine", engine, "--skip-bad-rows", "--rejects", str(rejects)]
            assert (
                main(["report", str(folder), "--format", "json", "--output", str(out), *args]) == 0
            )
            outputs.append((out.read_text(encoding="utf-8"), rejects.read_text(encoding="utf-8")))
        assert outputs[0] == outputs[1]
        assert json.loads(outputs[0][0])["summary"]["rejected_rows"] == 2
