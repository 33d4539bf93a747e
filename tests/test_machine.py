"""Tests for relcycle.machine: transition tables, steps and trajectories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle._vocab import OrderedVocab, Vocab
from relcycle.errors import DefinitionError, IllegalTransitionError, UsageError
from relcycle.machine import Step, Trajectory, TransitionTable

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
