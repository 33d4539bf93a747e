"""Tests for relcycle.simulate: the deterministic demo portfolio."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from relcycle.errors import UsageError
from relcycle.io import load_history, write_history
from relcycle.model import Direction, LossReason, OrderStatus, Purpose
from relcycle.report import Report, build_report
from relcycle.simulate import (
    ARCHETYPES,
    DEFAULT_END,
    DEFAULT_START,
    DEMO_HOURLY_RATE,
    DEMO_MARKETING_PER_TOUCH,
    LEAVING_MANAGER,
    SIZE_SIGMA,
    STORIES,
    SimulatedHistory,
    simulate_portfolio,
)


@pytest.fixture(scope="module")
def sim() -> SimulatedHistory:
    """The default demo portfolio (200 clients, seed 0)."""
    return simulate_portfolio()


@pytest.fixture(scope="module")
def big() -> SimulatedHistory:
    """A larger demo portfolio (1,000 clients, seed 0), for properties of the mix."""
    return simulate_portfolio(1000)


@pytest.fixture(scope="module")
def big_report(big: SimulatedHistory) -> Report:
    """The report of the larger demo portfolio at its end."""
    return build_report(big.portfolio(), as_of=big.as_of, keep_assessments=False)


def of_archetype(sim: SimulatedHistory, archetype: str) -> set[str]:
    """The ids of the clients generated with one archetype."""
    return {cid for cid, p in sim.profiles.items() if p.archetype == archetype}


class TestDeterminism:
    def test_same_seed_same_portfolio(self, sim: SimulatedHistory) -> None:
        """The same arguments give the same records, to the last field."""
        again = simulate_portfolio()
        assert again == sim
        assert again.profiles == sim.profiles

    def test_other_seed_other_portfolio(self, sim: SimulatedHistory) -> None:
        """Another seed gives another portfolio."""
        assert simulate_portfolio(seed=1).orders != sim.orders

    def test_smaller_portfolio_is_a_prefix(self, sim: SimulatedHistory) -> None:
        """A client's history does not depend on how many clients are simulated."""
        small = simulate_portfolio(40)
        keep = {c.client_id for c in small.clients}
        assert small.clients == sim.clients[:40]
        assert small.orders == tuple(o for o in sim.orders if o.client_id in keep)
        assert small.interactions == tuple(i for i in sim.interactions if i.client_id in keep)

    def test_bad_arguments(self) -> None:
        """Bad counts, periods and currencies are usage errors."""
        with pytest.raises(UsageError):
            simulate_portfolio(0)
        with pytest.raises(UsageError):
            simulate_portfolio(5, start=DEFAULT_START, end=DEFAULT_START)
        with pytest.raises(UsageError):
            simulate_portfolio(5, start=datetime(2024, 1, 1))
        with pytest.raises(UsageError):
            simulate_portfolio(5, currency="euro")


class TestShape:
    def test_records_are_inside_the_period(self, sim: SimulatedHistory) -> None:
        """No record is before the start or after the end (the report's as_of)."""
        assert sim.as_of == DEFAULT_END
        moments = [r.at for r in (*sim.orders, *sim.interactions, *sim.complaints)]
        assert min(moments) >= DEFAULT_START
        assert max(moments) <= DEFAULT_END
        resolved = [c.resolved_at for c in sim.complaints if c.resolved_at is not None]
        assert max(resolved) <= DEFAULT_END

    def test_portfolio_builds_and_round_trips(self, sim: SimulatedHistory, tmp_path: Path) -> None:
        """The history is valid contract data: written as CSV it reads back unchanged."""
        portfolio = sim.portfolio()
        assert len(portfolio) == 200
        write_history(sim, tmp_path)
        assert load_history(tmp_path).portfolio == portfolio

    def test_about_ten_orders_per_client(self, big: SimulatedHistory) -> None:
        """Orders average roughly ten per client, so 100k clients make about a million."""
        assert 8 <= len(big.orders) / len(big.clients) <= 13

    def test_currency_everywhere(self) -> None:
        """Every amount is in the requested currency."""
        eur = simulate_portfolio(30, currency="EUR")
        assert {o.currency for o in eur.orders} == {"EUR"}
        assert {c.currency for c in eur.complaints} == {"EUR"}

    def test_cost_to_serve_inputs(self, sim: SimulatedHistory) -> None:
        """Sales carry costs and contacts carry minutes, for cost-to-serve."""
        assert all(o.cost is not None for o in sim.orders if o.status is not OrderStatus.planned)
        assert all(i.minutes is not None and i.handled_by for i in sim.interactions)

    def test_the_supplier_has_cost_rates(self) -> None:
        """cost_rates price every simulated client's minutes and touches, in its currency."""
        from relcycle.report import ReportPolicies

        eur = simulate_portfolio(30, currency="EUR")
        rates = eur.cost_rates
        assert (rates.default_rate, rates.marketing_per_touch, rates.currency) == (
            DEMO_HOURLY_RATE,
            DEMO_MARKETING_PER_TOUCH,
            "EUR",
        )
        report = build_report(
            eur.portfolio(), as_of=eur.as_of, policies=ReportPolicies(cost_rates=rates)
        )
        assert not report.warnings
        assert all(c.profit is not None for c in report.clients)
        assert report.summary["risks"]["unprofitable"] > 0

    def test_planned_orders(self, sim: SimulatedHistory) -> None:
        """Some regular clients have planned orders, for plan-vs-actual."""
        planned = [o for o in sim.orders if o.status is OrderStatus.planned]
        assert len({o.client_id for o in planned}) >= 10
        assert {o.status for o in sim.orders} == set(OrderStatus)


class TestSegments:
    def test_every_archetype_and_story(self, sim: SimulatedHistory) -> None:
        """Every archetype and every story occurs, even in a small portfolio."""
        small = simulate_portfolio(24)
        assert {p.archetype for p in small.profiles.values()} == set(ARCHETYPES)
        assert {p.story for p in small.profiles.values()} == set(STORIES)

    def test_lowest_price_signature(self, sim: SimulatedHistory) -> None:
        """Lowest-price clients make many requests and buy mostly at a discount."""
        ids = of_archetype(sim, "lowest_price")
        orders = [
            o for o in sim.orders if o.client_id in ids and o.status is not OrderStatus.planned
        ]
        assert sum(o.discounted for o in orders) / len(orders) > 0.85
        inquiries = Counter(i.client_id for i in sim.interactions if i.purpose is Purpose.inquiry)
        stable = of_archetype(sim, "stability")
        mean = lambda group: sum(inquiries[c] for c in group) / len(group)  # noqa: E731
        assert mean(ids) > 4 * mean(stable)

    def test_novelty_signature(self, sim: SimulatedHistory) -> None:
        """Novelty clients ask to change the offer often but order little and small."""
        ids = {c for c in of_archetype(sim, "novelty") if sim.profiles[c].story != "reactivated"}
        changes = Counter(
            i.client_id for i in sim.interactions if i.purpose is Purpose.offer_change
        )
        orders = Counter(o.client_id for o in sim.orders)
        assert all(orders[c] <= 3 for c in ids)
        assert sum(changes[c] for c in ids) / len(ids) >= 5
        novelty_mean = _mean_amount(sim, ids)
        assert novelty_mean < _mean_amount(sim, of_archetype(sim, "stability")) / 3

    def test_belonging_signature(self, sim: SimulatedHistory) -> None:
        """Belonging clients plan jointly, exchange services and refer others."""
        ids = of_archetype(sim, "belonging")
        purposes = defaultdict(set)
        for i in sim.interactions:
            purposes[i.client_id].add(i.purpose)
        wanted = {Purpose.offer_change, Purpose.joint_planning, Purpose.service_exchange}
        assert sum(wanted <= purposes[c] for c in ids) / len(ids) > 0.7
        assert sum(Purpose.referral in purposes[c] for c in ids) / len(ids) > 0.6

    def test_stability_signature(self, sim: SimulatedHistory, big: SimulatedHistory) -> None:
        """Stability clients order regularly and contact rarely; the silent ones go late."""
        ids = of_archetype(sim, "stability")
        inbound = Counter(
            i.client_id
            for i in sim.interactions
            if i.direction is Direction.inbound and i.purpose is Purpose.inquiry
        )
        orders = Counter(o.client_id for o in sim.orders)
        assert sum(inbound[c] for c in ids) < 0.2 * sum(orders[c] for c in ids)
        silent = {cid for cid, p in big.profiles.items() if p.story == "silent"}
        assert "C000007" in silent
        recent = [o for o in big.orders if o.client_id in silent and o.on_time is not None]
        recent = [o for o in recent if (big.as_of - o.placed_at).days < 240]
        assert len(recent) >= 30
        assert sum(o.on_time is False for o in recent) / len(recent) > 0.4
        assert not [c for c in big.complaints if c.client_id in silent]

    def test_one_off_and_prospects(self, sim: SimulatedHistory) -> None:
        """One-off buyers order once; prospects never."""
        orders = Counter(o.client_id for o in sim.orders)
        assert all(orders[c] == 1 for c in of_archetype(sim, "one_off"))
        assert all(orders[c] == 0 for c in of_archetype(sim, "prospect"))


def _mean_amount(sim: SimulatedHistory, ids: set[str]) -> Decimal:
    amounts = [o.amount for o in sim.orders if o.client_id in ids]
    return sum(amounts, Decimal(0)) / len(amounts)


class TestLifecycleSignals:
    def test_loss_reasons(self, sim: SimulatedHistory) -> None:
        """Terminations carry reasons, competitor and manager_left among them."""
        reasons = {i.reason for i in sim.interactions if i.purpose is Purpose.termination}
        assert {LossReason.competitor, LossReason.manager_left, LossReason.price} <= reasons
        assert None not in reasons

    def test_lost_clients_stop_ordering(self, sim: SimulatedHistory) -> None:
        """After a termination a client orders nothing, unless it was reactivated."""
        ended = {i.client_id: i.at for i in sim.interactions if i.purpose is Purpose.termination}
        back = {i.client_id for i in sim.interactions if i.purpose is Purpose.reactivation}
        assert back
        for cid, at in ended.items():
            later = [o for o in sim.orders if o.client_id == cid and o.placed_at > at]
            assert bool(later) == (cid in back), cid

    def test_escalation_path(self, sim: SimulatedHistory) -> None:
        """Escalations, ultimatums and an arbitration occur, after recurring complaints."""
        purposes = Counter(i.purpose for i in sim.interactions)
        for purpose in (Purpose.escalation, Purpose.ultimatum, Purpose.arbitration):
            assert purposes[purpose] >= 1
        arbitration = next(i for i in sim.interactions if i.purpose is Purpose.arbitration)
        before = [
            c
            for c in sim.complaints
            if c.client_id == arbitration.client_id and c.opened_at < arbitration.at
        ]
        assert max(Counter(c.category for c in before).values()) >= 3
        assert any(c.client_loss for c in before)

    def test_key_person_risk(self, sim: SimulatedHistory) -> None:
        """A key-person client's contacts are all handled by its account manager."""
        key = [cid for cid, p in sim.profiles.items() if p.key_person]
        assert key
        managers = {c.client_id: c.account_manager for c in sim.clients}
        for cid in key:
            handlers = {i.handled_by for i in sim.interactions if i.client_id == cid}
            assert handlers == {managers[cid]}
        leavers = [cid for cid in key if managers[cid] == LEAVING_MANAGER]
        assert leavers
        assert all(sim.profiles[c].loss_reason is LossReason.manager_left for c in leavers)


class TestWithTheLibrary:
    def test_every_stage_and_segment_is_found(self, sim: SimulatedHistory) -> None:
        """relcycle's own verdicts find every lifecycle stage and motivation segment."""
        lifecycle = pytest.importorskip("relcycle.lifecycle")
        motivation = pytest.importorskip("relcycle.segmentation.motivation")
        portfolio = sim.portfolio()
        stages = {lifecycle.assess(h, as_of=sim.as_of).stage for h in portfolio}
        assert {s.value for s in stages} == {s.value for s in lifecycle.Stage}
        segments = {
            motivation.classify_motivation(h, as_of=sim.as_of).segment.value for h in portfolio
        }
        assert {"lowest_price", "novelty", "belonging", "stability"} <= segments

    def test_as_of_is_aware(self, sim: SimulatedHistory) -> None:
        """The natural report moment is an aware UTC datetime."""
        assert sim.as_of.tzinfo is UTC


class TestMix:
    """The portfolio's mix matches the source texts (Pareto, a ladder pyramid, attrition)."""

    def test_pareto_concentration(self, big_report: Report) -> None:
        """The largest 20% of clients hold about 80% of the revenue (the texts: 80-90%)."""
        assert 0.72 <= big_report.summary["top_share"] <= 0.9
        classes = big_report.summary["value_class"]
        assert classes["A"] < 0.3 * len(big_report)  # class A (80% of value) is a minority

    def test_pareto_holds_for_other_seeds(self) -> None:
        """The concentration is a property of the generator, not of one seed."""
        for seed in (1, 2):
            sim = simulate_portfolio(400, seed=seed)
            share = build_report(sim.portfolio(), keep_assessments=False).summary["top_share"]
            assert 0.7 <= share <= 0.9, (seed, share)

    def test_ladder_is_a_pyramid(self, big_report: Report) -> None:
        """Many buyers and customers, fewer advocates, fewer experts still."""
        rungs = big_report.summary["ladder_rung"]
        n = len(big_report)
        assert rungs["buyer"] + rungs["customer"] >= 0.4 * n
        assert rungs["customer"] > 3 * rungs["advocate"]
        assert rungs["advocate"] > rungs["expert"] > 0
        assert rungs["advocate"] < 0.12 * n
        assert rungs["adversary"] < 0.15 * n

    def test_size_drives_value(self, big: SimulatedHistory, big_report: Report) -> None:
        """The size attribute is read from the client's size factor: large clients buy more."""
        size = {c.client_id: c.attributes["size"] for c in big.clients}
        by_size: dict[str, list[Decimal]] = defaultdict(list)
        for line in big_report:
            if line.orders:
                by_size[size[line.client_id]].append(line.revenue.amount)
        mean = {k: sum(v, Decimal(0)) / len(v) for k, v in by_size.items()}
        assert mean["large"] > 2 * mean["medium"] > 2 * mean["small"]
        assert SIZE_SIGMA > 1  # a heavy tail, not an even spread

    def test_silent_attrition(self, big: SimulatedHistory) -> None:
        """Some healthy regular clients stop buying without a word (no termination)."""
        ended = {i.client_id for i in big.interactions if i.purpose is Purpose.termination}
        last: dict[str, datetime] = {}
        for o in big.orders:
            if o.status is not OrderStatus.planned:
                last[o.client_id] = max(o.placed_at, last.get(o.client_id, o.placed_at))
        healthy = [
            cid
            for cid, p in big.profiles.items()
            if p.story == "none" and p.archetype in ("lowest_price", "stability") and cid in last
        ]
        lapsed = [cid for cid in healthy if (big.as_of - last[cid]).days > 240 and cid not in ended]
        assert 0.1 * len(healthy) < len(lapsed) < 0.7 * len(healthy)

    def test_bgnbd_and_gamma_gamma_fit_without_a_penalizer(self, big_report: Report) -> None:
        """lifetimes' BG/NBD and Gamma-Gamma models converge on the report's four figures."""
        pytest.importorskip("pandas")
        lifetimes = pytest.importorskip("lifetimes")
        frame = big_report.to_pandas()
        frame = frame[frame["frequency"].notna()]
        bgf = lifetimes.BetaGeoFitter(penalizer_coef=0.0)
        bgf.fit(frame["frequency"], frame["recency"], frame["T"])
        params = bgf.params_
        assert all(0 < params[k] < 1e4 for k in ("r", "alpha", "a", "b")), dict(params)
        repeat = frame[frame["frequency"] > 0]
        ggf = lifetimes.GammaGammaFitter(penalizer_coef=0.0)
        ggf.fit(repeat["frequency"], repeat["monetary_value"].astype(float))
        assert all(0 < ggf.params_[k] < 1e6 for k in ("p", "q", "v")), dict(ggf.params_)
