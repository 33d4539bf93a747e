"""State machines as data: a validated transition table and the trajectory of a replay.

A :class:`TransitionTable` is the whole definition of a machine: a set of
``(state, event) -> state`` rows over two enums. It is immutable, checked when
it is built (one initial state, no duplicate ``(state, event)`` pair, every state
reachable from the initial one, no trap states), and separate from whatever
holds a current state. :meth:`TransitionTable.step` is the pure transition
function; an event a state does not allow raises
:class:`~relcycle.errors.IllegalTransitionError`, never a silent no-op.

Folding :meth:`~TransitionTable.step` over a client's events gives a
:class:`Trajectory`: every transition with its moment and the ids of the records
behind it, so the state at any past moment, the time spent in each state and the
evidence for the current state all come from one replay.

A :class:`Machine` is a table that reads records: a *decider*. Its
:class:`Trigger` table says which records (a :class:`~relcycle.rules.Rule`)
give which *occurrence*, at which moment and in which order; its pure
``decide(state, occurrence, policy)`` turns one occurrence into events with
their evidence (a :class:`Decision`); ``evolve`` is :meth:`TransitionTable.step`.
The decider's memory and its scheduled :class:`Timer` occurrences live in a
frozen :class:`MachineState` that can be saved (:meth:`MachineState.to_dict`)
and resumed (:meth:`Machine.resume`) with the same result as a full replay::

    records --triggers--> occurrences --decide--> events --table.step--> state
                              ^   ^                                        |
                              |   +------------ timers (due moment, kind) -+
    another machine's --------+
    transitions (inputs)

One machine feeds another through :func:`transitions_as_occurrences`: the
transitions of the first machine's trajectory become occurrences of a kind the
second declares in its ``input_kinds``, given to :meth:`Machine.run` and
:meth:`Machine.resume` as ``inputs`` (the ladder reads the lifecycle this way).
"""

from __future__ import annotations

import contextlib
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from itertools import pairwise
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Protocol, TypeVar, cast

import attrs

from .decisions import DecisionList
from .errors import BudgetError, DefinitionError, IllegalTransitionError, UsageError
from .evidence import Evidence
from .model import FrozenMap
from .rules import Rule

if TYPE_CHECKING:
    from .history import ClientHistory
    from .model import Complaint, Interaction, Order

__all__ = [
    "CITES",
    "DECLARED_INPUTS",
    "DECLARED_OUTPUTS",
    "FIELD_KINDS",
    "TIMER_RANGE",
    "Decision",
    "DeclaredDecider",
    "Emitter",
    "Inactivity",
    "LastActivity",
    "LookupDecider",
    "Machine",
    "MachineRun",
    "MachineState",
    "Memory",
    "Occurrence",
    "RecordRule",
    "Registers",
    "Step",
    "StepView",
    "Timer",
    "Trajectory",
    "TrajectoryView",
    "TransitionTable",
    "Trigger",
    "format_moment",
    "micros",
    "moment_of",
    "transitions_as_occurrences",
]

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


def _v(member: Enum) -> str:
    return str(member.value)


@attrs.frozen
class TransitionTable(Generic[S, E]):
    """An immutable, validated ``(state, event) -> state`` table.

    Build it with :meth:`define`. Calling the class directly checks exactly what
    :meth:`define` checks (there is no way to build an unchecked table); it
    takes the states and events as tuples of every member of their enums.

    Attributes:
        name: The machine's name, used in errors and diagrams.
        states: Every state, in the enum's order.
        events: Every event type, in the enum's order.
        initial: The initial state.
        terminal: States that end an episode (they may still have transitions
            that start a new one, such as a reactivation).
        rows: The ``(state, event, next_state)`` rows, in definition order.
    """

    name: str
    states: tuple[S, ...]
    events: tuple[E, ...]
    initial: S
    terminal: frozenset[S]
    rows: tuple[tuple[S, E, S], ...]
    _next: Mapping[S, Mapping[E, S]] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        states = _members(self.name, "states", self.states)
        events = _members(self.name, "events", self.events)
        expanded, nxt = _check_rows(
            self.name, states, events, self.initial, self.rows, self.terminal
        )
        object.__setattr__(self, "rows", expanded)
        object.__setattr__(self, "terminal", frozenset(self.terminal))
        object.__setattr__(self, "_next", nxt)

    @classmethod
    def define(
        cls,
        *,
        name: str,
        states: type[S],
        events: type[E],
        initial: S,
        rows: Iterable[tuple[S | tuple[S, ...] | frozenset[S], E, S]],
        terminal: Collection[S] = (),
    ) -> TransitionTable[S, E]:
        """Build and check a table.

        Args:
            name: The machine's name.
            states: The enum of states.
            events: The enum of event types.
            initial: The initial state.
            rows: ``(from, event, to)`` rows; ``from`` may be one state or a
                tuple (or frozenset) of states (the row is repeated for each).
                The type says tuple rather than any collection because a
                string enum member is itself a collection of strings, which
                would let a type checker solve the state type as ``str``.
            terminal: States that end an episode; they need no outgoing rows.

        Raises:
            DefinitionError: Listing every problem found: duplicate
                ``(state, event)`` pairs, states or events of the wrong enum,
                states unreachable from ``initial``, and trap states (non-terminal
                states with no way out).
        """
        # The constructor expands multi-source rows and runs every check.
        loose: Any = tuple(rows)
        return cls(
            name=name,
            states=tuple(states),
            events=tuple(events),
            initial=initial,
            terminal=frozenset(terminal),
            rows=loose,
        )

    def step(self, state: S, event: E) -> S:
        """The state after ``event`` in ``state`` (the pure transition function).

        Raises:
            IllegalTransitionError: If the table has no row for ``(state, event)``;
                the error carries the machine, the state, the event and the events
                the state allows.
        """
        try:
            return self._next[state][event]
        except KeyError:
            raise IllegalTransitionError(
                machine=self.name,
                state=_v(state),
                event=_v(event),
                allowed=[_v(e) for e in self._next.get(state, {})],
            ) from None

    def _row(self, state: S) -> Mapping[E, S]:
        """The row of ``state``; a state of another machine is a clear error."""
        try:
            return self._next[state]
        except (KeyError, TypeError):
            known = ", ".join(_v(s) for s in self.states)
            raise UsageError(
                f"machine {self.name!r}: {state!r} is not one of its states ({known})"
            ) from None

    def allows(self, state: S, event: E) -> bool:
        """True if ``event`` is allowed in ``state``.

        Raises:
            UsageError: If ``state`` is not a state of this machine.
        """
        return event in self._row(state)

    def allowed(self, state: S) -> tuple[E, ...]:
        """The events allowed in ``state``, in the event enum's order.

        Raises:
            UsageError: If ``state`` is not a state of this machine.
        """
        row = self._row(state)
        return tuple(e for e in self.events if e in row)

    def successors(self, state: S) -> dict[E, S]:
        """``{event: next_state}`` for ``state``.

        Raises:
            UsageError: If ``state`` is not a state of this machine.
        """
        return dict(self._row(state))

    def fold(
        self,
        events: Iterable[tuple[datetime, E, tuple[str, ...], str]],
        *,
        start: S | None = None,
    ) -> Trajectory[S, E]:
        """Replay ``events`` from ``start`` and return the trajectory (the pure fold).

        Each event is a ``(at, event, record_ids, detail)`` tuple (any named
        tuple with these four fields in this order will do); every one becomes a
        :class:`Step` that keeps its moment, ids and detail. The events must
        already be in time order.

        Args:
            events: The events, oldest first.
            start: The state to start from; the initial state by default.

        Raises:
            IllegalTransitionError: At the first event its state does not allow
                (nothing is returned: a replay is all or nothing).
        """
        nxt = self._next
        state = self.initial if start is None else start
        first = state
        steps: list[Step[S, E]] = []
        append = steps.append
        row = nxt[state]
        # Step(...) is tuple.__new__(Step, fields) behind a Python-level __new__;
        # calling tuple.__new__ directly builds the same object at half the cost.
        new, step_cls = tuple.__new__, Step
        for at, event, record_ids, detail in events:
            try:
                target = row[event]
            except KeyError:
                self.step(state, event)  # raises the IllegalTransitionError
                raise  # pragma: no cover - step() always raises here
            append(new(step_cls, (at, state, target, event, record_ids, detail)))
            if target is not state:
                state = target
                row = nxt[state]
        return Trajectory(first, tuple(steps))

    def to_mermaid(self) -> str:
        """The table as a Mermaid ``stateDiagram-v2`` (no dependency needed).

        Rows with the same source and target are merged into one edge whose
        label lists the events.
        """
        lines = ["stateDiagram-v2", f"    [*] --> {_v(self.initial)}"]
        for (source, target), events in self._edges().items():
            lines.append(f"    {_v(source)} --> {_v(target)}: {', '.join(events)}")
        for t in self.states:
            if t in self.terminal:
                lines.append(f"    {_v(t)} --> [*]")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """The table as Graphviz DOT text (no dependency needed)."""
        lines = [
            f'digraph "{self.name}" {{',
            "    rankdir=LR;",
            '    node [shape=box, style=rounded, fontname="Helvetica"];',
            '    __start [shape=point, label=""];',
            f'    __start -> "{_v(self.initial)}";',
        ]
        for state in self.states:
            shape = ", peripheries=2" if state in self.terminal else ""
            lines.append(f'    "{_v(state)}" [label="{_v(state)}"{shape}];')
        for (source, target), events in self._edges().items():
            label = "\\n".join(events)
            lines.append(f'    "{_v(source)}" -> "{_v(target)}" [label="{label}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _edges(self) -> dict[tuple[S, S], list[str]]:
        edges: dict[tuple[S, S], list[str]] = {}
        for source in self.states:
            for event in self.events:
                target = self._next[source].get(event)
                if target is not None and target != source:
                    edges.setdefault((source, target), []).append(_v(event))
        return edges


def _members(name: str, what: str, members: object) -> type[Enum]:
    """The enum whose every member ``members`` lists, in order (else a DefinitionError)."""
    if isinstance(members, tuple) and members and isinstance(members[0], Enum):
        enum = type(members[0])
        if members == tuple(enum):
            return enum
    raise DefinitionError(
        machine=name,
        problems=[f"{what} must list every member of one enum, in order; got {members!r}"],
    )


def _check_rows(
    name: str,
    states: type[S],
    events: type[E],
    initial: S,
    rows: Iterable[Any],
    terminal: Iterable[S],
) -> tuple[tuple[tuple[S, E, S], ...], dict[S, dict[E, S]]]:
    """Expand and check rows: every row of the right enums, no duplicate pair,
    every state reachable, no trap state (raises DefinitionError listing all)."""
    all_states = tuple(states)
    problems: list[str] = []
    offending: set[str] = set()
    expanded: list[tuple[S, E, S]] = []
    nxt: dict[S, dict[E, S]] = {s: {} for s in all_states}
    for row in rows:
        try:
            sources, event, target = row
        except (TypeError, ValueError):
            problems.append(f"row {row!r} is not a (from, event, to) triple")
            continue
        # A lone string (a state's value instead of the member) is one wrong
        # source, not a collection of one-letter sources.
        source_list: Sequence[Any] = [sources] if isinstance(sources, Enum | str) else list(sources)
        if not isinstance(event, events):
            problems.append(f"event {event!r} is not a {events.__name__}")
            continue
        if not isinstance(target, states):
            problems.append(f"target {target!r} is not a {states.__name__}")
            continue
        for source in source_list:
            if not isinstance(source, states):
                problems.append(f"source {source!r} is not a {states.__name__}")
                continue
            if event in nxt[source]:
                problems.append(
                    f"duplicate transition ({_v(source)}, {_v(event)}): "
                    f"-> {_v(nxt[source][event])} and -> {_v(target)}"
                )
                offending.add(_v(source))
                continue
            nxt[source][event] = target
            expanded.append((source, event, target))
    if not isinstance(initial, states):
        problems.append(f"initial state {initial!r} is not a {states.__name__}")
    terminal_set = frozenset(terminal)
    for t in terminal_set:
        if not isinstance(t, states):
            problems.append(f"terminal state {t!r} is not a {states.__name__}")
    # Duplicates do not stop the graph checks; values of the wrong enum do.
    if all(p.startswith("duplicate transition") for p in problems):
        reached = {initial}
        frontier = [initial]
        while frontier:
            state = frontier.pop()
            for target in nxt[state].values():
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
        unreachable = [s for s in all_states if s not in reached]
        if unreachable:
            problems.append(
                f"states unreachable from {_v(initial)}: " + ", ".join(_v(s) for s in unreachable)
            )
            offending.update(_v(s) for s in unreachable)
        traps = [
            s for s in all_states if s not in terminal_set and all(t == s for t in nxt[s].values())
        ]
        if traps:
            problems.append(
                "trap states (not terminal, no transition out): " + ", ".join(_v(s) for s in traps)
            )
            offending.update(_v(s) for s in traps)
    if problems:
        raise DefinitionError(machine=name, problems=problems, states=offending)
    return tuple(expanded), nxt


class Step(NamedTuple, Generic[S, E]):
    """One event applied during a replay.

    A step is an immutable named tuple (cheap to build: a replay makes one per
    event), so it also unpacks and compares like a tuple.

    Attributes:
        at: When the event happened.
        source: The state before.
        target: The state after (equal to ``source`` for an event that changes
            nothing but is allowed).
        event: The event type.
        record_ids: The ids of the records that caused the event.
        detail: A short human-readable account of the event.
    """

    at: datetime
    source: S
    target: S
    event: E
    record_ids: tuple[str, ...] = ()
    detail: str = ""

    @property
    def changed(self) -> bool:
        """True if the step moved the machine to another state."""
        return self.source != self.target


@attrs.frozen
class Trajectory(Generic[S, E]):
    """The result of a replay: where a machine started and every step it took.

    Attributes:
        initial: The state before the first step.
        steps: Every step, in order (including steps that kept the state).
    """

    initial: S
    steps: tuple[Step[S, E], ...] = ()

    @property
    def state(self) -> S:
        """The state after the last step."""
        return self.steps[-1].target if self.steps else self.initial

    @property
    def transitions(self) -> tuple[Step[S, E], ...]:
        """Only the steps that changed the state."""
        return tuple(s for s in self.steps if s.source != s.target)

    def state_at(self, moment: datetime) -> S:
        """The state at ``moment`` (steps at exactly ``moment`` count)."""
        i = bisect_right(self.steps, moment, key=_step_at)
        return self.steps[i - 1].target if i else self.initial

    def since(self) -> datetime | None:
        """When the machine entered its current state (None if it never moved)."""
        current = self.state
        entered: datetime | None = None
        for step in self.steps:
            if step.source != step.target:
                entered = step.at if step.target == current else entered
        return entered

    def entering_step(self) -> Step[S, E] | None:
        """The step that moved the machine into its current state, if any."""
        for step in reversed(self.steps):
            if step.source != step.target:
                return step
        return None

    def time_in_states(self, until: datetime) -> dict[S, timedelta]:
        """How long the machine spent in each state it visited, up to ``until``.

        The time before the first step counts for the initial state only from
        the first step's moment (a replay has no earlier clock).
        """
        spent: dict[S, timedelta] = {}
        current = self.initial
        since: datetime | None = self.steps[0].at if self.steps else None
        for step in self.steps:
            if step.at > until:
                break
            if step.source != step.target:
                assert since is not None
                spent[current] = spent.get(current, timedelta(0)) + (step.at - since)
                current = step.target
                since = step.at
        if since is not None and until > since:
            spent[current] = spent.get(current, timedelta(0)) + (until - since)
        return spent

    def until(self, moment: datetime) -> Trajectory[S, E]:
        """The trajectory as it stood at ``moment``."""
        i = bisect_right(self.steps, moment, key=_step_at)
        return Trajectory(self.initial, self.steps[:i])


def _step_at(step: Step[S, E]) -> datetime:
    return step.at


class StepView(Protocol):
    """What :func:`transitions_as_occurrences` reads of a step (a :class:`Step` is one)."""

    @property
    def at(self) -> datetime:
        """When the step happened."""

    @property
    def source(self) -> object:
        """The state before."""

    @property
    def target(self) -> object:
        """The state after."""


class TrajectoryView(Protocol):
    """What :func:`transitions_as_occurrences` reads of a trajectory (a
    :class:`Trajectory` is one): its steps, in order."""

    @property
    def steps(self) -> Sequence[StepView]:
        """The steps, in order."""


# --------------------------------------------------------------------------- deciders

M = TypeVar("M", bound="Memory")
P = TypeVar("P")


def format_moment(moment: datetime) -> str:
    """A moment as it is written in evidence: a date at midnight UTC, else to the minute."""
    if (
        not (moment.hour or moment.minute or moment.second or moment.microsecond)
        and moment.utcoffset() == _NO_OFFSET
    ):
        return moment.date().isoformat()
    return moment.isoformat(timespec="minutes")


_NO_OFFSET = timedelta(0)


class RecordRule(Protocol):
    """What a trigger reads of a record rule (:class:`relcycle.rules.Rule` is one)."""

    @property
    def name(self) -> str:
        """The rule's name."""

    @property
    def table(self) -> str:
        """``orders``, ``interactions`` or ``complaints``."""

    @property
    def reads_as_of(self) -> bool:
        """True if the rule needs a moment (such a rule cannot trigger)."""

    def __call__(self, record: Any) -> bool:
        """True if ``record`` matches."""


class Memory(Protocol):
    """What a decider remembers between occurrences: a frozen value that serialises.

    A memory class also offers a way back from its dict, given to
    :meth:`Machine.define` as ``memory_from_dict``.
    """

    def to_dict(self) -> dict[str, Any]:
        """The memory as a JSON-ready dict."""


_TABLES = ("orders", "interactions", "complaints")


def _guard(states: Iterable[Any] | None) -> frozenset[Any] | None:
    return None if states is None else frozenset(states)


@attrs.frozen
class Trigger:
    """One row of a machine's trigger table: records a rule matches give an occurrence.

    Attributes:
        rule: The record rule (its table says which records it reads); a rule
            that reads the moment (``AS_OF``) cannot trigger.
        kind: The occurrence's kind, as the decider knows it.
        priority: The order of occurrences at the same moment, lowest first.
        at: The record field that holds the occurrence's moment (a complaint's
            ``resolved_at``, say); by default the record's own moment. A record
            whose field is empty gives no occurrence.
        states: A guard: the occurrence is taken in only while the machine is in
            one of these states (a sale *while lost*, say); None: in any state.
            Triggers that share a kind share their guard.
    """

    rule: RecordRule
    kind: str
    priority: int
    at: str | None = None
    states: frozenset[Any] | None = attrs.field(default=None, converter=_guard)


class Occurrence(NamedTuple):
    """Something the decider must take in: a record a trigger matched, a due timer,
    or an input (another machine's transition, see :func:`transitions_as_occurrences`).

    Occurrences are taken in the order of their first four fields: moment,
    priority, key (the record's id, or the timer's key), then ``sub`` (-1 for a
    timer, so a timer comes before a record with the same moment, priority and
    key; a record's second trigger at the same moment comes right after its first).

    Attributes:
        at: When it happens.
        priority: Its trigger's (or timer's) priority.
        key: The record's id, or the timer's key.
        sub: -1 for a timer; for a record, the position of its trigger among the
            record's occurrences at that moment.
        kind: The trigger's (or timer's) kind.
        record: The record (an order, interaction or complaint), the
            :class:`Timer` that fell due, or an input's step.
    """

    at: datetime
    priority: int
    key: str
    sub: int
    kind: str
    record: Any


def transitions_as_occurrences(
    trajectory: TrajectoryView, *, kind: str, priority: int
) -> tuple[Occurrence, ...]:
    """Another machine's transitions as occurrences: how one machine feeds another.

    Every step of ``trajectory`` that changed its state becomes an
    :class:`Occurrence` of ``kind`` at the step's moment, with the step itself
    as its ``record``; its key is ``kind`` and its ``sub`` the step's position,
    so steps at one moment keep their order. ``priority`` places them among the
    receiving machine's own occurrences at the same moment (lower comes first).
    Give them to :meth:`Machine.run` or :meth:`Machine.resume` as ``inputs``; the
    receiving machine lists ``kind`` in its ``input_kinds``. The ladder reads
    the lifecycle this way (:func:`relcycle.ladder.lifecycle_inputs`).

    Args:
        trajectory: The other machine's trajectory (a :class:`Trajectory`, or
            anything with steps that have ``at``, ``source`` and ``target``).
        kind: The occurrence kind, as the receiving decider knows it.
        priority: The order among occurrences at the same moment.

    Returns:
        The occurrences, in the trajectory's order.
    """
    new = tuple.__new__
    return tuple(
        new(Occurrence, (step.at, priority, kind, n, kind, step))
        for n, step in enumerate(trajectory.steps)
        if step.source != step.target
    )


class Timer(NamedTuple):
    """An occurrence a decider scheduled: it falls due at ``at`` unless cancelled first.

    Attributes:
        at: When it falls due.
        priority: Its order among occurrences at the same moment.
        key: What it is about (a record id), also its tie-breaker.
        kind: The occurrence kind it gives.
        data: Anything the decider wants back when it falls due (a short text).
    """

    at: datetime
    priority: int
    key: str
    kind: str
    data: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The timer as a JSON-ready dict."""
        return {
            "at": self.at.isoformat(),
            "priority": self.priority,
            "key": self.key,
            "kind": self.kind,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timer:
        """The timer of :meth:`to_dict`.

        Raises:
            UsageError: If a field is missing or of the wrong type.
        """
        try:
            at = datetime.fromisoformat(data["at"])
            priority, key, kind, text = data["priority"], data["key"], data["kind"], data["data"]
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"not a saved timer: {data!r} ({exc})") from None
        if at.tzinfo is None or type(priority) is not int:
            raise UsageError(f"not a saved timer: {data!r}")
        if not all(isinstance(v, str) for v in (key, kind, text)):
            raise UsageError(f"not a saved timer: {data!r}")
        return cls(at, priority, key, kind, text)


class MachineState(NamedTuple, Generic[S, M]):
    """A machine's whole state for one client: frozen, and saved as JSON.

    Attributes:
        client_id: The client it belongs to.
        state: The table's state.
        memory: The decider's memory (the open complaints, say).
        timers: The scheduled occurrences, soonest first.
        as_of: Every occurrence up to this moment has been taken in (None
            before the first one).
    """

    client_id: str
    state: S
    memory: M
    timers: tuple[Timer, ...] = ()
    as_of: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The state as a JSON-ready dict (:meth:`from_dict` reads it back)."""
        return {
            "client_id": self.client_id,
            "state": _v(self.state),
            "memory": self.memory.to_dict(),
            "timers": [t.to_dict() for t in self.timers],
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], machine: Machine[S, Any, M, Any]
    ) -> MachineState[S, M]:
        """The state of :meth:`to_dict`, for ``machine``.

        Raises:
            UsageError: If ``data`` is not a saved state of ``machine`` (an
                unknown state, a timer of a kind the machine does not schedule).
        """
        if not isinstance(data, Mapping):
            raise UsageError(f"machine {machine.name!r}: a saved state is a mapping, not {data!r}")
        try:
            client_id, raw_state, raw_memory = data["client_id"], data["state"], data["memory"]
            raw_timers, raw_as_of = data["timers"], data["as_of"]
        except KeyError as exc:
            raise UsageError(f"machine {machine.name!r}: saved state lacks {exc}") from None
        by_value = {_v(s): s for s in machine.table.states}
        if raw_state not in by_value:
            known = ", ".join(by_value)
            raise UsageError(
                f"machine {machine.name!r}: saved state {raw_state!r} is not one of ({known})"
            )
        timers = tuple(Timer.from_dict(t) for t in raw_timers)
        for t in timers:
            if t.kind not in machine.timer_kinds:
                raise UsageError(
                    f"machine {machine.name!r}: saved timer kind {t.kind!r} is not one it "
                    f"schedules ({', '.join(sorted(machine.timer_kinds)) or 'none'})"
                )
        as_of = None if raw_as_of is None else datetime.fromisoformat(raw_as_of)
        if not isinstance(client_id, str) or (as_of is not None and as_of.tzinfo is None):
            raise UsageError(f"machine {machine.name!r}: not a saved state: {data!r}")
        return cls(
            client_id,
            by_value[raw_state],
            machine.memory_from_dict(raw_memory),
            tuple(sorted(timers)),
            as_of,
        )


class Decision(NamedTuple, Generic[M]):
    """What a decider made of one occurrence.

    Attributes:
        events: The events, in order, each an ``(at, event, record_ids,
            detail)`` tuple; each must be allowed in the state the previous
            one left (the runner folds them with :meth:`TransitionTable.step`).
        memory: The decider's memory afterwards.
        timers: The scheduled timers afterwards (the whole set, in any order: a
            timer left out is cancelled). Return the state's own tuple when
            nothing changed.
        anomalies: Records the decider left out, each with why.
    """

    events: tuple[tuple[datetime, Any, tuple[str, ...], str], ...]
    memory: M
    timers: tuple[Timer, ...]
    anomalies: tuple[Evidence, ...] = ()


class Emitter(Generic[S, E]):
    """A decider's helper for one occurrence: emit events, checked against the table.

    An event the current state allows is kept and moves :attr:`state`; one it
    does not allow raises :class:`~relcycle.errors.IllegalTransitionError` when
    ``strict`` (with a note naming the records and the client), and otherwise
    becomes an anomaly that says what was ignored and what the state allows
    (``noun`` is the word for a state in that text: ``"stage"``, ``"rung"``...).

    Attributes:
        state: The table's state after the events emitted so far.
        events: The events kept, in order.
        anomalies: The events ignored, as evidence.
    """

    __slots__ = (
        "_client_id",
        "_next",
        "_noun",
        "_strict",
        "_table",
        "anomalies",
        "events",
        "state",
    )

    def __init__(
        self,
        table: TransitionTable[S, E],
        state: S,
        *,
        client_id: str,
        strict: bool,
        noun: str = "state",
    ) -> None:
        self._table = table
        self._noun = noun
        self._next = table._next
        self._strict = strict
        self._client_id = client_id
        self.state = state
        self.events: list[tuple[datetime, E, tuple[str, ...], str]] = []
        self.anomalies: list[Evidence] = []

    def __call__(
        self,
        at: datetime,
        event: E,
        record_ids: tuple[str, ...],
        detail: str,
        *,
        record: Callable[[datetime, E, tuple[str, ...], str], Any] | None = None,
    ) -> bool:
        """Emit ``event``; True if the state allowed it.

        Args:
            at: When.
            event: The event.
            record_ids: The records behind it (its evidence).
            detail: A short account a person can read.
            record: Builds the kept event from ``(at, event, record_ids,
                detail)`` (a named tuple class, say); a plain tuple by default.

        Raises:
            IllegalTransitionError: If the state does not allow ``event`` and
                the emitter is strict.
        """
        target = self._next[self.state].get(event)
        if target is None:
            if self._strict:
                try:
                    self._table.step(self.state, event)
                except IllegalTransitionError as exc:
                    exc.add_note(
                        f"record(s) {', '.join(record_ids)} of client {self._client_id!r}: {detail}"
                    )
                    raise
            allowed = ", ".join(_v(e) for e in self._table.allowed(self.state))
            self.anomalies.append(
                Evidence(
                    f"{format_moment(at)}: {detail}: ignored, {_v(event)} is not allowed in "
                    f"{self._noun} {_v(self.state)} (allowed there: {allowed})",
                    record_ids,
                )
            )
            return False
        self.events.append(
            (at, event, record_ids, detail)
            if record is None
            else record(at, event, record_ids, detail)
        )
        self.state = target
        return True

    def decision(self, memory: M, timers: tuple[Timer, ...]) -> Decision[M]:
        """The :class:`Decision`: the events and anomalies so far, ``memory``, ``timers``."""
        anomalies = tuple(self.anomalies) if self.anomalies else ()
        return _new(Decision, (tuple(self.events), memory, timers, anomalies))


@attrs.frozen
class MachineRun(Generic[S, E, M]):
    """The result of running a machine over a client's records.

    Attributes:
        trajectory: Every step taken in this run (a resumed run: only the new ones).
        state: The state afterwards; save it with :meth:`MachineState.to_dict`
            and :meth:`Machine.resume` it later.
        events: The events, in order (the ones the trajectory's steps took).
        anomalies: Occurrences the decider left out, with why.
    """

    trajectory: Trajectory[S, E]
    state: MachineState[S, M]
    events: tuple[tuple[datetime, E, tuple[str, ...], str], ...]
    anomalies: tuple[Evidence, ...] = ()


_OCC_KEY = itemgetter(0, 1, 2, 3)
_new = tuple.__new__  # builds a named tuple without its Python-level __new__


# --------------------------------------------------------------------------- deciders as data

#: No policy seen yet (a lookup decider's memo starts with it; None is a policy).
_NO_POLICY = object()


@attrs.frozen
class LastActivity:
    """The memory of a :class:`LookupDecider`: the client's latest activity.

    Attributes:
        last_id: The id of the record of the latest activity (None: none yet).
        last_at: Its moment.
    """

    last_id: str | None = None
    last_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_dict` reads it back)."""
        return {
            "last_id": self.last_id,
            "last_at": None if self.last_at is None else self.last_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LastActivity:
        """The memory of :meth:`to_dict`.

        Raises:
            UsageError: If ``data`` is not a saved last-activity memory.
        """
        try:
            last_id, last_at = data["last_id"], data["last_at"]
            moment = None if last_at is None else datetime.fromisoformat(last_at)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"not a saved last-activity memory: {data!r} ({exc})") from None
        if (last_id is None) != (moment is None) or not isinstance(last_id, str | None):
            raise UsageError(f"not a saved last-activity memory: {data!r}")
        if moment is not None and moment.tzinfo is None:
            raise UsageError(f"not a saved last-activity memory: {data!r} (a naive moment)")
        return cls(last_id, moment)


def _frozen_states(states: Iterable[Any]) -> frozenset[Any]:
    return frozenset(states)


def _frozen_events(events: Mapping[str, Any]) -> Mapping[str, Any]:
    return FrozenMap(events)


@attrs.frozen(kw_only=True)
class Inactivity(Generic[S, E]):
    """A timer declared as data: ``days`` after the latest activity, while in ``states``.

    After every record occurrence that leaves the client in one of ``states``,
    the timer is set (again) ``days`` after it; any later record occurrence
    replaces or cancels it. Falling due, it gives ``event``, citing the record
    of the latest activity, with ``detail`` (a template of ``{days}`` and
    ``{since}``, the latest activity's moment as :func:`format_moment` writes it).

    Attributes:
        kind: The timer's occurrence kind.
        event: The event it gives.
        states: The states it runs in.
        days: The name of the policy's attribute holding the number of days.
        priority: Its order among occurrences at the same moment (lower first).
        detail: The event's detail, a template of ``{days}`` and ``{since}``.
    """

    kind: str
    event: E
    states: frozenset[S] = attrs.field(converter=_frozen_states)
    days: str
    priority: int = 0
    detail: str = "no activity for {days} days after {since}"

    def delay(self, policy: object) -> tuple[int, timedelta]:
        """The number of days ``policy`` gives, and that as a duration.

        Raises:
            UsageError: If the policy has no such attribute, or it is not a
                whole number of days >= 1.
        """
        days = getattr(policy, self.days, None)
        if type(days) is not int or days < 1:
            raise UsageError(
                f"timer {self.kind!r}: the policy's {self.days!r} must be a whole number "
                f"of days >= 1, got {days!r} from {policy!r}"
            )
        return days, timedelta(days=days)


@attrs.frozen
class LookupDecider(Generic[S, E]):
    """A decider declared as data: each occurrence kind gives one event.

    The decider of a :class:`Machine` whose every record occurrence gives one
    event (``events[kind]``, allowed in every state: the table must have the
    row), with at most one :class:`Inactivity` timer. Being data, it is run per
    client by the runner like any decider and also folded over whole tables by
    the columnar engine (see :doc:`design`, "Machines as deciders"). Its memory
    is a :class:`LastActivity` (give ``initial_memory=LastActivity()`` and
    ``memory_from_dict=LastActivity.from_dict`` to the machine).

    Attributes:
        table: The machine's transition table.
        events: The event of each record occurrence kind (a trigger's kind).
        timer: The inactivity timer (None: none).

    Raises:
        DefinitionError: If an event is not one of the table's, an event is not
            allowed in some state, or the timer's states or event do not fit the
            table.
    """

    table: TransitionTable[S, E]
    events: Mapping[str, E] = attrs.field(converter=_frozen_events)
    timer: Inactivity[S, E] | None = None
    _armed: frozenset[tuple[S, E]] = attrs.field(init=False, eq=False, repr=False)
    _memo: list[tuple[Any, int, timedelta]] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        table = self.table
        problems: list[str] = []
        for kind, event in self.events.items():
            if event not in table.events:
                problems.append(f"occurrence kind {kind!r}: {event!r} is not an event of the table")
                continue
            missing = [_v(s) for s in table.states if event not in table._next[s]]
            if missing:
                problems.append(
                    f"occurrence kind {kind!r}: event {_v(event)!r} has no row in "
                    f"{', '.join(missing)} (a lookup decider's events are allowed everywhere)"
                )
        timer = self.timer
        if timer is not None:
            if timer.event not in table.events:
                problems.append(
                    f"timer {timer.kind!r}: {timer.event!r} is not an event of the table"
                )
            foreign = [s for s in timer.states if s not in table.states]
            if foreign:
                problems.append(f"timer {timer.kind!r}: {foreign!r} are not states of the table")
            elif timer.event in table.events:
                missing = [_v(s) for s in timer.states if timer.event not in table._next[s]]
                if missing:
                    problems.append(
                        f"timer {timer.kind!r}: event {_v(timer.event)!r} has no row in "
                        f"{', '.join(missing)}"
                    )
            if timer.kind in self.events:
                problems.append(f"timer {timer.kind!r}: the kind is also a record occurrence's")
            if type(timer.priority) is not int:
                problems.append(f"timer {timer.kind!r}: priority must be an int")
        if problems:
            raise DefinitionError(machine=table.name, problems=problems)
        states = frozenset(() if timer is None else timer.states)
        armed = frozenset(
            (s, e)
            for s in table.states
            for e in set(self.events.values())
            if table._next[s].get(e) in states
        )
        object.__setattr__(self, "_armed", armed)
        object.__setattr__(self, "_memo", [(_NO_POLICY, 0, timedelta(0))])

    @property
    def armed(self) -> frozenset[tuple[S, E]]:
        """The ``(state, event)`` pairs after which the timer is set."""
        return self._armed

    def __call__(
        self, state: MachineState[S, LastActivity], occurrence: Occurrence, policy: object
    ) -> Decision[LastActivity]:
        """Decide one occurrence (the machine's ``decide``)."""
        # Runs for every record of every client in a report: the tuples are
        # built without their Python-level constructors.
        at, _, key, _, kind, _ = occurrence
        timer = self.timer
        if timer is not None:
            # The policy's delay, worked out once per policy. The memo is one
            # tuple replaced whole, so threads sharing the decider never read a
            # delay of another policy.
            memo = self._memo[0]
            if memo[0] is not policy:
                memo = (policy, *timer.delay(policy))
                self._memo[0] = memo
            if kind == timer.kind:
                since = state.memory.last_at
                assert since is not None  # the timer is set with the memory
                detail = timer.detail.format(days=memo[1], since=format_moment(since))
                return _new(Decision, (((at, timer.event, (key,), detail),), state.memory, (), ()))
        event = self.events[kind]
        timers: tuple[Timer, ...] = ()
        if (state.state, event) in self._armed:
            assert timer is not None
            timers = (_new(Timer, (at + memo[2], timer.priority, key, timer.kind, "")),)
        return _new(Decision, (((at, event, (key,), kind),), LastActivity(key, at), timers, ()))


#: What every decision of a :class:`DeclaredDecider` may read besides its
#: registers, timers and parameters, and their kinds.
DECLARED_INPUTS: Mapping[str, str] = FrozenMap(
    {"state": "text", "at": "int", "offset": "int", "key": "text"}
)

#: The outputs every decision of a :class:`DeclaredDecider` gives, and their kinds.
DECLARED_OUTPUTS: Mapping[str, str] = FrozenMap({"event": "text", "detail": "text"})

#: The optional output naming the records an event cites (default: the occurrence's).
CITES = "cites"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_REGISTER_KINDS = ("int", "bool", "date", "text", "ids", "days")
_NOT_NULL = ("bool", "ids", "days")  # the kinds a register cannot leave missing


def micros(moment: datetime) -> int:
    """An aware moment as whole microseconds since 1970-01-01T00:00Z (exact).

    A :class:`DeclaredDecider`'s decisions read the occurrence's moment and set
    timers in this unit (integers compare and add exactly in both engines).
    """
    d = moment - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def moment_of(value: int) -> datetime:
    """The UTC moment ``value`` microseconds after 1970-01-01T00:00Z (:func:`micros` reversed)."""
    return _EPOCH + timedelta(microseconds=value)


#: The first and last moments a timer may fall due (years 1 to 9999, UTC), in
#: microseconds since 1970 (:func:`micros`).
TIMER_RANGE = (
    micros(datetime.min.replace(tzinfo=UTC)),
    micros(datetime.max.replace(tzinfo=UTC)),
)


def not_settled(machine: str, limit: int, client_id: str, key: str) -> UsageError:
    """The error of a follow-up decision that kept giving events."""
    return UsageError(
        f"machine {machine!r}: the follow-up decision gave an event {limit + 1} times in a "
        f"row for client {client_id!r} at occurrence {key!r} (more than the table's "
        f"{limit} states): it does not settle"
    )


def timer_out_of_range(machine: str, kind: str, timer: str, due: int) -> UsageError:
    """The error of a decision that set a timer outside :data:`TIMER_RANGE`."""
    return UsageError(
        f"machine {machine!r}: the decision of {kind!r} set the timer {timer!r} "
        f"{due} microseconds after 1970, outside the calendar (years 1 to 9999)"
    )


def _of_kind(value: object, kind: str) -> bool:
    if kind == "int":
        return type(value) is int
    if kind == "bool":
        return type(value) is bool
    if kind == "date":
        return type(value) is date
    if kind == "ids":
        return type(value) is tuple and all(type(v) is str for v in value)
    if kind == "days":
        return (
            type(value) is tuple
            and all(type(v) is date for v in value)
            and all(a < b for a, b in pairwise(value))
        )
    return type(value) is str


def _saved(value: Any) -> Any:
    """A register's value as JSON: days as ``YYYY-MM-DD``, tuples as lists."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_saved(v) for v in value]
    return value


@attrs.frozen
class Registers:
    """The memory of a :class:`DeclaredDecider`: each register's value, by name.

    Attributes:
        values: The values, in the decider's register order (integers, booleans,
            days, texts, tuples of record ids, tuples of distinct days oldest
            first; a day or a text may be None).
    """

    values: Mapping[str, Any] = attrs.field(converter=_frozen_events)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (days as ``YYYY-MM-DD``, record ids as lists); the
        decider's :meth:`~DeclaredDecider.memory_from_dict` reads it back."""
        return {k: _saved(v) for k, v in self.values.items()}


def _frozen(given: Mapping[str, Any]) -> Mapping[str, Any]:
    """A declared decider's mapping, frozen."""
    return FrozenMap(given)


def _frozen_fields(given: Mapping[str, Any]) -> Mapping[str, Mapping[str, str]]:
    """A declared decider's fields, frozen all the way down (what is not a mapping
    is left for the decider's check to name)."""
    return FrozenMap({k: FrozenMap(v) if isinstance(v, Mapping) else v for k, v in given.items()})


# where a decision's input comes from
_SOURCE_STATE, _SOURCE_AT, _SOURCE_KEY, _SOURCE_REGISTER, _SOURCE_TIMER, _SOURCE_PARAM = range(6)
_SOURCE_TEXT, _SOURCE_MOMENT = 6, 7  # a field of the occurrence's record
_SOURCE_OFFSET = 8
_SOURCE_RULE, _SOURCE_IDS = 9, 10  # a rule's verdict on the record; an input's record ids

#: The fields of an input (another machine's step) a declared decision may read,
#: and their kinds.
_STEP_FIELDS: Mapping[str, str] = FrozenMap(
    {"source": "text", "target": "text", "event": "text", "detail": "text", "record_ids": "ids"}
)

#: The kinds of record field a declared decision reads, and the kind it reads
#: them as (a moment as whole microseconds since 1970: :func:`micros`; an
#: input's ``record_ids`` as record ids). A field may also be a
#: :class:`~relcycle.rules.Rule` of the trigger's table: the decision reads its
#: verdict on the record (a boolean), and the columnar engine compiles the same
#: rule.
FIELD_KINDS: Mapping[str, str] = FrozenMap({"text": "text", "moment": "int", "ids": "ids"})


def _kind_text(kind: object) -> str:
    return f"rule {kind.name!r}" if isinstance(kind, Rule) else str(kind)


def _field_kind(kind: object) -> str | None:
    """The kind a declared decision reads a field of ``kind`` as (None: not a field kind)."""
    if isinstance(kind, Rule):
        return "bool"
    return FIELD_KINDS.get(kind) if isinstance(kind, str) else None


@attrs.frozen(eq=False)
class DeclaredDecider(Generic[S, E]):
    """A decider declared as data: registers, and one decision list per occurrence kind.

    The general form of a decider a compiler can read (see :doc:`design`,
    "Deciders declared as data, folded over tables"). Its memory is a
    :class:`Registers` value: a few named integers, booleans, days, texts or
    tuples of record ids. Each occurrence kind (a
    trigger's, a timer's or an input's) has a :class:`~relcycle.decisions.DecisionList`
    that reads

    - ``state`` (the machine's state, its value as text), ``at`` (the
      occurrence's moment, in microseconds since 1970-01-01T00:00Z: see
      :func:`micros`), ``offset`` (its UTC offset in seconds, the record's own;
      0 for a timer) and ``key`` (the record's id, or the timer's key);
    - any register, by its name;
    - any timer kind, by its name: when that timer falls due (microseconds), or
      None when it is not set;
    - any parameter: an attribute of the policy, by its name;
    - the fields of the occurrence's record that ``fields`` names for its kind
      (a text, or a moment as microseconds; a vocabulary's value as text;
      None where the record has none);

    and gives ``event`` (an event of the table, by value, or None for none),
    ``detail`` (the event's sentence) and, optionally, ``cites`` (the record
    ids the event cites; by default the occurrence's record, or for a timer the
    record that set it) and new values of registers and timers (a timer given
    None is cancelled; one set is keyed by the occurrence). What a decision
    does not give stays as it was. A register of kind ``ids`` keeps record ids
    (a tuple of texts) for a later event to cite.

    The runner calls it like any decider, so a machine built on it runs, resumes
    and saves its state as every machine does; the columnar engine folds it
    over whole tables round by round with the same declarations
    (:func:`relcycle.columnar.machine_steps`).

    Attributes:
        table: The machine's transition table.
        registers: Each register's kind (``int``, ``bool``, ``date``, ``text``,
            ``ids``, ``days``) and initial value, by name.
        decisions: The decision of each occurrence kind.
        timers: Each timer kind's priority (its order among occurrences at one moment).
        parameters: The policy attributes the decisions read, with their kinds.
        fields: For an occurrence kind, the fields of its records the decision
            reads, with their kinds (:data:`FIELD_KINDS`): ``{"sold": {"product":
            "text"}}``; a kind may also be a :class:`~relcycle.rules.Rule` of the
            trigger's table, read as its verdict on the record (``{"contact":
            {"inbound": INBOUND}}``), and an input reads its step's ``source``,
            ``target``, ``event``, ``detail`` (texts) and ``record_ids``. The
            machine checks that its records have them.
        then: A follow-up decision (None: none), asked after every occurrence's
            decision and again as long as it gives an event, with the state,
            registers and timers as they now stand: a machine that may take
            several steps at one occurrence (a client promoted two rungs at
            once). It reads and gives what the other decisions do; giving an
            event more times in a row than the table has states is an error.

    Raises:
        DefinitionError: If a name is used twice or is reserved, a register's
            initial value is not of its kind, a decision (the follow-up
            included) reads something the decider does not have (or of another
            kind), misses ``event`` or ``detail``, gives something that is
            neither a register, a timer nor ``cites``, gives None where it
            cannot, or names an event the table does not have, a timer kind has
            no decision, or a field is of an unknown kind, read by a timer or
            read as two kinds.
    """

    table: TransitionTable[S, E]
    registers: Mapping[str, tuple[str, Any]] = attrs.field(converter=_frozen)
    decisions: Mapping[str, DecisionList] = attrs.field(converter=_frozen)
    timers: Mapping[str, int] = attrs.field(factory=FrozenMap, converter=_frozen)
    parameters: Mapping[str, str] = attrs.field(factory=FrozenMap, converter=_frozen)
    then: DecisionList | None = None
    fields: Mapping[str, Mapping[str, str]] = attrs.field(
        factory=FrozenMap, converter=_frozen_fields
    )
    _plans: Mapping[str, tuple[Any, ...]] = attrs.field(init=False, repr=False)
    _then: tuple[Any, ...] | None = attrs.field(init=False, repr=False)
    _event_of: Mapping[str, E] = attrs.field(init=False, repr=False)
    _initial: Registers = attrs.field(init=False, repr=False)
    _memo: list[tuple[Any, Any]] = attrs.field(init=False, repr=False)
    _value_of: Mapping[Any, str] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        name = self.table.name
        problems: list[str] = []
        reserved = {*DECLARED_INPUTS, *DECLARED_OUTPUTS, CITES}
        kinds: dict[str, str] = dict(DECLARED_INPUTS)
        for group, names in (
            ("register", self.registers),
            ("timer", self.timers),
            ("parameter", self.parameters),
        ):
            for key in names:
                if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
                    problems.append(f"{group} {key!r}: not a name (letters, digits, _)")
                elif key in reserved:
                    problems.append(f"{group} {key!r}: the name is reserved")
                elif key in kinds:
                    problems.append(f"{group} {key!r}: the name is used twice")
                kinds[key] = "int"
        for key, spec in self.registers.items():
            if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0] in _REGISTER_KINDS):
                problems.append(
                    f"register {key!r}: give (kind, initial value) with a kind of "
                    f"{', '.join(_REGISTER_KINDS)}, not {spec!r}"
                )
                continue
            kind, initial = spec
            kinds[key] = kind
            if not (_of_kind(initial, kind) or (kind not in _NOT_NULL and initial is None)):
                problems.append(f"register {key!r}: initial value {initial!r} is not a {kind}")
        for key, priority in self.timers.items():
            if type(priority) is not int:
                problems.append(f"timer {key!r}: priority must be an int, not {priority!r}")
        for key, kind in self.parameters.items():
            if kind not in _REGISTER_KINDS:
                problems.append(f"parameter {key!r}: unknown kind {kind!r}")
            else:
                kinds[key] = kind
        read_as: dict[str, str] = {}  # each field's kind, the same for every occurrence kind
        for reader, reads in self.fields.items():
            if reader not in self.decisions:
                problems.append(f"fields of {reader!r}: no decision of that kind reads them")
            if reader in self.timers:
                problems.append(f"fields of {reader!r}: a timer has no record to read")
            given_fields: object = reads
            if not isinstance(given_fields, Mapping):
                problems.append(f"fields of {reader!r}: give {{field: kind}}, not {reads!r}")
                continue
            for field, given_kind in reads.items():
                if _field_kind(given_kind) is None:
                    problems.append(
                        f"field {field!r} of {reader!r}: unknown kind {given_kind!r} "
                        f"(one of {', '.join(FIELD_KINDS)}, or a relcycle.rules.Rule)"
                    )
                elif field in kinds or field in reserved or field.startswith("_"):
                    problems.append(
                        f"field {field!r} of {reader!r}: the name is a register's, a "
                        "timer's, a parameter's or reserved"
                    )
                elif read_as.setdefault(field, given_kind) != given_kind:
                    problems.append(
                        f"field {field!r}: read as {_kind_text(read_as[field])} and as "
                        f"{_kind_text(given_kind)}"
                    )
        events = {_v(e): e for e in self.table.events}
        plans: dict[str | None, tuple[Any, ...]] = {}
        asked: list[tuple[str | None, str, DecisionList]] = [
            (k, f"decision of {k!r}", d) for k, d in self.decisions.items()
        ]
        if self.then is not None:
            asked.append((None, "the follow-up decision", self.then))
        base = kinds
        for occurrence, where, decision in asked:
            own = self.fields.get(occurrence, {}) if occurrence is not None else {}
            kinds = {**base, **{f: _field_kind(k) or str(k) for f, k in own.items()}}
            given: object = decision
            if not isinstance(given, DecisionList):
                problems.append(f"{where}: {given!r} is not a DecisionList")
                continue
            for key, kind in decision.input_kinds.items():
                if key not in kinds:
                    problems.append(
                        f"{where}: reads {key!r}, which is neither state, at, offset, key, a "
                        "register, a timer, a parameter nor one of its fields"
                    )
                elif kind != kinds[key]:
                    problems.append(f"{where}: reads {key!r} as {kind}, it is {kinds[key]}")
            for key, kind in DECLARED_OUTPUTS.items():
                if decision.outputs.get(key) != kind:
                    problems.append(f"{where}: must give {key!r} as {kind}")
            for key, kind in decision.outputs.items():
                if key in DECLARED_OUTPUTS:
                    continue
                never_missing = key == CITES or (
                    key in self.registers and kinds.get(key) in _NOT_NULL
                )
                if never_missing and None in decision.constants(key):
                    problems.append(f"{where}: gives {key!r} as None, which it cannot be")
                if key == CITES:
                    if kind != "ids":
                        problems.append(f"{where}: gives {CITES!r} as {kind}, it is ids")
                    continue
                if key in self.timers:
                    wanted = "int"
                elif key in self.registers and key in kinds:
                    wanted = kinds[key]
                else:
                    problems.append(
                        f"{where}: gives {key!r}, which is neither a register nor a timer"
                    )
                    continue
                if kind != wanted:
                    problems.append(f"{where}: gives {key!r} as {kind}, it is {wanted}")
            if "event" in decision.outputs:
                for value in decision.constants("event"):
                    if value is not None and value not in events:
                        problems.append(f"{where}: event {value!r} is not an event of the table")
            if problems:
                continue
            sources: list[tuple[int, Any]] = []
            for key in decision.inputs:
                if key == "state":
                    sources.append((_SOURCE_STATE, key))
                elif key == "at":
                    sources.append((_SOURCE_AT, key))
                elif key == "key":
                    sources.append((_SOURCE_KEY, key))
                elif key == "offset":
                    sources.append((_SOURCE_OFFSET, key))
                elif key in self.registers:
                    sources.append((_SOURCE_REGISTER, key))
                elif key in self.timers:
                    sources.append((_SOURCE_TIMER, key))
                elif key in own:
                    kind = own[key]
                    if isinstance(kind, Rule):
                        sources.append((_SOURCE_RULE, kind.test))
                    elif kind == "ids":
                        sources.append((_SOURCE_IDS, key))
                    else:
                        sources.append((_SOURCE_MOMENT if kind == "moment" else _SOURCE_TEXT, key))
                else:
                    sources.append((_SOURCE_PARAM, key))
            outs = tuple(decision.outputs)
            plans[occurrence] = (
                decision,
                _arguments(sources, name),
                any(source == _SOURCE_TIMER for source, _ in sources),
                outs.index("event"),
                outs.index("detail"),
                outs.index(CITES) if CITES in outs else None,
                tuple((i, k) for i, k in enumerate(outs) if k in self.registers),
                tuple((i, k) for i, k in enumerate(outs) if k in self.timers),
            )
        for key in self.timers:
            if key not in self.decisions:
                problems.append(f"timer {key!r} has no decision (it would fall due undecided)")
        if problems:
            raise DefinitionError(machine=name, kind="declared decider", problems=problems)
        object.__setattr__(self, "_then", plans.pop(None, None))
        object.__setattr__(self, "_plans", plans)
        object.__setattr__(self, "_event_of", events)
        object.__setattr__(
            self, "_initial", Registers({k: spec[1] for k, spec in self.registers.items()})
        )
        object.__setattr__(self, "_memo", [(_NO_POLICY, ())])
        object.__setattr__(self, "_value_of", {s: _v(s) for s in self.table.states})

    @property
    def initial_memory(self) -> Registers:
        """The registers' initial values (give it as the machine's ``initial_memory``)."""
        return self._initial

    def machine(
        self, triggers: Iterable[Trigger], *, input_kinds: Iterable[str] = ()
    ) -> Machine[S, E, Registers, Any]:
        """The :class:`Machine` of this decider: its table, ``triggers``, this decider,
        its registers' initial values and reader, its timers and ``input_kinds``.

        Raises:
            DefinitionError: What the machine's constructor raises (a trigger
                kind without a decision, a field its records do not have, ...).
        """
        return Machine(
            table=self.table,
            triggers=tuple(triggers),
            decide=self,
            initial_memory=self._initial,
            memory_from_dict=self.memory_from_dict,
            timer_kinds=frozenset(self.timers),
            input_kinds=frozenset(input_kinds),
        )

    def memory_from_dict(self, data: Mapping[str, Any]) -> Registers:
        """The registers of :meth:`Registers.to_dict` (the machine's ``memory_from_dict``).

        Raises:
            UsageError: If ``data`` does not hold exactly this decider's
                registers, each of its kind.
        """
        if not isinstance(data, Mapping) or set(data) != set(self.registers):
            raise UsageError(f"not saved registers of machine {self.table.name!r}: {data!r}")
        values: dict[str, Any] = {}
        for key, (kind, _) in self.registers.items():
            value = data[key]
            if kind == "date" and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = date.fromisoformat(value)
            if kind == "ids" and isinstance(value, list):
                value = tuple(value)
            if kind == "days" and isinstance(value, list):
                with contextlib.suppress(ValueError, TypeError):
                    value = tuple(date.fromisoformat(v) for v in value)
            if not (_of_kind(value, kind) or (kind not in _NOT_NULL and value is None)):
                raise UsageError(
                    f"not saved registers of machine {self.table.name!r}: "
                    f"{key} = {data[key]!r} is not a {kind}"
                )
            values[key] = value
        return Registers(values)

    def parameter_values(self, policy: object) -> tuple[Any, ...]:
        """The parameters read from ``policy``, in declaration order.

        Raises:
            UsageError: If the policy lacks one or holds a value of another kind.
        """
        found = []
        for key, kind in self.parameters.items():
            value = getattr(policy, key, _NO_POLICY)
            if value is _NO_POLICY:
                raise UsageError(
                    f"machine {self.table.name!r}: the policy {policy!r} has no {key!r}"
                )
            if not _of_kind(value, kind):
                raise UsageError(
                    f"machine {self.table.name!r}: the policy's {key} = {value!r} is not a {kind}"
                )
            found.append(value)
        return tuple(found)

    def __call__(
        self, state: MachineState[S, Registers], occurrence: Occurrence, policy: object
    ) -> Decision[Registers]:
        """Decide one occurrence (the machine's ``decide``)."""
        at, _, key, _, kind, record = occurrence
        plan = self._plans.get(kind)
        if plan is None:
            raise UsageError(
                f"machine {self.table.name!r}: no decision for occurrence kind {kind!r}"
            )
        memo = self._memo[0]
        if memo[0] is not policy:
            memo = (policy, dict(zip(self.parameters, self.parameter_values(policy), strict=True)))
            self._memo[0] = memo
        params = memo[1]
        memory = state.memory.values
        # the registers as a plain dict (a FrozenMap's own), read by name below
        values: dict[str, Any] = memory._data if type(memory) is FrozenMap else dict(memory)
        copied = False
        pending: dict[str, Timer] | None = None  # built when a decision reads or sets one
        current = state.state
        events: list[tuple[datetime, E, tuple[str, ...], str]] = []
        follow, limit = self._then, len(self.table.states)
        value_of = self._value_of
        asked = 0
        at_us = micros(at)
        offset = at.utcoffset()
        seconds = 0 if offset is None else offset // _SECOND
        due: dict[str, int] | None = None  # the timers' moments, when a decision reads them
        # whether the follow-up reads the timers a decision sets
        reads_later = follow is not None and follow[2]
        while True:
            decision, arguments, reads, at_event, at_detail, at_cites, registers, timers = plan
            if due is None and reads:
                due = {t.kind: micros(t.at) for t in state.timers}
            out = decision.function(
                *arguments(values, value_of[current], at_us, seconds, key, due, record, params)
            )
            if registers:
                if not copied:
                    values, copied = dict(values), True
                for i, register in registers:
                    values[register] = out[i]
            if timers:
                if pending is None:
                    pending = {t.kind: t for t in state.timers}
                # the moments the follow-up reads, as this decision leaves them
                later: dict[str, int] | None = None
                if reads_later:
                    later = (
                        {t.kind: micros(t.at) for t in state.timers} if due is None else dict(due)
                    )
                for i, timer_kind in timers:
                    moment = out[i]
                    if moment is None:
                        pending.pop(timer_kind, None)
                        if later is not None:
                            later.pop(timer_kind, None)
                    else:
                        if not TIMER_RANGE[0] <= moment <= TIMER_RANGE[1]:
                            raise timer_out_of_range(self.table.name, kind, timer_kind, moment)
                        pending[timer_kind] = _new(
                            Timer,
                            (moment_of(moment), self.timers[timer_kind], key, timer_kind, ""),
                        )
                        if later is not None:
                            later[timer_kind] = moment
                if later is not None:
                    due = later
            event = out[at_event]
            if event is not None:
                found = self._event_of.get(event)
                if found is None:
                    raise UsageError(
                        f"machine {self.table.name!r}: the decision of {kind!r} gave the "
                        f"event {event!r}, not an event of the table"
                    )
                cites = (key,) if at_cites is None else out[at_cites]
                events.append((at, found, cites, out[at_detail] or ""))
                current = self.table.step(current, found)  # the runner's error if illegal
            if follow is None or (asked and event is None):
                break
            if asked > limit:
                raise not_settled(self.table.name, limit, state.client_id, key)
            plan, kind = follow, "then"
            asked += 1
        kept = state.memory if not copied else _registers(values)
        scheduled = state.timers if pending is None else tuple(sorted(pending.values()))
        return _new(Decision, (tuple(events), kept, scheduled, ()))


def _registers(values: dict[str, Any]) -> Registers:
    """``Registers(values)`` for a dict of our own: built without copying it again."""
    frozen: FrozenMap[str, Any] = FrozenMap.__new__(FrozenMap)
    frozen._data, frozen._hash = values, None
    memory: Registers = object.__new__(Registers)
    object.__setattr__(memory, "values", frozen)
    return memory


def _text_of(value: object) -> object:
    """A record's field as a decision reads it: a vocabulary's value as its text."""
    return value.value if isinstance(value, Enum) else value


def _moment_of(value: datetime | None) -> int | None:
    return None if value is None else micros(value)


def _arguments(sources: Sequence[tuple[int, Any]], machine: str) -> Callable[..., tuple[Any, ...]]:
    """One function that gathers a decision's inputs, in order, from the registers
    ``v``, the state's value, the moment (microseconds) and its offset (seconds),
    the key, the timers' due moments ``t``, the record ``r`` and the parameters ``p``:
    written once per decision, so an occurrence costs no loop over its inputs."""
    consts: dict[str, Any] = {"_text_of": _text_of, "_moment_of": _moment_of}
    parts = []
    for n, (source, name) in enumerate(sources):
        if source == _SOURCE_REGISTER:
            parts.append(f"v[{name!r}]")
        elif source == _SOURCE_STATE:
            parts.append("sv")
        elif source == _SOURCE_AT:
            parts.append("us")
        elif source == _SOURCE_KEY:
            parts.append("key")
        elif source == _SOURCE_OFFSET:
            parts.append("off")
        elif source == _SOURCE_TIMER:
            parts.append(f"t.get({name!r})")
        elif source == _SOURCE_TEXT:
            parts.append(f"_text_of(getattr(r, {name!r}))")
        elif source == _SOURCE_MOMENT:
            parts.append(f"_moment_of(getattr(r, {name!r}))")
        elif source == _SOURCE_RULE:
            consts[f"_rule{n}"] = name  # the rule's test
            parts.append(f"_rule{n}(r)")
        elif source == _SOURCE_IDS:
            parts.append(f"tuple(getattr(r, {name!r}))")
        else:
            parts.append(f"p[{name!r}]")
    listed = "".join(f"{part}, " for part in parts)  # "()" for a decision with no input
    code = f"def arguments(v, sv, us, off, key, t, r, p):\n    return ({listed})\n"
    found: dict[str, Any] = {}
    exec(compile(code, f"<inputs of {machine}>", "exec"), consts, found)  # our own code
    return cast("Callable[..., tuple[Any, ...]]", found["arguments"])


@attrs.frozen
class Machine(Generic[S, E, M, P]):
    """A machine that reads records: a table, a trigger table and a pure decider.

    The constructor checks the trigger table (every trigger's rule reads one
    record of a known table, its moment field exists). The runner
    (:meth:`run`, :meth:`resume`) turns a client's records into occurrences
    through the triggers, merges them with the timers the state holds, and takes them in order (see
    :class:`Occurrence`): for each one ``decide(state, occurrence, policy)``
    gives a :class:`Decision`, whose events are folded through
    :meth:`TransitionTable.step` (``evolve``), and whose memory and timers
    become the next state's. A timer falls due when nothing earlier is left:
    before any occurrence that sorts after it, and at the end of a run when it
    is due by ``as_of``.

    Attributes:
        table: The transition table (states, events, diagrams).
        triggers: The trigger table, in declaration order.
        decide: The decider: ``(state, occurrence, policy) -> Decision``.
        initial_memory: The memory of a client with no occurrence yet.
        memory_from_dict: Reads a memory back from its ``to_dict()``.
        timer_kinds: The kinds of timers the decider schedules.
        input_kinds: The kinds of the occurrences the machine takes from
            outside its records (another machine's transitions, see
            :func:`transitions_as_occurrences`), given to :meth:`run` and
            :meth:`resume` as ``inputs``.
    """

    table: TransitionTable[S, E]
    triggers: tuple[Trigger, ...]
    decide: Callable[[MachineState[S, M], Occurrence, P], Decision[M]]
    initial_memory: M
    memory_from_dict: Callable[[Mapping[str, Any]], M]
    timer_kinds: frozenset[str] = frozenset()
    input_kinds: frozenset[str] = frozenset()
    _scan: _Scan = attrs.field(init=False, eq=False, repr=False)
    _guards: Mapping[str, frozenset[Any]] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        by_table: dict[str, list[tuple[Trigger, str]]] = {}
        guards: dict[str, frozenset[Any] | None] = {}
        given: tuple[object, ...] = self.triggers
        for trigger in given:
            if not isinstance(trigger, Trigger):
                problems.append(f"{trigger!r} is not a Trigger")
                continue
            rule = trigger.rule
            table = getattr(rule, "table", None)
            if table not in _TABLES or not callable(rule):
                problems.append(f"trigger {trigger.kind!r}: {rule!r} is not a record rule")
                continue
            if getattr(rule, "reads_as_of", False):
                problems.append(
                    f"trigger {trigger.kind!r}: rule {rule.name!r} reads the moment "
                    "(a trigger reads one record)"
                )
            if not isinstance(trigger.kind, str) or not trigger.kind:
                problems.append(f"trigger {trigger!r}: the kind must be a non-empty string")
            if type(trigger.priority) is not int:
                problems.append(f"trigger {trigger.kind!r}: priority must be an int")
            if trigger.states is not None:
                foreign = [x for x in trigger.states if x not in self.table.states]
                if foreign:
                    problems.append(
                        f"trigger {trigger.kind!r}: {foreign!r} are not states of the machine"
                    )
            if guards.setdefault(trigger.kind, trigger.states) != trigger.states:
                problems.append(f"triggers of kind {trigger.kind!r} have different guards")
            moment = _moment_field(table) if trigger.at is None else trigger.at
            if not isinstance(moment, str) or moment not in _record_fields(table):
                problems.append(
                    f"trigger {trigger.kind!r}: {trigger.at!r} is not a field of {table}"
                )
                continue
            by_table.setdefault(table, []).append((trigger, moment))
        if not isinstance(self.timer_kinds, frozenset) or not all(
            isinstance(k, str) for k in self.timer_kinds
        ):
            problems.append(f"timer_kinds must be a frozenset of strings, not {self.timer_kinds!r}")
        if not isinstance(self.input_kinds, frozenset) or not all(
            isinstance(k, str) for k in self.input_kinds
        ):
            problems.append(f"input_kinds must be a frozenset of strings, not {self.input_kinds!r}")
        decider = self.decide
        if isinstance(decider, LookupDecider):
            if decider.table is not self.table:
                problems.append("the lookup decider's table is not the machine's")
            unknown = sorted(
                {t.kind for t in given if isinstance(t, Trigger)} - set(decider.events)
            )
            if unknown:
                problems.append(
                    f"the lookup decider gives no event for the trigger kinds {', '.join(unknown)}"
                )
            timer = decider.timer
            if timer is not None and timer.kind not in self.timer_kinds:
                problems.append(f"the lookup decider's timer {timer.kind!r} is not in timer_kinds")
        if isinstance(decider, DeclaredDecider):
            if decider.table is not self.table:
                problems.append("the declared decider's table is not the machine's")
            kinds = {t.kind for t in given if isinstance(t, Trigger)} | set(self.input_kinds)
            for trigger in given:
                if not isinstance(trigger, Trigger):
                    continue
                table = getattr(trigger.rule, "table", None)
                wanted = decider.fields.get(trigger.kind, {})
                if table in _TABLES and wanted:
                    plain = {f for f, k in wanted.items() if not isinstance(k, Rule)}
                    missing = sorted(plain - _record_fields(table))
                    if missing:
                        problems.append(
                            f"the declared decider reads {', '.join(missing)} of the "
                            f"{trigger.kind!r} occurrences, which {table} do not have"
                        )
                    listed = sorted(f for f in plain if wanted[f] == "ids")
                    if listed:
                        problems.append(
                            f"the declared decider reads {', '.join(listed)} of the "
                            f"{trigger.kind!r} occurrences as record ids: only an input's "
                            "record_ids are"
                        )
                    timed = sorted(
                        f for f, k in wanted.items() if isinstance(k, Rule) and k.reads_as_of
                    )
                    if timed:
                        problems.append(
                            f"the declared decider reads {', '.join(timed)} of the "
                            f"{trigger.kind!r} occurrences with a rule that reads the moment "
                            "(a field reads one record)"
                        )
                    foreign = sorted(
                        f for f, k in wanted.items() if isinstance(k, Rule) and k.table != table
                    )
                    if foreign:
                        problems.append(
                            f"the declared decider reads {', '.join(foreign)} of the "
                            f"{trigger.kind!r} occurrences with a rule over another table "
                            f"than {table}"
                        )
            for taken in self.input_kinds:
                wanted = decider.fields.get(taken, {})
                odd = sorted(f for f, k in wanted.items() if _STEP_FIELDS.get(f) != k)
                if odd:
                    step_fields = ", ".join(f"{f} ({k})" for f, k in _STEP_FIELDS.items())
                    problems.append(
                        f"the declared decider reads {', '.join(odd)} of the {taken!r} inputs: "
                        f"an input's fields are {step_fields}"
                    )
            shared = sorted(kinds & set(decider.timers))
            if shared:
                problems.append(
                    f"the kinds {', '.join(shared)} are both a timer's and a trigger's "
                    "or an input's (one decision cannot tell them apart)"
                )
            undecided = sorted(kinds - set(decider.decisions))
            if undecided:
                problems.append(
                    f"the declared decider has no decision for the kinds {', '.join(undecided)}"
                )
            if set(decider.timers) != set(self.timer_kinds):
                mine = ", ".join(sorted(decider.timers)) or "none"
                theirs = ", ".join(sorted(self.timer_kinds)) or "none"
                problems.append(
                    f"the declared decider's timers ({mine}) are not the machine's "
                    f"timer_kinds ({theirs})"
                )
        if problems:
            raise DefinitionError(machine=self.table.name, problems=problems)
        object.__setattr__(self, "_guards", {k: g for k, g in guards.items() if g is not None})
        object.__setattr__(self, "_scan", _compile_scan(self.table.name, by_table))

    @property
    def name(self) -> str:
        """The machine's name (its table's)."""
        return self.table.name

    def initial_state(self, client_id: str, *, start: S | None = None) -> MachineState[S, M]:
        """The state of a client with no occurrence yet (in ``start``, or the initial state).

        Raises:
            UsageError: If ``start`` is not a state of this machine.
        """
        if start is not None:
            self.table._row(start)  # a foreign state is a clear error
        state = self.table.initial if start is None else start
        return MachineState(client_id, state, self.initial_memory, (), None)

    def occurrences(
        self, history: ClientHistory, *, after: datetime | None, as_of: datetime
    ) -> list[Occurrence]:
        """The occurrences the triggers find in ``history`` in ``(after, as_of]``, in order.

        Args:
            history: The client's records.
            after: Leave out occurrences at or before this moment (None: none).
            as_of: Leave out occurrences after this moment.
        """
        occ: list[Occurrence] = []
        self._scan(history, after, as_of, occ.append)
        occ.sort(key=_OCC_KEY)
        return occ

    def run(
        self,
        history: ClientHistory,
        *,
        as_of: datetime,
        policy: P,
        start: S | None = None,
        evidence_budget: int | None = None,
        inputs: Iterable[Occurrence] = (),
    ) -> MachineRun[S, E, M]:
        """Run the machine over a client's records up to ``as_of``.

        Args:
            history: The client's history.
            as_of: The moment (timezone-aware); later records are ignored.
            policy: The decider's policy.
            start: The table state to start in (the initial state by default).
            evidence_budget: The most record ids the run's events may cite in all
                (None: no limit); a guard against one client whose evidence would
                exhaust memory (a million complaints open at once).
            inputs: Occurrences from outside the records, of the machine's
                ``input_kinds`` (another machine's transitions, from
                :func:`transitions_as_occurrences`); those after ``as_of`` are
                left out, the others are taken in order with the records'.

        Raises:
            ValidationError: If ``as_of`` is not timezone-aware.
            UsageError: If an input is not an :class:`Occurrence` of one of the
                machine's ``input_kinds``.
            IllegalTransitionError: If a decision holds an event its state does
                not allow (a strict decider raises it itself, naming the records).
            BudgetError: If the events cite more record ids than ``evidence_budget``.
        """
        from .history import check_as_of

        moment = check_as_of(as_of)
        state = (
            _new(
                MachineState, (history.client_id, self.table.initial, self.initial_memory, (), None)
            )
            if start is None
            else self.initial_state(history.client_id, start=start)
        )
        occ = self.occurrences(history, after=None, as_of=moment)
        if inputs:
            self._take_inputs(occ, inputs, after=None, as_of=moment)
        return self._advance(state, occ, moment, policy, evidence_budget)

    def resume(
        self,
        state: MachineState[S, M],
        records: ClientHistory | Iterable[Order | Interaction | Complaint],
        *,
        as_of: datetime,
        policy: P,
        evidence_budget: int | None = None,
        inputs: Iterable[Occurrence] = (),
    ) -> MachineRun[S, E, M]:
        """Go on from a saved state with the records known now, up to ``as_of``.

        Only occurrences after ``state.as_of`` are taken in (the records may be the
        whole history, or just those new or changed since: a complaint closed
        since, say), so the result is that of a full replay to ``as_of`` with the
        same policy: the same final state, and the same steps and anomalies after
        ``state.as_of``.

        Args:
            state: A state of this machine (from a run, or :meth:`MachineState.from_dict`).
            records: The client's history, or its records.
            as_of: The moment (timezone-aware), not before ``state.as_of``.
            policy: The policy the state was built with.
            evidence_budget: As for :meth:`run`, for the events of this stretch.
            inputs: As for :meth:`run`; only those after ``state.as_of`` are
                taken in (the other machine's whole trajectory will do).

        Raises:
            UsageError: If ``as_of`` is before ``state.as_of``, the records
                belong to another client, or an input is not an
                :class:`Occurrence` of one of the machine's ``input_kinds``.
            ValidationError: If ``as_of`` is not timezone-aware.
            BudgetError: If the events cite more record ids than ``evidence_budget``.
        """
        from .history import ClientHistory, check_as_of

        moment = check_as_of(as_of)
        if state.as_of is not None and moment < state.as_of:
            raise UsageError(
                f"machine {self.name!r}: as_of {moment.isoformat()} is before the saved "
                f"state's {state.as_of.isoformat()}"
            )
        self.table._row(state.state)
        history = (
            records
            if isinstance(records, ClientHistory)
            else ClientHistory.of(state.client_id, records)
        )
        if history.client_id != state.client_id:
            raise UsageError(
                f"machine {self.name!r}: the records belong to client {history.client_id!r}, "
                f"the state to client {state.client_id!r}"
            )
        occ = self.occurrences(history, after=state.as_of, as_of=moment)
        if inputs:
            self._take_inputs(occ, inputs, after=state.as_of, as_of=moment)
        return self._advance(state, occ, moment, policy, evidence_budget)

    def _take_inputs(
        self,
        occ: list[Occurrence],
        inputs: Iterable[Occurrence],
        *,
        after: datetime | None,
        as_of: datetime,
    ) -> None:
        """Add the inputs in ``(after, as_of]`` to the records' occurrences, in order."""
        kinds = self.input_kinds
        for o in inputs:
            if type(o) is not Occurrence or o.kind not in kinds:
                known = ", ".join(sorted(kinds)) or "none"
                raise UsageError(
                    f"machine {self.name!r}: input {o!r} is not an occurrence of one of "
                    f"its input kinds ({known})"
                )
            if o.at <= as_of and (after is None or o.at > after):
                occ.append(o)
        occ.sort(key=_OCC_KEY)

    def _advance(
        self,
        state: MachineState[S, M],
        occurrences: list[Occurrence],
        as_of: datetime,
        policy: P,
        budget: int | None = None,
    ) -> MachineRun[S, E, M]:
        decide = self.decide
        cited = 0
        nxt = self.table._next
        kinds = self.timer_kinds
        start = state.state
        steps: list[Step[S, E]] = []
        events: list[tuple[datetime, E, tuple[str, ...], str]] = []
        anomalies: list[Evidence] = []
        add_step, add_event = steps.append, events.append
        new, step_cls, occ_cls, state_cls = tuple.__new__, Step, Occurrence, MachineState
        client_id, current, memory, timers, _ = state
        guards = self._guards
        n = len(occurrences)
        i = 0
        while True:
            if i < n:
                occ = occurrences[i]
                if timers and (
                    (t := timers[0])[0] < occ[0]
                    or (t[0] == occ[0] and (t[1], t[2], -1) < (occ[1], occ[2], occ[3]))
                ):
                    occ = new(occ_cls, (t.at, t.priority, t.key, -1, t.kind, t))
                    timers = timers[1:]
                else:
                    i += 1
                    if guards and (g := guards.get(occ[4])) is not None and current not in g:
                        continue  # a guarded trigger outside its states
            elif timers and timers[0].at <= as_of:
                t = timers[0]
                occ = new(occ_cls, (t.at, t.priority, t.key, -1, t.kind, t))
                timers = timers[1:]
            else:
                break
            decision = decide(
                new(state_cls, (client_id, current, memory, timers, occ[0])), occ, policy
            )
            if budget is not None:
                cited += sum(len(event[2]) for event in decision[0])
                if cited > budget:
                    raise BudgetError(
                        client_id=client_id, budget=budget, what="record ids cited as evidence"
                    )
            emitted, memory, scheduled, ignored = decision
            for event in emitted:
                at, kind_of_event, ids, detail = event
                try:
                    target = nxt[current][kind_of_event]
                except KeyError:
                    self.table.step(current, kind_of_event)  # raises the IllegalTransitionError
                    raise  # pragma: no cover - step() always raises here
                add_step(new(step_cls, (at, current, target, kind_of_event, ids, detail)))
                add_event(event)
                current = target
            if scheduled is not timers:
                # one timer or none (the common case) needs no sort
                timers = tuple(scheduled) if len(scheduled) < 2 else tuple(sorted(scheduled))
                for t in timers:
                    if t[3] not in kinds:
                        raise UsageError(
                            f"machine {self.name!r}: the decider scheduled a timer of kind "
                            f"{t.kind!r}, not one of its timer kinds"
                        )
            if ignored:
                anomalies.extend(ignored)
        final = new(MachineState, (client_id, current, memory, timers, as_of))
        return MachineRun(Trajectory(start, tuple(steps)), final, tuple(events), tuple(anomalies))


#: A machine's compiled trigger table: ``scan(history, after, as_of, add)``
#: calls ``add`` with every occurrence the triggers find, table by table.
_Scan = Callable[[Any, "datetime | None", datetime, Callable[[Occurrence], None]], None]


def _compile_scan(name: str, by_table: Mapping[str, list[tuple[Trigger, str]]]) -> _Scan:
    """Compile a machine's trigger table into one function (the runner's hot loop).

    Each trigger's rule is written inline (a :class:`~relcycle.rules.Rule` as
    its :meth:`~relcycle.rules.Rule.python_source`, any other record rule as a
    call), so a record costs
    one pass through straight-line tests instead of a call per trigger. A
    record's first occurrence is added at once; a later trigger of the same
    record goes through :func:`_later`, which gives it the priority of an
    earlier occurrence at the same moment (see :class:`Occurrence`).
    """
    from .rules import ID_FIELD, Rule

    consts: list[Any] = []

    def const(value: object) -> str:
        consts.append(value)
        return f"_c{len(consts) - 1}"

    lines = ["def scan(history, after, as_of_, add):"]
    for table, rows in by_table.items():
        key = f"r.{ID_FIELD[table]}"
        lines.append(f"    for r in history.{table}:")
        if len(rows) > 1:
            lines.append("        n = 0")
        for i, (trigger, moment) in enumerate(rows):
            rule = trigger.rule
            test = rule.python_source(consts) if isinstance(rule, Rule) else f"{const(rule)}(r)"
            kind, priority = const(trigger.kind), const(trigger.priority)
            occ = f"_new(_Occ, (at, {priority}, {key}, 0, {kind}, r))"
            lines += [
                f"        if {test}:",
                f"            at = r.{moment}",
                "            if at is not None and at <= as_of_ and (after is None or at > after):",
            ]
            if len(rows) == 1:
                lines.append(f"                add({occ})")
                continue
            first = [
                f"                add({occ})",
                f"                n, first_at, first_priority, seen = 1, at, {priority}, None",
            ]
            if i == 0:
                lines += first
                continue
            lines.append("                if n:")
            lines.append(
                f"                    seen = _later(seen, first_at, first_priority, at, "
                f"{priority}, {key}, {kind}, r, add)"
            )
            lines.append("                else:")
            lines += ["    " + line for line in first]
    lines.append("    return None")
    namespace: dict[str, Any] = {f"_c{i}": c for i, c in enumerate(consts)}
    namespace.update(_new=tuple.__new__, _Occ=Occurrence, _later=_later)
    exec(compile("\n".join(lines), f"<triggers of {name}>", "exec"), namespace)  # our own text
    scan: _Scan = namespace["scan"]
    return scan


def _later(
    seen: dict[datetime, tuple[int, int]] | None,
    first_at: datetime,
    first_priority: int,
    at: datetime,
    priority: int,
    key: str,
    kind: str,
    record: Any,
    add: Callable[[Occurrence], None],
) -> dict[datetime, tuple[int, int]]:
    """Add a record's second or later occurrence.

    A record's later trigger at the same moment as an earlier one comes right
    after it (it takes the earlier one's priority); ``seen`` is
    ``{moment: (priority, sub)}`` of the record's occurrences so far.
    """
    if seen is None:
        seen = {first_at: (first_priority, 0)}
    sub = 0
    prior = seen.get(at)
    if prior is not None:
        priority, sub = prior[0], prior[1] + 1
    seen[at] = (priority, sub)
    add(_new(Occurrence, (at, priority, key, sub, kind, record)))
    return seen


def _moment_field(table: str) -> str:
    from .rules import MOMENT_FIELD

    return MOMENT_FIELD[table]


def _record_fields(table: str) -> frozenset[str]:
    from .rules import RECORD_CLASS

    return frozenset(a.name for a in attrs.fields(RECORD_CLASS[table]))
