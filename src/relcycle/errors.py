"""The exceptions relcycle raises.

Every exception derives from :class:`RelcycleError` and also from the builtin
it really is, so ``except ValueError`` keeps working::

    RelcycleError
    ├── ValidationError (ValueError)        a record field holds a bad value
    │   ├── UnknownClientError              records point at a client not in the clients table
    │   └── DuplicateIdError                two records of one kind share an id
    ├── RecordTypeError (TypeError)         a field got a value of the wrong type
    ├── CurrencyMismatchError (ValueError)  money of two currencies was mixed
    ├── DefinitionError (ValueError)        a state machine's table is broken
    ├── IllegalTransitionError (ValueError) an event is not allowed in a state
    ├── InputError (ValueError)             a data source holds bad rows (carries every Problem)
    ├── ConflictError (ValueError)          a store already holds the same id with another payload
    ├── BudgetError (ValueError)            one client's history needs more than the budget allows
    ├── StoreError (OSError)                a store is damaged, truncated or cannot be written
    ├── OutputError (OSError)               an output (a file, stdout) could not be written
    └── UsageError (ValueError)             a command or function was called wrongly

Context is passed keyword-only, kept as attributes a program can read, and
written into the message a person reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

__all__ = [
    "BudgetError",
    "ConflictError",
    "CurrencyMismatchError",
    "DefinitionError",
    "DuplicateIdError",
    "IllegalTransitionError",
    "InputError",
    "OutputError",
    "Problem",
    "RecordTypeError",
    "RelcycleError",
    "StoreError",
    "UnknownClientError",
    "UsageError",
    "ValidationError",
]


class RelcycleError(Exception):
    """The root of every exception relcycle raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The subclasses take keyword-only context, which the default reduction
        # (calling the class with ``self.args``) cannot pass back: rebuild from
        # the args and the attributes, so errors survive pickling (process pools,
        # dask workers).
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def _restore(cls: type[RelcycleError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


def _show(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ValidationError(RelcycleError, ValueError):
    """A field of a record holds a value the domain does not allow.

    Attributes:
        record: The record's class name (``"Order"``) or table name.
        field: The field (column) name.
        value: The offending value, as given.
        reason: Why the value is refused.
        record_id: The record's id, when it is known.
    """

    def __init__(
        self,
        *,
        record: str,
        field: str,
        value: object,
        reason: str,
        record_id: str | None = None,
    ) -> None:
        self.record = record
        self.field = field
        self.value = value
        self.reason = reason
        self.record_id = record_id
        where = f"{record} {record_id!r}" if record_id else record
        super().__init__(f"{where}: field {field!r}: value {_show(value)}: {reason}")


class UnknownClientError(ValidationError):
    """Records refer to clients that the clients table does not hold.

    Attributes:
        record_ids: The ids of the offending records (all of them).
        client_ids: The unknown client ids, sorted.
    """

    def __init__(
        self, *, record: str, record_ids: Sequence[str], client_ids: Iterable[str]
    ) -> None:
        self.record_ids = tuple(record_ids)
        self.client_ids = tuple(sorted(set(client_ids)))
        shown = ", ".join(self.client_ids[:10]) + (" ..." if len(self.client_ids) > 10 else "")
        super().__init__(
            record=record,
            field="client_id",
            value=self.client_ids[0] if self.client_ids else None,
            reason=(
                f"{len(self.record_ids)} record(s) refer to {len(self.client_ids)} "
                f"client(s) missing from the clients table: {shown}"
            ),
            record_id=self.record_ids[0] if self.record_ids else None,
        )


class DuplicateIdError(ValidationError):
    """Two records of one kind carry the same id.

    Attributes:
        ids: The duplicated ids, sorted.
    """

    def __init__(self, *, record: str, field: str, ids: Iterable[str]) -> None:
        self.ids = tuple(sorted(set(ids)))
        shown = ", ".join(self.ids[:10]) + (" ..." if len(self.ids) > 10 else "")
        super().__init__(
            record=record,
            field=field,
            value=self.ids[0] if self.ids else None,
            reason=f"{len(self.ids)} id(s) occur more than once: {shown}",
        )


class RecordTypeError(RelcycleError, TypeError):
    """A field got a value of the wrong Python type (a float for money, say).

    Attributes:
        record: The record's class name.
        field: The field name.
        value: The offending value.
        expected: A description of the type the field takes.
    """

    def __init__(self, *, record: str, field: str, value: object, expected: str) -> None:
        self.record = record
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(
            f"{record}: field {field!r}: value {_show(value)} of type "
            f"{type(value).__name__}: expected {expected}"
        )


class CurrencyMismatchError(RelcycleError, ValueError):
    """Money in two currencies was added, compared or reported together.

    Attributes:
        currencies: The currencies involved, sorted.
    """

    def __init__(self, *, currencies: Iterable[str], context: str = "") -> None:
        self.currencies = tuple(sorted(set(currencies)))
        where = f" in {context}" if context else ""
        super().__init__(
            f"cannot mix currencies {', '.join(self.currencies)}{where}: "
            "convert the amounts first or report each currency separately"
        )


class DefinitionError(RelcycleError, ValueError):
    """A definition is not valid: a state machine's transition table, or a record rule.

    Attributes:
        machine: The machine's (or the rule set's) name.
        problems: One line per problem found.
        states: The offending states (by value), sorted (none for a rule).
    """

    def __init__(
        self,
        *,
        machine: str,
        problems: Sequence[str],
        states: Iterable[str] = (),
        kind: str = "machine",
    ) -> None:
        self.machine = machine
        self.problems = tuple(problems)
        self.states = tuple(sorted(set(states)))
        super().__init__(f"{kind} {machine!r} is badly defined: " + "; ".join(self.problems))


class IllegalTransitionError(RelcycleError, ValueError):
    """An event arrived in a state whose table has no transition for it.

    Attributes:
        machine: The machine's name.
        state: The state's value.
        event: The event's value.
        allowed: The events the state does allow, by value.
    """

    def __init__(self, *, machine: str, state: str, event: str, allowed: Sequence[str]) -> None:
        self.machine = machine
        self.state = state
        self.event = event
        self.allowed = tuple(allowed)
        super().__init__(
            f"machine {machine!r}: event {event!r} is not allowed in state {state!r} "
            f"(allowed there: {', '.join(self.allowed) or 'nothing'})"
        )


@attrs.frozen
class Problem:
    """One bad cell (or row) of a data source, for people and programs alike.

    Attributes:
        source: The file (or table) name.
        line: The 1-based line (CSV/JSONL) or row number, when known.
        column: The column, when the problem is in one cell.
        value: The raw value as read, when there is one.
        reason: Why it is refused.
    """

    source: str
    line: int | None
    column: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        parts = [where]
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.value is not None:
            parts.append(f"value {_show(self.value)}")
        parts.append(self.reason)
        return ": ".join(parts)


class InputError(RelcycleError, ValueError):
    """A data source holds bad rows; nothing was loaded.

    Attributes:
        problems: Every problem found, up to the reader's cap, in source order.
        truncated: True when more problems existed than were kept.
    """

    def __init__(self, problems: Sequence[Problem], *, truncated: bool = False) -> None:
        self.problems = tuple(problems)
        self.truncated = truncated
        head = f"{len(self.problems)}{'+' if truncated else ''} problem(s) in the input"
        body = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{head}:\n{body}" if body else head)


class ConflictError(RelcycleError, ValueError):
    """A store already holds a record with this id but a different payload.

    Attributes:
        table: The table name.
        ids: The conflicting ids, sorted.
    """

    def __init__(self, *, table: str, ids: Iterable[str]) -> None:
        self.table = table
        self.ids = tuple(sorted(set(ids)))
        shown = ", ".join(self.ids[:10]) + (" ..." if len(self.ids) > 10 else "")
        super().__init__(
            f"table {table!r}: {len(self.ids)} id(s) already stored with a different "
            f"payload: {shown}"
        )


class BudgetError(RelcycleError, ValueError):
    """One client's history would need more than the stated budget to assess.

    Raised instead of exhausting memory (a client with a million complaints open
    at once); nothing is written.

    Attributes:
        client_id: The client.
        budget: The budget that was reached (a count; ``what`` says of what).
        what: What the budget counts.
    """

    def __init__(self, *, client_id: str, budget: int, what: str) -> None:
        self.client_id = client_id
        self.budget = budget
        self.what = what
        super().__init__(
            f"client {client_id!r}: assessing its history needs more than {budget:,} {what}; "
            "it is refused rather than exhausting memory (see the reliability page's budgets)"
        )


class StoreError(RelcycleError, OSError):
    """A store cannot be used: the file is damaged or truncated, or it cannot be written.

    Attributes:
        path: The store's path, as given.
        reason: What is wrong (SQLite's own words included).
    """

    def __init__(self, *, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class OutputError(RelcycleError, OSError):
    """An output could not be written (a full disk, a folder without write permission).

    Nothing partial is left behind at a regular file's path; a device or a pipe
    (and stdout) may have received part of the output.

    Attributes:
        path: The output's path as given, or ``"stdout"``.
        reason: What went wrong (the operating system's words).
    """

    def __init__(self, *, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot write {path}: {reason}")


class UsageError(RelcycleError, ValueError):
    """A command or function was called with arguments that do not fit."""
