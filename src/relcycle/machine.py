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
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Generic, NamedTuple, TypeVar

import attrs

from .errors import DefinitionError, IllegalTransitionError, UsageError

__all__ = ["Step", "Trajectory", "TransitionTable"]

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


def _v(member: Enum) -> str:
    return str(member.value)


@attrs.frozen
class TransitionTable(Generic[S, E]):
    """An immutable, validated ``(state, event) -> state`` table.

    Build it with :meth:`define`.

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
    _next: Mapping[S, Mapping[E, S]] = attrs.field(eq=False, repr=False)

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
        all_states = tuple(states)
        all_events = tuple(events)
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
            source_list: Sequence[S] = (
                [sources] if isinstance(sources, Enum | str) else list(sources)
            )
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
                    f"states unreachable from {_v(initial)}: "
                    + ", ".join(_v(s) for s in unreachable)
                )
                offending.update(_v(s) for s in unreachable)
            traps = [
                s
                for s in all_states
                if s not in terminal_set and all(t == s for t in nxt[s].values())
            ]
            if traps:
                problems.append(
                    "trap states (not terminal, no transition out): "
                    + ", ".join(_v(s) for s in traps)
                )
                offending.update(_v(s) for s in traps)
        if problems:
            raise DefinitionError(machine=name, problems=problems, states=offending)
        return cls(
            name=name,
            states=all_states,
            events=all_events,
            initial=initial,
            terminal=terminal_set,
            rows=tuple(expanded),
            next=nxt,
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
