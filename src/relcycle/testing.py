"""Hypothesis strategies for relcycle's objects, for your tests and ours.

Every strategy here produces *valid* objects only: aware datetimes that exist in
their zone (including the instants around daylight-saving changes), money as
finite non-negative :class:`~decimal.Decimal`, complaints whose resolution time
fits their status, histories whose record ids are unique per kind. Keyword
arguments narrow them (``orders(client_id="C1", currency="EUR")``).

:func:`valid_rows` and :func:`invalid_rows` work one level lower: they produce
raw rows of the data contract's tables (``dict[str, str]``, as a CSV reader
yields them); an invalid row is wrong in exactly one cell and comes with the
column and a fragment of the reason a reader is expected to report.

This module needs the ``testing`` extra (``pip install relcycle[testing]``); it
is never imported by ``import relcycle``. Installing relcycle registers the
strategies with :func:`hypothesis.strategies.from_type` through hypothesis'
entry point, so ``st.from_type(Order)`` works without importing this module.

Example::

    from hypothesis import given
    from relcycle.testing import histories

    @given(histories(max_records=20))
    def test_as_of_keeps_everything_at_the_end(history):
        if history.last_moment is not None:
            assert history.as_of(history.last_moment) == history
"""

from __future__ import annotations

# First, before hypothesis: importing hypothesis runs its entry points, which
# look this hook up on the half-imported module.
from ._hypothesis_hook import _hypothesis_setup_hook as _hypothesis_setup_hook

# isort: split
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, TypeVar

import attrs
import hypothesis.strategies as st
from dateutil import tz

from .errors import UsageError
from .history import ClientHistory, Portfolio, build_portfolio
from .model import (
    TERMINATION_REASONS,
    Channel,
    Client,
    ClientKind,
    Complaint,
    ComplaintCategory,
    ComplaintStatus,
    ContactPerson,
    Direction,
    Escalation,
    Interaction,
    Money,
    Order,
    OrderStatus,
    Purpose,
    Severity,
)

__all__ = [
    "COLUMNS",
    "CURRENCIES",
    "MAX_TIME",
    "MIN_TIME",
    "ZONE_NAMES",
    "amounts",
    "clients",
    "complaints",
    "contact_persons",
    "currencies",
    "histories",
    "ids",
    "interactions",
    "invalid_rows",
    "known_at",
    "money",
    "orders",
    "portfolios",
    "texts",
    "timestamps",
    "valid_rows",
    "zones",
]

T = TypeVar("T")

#: The earliest instant the strategies produce by default.
MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
#: The latest instant the strategies produce by default (tz databases list
#: explicit transitions up to 2037).
MAX_TIME = datetime(2036, 12, 31, 23, 59, 59, tzinfo=UTC)

#: Time zones the timestamps come in: DST in both hemispheres, a 30-minute DST
#: shift (Lord Howe), offsets of :30 and :45 minutes, and zones without DST.
#: Each entry lists alternative names (old and new tz database spellings).
ZONE_NAMES: tuple[tuple[str, ...], ...] = (
    ("UTC",),
    ("Europe/Kyiv", "Europe/Kiev"),
    ("Europe/Budapest",),
    ("Europe/Berlin",),
    ("America/New_York",),
    ("America/St_Johns",),
    ("Australia/Lord_Howe",),
    ("Pacific/Chatham",),
    ("Asia/Kolkata", "Asia/Calcutta"),
)

#: Currency codes the money strategies draw from.
CURRENCIES: tuple[str, ...] = ("USD", "EUR", "UAH", "HUF", "GBP", "PLN", "CHF", "JPY")

#: The contract's columns of each input table, in contract order (the readers accept
#: these plus a few documented additions: see :data:`relcycle.io.COLUMNS`).
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "clients": (
        "client_id",
        "name",
        "kind",
        "industry",
        "region",
        "account_manager",
        "since",
    ),
    "orders": (
        "order_id",
        "client_id",
        "placed_at",
        "amount",
        "currency",
        "discounted",
        "status",
        "on_time",
        "product",
        "cost",
    ),
    "interactions": (
        "interaction_id",
        "client_id",
        "at",
        "channel",
        "direction",
        "purpose",
        "handled_by",
        "minutes",
        "reason",
        "note",
    ),
    "complaints": (
        "complaint_id",
        "client_id",
        "opened_at",
        "category",
        "severity",
        "client_loss",
        "status",
        "resolved_at",
        "escalated_to",
    ),
}

_INDUSTRIES = ("retail", "logistics", "construction", "agriculture", "IT", "будівництво", "ipar")
_REGIONS = ("Kyiv", "Lviv", "Budapest", "Debrecen", "Warsaw", "Berlin", "Одеса")
_PRODUCTS = ("steel pipe", "cement M500", "консультація", "szállítás", "software licence")
_ATTRIBUTE_KEYS = ("segment", "tier", "country", "x_channel_partner", "sector_code")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:#ЖжЇїÁáŐő"


# --------------------------------------------------------------------------- helpers


def _zone(names: Sequence[str]) -> tzinfo | None:
    for name in names:
        zone = tz.gettz(name)
        if zone is not None:
            return zone
    return None


@functools.cache
def _default_zones() -> tuple[tzinfo, ...]:
    found = [z for names in ZONE_NAMES if (z := _zone(names)) is not None]
    fixed = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3))]
    return (*fixed, *found)


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UsageError(f"{what} must be an aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def _bounds(min_value: datetime | None, max_value: datetime | None) -> tuple[datetime, datetime]:
    lo = MIN_TIME if min_value is None else _utc(min_value, "min_value")
    hi = MAX_TIME if max_value is None else _utc(max_value, "max_value")
    if lo > hi:
        raise UsageError(f"min_value {lo.isoformat()} is after max_value {hi.isoformat()}")
    return lo, hi


def _offset_at(zone: tzinfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    return timedelta(0) if offset is None else offset


_TRANSITIONS: dict[tuple[int, int], tuple[tzinfo, tuple[datetime, ...]]] = {}


def _transitions(zone: tzinfo, year: int) -> tuple[datetime, ...]:
    """The UTC instants in ``year`` at which ``zone`` changes its offset (to the second).

    Cached by the zone's identity (dateutil's zones are not hashable); the
    entry keeps the zone alive so its id cannot be reused.
    """
    cached = _TRANSITIONS.get((id(zone), year))
    if cached is not None and cached[0] is zone:
        return cached[1]
    found: list[datetime] = []
    start = datetime(year, 1, 1, tzinfo=UTC)
    day = timedelta(days=1)
    previous = _offset_at(zone, start)
    for n in range(1, 367):
        moment = start + n * day
        offset = _offset_at(zone, moment)
        if offset != previous:
            lo, hi = moment - day, moment  # offset changes in (lo, hi]
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if _offset_at(zone, mid) == previous:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            previous = offset
    result = tuple(found)
    _TRANSITIONS[(id(zone), year)] = (zone, result)
    return result


@functools.lru_cache(maxsize=256)
def _optional(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    # Cached (strategies hash by identity), so a draw does not build and
    # validate a new strategy each time: that dominated the cost of histories.
    return st.none() | strategy


def _check_table(table: str) -> tuple[str, ...]:
    try:
        return COLUMNS[table]
    except KeyError:
        raise UsageError(f"unknown table {table!r}; one of: {', '.join(sorted(COLUMNS))}") from None


# --------------------------------------------------------------------------- scalars


def zones() -> st.SearchStrategy[tzinfo]:
    """Time zones: fixed offsets and tz-database zones with and without DST.

    Returns:
        A strategy of :class:`~datetime.tzinfo` objects (the zones of
        :data:`ZONE_NAMES` that this machine's tz database has, plus UTC and two
        fixed offsets).
    """
    return st.sampled_from(_default_zones())


@st.composite
def _timestamps(
    draw: st.DrawFn, lo: datetime, hi: datetime, zone_choices: tuple[tzinfo, ...]
) -> datetime:
    zone = draw(st.sampled_from(zone_choices))
    naive = draw(st.datetimes(min_value=lo.replace(tzinfo=None), max_value=hi.replace(tzinfo=None)))
    instant = naive.replace(tzinfo=UTC)
    if draw(st.integers(0, 3)) == 3:  # a quarter of the time: near a DST change
        year = draw(st.integers(lo.year, hi.year))
        changes = _transitions(zone, year)
        if changes:
            change = draw(st.sampled_from(changes))
            shift = draw(
                st.sampled_from((0, -1, 1, -1800, 1800, -3600, 3600, -5400, 5400))
                | st.integers(-3 * 3600, 3 * 3600)
            )
            near = change + timedelta(seconds=shift)
            if lo <= near <= hi:
                instant = near
    return instant.astimezone(zone)


def timestamps(
    *,
    min_value: datetime | None = None,
    max_value: datetime | None = None,
    zones: Sequence[tzinfo | str] | None = None,
) -> st.SearchStrategy[datetime]:
    """Aware datetimes that exist in their zone, often close to a DST change.

    Each value is a real instant shown in one of several zones (see
    :data:`ZONE_NAMES`); about a quarter of them fall within three hours of a
    change of the zone's offset, so the repeated hour of a fold (with
    ``fold=1`` for its second pass) and the instants right around a gap come up
    often. Wall times that do not exist (inside a gap) are never produced.

    Args:
        min_value: The earliest instant (aware); :data:`MIN_TIME` by default.
        max_value: The latest instant (aware); :data:`MAX_TIME` by default.
        zones: Zones (tzinfo objects or tz database names) to show the instants
            in; a mix of fixed offsets and DST zones by default.

    Returns:
        A strategy of timezone-aware :class:`~datetime.datetime` objects.

    Raises:
        UsageError: If a bound is naive, the bounds are reversed, or a zone name
            is unknown.
    """
    lo, hi = _bounds(min_value, max_value)
    if zones is None:
        return _default_timestamps(lo, hi)
    resolved: list[tzinfo] = []
    for z in zones:
        if isinstance(z, str):
            found = tz.gettz(z)
            if found is None:
                raise UsageError(f"unknown time zone {z!r}")
            resolved.append(found)
        else:
            resolved.append(z)
    if not resolved:
        raise UsageError("zones must not be empty")
    return _timestamps(lo, hi, tuple(resolved))


@functools.lru_cache(maxsize=256)
def _default_timestamps(lo: datetime, hi: datetime) -> st.SearchStrategy[datetime]:
    return _timestamps(lo, hi, _default_zones())


def ids(prefix: str = "") -> st.SearchStrategy[str]:
    """Record ids as real data holds them: numbered, zero-padded, or free-form.

    Ids never are empty and never have surrounding whitespace; numbers keep
    their leading zeros (``"007"``).

    Args:
        prefix: Put in front of every id (``"O-"``).

    Returns:
        A strategy of non-empty strings.
    """
    return _ids(prefix)


@functools.cache
def _ids(prefix: str) -> st.SearchStrategy[str]:
    numbered = st.integers(0, 99_999).map(lambda n: f"{prefix}{n:05d}")
    short = st.integers(0, 999).map(lambda n: f"{prefix}{n}")
    free = st.text(alphabet=_ID_ALPHABET, min_size=1, max_size=10).map(lambda s: prefix + s)
    return numbered | short | free


def texts(*, max_size: int = 30, newlines: bool = False) -> st.SearchStrategy[str]:
    """Non-empty free text without surrounding whitespace (names, notes, products).

    Any Unicode letters, digits, punctuation (commas and quotes included) and
    spaces; no control or format characters, so the text survives CSV, JSON
    Lines and SQLite unchanged and never reads as an empty cell.

    Args:
        max_size: The longest text, in characters.
        newlines: Allow line breaks inside the text (for notes).

    Returns:
        A strategy of non-empty, stripped strings.
    """
    return _texts(max_size, newlines)


@functools.cache
def _texts(max_size: int, newlines: bool) -> st.SearchStrategy[str]:
    alphabet = st.characters(exclude_categories=("C", "Zl", "Zp"))
    if newlines:
        alphabet = alphabet | st.just("\n")
    return st.text(alphabet=alphabet, min_size=1, max_size=max_size).map(str.strip).filter(bool)


def currencies() -> st.SearchStrategy[str]:
    """ISO 4217 codes from :data:`CURRENCIES`.

    Returns:
        A strategy of three-letter upper-case codes.
    """
    return st.sampled_from(CURRENCIES)


@st.composite
def _amounts(draw: st.DrawFn, lo: Decimal, hi: Decimal, places: tuple[int, ...]) -> Decimal:
    p = draw(st.sampled_from(places))
    scale = 10**p
    low = int((lo * scale).to_integral_value(rounding=ROUND_CEILING))
    high = int((hi * scale).to_integral_value(rounding=ROUND_FLOOR))
    if low > high:  # no value with p places fits: take the bounds' own exponent
        return lo
    return Decimal(draw(st.integers(low, high))).scaleb(-p)


def amounts(
    *,
    min_value: Decimal | int = 0,
    max_value: Decimal | int = 1_000_000,
    places: Sequence[int] = (0, 2, 2, 3),
) -> st.SearchStrategy[Decimal]:
    """Finite decimal amounts with 0 to a few decimal places (``12``, ``12.50``).

    Args:
        min_value: The smallest amount (0 by default: record money is ``>= 0``).
        max_value: The largest amount.
        places: The numbers of decimal places to draw from (the exponent is
            kept: ``Decimal("1.50")`` stays two places).

    Returns:
        A strategy of finite :class:`~decimal.Decimal` values, never NaN.

    Raises:
        UsageError: If ``min_value > max_value``.
    """
    lo, hi = Decimal(min_value), Decimal(max_value)
    if lo > hi:
        raise UsageError(f"min_value {lo} is above max_value {hi}")
    return _amounts_of(lo, hi, tuple(places))


@functools.cache
def _amounts_of(lo: Decimal, hi: Decimal, places: tuple[int, ...]) -> st.SearchStrategy[Decimal]:
    return _amounts(lo, hi, places)


@st.composite
def _money(draw: st.DrawFn, currency: str | None, amount: st.SearchStrategy[Decimal]) -> Money:
    return Money(draw(amount), currency if currency is not None else draw(currencies()))


def money(
    *,
    currency: str | None = None,
    min_value: Decimal | int = -1_000_000,
    max_value: Decimal | int = 1_000_000,
) -> st.SearchStrategy[Money]:
    """:class:`~relcycle.model.Money` values (negative ones too, as a profit can be).

    Args:
        currency: Fix the currency; drawn from :data:`CURRENCIES` by default.
        min_value: The smallest amount.
        max_value: The largest amount.

    Returns:
        A strategy of :class:`~relcycle.model.Money`.
    """
    return _money(currency, amounts(min_value=min_value, max_value=max_value))


# --------------------------------------------------------------------------- records


@st.composite
def contact_persons(draw: st.DrawFn) -> ContactPerson:
    """Contact persons of a client company, with some of their dates.

    Returns:
        A strategy of :class:`~relcycle.model.ContactPerson`.
    """
    parts = _contact_parts()
    return ContactPerson(
        name=draw(texts(max_size=20)),
        role=draw(parts["role"]),
        email=draw(parts["email"]),
        phone=draw(parts["phone"]),
        birthday=draw(parts["birthday"]),
        dates=draw(parts["dates"]),
    )


@functools.cache
def _contact_parts() -> dict[str, st.SearchStrategy[Any]]:
    days = st.dates(min_value=date(1940, 1, 1), max_value=date(2030, 12, 31))
    return {
        "role": _optional(st.sampled_from(("purchasing manager", "CEO", "бухгалтер"))),
        "email": _optional(
            st.builds(
                "{}@{}.{}".format,
                st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
                st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
                st.sampled_from(("com", "ua", "hu")),
            )
        ),
        "phone": _optional(st.integers(10**10, 10**12 - 1).map(lambda n: f"+{n}")),
        "birthday": _optional(days),
        "dates": st.dictionaries(
            st.sampled_from(("company anniversary", "name day", "день міста")), days, max_size=2
        ),
    }


@st.composite
def _clients(
    draw: st.DrawFn,
    client_id: str | None,
    kind: ClientKind | None,
    times: st.SearchStrategy[datetime],
) -> Client:
    return Client(
        client_id=client_id if client_id is not None else draw(ids("C")),
        name=draw(_optional(texts(max_size=30))),
        kind=kind if kind is not None else draw(st.sampled_from(ClientKind)),
        industry=draw(_optional(st.sampled_from(_INDUSTRIES))),
        region=draw(_optional(st.sampled_from(_REGIONS))),
        account_manager=draw(_optional(ids("M"))),
        since=draw(_optional(times)),
        contacts=draw(st.lists(contact_persons(), max_size=2)),
        attributes=draw(
            st.dictionaries(st.sampled_from(_ATTRIBUTE_KEYS), texts(max_size=12), max_size=2)
        ),
    )


def clients(
    *,
    client_id: str | None = None,
    kind: ClientKind | str | None = None,
    min_time: datetime | None = None,
    max_time: datetime | None = None,
) -> st.SearchStrategy[Client]:
    """Clients with a mix of known and unknown details, contacts and attributes.

    Args:
        client_id: Fix the client's id; drawn from :func:`ids` by default.
        kind: Fix the kind (``company`` or ``person``).
        min_time: The earliest ``since``.
        max_time: The latest ``since``.

    Returns:
        A strategy of :class:`~relcycle.model.Client`.
    """
    fixed_kind = None if kind is None else ClientKind.parse(kind)
    return _clients(client_id, fixed_kind, timestamps(min_value=min_time, max_value=max_time))


@st.composite
def _interactions(
    draw: st.DrawFn,
    client_id: str | None,
    times: st.SearchStrategy[datetime],
    purposes: tuple[Purpose, ...],
) -> Interaction:
    purpose = draw(st.sampled_from(purposes))
    reason = draw(st.sampled_from(TERMINATION_REASONS)) if purpose is Purpose.termination else None
    return Interaction(
        interaction_id=draw(ids("I")),
        client_id=client_id if client_id is not None else draw(ids("C")),
        at=draw(times),
        channel=draw(st.sampled_from(Channel)),
        direction=draw(st.sampled_from(Direction)),
        purpose=purpose,
        handled_by=draw(_optional(ids("E"))),
        minutes=draw(_optional(amounts(max_value=600, places=(0, 0, 1)))),
        reason=reason,
        note=draw(_optional(texts(newlines=True))),
    )


def interactions(
    *,
    client_id: str | None = None,
    min_time: datetime | None = None,
    max_time: datetime | None = None,
    purposes: Sequence[Purpose | str] | None = None,
    times: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[Interaction]:
    """Interactions of every channel, direction and purpose.

    A ``termination`` always carries a loss reason; other purposes carry none.

    Args:
        client_id: Fix the client's id.
        min_time: The earliest ``at``.
        max_time: The latest ``at``.
        purposes: Draw the purpose from these only (every purpose by default).
        times: A strategy for ``at``; overrides ``min_time``/``max_time``.

    Returns:
        A strategy of :class:`~relcycle.model.Interaction`.
    """
    chosen = tuple(Purpose) if purposes is None else tuple(Purpose.parse(p) for p in purposes)
    if not chosen:
        raise UsageError("purposes must not be empty")
    moments = times if times is not None else timestamps(min_value=min_time, max_value=max_time)
    return _interactions(client_id, moments, chosen)


@st.composite
def _orders(
    draw: st.DrawFn,
    client_id: str | None,
    currency: str | None,
    times: st.SearchStrategy[datetime],
    statuses: tuple[OrderStatus, ...],
) -> Order:
    return Order(
        order_id=draw(ids("O")),
        client_id=client_id if client_id is not None else draw(ids("C")),
        placed_at=draw(times),
        amount=draw(amounts()),
        currency=currency if currency is not None else draw(currencies()),
        discounted=draw(st.booleans()),
        status=draw(st.sampled_from(statuses)),
        on_time=draw(_optional(st.booleans())),
        product=draw(_optional(st.sampled_from(_PRODUCTS) | texts(max_size=15))),
        cost=draw(_optional(amounts())),
    )


def orders(
    *,
    client_id: str | None = None,
    currency: str | None = None,
    min_time: datetime | None = None,
    max_time: datetime | None = None,
    statuses: Sequence[OrderStatus | str] | None = None,
    times: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[Order]:
    """Orders of every status, with and without cost, discount and delivery data.

    Args:
        client_id: Fix the client's id.
        currency: Fix the currency; drawn from :data:`CURRENCIES` by default.
        min_time: The earliest ``placed_at``.
        max_time: The latest ``placed_at``.
        statuses: Draw the status from these only (every status by default).
        times: A strategy for ``placed_at``; overrides ``min_time``/``max_time``.

    Returns:
        A strategy of :class:`~relcycle.model.Order`.
    """
    chosen = (
        tuple(OrderStatus) if statuses is None else tuple(OrderStatus.parse(s) for s in statuses)
    )
    if not chosen:
        raise UsageError("statuses must not be empty")
    moments = times if times is not None else timestamps(min_value=min_time, max_value=max_time)
    return _orders(client_id, currency, moments, chosen)


_CLOSED = (ComplaintStatus.resolved, ComplaintStatus.rejected)


@st.composite
def _complaints(
    draw: st.DrawFn,
    client_id: str | None,
    currency: str | None,
    times: st.SearchStrategy[datetime],
    statuses: tuple[ComplaintStatus, ...],
    latest: datetime,
) -> Complaint:
    opened_at = draw(times)
    status = draw(st.sampled_from(statuses))
    resolved_at: datetime | None = None
    if status in _CLOSED:
        room = int((latest - opened_at).total_seconds())
        if room <= 0 or draw(st.integers(0, 4)) == 0:
            resolved_at = opened_at  # resolved on the spot
        else:
            # in UTC: adding to a DST zone's datetime is wall-clock arithmetic
            later = opened_at.astimezone(UTC) + timedelta(seconds=draw(st.integers(0, room)))
            resolved_at = later.astimezone(draw(zones()))
    return Complaint(
        complaint_id=draw(ids("K")),
        client_id=client_id if client_id is not None else draw(ids("C")),
        opened_at=opened_at,
        category=draw(st.sampled_from(ComplaintCategory)),
        severity=draw(st.sampled_from(Severity)),
        client_loss=draw(_optional(amounts(max_value=100_000))),
        currency=currency if currency is not None else draw(currencies()),
        status=status,
        resolved_at=resolved_at,
        escalated_to=draw(st.sampled_from(Escalation)),
    )


def complaints(
    *,
    client_id: str | None = None,
    currency: str | None = None,
    min_time: datetime | None = None,
    max_time: datetime | None = None,
    statuses: Sequence[ComplaintStatus | str] | None = None,
    times: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[Complaint]:
    """Complaints whose resolution fits their status.

    ``resolved`` and ``rejected`` complaints have a ``resolved_at`` at or after
    ``opened_at`` (and not after ``max_time``); ``open`` and ``acknowledged``
    ones have none.

    Args:
        client_id: Fix the client's id.
        currency: Fix the currency of ``client_loss``.
        min_time: The earliest ``opened_at``.
        max_time: The latest ``opened_at`` and ``resolved_at``.
        statuses: Draw the status from these only (every status by default).
        times: A strategy for ``opened_at``; overrides ``min_time`` (resolutions
            still stay within ``max_time``).

    Returns:
        A strategy of :class:`~relcycle.model.Complaint`.
    """
    chosen = (
        tuple(ComplaintStatus)
        if statuses is None
        else tuple(ComplaintStatus.parse(s) for s in statuses)
    )
    if not chosen:
        raise UsageError("statuses must not be empty")
    _, latest = _bounds(min_time, max_time)
    moments = times if times is not None else timestamps(min_value=min_time, max_value=max_time)
    return _complaints(client_id, currency, moments, chosen, latest)


# --------------------------------------------------------------------------- aggregates


def _repeat(records: list[Any], id_field: str, draw: st.DrawFn) -> None:
    """Make the last record a copy of an earlier one under a new id (a repeated row)."""
    if len(records) < 2 or not draw(st.booleans()):
        return
    source = records[draw(st.integers(0, len(records) - 2))]
    taken = {getattr(r, id_field) for r in records}
    new_id = f"{getattr(source, id_field)}~2"
    while new_id in taken:
        new_id += "~"
    records[-1] = attrs.evolve(source, **{id_field: new_id})


@st.composite
def _histories(
    draw: st.DrawFn,
    client_id: str | None,
    currency: str | None,
    lo: datetime,
    hi: datetime,
    min_records: int,
    max_records: int,
    inferred: bool | None,
) -> ClientHistory:
    cid = client_id if client_id is not None else draw(ids("C"))
    is_inferred = draw(st.booleans()) if inferred is None else inferred
    cur = currency if currency is not None else draw(currencies())
    plain = timestamps(min_value=lo, max_value=hi)
    # A few shared moments, so records of one or several kinds often coincide,
    # sometimes written in another zone (the same instant, another offset).
    pool = draw(st.lists(plain, min_size=1, max_size=4))
    shared = st.sampled_from(pool)
    times = shared | st.tuples(shared, zones()).map(lambda p: p[0].astimezone(p[1])) | plain
    total = draw(st.integers(min_records, max_records))
    n_interactions = draw(st.integers(0, total))
    n_orders = draw(st.integers(0, total - n_interactions))
    n_complaints = total - n_interactions - n_orders

    def unique(strategy: st.SearchStrategy[T], n: int, key: Callable[[T], str]) -> list[T]:
        return draw(st.lists(strategy, min_size=n, max_size=n, unique_by=key))

    the_interactions = unique(
        _interactions(cid, times, tuple(Purpose)), n_interactions, lambda r: r.interaction_id
    )
    the_orders = unique(
        _orders(cid, cur, times, tuple(OrderStatus)), n_orders, lambda r: r.order_id
    )
    the_complaints = unique(
        _complaints(cid, cur, times, tuple(ComplaintStatus), hi),
        n_complaints,
        lambda r: r.complaint_id,
    )
    _repeat(the_interactions, "interaction_id", draw)
    _repeat(the_orders, "order_id", draw)
    records: list[Interaction | Order | Complaint] = [
        *the_interactions,
        *the_orders,
        *the_complaints,
    ]
    records = draw(st.permutations(records))
    client: Client | str = cid if is_inferred else draw(_clients(cid, None, plain))
    return ClientHistory.of(client, records)


def histories(
    *,
    client_id: str | None = None,
    currency: str | None = None,
    min_time: datetime | None = None,
    max_time: datetime | None = None,
    min_records: int = 0,
    max_records: int = 12,
    inferred: bool | None = None,
) -> st.SearchStrategy[ClientHistory]:
    """Histories of one client with a mix of interactions, orders and complaints.

    Records often share a moment (of one kind or of several; sometimes the same
    instant written with another offset), and some orders and interactions
    repeat an earlier row under a new id, as real transaction logs do.

    Args:
        client_id: Fix the client's id.
        currency: The currency of every order and complaint loss; drawn once
            per history by default (a history never mixes currencies).
        min_time: The earliest record moment.
        max_time: The latest record moment (resolutions included).
        min_records: The fewest timed records.
        max_records: The most timed records.
        inferred: True for a client known only by its id
            (``client_inferred``), False for a full client; either by default.

    Returns:
        A strategy of :class:`~relcycle.history.ClientHistory`.

    Raises:
        UsageError: If the bounds are inconsistent.
    """
    lo, hi = _bounds(min_time, max_time)
    if not 0 <= min_records <= max_records:
        raise UsageError(f"need 0 <= min_records <= max_records, got {min_records}, {max_records}")
    return _histories(client_id, currency, lo, hi, min_records, max_records, inferred)


def _renamed(record: Any, id_field: str, taken: set[str]) -> Any:
    rid: str = getattr(record, id_field)
    if rid not in taken:
        taken.add(rid)
        return record
    new_id = f"{rid}@{record.client_id}"
    while new_id in taken:
        new_id += "~"
    taken.add(new_id)
    return attrs.evolve(record, **{id_field: new_id})


@st.composite
def _portfolios(
    draw: st.DrawFn,
    min_clients: int,
    max_clients: int,
    max_records: int,
    currency: str | None,
    lo: datetime,
    hi: datetime,
    with_clients: bool | None,
) -> Portfolio:
    table = draw(st.booleans()) if with_clients is None else with_clients
    cur = currency if currency is not None else draw(currencies())
    client_ids = draw(st.lists(ids("C"), min_size=min_clients, max_size=max_clients, unique=True))
    found = [
        draw(
            _histories(
                cid,
                cur,
                lo,
                hi,
                0 if table else 1,  # an inferred client exists only through its records
                max(max_records, 0 if table else 1),
                not table,
            )
        )
        for cid in client_ids
    ]
    taken: dict[str, set[str]] = {"interaction_id": set(), "order_id": set(), "complaint_id": set()}
    the_interactions = [
        _renamed(r, "interaction_id", taken["interaction_id"])
        for h in found
        for r in h.interactions
    ]
    the_orders = [_renamed(r, "order_id", taken["order_id"]) for h in found for r in h.orders]
    the_complaints = [
        _renamed(r, "complaint_id", taken["complaint_id"]) for h in found for r in h.complaints
    ]
    return build_portfolio(
        interactions=draw(st.permutations(the_interactions)),
        orders=draw(st.permutations(the_orders)),
        complaints=draw(st.permutations(the_complaints)),
        clients=[h.client for h in found] if table else None,
    )


def portfolios(
    *,
    min_clients: int = 0,
    max_clients: int = 5,
    max_records: int = 8,
    currency: str | None = None,
    min_time: datetime | None = None,
    max_time: datetime | None = None,
    with_clients: bool | None = None,
) -> st.SearchStrategy[Portfolio]:
    """Portfolios built with :func:`~relcycle.history.build_portfolio`.

    Record ids are unique per kind across the whole portfolio (as
    ``build_portfolio`` requires); all money is in one currency.

    Args:
        min_clients: The fewest clients.
        max_clients: The most clients.
        max_records: The most timed records per client.
        currency: The portfolio's currency; drawn once by default.
        min_time: The earliest record moment.
        max_time: The latest record moment.
        with_clients: True to build with a clients table (clients may have no
            records), False to infer clients from the records; either by
            default.

    Returns:
        A strategy of :class:`~relcycle.history.Portfolio`.

    Raises:
        UsageError: If the bounds are inconsistent.
    """
    lo, hi = _bounds(min_time, max_time)
    if not 0 <= min_clients <= max_clients:
        raise UsageError(f"need 0 <= min_clients <= max_clients, got {min_clients}, {max_clients}")
    return _portfolios(min_clients, max_clients, max_records, currency, lo, hi, with_clients)


# --------------------------------------------------------------------------- raw rows


def _cell_time(draw: st.DrawFn, moment: datetime, *, exact: bool) -> str:
    """Render an aware moment as an ISO 8601 cell; with ``exact`` always with its offset."""
    forms = ["offset", "space", "utc_z"] if exact else ["offset", "space", "utc_z", "naive", "date"]
    form = draw(st.sampled_from(forms))
    if form == "offset":
        return moment.isoformat()
    if form == "space":
        return moment.isoformat(sep=" ")
    if form == "utc_z":
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if form == "naive":  # read in the --tz zone
        return moment.replace(tzinfo=None).isoformat()
    return moment.date().isoformat()  # a date alone means midnight


def _cell_bool(draw: st.DrawFn, value: bool | None) -> str:
    if value is None:
        return ""
    words = ("true", "True", "TRUE", "1", "yes", "Yes") if value else ("false", "False", "0", "no")
    return draw(st.sampled_from(words))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Money):
        return str(value.amount)
    if isinstance(value, str):  # vocabularies are str subclasses
        return str(value.value) if hasattr(value, "value") else value
    return str(value)


@st.composite
def _client_row(draw: st.DrawFn) -> dict[str, str]:
    c = draw(clients())
    row = {
        "client_id": c.client_id,
        "name": _cell(c.name),
        "kind": c.kind.value,
        "industry": _cell(c.industry),
        "region": _cell(c.region),
        "account_manager": _cell(c.account_manager),
        "since": "" if c.since is None else _cell_time(draw, c.since, exact=False),
    }
    row.update(c.attributes)  # user-defined columns
    return row


@st.composite
def _order_row(draw: st.DrawFn) -> dict[str, str]:
    o = draw(orders())
    return {
        "order_id": draw(st.sampled_from((o.order_id, o.order_id, ""))),  # "" = generated
        "client_id": o.client_id,
        "placed_at": _cell_time(draw, o.placed_at, exact=False),
        "amount": str(o.amount),
        "currency": o.currency,
        "discounted": _cell_bool(draw, draw(st.sampled_from((o.discounted, None)))),
        "status": draw(st.sampled_from((o.status.value, o.status.value, ""))),
        "on_time": _cell_bool(draw, o.on_time),
        "product": _cell(o.product),
        "cost": _cell(o.cost),
    }


@st.composite
def _interaction_row(draw: st.DrawFn) -> dict[str, str]:
    i = draw(interactions())
    return {
        "interaction_id": draw(st.sampled_from((i.interaction_id, i.interaction_id, ""))),
        "client_id": i.client_id,
        "at": _cell_time(draw, i.at, exact=False),
        "channel": i.channel.value,
        "direction": i.direction.value,
        "purpose": i.purpose.value,
        "handled_by": _cell(i.handled_by),
        "minutes": _cell(i.minutes),
        "reason": _cell(i.reason),
        "note": _cell(i.note),
    }


@st.composite
def _complaint_row(draw: st.DrawFn, statuses: tuple[ComplaintStatus, ...]) -> dict[str, str]:
    c = draw(complaints(statuses=statuses))
    return {
        "complaint_id": draw(st.sampled_from((c.complaint_id, c.complaint_id, ""))),
        "client_id": c.client_id,
        "opened_at": _cell_time(draw, c.opened_at, exact=True),
        "category": c.category.value,
        "severity": c.severity.value,
        "client_loss": _cell(c.client_loss),
        "status": c.status.value,
        "resolved_at": "" if c.resolved_at is None else _cell_time(draw, c.resolved_at, exact=True),
        "escalated_to": c.escalated_to.value,
    }


def valid_rows(table: str) -> st.SearchStrategy[dict[str, str]]:
    """Raw rows of a contract table that a reader must accept.

    Every contract column is present (empty for "not known"); datetimes come
    with an offset, with ``Z``, naive (read in the ``--tz`` zone) or as a date
    alone; booleans in every accepted spelling; optional record ids are
    sometimes empty (the reader generates them). Client rows may carry extra
    columns (user-defined attributes).

    Args:
        table: ``"clients"``, ``"orders"``, ``"interactions"`` or ``"complaints"``.

    Returns:
        A strategy of ``dict[str, str]`` rows, as :class:`csv.DictReader` yields them.

    Raises:
        UsageError: For an unknown table.
    """
    _check_table(table)
    if table == "clients":
        return _client_row()
    if table == "orders":
        return _order_row()
    if table == "interactions":
        return _interaction_row()
    return _complaint_row(tuple(ComplaintStatus))


_BAD_TIMES = (
    "2021-02-30",
    "2021-13-01",
    "2021-01-01T25:00",
    "2021-06-31T10:00:00+02:00",
    "yesterday",
    "not a date",
)
_BAD_NUMBERS = ("abc", "12,50", "1.2.3", "12$34", "twelve", "NaN", "Infinity", "-inf", "sNaN")
_NEGATIVE = ("-1", "-0.01", "-1000")
_BAD_BOOLS = ("maybe", "2", "-1", "nope", "ok")
_BAD_WORDS = ("unknown", "n/a", "tbd", "gold", "42", "завершено", "closed")
_BAD_CURRENCIES = ("EURO", "€", "U$D", "12", "US")
_EMPTY_IDS = ("", "   ")

#: What a reader is expected to say, by kind of mistake (matched case-insensitively).
_EMPTY = "empty"
_DATETIME = "datetime"
_NUMBER = "number"
_NEGATIVE_REASON = ">= 0"
_VOCAB = "not one of"
_BOOL = "bool"
_CURRENCY = "ISO 4217"
_BEFORE = "before"
_RESOLUTION = "resolution"

_Corruption = tuple[str, st.SearchStrategy[str], str]


def _words_outside(allowed: Iterable[Any]) -> st.SearchStrategy[str]:
    """Words an input of the ``allowed`` members refuses (a vocabulary, or part of one)."""
    members = tuple(allowed)
    values = {m.value for m in members}
    left_out = [m.value for m in type(members[0]) if m.value not in values]  # lapsed
    return st.sampled_from([*left_out, *(w for w in _BAD_WORDS if w not in values)])


def _corruptions(table: str) -> list[_Corruption]:
    empty_id = st.sampled_from(_EMPTY_IDS)
    bad_time = st.sampled_from(_BAD_TIMES)
    bad_number = st.sampled_from(_BAD_NUMBERS)
    negative = st.sampled_from(_NEGATIVE)
    bad_bool = st.sampled_from(_BAD_BOOLS)
    common: list[_Corruption] = [("client_id", empty_id, _EMPTY)]
    if table == "clients":
        return [
            *common,
            ("kind", _words_outside(ClientKind), _VOCAB),
            ("since", bad_time, _DATETIME),
        ]
    if table == "orders":
        return [
            *common,
            ("placed_at", st.just(""), _EMPTY),
            ("placed_at", bad_time, _DATETIME),
            ("amount", st.just(""), _EMPTY),
            ("amount", bad_number, _NUMBER),
            ("amount", negative, _NEGATIVE_REASON),
            ("currency", st.sampled_from(_BAD_CURRENCIES), _CURRENCY),
            ("discounted", bad_bool, _BOOL),
            ("status", _words_outside(OrderStatus), _VOCAB),
            ("on_time", bad_bool, _BOOL),
            ("cost", bad_number, _NUMBER),
            ("cost", negative, _NEGATIVE_REASON),
        ]
    if table == "interactions":
        return [
            *common,
            ("at", st.just(""), _EMPTY),
            ("at", bad_time, _DATETIME),
            ("channel", _words_outside(Channel), _VOCAB),
            ("direction", _words_outside(Direction), _VOCAB),
            ("purpose", _words_outside(Purpose), _VOCAB),
            ("minutes", bad_number, _NUMBER),
            ("minutes", negative, _NEGATIVE_REASON),
            ("reason", _words_outside(TERMINATION_REASONS), _VOCAB),
        ]
    return [
        *common,
        ("opened_at", st.just(""), _EMPTY),
        ("opened_at", bad_time, _DATETIME),
        ("category", _words_outside(ComplaintCategory), _VOCAB),
        ("severity", _words_outside(Severity), _VOCAB),
        ("client_loss", bad_number, _NUMBER),
        ("client_loss", negative, _NEGATIVE_REASON),
        ("escalated_to", _words_outside(Escalation), _VOCAB),
        # the four below are handled in _invalid_complaint: they depend on the status
        ("status", _words_outside(ComplaintStatus), _VOCAB),
        ("resolved_at", bad_time, _DATETIME),
        ("resolved_at", st.just("before"), _BEFORE),
        ("resolved_at", st.just("missing"), _RESOLUTION),
        ("resolved_at", st.just("unexpected"), _RESOLUTION),
    ]


_OPEN_ONLY = (ComplaintStatus.open,)
_CLOSED_ONLY = (ComplaintStatus.resolved, ComplaintStatus.rejected)


@st.composite
def _invalid_rows(draw: st.DrawFn, table: str) -> tuple[dict[str, str], str, str]:
    column, bad, reason = draw(st.sampled_from(_corruptions(table)))
    if table != "complaints" or column not in ("status", "resolved_at"):
        row = draw(valid_rows(table))
        if table == "complaints" and column == "opened_at":
            # keep the relation check out of it: an open complaint has no resolved_at
            row = draw(_complaint_row(_OPEN_ONLY))
        row[column] = draw(bad)
        return row, column, reason
    value = draw(bad)
    if column == "status":  # no resolution time, so only the status is wrong
        row = draw(_complaint_row(_OPEN_ONLY))
        row["status"] = value
    elif value == "before":
        row = draw(_complaint_row(_CLOSED_ONLY))
        opened = datetime.fromisoformat(row["opened_at"].replace("Z", "+00:00"))
        gap = draw(st.integers(1, 400 * 24 * 3600))
        row["resolved_at"] = (opened - timedelta(seconds=gap)).isoformat()
    elif value == "missing":  # resolved or rejected without a resolution time
        row = draw(_complaint_row(_CLOSED_ONLY))
        row["resolved_at"] = ""
    elif value == "unexpected":  # open or acknowledged, yet a resolution time
        row = draw(_complaint_row((ComplaintStatus.open, ComplaintStatus.acknowledged)))
        opened = datetime.fromisoformat(row["opened_at"].replace("Z", "+00:00"))
        row["resolved_at"] = (opened + timedelta(days=draw(st.integers(0, 90)))).isoformat()
    else:  # a malformed resolution time on a closed complaint
        row = draw(_complaint_row(_CLOSED_ONLY))
        row["resolved_at"] = value
    return row, column, reason


def invalid_rows(table: str) -> st.SearchStrategy[tuple[dict[str, str], str, str]]:
    """Raw rows of a contract table that are wrong in exactly one cell.

    Each example is ``(row, column, reason_fragment)``: the row (every other
    cell valid, as in :func:`valid_rows`), the column holding the mistake, and
    a lower-case fragment the reader's error for that cell should contain
    (compare case-insensitively):

    ``"empty"``
        a required cell is empty (or an id is only spaces);
    ``"datetime"``
        a cell that is not an ISO 8601 datetime (``2021-02-30``, ``yesterday``);
    ``"number"``
        money or minutes that are not a finite decimal number (``12,50``, ``NaN``);
    ``">= 0"``
        negative money or minutes;
    ``"not one of"``
        a word outside the column's vocabulary;
    ``"bool"``
        a boolean cell outside true/false/1/0/yes/no;
    ``"iso 4217"``
        a currency that is not a three-letter upper-case code;
    ``"before"``
        a complaint resolved before it was opened (column ``resolved_at``);
    ``"resolution"``
        a resolved/rejected complaint without ``resolved_at``, or an open or
        acknowledged one with it (column ``resolved_at``).

    Args:
        table: ``"clients"``, ``"orders"``, ``"interactions"`` or ``"complaints"``.

    Returns:
        A strategy of ``(row, column, reason_fragment)`` tuples.

    Raises:
        UsageError: For an unknown table.
    """
    _check_table(table)
    return _invalid_rows(table).map(lambda t: (t[0], t[1], t[2].lower()))


# --------------------------------------------------------------------------- from_type


def known_at(
    records: Iterable[Interaction | Order | Complaint], moment: datetime
) -> list[Interaction | Order | Complaint]:
    """The records as they were known at ``moment``, for tests that save and resume.

    Records after ``moment`` are left out, and a complaint resolved (or
    rejected) after it is open again, as it was then. Run a machine on these as
    of ``moment``, save its state, resume it with all the records: a
    :class:`~relcycle.machine.Machine` must give the full replay's result.

    Args:
        records: A client's records.
        moment: The moment (timezone-aware).
    """
    kept: list[Interaction | Order | Complaint] = []
    for record in records:
        if record.at > moment:
            continue
        if (
            isinstance(record, Complaint)
            and record.resolved_at is not None
            and record.resolved_at > moment
        ):
            kept.append(attrs.evolve(record, status=ComplaintStatus.open, resolved_at=None))
        else:
            kept.append(record)
    return kept


def _register() -> None:
    """Register the strategies for :func:`hypothesis.strategies.from_type`.

    Runs when this module is imported, and again (harmlessly) from the
    ``hypothesis`` entry point that relcycle's package metadata declares
    (``_hypothesis_setup_hook``), so ``st.from_type(Order)`` and ``st.builds(f)``
    with annotated arguments produce valid relcycle objects.
    """
    st.register_type_strategy(Client, clients())
    st.register_type_strategy(ContactPerson, contact_persons())
    st.register_type_strategy(Interaction, interactions())
    st.register_type_strategy(Order, orders())
    st.register_type_strategy(Complaint, complaints())
    st.register_type_strategy(Money, money())
    st.register_type_strategy(ClientHistory, histories())
    st.register_type_strategy(Portfolio, portfolios())


_register()
