"""Tests for relcycle.accounts: relay and guide plans, their comparison, contact value."""

from __future__ import annotations

import doctest
import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle.accounts import (
    DEFAULT_BANDS,
    AccountModel,
    AssignmentPlan,
    Band,
    ContactStatus,
    Manager,
    compare_plans,
    contact_value,
    guide_plan,
    relay_plan,
    rungs_of,
)
from relcycle.errors import DuplicateIdError, RecordTypeError, UsageError, ValidationError
from relcycle.history import ClientHistory, build_portfolio
from relcycle.ladder import Competency, Rung, assess
from relcycle.lifecycle import Stage
from relcycle.machine import Step, Trajectory
from relcycle.model import Interaction, Order

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ALL = frozenset(Competency)


def d(days: float) -> datetime:
    return T0 + timedelta(days=days)


@attrs.frozen
class Calm:
    """A lifecycle stand-in that never moves."""

    trajectory: Trajectory[Stage, str] = attrs.field(
        factory=lambda: Trajectory(Stage.satisfied, ())
    )


@attrs.frozen
class Lost:
    """A lifecycle stand-in: lost on a given day."""

    day: float

    @property
    def trajectory(self) -> Trajectory[Stage, str]:
        step = Step(d(self.day), Stage.satisfied, Stage.lost, "moved", ("t",), "")
        return Trajectory(Stage.satisfied, (step,))


# --------------------------------------------------------------------------- strategies

competency_sets = st.frozensets(st.sampled_from(list(Competency)))
managers = st.lists(
    st.builds(Manager, st.sampled_from(list("abcdefg")), competency_sets, st.integers(0, 6)),
    max_size=6,
    unique_by=lambda m: m.manager_id,
)
client_rungs = st.dictionaries(
    st.text("pqrstuvwxyz", min_size=1, max_size=3), st.sampled_from(list(Rung)), max_size=25
)
client_values = st.integers(0, 5)


def check_plan(plan: AssignmentPlan, clients: dict[str, Rung], team: list[Manager]) -> None:
    capacity = {m.manager_id: m.capacity for m in team}
    for mid, load in plan.loads.items():
        assert load <= capacity[mid]
    placed = [a.client_id for a in plan.assignments] + [u.client_id for u in plan.unassigned]
    assert sorted(placed) == sorted(clients)
    for a in plan.assignments:
        assert a.rung is clients[a.client_id]
        assert a.matched is (
            a.competency in next(m for m in team if m.manager_id == a.manager_id).competencies
        )


class TestManager:
    def test_competencies_from_strings(self) -> None:
        """Competencies may be given by value; they are parsed into members."""
        m = Manager("ann", ["fast_selling"], 2)
        assert m.competencies == {Competency.fast_selling}

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"manager_id": "", "competencies": (), "capacity": 1}, "manager_id"),
            ({"manager_id": "a", "competencies": ("magic",), "capacity": 1}, "competencies"),
            ({"manager_id": "a", "competencies": (), "capacity": -1}, "capacity"),
            ({"manager_id": "a", "competencies": (), "capacity": 1.5}, "capacity"),
        ],
    )
    def test_bad_manager_is_refused(self, kwargs: dict[str, object], field: str) -> None:
        """A bad manager raises a ValidationError naming the field."""
        with pytest.raises(ValidationError) as info:
            Manager(**kwargs)  # type: ignore[arg-type]
        assert info.value.field == field

    def test_one_string_is_not_a_set_of_competencies(self) -> None:
        """A bare string is refused rather than split into letters."""
        with pytest.raises(RecordTypeError):
            Manager("a", "fast_selling", 1)  # type: ignore[arg-type]


class TestBands:
    def test_default_bands_follow_the_seed(self) -> None:
        """Fast sellers to buyer, relationship builders to advocate, the experienced to expert."""
        assert [b.name for b in DEFAULT_BANDS] == ["acquisition", "development", "expertise"]
        assert DEFAULT_BANDS[0].competencies == {
            Competency.facts_and_figures,
            Competency.fast_selling,
        }
        assert DEFAULT_BANDS[1].competencies == {
            Competency.emotional_closeness,
            Competency.long_term_partnership,
        }
        assert DEFAULT_BANDS[2].competencies == {Competency.deep_product_knowledge}

    @pytest.mark.parametrize(
        "bands",
        [
            (Band("low", ["adversary", "doubter", "buyer"]),),
            (Band("x", list(Rung)), Band("y", ["expert"])),
            (Band("x", list(Rung)[:3]), Band("x", list(Rung)[3:])),
        ],
    )
    def test_bands_must_hold_every_rung_once(self, bands: tuple[Band, ...]) -> None:
        """Missing rungs, a rung in two bands, or two bands of one name are usage errors."""
        with pytest.raises(UsageError):
            relay_plan({}, [], bands=bands)

    def test_unknown_rung_in_a_band_is_refused(self) -> None:
        """A band names only rungs."""
        with pytest.raises(ValidationError):
            Band("x", ["hero"])


class TestRelayPlan:
    def test_specialists_per_band_and_handoffs(self) -> None:
        """Each client goes to its band's specialist; handoffs count the bands ahead."""
        team = [
            Manager("seller", {"facts_and_figures", "fast_selling"}, 5),
            Manager("closer", {"emotional_closeness", "long_term_partnership"}, 5),
            Manager("expert", {"deep_product_knowledge"}, 5),
        ]
        clients = {"a": Rung.adversary, "b": Rung.buyer, "c": Rung.customer, "x": Rung.expert}
        plan = relay_plan(clients, team)
        assert dict(plan.bands) == {
            "closer": "development",
            "expert": "expertise",
            "seller": "acquisition",
        }
        by = {a.client_id: a for a in plan.assignments}
        assert {cid: a.manager_id for cid, a in by.items()} == {
            "a": "seller",
            "b": "closer",
            "c": "closer",
            "x": "expert",
        }
        assert [by[c].handoffs_ahead for c in "abcx"] == [2, 1, 1, 0]
        assert plan.handoffs == 4
        assert plan.competency_match == 1
        assert plan.path_coverage == 1
        assert plan.model is AccountModel.relay

    def test_capacity_shortfall_is_reported(self) -> None:
        """Clients beyond a band's capacity are unassigned with the band named."""
        team = [Manager("s", {"fast_selling"}, 1), Manager("e", {"deep_product_knowledge"}, 9)]
        plan = relay_plan({"p": "doubter", "q": "doubter"}, team)
        assert [a.client_id for a in plan.assignments] == ["p"]
        assert [u.client_id for u in plan.unassigned] == ["q"]
        assert "acquisition" in plan.unassigned[0].reason

    def test_specialities_fix_the_bands(self) -> None:
        """A manager can be put in a band by hand."""
        team = [Manager("m", ALL, 3)]
        plan = relay_plan({"c": "expert"}, team, specialities={"m": "expertise"})
        assert dict(plan.bands) == {"m": "expertise"}
        assert plan.manager_of("c") == "m"
        with pytest.raises(ValidationError, match="nowhere"):
            relay_plan({}, team, specialities={"m": "nowhere"})
        with pytest.raises(ValidationError, match="ghost"):
            relay_plan({}, team, specialities={"ghost": "expertise"})

    def test_current_manager_breaks_ties(self) -> None:
        """All else equal, a client stays with its current manager."""
        team = [Manager("a", {"fast_selling"}, 3), Manager("b", {"fast_selling"}, 3)]
        plan = relay_plan({"c": "doubter"}, team, current={"c": "b"})
        assert plan.manager_of("c") == "b"
        assert plan.reassignments({"c": "b"}) == 0
        assert relay_plan({"c": "doubter"}, team).reassignments({"c": "b"}) == 1

    def test_valuable_clients_first(self) -> None:
        """When capacity is short the most valuable client gets the place."""
        team = [Manager("s", {"fast_selling"}, 1)]
        plan = relay_plan({"a": "doubter", "z": "doubter"}, team, values={"z": Decimal(5)})
        assert plan.manager_of("z") == "s"

    def test_float_values_are_refused(self) -> None:
        """Values are Decimals or ints, never floats."""
        with pytest.raises(RecordTypeError):
            relay_plan({"a": "buyer"}, [], values={"a": 0.5})  # type: ignore[dict-item]

    def test_duplicate_manager_ids_are_refused(self) -> None:
        """Two managers with one id are a DuplicateIdError."""
        with pytest.raises(DuplicateIdError):
            relay_plan({}, [Manager("a", (), 1), Manager("a", (), 2)])

    def test_unknown_rung_is_refused(self) -> None:
        """A client's rung must be a rung."""
        with pytest.raises(ValidationError) as info:
            relay_plan({"c": "hero"}, [])
        assert info.value.record_id == "c"

    @settings(max_examples=120, deadline=None)
    @given(client_rungs, managers, st.randoms(use_true_random=False))
    def test_respects_capacity_and_is_deterministic(
        self, clients: dict[str, Rung], team: list[Manager], rnd: random.Random
    ) -> None:
        """No manager above capacity; the same input in any order gives the same plan."""
        plan = relay_plan(clients, team)
        check_plan(plan, clients, team)
        items = list(clients.items())
        rnd.shuffle(items)
        shuffled = list(team)
        rnd.shuffle(shuffled)
        assert relay_plan(dict(items), shuffled) == plan


class TestGuidePlan:
    def test_one_manager_all_the_way(self) -> None:
        """The manager who covers the whole way up takes the clients; no handoffs."""
        team = [Manager("all", ALL, 2), Manager("seller", {"fast_selling"}, 5)]
        plan = guide_plan({"a": "adversary", "e": "expert"}, team)
        assert plan.manager_of("a") == plan.manager_of("e") == "all"
        assert plan.handoffs == 0
        by = {a.client_id: a for a in plan.assignments}
        assert (by["a"].covered, len(by["a"].path)) == (6, 6)
        assert plan.path_coverage == 1
        assert plan.model is AccountModel.guide

    def test_valuable_client_gets_the_generalist(self) -> None:
        """With one generalist seat, the valuable adversary gets it; the expert gets a mismatch."""
        team = [Manager("all", ALL, 1), Manager("seller", {"fast_selling"}, 5)]
        plan = guide_plan({"a": "adversary", "e": "expert"}, team, values={"a": Decimal(9)})
        assert plan.manager_of("a") == "all"
        assert plan.manager_of("e") == "seller"
        by = {a.client_id: a for a in plan.assignments}
        assert (by["e"].covered, by["e"].matched) == (0, False)
        assert plan.path_coverage == Fraction(6, 7)
        assert plan.competency_match == Fraction(1, 2)

    def test_higher_rungs_placed_first(self) -> None:
        """With one seat, an expert client outranks a doubter of equal value."""
        team = [Manager("m", ALL, 1)]
        plan = guide_plan({"a": "doubter", "b": "expert"}, team)
        assert plan.manager_of("b") == "m"
        assert plan.unassigned[0].client_id == "a"
        assert plan.unassigned[0].reason == "no manager has room"

    def test_load_is_balanced_among_equals(self) -> None:
        """Equally skilled managers share the clients by load."""
        team = [Manager("a", ALL, 10), Manager("b", ALL, 10)]
        plan = guide_plan({f"c{i}": "buyer" for i in range(6)}, team)
        assert plan.loads == {"a": 3, "b": 3}
        assert plan.load_spread == 0

    @settings(max_examples=120, deadline=None)
    @given(client_rungs, managers, st.randoms(use_true_random=False))
    def test_respects_capacity_and_is_deterministic(
        self, clients: dict[str, Rung], team: list[Manager], rnd: random.Random
    ) -> None:
        """No manager above capacity; the same input in any order gives the same plan."""
        plan = guide_plan(clients, team)
        check_plan(plan, clients, team)
        assert plan.handoffs == 0
        items = list(clients.items())
        rnd.shuffle(items)
        shuffled = list(team)
        rnd.shuffle(shuffled)
        assert guide_plan(dict(items), shuffled) == plan


class TestCompare:
    def test_side_by_side(self) -> None:
        """The comparison lists the measures for each plan, in order."""
        team = [Manager("s", {"fast_selling", "facts_and_figures"}, 2), Manager("g", ALL, 2)]
        clients = {"a": Rung.doubter, "b": Rung.customer}
        relay, guide = relay_plan(clients, team), guide_plan(clients, team)
        cmp = compare_plans(relay, guide, current={"a": "s"})
        table = cmp.to_dict()
        assert table["handoffs ahead"] == {"relay": str(relay.handoffs), "guide": "0"}
        assert "reassignments" in table
        assert cmp.to_text().splitlines()[0].split() == ["relay", "guide"]
        assert [name for name, _ in cmp.rows][-1] == "load spread"

    def test_needs_two_plans(self) -> None:
        """One plan is nothing to compare."""
        with pytest.raises(UsageError):
            compare_plans(guide_plan({}, []))

    def test_plan_to_dict(self) -> None:
        """A plan's dict has its assignments, loads and shares as strings."""
        plan = guide_plan({"a": "buyer"}, [Manager("m", ALL, 1)])
        data = plan.to_dict()
        assert data["model"] == "guide"
        assert data["loads"] == {"m": 1}
        assert data["competency_match"] == "1.0000"


class TestRungsOf:
    def test_lost_clients_are_left_out(self) -> None:
        """Only active clients are planned for, unless asked."""
        h = ClientHistory.of("x", [Order(order_id="o", client_id="x", placed_at=d(0), amount=1)])
        active = assess(h, as_of=d(10), lifecycle=Calm())
        lost = attrs.evolve(
            assess(h, as_of=d(10), lifecycle=Lost(5)), client_id="y"
        )  # same shape, another id
        assert rungs_of([active, lost]) == {"x": Rung.buyer}
        assert rungs_of({"x": active, "y": lost}, active_only=False) == {
            "x": Rung.buyer,
            "y": Rung.buyer,
        }


# --------------------------------------------------------------------------- contact value


def contact(iid: str, day: float, **kw: object) -> Interaction:
    return Interaction(interaction_id=iid, client_id="c", at=d(day), **kw)  # type: ignore[arg-type]


def sale(oid: str, day: float) -> Order:
    return Order(order_id=oid, client_id="c", placed_at=d(day), amount=1)


class TestContactValue:
    def test_window_credit_and_statuses(self) -> None:
        """Contacts in the 90 days before a promotion share it; older ones moved nobody."""
        h = ClientHistory.of(
            "c",
            [
                contact("old", -91, channel="email", handled_by="ann"),
                contact("edge", -90, channel="phone", handled_by="ann"),
                contact("near", -1, channel="meeting", handled_by="ben"),
                sale("o1", 0),
                contact("after", 150, channel="phone"),
                contact("esc", -5, purpose="escalation"),
            ],
        )
        v = contact_value([h], as_of=d(200), lifecycles={"c": Calm()})  # type: ignore[dict-item]
        assert [(p.target, p.contact_ids) for p in v.promotions] == [(Rung.buyer, ("edge", "near"))]
        by = {c.interaction_id: c for c in v.contacts}
        assert set(by) == {"old", "edge", "near", "after"}  # escalations are not contacts
        assert by["edge"].credit == by["near"].credit == Fraction(1, 2)
        assert by["edge"].moved_to == (Rung.buyer,)
        assert by["old"].status is ContactStatus.moved_nobody
        assert by["after"].status is ContactStatus.pending  # its window is still open
        assert [c.interaction_id for c in v.moved_nobody] == ["old"]
        assert v.by_employee[0].key == "ann"
        assert v.by_employee[0].credit == Fraction(1, 2)
        assert {t.key for t in v.by_employee} == {"ann", "ben", "(unknown)"}
        phone = next(t for t in v.by_channel if t.key == "phone")
        assert (phone.contacts, phone.moved, phone.pending) == (2, 1, 1)

    def test_skills_shown_per_employee(self) -> None:
        """Each employee's credit is filed under the competency of the step it helped."""
        h = ClientHistory.of(
            "c",
            [
                contact("i1", -3, handled_by="ann"),
                sale("o1", 0),
                sale("o2", 20),
                sale("o3", 40),
                contact("i2", 50, handled_by="ben"),
                contact("i3", 55),
                sale("o4", 60),
            ],
        )
        v = contact_value([h], as_of=d(70), lifecycles={"c": Calm()})  # type: ignore[dict-item]
        assert v.skills_shown() == {
            "(unknown)": {Competency.emotional_closeness: Fraction(1, 3)},
            "ann": {
                Competency.fast_selling: Fraction(1),
                Competency.emotional_closeness: Fraction(1, 3),
            },
            "ben": {Competency.emotional_closeness: Fraction(1, 3)},
        }

    def test_unattributed_promotion(self) -> None:
        """A promotion with no contact before it is listed as unattributed."""
        h = ClientHistory.of("c", [sale("o1", 0)])
        v = contact_value([h], as_of=d(10), lifecycles={"c": Calm()})  # type: ignore[dict-item]
        assert len(v.unattributed) == 1
        assert v.contacts == ()

    def test_precomputed_assessments_are_used(self) -> None:
        """Given assessments, the same result without recomputing."""
        h = ClientHistory.of("c", [contact("i", -3), sale("o1", 0)])
        a = assess(h, as_of=d(10), lifecycle=Calm())
        v1 = contact_value([h], as_of=d(10), assessments={"c": a})
        v2 = contact_value([h], as_of=d(10), lifecycles={"c": Calm()})  # type: ignore[dict-item]
        assert v1 == v2
        assert v1.to_dict()["contacts"][0]["credit"] == "1.0000"

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def test_credit_adds_up(self, data: st.DataObject) -> None:
        """Credit sums to the promotions that had contacts; tallies cover every contact."""
        from relcycle.testing import portfolios

        p = data.draw(portfolios(max_clients=3, max_records=12))
        as_of = (p.last_moment or T0) + timedelta(days=30)
        v = contact_value(p, as_of=as_of)
        attributed = sum(1 for x in v.promotions if x.contact_ids)
        assert sum((c.credit for c in v.contacts), Fraction(0)) == attributed
        for tallies in (v.by_channel, v.by_employee, v.by_purpose):
            assert sum(t.contacts for t in tallies) == len(v.contacts)
            assert sum((t.credit for t in tallies), Fraction(0)) == attributed
        for c in v.contacts:
            assert (c.status is ContactStatus.moved) is (c.credit > 0)
        skills = v.skills_shown()
        assert sum((sum(x.values(), Fraction(0)) for x in skills.values()), Fraction(0)) == (
            attributed
        )


# --------------------------------------------------------------------------- docs


class TestDocs:
    def test_ladder_page_examples_run(self) -> None:
        """Every example on docs/ladder.md runs and prints what the page shows."""
        path = ROOT / "docs" / "ladder.md"
        namespace: dict[str, object] = {"__name__": "docs"}
        parser = doctest.DocTestParser()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)
        assert len(blocks) >= 4
        for i, block in enumerate(blocks):
            if ">>>" in block:
                test = parser.get_doctest(block, namespace, f"ladder.md[{i}]", str(path), 0)
                runner.run(test, clear_globs=False)
            else:
                exec(compile(block, f"ladder.md[{i}]", "exec"), namespace)
        results = runner.summarize(verbose=False)
        assert results.failed == 0


def test_portfolio_helpers_compose() -> None:
    """rungs_of on assess_portfolio output feeds the planners."""
    from relcycle.ladder import assess_portfolio

    p = build_portfolio(
        orders=[Order(order_id="o", client_id="k", placed_at=d(0), amount=1)],
        interactions=[Interaction(interaction_id="i", client_id="m", at=d(0))],
    )
    assessments = assess_portfolio(p, as_of=d(1), lifecycles={"k": Calm(), "m": Calm()})  # type: ignore[dict-item]
    clients = rungs_of(assessments)
    assert clients == {"k": Rung.buyer, "m": Rung.doubter}
    plan = relay_plan(clients, [Manager("s", {"fast_selling", "emotional_closeness"}, 2)])
    assert plan.loads == {"s": 1}  # the seller serves one band only
