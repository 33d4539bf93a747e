"""Tests for relcycle.columnar._signals: per-client signals equal the object path's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle.errors import CurrencyMismatchError, ValidationError
from relcycle.history import ClientHistory, Portfolio, build_portfolio
from relcycle.io import as_tables, load_history, write_history
from relcycle.model import Direction, Order, Purpose
from relcycle.report import REQUEST_PURPOSES, ReportPolicies, build_report, exact_sum
from relcycle.segmentation.cost import CostRates, cost_to_serve
from relcycle.segmentation.motivation import (
    AttributeRule,
    MotivationPolicy,
    MotivationSegment,
    classify_motivation,
)
from relcycle.segmentation.regularity import RegularityPolicy, assess_regularity
from relcycle.segmentation.rfm import rfm_figures
from relcycle.simulate import simulate_portfolio
from relcycle.testing import portfolios, timestamps, zones

pl = pytest.importorskip("polars")

from relcycle.columnar import _signals  # noqa: E402
from relcycle.columnar._signals import (  # noqa: E402
    ClientSignals,
    client_signals,
    iter_client_signals,
)
from relcycle.columnar._tables import Frames, frames_from_tables, read_tables  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- helpers


def frames_of(portfolio: Portfolio, seed: int = 0) -> Frames:
    """The portfolio's frames with every frame's rows shuffled (row order means nothing)."""
    frames = frames_from_tables(as_tables(portfolio))
    return attrs.evolve(
        frames,
        clients=frames.clients.sample(fraction=1.0, shuffle=True, seed=seed),
        orders=frames.orders.sample(fraction=1.0, shuffle=True, seed=seed + 1),
        interactions=frames.interactions.sample(fraction=1.0, shuffle=True, seed=seed + 2),
        complaints=frames.complaints.sample(fraction=1.0, shuffle=True, seed=seed + 3),
    )


def expected(
    history: ClientHistory, as_of: datetime, tz: tzinfo, policies: ReportPolicies
) -> ClientSignals:
    """The object path's signals of one client (as relcycle.report computes them)."""
    cut = history.as_of(as_of)
    sales = [o for o in cut.orders if o.is_sale]
    interactions = [i for i in cut.interactions if i.purpose is not Purpose.marketing]
    requests = [
        i
        for i in interactions
        if i.purpose in REQUEST_PURPOSES and i.direction is Direction.inbound
    ]
    return ClientSignals(
        client_id=history.client_id,
        regularity=assess_regularity(cut, as_of=as_of, policy=policies.regularity, tz=tz),
        motivation=classify_motivation(cut, as_of=as_of, policy=policies.motivation, tz=tz),
        cost=cost_to_serve(cut, as_of=as_of, rates=policies.cost_rates),
        figures=rfm_figures(cut, as_of=as_of, tz=tz),
        counts=(
            len(sales),
            len(interactions),
            len(requests),
            sum(1 for c in cut.complaints if c.is_open_at(as_of)),
            exact_sum(o.amount for o in sales),
        ),
    )


def assert_equal_signals(
    portfolio: Portfolio,
    as_of: datetime,
    tz: tzinfo,
    policies: ReportPolicies,
    seed: int = 0,
) -> dict[str, ClientSignals]:
    """Every client's columnar signals equal the object path's, field by field."""
    found = client_signals(frames_of(portfolio, seed), as_of=as_of, tz=tz, policies=policies)
    assert list(found) == [h.client_id for h in portfolio]
    for history in portfolio:
        want = expected(history, as_of, tz, policies)
        got = found[history.client_id]
        assert got.regularity == want.regularity, history.client_id
        assert got.motivation == want.motivation, history.client_id
        assert got.motivation.signals.ids == want.motivation.signals.ids, history.client_id
        assert got.cost == want.cost, history.client_id
        assert got.figures == want.figures, history.client_id
        assert got.counts == want.counts, history.client_id
        # Equal decimals may still differ in their digits: the text must agree too.
        assert str(got.revenue) == str(want.revenue)
        assert str(got.cost.revenue) == str(want.cost.revenue)
        assert str(got.cost.cost_of_goods) == str(want.cost.cost_of_goods)
        assert str(got.cost.time_cost) == str(want.cost.time_cost)
        assert str(got.motivation.signals.sales_value) == str(want.motivation.signals.sales_value)
        if want.figures is not None:
            assert got.figures is not None
            assert str(got.figures.total_value) == str(want.figures.total_value)
            assert str(got.figures.mean_repeat_value) == str(want.figures.mean_repeat_value)
    return found


def moments(portfolio: Portfolio) -> list[datetime]:
    """Every record moment of the portfolio (opened, placed, at, resolved)."""
    out: list[datetime] = []
    for h in portfolio:
        out += [r.at for r in h.records()]
        out += [c.resolved_at for c in h.complaints if c.resolved_at is not None]
    return out


@st.composite
def as_of_moments(
    draw: st.DrawFn, portfolio: Portfolio, policies: ReportPolicies | None = None
) -> datetime:
    """Moments before, inside and after the history; often exactly a record's moment,
    or a window's length after one (the record then lies on the window's open edge)."""
    found = moments(portfolio)
    exact = st.sampled_from(found) if found else timestamps()
    near = st.tuples(exact, st.sampled_from([-1, 1, -86_400_000_000, 86_400_000_000])).map(
        lambda p: p[0] + timedelta(microseconds=p[1])
    )
    far = st.sampled_from([datetime(1990, 1, 1, tzinfo=UTC), datetime(2040, 6, 1, 12, tzinfo=UTC)])
    zone = draw(zones())
    windows = (
        []
        if policies is None
        else [
            d
            for d in (policies.regularity.window_days, policies.motivation.window_days)
            if d is not None
        ]
    )
    if windows and found and draw(st.booleans()):
        # as_of - days is wall-clock arithmetic in as_of's zone: start from the record there.
        record = draw(exact).astimezone(zone)
        return record + timedelta(days=draw(st.sampled_from(windows)))
    resolved = [c.resolved_at for h in portfolio for c in h.complaints if c.resolved_at]
    if resolved and draw(st.booleans()):
        # A complaint resolved exactly at as_of is no longer open then.
        return draw(st.sampled_from(resolved)).astimezone(zone)
    moment = draw(exact | near | far | timestamps())
    # The moment's own zone matters: a window is as_of minus whole days, wall clock.
    return moment.astimezone(zone)


@st.composite
def policies_for(draw: st.DrawFn, portfolio: Portfolio) -> ReportPolicies:
    """Default and non-default policies: windows, thresholds, rates, attribute rules."""
    if draw(st.booleans()):
        return ReportPolicies()
    employees = sorted(
        {i.handled_by for h in portfolio for i in h.interactions if i.handled_by is not None}
    )
    rate = st.sampled_from([Decimal("0"), Decimal("33"), Decimal("47.5"), Decimal("0.07")])
    picked = draw(st.lists(st.sampled_from(employees), unique=True)) if employees else []
    half = len(picked) // 2
    rates = CostRates(
        default_rate=draw(st.none() | rate),
        employee_rates={e: draw(rate) for e in picked[:half]},
        employee_roles={e: draw(st.sampled_from(["engineer", "manager"])) for e in picked[half:]},
        role_rates=draw(st.dictionaries(st.sampled_from(["engineer", "manager"]), rate)),
        marketing_per_touch=draw(st.none() | rate),
    )
    rules = draw(
        st.lists(
            st.builds(
                AttributeRule,
                st.sampled_from(["industry", "region", "kind", "segment", "tier"]),
                st.sampled_from(["retail", "Kyiv", "company", "person", "a", ""]),
                st.sampled_from(MotivationSegment),
            ),
            max_size=2,
        )
    )
    days = st.none() | st.sampled_from([1, 7, 30, 90, 365, 1000])
    regularity = RegularityPolicy(
        min_gaps=draw(st.integers(1, 4)),
        max_cv=draw(st.sampled_from([Decimal("0"), Decimal("0.3"), Decimal("0.5"), Decimal(2)])),
        overdue_factor=draw(st.sampled_from([Decimal("1"), Decimal("1.5")])),
        window_days=draw(days),
    )
    motivation = MotivationPolicy(
        window_days=draw(days),
        attribute_rules=rules,
        belonging_min_offer_changes=draw(st.integers(0, 2)),
        belonging_min_partnership=draw(st.integers(0, 1)),
        belonging_min_referrals=draw(st.integers(0, 1)),
        lowest_price_min_requests=draw(st.integers(0, 2)),
        lowest_price_min_discounted_share=draw(st.sampled_from([Decimal(0), Decimal("0.5")])),
        novelty_min_offer_changes=draw(st.integers(0, 2)),
        novelty_max_orders=draw(st.integers(0, 3)),
        novelty_max_mean_order=draw(st.none() | st.sampled_from([Decimal(0), Decimal(500_000)])),
        regularity=draw(st.sampled_from([RegularityPolicy(), regularity])),
    )
    return ReportPolicies(regularity=regularity, motivation=motivation, cost_rates=rates)


TZS = st.sampled_from([UTC, BERLIN]) | zones()


# --------------------------------------------------------------------------- tests


class TestEquality:
    """The columnar signals equal the object path's for every client."""

    @SETTINGS
    @given(data=st.data(), portfolio=portfolios(max_clients=5, max_records=10), tz=TZS)
    def test_random_portfolios(self, data: Any, portfolio: Portfolio, tz: tzinfo) -> None:
        """Random histories, moments, zones and policies: every field of every client agrees."""
        policies = data.draw(policies_for(portfolio))
        as_of = data.draw(as_of_moments(portfolio, policies))
        seed = data.draw(st.integers(0, 1000))
        assert_equal_signals(portfolio, as_of, tz, policies, seed)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        data=st.data(),
        portfolio=portfolios(min_clients=1, max_clients=3, max_records=10, with_clients=False),
    )
    def test_amounts_the_polars_sums_do_not_take(self, data: Any, portfolio: Portfolio) -> None:
        """Amounts with an exponent, -0, many places or 28+ digit sums agree exactly too."""
        odd = st.sampled_from(
            [
                Decimal("1E+3"),
                Decimal("1E-7"),
                Decimal("-0"),
                Decimal("0.0000000000001"),
                Decimal("9" * 20),
                Decimal("9" * 15 + "." + "9" * 12),
                Decimal("12.5"),
            ]
        )
        orders: list[Order] = []
        for h in portfolio:
            for o in h.orders:
                if data.draw(st.booleans()):
                    o = attrs.evolve(o, amount=data.draw(odd), cost=data.draw(st.none() | odd))
                orders.append(o)
        changed = build_portfolio(
            orders=orders,
            interactions=[i for h in portfolio for i in h.interactions],
            complaints=[c for h in portfolio for c in h.complaints],
        )
        as_of = data.draw(as_of_moments(changed))
        policies = ReportPolicies(cost_rates=CostRates(default_rate=Decimal("61")))
        assert_equal_signals(changed, as_of, data.draw(TZS), policies)

    @pytest.mark.parametrize("tz", [UTC, BERLIN], ids=["UTC", "Berlin"])
    def test_demo_portfolio(self, tz: tzinfo) -> None:
        """The demo's simulated portfolio agrees client by client, and with the report's counts."""
        simulated = simulate_portfolio(200, seed=0)
        portfolio = simulated.portfolio()
        as_of = simulated.as_of
        policies = ReportPolicies()
        found = assert_equal_signals(portfolio, as_of, tz, policies)
        report = build_report(portfolio, as_of=as_of, tz=tz, policies=policies)
        for line in report.clients:
            got = found[line.client_id]
            assert (got.orders, got.contacts, got.requests, got.complaints_open) == (
                line.orders,
                line.contacts,
                line.requests,
                line.complaints_open,
            )
            assert str(got.revenue) == str(line.revenue.amount)

    def test_a_narrow_decimal_context(self) -> None:
        """Under a decimal context of 6 digits the model's sums round; the signals still agree."""
        simulated = simulate_portfolio(60, seed=8)
        with localcontext() as context:
            context.prec = 6
            assert_equal_signals(simulated.portfolio(), simulated.as_of, UTC, ReportPolicies())

    def test_frames_read_from_files(self, tmp_path: Path) -> None:
        """Frames read from written CSV files (the reader's fast path) give the same signals."""
        simulated = simulate_portfolio(150, seed=7)
        write_history(simulated.portfolio(), tmp_path)
        frames = read_tables(tmp_path)
        assert frames.path == "fast"
        portfolio = load_history(tmp_path).portfolio
        found = client_signals(frames, as_of=simulated.as_of, tz=BERLIN)
        for history in portfolio:
            assert found[history.client_id] == expected(
                history, simulated.as_of, BERLIN, ReportPolicies()
            )

    def test_demo_portfolio_non_default_policies(self) -> None:
        """Priced minutes, marketing touches and windows on the demo portfolio agree too."""
        simulated = simulate_portfolio(120, seed=3)
        portfolio = simulated.portfolio()
        policies = ReportPolicies(
            regularity=RegularityPolicy(window_days=400),
            motivation=MotivationPolicy(window_days=180),
            cost_rates=CostRates(default_rate=Decimal("40"), marketing_per_touch=Decimal("2.50")),
        )
        middle = simulated.start + (simulated.as_of - simulated.start) / 2
        for as_of in (simulated.as_of, middle.astimezone(BERLIN)):
            assert_equal_signals(portfolio, as_of, BERLIN, policies)

    def test_one_regularity_policy_for_both(self) -> None:
        """When the report's regularity policy is the motivation's windowed one, both agree."""
        simulated = simulate_portfolio(80, seed=6)
        policies = ReportPolicies(regularity=RegularityPolicy(window_days=365))
        assert policies.regularity == policies.motivation.windowed_regularity()
        assert_equal_signals(simulated.portfolio(), simulated.as_of, UTC, policies)


class _Kathmandu(tzinfo):
    """A fixed +05:45 zone that is not a ``datetime.timezone`` and has no IANA key."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=5, minutes=45)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "+0545"


class TestZones:
    """Calendar days in any zone the object path accepts."""

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), portfolio=portfolios(min_clients=1, max_clients=4, max_records=10))
    def test_a_tzinfo_without_a_name(self, data: Any, portfolio: Portfolio) -> None:
        """A tzinfo polars cannot name gives the same days (computed per distinct instant)."""
        as_of = data.draw(as_of_moments(portfolio))
        assert_equal_signals(portfolio, as_of, _Kathmandu(), ReportPolicies())

    def test_a_zone_name(self) -> None:
        """An IANA name as tz gives the signals of its ZoneInfo."""
        simulated = simulate_portfolio(40, seed=4)
        frames = frames_of(simulated.portfolio())
        by_name = client_signals(frames, as_of=simulated.as_of, tz="Europe/Berlin")
        by_zone = client_signals(frames, as_of=simulated.as_of, tz=BERLIN)
        assert by_name == by_zone


class TestShape:
    """What client_signals returns and refuses."""

    def test_chunks_do_not_matter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Deciding a few clients at a time gives the same signals, in client id order."""
        simulated = simulate_portfolio(60, seed=5)
        frames = frames_of(simulated.portfolio(), 9)
        whole = client_signals(frames, as_of=simulated.as_of, tz=BERLIN)
        monkeypatch.setattr(_signals, "_CHUNK", 7)
        chunked = list(iter_client_signals(frames, as_of=simulated.as_of, tz=BERLIN))
        assert chunked == list(whole.values())
        assert [s.client_id for s in chunked] == sorted(whole)

    def test_every_client_in_id_order(self) -> None:
        """Clients without records get signals too, in client id order."""
        portfolio = simulate_portfolio(30, seed=2).portfolio()
        found = client_signals(
            frames_of(portfolio, 5), as_of=datetime(2000, 1, 1, tzinfo=UTC), tz=UTC
        )
        assert list(found) == sorted(h.client_id for h in portfolio)
        assert all(s.figures is None and s.orders == 0 for s in found.values())

    def test_naive_as_of_is_refused(self) -> None:
        """A naive as_of is a ValidationError, as on the object path."""
        frames = frames_of(simulate_portfolio(5, seed=2).portfolio())
        with pytest.raises(ValidationError):
            client_signals(frames, as_of=datetime(2024, 1, 1), tz=UTC)

    def test_two_currencies_are_refused(self) -> None:
        """A client's sales in two currencies raise the RFM figures' CurrencyMismatchError."""
        t = datetime(2024, 1, 1, tzinfo=UTC)
        portfolio = build_portfolio(
            orders=[
                Order(order_id="o1", client_id="c", placed_at=t, amount=Decimal(1)),
                Order(
                    order_id="o2",
                    client_id="c",
                    placed_at=t,
                    amount=Decimal(1),
                    currency="EUR",
                ),
            ]
        )
        with pytest.raises(CurrencyMismatchError) as caught:
            client_signals(frames_of(portfolio), as_of=t, tz=UTC)
        with pytest.raises(CurrencyMismatchError) as want:
            rfm_figures(portfolio["c"], as_of=t)
        assert str(caught.value) == str(want.value)

    def test_rates_in_another_currency_are_refused(self) -> None:
        """Sales in another currency than the cost rates' raise cost-to-serve's error."""
        t = datetime(2024, 1, 1, tzinfo=UTC)
        portfolio = build_portfolio(
            orders=[Order(order_id="o1", client_id="c", placed_at=t, amount=Decimal(1))]
        )
        policies = ReportPolicies(cost_rates=CostRates(currency="EUR"))
        with pytest.raises(CurrencyMismatchError, match="cost-to-serve of client 'c'"):
            client_signals(frames_of(portfolio), as_of=t, tz=UTC, policies=policies)
