"""Cell parsers: text (or typed values from Parquet, SQLite, JSON, dicts) to domain values.

Every parser takes one non-empty cell value and returns the domain value, or raises
:class:`BadCell` with a reason a person can act on. Parsers are built per load by
:func:`make_parsers`, so their caches live as long as one load and no longer.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timezone, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import attrs
from dateutil import tz as dtz

from relcycle._vocab import Vocab, refusal
from relcycle._zones import resolve_zone as resolve_zone
from relcycle.errors import UsageError
from relcycle.model import EARLIEST_YEAR, LATEST_YEAR, ContactPerson, FrozenMap, pinned

__all__ = [
    "EARLIEST_YEAR",
    "LATEST_YEAR",
    "BadCell",
    "Marked",
    "ParseOptions",
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

#: Currency symbols a money cell may carry, and the ISO 4217 codes each may stand for.
CURRENCY_SYMBOLS: dict[str, frozenset[str]] = {
    "€": frozenset({"EUR"}),
    "£": frozenset({"GBP"}),
    "$": frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"}),
    "US$": frozenset({"USD"}),
    "C$": frozenset({"CAD"}),
    "A$": frozenset({"AUD"}),
    "¥": frozenset({"JPY", "CNY"}),
    "₴": frozenset({"UAH"}),
    "₹": frozenset({"INR"}),
    "₽": frozenset({"RUB"}),
    "₺": frozenset({"TRY"}),
    "₩": frozenset({"KRW"}),
    "₪": frozenset({"ILS"}),
    "₣": frozenset({"CHF"}),
}
#: A money cell with a currency marker before or after the number (``€1.200,50``,
#: ``1200.50 EUR``); the marker is a symbol or an upper-case ISO 4217 code.
_MARKED = re.compile(
    r"(?P<pre>[A-Z]{3}|[A-Z]{0,2}[^\w\s.,'+-])?[ \u00a0\u202f]*"
    r"(?P<body>[0-9][0-9.,' \u00a0\u202f]*[0-9]|[0-9])"
    r"[ \u00a0\u202f]*(?P<post>[A-Z]{3}|[^\w\s.,'+-])?"
)
#: Thousands-grouped numbers: point decimals with comma groups, comma decimals with
#: point (or blank) groups. The group separator is one character used throughout.
_POINT_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?", re.ASCII)
_COMMA_GROUPED = re.compile(
    r"[0-9]{1,3}(?:(?P<sep>[. \u00a0\u202f'])[0-9]{3})(?:(?P=sep)[0-9]{3})*"
)
_COMMA_DECIMAL = re.compile(r"[0-9]+(?:,[0-9]+)?", re.ASCII)
_DAY_FIRST = re.compile(
    r"([0-9]{1,2})([./-])([0-9]{1,2})\2([0-9]{4})"
    r"(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?",
    re.ASCII,
)

_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class BadCell(ValueError):
    """A cell value that cannot be read; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: The CSV cell delimiters relcycle reads: the contract's comma, and the
#: semicolon, tab and bar of spreadsheet and CRM exports.
DELIMITERS = (",", ";", "\t", "|")


def _codec_name(name: object) -> str:
    """The codec's canonical name (``latin-1`` is ``iso8859-1``), or a usage error."""
    try:
        if not isinstance(name, str):
            raise LookupError(name)
        info = codecs.lookup(name)
        "".encode(info.name)  # a text encoding, not a bytes-to-bytes codec
    except LookupError:
        raise UsageError(
            f"encoding {name!r}: not a text encoding Python knows "
            "(give one such as 'utf-8', 'cp1252' or 'latin-1'; --encoding)"
        ) from None
    return info.name


def _spellings(given: object) -> FrozenMap[str, FrozenMap[str, FrozenMap[str, str]]]:
    """``ParseOptions.values`` checked against the contract and frozen."""
    from ._schema import TABLES

    def refuse(what: str) -> UsageError:
        return UsageError(f"values: {what} (--map-value TABLE.COLUMN SPELLING VALUE)")

    if not isinstance(given, Mapping):
        raise refuse(f"{given!r} is not a mapping of tables")
    specs = {spec.name: spec for spec in TABLES}
    out: dict[str, FrozenMap[str, FrozenMap[str, str]]] = {}
    for table, columns in given.items():
        if table not in specs:
            raise refuse(f"{table!r} is not a table (one of {', '.join(specs)})")
        vocab = {c.name: c for c in specs[table].columns if c.kind == "vocab"}
        if not isinstance(columns, Mapping):
            raise refuse(f"{table}: {columns!r} is not a mapping of columns")
        frozen: dict[str, FrozenMap[str, str]] = {}
        for column, spellings in columns.items():
            col = vocab.get(column)
            if col is None:
                raise refuse(
                    f"{table}.{column} is not a column of fixed values "
                    f"(those of {table}: {', '.join(vocab) or 'none'})"
                )
            allowed = [m.value for m in (col.values or tuple(col.vocab))]
            if not isinstance(spellings, Mapping):
                raise refuse(f"{table}.{column}: {spellings!r} is not a mapping of spellings")
            read: dict[str, str] = {}
            for spelling, value in spellings.items():
                word = spelling.strip().lower() if isinstance(spelling, str) else ""
                if not word:
                    raise refuse(f"{table}.{column}: a spelling must be a non-blank text")
                target = value.strip().lower() if isinstance(value, str) else value
                if target not in allowed:
                    raise refuse(
                        f"{table}.{column}: {spelling!r} is read as {value!r}, which is not "
                        f"one of: {', '.join(allowed)}"
                    )
                if word in allowed and target != word:
                    raise refuse(
                        f"{table}.{column}: {spelling!r} is the contract's own value "
                        f"{word!r}, so it cannot be read as {value!r} (the rows that "
                        "mean it would change meaning)"
                    )
                if read.get(word, target) != target:
                    raise refuse(
                        f"{table}.{column}: {spelling!r} is read as both "
                        f"{read[word]!r} and {target!r}"
                    )
                read[word] = target
            frozen[column] = FrozenMap(read)
        out[table] = FrozenMap(frozen)
    return FrozenMap(out)


@attrs.frozen
class ParseOptions:
    """How the cells of a source are written, when not in the contract's plain form.

    One object configures every reader (CSV, JSON Lines, Parquet, SQLite, rows,
    dataframes) and both engines; the default reads the contract's forms only.
    On the command line these are ``--day-first``, ``--date-format``,
    ``--decimal-comma``, ``--money-places``, ``--delimiter``, ``--encoding``
    and ``--map-value``.

    Attributes:
        day_first: Read text dates written ``DD/MM/YYYY`` (also with ``.`` or
            ``-``, and an optional ``HH:MM[:SS]``) day first. ISO 8601 text is
            still read as ISO.
        date_format: A :func:`~datetime.datetime.strptime` format every text
            datetime cell is read with (``"%d/%m/%Y %H:%M"``); ISO 8601 text that
            does not match it is still read as ISO. Exclusive with ``day_first``.
        decimal_comma: Money and numbers are written with a decimal comma
            (``1.200,50`` is 1200.50); ``.``, a blank or ``'`` then separate
            groups of three digits. Without it ``,`` separates thousands only in
            an unambiguous number (``1,200.50``, ``1,200,000``); ``1,200`` is an
            error. It applies to text cells (CSV, strings); numbers of typed sources
            (Parquet, SQLite, dataframes) are read as their values, but JSON numbers
            in JSON Lines files are read as their text, so give them as strings.
        money_places: Accept floating-point money (float columns of dataframes
            and Parquet files, floats in rows) by rounding each value half-even to
            this many decimal places (the float's shortest decimal form, its
            ``repr``, is rounded: ``2.675`` gives ``2.68``); without it a float
            money value is an error.
        delimiter: The character between the cells of a CSV file: ``,`` (the
            contract's), or ``;`` (what spreadsheets write where the decimal
            point is a comma), a tab, ``|``. Quoting stays RFC 4180's (``"``).
        encoding: The text encoding of CSV and JSON Lines files: UTF-8 (the
            contract's; a BOM is skipped) or any codec Python knows, such as
            ``cp1252``, what spreadsheets on Windows save in Western Europe and
            the Americas. A byte the encoding does not define is an error
            naming its line.
        values: Other spellings of a vocabulary column's values, by table and
            column: ``{"orders": {"status": {"Completed": "delivered",
            "Canceled": "cancelled"}}}``. A spelling is matched as the contract's
            values are (case-insensitive, surrounding blanks ignored); it must
            name a value the column accepts, and a contract value cannot be read
            as another one. Held as read-only mappings, with each spelling in
            lower case.

    Raises:
        UsageError: For a bad combination or value.
    """

    day_first: bool = False
    date_format: str | None = None
    decimal_comma: bool = False
    money_places: int | None = None
    delimiter: str = ","
    encoding: str = attrs.field(default="utf-8", converter=_codec_name)
    values: Mapping[str, Mapping[str, Mapping[str, str]]] = attrs.field(
        factory=FrozenMap, converter=_spellings
    )

    def __attrs_post_init__(self) -> None:
        if self.date_format is not None:
            if not isinstance(self.date_format, str) or "%" not in self.date_format:
                raise UsageError(
                    f"date format {self.date_format!r}: give a strptime format such as "
                    "'%d/%m/%Y' (--date-format)"
                )
            if self.day_first:
                raise UsageError("give a date format or day-first dates, not both")
        if self.delimiter not in DELIMITERS:
            raise UsageError(
                f"delimiter {self.delimiter!r}: give one of "
                + ", ".join(repr(d) for d in DELIMITERS)
                + " (--delimiter, 'tab' for a tab)"
            )
        if self.money_places is not None and (
            isinstance(self.money_places, bool)
            or not isinstance(self.money_places, int)
            or not 0 <= self.money_places <= -MIN_EXPONENT
        ):
            raise UsageError(
                f"money places {self.money_places!r}: give a whole number from 0 to "
                f"{-MIN_EXPONENT} (--money-places)"
            )

    @property
    def is_default(self) -> bool:
        """True when the options read only the contract's plain forms."""
        return self == ParseOptions()


@attrs.frozen
class Marked:
    """An amount written with a currency marker (``€1.200,50``), before the row check.

    Attributes:
        amount: The amount.
        marker: The marker as written (``€``, ``EUR``).
        codes: The ISO 4217 codes the marker may stand for.
    """

    amount: Decimal
    marker: str
    codes: frozenset[str]


def _marker_codes(marker: str) -> frozenset[str]:
    if _CURRENCY.fullmatch(marker):
        return frozenset({marker})
    codes = CURRENCY_SYMBOLS.get(marker)
    if codes is None:
        raise BadCell(
            f"unknown currency symbol {marker!r} in the amount: write the number alone, "
            "or with an ISO 4217 code such as 1200.50 EUR"
        )
    return codes


def _ungroup(body: str, decimal_comma: bool, what: str) -> str:
    """The plain form (``1200.50``) of a number with separators, or a BadCell."""
    if decimal_comma:
        if _COMMA_DECIMAL.fullmatch(body):
            return body.replace(",", ".")
        whole, _, fraction = body.partition(",")
        if _COMMA_GROUPED.fullmatch(whole) and (not fraction or fraction.isdigit()):
            digits = "".join(ch for ch in whole if ch.isdigit())
            return f"{digits}.{fraction}" if fraction else digits
        raise BadCell(
            f"not a number in the decimal-comma form ({what}): write 1200,50 or 1.200,50; "
            "'.' or a blank may only separate groups of three digits"
        )
    if _POINT_GROUPED.fullmatch(body):
        if "." not in body and body.count(",") == 1:
            raise BadCell(
                f"the number {body!r} is ambiguous ({what}): {body.replace(',', '')} with a "
                f"thousands separator, or {body.replace(',', '.')} with a decimal comma; "
                "write it without the separator, or read the file with a decimal comma "
                "(--decimal-comma)"
            )
        return body.replace(",", "")
    if "," in body:
        raise BadCell(
            f"not a plain decimal number ({what}): use '.' as the decimal point; ',' may "
            "only separate groups of three digits (1,200.50), or read the file with a "
            "decimal comma (--decimal-comma)"
        )
    return body


def check_currency(code: object) -> str:
    """Return a valid default currency code or raise :class:`UsageError`."""
    if not isinstance(code, str) or not _CURRENCY.fullmatch(code):
        raise UsageError(f"currency {code!r}: give a three-letter ISO 4217 code such as 'EUR'")
    return code


def negative_reason(what: str) -> str:
    """Why a negative number is refused (``what``: "the amount", ...)."""
    return f"{what} must be >= 0 (a negative number is refused)"


def gap_reason(zone_name: str, wall: str | None = None) -> str:
    """Why a local time skipped by a clock change is refused (``wall``: the time, if
    the message is for one cell)."""
    shown = "" if wall is None else f" {wall}"
    return (
        f"the local datetime{shown} does not exist in time zone {zone_name} "
        "(clocks were put forward then); give the offset explicitly"
    )


def zone_name(zone: tzinfo) -> str:
    """A zone's name as the readers' messages give it."""
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
            raise BadCell(negative_reason(what))
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
        options: How cells are written (see :class:`ParseOptions`).

    Attributes:
        marked: True once a money cell carried a currency marker (the loader then
            checks markers against each row's currency).
    """

    __slots__ = (
        "day_first",
        "decimal_comma",
        "fmt",
        "marked",
        "places",
        "spellings",
        "zone",
        "zone_is_utc",
        "zone_name",
    )

    def __init__(self, zone: tzinfo, options: ParseOptions | None = None) -> None:
        self.zone = zone
        self.zone_is_utc = zone is UTC
        self.zone_name = zone_name(zone)
        opts = options or ParseOptions()
        self.day_first = opts.day_first
        self.fmt = opts.date_format
        self.decimal_comma = opts.decimal_comma
        self.places = opts.money_places
        self.spellings = opts.values
        self.marked = False

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
        if self.fmt is not None or self.day_first:
            found = self._custom_dt(text.strip())
            if found is not None:
                return self._attach(found)
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

    def _custom_dt(self, s: str) -> datetime | None:
        """The datetime of ``s`` in the custom form, None for ISO text, else BadCell."""
        if self.fmt is not None:
            try:
                return datetime.strptime(s, self.fmt)
            except ValueError as exc:
                if s[:4].isdigit() and s[4:5] == "-":
                    return None  # ISO text
                raise BadCell(
                    f"not a datetime in the format {self.fmt!r} (--date-format): {exc}"
                ) from None
        m = _DAY_FIRST.fullmatch(s)
        if m is None:
            if s[:4].isdigit() and s[4:5] == "-":
                return None
            raise BadCell(
                "not a day-first datetime (--day-first): write DD/MM/YYYY, DD.MM.YYYY or "
                "DD-MM-YYYY with an optional HH:MM[:SS], or ISO 8601"
            )
        day, _, month, year, hour, minute, second = m.groups()
        try:
            return datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        except ValueError as exc:
            raise BadCell(f"not a valid datetime: {exc} (read day first, --day-first)") from None

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
            "ambiguous forms such as 01/02/03 are never guessed: read other forms with "
            "--day-first or --date-format FMT)"
        )

    def _attach(self, dt: datetime) -> datetime:
        if not EARLIEST_YEAR <= dt.year <= LATEST_YEAR:
            raise BadCell(
                f"the datetime is outside the supported years "
                f"{EARLIEST_YEAR}-{LATEST_YEAR}: {dt.isoformat()}"
            )
        # The offset is pinned here as the records pin it (pinned), so that a
        # column's cache holds the records' own value: equal cells share it.
        zone = dt.tzinfo
        if zone is not None and (type(zone) is timezone or dt.utcoffset() is not None):
            return pinned(dt)
        if self.zone_is_utc:
            return dt.replace(tzinfo=UTC)
        aware = dt.replace(tzinfo=self.zone, fold=0)
        if not dtz.datetime_exists(aware):
            raise BadCell(gap_reason(self.zone_name, dt.isoformat()))
        return pinned(aware)

    # ------------------------------------------------------------------ numbers

    def money(self, value: object) -> Decimal | Marked:
        """Parse a money amount (a decimal number >= 0, never an unrounded float).

        Text may carry a currency marker (``€1.200,50``, ``1200.50 EUR``): the
        result is then a :class:`Marked` amount the loader checks against the
        row's currency.
        """
        if type(value) is str:
            if (
                not self.decimal_comma
                and len(value) <= _SURELY_BOUNDED
                and value.isascii()
                and value.isdigit()
            ):
                return Decimal(value)
            return self._text(value, "the amount", money=True)
        if isinstance(value, float) and self.places is not None:
            amount = _typed_number(value, "the amount", allow_float=True)
            return amount.quantize(Decimal(1).scaleb(-self.places), rounding=ROUND_HALF_EVEN)
        return _typed_number(value, "the amount", allow_float=False)

    def number(self, value: object) -> Decimal:
        """Parse a non-negative number (minutes); floats from typed sources are accepted."""
        if type(value) is str:
            found = self._text(value, "the number", money=False)
            assert isinstance(found, Decimal)
            return found
        return _typed_number(value, "the number", allow_float=True)

    def _text(self, value: str, what: str, *, money: bool) -> Decimal | Marked:
        if not self.decimal_comma:
            try:
                return _number(value, what)
            except BadCell:
                s = value.strip()
                if s.isascii() and s.replace(".", "", 1).isdigit():
                    raise
        s = value.strip()
        if s[:1] == "-" and s[1:2].isdigit():  # refused as negative, in the file's notation
            return _number("-" + _ungroup(s[1:], self.decimal_comma, what), what)
        m = _MARKED.fullmatch(s)
        if m is None:
            return _number(_ungroup(s, self.decimal_comma, what), what)
        pre, body, post = m.group("pre"), m.group("body"), m.group("post")
        if pre and post:
            raise BadCell(f"the amount has two currency markers ({pre!r} and {post!r})")
        amount = _number(_ungroup(body, self.decimal_comma, what), what)
        marker = pre or post
        if marker is None:
            return amount
        if not money:
            raise BadCell(f"{what} must not carry a currency ({marker!r})")
        self.marked = True
        return Marked(amount, marker, _marker_codes(marker))


def _typed_number(value: object, what: str, *, allow_float: bool) -> Decimal:
    if isinstance(value, bool):
        raise BadCell(f"a boolean is not {what}")
    if isinstance(value, int):
        if value < 0:
            raise BadCell(negative_reason(what))
        return _bounded(Decimal(value), what)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BadCell(f"{what} must be a finite number, not {value}")
        if value < 0:
            raise BadCell(negative_reason(what))
        return _bounded(value.copy_abs() if value == 0 else value, what)
    if isinstance(value, float):
        if not allow_float:
            raise BadCell(
                f"{what} is a floating-point number; money must be exact: store it as "
                "text or a decimal type, or round floats half-even to N places with "
                "--money-places N (ParseOptions(money_places=N) in Python)"
            )
        if value != value or value in (float("inf"), float("-inf")):
            raise BadCell(f"{what} must be a finite number, not {value}")
        return _number(repr(value), what)
    if isinstance(value, str):
        return _number(value, what)
    raise BadCell(f"expected {what}, got {type(value).__name__}")


# ---------------------------------------------------------------------- simple kinds


#: A lone UTF-16 surrogate (``\ud800`` from a JSON escape): not text that can be written.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(value: str) -> None:
    """Refuse text no output can hold: a NUL character or a lone surrogate."""
    if "\x00" in value:
        raise BadCell("contains a NUL character")
    if not value.isascii() and _SURROGATE.search(value):
        raise BadCell("contains a lone surrogate (such as \\ud800): not valid Unicode text")


def names_id(cell: object) -> bool:
    """Whether a record's id cell names an id: an empty or missing cell does not
    (the loader then generates the record's id from its cells)."""
    return cell is not None and cell != ""


def parse_id(value: object) -> str:
    """Read an id: text kept verbatim (``007`` stays ``007``), integers as their digits."""
    if type(value) is str:
        if value.isspace():
            raise BadCell("an id must not be empty or blank")
        _check_text(value)
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadCell(f"an id must be text or an integer, not {type(value).__name__}")
    return str(value) if isinstance(value, int) else parse_id(str(value))


def parse_text(value: object) -> str:
    """Read free text verbatim; numbers and booleans from typed sources become text."""
    if type(value) is str:
        _check_text(value)
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


def vocab_parser(
    cls: type[Vocab],
    members: tuple[Vocab, ...] | None = None,
    spellings: Mapping[str, str] | None = None,
    column: str | None = None,
) -> Callable[[object], Vocab]:
    """A parser for a vocabulary: its values, case-insensitive, surrounding blanks ignored.

    Args:
        cls: The vocabulary.
        members: The members an input may hold (None: all of them); a column's
            ``values``.
        spellings: Other spellings of the values (lower case, as
            :attr:`ParseOptions.values` holds them).
        column: ``TABLE.COLUMN``, to name the option a refusal points at.
    """
    allowed = tuple(cls) if members is None else members
    table: dict[str, Vocab] = {member.value: member for member in allowed}
    for spelling, value in (spellings or {}).items():
        table[spelling] = cls(value)
    hint = (
        ""
        if column is None
        else f"; read another spelling as one of them with --map-value {column} SPELLING "
        "VALUE (ParseOptions(values=...) in Python)"
    )

    def parse(value: object) -> Vocab:
        if isinstance(value, str):
            found = table.get(value)
            if found is None:
                found = table.get(value.strip().lower())
            if found is not None:
                return found
        raise BadCell(refusal(allowed, value) + hint)

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


def make_parsers(zone: tzinfo, options: ParseOptions | None = None) -> Parsers:
    """Return fresh parsers (and caches) for one load in ``zone``."""
    return Parsers(zone, options)
