"""Machines whose decider is data (``LookupDecider``), run per client and folded over tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle.errors import DefinitionError, UsageError
from relcycle.evidence import Evidence
from relcycle.funnel import FUNNEL, FUNNEL_COLUMN, FunnelPolicy
from relcycle.history import ClientHistory, Portfolio, build_portfolio
from relcycle.io import as_tables
from relcycle.lifecycle import MACHINE as LIFECYCLE
from relcycle.machine import (
    Inactivity,
    LastActivity,
    LookupDecider,
    Machine,
    TransitionTable,
    Trigger,
)
from relcycle.model import Order
from relcycle.report import Cell, Column, ReportPolicies
from relcycle.rules import COMPLAINT, SALE, STAFF_COMPLAINT, Rule, f
from relcycle.testing import portfolios

pl = pytest.importorskip("polars")
pytest.importorskip("pyarrow")

from relcycle.columnar import (  # noqa: E402 - needs polars
    STEP_COLUMNS,
    build_report,
    frames_from_tables,
    machine_steps,
)


class Care(StrEnum):
    """States of a complaint desk's watch over a client (a user's own machine)."""

    calm = "calm"
    watched = "watched"
    alarmed = "alarmed"
    settled = "settled"


class CareEvent(StrEnum):
    """Its events."""

    opened = "opened"
    staff = "staff"
    closed = "closed"
    sold = "sold"
    forgotten = "forgotten"


_MOVES = {
    CareEvent.opened: (Care.watched, Care.alarmed, Care.alarmed, Care.watched),
    CareEvent.staff: (Care.alarmed, Care.alarmed, Care.alarmed, Care.alarmed),
    CareEvent.closed: (Care.calm, Care.settled, Care.watched, Care.settled),
    CareEvent.sold: (Care.calm, Care.watched, Care.alarmed, Care.calm),
}

CARE = TransitionTable.define(
    name="care",
    states=Care,
    events=CareEvent,
    initial=Care.calm,
    rows=[
        *((s, e, t) for e, ts in _MOVES.items() for s, t in zip(Care, ts, strict=True)),
        (Care.watched, CareEvent.forgotten, Care.calm),
        (Care.settled, CareEvent.forgotten, Care.calm),
    ],
)


#: A complaint with a resolution moment (the trigger reads that moment, not the opening).
RESOLVED = Rule.define("resolved", "complaints", f("resolved_at").not_null())


@attrs.frozen
class CarePolicy:
    """The watch's one threshold."""

    forget_days: int = 30


def care_machine(timer_priority: int = 1) -> Machine[Care, CareEvent, LastActivity, CarePolicy]:
    """Overlapping triggers on one table (a staff complaint is also a complaint, at the
    same moment), a trigger on another moment field (``resolved_at``), and a timer whose
    priority ties with the records'."""
    decider = LookupDecider(
        CARE,
        {
            "opened": CareEvent.opened,
            "staff": CareEvent.staff,
            "closed": CareEvent.closed,
            "sold": CareEvent.sold,
        },
        Inactivity(
            kind="forget",
            event=CareEvent.forgotten,
            states={Care.watched, Care.settled},
            days="forget_days",
            priority=timer_priority,
            detail="nothing for {days} days since {since}",
        ),
    )
    return Machine(
        table=CARE,
        triggers=(
            Trigger(COMPLAINT, "opened", priority=1),
            Trigger(STAFF_COMPLAINT, "staff", priority=0),
            Trigger(RESOLVED, "closed", priority=2, at="resolved_at"),
            Trigger(SALE, "sold", priority=1),
        ),
        decide=decider,
        initial_memory=LastActivity(),
        memory_from_dict=LastActivity.from_dict,
        timer_kinds=frozenset({"forget"}),
    )


def _offset(moment: datetime) -> int:
    off = moment.utcoffset()
    assert off is not None
    return int(off.total_seconds())


def _runs(
    machine: Machine[Any, Any, Any, Any], portfolio: Portfolio, as_of: datetime, policy: object
) -> list[tuple[Any, ...]]:
    rows = []
    for history in sorted(portfolio, key=lambda h: h.client_id):
        for step in machine.run(history, as_of=as_of, policy=policy).trajectory.steps:
            (record_id,) = step.record_ids
            rows.append(
                (
                    history.client_id,
                    step.at.astimezone(UTC),
                    _offset(step.at),
                    step.source.value,
                    step.target.value,
                    step.event.value,
                    record_id,
                    step.detail,
                )
            )
    return rows


def _folded(
    machine: Machine[Any, Any, Any, Any], portfolio: Portfolio, as_of: datetime, policy: object
) -> list[tuple[Any, ...]]:
    steps = machine_steps(
        machine, frames_from_tables(as_tables(portfolio)), as_of=as_of, policy=policy
    )
    assert tuple(steps.columns) == STEP_COLUMNS
    return list(steps.iter_rows())


def _moment(portfolio: Portfolio, days: int) -> datetime:
    last = portfolio.last_moment
    return (datetime(2020, 1, 1, tzinfo=UTC) if last is None else last) - timedelta(days=days)


_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_SETTINGS
@given(
    portfolio=portfolios(max_clients=5, max_records=12),
    back=st.integers(-200, 400),
    dormant=st.integers(1, 400),
)
def test_funnel_folded_over_tables_takes_the_runners_steps(
    portfolio: Portfolio, back: int, dormant: int
) -> None:
    """Every client's funnel steps over the tables are the runner's: moment and offset,
    states, event, record and detail (the timer's sentence included), in order."""
    as_of, policy = _moment(portfolio, back), FunnelPolicy(dormant_days=dormant)
    assert _folded(FUNNEL, portfolio, as_of, policy) == _runs(FUNNEL, portfolio, as_of, policy)


@_SETTINGS
@given(
    portfolio=portfolios(max_clients=4, max_records=12),
    back=st.integers(-100, 300),
    days=st.integers(1, 90),
    priority=st.integers(0, 3),
)
def test_a_users_lookup_machine_folded_over_tables(
    portfolio: Portfolio, back: int, days: int, priority: int
) -> None:
    """A user's machine with overlapping triggers, another moment field and a timer that
    ties with records: the fold takes the runner's steps."""
    machine, as_of = care_machine(priority), _moment(portfolio, back)
    policy = CarePolicy(forget_days=days)
    assert _folded(machine, portfolio, as_of, policy) == _runs(machine, portfolio, as_of, policy)


def _order(oid: str, day: int, cid: str = "c1") -> Order:
    return Order(
        order_id=oid,
        client_id=cid,
        placed_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day),
        amount=10,
        currency="EUR",
    )


def test_the_timer_falls_due_before_a_record_at_its_moment() -> None:
    """A sale exactly ``dormant_days`` after the last one finds the client dormant first;
    one a day earlier keeps it in action."""
    portfolio = build_portfolio(
        orders=[
            _order("o1", 0),
            _order("o2", 180),
            _order("o3", 300, "c2"),
            _order("o4", 479, "c2"),
        ]
    )
    as_of = datetime(2026, 1, 1, tzinfo=UTC)
    steps = machine_steps(
        FUNNEL, frames_from_tables(as_tables(portfolio)), as_of=as_of, policy=FunnelPolicy()
    )
    got = [(c, s, t) for c, s, t in steps.select("client_id", "source", "target").iter_rows()]
    assert got == [
        ("c1", "unaware", "action"),
        ("c1", "action", "dormant"),
        ("c1", "dormant", "action"),
        ("c1", "action", "dormant"),
        ("c2", "unaware", "action"),
        ("c2", "action", "action"),
        ("c2", "action", "dormant"),
    ]
    assert got == [(r[0], r[3], r[4]) for r in _runs(FUNNEL, portfolio, as_of, FunnelPolicy())]


def test_no_records_no_steps() -> None:
    """Clients without records by the moment have no rows (they are in the initial state)."""
    portfolio = build_portfolio(orders=[_order("o1", 10)])
    steps = machine_steps(
        FUNNEL,
        frames_from_tables(as_tables(portfolio)),
        as_of=datetime(2024, 1, 5, tzinfo=UTC),
        policy=FunnelPolicy(),
    )
    assert steps.height == 0
    assert tuple(steps.columns) == STEP_COLUMNS


def test_only_deciders_declared_as_data_fold() -> None:
    """A machine whose decider is a Python function, a guarded trigger or a trigger whose
    rule is a plain callable is refused by name, not run wrongly."""
    frames = frames_from_tables(as_tables(build_portfolio(orders=[_order("o1", 0)])))
    at = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="not a LookupDecider"):
        machine_steps(LIFECYCLE, frames, as_of=at, policy=None)
    guarded = attrs.evolve(care_machine(), triggers=(Trigger(SALE, "sold", 1, states={Care.calm}),))
    with pytest.raises(UsageError, match="guarded"):
        machine_steps(guarded, frames, as_of=at, policy=CarePolicy())

    def big(order: Order) -> bool:
        return order.amount > 5

    big.table = "orders"  # type: ignore[attr-defined]
    plain = attrs.evolve(care_machine(), triggers=(Trigger(big, "sold", 1),))
    with pytest.raises(UsageError, match=r"not a relcycle\.rules\.Rule"):
        machine_steps(plain, frames, as_of=at, policy=CarePolicy())
    with pytest.raises(UsageError, match="forget_days"):
        machine_steps(care_machine(), frames, as_of=at, policy=FunnelPolicy())


class Ring(StrEnum):
    """Six states that two events permute every way (720 maps)."""

    s0 = "s0"
    s1 = "s1"
    s2 = "s2"
    s3 = "s3"
    s4 = "s4"
    s5 = "s5"


class Turn(StrEnum):
    """Rotate by one, or swap the first two."""

    rotate = "rotate"
    swap = "swap"


def test_a_machine_with_too_many_maps_is_refused() -> None:
    """Events that compose into more maps than MAX_MAPS: a clear error, not a slow fold."""
    states = list(Ring)
    swap = {Ring.s0: Ring.s1, Ring.s1: Ring.s0}
    table = TransitionTable.define(
        name="ring",
        states=Ring,
        events=Turn,
        initial=Ring.s0,
        rows=[
            *((s, Turn.rotate, states[(i + 1) % 6]) for i, s in enumerate(states)),
            *((s, Turn.swap, swap.get(s, s)) for s in states),
        ],
    )
    machine = Machine(
        table=table,
        triggers=(Trigger(SALE, "sale", 1), Trigger(COMPLAINT, "complaint", 1)),
        decide=LookupDecider(table, {"sale": Turn.rotate, "complaint": Turn.swap}),
        initial_memory=LastActivity(),
        memory_from_dict=LastActivity.from_dict,
    )
    frames = frames_from_tables(as_tables(build_portfolio(orders=[_order("o1", 0)])))
    with pytest.raises(UsageError, match="more than 512 state maps"):
        machine_steps(machine, frames, as_of=datetime(2025, 1, 1, tzinfo=UTC), policy=None)


def test_a_lookup_decider_is_checked_against_its_table() -> None:
    """An event missing in a state, a timer in a state without its row, or a machine whose
    triggers or timers the decider does not know: DefinitionError naming each problem."""
    with pytest.raises(DefinitionError, match="has no row in"):
        LookupDecider(CARE, {"x": CareEvent.forgotten})
    with pytest.raises(DefinitionError, match=r"forgotten.*has no row in calm"):
        LookupDecider(
            CARE, {}, Inactivity(kind="t", event=CareEvent.forgotten, states={Care.calm}, days="d")
        )
    decider = LookupDecider(
        CARE,
        {"sold": CareEvent.sold},
        Inactivity(kind="t", event=CareEvent.forgotten, states={Care.watched}, days="d"),
    )
    with pytest.raises(DefinitionError) as caught:
        Machine(
            table=CARE,
            triggers=(Trigger(COMPLAINT, "opened", 1),),
            decide=decider,
            initial_memory=LastActivity(),
            memory_from_dict=LastActivity.from_dict,
        )
    assert "no event for the trigger kinds opened" in str(caught.value)
    assert "timer 't' is not in timer_kinds" in str(caught.value)


def test_last_activity_round_trips_and_refuses_what_it_did_not_write() -> None:
    """The lookup decider's memory saves and reads back; anything else is a usage error."""
    memory = LastActivity("o1", datetime(2024, 1, 1, 9, tzinfo=UTC))
    assert LastActivity.from_dict(memory.to_dict()) == memory
    assert LastActivity.from_dict(LastActivity().to_dict()) == LastActivity()
    for bad in (
        {"last_id": "o1", "last_at": None},
        {"last_id": "o1"},
        {"last_id": "o1", "last_at": "2024-01-01T09:00"},
    ):
        with pytest.raises(UsageError, match="not a saved last-activity memory"):
            LastActivity.from_dict(bad)


def test_the_columnar_report_folds_the_funnel_over_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The columnar engine asks the funnel column for every client at once
    (over_tables), never client by client, and the cells are the python engine's."""
    from relcycle import funnel
    from relcycle import report as object_report
    from relcycle.simulate import simulate_portfolio

    portfolio = simulate_portfolio(80, seed=5).portfolio()
    want = object_report.build_report(portfolio)

    def per_client(*_: object, **__: object) -> Cell:
        raise AssertionError("the columnar engine assessed a client one by one")

    monkeypatch.setattr(funnel._FunnelCell, "__call__", per_client)
    got = build_report(frames_from_tables(as_tables(portfolio)))
    assert [c.columns for c in got] == [c.columns for c in want]
    assert {c.columns["funnel_stage"].value for c in got} >= {"action", "dormant"}


@attrs.frozen
class _Shuffled:
    """A table assessor that gives its clients out of order (a bug in a user's column)."""

    def __call__(self, history: ClientHistory, *, as_of: datetime, tz: Any) -> Cell:
        return Cell("x", Evidence("mine"))

    def over_tables(self, frames: Any, *, as_of: datetime, tz: Any) -> tuple[Cell, Any]:
        ids = sorted(frames.clients.get_column("client_id").to_list(), reverse=True)
        return Cell("x", Evidence("mine")), iter(
            [(cid, Cell("x", Evidence("mine"))) for cid in ids]
        )


def test_a_table_assessor_out_of_client_order_is_an_error() -> None:
    """Cells given out of client id order are refused by name, not matched wrongly."""
    portfolio = build_portfolio(orders=[_order("o1", 0, "a"), _order("o2", 1, "b")])
    policies = ReportPolicies(columns=(Column("mine", _Shuffled()), FUNNEL_COLUMN))
    with pytest.raises(UsageError, match="'mine': over_tables gave client 'a' out of"):
        build_report(frames_from_tables(as_tables(portfolio)), policies=policies)


def test_a_timer_without_its_days_in_the_policy_is_refused_when_run() -> None:
    """The runner refuses a policy that does not give the timer's days, by name (None too)."""
    history = ClientHistory.of("c1", [_order("o1", 0)])
    for policy in (None, CarePolicy(forget_days=0)):
        with pytest.raises(UsageError, match="'forget_days' must be a whole number"):
            care_machine().run(history, as_of=datetime(2025, 1, 1, tzinfo=UTC), policy=policy)
