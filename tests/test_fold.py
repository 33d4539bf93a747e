"""Machines whose decider is data (``LookupDecider``, ``DeclaredDecider``), run per client
and folded over tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle.decisions import (
    Case,
    DecisionList,
    ids_input,
    int_input,
    lit,
    plural,
    text,
    text_input,
)
from relcycle.errors import DefinitionError, IllegalTransitionError, UsageError
from relcycle.evidence import Evidence
from relcycle.funnel import FUNNEL, FUNNEL_COLUMN, FunnelPolicy
from relcycle.history import ClientHistory, Portfolio, build_portfolio
from relcycle.io import as_tables
from relcycle.lifecycle import MACHINE as LIFECYCLE
from relcycle.machine import (
    DeclaredDecider,
    Inactivity,
    LastActivity,
    LookupDecider,
    Machine,
    Registers,
    TransitionTable,
    Trigger,
    micros,
)
from relcycle.model import Order
from relcycle.report import Cell, Column, ReportPolicies
from relcycle.rules import AS_OF, COMPLAINT, SALE, STAFF_COMPLAINT, Rule, f
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
            rows.append(
                (
                    history.client_id,
                    step.at.astimezone(UTC),
                    _offset(step.at),
                    step.source.value,
                    step.target.value,
                    step.event.value,
                    list(step.record_ids),
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
    # the autouse fixture below patches a constant, the same for every example
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture(autouse=True)
def _fold_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """A declared machine's fold takes every client round by round here: portfolios
    this small would all go to the runner (the first ``SAMPLE`` occurrences are timed
    by it), and the fold is what these tests check; with no clients timed, none is
    handed over. The tests of the hand-over set their own."""
    from relcycle.columnar import _fold

    monkeypatch.setattr(_fold, "SAMPLE", 0)


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
    with pytest.raises(UsageError, match="neither a LookupDecider nor a DeclaredDecider"):
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


# --------------------------------------------------------------------------- declared deciders

_DAY = 86_400_000_000  # microseconds


@attrs.frozen
class DeskPolicy:
    """The complaint desk's two thresholds (the declared decider's parameters)."""

    alarm_at: int = 3
    quiet_days: int = 30


def _desk_decisions() -> dict[str, DecisionList]:
    """A complaint desk declared as data: counters, a last complaint, a quiet timer
    (set, kept and re-keyed, cancelled) and events chosen from registers."""
    state, at, key = text_input("state"), int_input("at"), text_input("key")
    complaints, sales, last = int_input("complaints"), int_input("sales"), text_input("last")
    recent, offset = ids_input("recent"), int_input("offset")
    # the record's calendar day in its own UTC offset
    day = lit(date(1970, 1, 1)) + (at + offset * 1_000_000) // _DAY
    severity, opened_at = text_input("severity"), int_input("opened_at")  # record fields
    quiet, alarm_at, quiet_days = int_input("quiet"), int_input("alarm_at"), int_input("quiet_days")
    n = complaints + 1
    later = at + quiet_days * _DAY
    inputs = (state, at, offset, key, complaints, sales, last, recent, quiet, alarm_at, quiet_days)
    since_calm = recent.append(key)
    out = {"event": "text", "detail": "text"}
    return {
        "opened": DecisionList.define(
            "desk opened",
            inputs=(*inputs, severity),
            outputs={
                **out,
                "cites": "ids",
                "complaints": "int",
                "last": "text",
                "recent": "ids",
                "quiet": "int",
            },
            cases=[
                Case(
                    (n >= alarm_at) | (severity == "critical"),
                    event="alarm",
                    detail=text(plural(n, "complaint"), " since calm: ", since_calm.joined()),
                    cites=since_calm,  # every complaint since calm, not only this one
                    complaints=n,
                    last=key,
                    recent=since_calm,
                    quiet=later,
                ),
                Case(
                    None,
                    event="complaint",
                    detail=text(
                        "complaint ", key, " on ", day, " (", since_calm.size(), " since calm)"
                    ),
                    cites=since_calm.tail(1),
                    complaints=n,
                    last=key,
                    recent=since_calm.head(5),  # a register keeps what a sentence needs
                    quiet=later,
                ),
            ],
        ),
        "staff": DecisionList.define(
            "desk staff",
            inputs=inputs,
            outputs=out,
            cases=[
                # guarded to watched and settled: an alarmed client's staff complaint
                # is not taken in (it would be a visible self-loop)
                Case(state == "settled", event="complaint", detail=text("staff ", key)),
                Case(None, event="alarm", detail=text("staff complaint ", key, " after ", last)),
            ],
        ),
        "closed": DecisionList.define(
            "desk closed",
            inputs=(*inputs, opened_at),
            outputs={**out, "quiet": "int"},
            cases=[
                Case(state == "calm", event=None, detail=None, quiet=quiet),
                Case(
                    None,
                    event="closed",
                    detail=text("closed ", key, " after ", (at - opened_at) // _DAY, " days"),
                    quiet=later,
                ),
            ],
        ),
        "sold": DecisionList.define(
            "desk sold",
            inputs=inputs,
            outputs={**out, "sales": "int", "quiet": "int"},
            cases=[
                Case(
                    (state == "settled") & (sales + 1 >= 2),
                    event="forgotten",
                    detail=text("sale ", key, ": ", plural(sales + 1, "sale"), " since calm"),
                    sales=0,
                    quiet=None,
                ),
                Case(None, event=None, detail=None, sales=sales + 1, quiet=quiet),
            ],
        ),
        "quiet": DecisionList.define(
            "desk quiet",
            inputs=inputs,
            outputs={**out, "complaints": "int", "sales": "int", "recent": "ids"},
            cases=[
                Case(
                    state == "calm",
                    event=None,
                    detail=None,
                    complaints=0,
                    sales=sales,
                    recent=recent,
                ),
                Case(
                    None,
                    event="forgotten",
                    detail=text(
                        "quiet for ", quiet_days, " days (the timer last set by ", key, ")"
                    ),
                    complaints=0,
                    sales=0,
                    recent=(),
                ),
            ],
        ),
    }


class Desk(StrEnum):
    """The desk's states."""

    calm = "calm"
    watched = "watched"
    alarmed = "alarmed"
    settled = "settled"


class DeskEvent(StrEnum):
    """Its events."""

    complaint = "complaint"
    alarm = "alarm"
    closed = "closed"
    forgotten = "forgotten"


DESK = TransitionTable.define(
    name="desk",
    states=Desk,
    events=DeskEvent,
    initial=Desk.calm,
    rows=[
        *((s, DeskEvent.complaint, Desk.watched) for s in (Desk.calm, Desk.watched, Desk.settled)),
        (Desk.alarmed, DeskEvent.complaint, Desk.alarmed),
        *((s, DeskEvent.alarm, Desk.alarmed) for s in Desk),
        *((s, DeskEvent.closed, Desk.settled) for s in (Desk.watched, Desk.alarmed)),
        (Desk.settled, DeskEvent.closed, Desk.settled),
        *((s, DeskEvent.forgotten, Desk.calm) for s in (Desk.watched, Desk.alarmed)),
        (Desk.settled, DeskEvent.forgotten, Desk.calm),
    ],
)


def desk_machine(
    quiet_priority: int = 1, decisions: dict[str, DecisionList] | None = None
) -> Machine[Desk, DeskEvent, Registers, DeskPolicy]:
    """A user's machine declared as data: overlapping triggers (a staff complaint is also
    a complaint), a guarded trigger, another moment field and a timer that can tie."""
    decider = DeclaredDecider(
        DESK,
        registers={
            "complaints": ("int", 0),
            "sales": ("int", 0),
            "last": ("text", None),
            "recent": ("ids", ()),
        },
        decisions=_desk_decisions() if decisions is None else decisions,
        timers={"quiet": quiet_priority},
        parameters={"alarm_at": "int", "quiet_days": "int"},
        fields={"opened": {"severity": "text"}, "closed": {"opened_at": "moment"}},
    )
    return decider.machine(
        (
            Trigger(COMPLAINT, "opened", priority=1),
            Trigger(STAFF_COMPLAINT, "staff", priority=0, states={Desk.watched, Desk.settled}),
            Trigger(RESOLVED, "closed", priority=2, at="resolved_at"),
            Trigger(SALE, "sold", priority=1),
        )
    )


@_SETTINGS
@given(
    portfolio=portfolios(max_clients=4, max_records=14),
    back=st.integers(-100, 300),
    alarm_at=st.integers(1, 4),
    quiet_days=st.integers(1, 60),
    priority=st.integers(0, 3),
)
def test_a_declared_machine_folded_over_tables_takes_the_runners_steps(
    portfolio: Portfolio, back: int, alarm_at: int, quiet_days: int, priority: int
) -> None:
    """Registers, parameters, a guarded trigger and a timer set, kept, re-keyed and
    cancelled by decision lists: the fold round by round takes the runner's steps
    (moments and offsets, states, events, records and sentences), in order."""
    machine, as_of = desk_machine(priority), _moment(portfolio, back)
    policy = DeskPolicy(alarm_at=alarm_at, quiet_days=quiet_days)
    assert _folded(machine, portfolio, as_of, policy) == _runs(machine, portfolio, as_of, policy)


def _complaint(cid: str, day: int, *, staff: bool = False, closed: int | None = None) -> Any:
    from relcycle.model import Complaint

    start = datetime(2024, 1, 1, tzinfo=UTC)
    return Complaint(
        complaint_id=f"k{day}{'s' if staff else ''}",
        client_id=cid,
        opened_at=start + timedelta(days=day),
        category="quality",
        severity="high",
        escalated_to="staff" if staff else "none",
        status="open" if closed is None else "resolved",
        resolved_at=None if closed is None else start + timedelta(days=closed),
    )


def test_a_declared_machine_decides_from_its_registers() -> None:
    """Three complaints raise the alarm with a sentence built from the count; a sale keeps
    the quiet timer (now keyed by the sale), which calms the desk a month after the last
    complaint; the state saves and resumes with its registers."""
    portfolio = build_portfolio(
        orders=[_order("o1", 20)],
        complaints=[_complaint("c1", 0), _complaint("c1", 5), _complaint("c1", 9)],
    )
    machine, policy = desk_machine(), DeskPolicy()
    history = next(iter(portfolio))
    run = machine.run(history, as_of=datetime(2024, 6, 1, tzinfo=UTC), policy=policy)
    steps = [(s.source, s.target, s.record_ids, s.detail) for s in run.trajectory.steps]
    assert steps == [
        (Desk.calm, Desk.watched, ("k0",), "complaint k0 on 2024-01-01 (1 since calm)"),
        (Desk.watched, Desk.watched, ("k5",), "complaint k5 on 2024-01-06 (2 since calm)"),
        (Desk.watched, Desk.alarmed, ("k0", "k5", "k9"), "3 complaints since calm: k0, k5, k9"),
        (Desk.alarmed, Desk.calm, ("o1",), "quiet for 30 days (the timer last set by o1)"),
    ]
    assert run.trajectory.steps[-1].at == datetime(2024, 2, 9, tzinfo=UTC)
    assert run.state.memory.values == {"complaints": 0, "sales": 0, "last": "k9", "recent": ()}
    assert _folded(machine, portfolio, run.state.as_of, policy) == _runs(
        machine, portfolio, run.state.as_of, policy
    )
    # halfway: saved as JSON, read back and resumed, the same end
    half = machine.run(history, as_of=datetime(2024, 1, 20, tzinfo=UTC), policy=policy)
    saved = type(half.state).from_dict(half.state.to_dict(), machine)
    assert saved == half.state
    assert saved.timers[0].at.isoformat() == "2024-02-09T00:00:00+00:00"
    resumed = machine.resume(saved, history, as_of=datetime(2024, 6, 1, tzinfo=UTC), policy=policy)
    assert resumed.state == run.state
    assert micros(saved.timers[0].at) == micros(datetime(2024, 2, 9, tzinfo=UTC))


def test_a_declared_decider_is_checked_when_defined() -> None:
    """What a decision may read and give, the registers' kinds and initial values, the
    table's events and the timers' decisions: DefinitionError naming each problem."""
    state, count = text_input("state"), int_input("count")
    bad = DecisionList.define(
        "bad",
        inputs=(state, count, text_input("sales"), int_input("nowhere")),
        outputs={"event": "text", "extra": "int"},
        cases=[Case(None, event="explode", extra=count)],
    )
    with pytest.raises(DefinitionError) as caught:
        DeclaredDecider(
            DESK,
            registers={"sales": ("int", "0"), "at": ("int", 0), "count": ("float", 0.0)},
            decisions={"sold": bad},
            timers={"quiet": 1},
            parameters={"sales": "int"},
        )
    found = str(caught.value)
    for part in (
        "register 'sales': initial value '0' is not a int",
        "register 'at': the name is reserved",
        "register 'count': give (kind, initial value)",
        "parameter 'sales': the name is used twice",
        "reads 'nowhere', which is neither state, at, offset, key, a register, a timer, "
        "a parameter nor one of its fields",
        "reads 'sales' as text, it is int",
        "must give 'detail' as text",
        "gives 'extra', which is neither a register nor a timer",
        "event 'explode' is not an event of the table",
        "timer 'quiet' has no decision",
    ):
        assert part in found, part
    decider = desk_machine().decide
    with pytest.raises(DefinitionError) as caught:
        Machine(
            table=DESK,
            triggers=(Trigger(SALE, "sale", 1),),
            decide=decider,
            initial_memory=Registers({}),
            memory_from_dict=LastActivity.from_dict,
        )
    assert "no decision for the kinds sale" in str(caught.value)
    assert "timers (quiet) are not the machine's timer_kinds (none)" in str(caught.value)


def test_declared_registers_round_trip_and_refuse_what_they_did_not_write() -> None:
    """The registers save as JSON and read back; missing, extra or mistyped values are
    usage errors naming the register."""
    decider = desk_machine().decide
    assert isinstance(decider, DeclaredDecider)
    memory = Registers({"complaints": 2, "sales": 1, "last": "k3", "recent": ("k1", "k3")})
    assert decider.memory_from_dict(memory.to_dict()) == memory
    assert decider.memory_from_dict(decider.initial_memory.to_dict()) == decider.initial_memory
    assert memory.to_dict()["recent"] == ["k1", "k3"]  # JSON: a list
    for data in (
        {"complaints": 2, "sales": 1, "last": None},
        {"complaints": 2, "sales": 1, "last": None, "recent": [], "more": 1},
        {"complaints": "2", "sales": 1, "last": None, "recent": []},
        {"complaints": True, "sales": 1, "last": None, "recent": []},
        {"complaints": 2, "sales": 1, "last": None, "recent": None},
        {"complaints": 2, "sales": 1, "last": None, "recent": ["k1", 3]},
    ):
        with pytest.raises(UsageError, match="not saved registers of machine 'desk'"):
            decider.memory_from_dict(data)


def test_a_declared_machine_refuses_an_event_its_state_does_not_allow_in_both_engines() -> None:
    """An event the state does not allow raises IllegalTransitionError from the runner and
    from the fold alike; an event the table does not have is a usage error in both; a
    policy without a parameter is refused by name."""
    decisions = _desk_decisions()
    at = text_input("state")
    decisions["sold"] = DecisionList.define(
        "desk sold",
        inputs=(at,),
        outputs={"event": "text", "detail": "text"},
        cases=[
            Case(at == "calm", event="closed", detail="x"),
            Case(None, event=text(at, "!"), detail=""),  # computed: checked when run
        ],
    )
    machine = desk_machine(decisions=decisions)
    portfolio = build_portfolio(orders=[_order("o1", 0)])
    frames = frames_from_tables(as_tables(portfolio))
    as_of = datetime(2025, 1, 1, tzinfo=UTC)
    history = next(iter(portfolio))
    with pytest.raises(IllegalTransitionError) as runner:
        machine.run(history, as_of=as_of, policy=DeskPolicy())
    with pytest.raises(IllegalTransitionError) as folded:
        machine_steps(machine, frames, as_of=as_of, policy=DeskPolicy())
    assert str(folded.value) == str(runner.value)
    watched = build_portfolio(orders=[_order("o1", 5)], complaints=[_complaint("c1", 0)])
    with pytest.raises(UsageError, match="gave the event 'watched!', not an event"):
        machine.run(next(iter(watched)), as_of=as_of, policy=DeskPolicy())
    with pytest.raises(UsageError, match="gave the event 'watched!', not an event"):
        machine_steps(
            machine, frames_from_tables(as_tables(watched)), as_of=as_of, policy=DeskPolicy()
        )
    with pytest.raises(UsageError, match="has no 'alarm_at'"):
        machine_steps(machine, frames, as_of=as_of, policy=CarePolicy())


def test_a_declared_timer_tied_with_its_own_record_comes_first() -> None:
    """A complaint resolved exactly when the quiet timer it set falls due, the timer's
    priority that of the resolution: the timer comes first (same moment, priority and
    key), so the desk calms down and the resolution then finds it calm. A priority
    one above the resolution's lets the resolution settle the desk first."""
    portfolio = build_portfolio(complaints=[_complaint("c1", 0, closed=30)])
    as_of = datetime(2024, 6, 1, tzinfo=UTC)
    frames = frames_from_tables(as_tables(portfolio))
    for priority, want in ((2, ["watched", "calm"]), (3, ["watched", "settled", "calm"])):
        machine = desk_machine(priority)
        runner = _runs(machine, portfolio, as_of, DeskPolicy())
        assert [r[4] for r in runner] == want
        steps = machine_steps(machine, frames, as_of=as_of, policy=DeskPolicy())
        assert list(steps.iter_rows()) == runner


@pytest.mark.parametrize(("rounds", "sample"), [(1, 0), (2, 0), (4, 20), (256, 10**9)])
def test_the_busiest_clients_of_a_declared_fold_go_to_the_runner(
    monkeypatch: pytest.MonkeyPatch, rounds: int, sample: int
) -> None:
    """Clients with more occurrences than the fold takes round by round, those still
    going after twice as many rounds, the first ones (timed), and the last ones still
    going once running them costs less than the rounds they need are run by the runner:
    the same steps, in the same order, as every client run by the runner."""
    from relcycle.columnar import _fold
    from relcycle.simulate import simulate_portfolio

    portfolio = simulate_portfolio(40, seed=4).portfolio()
    machine, policy = desk_machine(), DeskPolicy(alarm_at=2, quiet_days=20)
    as_of = _moment(portfolio, 0)
    want = _runs(machine, portfolio, as_of, policy)
    assert {r[5] for r in want} >= {"complaint", "alarm", "closed", "forgotten"}
    monkeypatch.setattr(_fold, "ROUNDS", rounds)
    monkeypatch.setattr(_fold, "SAMPLE", sample)
    assert _folded(machine, portfolio, as_of, policy) == want


class _Clock:
    """A stand-in for the fold's clock: the runner's timed first clients take
    ``sample`` seconds, and every round of the fold ``round`` seconds."""

    def __init__(self, sample: float, round: float) -> None:
        self._ends = iter([sample])
        self._round = round
        self._began = True

    def __call__(self) -> float:
        # 0 at each start; the sample's end, then each round's end
        self._began = not self._began
        if not self._began:
            return 0.0
        return next(self._ends, self._round)


@pytest.mark.parametrize(
    ("sample", "round", "handed_over"),
    [(1e-9, 1.0, True), (1e6, 1e-9, False)],
    ids=["rounds-dearer", "runner-dearer"],
)
def test_a_declared_fold_times_its_rounds_against_the_runner(
    monkeypatch: pytest.MonkeyPatch, sample: float, round: float, handed_over: bool
) -> None:
    """The fold runs its first clients (about ``SAMPLE`` occurrences) by the runner
    and times them, times each round, and gives the clients still going to the
    runner once the rounds they need cost more than running them; either way it
    takes the runner's steps. The clock is a stand-in, so which way it goes is
    certain: a runner that costs next to nothing takes every client after the
    first round; a runner that costs more than any round takes none."""
    from relcycle.columnar import _fold
    from relcycle.simulate import simulate_portfolio

    portfolio = simulate_portfolio(40, seed=4).portfolio()
    machine, policy = desk_machine(), DeskPolicy(alarm_at=2, quiet_days=20)
    as_of = _moment(portfolio, 0)
    want = _runs(machine, portfolio, as_of, policy)
    monkeypatch.setattr(_fold, "SAMPLE", 20)
    monkeypatch.setattr(_fold, "perf_counter", _Clock(sample, round))
    ran: list[list[str]] = []
    runner = _fold._run_by_runner

    def spy(pl: Any, m: Any, frames: Any, moment: Any, p: Any, ids: Any, inputs: Any) -> Any:
        ran.append(ids.to_list())
        return runner(pl, m, frames, moment, p, ids, inputs)

    monkeypatch.setattr(_fold, "_run_by_runner", spy)
    assert _folded(machine, portfolio, as_of, policy) == want
    timed, after = ran
    # the first clients in id order, about SAMPLE occurrences
    assert 1 <= len(timed) < 40
    assert timed == sorted(timed)
    assert bool(after) is handed_over
    if handed_over:  # the clients still going after the first round, after the timed ones
        assert min(after) > max(timed)
        assert len(timed) + len(after) < 40


@_SETTINGS
@given(
    portfolio=portfolios(max_clients=6, max_records=12),
    back=st.integers(-100, 300),
    sample=st.integers(1, 20),
)
def test_a_declared_fold_with_its_measured_hand_over_takes_the_runners_steps(
    portfolio: Portfolio, back: int, sample: int
) -> None:
    """With the hand-over measured on the real clock (the first clients timed by the
    runner, then the rounds), whichever way each client goes, the fold takes the
    runner's steps."""
    from relcycle.columnar import _fold

    machine, policy = desk_machine(), DeskPolicy(alarm_at=2, quiet_days=20)
    as_of = _moment(portfolio, back)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_fold, "SAMPLE", sample)
        got = _folded(machine, portfolio, as_of, policy)
    assert got == _runs(machine, portfolio, as_of, policy)


def test_a_fold_weighs_the_rounds_left_per_row() -> None:
    """The hand-over's rule, on what the declared funnel's fold of CDNOW x1 measured:
    after its second round (23,284 rows in 32 ms; the clients still going would take
    the runner 5.1 s; 36,510 of their occurrences left) it folds on, although that
    many rounds as dear as the last one (the busiest client has 216 left: 7 s) would
    cost more than the runner (the rounds shrink as clients finish); at its tail (56
    rows in 13 ms, 1,393 occurrences left, 0.29 s by the runner) it hands over."""
    from relcycle.columnar._fold import _runner_cheaper

    assert not _runner_cheaper(5.136, 0.0323, 23_284, 36_510)
    assert 0.0323 * 216 > 5.136  # what taking every round as dear as the last would say
    assert _runner_cheaper(0.294, 0.0133, 56, 1_393)


def test_a_declared_fold_of_a_small_portfolio_is_run_by_the_runner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A portfolio with no more occurrences than the fold times the runner on
    (``SAMPLE``) is run by the runner, with no round: the same steps."""
    from relcycle.columnar import _fold
    from relcycle.simulate import simulate_portfolio

    portfolio = simulate_portfolio(5, seed=4).portfolio()
    machine, policy = desk_machine(), DeskPolicy(alarm_at=2, quiet_days=20)
    as_of = _moment(portfolio, 0)
    monkeypatch.setattr(_fold, "SAMPLE", 1_000)  # the default

    def no_rounds(*args: Any) -> Any:
        raise AssertionError("a round was folded")

    monkeypatch.setattr(_fold, "_fold_rounds", no_rounds)
    assert _folded(machine, portfolio, as_of, policy) == _runs(machine, portfolio, as_of, policy)


def test_a_timer_past_the_calendar_is_refused_by_both_engines() -> None:
    """A decision that sets a timer past year 9999 (a policy's absurd number of days)
    is a usage error naming the decision, the timer and the moment, in the runner and
    in the fold alike; a timer kind that is also a trigger's is refused when built."""
    portfolio = build_portfolio(orders=[_order("o1", 0)], complaints=[_complaint("c1", 1)])
    policy = DeskPolicy(quiet_days=3_000_000)
    as_of = datetime(2025, 1, 1, tzinfo=UTC)
    message = r"decision of 'opened' set the timer 'quiet' \d+ microseconds after 1970, outside"
    with pytest.raises(UsageError, match=message):
        desk_machine().run(next(iter(portfolio)), as_of=as_of, policy=policy)
    with pytest.raises(UsageError, match=message):
        machine_steps(
            desk_machine(), frames_from_tables(as_tables(portfolio)), as_of=as_of, policy=policy
        )
    decider = desk_machine().decide
    with pytest.raises(DefinitionError, match="the kinds quiet are both a timer's and a trigger's"):
        Machine(
            table=DESK,
            triggers=(*desk_machine().triggers, Trigger(SALE, "quiet", 1)),
            decide=decider,
            initial_memory=Registers({}),
            memory_from_dict=LastActivity.from_dict,
            timer_kinds=frozenset({"quiet"}),
        )


class Tier(StrEnum):
    """A loyalty ladder a client may climb several steps of at one sale."""

    none = "none"
    buyer = "buyer"
    regular = "regular"
    loyal = "loyal"


class TierEvent(StrEnum):
    """Its events."""

    promoted = "promoted"
    lapsed = "lapsed"
    touched = "touched"


TIERS = TransitionTable.define(
    name="tiers",
    states=Tier,
    events=TierEvent,
    initial=Tier.none,
    rows=[
        (Tier.none, TierEvent.promoted, Tier.buyer),
        (Tier.buyer, TierEvent.promoted, Tier.regular),
        (Tier.regular, TierEvent.promoted, Tier.loyal),
        *((s, TierEvent.lapsed, Tier.none) for s in (Tier.buyer, Tier.regular, Tier.loyal)),
        *((s, TierEvent.touched, s) for s in Tier),
    ],
)


@attrs.frozen
class TierPolicy:
    """The sales each tier needs, and the silence that resets them."""

    buyer_at: int = 1
    regular_at: int = 2
    loyal_at: int = 3
    quiet_days: int = 60


def tier_machine(then: DecisionList | None = None) -> Machine[Tier, TierEvent, Registers, Any]:
    """Sales counted in registers; a follow-up decision promotes while the count allows,
    so one sale may climb several tiers; a silence resets everything."""
    state, at = text_input("state"), int_input("at")
    key, sales, ids = text_input("key"), int_input("sales"), ids_input("ids")
    buyer_at, regular_at, loyal_at = (int_input(n) for n in ("buyer_at", "regular_at", "loyal_at"))
    quiet_days = int_input("quiet_days")
    inputs = (state, at, key, sales, ids, buyer_at, regular_at, loyal_at, quiet_days)
    out = {"event": "text", "detail": "text"}
    promote = DecisionList.define(
        "promote",
        inputs=inputs,
        outputs={**out, "cites": "ids"},
        cases=[
            Case(
                (state == "none") & (sales >= buyer_at),
                event="promoted",
                detail=text("a buyer: ", plural(sales, "sale")),
                cites=ids.tail(1),
            ),
            Case(
                (state == "buyer") & (sales >= regular_at),
                event="promoted",
                detail=text("a regular: ", ids.joined()),
                cites=ids,
            ),
            Case(
                (state == "regular") & (sales >= loyal_at),
                event="promoted",
                detail=text("loyal: the first ", loyal_at, " of ", plural(sales, "sale")),
                cites=ids.head(3),
            ),
            Case(None, event=None, detail=None, cites=()),
        ],
    )
    decider = DeclaredDecider(
        TIERS,
        registers={"sales": ("int", 0), "ids": ("ids", ())},
        decisions={
            "sold": DecisionList.define(
                "sold",
                inputs=inputs,
                outputs={**out, "sales": "int", "ids": "ids", "quiet": "int"},
                cases=[
                    Case(
                        None,
                        event=None,
                        detail=None,
                        sales=sales + 1,
                        ids=ids.append(key),
                        quiet=at + quiet_days * _DAY,
                    )
                ],
            ),
            "quiet": DecisionList.define(
                "quiet",
                inputs=inputs,
                outputs={**out, "sales": "int", "ids": "ids"},
                cases=[
                    Case(state == "none", event=None, detail=None, sales=0, ids=()),
                    Case(
                        None,
                        event="lapsed",
                        detail=text("no sale for ", quiet_days, " days"),
                        sales=0,
                        ids=(),
                    ),
                ],
            ),
        },
        timers={"quiet": 3},
        parameters=dict.fromkeys(("buyer_at", "regular_at", "loyal_at", "quiet_days"), "int"),
        then=promote if then is None else then,
    )
    return decider.machine((Trigger(SALE, "sold", priority=1),))


@_SETTINGS
@given(
    portfolio=portfolios(max_clients=4, max_records=12),
    back=st.integers(-100, 300),
    thresholds=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    quiet_days=st.integers(1, 90),
)
def test_a_follow_up_decision_takes_several_steps_at_one_occurrence(
    portfolio: Portfolio, back: int, thresholds: list[int], quiet_days: int
) -> None:
    """A follow-up decision asked after every occurrence and again while it gives an
    event: one sale may promote a client several tiers, each step citing its own
    records; the fold takes the runner's steps, in order."""
    machine, as_of = tier_machine(), _moment(portfolio, back)
    buyer, regular, loyal = (sum(thresholds[: i + 1]) for i in range(3))
    policy = TierPolicy(buyer, regular, loyal, quiet_days)
    assert _folded(machine, portfolio, as_of, policy) == _runs(machine, portfolio, as_of, policy)


def test_one_sale_climbs_three_tiers_and_a_restless_follow_up_is_refused() -> None:
    """With every threshold at one sale, the first sale takes three steps at its moment;
    a follow-up that always gives an event is an error in both engines, naming the
    client and the occurrence."""
    portfolio = build_portfolio(orders=[_order("o1", 0), _order("o2", 5)])
    as_of = datetime(2024, 1, 10, tzinfo=UTC)
    policy = TierPolicy(1, 1, 1)
    run = tier_machine().run(next(iter(portfolio)), as_of=as_of, policy=policy)
    assert [(s.target, s.record_ids, s.detail) for s in run.trajectory.steps] == [
        (Tier.buyer, ("o1",), "a buyer: 1 sale"),
        (Tier.regular, ("o1",), "a regular: o1"),
        (Tier.loyal, ("o1",), "loyal: the first 1 of 1 sale"),
    ]
    assert _folded(tier_machine(), portfolio, as_of, policy) == _runs(
        tier_machine(), portfolio, as_of, policy
    )
    restless = DecisionList.define(
        "restless",
        inputs=(),
        outputs={"event": "text", "detail": "text"},
        cases=[Case(None, event="touched", detail="again")],
    )
    machine = tier_machine(then=restless)
    message = r"gave an event 5 times in a row for client 'c1' at occurrence 'o1'"
    with pytest.raises(UsageError, match=message):
        machine.run(next(iter(portfolio)), as_of=as_of, policy=policy)
    with pytest.raises(UsageError, match=message):
        machine_steps(machine, frames_from_tables(as_tables(portfolio)), as_of=as_of, policy=policy)


def test_record_fields_a_declared_decision_reads_are_checked() -> None:
    """A field of an unknown kind, read by a timer, named like a register, read as two
    kinds, missing from the trigger's records, a rule of another table or reading the
    moment, record ids of a record: DefinitionError naming it."""
    state = text_input("state")
    plain = DecisionList.define(
        "plain",
        inputs=(state,),
        outputs={"event": "text", "detail": "text"},
        cases=[Case(None, event=None, detail=None)],
    )
    with pytest.raises(DefinitionError) as caught:
        DeclaredDecider(
            DESK,
            registers={"count": ("int", 0)},
            decisions={"sold": plain, "opened": plain, "quiet": plain},
            timers={"quiet": 1},
            fields={
                "sold": {"product": "decimal", "count": "text", "placed_at": "moment"},
                "opened": {"placed_at": "text"},
                "quiet": {"severity": "text"},
                "nowhere": {"x": "text"},
            },
        )
    found = str(caught.value)
    for part in (
        "field 'product' of 'sold': unknown kind 'decimal'",
        "field 'count' of 'sold': the name is a register's",
        "field 'placed_at': read as moment and as text",
        "fields of 'quiet': a timer has no record to read",
        "fields of 'nowhere': no decision of that kind reads them",
    ):
        assert part in found, part
    decider = DeclaredDecider(
        DESK, registers={}, decisions={"sold": plain}, fields={"sold": {"severity": "text"}}
    )
    with pytest.raises(DefinitionError, match="reads severity of the 'sold' occurrences, which"):
        decider.machine((Trigger(SALE, "sold", 1),))
    # a rule read as a field: of the trigger's own table, not reading the moment;
    # record ids only of an input's step
    late = Rule.define("late", "orders", f("placed_at") < AS_OF, doc="placed before the moment")
    decider = DeclaredDecider(
        DESK,
        registers={},
        decisions={"sold": plain, "moved": plain},
        fields={
            "sold": {"big": COMPLAINT, "late": late, "order_id": "ids"},
            "moved": {"record_ids": "text", "target": "text"},
        },
    )
    with pytest.raises(DefinitionError) as caught:
        decider.machine((Trigger(SALE, "sold", 1),), input_kinds=("moved",))
    found = str(caught.value)
    for part in (
        "reads big of the 'sold' occurrences with a rule over another table than orders",
        "reads late of the 'sold' occurrences with a rule that reads the moment",
        "reads order_id of the 'sold' occurrences as record ids: only an input's",
        "reads record_ids of the 'moved' inputs: an input's fields are source (text)",
    ):
        assert part in found, part


class Watch(StrEnum):
    """A sales desk's watch over a client, fed by the complaint desk's moves."""

    quiet = "quiet"
    watching = "watching"


class WatchEvent(StrEnum):
    """Its events."""

    watch = "watch"
    unwatch = "unwatch"
    touched = "touched"


WATCH = TransitionTable.define(
    name="watch",
    states=Watch,
    events=WatchEvent,
    initial=Watch.quiet,
    rows=[
        *((s, WatchEvent.watch, Watch.watching) for s in Watch),
        (Watch.watching, WatchEvent.unwatch, Watch.quiet),
        *((s, WatchEvent.touched, s) for s in Watch),
    ],
)


def watch_machine() -> Machine[Watch, WatchEvent, Registers, Any]:
    """Reads another machine's moves as inputs (their target state as a field)."""
    state, key, target = text_input("state"), text_input("key"), text_input("target")
    out = {"event": "text", "detail": "text"}
    decider = DeclaredDecider(
        WATCH,
        registers={},
        decisions={
            "desk": DecisionList.define(
                "desk moved",
                inputs=(state, target),
                outputs=out,
                cases=[
                    Case(target == "alarmed", event="watch", detail=text("the desk is ", target)),
                    Case(
                        (target == "calm") & (state == "watching"),
                        event="unwatch",
                        detail="the desk is calm again",
                    ),
                    Case(None, event=None, detail=None),
                ],
            ),
            "sold": DecisionList.define(
                "sold",
                inputs=(state, key),
                outputs=out,
                cases=[
                    Case(state == "watching", event="touched", detail=text("sale ", key)),
                    Case(None, event=None, detail=None),
                ],
            ),
        },
        fields={"desk": {"target": "text"}},
    )
    return decider.machine((Trigger(SALE, "sold", priority=1),), input_kinds={"desk"})


@_SETTINGS
@given(
    portfolio=portfolios(max_clients=4, max_records=12),
    back=st.integers(-100, 300),
    priority=st.integers(0, 2),
    sample=st.sampled_from([0, 10**9]),
)
def test_a_declared_machine_reads_another_machines_moves_over_tables(
    portfolio: Portfolio, back: int, priority: int, sample: int
) -> None:
    """The complaint desk's steps over the tables, given as inputs (steps_as_inputs) to
    a machine that reads their target state: the runner's steps, the runner fed
    transitions_as_occurrences of each client's desk run, whether the fold or the
    runner takes the clients."""
    from relcycle.columnar import _fold, steps_as_inputs
    from relcycle.machine import transitions_as_occurrences

    desk, watch, as_of = desk_machine(), watch_machine(), _moment(portfolio, back)
    policy = DeskPolicy(alarm_at=2)
    want = []
    for history in sorted(portfolio, key=lambda h: h.client_id):
        moves = desk.run(history, as_of=as_of, policy=policy).trajectory
        inputs = transitions_as_occurrences(moves, kind="desk", priority=priority)
        for step in watch.run(history, as_of=as_of, policy=policy, inputs=inputs).trajectory.steps:
            want.append(
                (
                    history.client_id,
                    step.at.astimezone(UTC),
                    _offset(step.at),
                    step.target.value,
                    list(step.record_ids),
                    step.detail,
                )
            )
    frames = frames_from_tables(as_tables(portfolio))
    moves = machine_steps(desk, frames, as_of=as_of, policy=policy)
    inputs = steps_as_inputs(moves, kind="desk", priority=priority)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_fold, "SAMPLE", sample)
        steps = machine_steps(watch, frames, as_of=as_of, policy=policy, inputs=inputs)
    got = [(r[0], r[1], r[2], r[4], r[6], r[7]) for r in steps.iter_rows()]
    assert got == want


def test_inputs_over_tables_are_checked() -> None:
    """Inputs without their columns, of a kind the machine does not take, to a lookup
    machine, or fields of an input that a step does not have: clear errors."""
    from relcycle.columnar import steps_as_inputs

    portfolio = build_portfolio(orders=[_order("o1", 0)], complaints=[_complaint("c1", 1)])
    frames = frames_from_tables(as_tables(portfolio))
    as_of = datetime(2025, 1, 1, tzinfo=UTC)
    moves = machine_steps(desk_machine(), frames, as_of=as_of, policy=DeskPolicy())
    inputs = steps_as_inputs(moves, kind="desk", priority=0)
    with pytest.raises(UsageError, match="the inputs have no column sub"):
        machine_steps(watch_machine(), frames, as_of=as_of, policy=None, inputs=inputs.drop("sub"))
    stranger = r"input kind 'other' is not one of its input kinds \(desk\)"
    with pytest.raises(UsageError, match=stranger):
        machine_steps(
            watch_machine(),
            frames,
            as_of=as_of,
            policy=None,
            inputs=inputs.with_columns(pl.lit("other").alias("kind")),
        )
    with pytest.raises(UsageError, match="only a declared decider's machine takes inputs"):
        machine_steps(FUNNEL, frames, as_of=as_of, policy=FunnelPolicy(), inputs=inputs)
    decider = watch_machine().decide
    assert isinstance(decider, DeclaredDecider)
    odd = attrs.evolve(decider, fields={"desk": {"record_ids": "text", "target": "text"}})
    with pytest.raises(DefinitionError, match="reads record_ids of the 'desk' inputs"):
        attrs.evolve(watch_machine(), decide=odd)


def test_steps_taken_client_by_client_make_the_folds_steps_table() -> None:
    """steps_table of each client's runner trajectory is machine_steps' table (the
    same rows and dtypes); a step of a state the table does not have is refused."""
    from relcycle.columnar import steps_table

    portfolio = build_portfolio(
        orders=[_order("o1", 0), _order("o2", 3, "c2")],
        complaints=[_complaint("c1", 1), _complaint("c1", 2, staff=True), _complaint("c2", 4)],
    )
    frames = frames_from_tables(as_tables(portfolio))
    as_of, policy = datetime(2025, 1, 1, tzinfo=UTC), DeskPolicy(alarm_at=2)
    desk = desk_machine()
    runs = [
        (h.client_id, desk.run(h, as_of=as_of, policy=policy).trajectory)
        for h in sorted(portfolio, key=lambda h: h.client_id)
    ]
    table = steps_table(desk.table, runs)
    assert table.height > 0
    assert table.equals(machine_steps(desk, frames, as_of=as_of, policy=policy))
    assert table.schema == machine_steps(desk, frames, as_of=as_of, policy=policy).schema
    with pytest.raises(UsageError, match="is not one of machine 'habits'"):
        steps_table(HABITS, runs)


class Habit(StrEnum):
    """A client becoming a regular buyer, by the report's regularity rule."""

    new = "new"
    buyer = "buyer"
    regular = "regular"


class HabitEvent(StrEnum):
    """Its events."""

    bought = "bought"
    settled = "settled"
    lapsed = "lapsed"


HABITS = TransitionTable.define(
    name="habits",
    states=Habit,
    events=HabitEvent,
    initial=Habit.new,
    rows=[
        (Habit.new, HabitEvent.bought, Habit.buyer),
        (Habit.buyer, HabitEvent.settled, Habit.regular),
        (Habit.buyer, HabitEvent.lapsed, Habit.new),
        (Habit.regular, HabitEvent.lapsed, Habit.new),
    ],
)


def habit_machine(
    zone: str, lapse_days: int, regularity: Any = None
) -> Machine[Habit, HabitEvent, Registers, Any]:
    """Purchase days in a register (the day of each sale in ``zone``), the regularity
    rule's own declaration asked about them in a follow-up decision, and a silence
    that starts everything again."""
    from relcycle.decisions import choose, day_in, days_input, ratio_text
    from relcycle.segmentation.regularity import RegularityPolicy, regularity_decision

    rule = regularity_decision(RegularityPolicy() if regularity is None else regularity)
    state, at, key = text_input("state"), int_input("at"), text_input("key")
    days, sales = days_input("days"), ids_input("sales")
    # a map of each product to its first order, as two aligned registers
    product, products, firsts = text_input("product"), ids_input("products"), ids_input("firsts")
    inputs = (state, at, key, days, sales, products, firsts)
    known = (product == lit(None, "text")) | products.contains(product)
    out = {"event": "text", "detail": "text"}

    def asked(name: str) -> Any:
        return rule.ask(name, days=days, as_of_day=lit(None, "date"))

    decider = DeclaredDecider(
        HABITS,
        registers={
            "days": ("days", ()),
            "sales": ("ids", ()),
            "products": ("ids", ()),
            "firsts": ("ids", ()),
        },
        decisions={
            "sold": DecisionList.define(
                "sold",
                inputs=(*inputs, product),
                outputs={
                    **out,
                    "days": "days",
                    "sales": "ids",
                    "products": "ids",
                    "firsts": "ids",
                    "lapse": "int",
                },
                cases=[
                    Case(
                        None,
                        event=None,
                        detail=None,
                        days=days.add(day_in(at, zone)),
                        sales=sales.append(key),
                        products=products.append_new(product),
                        firsts=choose(known, firsts, firsts.append(key)),
                        lapse=at + lapse_days * _DAY,
                    )
                ],
            ),
            "lapse": DecisionList.define(
                "lapse",
                inputs=inputs,
                outputs={**out, "days": "days", "sales": "ids"},
                cases=[
                    Case(
                        state == "new",
                        event=None,
                        detail=None,
                        days=(),
                        sales=(),
                    ),
                    Case(
                        None,
                        event="lapsed",
                        detail=text("no sale for ", lapse_days, " days"),
                        days=(),
                        sales=(),
                    ),
                ],
            ),
        },
        timers={"lapse": 5},
        fields={"sold": {"product": "text"}},
        then=DecisionList.define(
            "climb",
            inputs=inputs,
            outputs={**out, "cites": "ids"},
            cases=[
                Case(
                    (state == "new") & (sales.size() >= 1),
                    event="bought",
                    detail=text("first sale ", sales.head(1).joined()),
                    cites=sales.head(1),
                ),
                Case(
                    (state == "buyer") & asked("regular"),
                    event="settled",
                    detail=text(
                        "regular: ",
                        plural(days.count(), "purchase day"),
                        ", ",
                        ratio_text(asked("gap_sum"), asked("gaps"), 1),
                        " days apart; products ",
                        products.sorted().joined(),
                        " first bought in ",
                        firsts.sorted_by(products).joined(),
                    ),
                    cites=sales,
                ),
                Case(None, event=None, detail=None, cites=()),
            ],
        ),
    )
    return decider.machine((Trigger(SALE, "sold", priority=1),))


@st.composite
def order_books(draw: st.DrawFn) -> Portfolio:
    """Up to three clients with up to eight sales each, at any hour and UTC offset
    (the purchase-days rule needs clients with several sales)."""
    from datetime import timezone

    orders = []
    for c in range(draw(st.integers(1, 3))):
        for n in range(draw(st.integers(1, 8))):
            zone = timezone(timedelta(hours=draw(st.sampled_from([-8, 0, 5, 13]))))
            placed = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(
                days=draw(st.integers(0, 200)), hours=draw(st.integers(0, 23))
            )
            product = draw(st.none() | st.sampled_from(["pen", "ink", "cap"]))
            orders.append(
                Order(
                    order_id=f"o{c}{n}",
                    client_id=f"c{c}",
                    placed_at=placed.astimezone(zone),
                    amount=10,
                    currency="EUR",
                    product=product,
                )
            )
    return build_portfolio(orders=orders)


@_SETTINGS
@given(
    portfolio=order_books(),
    back=st.integers(-30, 60),
    zone=st.sampled_from(["UTC", "Europe/Paris", "Pacific/Chatham", "America/Los_Angeles"]),
    lapse_days=st.integers(20, 400),
    min_gaps=st.integers(1, 3),
    max_cv=st.sampled_from(["0.5", "2", "10"]),
)
def test_a_declared_machine_asks_the_regularity_rule_about_its_purchase_days(
    portfolio: Portfolio, back: int, zone: str, lapse_days: int, min_gaps: int, max_cv: str
) -> None:
    """A register of purchase days in a zone and the regularity rule's declaration asked
    about them, on clients with several sales and under lenient rules too (so that the
    regular rung is reached): the fold takes the runner's steps, sentences and records
    included, and the registers save as JSON and read back."""
    from decimal import Decimal

    from relcycle.segmentation.regularity import RegularityPolicy

    rule = RegularityPolicy(min_gaps=min_gaps, max_cv=Decimal(max_cv))
    machine, as_of = habit_machine(zone, lapse_days, rule), _moment(portfolio, back)
    assert _folded(machine, portfolio, as_of, None) == _runs(machine, portfolio, as_of, None)
    for history in portfolio:
        state = machine.run(history, as_of=as_of, policy=None).state
        decider = machine.decide
        assert isinstance(decider, DeclaredDecider)
        assert decider.memory_from_dict(state.memory.to_dict()) == state.memory


def test_the_follow_up_reads_the_timer_its_occurrence_just_set() -> None:
    """A sale's decision sets a timer and the follow-up reads it at once: both engines
    see the new moment (not the timer as it stood before the sale)."""
    state, at, lapse = text_input("state"), int_input("at"), int_input("lapse")
    out = {"event": "text", "detail": "text"}
    decider = DeclaredDecider(
        HABITS,
        registers={},
        decisions={
            "sold": DecisionList.define(
                "sold",
                inputs=(at,),
                outputs={**out, "lapse": "int"},
                cases=[Case(None, event=None, detail=None, lapse=at + 10 * _DAY)],
            ),
            "lapse": DecisionList.define(
                "lapse",
                inputs=(state,),
                outputs=out,
                cases=[
                    Case(state == "new", event=None, detail=None),
                    Case(None, event="lapsed", detail="no sale for 10 days"),
                ],
            ),
        },
        timers={"lapse": 5},
        then=DecisionList.define(
            "bought",
            inputs=(state, lapse),
            outputs=out,
            cases=[
                Case(
                    (state == "new") & (lapse != lit(None, "int")),
                    event="bought",
                    detail=text("lapses at ", lapse),
                ),
                Case(None, event=None, detail=None),
            ],
        ),
    )
    machine = decider.machine((Trigger(SALE, "sold", priority=1),))
    portfolio = build_portfolio(orders=[_order("o1", 0), _order("o2", 30)])
    as_of = datetime(2024, 12, 31, tzinfo=UTC)
    runs = _runs(machine, portfolio, as_of, None)
    first = micros(_order("o1", 0).placed_at) + 10 * _DAY
    assert [(r[4], r[5], r[7]) for r in runs] == [
        ("buyer", "bought", f"lapses at {first}"),
        ("new", "lapsed", "no sale for 10 days"),
        ("buyer", "bought", f"lapses at {first + 30 * _DAY}"),
        ("new", "lapsed", "no sale for 10 days"),
    ]
    assert _folded(machine, portfolio, as_of, None) == runs


def test_a_regular_buyer_settles_in_both_engines() -> None:
    """Sales a month apart make a regular buyer at the fourth (the rule's three gaps):
    the follow-up asks the regularity rule, and the step cites every sale so far with
    the rule's figures; an irregular buyer stays a buyer. The fold takes the runner's
    steps."""
    regular = [
        attrs.evolve(_order(f"r{n}", 30 * n, "c1"), product=("pen", "ink", "pen", "cap")[n % 4])
        for n in range(6)
    ]
    irregular = [_order(f"i{n}", d, "c2") for n, d in enumerate((0, 2, 90, 91, 250, 251))]
    portfolio = build_portfolio(orders=[*regular, *irregular])
    as_of = datetime(2024, 12, 31, tzinfo=UTC)
    machine = habit_machine("Europe/Paris", 400)
    runs = _runs(machine, portfolio, as_of, None)
    assert [(r[0], r[4], r[6]) for r in runs] == [
        ("c1", "buyer", ["r0"]),
        ("c1", "regular", ["r0", "r1", "r2", "r3"]),
        ("c2", "buyer", ["i0"]),
    ]
    assert runs[1][7] == (
        "regular: 4 purchase days, 30.0 days apart; "
        "products cap, ink, pen first bought in r3, r1, r0"
    )
    assert _folded(machine, portfolio, as_of, None) == runs
