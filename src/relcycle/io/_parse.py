"""Cell parsers: text (or typed values from Parquet, SQLite, JSON, dicts) to domain values.

Every parser takes one non-empty cell value and returns the domain value, or raises
:class:`BadCell` with a reason a person can act on. Parsers are built per load by
:func:`make_parsers`, so their caches live as long as one load and no longer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timezone, tzinfo
from decimal import Decimal
from typing import Any

from dateutil import tz as dtz

from relcycle._vocab import Vocab
from relcycle.errors import UsageError
from relcycle.model import EARLIEST_YEAR, LATEST_YEAR, ContactPerson

__all__ = [
    "EARLIEST_YEAR",
    "LATEST_YEAR",
    "BadCell",
    "Parsers",
    "check_currency",
    "make_parsers",
    "parse_bool",
    "parse_contacts",
    "parse_currency",
    "parse_id",
    "parse_text",
    "resolve_zone",
    "vocab_parser",
]

#: Money and numbers: digits 0-9, an optional point, an optional exponent. No sign,
#: no thousands separators, no NaN or infinity, no non-ASCII digits.
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,9})?", re.ASCII)
_FRACTION = re.compile(r"[.,]([0-9]{7,})", re.ASCII)
_CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)

#: Largest accepted magnitude (adjusted exponent) and finest accepted precision of a number.
MAX_ADJUSTED_EXPONENT = 20
MIN_EXPONENT = -18
MAX_NUMBER_LENGTH = 64
_SURELY_BOUNDED = 19

_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class BadCell(ValueError):
    """A cell value that cannot be read; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def resolve_zone(zone: str | tzinfo) -> tzinfo:
    """Return the tzinfo for a zone name (``"UTC"``, ``"Europe/Kyiv"``) or a tzinfo.

    Raises:
        UsageError: If the name is not a known time zone.
    """
    if isinstance(zone, tzinfo):
        return zone
    if not isinstance(zone, str) or not zone.strip():
        raise UsageError(f"time zone {zone!r}: give an IANA zone name such as 'Europe/Kyiv'")
    if zone.strip().upper() in {"UTC", "Z", "ETC/UTC"}:
        return UTC
    found = dtz.gettz(zone.strip())
    if found is None:
        raise UsageError(
            f"unknown time zone {zone!r}: give an IANA zone name such as 'Europe/Kyiv'"
        )
    return found


def check_currency(code: object) -> str:
    """Return a valid default currency code or raise :class:`UsageError`."""
    if not isinstance(code, str) or not _CURRENCY.fullmatch(code):
        raise UsageError(f"currency {code!r}: give a three-letter ISO 4217 code such as 'EUR'")
    return code


def _zone_name(zone: tzinfo) -> str:
    name = getattr(zone, "key", None) or getattr(zone, "_filename", None)
    return str(name) if name else str(zone)


def _impossible(reason: str) -> str | None:
    """The reason for an ISO-shaped datetime naming no real moment (2026-02-30), else None.

    ``reason`` is the parser's message; shape errors (not ISO text at all) give None.
    The word "datetime" stays in the reason (``relcycle.testing.invalid_rows`` expects it).
    """
    if "must be in" not in reason and "out of range" not in reason:
        return None
    return f"not a valid datetime: {reason}"


def _non_ascii_digit(text: str) -> bool:
    return any(ch.isdigit() and not ch.isascii() for ch in text)


def _number(text: str, what: str) -> Decimal:
    if len(text) <= _SURELY_BOUNDED and text.isascii() and text.replace(".", "", 1).isdigit():
        return Decimal(text)  # the common case: plain ASCII digits with at most one point
    s = text.strip()
    if len(s) > MAX_NUMBER_LENGTH:
        raise BadCell(f"too long for a number ({what}, {len(s)} characters)")
    if not _NUMBER.fullmatch(s):
        if s[:1] == "-" and _NUMBER.fullmatch(s[1:]):
            value = Decimal(s[1:])
            if value == 0:
                return _bounded(value, what)
            raise BadCell(f"{what} must be >= 0 (a negative number is refused)")
        if _non_ascii_digit(s):
            raise BadCell(f"{what} contains non-ASCII digits: write the number with 0-9")
        low = s.lower().lstrip("+-")
        if low in {"nan", "snan", "inf", "infinity"}:
            raise BadCell(f"{what} must be a finite number, not {s!r}")
        if "," in s:
            raise BadCell(
                f"not a plain decimal number: use '.' as the decimal point "
                f"and no thousands separators ({what})"
            )
        raise BadCell(f"not a plain decimal number ({what}): digits 0-9 and an optional '.'")
    if len(s) <= _SURELY_BOUNDED and "e" not in s and "E" not in s:
        # at most 19 characters without an exponent: at most 19 digits before the
        # point and 18 after it, inside the bounds without building a digit tuple
        return Decimal(s)
    return _bounded(Decimal(s), what)


def _bounded(value: Decimal, what: str) -> Decimal:
    if value.adjusted() > MAX_ADJUSTED_EXPONENT:
        raise BadCell(
            f"the number is too large for {what} (more than {MAX_ADJUSTED_EXPONENT + 1} digits)"
        )
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < MIN_EXPONENT:
        raise BadCell(f"the number has more than {-MIN_EXPONENT} digits after the point ({what})")
    return value


class Parsers:
    """The cell parsers of one load (their caches live with it).

    Args:
        zone: The zone of datetimes written without an offset.
        money_kind: ``"money"``; floats are refused for money.
    """

    __slots__ = ("zone", "zone_is_utc", "zone_name")

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.zone_is_utc = zone is UTC
        self.zone_name = _zone_name(zone)

    # ------------------------------------------------------------------ datetimes

    def parse_datetime(self, value: object) -> datetime:
        """Parse an ISO 8601 datetime (a date alone is midnight) in the load's zone."""
        if type(value) is str:
            return self._parse_dt_text(value)
        if isinstance(value, datetime):
            return self._attach(value)
        if isinstance(value, date):
            return self._attach(datetime(value.year, value.month, value.day))
        if isinstance(value, bool | int | float | Decimal):
            raise BadCell(
                "a number is not a datetime: write ISO 8601 text such as 2024-03-01T14:30:00"
            )
        raise BadCell(f"expected an ISO 8601 datetime, got {type(value).__name__}")

    def _parse_dt_text(self, text: str) -> datetime:
        s = text
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            s = text.strip()
            try:
                dt = datetime.fromisoformat(s)
            except ValueError:
                dt = self._slow_iso(s)
        if len(s) > 19 and ("." in s or "," in s):
            m = _FRACTION.search(s)
            if m and m.group(1)[6:].strip("0"):
                raise BadCell(
                    "the datetime is more precise than a microsecond (relcycle keeps microseconds)"
                )
        return self._attach(dt)

    def _slow_iso(self, s: str) -> datetime:
        if _non_ascii_digit(s):
            raise BadCell("the datetime contains non-ASCII digits; use 0-9")
        if s and s.isascii() and s[:4].isdigit() and len(s) >= 8:
            try:
                from dateutil.parser import isoparse

                return isoparse(s)
            except (ValueError, OverflowError) as exc:
                impossible = _impossible(str(exc))
                if impossible is not None:
                    raise BadCell(impossible) from None
        raise BadCell(
            "not an ISO 8601 datetime (write 2024-03-01 or 2024-03-01T14:30:00+02:00; "
            "ambiguous forms such as 01/02/03 are never guessed)"
        )

    def _attach(self, dt: datetime) -> datetime:
        if not EARLIEST_YEAR <= dt.year <= LATEST_YEAR:
            raise BadCell(
                f"the datetime is outside the supported years "
                f"{EARLIEST_YEAR}-{LATEST_YEAR}: {dt.isoformat()}"
            )
        zone = dt.tzinfo
        if zone is not None and (type(zone) is timezone or dt.utcoffset() is not None):
            return dt
        if self.zone_is_utc:
            return dt.replace(tzinfo=UTC)
        aware = dt.replace(tzinfo=self.zone, fold=0)
        if not dtz.datetime_exists(aware):
            raise BadCell(
                f"the local datetime {dt.isoformat()} does not exist in time zone "
                f"{self.zone_name} (clocks were put forward then); give the offset explicitly"
            )
        return aware

    # ------------------------------------------------------------------ numbers

    def money(self, value: object) -> Decimal:
        """Parse a money amount (a decimal number >= 0, never a float)."""
        if type(value) is str:
            return _number(value, "the amount")
        return _typed_number(value, "the amount", allow_float=False)

    def number(self, value: object) -> Decimal:
        """Parse a non-negative number (minutes); floats from typed sources are accepted."""
        if type(value) is str:
            return _number(value, "the number")
        return _typed_number(value, "the number", allow_float=True)


def _typed_number(value: object, what: str, *, allow_float: bool) -> Decimal:
    if isinstance(value, bool):
        raise BadCell(f"a boolean is not {what}")
    if isinstance(value, int):
        if value < 0:
            raise BadCell(f"{what} must be >= 0 (a negative number is refused)")
        return _bounded(Decimal(value), what)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BadCell(f"{what} must be a finite number, not {value}")
        if value < 0:
            raise BadCell(f"{what} must be >= 0 (a negative number is refused)")
        return _bounded(value.copy_abs() if value == 0 else value, what)
    if isinstance(value, float):
        if not allow_float:
            raise BadCell(
                f"{what} is a floating-point number; money must be exact: "
                "store it as text or a decimal type"
            )
        if value != value or value in (float("inf"), float("-inf")):
            raise BadCell(f"{what} must be a finite number, not {value}")
        return _number(repr(value), what)
    if isinstance(value, str):
        return _number(value, what)
    raise BadCell(f"expected {what}, got {type(value).__name__}")


# ---------------------------------------------------------------------- simple kinds


def parse_id(value: object) -> str:
    """Read an id: text kept verbatim (``007`` stays ``007``), integers as their digits."""
    if type(value) is str:
        if value.isspace():
            raise BadCell("an id must not be empty or blank")
        if "\x00" in value:
            raise BadCell("contains a NUL character")
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadCell(f"an id must be text or an integer, not {type(value).__name__}")
    return str(value) if isinstance(value, int) else parse_id(str(value))


def parse_text(value: object) -> str:
    """Read free text verbatim; numbers and booleans from typed sources become text."""
    if type(value) is str:
        if "\x00" in value:
            raise BadCell("contains a NUL character")
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise BadCell(f"expected text, got {type(value).__name__}")


def parse_bool(value: object) -> bool:
    """Read true/false/1/0/yes/no (case-insensitive)."""
    if type(value) is bool:
        return value
    if isinstance(value, str):
        found = _BOOLS.get(value.strip().lower())
        if found is None:
            raise BadCell("not a boolean: use true/false, 1/0 or yes/no")
        return found
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise BadCell("not a boolean: use true/false, 1/0 or yes/no")


def parse_currency(value: object) -> str:
    """Read an ISO 4217 code (letters, case-insensitive; stored upper-case)."""
    if isinstance(value, str):
        code = value.strip().upper()
        if _CURRENCY.fullmatch(code):
            return code
    raise BadCell("not an ISO 4217 currency code (three letters such as EUR)")


def vocab_parser(cls: type[Vocab]) -> Callable[[object], Vocab]:
    """A parser for a vocabulary: its values, case-insensitive, surrounding blanks ignored."""
    table: dict[str, Vocab] = {}
    for member in cls:
        table[member.value] = member
    allowed = ", ".join(m.value for m in cls)

    def parse(value: object) -> Vocab:
        if isinstance(value, str):
            found = table.get(value)
            if found is None:
                found = table.get(value.strip().lower())
            if found is not None:
                return found
        raise BadCell(f"not one of: {allowed}")

    parse.__name__ = f"parse_{cls.__name__}"
    return parse


def parse_contacts(value: object) -> tuple[ContactPerson, ...]:
    """Read contact persons: a JSON array of objects (text in CSV, native in JSONL)."""
    data: Any = value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except (ValueError, RecursionError):
            raise BadCell("not a JSON array of contact persons") from None
    if not isinstance(data, list | tuple):
        raise BadCell("not a JSON array of contact persons")
    people = []
    for item in data:
        try:
            people.append(ContactPerson.from_dict(item))
        except (ValueError, TypeError) as exc:
            raise BadCell(f"bad contact person: {exc}") from None
    return tuple(people)


def make_parsers(zone: tzinfo) -> Parsers:
    """Return fresh parsers (and caches) for one load in ``zone``."""
    return Parsers(zone)
