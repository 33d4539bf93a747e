"""Client histories: one client with its records, and a portfolio of them.

A :class:`ClientHistory` holds one client and its interactions, orders and
complaints, each kind sorted in the library's total order (moment, then kind,
then id; see :func:`~relcycle.model.record_sort_key`), so the same records give
the same history whatever order they came in. :meth:`ClientHistory.as_of` is a
cheap view of the records up to and including a moment: every verdict relcycle
gives "as of" a moment is computed on such a view.

:func:`build_portfolio` groups flat iterables of records into histories. It is
the hot path of every report, so it makes one pass over each input.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any

import attrs

from relcycle._args import checked, item_error

from ._repr import HTML_ROWS, count, html_card, short_repr
from .errors import DuplicateIdError, RecordTypeError, UnknownClientError, ValidationError
from .model import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    Client,
    Complaint,
    Interaction,
    Order,
    Record,
    record_sort_key,
)

__all__ = ["ClientHistory", "Portfolio", "build_portfolio"]

_ORDER_AT = attrgetter("placed_at")
_INTERACTION_AT = attrgetter("at")
_COMPLAINT_AT = attrgetter("opened_at")


def _order_key(o: Order) -> tuple[datetime, str]:
    return (o.placed_at, o.order_id)


def _interaction_key(i: Interaction) -> tuple[datetime, str]:
    return (i.at, i.interaction_id)


def _complaint_key(c: Complaint) -> tuple[datetime, str]:
    return (c.opened_at, c.complaint_id)


def check_as_of(moment: object, name: str = "as_of") -> datetime:
    """Return ``moment`` if it is a timezone-aware datetime, else raise.

    Every function that evaluates "as of" a moment checks it with this.

    Raises:
        RecordTypeError: If ``moment`` is not a datetime.
        ValidationError: If it has no time zone, or its year is outside
            :data:`~relcycle.model.EARLIEST_YEAR` - :data:`~relcycle.model.LATEST_YEAR`.
    """
    if (
        type(moment) is datetime
        and type(moment.tzinfo) is timezone
        and EARLIEST_YEAR <= moment.year <= LATEST_YEAR
    ):
        return moment  # a fixed offset (UTC too) is always aware: the common case, cheaply
    if not isinstance(moment, datetime):
        raise RecordTypeError(
            record="as_of", field=name, value=moment, expected="an aware datetime"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(
            record="as_of",
            field=name,
            value=moment,
            reason="the moment has no time zone; give an aware datetime",
        )
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValidationError(
            record="as_of",
            field=name,
            value=moment,
            reason=f"the moment is outside the supported years {EARLIEST_YEAR}-{LATEST_YEAR}",
        )
    return moment


@attrs.frozen(kw_only=True)
class ClientHistory:
    """One client and its records, each kind in the library's total order.

    Build it with :meth:`of` (which sorts and checks) or let
    :func:`build_portfolio` build many at once. The constructor trusts that the
    tuples are already sorted and belong to the client.

    Attributes:
        client: The client.
        interactions: Its interactions, oldest first.
        orders: Its orders, oldest first.
        complaints: Its complaints, oldest first (by ``opened_at``).
        client_inferred: True when the client was not in a clients table but
            inferred from the ``client_id`` of its records.
    """

    client: Client
    interactions: tuple[Interaction, ...] = ()
    orders: tuple[Order, ...] = ()
    complaints: tuple[Complaint, ...] = ()
    client_inferred: bool = False

    @classmethod
    def of(
        cls,
        client: Client | str,
        records: Iterable[Interaction | Order | Complaint] = (),
    ) -> ClientHistory:
        """Build a history of ``client`` from records of any kind, in any order.

        Args:
            client: The client, or just its id (then ``client_inferred`` is True).
            records: Interactions, orders and complaints of this client.

        Raises:
            ValidationError: If a record belongs to another client or two records
                of one kind share an id.
        """
        inferred = isinstance(client, str)
        the_client = Client(client_id=client) if isinstance(client, str) else client
        interactions: list[Interaction] = []
        orders: list[Order] = []
        complaints: list[Complaint] = []
        for record in records:
            if record.client_id != the_client.client_id:
                raise ValidationError(
                    record=type(record).__name__,
                    field="client_id",
                    value=record.client_id,
                    record_id=record.id,
                    reason=f"the record belongs to another client than {the_client.client_id!r}",
                )
            if isinstance(record, Order):
                orders.append(record)
            elif isinstance(record, Interaction):
                interactions.append(record)
            elif isinstance(record, Complaint):
                complaints.append(record)
            else:
                raise RecordTypeError(
                    record="ClientHistory",
                    field="records",
                    value=record,
                    expected="Interaction, Order or Complaint objects",
                )
        for name, field, items in (
            ("Interaction", "interaction_id", interactions),
            ("Order", "order_id", orders),
            ("Complaint", "complaint_id", complaints),
        ):
            _check_unique(name, field, items)
        interactions.sort(key=_interaction_key)
        orders.sort(key=_order_key)
        complaints.sort(key=_complaint_key)
        return cls(
            client=the_client,
            interactions=tuple(interactions),
            orders=tuple(orders),
            complaints=tuple(complaints),
            client_inferred=inferred,
        )

    @property
    def client_id(self) -> str:
        """The client's id."""
        return self.client.client_id

    def __len__(self) -> int:
        return len(self.interactions) + len(self.orders) + len(self.complaints)

    def records(self) -> Iterator[Record]:
        """All records merged in the total order (moment, kind, id)."""
        return heapq.merge(self.complaints, self.interactions, self.orders, key=record_sort_key)

    @property
    def first_moment(self) -> datetime | None:
        """The earliest record's moment, or None for an empty history."""
        firsts = [t[0].at for t in (self.interactions, self.orders, self.complaints) if t]
        return min(firsts) if firsts else None

    @property
    def last_moment(self) -> datetime | None:
        """The latest record's moment (complaint resolutions count), or None."""
        lasts = [t[-1].at for t in (self.interactions, self.orders, self.complaints) if t]
        lasts.extend(c.resolved_at for c in self.complaints if c.resolved_at is not None)
        return max(lasts) if lasts else None

    def __repr__(self) -> str:
        return short_repr(
            f"ClientHistory {self.client_id!r}",
            count(len(self.orders), "order"),
            count(len(self.interactions), "interaction"),
            count(len(self.complaints), "complaint"),
        )

    def _repr_html_(self) -> str:
        client = self.client
        records = list(self.records())
        latest = records[: -HTML_ROWS - 1 : -1]  # the latest first
        return html_card(
            f"Client history {self.client_id}",
            [
                ("name", client.name),
                ("account manager", client.account_manager),
                ("orders", len(self.orders)),
                ("interactions", len(self.interactions)),
                ("complaints", len(self.complaints)),
                ("first record", _moment_text(self.first_moment)),
                ("last record", _moment_text(self.last_moment)),
            ],
            headers=("moment", "kind", "id", "what"),
            rows=((_moment_text(r.at), r.KIND, r.id, _what(r)) for r in latest),
            total=len(records),
        )

    def as_of(self, moment: datetime) -> ClientHistory:
        """The history as it stood at ``moment``: records up to and including it.

        Complaints opened by ``moment`` are kept with their recorded status; use
        :meth:`~relcycle.model.Complaint.is_open_at` for their status then.

        Raises:
            ValidationError: If ``moment`` is not timezone-aware.
        """
        check_as_of(moment, "moment")
        interactions, orders, complaints = self.interactions, self.orders, self.complaints
        # Fast path: every module asks for its view again, and the report has
        # already cut the history, so usually nothing lies after ``moment``.
        if (
            (not interactions or interactions[-1].at <= moment)
            and (not orders or orders[-1].placed_at <= moment)
            and (not complaints or complaints[-1].opened_at <= moment)
        ):
            return self
        i = bisect_right(self.interactions, moment, key=_INTERACTION_AT)
        o = bisect_right(self.orders, moment, key=_ORDER_AT)
        c = bisect_right(self.complaints, moment, key=_COMPLAINT_AT)
        if i == len(self.interactions) and o == len(self.orders) and c == len(self.complaints):
            return self
        return ClientHistory(
            client=self.client,
            interactions=self.interactions[:i],
            orders=self.orders[:o],
            complaints=self.complaints[:c],
            client_inferred=self.client_inferred,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: the client and lists of its records (lossless)."""
        return {
            "client": self.client.to_dict(),
            "client_inferred": self.client_inferred,
            "interactions": [r.to_dict() for r in self.interactions],
            "orders": [r.to_dict() for r in self.orders],
            "complaints": [r.to_dict() for r in self.complaints],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClientHistory:
        """Build from the output of :meth:`to_dict`."""
        client = Client.from_dict(data["client"])
        records: list[Interaction | Order | Complaint] = []
        records.extend(Interaction.from_dict(d) for d in data.get("interactions", ()))
        records.extend(Order.from_dict(d) for d in data.get("orders", ()))
        records.extend(Complaint.from_dict(d) for d in data.get("complaints", ()))
        history = cls.of(client, records)
        return attrs.evolve(history, client_inferred=bool(data.get("client_inferred", False)))


def _check_unique(name: str, field: str, items: Iterable[Any]) -> None:
    seen: set[str] = set()
    dups: list[str] = []
    for item in items:
        rid = item.id
        if rid in seen:
            dups.append(rid)
        seen.add(rid)
    if dups:
        raise DuplicateIdError(record=name, field=field, ids=dups)


@attrs.frozen
class Portfolio:
    """Histories of many clients, by client id (iteration is sorted by client id).

    Build it with :func:`build_portfolio`.
    """

    histories: tuple[ClientHistory, ...]
    _index: Mapping[str, ClientHistory] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        index = {h.client_id: h for h in self.histories}
        if len(index) != len(self.histories):
            counts: dict[str, int] = {}
            for h in self.histories:
                counts[h.client_id] = counts.get(h.client_id, 0) + 1
            raise DuplicateIdError(
                record="Client", field="client_id", ids=[k for k, n in counts.items() if n > 1]
            )
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        return len(self.histories)

    def __iter__(self) -> Iterator[ClientHistory]:
        return iter(self.histories)

    def __getitem__(self, client_id: str) -> ClientHistory:
        return self._index[client_id]

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._index

    @property
    def client_ids(self) -> tuple[str, ...]:
        """The client ids, sorted."""
        return tuple(h.client_id for h in self.histories)

    @property
    def last_moment(self) -> datetime | None:
        """The latest moment of any record (the report's default ``as_of``)."""
        lasts = [m for h in self.histories if (m := h.last_moment) is not None]
        return max(lasts) if lasts else None

    def as_of(self, moment: datetime) -> Portfolio:
        """Every history as it stood at ``moment`` (clients are all kept)."""
        check_as_of(moment, "moment")
        return Portfolio(tuple(h.as_of(moment) for h in self.histories))

    def records_count(self) -> int:
        """The number of timed records across all histories."""
        return sum(len(h) for h in self.histories)

    def _totals(self) -> tuple[int, int, int]:
        orders = interactions = complaints = 0
        for h in self.histories:
            orders += len(h.orders)
            interactions += len(h.interactions)
            complaints += len(h.complaints)
        return orders, interactions, complaints

    def __repr__(self) -> str:
        orders, interactions, complaints = self._totals()
        return short_repr(
            "Portfolio",
            count(len(self), "client"),
            count(orders, "order"),
            count(interactions, "interaction"),
            count(complaints, "complaint"),
        )

    def _repr_html_(self) -> str:
        orders, interactions, complaints = self._totals()
        return html_card(
            "Portfolio",
            [
                ("clients", f"{len(self):,}"),
                ("orders", f"{orders:,}"),
                ("interactions", f"{interactions:,}"),
                ("complaints", f"{complaints:,}"),
                ("last record", _moment_text(self.last_moment)),
            ],
            headers=("client", "name", "orders", "interactions", "complaints", "last record"),
            rows=(
                (
                    h.client_id,
                    h.client.name,
                    len(h.orders),
                    len(h.interactions),
                    len(h.complaints),
                    _moment_text(h.last_moment),
                )
                for h in self.histories
            ),
            total=len(self),
        )


def _moment_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="minutes")


def _what(record: Record) -> str:
    """A record in a few words for the notebook view."""
    if isinstance(record, Order):
        return f"{record.amount} {record.currency}, {record.status.value}"
    if isinstance(record, Interaction):
        return f"{record.purpose.value} by {record.channel.value} ({record.direction.value})"
    if isinstance(record, Complaint):
        return f"{record.category.value}, {record.severity.value}, {record.status.value}"
    return ""  # pragma: no cover - a history holds only these three kinds


def last_moment_of(
    *,
    orders: Sequence[Order] = (),
    interactions: Sequence[Interaction] = (),
    complaints: Sequence[Complaint] = (),
) -> datetime | None:
    """:attr:`Portfolio.last_moment` of the portfolio these records make, without making it.

    One pass finds the latest instant; the histories of the few clients with a
    record at that instant are then built, and their :attr:`Portfolio.last_moment`
    is the answer: of equal instants written at different offsets, the one the
    portfolio gives (the first such client in id order, and within it the
    history's own choice). The records are iterated three times.
    """
    tables = (interactions, orders, complaints)
    latest: datetime | None = None
    for table in tables:
        for record in table:
            at = record.at
            if latest is None or at > latest:
                latest = at
    for complaint in complaints:
        resolved = complaint.resolved_at
        if resolved is not None and (latest is None or resolved > latest):
            latest = resolved
    if latest is None:
        return None
    tied: dict[str, list[Interaction | Order | Complaint]] = {}
    for table in tables:
        for record in table:
            if record.at == latest or (
                isinstance(record, Complaint) and record.resolved_at == latest
            ):
                tied[record.client_id] = []
    for table in tables:
        for record in table:
            mine = tied.get(record.client_id)
            if mine is not None:
                mine.append(record)
    histories = tuple(ClientHistory.of(cid, tied[cid]) for cid in sorted(tied))
    return Portfolio(histories).last_moment


@checked
def build_portfolio(
    *,
    orders: Iterable[Order] = (),
    interactions: Iterable[Interaction] = (),
    complaints: Iterable[Complaint] = (),
    clients: Iterable[Client] | None = None,
) -> Portfolio:
    """Group flat iterables of records into a :class:`Portfolio`.

    Args:
        orders: Orders of any clients, in any order.
        interactions: Interactions of any clients, in any order.
        complaints: Complaints of any clients, in any order.
        clients: The clients table. When given, every record must refer to one of
            them; when None, clients are inferred from the records' ``client_id``
            (and marked ``client_inferred``). A client with no records gets an
            empty history.

    Raises:
        UnknownClientError: A record refers to a client missing from ``clients``
            (all such records are listed).
        DuplicateIdError: Two clients, or two records of one kind, share an id.
    """
    known: dict[str, Client] | None = None
    if clients is not None:
        known = {}
        dup_clients: list[str] = []
        for client in clients:
            if type(client) is not Client and not isinstance(client, Client):
                raise item_error("build_portfolio", "clients", client, "Client")
            if client.client_id in known:
                dup_clients.append(client.client_id)
            known[client.client_id] = client
        if dup_clients:
            raise DuplicateIdError(record="Client", field="client_id", ids=dup_clients)

    groups: dict[str, tuple[list[Interaction], list[Order], list[Complaint]]] = {}
    if known is not None:
        for cid in known:
            groups[cid] = ([], [], [])

    def group(cid: str) -> tuple[list[Interaction], list[Order], list[Complaint]]:
        g = groups.get(cid)
        if g is None:
            g = groups[cid] = ([], [], [])
        return g

    for name, field, slot, items, cls in (
        ("Interaction", "interaction_id", 0, interactions, Interaction),
        ("Order", "order_id", 1, orders, Order),
        ("Complaint", "complaint_id", 2, complaints, Complaint),
    ):
        seen: set[str] = set()
        dups: list[str] = []
        unknown_records: list[str] = []
        unknown_clients: list[str] = []
        for record in items:
            if type(record) is not cls and not isinstance(record, cls):
                raise item_error("build_portfolio", f"{name.lower()}s", record, name)
            rid = record.id
            if rid in seen:
                dups.append(rid)
            else:
                seen.add(rid)
            cid = record.client_id
            if known is not None and cid not in known:
                unknown_records.append(rid)
                unknown_clients.append(cid)
                continue
            group(cid)[slot].append(record)  # type: ignore[arg-type]
        if unknown_records:
            raise UnknownClientError(
                record=name, record_ids=unknown_records, client_ids=unknown_clients
            )
        if dups:
            raise DuplicateIdError(record=name, field=field, ids=dups)

    histories = []
    for cid in sorted(groups):
        ints, ords, comps = groups[cid]
        ints.sort(key=_interaction_key)
        ords.sort(key=_order_key)
        comps.sort(key=_complaint_key)
        client = known[cid] if known is not None else Client(client_id=cid)
        histories.append(
            ClientHistory(
                client=client,
                interactions=tuple(ints),
                orders=tuple(ords),
                complaints=tuple(comps),
                client_inferred=known is None,
            )
        )
    return Portfolio(tuple(histories))
