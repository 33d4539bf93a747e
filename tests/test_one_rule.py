"""Each rule has one declaration: the places where copies used to disagree now agree.

Every test here failed before the rule layer (relcycle.rules) replaced the copies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle.errors import InputError
from relcycle.history import ClientHistory, Portfolio
from relcycle.io import load_history
from relcycle.ladder import Rung
from relcycle.ladder import assess as assess_ladder
from relcycle.lifecycle import LifecyclePolicy
from relcycle.lifecycle import assess as assess_lifecycle
from relcycle.model import Order
from relcycle.report import ReportPolicies, build_report
from relcycle.segmentation import Regularity, assess_regularity, rfm_figures

pl = pytest.importorskip("polars")

from relcycle.columnar import rfm_summary  # noqa: E402

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def sale(oid: str, day: float) -> Order:
    return Order(order_id=oid, client_id="c", placed_at=T0 + timedelta(days=day), amount="10")


class TestSupportedYears:
    @pytest.mark.parametrize("moment", ["1850-01-01", "1899-12-31T23:00:00+00:00", "2200-01-01"])
    def test_both_readers_refuse_a_moment_outside_the_years(
        self, tmp_path: Path, moment: str
    ) -> None:
        """The columnar RFM reader and load_history refuse the same dates, with one reason."""
        (tmp_path / "orders.csv").write_text(
            f"client_id,placed_at,amount\na,{moment},1\na,2026-01-02,2\n", encoding="utf-8"
        )
        with pytest.raises(InputError) as objects:
            load_history(tmp_path)
        with pytest.raises(InputError) as columns:
            rfm_summary(tmp_path / "orders.csv", as_of=datetime(2026, 2, 1, tzinfo=UTC))
        for info in (objects, columns):
            assert "outside the supported years 1900-2199" in str(info.value)


class TestOneZoneResolver:
    @pytest.mark.parametrize("name", ["Z", "utc", "Etc/UTC"])
    def test_every_entry_point_accepts_what_the_readers_accept(
        self, tmp_path: Path, name: str
    ) -> None:
        """A zone spelling the reader takes, segmentation and the columnar path take too."""
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount\na,2026-01-02,1\na,2026-01-20,2\n", encoding="utf-8"
        )
        history = load_history(tmp_path, tz=name).portfolio["a"]
        as_of = datetime(2026, 2, 1, tzinfo=UTC)
        figures = rfm_figures(history, as_of=as_of, tz=name)
        summary = rfm_summary(tmp_path / "orders.csv", as_of=as_of, tz=name)
        assert figures is not None
        assert summary.column("frequency").to_pylist() == [figures.repeat_days]


class TestRegularBuying:
    def test_three_orders_a_month_apart_are_one_verdict(self) -> None:
        """The ladder's "regular repeat orders" and the regularity field use one rule."""
        history = ClientHistory.of("c", [sale("o1", 0), sale("o2", 30), sale("o3", 60)])
        as_of = T0 + timedelta(days=61)
        row = build_report(Portfolio((history,)), as_of=as_of).clients[0]
        assert row.regularity is Regularity.irregular
        assert row.ladder_rung is Rung.buyer

    @settings(max_examples=60, deadline=None)
    @given(
        gaps=st.lists(st.integers(1, 170), min_size=1, max_size=8),
        min_gaps=st.integers(1, 4),
        max_cv=st.sampled_from(["0.2", "0.5", "1"]),
    )
    def test_promotion_means_regular_then(
        self, gaps: list[int], min_gaps: int, max_cv: str
    ) -> None:
        """Whenever the ladder makes a customer, the regularity rule says regular at that moment,
        and a client the rule calls regular at the end is at least a customer (no demotion can
        happen: every gap is shorter than the inactivity period)."""
        from relcycle.segmentation import RegularityPolicy

        days = [0]
        for gap in gaps:
            days.append(days[-1] + gap)
        history = ClientHistory.of("c", [sale(f"o{i}", d) for i, d in enumerate(days)])
        as_of = T0 + timedelta(days=days[-1])
        policies = ReportPolicies(regularity=RegularityPolicy(min_gaps=min_gaps, max_cv=max_cv))
        # no silent churn: a lapse (lost, then won back) is a demotion this property
        # does not cover (a daily buyer pausing four days has lapsed)
        steady = LifecyclePolicy(lapse_after=None, lapse_intervals=None)
        life = assess_lifecycle(history, as_of=as_of, policy=steady)
        ladder = assess_ladder(history, as_of=as_of, policy=policies.ladder, lifecycle=life)
        for step in ladder.trajectory.transitions:
            if step.target is Rung.customer:
                then = assess_regularity(history, as_of=step.at, policy=policies.regularity)
                assert then.regularity is Regularity.regular
        now = assess_regularity(history, as_of=as_of, policy=policies.regularity)
        if now.regularity is Regularity.regular:
            assert ladder.rung >= Rung.customer
