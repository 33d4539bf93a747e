"""The contract's tables and columns, as data the readers and writers share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from relcycle.model import (
    TERMINATION_REASONS,
    Channel,
    Client,
    ClientKind,
    Complaint,
    ComplaintCategory,
    ComplaintStatus,
    Direction,
    Escalation,
    Interaction,
    LossReason,
    Order,
    OrderStatus,
    Purpose,
    Severity,
)

__all__ = ["COLUMNS", "TABLES", "Column", "TableSpec", "spec"]


@attrs.frozen
class Column:
    """One column of a contract table.

    Attributes:
        name: The column (and record field) name.
        kind: ``id``, ``text``, ``datetime``, ``money``, ``number``, ``bool``,
            ``currency``, ``contacts`` or ``vocab``.
        required: True when every row needs a value.
        vocab: The vocabulary of a ``vocab`` column.
        values: The members of ``vocab`` an input may hold, when not all of
            them (the loss reasons a termination records: not ``lapsed``).
    """

    name: str
    kind: str
    required: bool = False
    vocab: Any = None
    values: tuple[Any, ...] | None = None


@attrs.frozen
class TableSpec:
    """A contract table: its name, record class, id column and columns.

    Attributes:
        name: ``clients``, ``orders``, ``interactions`` or ``complaints``.
        record: The record class built from a row.
        id_column: The id column; ids are generated when it is absent or empty
            (except for clients, whose id is required).
        id_prefix: The prefix of generated ids (``o`` gives ``o-3f9a1c2e4b5d``).
        columns: The known columns in contract order.
        time_column: The column that orders the records in time (None for clients).
    """

    name: str
    record: type[Any]
    id_column: str
    id_prefix: str
    columns: tuple[Column, ...]
    time_column: str | None

    @property
    def names(self) -> tuple[str, ...]:
        """The known column names, in contract order."""
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        """The columns every source of this table must have."""
        return tuple(c.name for c in self.columns if c.required)

    def default(self, name: str) -> Any:
        """The value a row without column ``name`` gets: the record class's default
        for the field (a vocabulary member as its text), or None when it has none."""
        field = attrs.fields_dict(self.record)[name]
        default: Any = field.default
        if default is attrs.NOTHING or isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            return None
        return default.value if hasattr(default, "value") else default


def _v(name: str, vocab: Any, values: tuple[Any, ...] | None = None) -> Column:
    return Column(name, "vocab", vocab=vocab, values=values)


CLIENTS = TableSpec(
    name="clients",
    record=Client,
    id_column="client_id",
    id_prefix="",
    columns=(
        Column("client_id", "id", required=True),
        Column("name", "text"),
        _v("kind", ClientKind),
        Column("industry", "text"),
        Column("region", "text"),
        Column("account_manager", "id"),
        Column("since", "datetime"),
        Column("contact_persons", "contacts"),
    ),
    time_column=None,
)

ORDERS = TableSpec(
    name="orders",
    record=Order,
    id_column="order_id",
    id_prefix="o",
    columns=(
        Column("order_id", "id"),
        Column("client_id", "id", required=True),
        Column("placed_at", "datetime", required=True),
        Column("amount", "money", required=True),
        Column("currency", "currency"),
        Column("discounted", "bool"),
        _v("status", OrderStatus),
        Column("on_time", "bool"),
        Column("product", "text"),
        Column("cost", "money"),
    ),
    time_column="placed_at",
)

INTERACTIONS = TableSpec(
    name="interactions",
    record=Interaction,
    id_column="interaction_id",
    id_prefix="i",
    columns=(
        Column("interaction_id", "id"),
        Column("client_id", "id", required=True),
        Column("at", "datetime", required=True),
        _v("channel", Channel),
        _v("direction", Direction),
        _v("purpose", Purpose),
        Column("handled_by", "id"),
        Column("minutes", "number"),
        _v("reason", LossReason, TERMINATION_REASONS),
        Column("note", "text"),
    ),
    time_column="at",
)

COMPLAINTS = TableSpec(
    name="complaints",
    record=Complaint,
    id_column="complaint_id",
    id_prefix="c",
    columns=(
        Column("complaint_id", "id"),
        Column("client_id", "id", required=True),
        Column("opened_at", "datetime", required=True),
        _v("category", ComplaintCategory),
        _v("severity", Severity),
        Column("client_loss", "money"),
        Column("currency", "currency"),
        _v("status", ComplaintStatus),
        Column("resolved_at", "datetime"),
        _v("escalated_to", Escalation),
    ),
    time_column="opened_at",
)

#: The four tables in load order (clients first, so references can be checked).
TABLES: Final[tuple[TableSpec, ...]] = (CLIENTS, ORDERS, INTERACTIONS, COMPLAINTS)

_BY_NAME: Final[Mapping[str, TableSpec]] = {t.name: t for t in TABLES}

#: Column names of each table, in contract order.
COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {t.name: t.names for t in TABLES}


def spec(name: str) -> TableSpec:
    """Return the spec of table ``name``."""
    return _BY_NAME[name]
