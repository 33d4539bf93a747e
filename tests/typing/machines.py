"""Type-checking example: a TransitionTable keeps its state and event types (``mypy --strict``).

Not collected by pytest: it is checked by ``mypy --strict src tests/typing`` and
runs as a plain script.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import assert_type

from relcycle import IllegalTransitionError, Step, Trajectory, TransitionTable
from relcycle._vocab import OrderedVocab, Vocab


class Door(OrderedVocab):
    """States of a door, least secure first."""

    open = "open"
    closed = "closed"
    locked = "locked"


class Act(Vocab):
    """What can happen to a door."""

    push = "push"
    pull = "pull"
    lock = "lock"
    unlock = "unlock"


TABLE = TransitionTable.define(
    name="door",
    states=Door,
    events=Act,
    initial=Door.closed,
    rows=[
        (Door.closed, Act.push, Door.open),
        (Door.open, Act.pull, Door.closed),
        (Door.closed, Act.lock, Door.locked),
        (Door.locked, Act.unlock, Door.closed),
        ((Door.open, Door.locked), Act.push, Door.open),
    ],
)
assert_type(TABLE, TransitionTable[Door, Act])

AT = datetime(2024, 1, 1, tzinfo=UTC)

state = TABLE.step(Door.closed, Act.push)
assert_type(state, Door)
assert_type(TABLE.allowed(state), tuple[Act, ...])
assert_type(TABLE.successors(state), dict[Act, Door])

trajectory = TABLE.fold(
    [
        (AT, Act.lock, ("r1",), "locked for the night"),
        (AT + timedelta(hours=8), Act.unlock, ("r2",), "opened in the morning"),
    ]
)
assert_type(trajectory, Trajectory[Door, Act])
assert_type(trajectory.state, Door)
assert_type(trajectory.state_at(AT), Door)
assert_type(trajectory.since(), datetime | None)
assert_type(trajectory.time_in_states(AT + timedelta(days=1)), dict[Door, timedelta])

first: Step[Door, Act] = trajectory.steps[0]
assert_type(first.event, Act)
assert_type(first.target, Door)
assert_type(first.record_ids, tuple[str, ...])

try:
    TABLE.step(Door.locked, Act.pull)
except IllegalTransitionError as err:
    assert_type(err.allowed, tuple[str, ...])

assert_type(TABLE.to_mermaid(), str)
