"""The domain objects: clients and the records a supplier keeps about them.

Every object is a frozen, slotted attrs class, validated when it is built: a bad
value raises :class:`~relcycle.errors.ValidationError` (or
:class:`~relcycle.errors.RecordTypeError` for a value of the wrong type) naming
the class, the field and the value. Field names are the column names of the data
contract. Times are timezone-aware :class:`~datetime.datetime` objects, held with
the fixed UTC offset their zone had at that instant (what ISO 8601 carries), so
records compare, sort and round-trip as instants, even inside a DST fold; money is
:class:`~decimal.Decimal`, never a float.

Vocabulary fields accept a member or its string value (``status="delivered"``)
and always hold the member.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Final, Generic, Protocol, Self, TypeVar, cast, overload

import attrs

from ._vocab import OrderedVocab, Vocab, refusal
from .errors import CurrencyMismatchError, RecordTypeError, ValidationError

__all__ = [
    "EARLIEST_YEAR",
    "LATEST_YEAR",
    "TERMINATION_REASONS",
    "Channel",
    "Client",
    "ClientKind",
    "Complaint",
    "ComplaintCategory",
    "ComplaintStatus",
    "ContactPerson",
    "Direction",
    "Escalation",
    "FrozenMap",
    "Interaction",
    "LossReason",
    "Money",
    "Order",
    "OrderStatus",
    "Purpose",
    "Record",
    "Severity",
    "record_sort_key",
]


# --------------------------------------------------------------------------- vocabularies


class ClientKind(Vocab):
    """Whether a client is a company (counterparty) or a person."""

    company = "company"
    person = "person"


class Channel(Vocab):
    """The channel of an interaction."""

    phone = "phone"
    email = "email"
    meeting = "meeting"
    web = "web"
    chat = "chat"
    letter = "letter"
    other = "other"


class Direction(Vocab):
    """Who started an interaction: the client (``inbound``) or the supplier."""

    inbound = "inbound"
    outbound = "outbound"


class Purpose(Vocab):
    """What an interaction was for (the contract's ``purpose`` column)."""

    inquiry = "inquiry"
    offer_change = "offer_change"
    joint_planning = "joint_planning"
    service_exchange = "service_exchange"
    wish = "wish"
    feedback = "feedback"
    referral = "referral"
    marketing = "marketing"
    escalation = "escalation"
    ultimatum = "ultimatum"
    arbitration = "arbitration"
    arbitration_closed = "arbitration_closed"
    termination = "termination"
    reactivation = "reactivation"
    other = "other"


class LossReason(Vocab):
    """Why a client ended the relationship (``reason`` of a ``termination``).

    ``lapsed`` is the reason the lifecycle gives a client it finds lost by
    silence (no sale for longer than its policy allows) rather than by a
    recorded termination.
    """

    competitor = "competitor"
    price = "price"
    quality = "quality"
    service = "service"
    manager_left = "manager_left"
    other = "other"
    lapsed = "lapsed"


#: The reasons a ``termination`` interaction can record (the contract's
#: ``reason`` values): every :class:`LossReason` but ``lapsed``, the lifecycle's
#: verdict on silence, which no record states. :class:`Interaction` and the
#: readers refuse any other value.
TERMINATION_REASONS: Final[tuple[LossReason, ...]] = tuple(
    r for r in LossReason if r is not LossReason.lapsed
)


class OrderStatus(Vocab):
    """The status of an order. ``planned`` orders are plans, not sales."""

    placed = "placed"
    delivered = "delivered"
    cancelled = "cancelled"
    returned = "returned"
    planned = "planned"


class ComplaintCategory(Vocab):
    """What a complaint is about."""

    delivery = "delivery"
    quality = "quality"
    billing = "billing"
    service = "service"
    other = "other"


class Severity(OrderedVocab):
    """How severe a complaint is, lowest first (members are ordered)."""

    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class ComplaintStatus(Vocab):
    """Where a complaint stands. ``resolved`` and ``rejected`` are closed."""

    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"
    rejected = "rejected"


class Escalation(OrderedVocab):
    """How far a complaint was escalated on the client's side, lowest first."""

    none = "none"
    staff = "staff"
    management = "management"


# --------------------------------------------------------------------------- FrozenMap

K = TypeVar("K")
V = TypeVar("V")
_T = TypeVar("_T")


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """An immutable, hashable mapping (used for user-defined attributes).

    It copies what it is given, so later changes to the source do not leak in.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[K, V] | None = None, /) -> None:
        self._data: dict[K, V] = dict(data) if data else {}
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    # ``in`` and ``get`` answered by the dict itself: Mapping's generic versions go
    # through __getitem__ and a try/except, and policies look rates and levels up
    # once per record.
    def __contains__(self, key: object) -> bool:
        return key in self._data

    @overload
    def get(self, key: K, /) -> V | None: ...

    @overload
    def get(self, key: K, /, default: V | _T) -> V | _T: ...

    def get(self, key: K, /, default: object = None) -> object:
        """The value for ``key``, or ``default`` when it is missing."""
        return self._data.get(key, default)

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def _to_frozenmap(value: Mapping[Any, Any] | None) -> FrozenMap[Any, Any]:
    if isinstance(value, FrozenMap):
        return value
    return FrozenMap(value)


# --------------------------------------------------------------------------- checks

_CURRENCY = re.compile(r"[A-Z]{3}")

#: The years a record's datetime may have (both included). The lifecycle's and the
#: ladder's windows are computed around every moment; far from this range they
#: would leave the calendar. Readers, the command line's ``--as-of`` and the
#: records themselves enforce the same range.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199

#: A lone UTF-16 surrogate (``\ud800`` from a JSON escape): not valid Unicode text,
#: and no file can be written with it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogate(record: str, field: str, value: str, record_id: str | None) -> None:
    if not value.isascii() and _SURROGATE.search(value):
        raise ValidationError(
            record=record,
            field=field,
            value=value,
            record_id=record_id,
            reason="contains a lone surrogate (such as \\ud800): not valid Unicode text",
        )


def _type_error(record: str, field: str, value: object, expected: str) -> RecordTypeError:
    return RecordTypeError(record=record, field=field, value=value, expected=expected)


def _check_id(record: str, field: str, value: object, record_id: str | None = None) -> None:
    if type(value) is not str:
        raise _type_error(record, field, value, "a string id")
    if not value or value.isspace():
        raise ValidationError(
            record=record,
            field=field,
            value=value,
            reason="an id must not be empty",
            record_id=record_id,
        )
    _no_surrogate(record, field, value, record_id)


def _check_opt_str(record: str, field: str, value: object, record_id: str | None = None) -> None:
    if value is None:
        return
    if type(value) is not str:
        raise _type_error(record, field, value, "a string or None")
    _no_surrogate(record, field, value, record_id)


def _check_moment(record: str, field: str, value: object, record_id: str | None) -> datetime:
    """Return ``value`` with a fixed UTC offset, or refuse it.

    A datetime in a zone with daylight saving time (``dateutil.tz.gettz``,
    ``zoneinfo``) compares by wall time against datetimes of the same zone, so two
    instants of a DST fold would sort wrongly and a round trip through ISO 8601
    would not compare equal. Pinning the offset the zone had at that instant keeps
    the instant and makes every comparison an instant comparison.
    """
    if not isinstance(value, datetime):
        raise _type_error(record, field, value, "a timezone-aware datetime")
    offset = None if value.tzinfo is None else value.utcoffset()
    if offset is None:
        raise ValidationError(
            record=record,
            field=field,
            value=value,
            record_id=record_id,
            reason="the datetime has no time zone; give an aware datetime "
            "(readers attach the zone given by --tz)",
        )
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValidationError(
            record=record,
            field=field,
            value=value,
            record_id=record_id,
            reason=f"the datetime is outside the supported years {EARLIEST_YEAR}-{LATEST_YEAR}",
        )
    return pinned(value)


def pinned(value: datetime) -> datetime:
    """An aware datetime with the fixed UTC offset its zone has at that instant
    (itself when its zone is already a fixed offset): the form every record keeps."""
    if type(value.tzinfo) is timezone:
        return value
    return value.replace(tzinfo=timezone(value.utcoffset()), fold=0)  # type: ignore[arg-type]


def _coerce_decimal(
    record: str, field: str, value: object, record_id: str | None, *, nonnegative: bool
) -> Decimal:
    """Return ``value`` as a finite Decimal; ints and decimal strings are accepted exactly."""
    if type(value) is Decimal:
        number = value
    elif isinstance(value, bool | float):
        raise _type_error(
            record, field, value, "a Decimal, an int or a decimal string (never a float)"
        )
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(
                record=record,
                field=field,
                value=value,
                record_id=record_id,
                reason="not a decimal number",
            ) from None
    elif isinstance(value, Decimal):
        number = Decimal(value)
    else:
        raise _type_error(record, field, value, "a Decimal, an int or a decimal string")
    if not number.is_finite():
        raise ValidationError(
            record=record,
            field=field,
            value=value,
            record_id=record_id,
            reason="must be a finite number (not NaN or infinity)",
        )
    if nonnegative and number < 0:
        raise ValidationError(
            record=record, field=field, value=value, record_id=record_id, reason="must be >= 0"
        )
    return number


def _check_currency(record: str, field: str, value: object, record_id: str | None) -> None:
    if type(value) is not str:
        raise _type_error(record, field, value, "an ISO 4217 currency code")
    if not _CURRENCY.fullmatch(value):
        raise ValidationError(
            record=record,
            field=field,
            value=value,
            record_id=record_id,
            reason="must be a three-letter upper-case ISO 4217 code such as 'EUR'",
        )


def _check_opt_bool(record: str, field: str, value: object) -> None:
    if value is not None and type(value) is not bool:
        raise _type_error(record, field, value, "True, False or None")


VocabT = TypeVar("VocabT", bound=Vocab)


def _vocab(
    obj: object, record: str, field: str, cls: type[VocabT], value: object, record_id: str | None
) -> None:
    """Replace a string value of a vocabulary field with its member, or refuse it."""
    if type(value) is cls:
        return
    if not isinstance(value, str):
        raise _type_error(record, field, value, f"a {cls.__name__} or one of its string values")
    try:
        member = cls.parse(value)
    except ValueError as exc:
        raise ValidationError(
            record=record, field=field, value=value, record_id=record_id, reason=str(exc)
        ) from None
    object.__setattr__(obj, field, member)


def _set(obj: object, field: str, value: object) -> None:
    object.__setattr__(obj, field, value)


# --------------------------------------------------------------------------- Money


@attrs.frozen
class Money:
    """An amount of money in one currency.

    Arithmetic and comparison refuse to mix currencies
    (:class:`~relcycle.errors.CurrencyMismatchError`). Amounts may be negative (a
    profit can be); record fields that hold money check for ``>= 0`` themselves.

    Args:
        amount: A :class:`~decimal.Decimal`, an int, or a decimal string. Floats are
            refused: ``0.1`` is not a price.
        currency: An ISO 4217 code, upper case.
    """

    amount: Decimal
    currency: str = "USD"

    def __attrs_post_init__(self) -> None:
        _set(
            self, "amount", _coerce_decimal("Money", "amount", self.amount, None, nonnegative=False)
        )
        _check_currency("Money", "currency", self.currency, None)

    @classmethod
    def zero(cls, currency: str = "USD") -> Money:
        """Return zero in ``currency``."""
        return cls(Decimal(0), currency)

    def _same(self, other: Money, op: str) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatchError(currencies=(self.currency, other.currency), context=op)

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "addition")
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "subtraction")
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int | Decimal):
            return NotImplemented
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "comparison")
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "comparison")
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "comparison")
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "comparison")
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.amount:,} {self.currency}"

    def to_dict(self) -> dict[str, str]:
        """Return ``{"amount": "12.50", "currency": "EUR"}``."""
        return {"amount": str(self.amount), "currency": self.currency}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Money:
        """Build from the output of :meth:`to_dict`.

        Raises:
            ValidationError: For an unknown field (a misspelt ``currency`` must
                not quietly become USD), a missing amount or a bad value.
        """
        unknown = sorted(set(data) - {"amount", "currency"})
        if unknown:
            raise ValidationError(
                record="Money",
                field=str(unknown[0]),
                value=data[unknown[0]],
                reason="unknown field (known: amount, currency)",
            )
        if data.get("amount") is None:
            raise ValidationError(
                record="Money", field="amount", value=None, reason="a required field is missing"
            )
        currency = data.get("currency")
        return cls(data["amount"], "USD" if currency is None else currency)


# --------------------------------------------------------------------------- serialization mixin


class _Serializable:
    """to_dict/from_dict/to_json/from_json for the records (lossless, contract names)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with the contract's field names (lossless).

        Money is a decimal string, times are ISO 8601 with their offset,
        vocabularies are their string values.
        """
        return _encode(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the output of :meth:`to_dict` (strings or native values).

        Raises:
            ValidationError: For an unknown field, a missing required field or a bad value.
        """
        return _decode(cls, data)

    def to_json(self) -> str:
        """Return :meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Build from the output of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


# --------------------------------------------------------------------------- records


@attrs.frozen(kw_only=True)
class ContactPerson(_Serializable):
    """A person at a client company the supplier deals with.

    Args:
        name: The person's name.
        role: Their role at the client (``"purchasing manager"``).
        email: E-mail address.
        phone: Phone number.
        birthday: Birthday, a date that matters for the relationship.
        dates: Other dates that matter, by label (``{"company anniversary": date(...)}``).
    """

    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None
    birthday: date | None = None
    dates: FrozenMap[str, date] = attrs.field(factory=FrozenMap, converter=_to_frozenmap)

    def __attrs_post_init__(self) -> None:
        if type(self.name) is not str or not self.name.strip():
            raise ValidationError(
                record="ContactPerson",
                field="name",
                value=self.name,
                reason="a contact person needs a non-empty name",
            )
        _no_surrogate("ContactPerson", "name", self.name, None)
        for f in ("role", "email", "phone"):
            _check_opt_str("ContactPerson", f, getattr(self, f))
        if self.birthday is not None and (type(self.birthday) is not date):
            raise _type_error("ContactPerson", "birthday", self.birthday, "a date or None")
        for label, day in self.dates.items():
            if type(label) is not str or type(day) is not date:
                raise _type_error(
                    "ContactPerson", "dates", {label: day}, "a mapping of str to date"
                )


def _to_contacts(value: Iterable[ContactPerson]) -> tuple[ContactPerson, ...]:
    # A typed converter: with the builtin ``tuple`` mypy's attrs plugin leaves the
    # parameter's element type unsolved and refuses every argument.
    return tuple(value)


@attrs.frozen(kw_only=True)
class Client(_Serializable):
    """A client of the supplier: the counterparty, a company or a person.

    Args:
        client_id: The client's id (a non-empty string; ``"007"`` stays ``"007"``).
        name: The client's name.
        kind: ``company`` (default) or ``person``.
        industry: The client's industry.
        region: The client's region.
        account_manager: The id of the supplier's manager who owns the relationship.
        since: When the relationship started (aware datetime).
        contacts: The client's contact persons.
        attributes: User-defined attributes (extra columns), text by name, usable in
            segmentation.
    """

    KIND: ClassVar[str] = "client"

    client_id: str
    name: str | None = None
    kind: ClientKind = ClientKind.company
    industry: str | None = None
    region: str | None = None
    account_manager: str | None = None
    since: datetime | None = None
    contacts: tuple[ContactPerson, ...] = attrs.field(default=(), converter=_to_contacts)
    attributes: FrozenMap[str, str] = attrs.field(factory=FrozenMap, converter=_to_frozenmap)

    def __attrs_post_init__(self) -> None:
        cid = self.client_id
        _check_id("Client", "client_id", cid)
        _vocab(self, "Client", "kind", ClientKind, self.kind, cid)
        for f in ("name", "industry", "region"):
            _check_opt_str("Client", f, getattr(self, f), cid)
        if self.account_manager is not None:
            _check_id("Client", "account_manager", self.account_manager, cid)
        if self.since is not None:
            _set(self, "since", _check_moment("Client", "since", self.since, cid))
        for person in self.contacts:
            if not isinstance(person, ContactPerson):
                raise _type_error("Client", "contacts", person, "ContactPerson objects")
        for key, value in self.attributes.items():
            if type(key) is not str or type(value) is not str:
                raise _type_error("Client", "attributes", {key: value}, "a mapping of str to str")
            _no_surrogate("Client", "attributes", key, cid)
            _no_surrogate("Client", key, value, cid)

    def _repr_html_(self) -> str:
        from ._repr import html_card

        facts = [(k, v) for k, v in self.to_dict().items() if v not in (None, "", [], {})]
        return html_card(f"Client {self.client_id}", facts)

    @property
    def id(self) -> str:
        """The record's id (``client_id``)."""
        return self.client_id


@attrs.frozen(kw_only=True)
class Interaction(_Serializable):
    """One contact between the supplier and a client.

    Args:
        interaction_id: The record's id.
        client_id: The client's id.
        at: When it happened (aware datetime).
        channel: The channel; ``other`` by default.
        direction: ``inbound`` (client-initiated, default) or ``outbound``.
        purpose: What it was for; ``inquiry`` by default. ``escalation``,
            ``ultimatum``, ``arbitration``, ``arbitration_closed``, ``termination`` and
            ``reactivation`` drive the lifecycle.
        handled_by: The supplier's employee who handled it.
        minutes: Time the supplier spent on it, for cost-to-serve (``>= 0``).
        reason: For a ``termination``, why the client left: one of
            :data:`TERMINATION_REASONS` (``lapsed`` is refused: no record states it).
        note: Free text.
    """

    KIND: ClassVar[str] = "interaction"

    interaction_id: str
    client_id: str
    at: datetime
    channel: Channel = Channel.other
    direction: Direction = Direction.inbound
    purpose: Purpose = Purpose.inquiry
    handled_by: str | None = None
    minutes: Decimal | None = None
    reason: LossReason | None = None
    note: str | None = None

    def __attrs_post_init__(self) -> None:
        rid = self.interaction_id
        _check_id("Interaction", "interaction_id", rid)
        _check_id("Interaction", "client_id", self.client_id, rid)
        _set(self, "at", _check_moment("Interaction", "at", self.at, rid))
        if type(self.channel) is not Channel:
            _vocab(self, "Interaction", "channel", Channel, self.channel, rid)
        if type(self.direction) is not Direction:
            _vocab(self, "Interaction", "direction", Direction, self.direction, rid)
        if type(self.purpose) is not Purpose:
            _vocab(self, "Interaction", "purpose", Purpose, self.purpose, rid)
        if self.handled_by is not None:
            _check_id("Interaction", "handled_by", self.handled_by, rid)
        if self.minutes is not None:
            _set(
                self,
                "minutes",
                _coerce_decimal("Interaction", "minutes", self.minutes, rid, nonnegative=True),
            )
        if self.reason is not None:
            if type(self.reason) is not LossReason:
                _vocab(self, "Interaction", "reason", LossReason, self.reason, rid)
            if self.reason not in TERMINATION_REASONS:
                raise ValidationError(
                    record="Interaction",
                    field="reason",
                    value=self.reason.value,
                    record_id=rid,
                    reason=refusal(TERMINATION_REASONS, self.reason),
                )
        _check_opt_str("Interaction", "note", self.note, rid)

    @property
    def id(self) -> str:
        """The record's id (``interaction_id``)."""
        return self.interaction_id


@attrs.frozen(kw_only=True)
class Order(_Serializable):
    """A purchase by a client (a sale, a deal, a project).

    Args:
        order_id: The record's id.
        client_id: The client's id.
        placed_at: When the order was placed (aware datetime).
        amount: The order's value (``>= 0``; Decimal, int or decimal string).
        currency: ISO 4217 code; ``USD`` by default.
        discounted: Placed at a discount or in a discount season.
        status: ``placed`` (default), ``delivered``, ``cancelled``, ``returned`` or
            ``planned`` (a plan, not a sale).
        on_time: Whether it was delivered on time; None when not known.
        product: The product or category.
        cost: The cost of goods, for profit (``>= 0``).
    """

    KIND: ClassVar[str] = "order"

    order_id: str
    client_id: str
    placed_at: datetime
    amount: Decimal
    currency: str = "USD"
    discounted: bool = False
    status: OrderStatus = OrderStatus.placed
    on_time: bool | None = None
    product: str | None = None
    cost: Decimal | None = None

    def __attrs_post_init__(self) -> None:
        rid = self.order_id
        _check_id("Order", "order_id", rid)
        _check_id("Order", "client_id", self.client_id, rid)
        _set(self, "placed_at", _check_moment("Order", "placed_at", self.placed_at, rid))
        if type(self.amount) is not Decimal or not self.amount.is_finite() or self.amount < 0:
            _set(
                self,
                "amount",
                _coerce_decimal("Order", "amount", self.amount, rid, nonnegative=True),
            )
        if self.currency != "USD":
            _check_currency("Order", "currency", self.currency, rid)
        if type(self.discounted) is not bool:
            raise _type_error("Order", "discounted", self.discounted, "True or False")
        if type(self.status) is not OrderStatus:
            _vocab(self, "Order", "status", OrderStatus, self.status, rid)
        _check_opt_bool("Order", "on_time", self.on_time)
        _check_opt_str("Order", "product", self.product, rid)
        if self.cost is not None:
            _set(self, "cost", _coerce_decimal("Order", "cost", self.cost, rid, nonnegative=True))

    @property
    def id(self) -> str:
        """The record's id (``order_id``)."""
        return self.order_id

    @property
    def at(self) -> datetime:
        """The order's moment (``placed_at``)."""
        return self.placed_at

    @property
    def money(self) -> Money:
        """The amount as :class:`Money`."""
        return Money(self.amount, self.currency)

    @property
    def is_sale(self) -> bool:
        """True for orders that count as sales (the rule :data:`relcycle.rules.SALE`)."""
        from relcycle.rules import SALE

        return SALE.test(self)


_CLOSED = frozenset({ComplaintStatus.resolved, ComplaintStatus.rejected})


@attrs.frozen(kw_only=True)
class Complaint(_Serializable):
    """A claim by a client about the supplier's performance.

    The record holds the complaint's latest known status; :meth:`is_open_at` tells
    whether it was still open at a given moment.

    Args:
        complaint_id: The record's id.
        client_id: The client's id.
        opened_at: When the complaint was opened (aware datetime).
        category: ``delivery``, ``quality``, ``billing``, ``service`` or ``other`` (default).
        severity: ``low``, ``medium`` (default), ``high`` or ``critical``.
        client_loss: The loss the client suffered, if any (``>= 0``).
        currency: The currency of ``client_loss``; ``USD`` by default.
        status: ``open`` (default), ``acknowledged``, ``resolved`` or ``rejected``.
        resolved_at: When it was resolved or rejected; required for those statuses,
            not before ``opened_at``, and refused for open ones.
        escalated_to: ``none`` (default), ``staff`` or ``management``.
    """

    KIND: ClassVar[str] = "complaint"

    complaint_id: str
    client_id: str
    opened_at: datetime
    category: ComplaintCategory = ComplaintCategory.other
    severity: Severity = Severity.medium
    client_loss: Decimal | None = None
    currency: str = "USD"
    status: ComplaintStatus = ComplaintStatus.open
    resolved_at: datetime | None = None
    escalated_to: Escalation = Escalation.none

    def __attrs_post_init__(self) -> None:
        rid = self.complaint_id
        _check_id("Complaint", "complaint_id", rid)
        _check_id("Complaint", "client_id", self.client_id, rid)
        _set(self, "opened_at", _check_moment("Complaint", "opened_at", self.opened_at, rid))
        if type(self.category) is not ComplaintCategory:
            _vocab(self, "Complaint", "category", ComplaintCategory, self.category, rid)
        if type(self.severity) is not Severity:
            _vocab(self, "Complaint", "severity", Severity, self.severity, rid)
        if self.client_loss is not None:
            _set(
                self,
                "client_loss",
                _coerce_decimal(
                    "Complaint", "client_loss", self.client_loss, rid, nonnegative=True
                ),
            )
        if self.currency != "USD":
            _check_currency("Complaint", "currency", self.currency, rid)
        if type(self.status) is not ComplaintStatus:
            _vocab(self, "Complaint", "status", ComplaintStatus, self.status, rid)
        if type(self.escalated_to) is not Escalation:
            _vocab(self, "Complaint", "escalated_to", Escalation, self.escalated_to, rid)
        if self.resolved_at is None:
            if self.status in _CLOSED:
                raise ValidationError(
                    record="Complaint",
                    field="resolved_at",
                    value=None,
                    record_id=rid,
                    reason=f"a {self.status.value} complaint needs its resolution time",
                )
        else:
            resolved_at = _check_moment("Complaint", "resolved_at", self.resolved_at, rid)
            _set(self, "resolved_at", resolved_at)
            if self.status not in _CLOSED:
                raise ValidationError(
                    record="Complaint",
                    field="resolved_at",
                    value=self.resolved_at,
                    record_id=rid,
                    reason=f"an {self.status.value} complaint cannot have a resolution time",
                )
            if self.resolved_at < self.opened_at:
                raise ValidationError(
                    record="Complaint",
                    field="resolved_at",
                    value=self.resolved_at,
                    record_id=rid,
                    reason=f"resolved before it was opened ({self.opened_at.isoformat()})",
                )

    @property
    def id(self) -> str:
        """The record's id (``complaint_id``)."""
        return self.complaint_id

    @property
    def at(self) -> datetime:
        """The complaint's moment (``opened_at``)."""
        return self.opened_at

    @property
    def loss(self) -> Money | None:
        """``client_loss`` as :class:`Money`, or None."""
        return None if self.client_loss is None else Money(self.client_loss, self.currency)

    def is_open_at(self, moment: datetime) -> bool:
        """True if the complaint was opened by ``moment`` and not yet closed then.

        The rule :data:`relcycle.rules.OPEN_COMPLAINT`.
        """
        from relcycle.rules import OPEN_COMPLAINT

        return OPEN_COMPLAINT.test(self, moment)


class Record(Protocol):
    """What the three kinds of timed records (Interaction, Order, Complaint) share."""

    KIND: ClassVar[str]

    @property
    def id(self) -> str:
        """The record's id."""
        ...

    @property
    def client_id(self) -> str:
        """The id of the client the record belongs to."""
        ...

    @property
    def at(self) -> datetime:
        """The record's moment (aware)."""
        ...


#: The rank of each record kind in the total order (alphabetical by kind name).
KIND_RANK: Mapping[str, int] = FrozenMap({"complaint": 0, "interaction": 1, "order": 2})


def record_sort_key(record: Record) -> tuple[datetime, int, str]:
    """The total order of a client's records: moment, then kind, then id.

    Moments compare as instants (the offset does not matter); records at the same
    instant come complaint, interaction, order; then by id. The order never depends
    on the order records arrived in.
    """
    try:
        return (record.at, KIND_RANK[record.KIND], record.id)
    except (AttributeError, KeyError):
        raise RecordTypeError(
            record="record_sort_key",
            field="record",
            value=record,
            expected="an Order, Interaction or Complaint",
        ) from None


# --------------------------------------------------------------------------- (de)serialization

_Codec = tuple[Any, Any]  # (encode, decode)


def _enc_dt(v: datetime | None) -> str | None:
    return None if v is None else v.isoformat()


def _dec_dt(v: Any) -> Any:
    if v is None or isinstance(v, datetime):
        return v
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v)
        except ValueError:
            raise ValueError("not an ISO 8601 datetime") from None
    return v  # the constructor reports the wrong type


def _enc_date(v: date | None) -> str | None:
    return None if v is None else v.isoformat()


def _dec_date(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            raise ValueError("not an ISO 8601 date") from None
    return v


def _enc_dec(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def _same(v: Any) -> Any:
    return v


def _enc_vocab(v: Vocab | None) -> str | None:
    return None if v is None else v.value


def _enc_map(v: FrozenMap[str, Any]) -> dict[str, Any]:
    return dict(v)


def _enc_dates(v: FrozenMap[str, date]) -> dict[str, str]:
    return {k: d.isoformat() for k, d in v.items()}


def _dec_dates(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _dec_date(d) for k, d in v.items()}
    return v


def _enc_contacts(v: tuple[ContactPerson, ...]) -> list[dict[str, Any]]:
    return [_encode(p) for p in v]


def _dec_contacts(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return tuple(p if isinstance(p, ContactPerson) else _decode(ContactPerson, p) for p in v)
    return v


_DT: _Codec = (_enc_dt, _dec_dt)
_DEC: _Codec = (_enc_dec, _same)
_PLAIN: _Codec = (_same, _same)
_VOC: _Codec = (_enc_vocab, _same)

_CODECS: dict[type, dict[str, _Codec]] = {
    ContactPerson: {
        "name": _PLAIN,
        "role": _PLAIN,
        "email": _PLAIN,
        "phone": _PLAIN,
        "birthday": (_enc_date, _dec_date),
        "dates": (_enc_dates, _dec_dates),
    },
    Client: {
        "client_id": _PLAIN,
        "name": _PLAIN,
        "kind": _VOC,
        "industry": _PLAIN,
        "region": _PLAIN,
        "account_manager": _PLAIN,
        "since": _DT,
        "contacts": (_enc_contacts, _dec_contacts),
        "attributes": (_enc_map, _same),
    },
    Interaction: {
        "interaction_id": _PLAIN,
        "client_id": _PLAIN,
        "at": _DT,
        "channel": _VOC,
        "direction": _VOC,
        "purpose": _VOC,
        "handled_by": _PLAIN,
        "minutes": _DEC,
        "reason": _VOC,
        "note": _PLAIN,
    },
    Order: {
        "order_id": _PLAIN,
        "client_id": _PLAIN,
        "placed_at": _DT,
        "amount": _DEC,
        "currency": _PLAIN,
        "discounted": _PLAIN,
        "status": _VOC,
        "on_time": _PLAIN,
        "product": _PLAIN,
        "cost": _DEC,
    },
    Complaint: {
        "complaint_id": _PLAIN,
        "client_id": _PLAIN,
        "opened_at": _DT,
        "category": _VOC,
        "severity": _VOC,
        "client_loss": _DEC,
        "currency": _PLAIN,
        "status": _VOC,
        "resolved_at": _DT,
        "escalated_to": _VOC,
    },
}

T = TypeVar("T")


def _encode(obj: object) -> dict[str, Any]:
    codecs = _CODECS[type(obj)]
    return {name: enc(getattr(obj, name)) for name, (enc, _) in codecs.items()}


def _decode(cls: type[T], data: Mapping[str, Any]) -> T:
    name = cls.__name__
    if not isinstance(data, Mapping):
        raise RecordTypeError(record=name, field="(record)", value=data, expected="a mapping")
    codecs = _CODECS[cls]
    unknown = sorted(set(data) - set(codecs))
    if unknown:
        raise ValidationError(
            record=name,
            field=str(unknown[0]),
            value=data[unknown[0]],
            reason=f"unknown field (known: {', '.join(codecs)})",
        )
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue  # JSON null for an optional field means "not known": the default
        try:
            kwargs[key] = codecs[key][1](value)
        except ValueError as exc:
            raise ValidationError(record=name, field=key, value=value, reason=str(exc)) from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        if isinstance(exc, RecordTypeError):
            raise
        missing = [
            f.name
            for f in attrs.fields(cast(Any, cls))
            if f.default is attrs.NOTHING and f.name not in kwargs
        ]
        raise ValidationError(
            record=name,
            field=missing[0] if missing else "(record)",
            value=None,
            reason="a required field is missing",
        ) from None
