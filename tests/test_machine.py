"""Tests for relcycle.machine: transition tables, steps and trajectories."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle._vocab import OrderedVocab, Vocab
from relcycle.errors import DefinitionError, IllegalTransitionError, UsageError
from relcycle.history import ClientHistory
from relcycle.machine import (
    Decision,
    Emitter,
    Machine,
    MachineRun,
    MachineState,
    Occurrence,
    Step,
    Timer,
    Trajectory,
    TransitionTable,
    Trigger,
    transitions_as_occurrences,
)
from relcycle.model import Complaint, ComplaintStatus, Interaction, Purpose
from relcycle.rules import COMPLAINT, OPEN_COMPLAINT, Rule, f

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


class Light(OrderedVocab):
    """States of a traffic light."""

    green = "green"
    yellow = "yellow"
    red = "red"
    broken = "broken"


class Signal(Vocab):
    """Events of a traffic light."""

    timer = "timer"
    fault = "fault"
    repair = "repair"
    inspect = "inspect"


class Other(Vocab):
    """An unrelated enum, to put in the wrong place."""

    x = "x"


GOOD_ROWS: list[tuple[Any, Signal, Light]] = [
    (Light.green, Signal.timer, Light.yellow),
    (Light.yellow, Signal.timer, Light.red),
    (Light.red, Signal.timer, Light.green),
    ((Light.green, Light.yellow, Light.red), Signal.fault, Light.broken),
    (Light.broken, Signal.repair, Light.green),
    (Light.broken, Signal.inspect, Light.broken),
]


def define(rows: list[Any] | None = None, **kwargs: Any) -> TransitionTable[Light, Signal]:
    """Define the traffic light, or a variant of it."""
    args: dict[str, Any] = {
        "name": "light",
        "states": Light,
        "events": Signal,
        "initial": Light.green,
        "rows": GOOD_ROWS if rows is None else rows,
        **kwargs,
    }
    return TransitionTable.define(**args)


TABLE = define()


def replay(
    table: TransitionTable[Light, Signal], events: list[tuple[datetime, Signal]]
) -> Trajectory[Light, Signal]:
    """Fold step() over timed events into a trajectory."""
    state = table.initial
    steps = []
    for i, (at, event) in enumerate(events):
        target = table.step(state, event)
        steps.append(Step(at, state, target, event, (f"r{i}",), f"event {i}"))
        state = target
    return Trajectory(table.initial, tuple(steps))


class TestDefine:
    """A good table is accepted and exposes its rows."""

    def test_good_table(self) -> None:
        """The definition keeps name, states, events, initial state and expanded rows."""
        assert TABLE.name == "light"
        assert TABLE.states == tuple(Light)
        assert TABLE.events == tuple(Signal)
        assert TABLE.initial is Light.green
        assert TABLE.terminal == frozenset()
        assert len(TABLE.rows) == 8  # the fault row counts once per source
        assert (Light.yellow, Signal.fault, Light.broken) in TABLE.rows

    def test_terminal_states_need_no_way_out(self) -> None:
        """A terminal state without outgoing rows is not a trap."""
        rows = [r for r in GOOD_ROWS if r[0] is not Light.broken]
        table = define(rows, terminal={Light.broken})
        assert table.terminal == frozenset({Light.broken})
        assert table.allowed(Light.broken) == ()

    def test_tables_are_immutable(self) -> None:
        """A defined table cannot be changed."""
        with pytest.raises(AttributeError):
            TABLE.initial = Light.red  # type: ignore[misc]


class TestDefinitionErrors:
    """A broken table is refused with DefinitionError listing the offending states."""

    def test_duplicate_pair(self) -> None:
        """Two rows for one (state, event) are refused, naming both targets."""
        with pytest.raises(DefinitionError) as info:
            define([*GOOD_ROWS, (Light.green, Signal.timer, Light.red)])
        err = info.value
        assert err.machine == "light"
        assert err.states == ("green",)
        assert "duplicate transition (green, timer): -> yellow and -> red" in str(err)
        assert isinstance(err, ValueError)

    def test_duplicate_pair_through_a_collection_row(self) -> None:
        """A collection row that repeats an existing pair is refused as well."""
        with pytest.raises(DefinitionError, match=r"duplicate transition \(red, fault\)"):
            define([*GOOD_ROWS, ((Light.red,), Signal.fault, Light.green)])

    def test_unreachable_state(self) -> None:
        """A state no row leads to is refused as unreachable."""
        rows = [r for r in GOOD_ROWS if r[1] is not Signal.fault]
        with pytest.raises(DefinitionError, match="unreachable from green: broken") as info:
            define(rows)
        assert "broken" in info.value.states

    def test_trap_state(self) -> None:
        """A non-terminal state with no way out (self-loops only) is refused as a trap."""
        rows = [r for r in GOOD_ROWS if r[1] is not Signal.repair]
        with pytest.raises(DefinitionError, match="trap states") as info:
            define(rows)
        assert info.value.states == ("broken",)

    def test_every_problem_is_listed_at_once(self) -> None:
        """Duplicates, unreachable and trap states are all reported together."""
        rows = [
            (Light.green, Signal.timer, Light.yellow),
            (Light.green, Signal.timer, Light.yellow),
            (Light.yellow, Signal.timer, Light.green),
        ]
        with pytest.raises(DefinitionError) as info:
            define(rows)
        err = info.value
        assert len(err.problems) == 3
        assert set(err.states) == {"green", "red", "broken"}
        assert "unreachable from green: red, broken" in str(err)

    @pytest.mark.parametrize(
        ("row", "fragment"),
        [
            ((Light.green, Other.x, Light.red), "event <Other.x: 'x'> is not a Signal"),
            ((Light.green, Signal.timer, Other.x), "target <Other.x: 'x'> is not a Light"),
            ((Other.x, Signal.timer, Light.red), "source <Other.x: 'x'> is not a Light"),
            (("green", Signal.inspect, Light.red), "source 'green' is not a Light"),
            ((Light.green, Signal.inspect), "is not a (from, event, to) triple"),
        ],
    )
    def test_wrong_enum_values(self, row: Any, fragment: str) -> None:
        """Values of the wrong enum (or plain strings) in a row are refused by value."""
        with pytest.raises(DefinitionError) as info:
            define([*GOOD_ROWS, row])
        assert fragment in str(info.value)

    def test_wrong_initial_and_terminal(self) -> None:
        """An initial or terminal state of the wrong enum is refused."""
        with pytest.raises(DefinitionError, match="initial state"):
            define(initial=Other.x)
        with pytest.raises(DefinitionError, match="terminal state"):
            define(terminal={Other.x})


class TestStep:
    """step() is the pure transition function and refuses what the table lacks."""

    def test_legal_steps(self) -> None:
        """Each legal event gives the row's target."""
        assert TABLE.step(Light.green, Signal.timer) is Light.yellow
        assert TABLE.step(Light.red, Signal.fault) is Light.broken
        assert TABLE.step(Light.broken, Signal.inspect) is Light.broken

    def test_illegal_step_raises_with_context(self) -> None:
        """An event the state does not allow raises with machine, state, event, allowed."""
        with pytest.raises(IllegalTransitionError) as info:
            TABLE.step(Light.broken, Signal.timer)
        err = info.value
        assert (err.machine, err.state, err.event) == ("light", "broken", "timer")
        assert err.allowed == ("repair", "inspect")
        assert "event 'timer' is not allowed in state 'broken'" in str(err)
        assert "allowed there: repair, inspect" in str(err)
        assert isinstance(err, ValueError)

    def test_allowed_and_allows(self) -> None:
        """allowed() lists events in enum order; allows() answers for one event."""
        assert TABLE.allowed(Light.green) == (Signal.timer, Signal.fault)
        assert TABLE.allows(Light.green, Signal.timer)
        assert not TABLE.allows(Light.green, Signal.repair)
        assert TABLE.successors(Light.broken) == {
            Signal.repair: Light.green,
            Signal.inspect: Light.broken,
        }

    def test_a_foreign_state_is_a_clear_error(self) -> None:
        """A state of another machine: a UsageError naming it and the machine's states."""
        for ask in (
            lambda: TABLE.allowed(Signal.timer),  # type: ignore[arg-type]
            lambda: TABLE.allows(Signal.timer, Signal.timer),  # type: ignore[arg-type]
            lambda: TABLE.successors(Signal.timer),  # type: ignore[arg-type]
            lambda: TABLE.allowed(["green"]),  # type: ignore[arg-type]
        ):
            with pytest.raises(UsageError, match="is not one of its states") as info:
                ask()
            assert "green" in str(info.value)

    def test_successors_is_a_copy(self) -> None:
        """Changing the dict successors() returns does not change the table."""
        succ = TABLE.successors(Light.green)
        succ[Signal.repair] = Light.red
        assert not TABLE.allows(Light.green, Signal.repair)

    @settings(max_examples=60)
    @given(st.lists(st.sampled_from(Signal), max_size=20))
    def test_any_event_sequence_steps_or_raises_illegal(self, events: list[Signal]) -> None:
        """Folding any events either reaches a state of the table or raises IllegalTransition."""
        state = TABLE.initial
        for event in events:
            if event in TABLE.allowed(state):
                state = TABLE.step(state, event)
                assert state in TABLE.states
            else:
                with pytest.raises(IllegalTransitionError):
                    TABLE.step(state, event)


class TestTrajectory:
    """A trajectory answers questions about a replay's past."""

    EVENTS: ClassVar[list[tuple[datetime, Signal]]] = [
        (T0, Signal.timer),  # green -> yellow
        (T0 + HOUR, Signal.timer),  # yellow -> red
        (T0 + 3 * HOUR, Signal.fault),  # red -> broken
        (T0 + 4 * HOUR, Signal.inspect),  # broken -> broken
        (T0 + 6 * HOUR, Signal.repair),  # broken -> green
    ]

    def test_state_and_transitions(self) -> None:
        """state is the last target; transitions drop steps that kept the state."""
        t = replay(TABLE, self.EVENTS)
        assert t.state is Light.green
        assert len(t.steps) == 5
        assert [s.event for s in t.transitions] == [
            Signal.timer,
            Signal.timer,
            Signal.fault,
            Signal.repair,
        ]
        assert not t.steps[3].changed
        assert t.steps[0].changed

    def test_state_at(self) -> None:
        """state_at counts steps at exactly the moment, and is initial before the first."""
        t = replay(TABLE, self.EVENTS)
        assert t.state_at(T0 - HOUR) is Light.green
        assert t.state_at(T0) is Light.yellow
        assert t.state_at(T0 + 2 * HOUR) is Light.red
        assert t.state_at(T0 + 3 * HOUR) is Light.broken
        assert t.state_at(T0 + 5 * HOUR) is Light.broken
        assert t.state_at(T0 + 100 * HOUR) is Light.green

    def test_since_and_entering_step(self) -> None:
        """since is when the current state was entered; entering_step the step that did it."""
        t = replay(TABLE, self.EVENTS)
        assert t.since() == T0 + 6 * HOUR
        entering = t.entering_step()
        assert entering is not None
        assert entering.event is Signal.repair
        assert entering.record_ids == ("r4",)
        upto = t.until(T0 + 5 * HOUR)
        assert upto.since() == T0 + 3 * HOUR  # the inspect step changed nothing

    def test_never_moved(self) -> None:
        """An empty trajectory stays in its initial state with no since."""
        t: Trajectory[Light, Signal] = Trajectory(Light.green)
        assert t.state is Light.green
        assert t.since() is None
        assert t.entering_step() is None
        assert t.time_in_states(T0) == {}
        assert t.state_at(T0) is Light.green

    def test_time_in_states(self) -> None:
        """Time per state from the first step up to until; self-loops do not split it."""
        t = replay(TABLE, self.EVENTS)
        spent = t.time_in_states(T0 + 8 * HOUR)
        assert spent == {
            Light.green: 2 * HOUR,  # 0h (first step) ... and 6h-8h
            Light.yellow: HOUR,
            Light.red: 2 * HOUR,
            Light.broken: 3 * HOUR,
        }
        assert sum(spent.values(), timedelta(0)) == 8 * HOUR

    def test_time_in_states_until_mid_way(self) -> None:
        """Steps after until are ignored and the open state counts up to until."""
        t = replay(TABLE, self.EVENTS)
        assert t.time_in_states(T0 + 2 * HOUR) == {
            Light.green: timedelta(0),  # the clock starts at the first step
            Light.yellow: HOUR,
            Light.red: HOUR,
        }

    def test_until(self) -> None:
        """until(t) keeps the steps at or before t."""
        t = replay(TABLE, self.EVENTS)
        assert len(t.until(T0 + HOUR).steps) == 2
        assert t.until(T0 - HOUR) == Trajectory(Light.green, ())
        assert t.until(T0 + 100 * HOUR) == t
        assert t.until(T0 + 3 * HOUR).state is Light.broken

    def test_steps_keep_their_evidence(self) -> None:
        """Each step carries its moment, the record ids and a detail."""
        step = replay(TABLE, self.EVENTS).steps[2]
        assert step.at == T0 + 3 * HOUR
        assert (step.source, step.target, step.event) == (Light.red, Light.broken, Signal.fault)
        assert step.record_ids == ("r2",)
        assert step.detail == "event 2"

    @settings(max_examples=60)
    @given(st.lists(st.integers(0, 10_000), max_size=12), st.integers(-10, 10_100))
    def test_state_at_agrees_with_until(self, minutes: list[int], probe: int) -> None:
        """state_at(t) is the state of until(t), for any replay and moment."""
        events: list[tuple[datetime, Signal]] = []
        state = TABLE.initial
        for m in sorted(minutes):
            event = TABLE.allowed(state)[m % len(TABLE.allowed(state))]
            state = TABLE.step(state, event)
            events.append((T0 + timedelta(minutes=m), event))
        t = replay(TABLE, events)
        moment = T0 + timedelta(minutes=probe)
        assert t.state_at(moment) is t.until(moment).state


class TestDiagrams:
    """Mermaid and DOT renderings of a table."""

    def test_mermaid_shape(self) -> None:
        """A stateDiagram-v2 with the start, one edge per (source, target), terminals."""
        rows = [r for r in GOOD_ROWS if r[0] is not Light.broken]
        rows.append((Light.red, Signal.inspect, Light.green))  # shares red -> green
        table = define(rows, terminal={Light.broken})
        text = table.to_mermaid()
        lines = text.splitlines()
        assert lines[0] == "stateDiagram-v2"
        assert lines[1] == "    [*] --> green"
        assert "    green --> yellow: timer" in lines
        assert "    red --> green: timer, inspect" in lines
        assert "    green --> broken: fault" in lines
        assert lines[-1] == "    broken --> [*]"
        assert text.endswith("\n")

    def test_mermaid_leaves_out_self_loops(self) -> None:
        """Rows that keep the state draw no edge."""
        assert "broken --> broken" not in TABLE.to_mermaid()

    def test_dot_shape(self) -> None:
        """A DOT digraph named after the machine, with every state and labelled edges."""
        text = define(
            [r for r in GOOD_ROWS if r[0] is not Light.broken], terminal={Light.broken}
        ).to_dot()
        assert text.startswith('digraph "light" {\n')
        assert text.endswith("}\n")
        assert '    __start -> "green";' in text
        assert '    "broken" [label="broken", peripheries=2];' in text
        assert '    "green" [label="green"];' in text
        assert '    "yellow" -> "red" [label="timer"];' in text
        assert text.count("->") == 1 + 3 + 3  # start, timer cycle, three faults


# --------------------------------------------------------------------------- direct construction


def test_the_constructor_checks_what_define_checks() -> None:
    table = define()
    same = TransitionTable(
        name="light",
        states=tuple(Light),
        events=tuple(Signal),
        initial=Light.green,
        terminal=frozenset(),
        rows=table.rows,
    )
    assert same == table
    assert same.step(Light.green, Signal.timer) is Light.yellow
    with pytest.raises(DefinitionError, match="unreachable from green: yellow, red, broken"):
        TransitionTable(
            name="light",
            states=tuple(Light),
            events=tuple(Signal),
            initial=Light.green,
            terminal=frozenset(),
            rows=((Light.green, Signal.timer, Light.green),),
        )
    with pytest.raises(DefinitionError, match="duplicate transition"):
        TransitionTable(
            name="light",
            states=tuple(Light),
            events=tuple(Signal),
            initial=Light.green,
            terminal=frozenset(),
            rows=(*table.rows, (Light.green, Signal.timer, Light.red)),
        )
    with pytest.raises(DefinitionError, match="states must list every member of one enum"):
        TransitionTable(
            name="light",
            states=(Light.green, Light.red),
            events=tuple(Signal),
            initial=Light.green,
            terminal=frozenset(),
            rows=table.rows,
        )
    not_events: Any = ("timer",)
    with pytest.raises(DefinitionError, match="events must list every member"):
        TransitionTable(
            name="light",
            states=tuple(Light),
            events=not_events,
            initial=Light.green,
            terminal=frozenset(),
            rows=table.rows,
        )


# --------------------------------------------------------------------------- deciders


class Desk(Vocab):
    """States of a toy help desk."""

    calm = "calm"
    busy = "busy"
    overdue = "overdue"
    closed = "closed"


class DeskEvent(Vocab):
    """Events of the toy help desk."""

    opened = "opened"
    cleared = "cleared"
    went_overdue = "went_overdue"
    shut = "shut"
    reopened = "reopened"


DESK = TransitionTable.define(
    name="desk",
    states=Desk,
    events=DeskEvent,
    initial=Desk.calm,
    rows=[
        (Desk.calm, DeskEvent.opened, Desk.busy),
        ((Desk.busy, Desk.overdue), DeskEvent.opened, Desk.busy),
        ((Desk.busy, Desk.overdue), DeskEvent.cleared, Desk.calm),
        ((Desk.busy, Desk.overdue), DeskEvent.went_overdue, Desk.overdue),
        (Desk.calm, DeskEvent.shut, Desk.closed),
        (Desk.closed, DeskEvent.reopened, Desk.calm),
    ],
    terminal=(Desk.closed,),
)


@attrs.frozen
class DeskPolicy:
    """The toy desk's policy."""

    overdue_after: timedelta = timedelta(days=2)
    strict: bool = False


@attrs.frozen
class DeskMemory:
    """The toy desk's memory: the open complaints, oldest first."""

    open: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"open": list(self.open)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeskMemory:
        """Read :meth:`to_dict` back."""
        return cls(tuple(data["open"]))


TERMINATION = Rule.define("termination", "interactions", f("purpose") == Purpose.termination)
REACTIVATION = Rule.define("reactivation", "interactions", f("purpose") == Purpose.reactivation)


def desk_decide(
    state: MachineState[Desk, DeskMemory], occ: Occurrence, policy: DeskPolicy
) -> Decision[DeskMemory]:
    """The toy desk's decider."""
    emit = Emitter(DESK, state.state, client_id=state.client_id, strict=policy.strict)
    memory, timers = state.memory, state.timers
    if occ.kind == "opened":
        emit(occ.at, DeskEvent.opened, (occ.key,), f"complaint {occ.key} opened")
        memory = DeskMemory((*memory.open, occ.key))
        timers = (*timers, Timer(occ.at + policy.overdue_after, 3, occ.key, "overdue"))
    elif occ.kind == "closed":
        memory = DeskMemory(tuple(c for c in memory.open if c != occ.key))
        timers = tuple(t for t in timers if t.key != occ.key)
        if not memory.open:
            emit(occ.at, DeskEvent.cleared, (occ.key,), f"complaint {occ.key} closed the last")
    elif occ.kind == "overdue":
        emit(occ.at, DeskEvent.went_overdue, (occ.key,), f"complaint {occ.key} overdue")
    elif occ.kind == "shut":
        emit(occ.at, DeskEvent.shut, (occ.key,), f"interaction {occ.key}: shut")
    else:
        emit(occ.at, DeskEvent.reopened, (occ.key,), f"interaction {occ.key}: reopened")
    return emit.decision(memory, timers)


DESK_MACHINE: Machine[Desk, DeskEvent, DeskMemory, DeskPolicy] = Machine(
    table=DESK,
    triggers=(
        Trigger(COMPLAINT, "opened", priority=2),
        Trigger(COMPLAINT, "closed", priority=1, at="resolved_at"),
        Trigger(TERMINATION, "shut", priority=5),
        Trigger(REACTIVATION, "reopen", priority=0),
    ),
    decide=desk_decide,
    initial_memory=DeskMemory(),
    memory_from_dict=DeskMemory.from_dict,
    timer_kinds=frozenset({"overdue"}),
)

CLIENT = "k1"


def complaint(cid: str, opened: int, closed: int | None = None) -> Complaint:
    """A complaint opened ``opened`` hours after T0, closed ``closed`` hours after."""
    return Complaint(
        complaint_id=cid,
        client_id=CLIENT,
        opened_at=T0 + opened * HOUR,
        status=ComplaintStatus.open if closed is None else ComplaintStatus.resolved,
        resolved_at=None if closed is None else T0 + closed * HOUR,
    )


def contact(iid: str, hours: int, purpose: Purpose) -> Interaction:
    """An interaction ``hours`` after T0."""
    return Interaction(interaction_id=iid, client_id=CLIENT, at=T0 + hours * HOUR, purpose=purpose)


def moves(run: MachineRun[Desk, DeskEvent, DeskMemory]) -> list[tuple[int, str, str, str]]:
    """The run's steps as (hours after T0, event, target, first record id)."""
    return [
        ((s.at - T0) // HOUR, s.event.value, s.target.value, s.record_ids[0])
        for s in run.trajectory.steps
    ]


def test_a_run_takes_records_and_timers_in_order() -> None:
    history = ClientHistory.of(
        CLIENT,
        [
            complaint("c1", 0, 10),  # closed before its timer: the timer is cancelled
            complaint("c2", 20),  # open: overdue at 68
            complaint("c3", 68, 68),  # opened and closed at the timer's moment
            contact("i1", 80, Purpose.termination),  # busy: not allowed, an anomaly
        ],
    )
    run = DESK_MACHINE.run(history, as_of=T0 + 100 * HOUR, policy=DeskPolicy())
    assert moves(run) == [
        (0, "opened", "busy", "c1"),
        (10, "cleared", "calm", "c1"),
        (20, "opened", "busy", "c2"),
        # c3 opens at 68 (priority 2) before c2's timer (priority 3); its closing
        # at the same moment comes right after its opening, not at priority 1.
        (68, "opened", "busy", "c3"),
        (68, "went_overdue", "overdue", "c2"),
    ]
    assert run.state.state is Desk.overdue
    assert run.state.memory == DeskMemory(("c2",))
    assert run.state.timers == ()
    assert run.state.as_of == T0 + 100 * HOUR
    assert [a.record_ids for a in run.anomalies] == [("i1",)]
    assert "shut is not allowed in state overdue (allowed there: opened, cleared" in str(
        run.anomalies[0]
    )
    assert run.trajectory.state is Desk.overdue


@attrs.frozen
class PurposeIs:
    """A record rule written by hand (not a relcycle.rules.Rule): an interaction's purpose."""

    purpose: Purpose
    name: str = "purpose is"
    table: str = "interactions"
    reads_as_of: bool = False

    def __call__(self, record: Any) -> bool:
        """True if the interaction has the purpose."""
        return bool(record.purpose == self.purpose)


def test_a_hand_written_record_rule_triggers_like_a_rule() -> None:
    """The compiled trigger table calls a rule that is not a Rule; the run is the same."""
    by_hand = Machine(
        table=DESK,
        triggers=(
            Trigger(COMPLAINT, "opened", priority=2),
            Trigger(COMPLAINT, "closed", priority=1, at="resolved_at"),
            Trigger(PurposeIs(Purpose.termination), "shut", priority=5),
            Trigger(PurposeIs(Purpose.reactivation), "reopen", priority=0),
        ),
        decide=desk_decide,
        initial_memory=DeskMemory(),
        memory_from_dict=DeskMemory.from_dict,
        timer_kinds=frozenset({"overdue"}),
    )
    history = ClientHistory.of(
        CLIENT,
        [
            contact("i1", 1, Purpose.termination),
            contact("i2", 5, Purpose.reactivation),
            contact("i3", 6, Purpose.inquiry),
            complaint("c1", 8, 8),
        ],
    )
    as_of = T0 + 100 * HOUR
    expected = DESK_MACHINE.run(history, as_of=as_of, policy=DeskPolicy())
    assert by_hand.run(history, as_of=as_of, policy=DeskPolicy()) == expected
    assert moves(expected) == [
        (1, "shut", "closed", "i1"),
        (5, "reopened", "calm", "i2"),
        (8, "opened", "busy", "c1"),
        (8, "cleared", "calm", "c1"),
    ]


def test_a_strict_decider_raises_naming_the_records() -> None:
    history = ClientHistory.of(CLIENT, [complaint("c1", 0), contact("i1", 1, Purpose.termination)])
    with pytest.raises(IllegalTransitionError, match="'shut' is not allowed in state 'busy'") as e:
        DESK_MACHINE.run(history, as_of=T0 + 5 * HOUR, policy=DeskPolicy(strict=True))
    assert "record(s) i1 of client 'k1'" in "".join(e.value.__notes__)


def test_a_timer_due_at_as_of_fires_and_a_later_one_waits() -> None:
    history = ClientHistory.of(CLIENT, [complaint("c1", 0), complaint("c2", 1)])
    at_due = DESK_MACHINE.run(history, as_of=T0 + 48 * HOUR, policy=DeskPolicy())
    assert moves(at_due)[-1] == (48, "went_overdue", "overdue", "c1")
    assert [t.key for t in at_due.state.timers] == ["c2"]


def test_a_decision_the_table_refuses_raises() -> None:
    def careless(
        state: MachineState[Desk, DeskMemory], occ: Occurrence, policy: DeskPolicy
    ) -> Decision[DeskMemory]:
        return Decision(((occ.at, DeskEvent.cleared, (occ.key,), ""),), state.memory, ())

    machine = attrs.evolve(DESK_MACHINE, decide=careless)
    history = ClientHistory.of(CLIENT, [complaint("c1", 0)])
    with pytest.raises(IllegalTransitionError, match="'cleared' is not allowed in state 'calm'"):
        machine.run(history, as_of=T0 + HOUR, policy=DeskPolicy())


def test_an_undeclared_timer_kind_is_refused() -> None:
    machine = attrs.evolve(DESK_MACHINE, timer_kinds=frozenset({"other"}))
    history = ClientHistory.of(CLIENT, [complaint("c1", 0)])
    with pytest.raises(UsageError, match="timer of kind 'overdue'"):
        machine.run(history, as_of=T0 + HOUR, policy=DeskPolicy())


def test_a_bad_trigger_table_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError) as e:
        Machine(
            table=DESK,
            triggers=(
                Trigger(OPEN_COMPLAINT, "opened", priority=1),
                Trigger(COMPLAINT, "closed", priority=1, at="closed_on"),
                Trigger(COMPLAINT, "", priority=1.5),  # type: ignore[arg-type]
                "opened",  # type: ignore[arg-type]
            ),
            decide=desk_decide,
            initial_memory=DeskMemory(),
            memory_from_dict=DeskMemory.from_dict,
        )
    text = str(e.value)
    assert "rule 'open_complaint' reads the moment" in text
    assert "'closed_on' is not a field of complaints" in text
    assert "the kind must be a non-empty string" in text
    assert "priority must be an int" in text
    assert "'opened' is not a Trigger" in text


def test_a_guarded_trigger_is_taken_in_only_in_its_states() -> None:
    guarded = attrs.evolve(
        DESK_MACHINE,
        triggers=(
            *DESK_MACHINE.triggers[:3],
            Trigger(REACTIVATION, "reopen", priority=0, states={Desk.closed}),
        ),
    )
    history = ClientHistory.of(
        CLIENT,
        [
            contact("i1", 1, Purpose.reactivation),  # calm: not taken in (no anomaly)
            contact("i2", 2, Purpose.termination),
            contact("i3", 3, Purpose.reactivation),  # closed: reopens
        ],
    )
    plain = DESK_MACHINE.run(history, as_of=T0 + 5 * HOUR, policy=DeskPolicy())
    run = guarded.run(history, as_of=T0 + 5 * HOUR, policy=DeskPolicy())
    assert [a.record_ids for a in plain.anomalies] == [("i1",)]
    assert run.anomalies == ()
    assert moves(run) == [(2, "shut", "closed", "i2"), (3, "reopened", "calm", "i3")]
    with pytest.raises(DefinitionError) as e:
        attrs.evolve(
            DESK_MACHINE,
            triggers=(
                Trigger(COMPLAINT, "opened", priority=2, states={Light.red}),
                Trigger(REACTIVATION, "reopen", priority=0, states={Desk.closed}),
                Trigger(TERMINATION, "reopen", priority=0),
            ),
        )
    assert "[<Light.red: 'red'>] are not states of the machine" in str(e.value)
    assert "triggers of kind 'reopen' have different guards" in str(e.value)


def test_start_must_be_a_state_of_the_machine() -> None:
    history = ClientHistory.of(CLIENT, [])
    run = DESK_MACHINE.run(history, as_of=T0, policy=DeskPolicy(), start=Desk.closed)
    assert run.state.state is Desk.closed
    assert run.trajectory.initial is Desk.closed
    foreign: Any = Light.red
    with pytest.raises(UsageError, match="not one of its states"):
        DESK_MACHINE.run(history, as_of=T0, policy=DeskPolicy(), start=foreign)


def test_a_saved_state_is_checked_when_read_back() -> None:
    history = ClientHistory.of(CLIENT, [complaint("c1", 0)])
    saved = DESK_MACHINE.run(history, as_of=T0 + HOUR, policy=DeskPolicy()).state.to_dict()
    assert MachineState.from_dict(json.loads(json.dumps(saved)), DESK_MACHINE).timers == (
        Timer(T0 + 48 * HOUR, 3, "c1", "overdue"),
    )
    with pytest.raises(UsageError, match="saved state 'asleep' is not one of"):
        MachineState.from_dict({**saved, "state": "asleep"}, DESK_MACHINE)
    bad_timer = {**saved, "timers": [{**saved["timers"][0], "kind": "nap"}]}
    with pytest.raises(UsageError, match="saved timer kind 'nap'"):
        MachineState.from_dict(bad_timer, DESK_MACHINE)
    with pytest.raises(UsageError, match="lacks 'memory'"):
        MachineState.from_dict({k: v for k, v in saved.items() if k != "memory"}, DESK_MACHINE)
    with pytest.raises(UsageError, match="not a saved timer"):
        MachineState.from_dict({**saved, "timers": [{"at": "soon"}]}, DESK_MACHINE)


def test_resume_refuses_an_earlier_moment_and_another_client() -> None:
    history = ClientHistory.of(CLIENT, [complaint("c1", 0)])
    state = DESK_MACHINE.run(history, as_of=T0 + HOUR, policy=DeskPolicy()).state
    with pytest.raises(UsageError, match="before the saved state's"):
        DESK_MACHINE.resume(state, history, as_of=T0, policy=DeskPolicy())
    other = ClientHistory.of("k2", [])
    with pytest.raises(UsageError, match="the records belong to client 'k2'"):
        DESK_MACHINE.resume(state, other, as_of=T0 + 2 * HOUR, policy=DeskPolicy())


@st.composite
def desk_records(draw: st.DrawFn) -> list[Complaint | Interaction]:
    """Complaints (some closed, some at the same moments) and shut/reopen contacts."""
    out: list[Complaint | Interaction] = []
    for n in range(draw(st.integers(0, 8))):
        opened = draw(st.integers(0, 200))
        closed = draw(st.none() | st.integers(opened, opened + 100))
        out.append(complaint(f"c{n}", opened, closed))
    for n in range(draw(st.integers(0, 4))):
        purpose = draw(st.sampled_from([Purpose.termination, Purpose.reactivation]))
        out.append(contact(f"i{n}", draw(st.integers(0, 300)), purpose))
    return out


@settings(max_examples=200, deadline=None)
@given(
    records=desk_records(),
    cut=st.integers(0, 300),
    end=st.integers(0, 300),
    hours=st.integers(1, 72),
    through_json=st.booleans(),
)
def test_a_saved_state_and_the_later_records_give_the_full_replay(
    records: list[Complaint | Interaction], cut: int, end: int, hours: int, through_json: bool
) -> None:
    cut, end = min(cut, end), max(cut, end)
    policy = DeskPolicy(overdue_after=hours * HOUR)
    history = ClientHistory.of(CLIENT, records)
    full = DESK_MACHINE.run(history, as_of=T0 + end * HOUR, policy=policy)
    first = DESK_MACHINE.run(history, as_of=T0 + cut * HOUR, policy=policy)
    state = first.state
    if through_json:
        state = MachineState.from_dict(json.loads(json.dumps(state.to_dict())), DESK_MACHINE)
    assert state == first.state
    rest = DESK_MACHINE.resume(state, records, as_of=T0 + end * HOUR, policy=policy)
    assert rest.state == full.state
    assert first.trajectory.steps + rest.trajectory.steps == full.trajectory.steps
    assert first.anomalies + rest.anomalies == full.anomalies
    assert first.events + rest.events == full.events
    assert rest.trajectory.initial is first.state.state


# --------------------------------------------------------------------- one machine feeds another


class Watch(Vocab):
    """States of a toy watcher of the desk."""

    quiet = "quiet"
    alarmed = "alarmed"


class WatchEvent(Vocab):
    """Events of the toy watcher."""

    alarm = "alarm"
    calm_down = "calm_down"


WATCH = TransitionTable.define(
    name="watch",
    states=Watch,
    events=WatchEvent,
    initial=Watch.quiet,
    rows=[
        (Watch.quiet, WatchEvent.alarm, Watch.alarmed),
        (Watch.alarmed, WatchEvent.calm_down, Watch.quiet),
    ],
)


def watch_decide(
    state: MachineState[Watch, DeskMemory], occ: Occurrence, policy: None
) -> Decision[DeskMemory]:
    """Alarmed while the desk is overdue; the desk's step is the occurrence's record."""
    step = occ.record
    if step.target is Desk.overdue and state.state is Watch.quiet:
        return Decision(
            ((occ.at, WatchEvent.alarm, step.record_ids, "desk overdue"),), state.memory, ()
        )
    if step.target is not Desk.overdue and state.state is Watch.alarmed:
        return Decision(
            ((occ.at, WatchEvent.calm_down, step.record_ids, "desk back"),), state.memory, ()
        )
    return Decision((), state.memory, ())


WATCH_MACHINE: Machine[Watch, WatchEvent, DeskMemory, None] = Machine(
    table=WATCH,
    triggers=(),
    decide=watch_decide,
    initial_memory=DeskMemory(),
    memory_from_dict=DeskMemory.from_dict,
    input_kinds=frozenset({"desk"}),
)


def test_one_machines_transitions_are_anothers_inputs() -> None:
    """transitions_as_occurrences turns the desk's state changes into the watcher's inputs."""
    history = ClientHistory.of(CLIENT, [complaint("c1", 0, 60), complaint("c2", 70)])
    desk = DESK_MACHINE.run(history, as_of=T0 + 200 * HOUR, policy=DeskPolicy())
    inputs = transitions_as_occurrences(desk.trajectory, kind="desk", priority=0)
    assert [(o.record.target, o.key, o.kind) for o in inputs] == [
        (Desk.busy, "desk", "desk"),
        (Desk.overdue, "desk", "desk"),
        (Desk.calm, "desk", "desk"),
        (Desk.busy, "desk", "desk"),
        (Desk.overdue, "desk", "desk"),
    ]
    watch = WATCH_MACHINE.run(history, as_of=T0 + 200 * HOUR, policy=None, inputs=inputs)
    assert [(s.at, s.event, s.record_ids) for s in watch.trajectory.steps] == [
        (T0 + 48 * HOUR, WatchEvent.alarm, ("c1",)),
        (T0 + 60 * HOUR, WatchEvent.calm_down, ("c1",)),
        (T0 + 118 * HOUR, WatchEvent.alarm, ("c2",)),
    ]
    # inputs after as_of wait; a resumed run takes only those after the saved moment
    early = WATCH_MACHINE.run(history, as_of=T0 + 50 * HOUR, policy=None, inputs=inputs)
    assert early.state.state is Watch.alarmed
    rest = WATCH_MACHINE.resume(early.state, [], as_of=T0 + 200 * HOUR, policy=None, inputs=inputs)
    assert early.trajectory.steps + rest.trajectory.steps == watch.trajectory.steps


def test_inputs_must_be_occurrences_of_a_declared_kind() -> None:
    history = ClientHistory.of(CLIENT, [complaint("c1", 0)])
    desk = DESK_MACHINE.run(history, as_of=T0 + 100 * HOUR, policy=DeskPolicy())
    wrong = transitions_as_occurrences(desk.trajectory, kind="other", priority=0)
    with pytest.raises(UsageError, match=r"input kinds \(desk\)"):
        WATCH_MACHINE.run(history, as_of=T0 + 100 * HOUR, policy=None, inputs=wrong)
    with pytest.raises(UsageError, match="not an occurrence"):
        WATCH_MACHINE.run(
            history,
            as_of=T0 + 100 * HOUR,
            policy=None,
            inputs=[desk.trajectory.steps[0]],  # type: ignore[list-item]
        )
    with pytest.raises(DefinitionError, match="input_kinds must be a frozenset"):
        attrs.evolve(WATCH_MACHINE, input_kinds={"desk"})
