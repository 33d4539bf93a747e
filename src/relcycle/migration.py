"""Migration between two dates: where each client was at date A and at date B.

:func:`migration_matrix` is generic: the states can be ladder rungs, lifecycle
stages, segments or value classes, anything hashable given in an ``order``. It
counts the clients in each ``(before, after)`` cell, sums their value, and lists
the clients that moved to a better state (promotions), to a worse one
(demotions), entered (absent at A) and left (absent at B). Which way is better
follows each order's direction (``later_is_better``): a later ladder rung is
better, a later lifecycle stage (more severe) or value class is worse, and
motivation segments have no direction (their moves are only ``moved``). Every
client of the portfolio is in exactly one cell, so the counts always sum to the
portfolio's size.

A state of ``None`` means "absent at that date" (not yet a client, or no longer
on the ladder).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import attrs

from relcycle._args import checked

from ._repr import count, short_repr
from .errors import CurrencyMismatchError, RecordTypeError, UsageError, ValidationError
from .history import ClientHistory
from .model import FrozenMap

__all__ = ["ABSENT", "MigrationMatrix", "Move", "migration_matrix", "revenue_between"]

V = TypeVar("V", bound=Hashable)

#: The label of the "absent" row and column in :meth:`MigrationMatrix.to_dict`.
ABSENT = "(absent)"


def _label(state: Hashable | None) -> str:
    if state is None:
        return ABSENT
    value = getattr(state, "value", state)
    return str(value)


@attrs.frozen
class Move(Generic[V]):
    """One client's states at the two dates.

    Attributes:
        client_id: The client's id.
        before: Its state at date A (None: absent).
        after: Its state at date B (None: absent).
        value: Its value (0 when no values were given).
    """

    client_id: str
    before: V | None
    after: V | None
    value: Decimal

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (states by label, value as a string)."""
        return {
            "client_id": self.client_id,
            "before": None if self.before is None else _label(self.before),
            "after": None if self.after is None else _label(self.after),
            "value": str(self.value),
        }


@attrs.frozen
class MigrationMatrix(Generic[V]):
    """A matrix of state at date A x state at date B, with counts and values.

    Attributes:
        order: The states in the order given (rows and columns, before the absent one).
        moves: Every client with its two states, sorted by client id.
        counts: ``{(before, after): number of clients}`` for the non-empty cells.
        values: ``{(before, after): total value}`` for the non-empty cells.
        later_is_better: True if a later state in ``order`` is better (the
            ladder's rungs), False if it is worse (the lifecycle's stages, value
            classes), None if the states have no direction (segments).
    """

    order: tuple[V, ...]
    moves: tuple[Move[V], ...]
    counts: FrozenMap[tuple[V | None, V | None], int]
    values: FrozenMap[tuple[V | None, V | None], Decimal]
    _rank: Mapping[V, int] = attrs.field(eq=False, repr=False)
    later_is_better: bool | None = True

    @property
    def total(self) -> int:
        """The number of clients (the portfolio's size)."""
        return len(self.moves)

    def __repr__(self) -> str:
        return short_repr(
            "MigrationMatrix",
            count(len(self.order), "state"),
            count(self.total, "client"),
            f"{len(self.promotions):,} up",
            f"{len(self.demotions):,} down",
            f"{len(self.stayed):,} stayed",
            f"{len(self.entered):,} entered",
            f"{len(self.left):,} left",
        )

    @property
    def total_value(self) -> Decimal:
        """The value of all clients."""
        return sum((m.value for m in self.moves), Decimal(0))

    def count(self, before: V | None, after: V | None) -> int:
        """The number of clients that were in ``before`` at A and ``after`` at B."""
        return self.counts.get((before, after), 0)

    def value(self, before: V | None, after: V | None) -> Decimal:
        """The value of the clients in cell ``(before, after)``."""
        return self.values.get((before, after), Decimal(0))

    def row_total(self, before: V | None) -> int:
        """How many clients were in ``before`` at date A."""
        return sum(n for (b, _), n in self.counts.items() if b == before)

    def column_total(self, after: V | None) -> int:
        """How many clients are in ``after`` at date B."""
        return sum(n for (_, a), n in self.counts.items() if a == after)

    def _toward(self, later: bool) -> tuple[Move[V], ...]:
        """Clients present at both dates whose state moved later (or earlier) in ``order``."""
        rank = self._rank
        return tuple(
            m
            for m in self.moves
            if m.before is not None
            and m.after is not None
            and m.after != m.before
            and (rank[m.after] > rank[m.before]) is later
        )

    @property
    def promotions(self) -> tuple[Move[V], ...]:
        """Clients present at both dates whose state got better (empty without a direction)."""
        if self.later_is_better is None:
            return ()
        return self._toward(self.later_is_better)

    @property
    def demotions(self) -> tuple[Move[V], ...]:
        """Clients present at both dates whose state got worse (empty without a direction)."""
        if self.later_is_better is None:
            return ()
        return self._toward(not self.later_is_better)

    @property
    def moved(self) -> tuple[Move[V], ...]:
        """Clients present at both dates whose state changed, whichever way."""
        return tuple(
            m
            for m in self.moves
            if m.before is not None and m.after is not None and m.before != m.after
        )

    @property
    def stayed(self) -> tuple[Move[V], ...]:
        """Clients present at both dates in the same state."""
        return tuple(m for m in self.moves if m.before is not None and m.before == m.after)

    @property
    def entered(self) -> tuple[Move[V], ...]:
        """Clients absent at date A and present at date B."""
        return tuple(m for m in self.moves if m.before is None and m.after is not None)

    @property
    def left(self) -> tuple[Move[V], ...]:
        """Clients present at date A and absent at date B."""
        return tuple(m for m in self.moves if m.before is not None and m.after is None)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict.

        ``counts`` and ``values`` are nested ``{before: {after: ...}}`` over every
        state and ``"(absent)"``; values are decimal strings.
        """
        labels = [*self.order, None]
        return {
            "order": [_label(s) for s in self.order],
            "total": self.total,
            "total_value": str(self.total_value),
            "counts": {_label(b): {_label(a): self.count(b, a) for a in labels} for b in labels},
            "values": {
                _label(b): {_label(a): str(self.value(b, a)) for a in labels} for b in labels
            },
            "later_is_better": self.later_is_better,
            "promotions": [m.to_dict() for m in self.promotions],
            "demotions": [m.to_dict() for m in self.demotions],
            "moved": [m.to_dict() for m in self.moved],
            "entered": [m.to_dict() for m in self.entered],
            "left": [m.to_dict() for m in self.left],
        }

    def to_text(self) -> str:
        """The count matrix as a plain-text table (rows: date A, columns: date B)."""
        labels: list[V | None] = [*self.order, None]
        names = [_label(s) for s in labels]
        width = max(len(n) for n in [*names, "A \\ B", "total"])
        cell = max(5, *(len(n) for n in names))
        head = "A \\ B".ljust(width) + "".join(n.rjust(cell + 1) for n in names)
        lines = [head + "total".rjust(cell + 1)]
        for b, name in zip(labels, names, strict=True):
            row = "".join(str(self.count(b, a)).rjust(cell + 1) for a in labels)
            lines.append(name.ljust(width) + row + str(self.row_total(b)).rjust(cell + 1))
        totals = "".join(str(self.column_total(a)).rjust(cell + 1) for a in labels)
        lines.append("total".ljust(width) + totals + str(self.total).rjust(cell + 1))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()


def _as_value(client_id: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise RecordTypeError(
            record="values",
            field=client_id,
            value=value,
            expected="a Decimal or an int (never a float)",
        )
    number = Decimal(value)
    if not number.is_finite():
        raise ValidationError(
            record="values",
            field="value",
            value=value,
            record_id=client_id,
            reason="must be a finite number",
        )
    return number


@checked
def migration_matrix(
    before: Mapping[str, V | None],
    after: Mapping[str, V | None],
    *,
    order: Sequence[V],
    values: Mapping[str, Decimal] | None = None,
    later_is_better: bool | None = True,
) -> MigrationMatrix[V]:
    """The matrix of state at date A x state at date B over a portfolio.

    The portfolio is every client id in ``before`` or ``after``; a client missing
    from one side (or mapped to None) is absent at that date.

    Args:
        before: ``{client_id: state at date A}``.
        after: ``{client_id: state at date B}``.
        order: Every possible state, in the order of its machine or vocabulary.
            States equal to an element of ``order`` (a rung's string value, say) are
            normalised to that element.
        values: ``{client_id: value}`` (Decimal or int); every client of the
            portfolio needs one. None: every value is 0.
        later_is_better: The direction of ``order``: True (default) if a later
            state is better (rungs, lowest first: a move to a later one is a
            promotion), False if a later state is worse (lifecycle stages, least
            severe first; value classes, A first), None if the states have no
            direction (segments: no promotion or demotion, only ``moved``).

    Returns:
        The matrix; its counts sum to the number of clients.

    Raises:
        UsageError: If ``order`` is empty or repeats a state.
        ValidationError: If a state is not in ``order`` or a client has no value.
        RecordTypeError: If a value is a float or not a number.
    """
    rank: dict[V, int] = {}
    canon: dict[V, V] = {}
    for i, state in enumerate(order):
        if state in rank:
            raise UsageError(f"the order repeats the state {_label(state)!r}")
        rank[state] = i
        canon[state] = state
    if not rank:
        raise UsageError("the order of states is empty")
    allowed = ", ".join(_label(s) for s in order)

    def norm(side: str, client_id: str, state: V | None) -> V | None:
        if state is None:
            return None
        try:
            return canon[state]
        except (KeyError, TypeError):
            raise ValidationError(
                record="migration_matrix",
                field=side,
                value=state,
                record_id=client_id,
                reason=f"not one of the states: {allowed}",
            ) from None

    ids = sorted(set(before) | set(after))
    moves: list[Move[V]] = []
    counts: dict[tuple[V | None, V | None], int] = {}
    sums: dict[tuple[V | None, V | None], Decimal] = {}
    missing: list[str] = []
    for cid in ids:
        b = norm("before", cid, before.get(cid))
        a = norm("after", cid, after.get(cid))
        if values is None:
            value = Decimal(0)
        elif cid not in values:
            missing.append(cid)
            continue
        else:
            value = _as_value(cid, values[cid])
        moves.append(Move(cid, b, a, value))
        counts[(b, a)] = counts.get((b, a), 0) + 1
        sums[(b, a)] = sums.get((b, a), Decimal(0)) + value
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise ValidationError(
            record="migration_matrix",
            field="values",
            value=missing[0],
            record_id=missing[0],
            reason=f"{len(missing)} client(s) have no value: {shown}",
        )
    return MigrationMatrix(
        order=tuple(order),
        moves=tuple(moves),
        counts=FrozenMap(counts),
        values=FrozenMap(sums),
        rank=rank,
        later_is_better=later_is_better,
    )


def revenue_between(
    histories: Iterable[ClientHistory], *, start: datetime, end: datetime
) -> dict[str, Decimal]:
    """Each client's sale revenue with ``start < placed_at <= end``.

    Args:
        histories: The clients' histories.
        start: The start of the period (excluded).
        end: The end of the period (included).

    Returns:
        ``{client_id: revenue}`` for every history (0 when it had no sales).

    Raises:
        CurrencyMismatchError: If the sales of the period are in more than one
            currency (one report never adds two currencies).
    """
    from .rules import SALE  # the rules build on this module's neighbours

    is_sale = SALE.test
    result: dict[str, Decimal] = {}
    currencies: set[str] = set()
    for history in histories:
        total = Decimal(0)
        for order in history.orders:
            if start < order.placed_at <= end and is_sale(order):
                currencies.add(order.currency)
                total += order.amount
        result[history.client_id] = total
    if len(currencies) > 1:
        raise CurrencyMismatchError(currencies=currencies, context="migration values")
    return result
