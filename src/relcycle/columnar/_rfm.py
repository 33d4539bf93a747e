"""The columnar RFM kernel: lifetimes' four figures for every client, in one polars query.

Private; see :func:`relcycle.columnar.rfm_summary`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NoReturn, cast

import attrs

from relcycle._zones import resolve_zone
from relcycle.columnar._source import (
    ROW,
    check_as_of,
    day_of_instant,
    import_polars,
    instant_of_wall_time,
    lazy_frame,
)
from relcycle.errors import CurrencyMismatchError, InputError, Problem, RecordTypeError
from relcycle.io._load import DEFAULT_MAX_PROBLEMS, REQUIRED, marker_reason
from relcycle.io._parse import (
    BadCell,
    Marked,
    Parsers,
    make_parsers,
    negative_reason,
    parse_currency,
    parse_id,
    vocab_parser,
)
from relcycle.io._schema import spec
from relcycle.model import EARLIEST_YEAR, LATEST_YEAR
from relcycle.rules import SALE, known_at
from relcycle.segmentation.rfm import LIFETIMES_FIGURES, mean_repeat_value

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa  # type: ignore[import-untyped]
    from polars import DataFrame

__all__ = ["RFM_COLUMNS", "mean_repeat_value", "rfm_frame", "rfm_summary"]

#: The columns of :func:`rfm_summary`'s result, in order, with their kinds: one
#: declaration that the Arrow schema (:func:`result_schema`), the Spark recipe's
#: DDL and the figures' casts read.
RFM_RESULT: tuple[tuple[str, str], ...] = (
    ("client_id", "text"),
    ("frequency", "int"),
    ("recency", "int"),
    ("T", "int"),
    ("monetary_value", "float"),
    ("purchase_days", "int"),
    ("total_value", "decimal"),
    ("repeat_value", "decimal"),
    ("first_day", "date"),
    ("last_day", "date"),
    ("currency", "text"),
)

#: The columns of :func:`rfm_summary`'s result, in order.
RFM_COLUMNS: tuple[str, ...] = tuple(name for name, _ in RFM_RESULT)
_KIND = dict(RFM_RESULT)


def result_schema(pa: Any, *, scale: int, large_strings: bool = False) -> Any:
    """The Arrow schema of RFM results, decimals at ``scale``, for engines needing one.

    Dask and Spark ask each partition or group for a fixed schema in advance.
    """
    types = {
        "text": pa.large_string() if large_strings else pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "decimal": pa.decimal128(38, scale),
        "date": pa.date32(),
    }
    return pa.schema([(name, types[kind]) for name, kind in RFM_RESULT])


def spark_ddl(*, scale: int) -> str:
    """The Spark DDL string of RFM results, decimals at ``scale`` (the Spark recipe's)."""
    types = {
        "text": "string",
        "int": "long",
        "float": "double",
        "decimal": f"decimal(38,{scale})",
        "date": "date",
    }
    return ", ".join(f"{name} {types[kind]}" for name, kind in RFM_RESULT)


def _status_column() -> Any:
    """The orders' status column of the contract's schema."""
    (column,) = [c for c in spec("orders").columns if c.name == "status"]
    return column


#: The status values the contract writes (the fast form compares them as written).
_STATUSES = tuple(m.value for m in (_status_column().values or tuple(_status_column().vocab)))
_EXACT = 2**53  # integers below this are exact in a float64

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}([T ])\d{2}:\d{2}(:\d{2})?(\.\d+)?")
_AWARE = re.compile(r"\d{4}-\d{2}-\d{2}([T ])\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})")
_FRACTION = re.compile(r"\.(\d+)")


#: Why a cell is refused: a text, or a function of the cell's text and its row
#: (``raw_<column>`` texts) giving the readers' own reason.
_Why = str | Callable[[str, Mapping[str, Any]], str]


def _distinct(read: Callable[[str], object], dtype: Any) -> Any:
    """A batch function: ``read`` of each distinct text of a column, asked once per
    batch (a None is a null)."""
    pl = import_polars()

    def batch(series: Any) -> Any:
        uniq = series.unique().drop_nulls()
        values = pl.Series([read(t) for t in uniq.to_list()], dtype=dtype)
        return series.replace_strict(uniq, values, default=None, return_dtype=dtype)

    return batch


def _or_none(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse``, with None for a text the readers refuse."""

    def read(text: str) -> Any:
        try:
            return parse(text)
        except BadCell:
            return None

    return read


def _refuses(parse: Callable[[str], object]) -> Callable[[str], bool | None]:
    """True if ``parse`` refuses a text (None if it reads it: a null flag)."""

    def refused(text: str) -> bool | None:
        try:
            parse(text)
        except BadCell:
            return True
        return None

    return refused


def _refusal(
    parse: Callable[[str], object], otherwise: str = "refused"
) -> Callable[[str, Mapping[str, Any]], str]:
    """Why ``parse`` (one of the readers' parsers) refuses a cell: their reason
    (``otherwise`` if they read it: a rule polars holds apart, such as its copy of
    the time zone database)."""

    def reason(text: str, row: Mapping[str, Any]) -> str:
        try:
            parse(text)
        except BadCell as exc:
            return exc.reason
        return otherwise

    return reason


@attrs.frozen
class _General:
    """Which columns a run reads value by value with the readers' own parsers,
    instead of the fast polars forms (which accept only the contract's plain forms)."""

    moments: bool = False
    amounts: bool = False
    statuses: bool = False


#: The fast forms' reasons: a rerun reads such a column as the readers do.
_NOT_A_MOMENT = "not an ISO 8601 date or datetime"
_NOT_A_NUMBER = "not a decimal number"
_UNKNOWN_STATUS = "unknown status (allowed: " + ", ".join(_STATUSES) + ")"


def _status_parser() -> Callable[[object], Any]:
    """The readers' parser of the orders' status column (the contract's schema)."""
    column = _status_column()
    return vocab_parser(column.vocab, column.values)


def _amount(parsers: Parsers) -> Callable[[str], Decimal]:
    """An amount text as the readers read it (a marked one: its number; the marker
    is checked against the row's currency apart, :func:`_marker_codes`)."""

    def read(text: str) -> Decimal:
        found = parsers.money(text)
        return found.amount if isinstance(found, Marked) else found

    return read


def _marker_codes(parsers: Parsers) -> Callable[[str], str | None]:
    """The currency codes an amount's marker may stand for (``/``-joined), or None."""

    def read(text: str) -> str | None:
        found = parsers.money(text)
        return "/".join(sorted(found.codes)) if isinstance(found, Marked) else None

    return read


def _marker_refusal(parsers: Parsers, default: str) -> Callable[[str, Mapping[str, Any]], str]:
    """Why a marked amount is refused: its marker is not the row's currency (the
    readers' reason, :func:`relcycle.io._load.marker_reason`)."""

    def reason(text: str, row: Mapping[str, Any]) -> str:
        found = parsers.money(text)
        assert isinstance(found, Marked)
        cell = row.get("raw_currency")
        code = None if cell is None else _or_none(parse_currency)(cell)
        currency = default if code is None else code
        return marker_reason(found, currency, in_row=code is not None, given=True)

    return reason


class _Plan:
    """The expressions of one run: how each column is read, checked and filtered."""

    def __init__(
        self,
        pl: Any,
        schema: Any,
        *,
        sample: str | None,
        as_of: datetime,
        zone: tzinfo,
        scale: int | None,
        general: _General,
        currency: str,
    ) -> None:
        self.problems_exprs: list[tuple[str, Any, _Why]] = []  # (column, bad-expr, why)
        self.general = general
        general_moments = general.moments
        parsers = make_parsers(zone)
        # A local time the zone skips is refused, as the readers refuse it (a
        # fixed offset skips none).
        gap = not isinstance(zone, timezone)
        moment_reason = _refusal(
            parsers.parse_datetime,
            "a local time that polars' time zone database does not hold (its rules for "
            "this zone differ from Python's)",
        )
        as_of_day = as_of.astimezone(zone).date()
        self.as_of_day = as_of_day

        # client_id: a non-empty string.
        cid_type = schema["client_id"]
        cid = pl.col("client_id")
        if cid_type != pl.String:
            if cid_type.is_float():
                raise RecordTypeError(
                    record="orders",
                    field="client_id",
                    value=str(cid_type),
                    expected="string ids (or integers)",
                )
            cid = cid.cast(pl.String)
        self.cid = cid
        self.problems_exprs.append(("client_id", cid.is_null() | (cid == ""), REQUIRED))
        # Only an id with a character outside printable ASCII or a blank can be one
        # the readers refuse (blank, a NUL, a lone surrogate): those, and only
        # those, are asked of their parse_id, each distinct id once.
        unusual = pl.when(cid.str.contains(r"[^!-~]")).then(cid)
        refused = unusual.map_batches(
            _distinct(_refuses(parse_id), pl.Boolean), return_dtype=pl.Boolean
        )
        self.problems_exprs.append(("client_id", refused.fill_null(False), _refusal(parse_id)))

        # placed_at: the day in the zone, and whether the order is on or before as_of.
        raw = pl.col("placed_at")
        ptype = schema["placed_at"]
        kind: str | None = None  # how a text column is read
        if ptype == pl.String:
            if general_moments or sample is None:
                kind = "general"
            elif _DATE.fullmatch(sample):
                kind = "date"
            elif (m := _NAIVE.fullmatch(sample)) is not None:
                kind = "naive"
                fmt = f"%Y-%m-%d{m.group(1)}%H:%M" + (":%S" if m.group(2) else "")
                fmt += "%.f" if m.group(3) else ""
            elif (m := _AWARE.fullmatch(sample)) is not None:
                kind = "aware"
                fmt = f"%Y-%m-%d{m.group(1)}%H:%M" + (":%S" if m.group(2) else "")
                fmt += ("%.f" if m.group(3) else "") + "%#z"
            else:
                kind = "general"
            if kind == "date":
                moment = raw.str.to_date("%Y-%m-%d", strict=False)
                ptype = pl.Date
            elif kind == "naive":
                moment = raw.str.to_datetime(fmt, time_unit="us", strict=False)
                ptype = pl.Datetime("us")
            elif kind == "aware":
                moment = raw.str.to_datetime(fmt, time_unit="us", time_zone="UTC", strict=False)
                ptype = pl.Datetime("us", "UTC")
            else:
                moment = raw.map_batches(
                    _distinct(
                        _or_none(lambda text: parsers.parse_datetime(text).astimezone(UTC)),
                        pl.Datetime("us", "UTC"),
                    ),
                    return_dtype=pl.Datetime("us", "UTC"),
                )
                ptype = pl.Datetime("us", "UTC")
            # a fast form that does not fit is a rerun's cue (it reads the texts as
            # the readers do, and names a refused one with their reason)
            unread_why = moment_reason if kind == "general" else _NOT_A_MOMENT
            self.problems_exprs.append(
                ("placed_at", raw.is_not_null() & moment.is_null(), unread_why)
            )
        elif ptype == pl.Date or isinstance(ptype, pl.Datetime):
            moment = raw
        else:
            raise RecordTypeError(
                record="orders",
                field="placed_at",
                value=str(ptype),
                expected="a timestamp, a date or ISO 8601 text",
            )
        self.problems_exprs.append(("placed_at", raw.is_null(), REQUIRED))
        # the readers' supported years (io's one range) of the time as written: a
        # text's own digits (a parsed aware text is in UTC), a typed value's year;
        # the readers' parser, which reads the general texts, checks them itself
        if kind != "general":
            year = (
                raw.str.slice(0, 4).cast(pl.Int32, strict=False)
                if schema["placed_at"] == pl.String
                else moment.dt.year()
            )
            self.problems_exprs.append(
                (
                    "placed_at",
                    ~year.is_between(EARLIEST_YEAR, LATEST_YEAR).fill_null(True),
                    moment_reason,
                )
            )
        if ptype == pl.Date:
            day = moment
            # known_at for a date (its midnight in the zone): at or before as_of
            # exactly when the date is at or before as_of's date there
            keep = moment <= pl.lit(as_of_day)
            if gap:  # a date is its midnight, which may be skipped
                local = instant_of_wall_time(pl, zone)(moment.cast(pl.Datetime("us")))
                self.problems_exprs.append(
                    ("placed_at", moment.is_not_null() & local.is_null(), moment_reason)
                )
        elif ptype.time_zone is not None:
            instant = moment if ptype.time_zone == "UTC" else moment.dt.convert_time_zone("UTC")
            day = day_of_instant(pl, zone)(instant)
            keep = known_at("orders", as_of, instant=instant)
        else:
            # A naive time is a wall-clock time in the zone: its day is its date.
            day = moment.dt.date()
            local = instant_of_wall_time(pl, zone)(moment.dt.cast_time_unit("us"))
            keep = known_at("orders", as_of, instant=local)
            if gap:
                self.problems_exprs.append(
                    ("placed_at", moment.is_not_null() & local.is_null(), moment_reason)
                )
        self.day = day
        self.keep = keep

        # currency: optional; each distinct code read by the readers' parser.
        self.currency: Any = None
        if "currency" in schema:
            cell = pl.col("currency").cast(pl.String)
            self.currency = cell.map_batches(
                _distinct(_or_none(parse_currency), pl.String), return_dtype=pl.String
            )
        # a marker's check comes last in its row, as the readers make it
        marker: tuple[str, Any, _Why] | None = None

        # amount: an exact decimal >= 0.
        self.digits: Any = None
        araw = pl.col("amount")
        atype = schema["amount"]
        if isinstance(atype, pl.Decimal):
            self.scale = atype.scale
            amount = araw.cast(pl.Decimal(38, self.scale))
        elif atype.is_integer():
            self.scale = 0
            amount = araw.cast(pl.Decimal(38, 0))
        elif atype == pl.String:
            self.scale = 2 if scale is None else scale
            if general.amounts:
                # each distinct text read by the readers' own parser; a currency
                # marker must be the row's currency, as the readers check it
                dtype = pl.Decimal(38, self.scale)
                amount = araw.map_batches(
                    _distinct(_or_none(_amount(parsers)), dtype), return_dtype=dtype
                )
                self.problems_exprs.append(
                    ("amount", araw.is_not_null() & amount.is_null(), _refusal(parsers.money))
                )
                codes = araw.map_batches(
                    _distinct(_or_none(_marker_codes(parsers)), pl.String),
                    return_dtype=pl.String,
                )
                row_currency = (
                    pl.lit(currency) if self.currency is None else self.currency.fill_null(currency)
                )
                agrees = codes.is_null() | codes.str.split("/").list.contains(row_currency)
                marker = ("amount", ~agrees, _marker_refusal(parsers, currency))
                # places of the number only (a marker may hold a point: '1.50 EUR')
                digits = araw.str.extract(r"\.(\d+)", 1).str.len_bytes().fill_null(0)
            else:
                amount = araw.str.to_decimal(scale=self.scale)
                self.problems_exprs.append(
                    ("amount", araw.is_not_null() & amount.is_null(), _NOT_A_NUMBER)
                )
                digits = (araw.str.len_bytes() - araw.str.find(".", literal=True) - 1).fill_null(0)
            self.problems_exprs.append(
                ("amount", digits > self.scale, f"more than {self.scale} decimal places")
            )
            self.digits = digits
        else:
            raise RecordTypeError(
                record="orders",
                field="amount",
                value=str(atype),
                expected="a decimal, an integer or decimal text (never a float)",
            )
        self.amount = amount
        self.problems_exprs.append(("amount", araw.is_null(), REQUIRED))
        self.problems_exprs.append(("amount", amount < 0, negative_reason("the amount")))

        if self.currency is not None:
            cell = pl.col("currency").cast(pl.String)
            self.problems_exprs.append(
                ("currency", cell.is_not_null() & self.currency.is_null(), _refusal(parse_currency))
            )

        # status: optional; only sales count. A row without one has the record
        # class's default status, as io reads it.
        default_status = pl.lit(spec("orders").default("status"))
        if "status" in schema:
            given = pl.col("status")
            if schema["status"] != pl.String:
                given = given.cast(pl.String)
            if general.statuses:
                # each distinct text read by the readers' own parser (any case, blanks)
                parse = _status_parser()
                read = given.map_batches(
                    _distinct(_or_none(lambda text: str(parse(text).value)), pl.String),
                    return_dtype=pl.String,
                )
                self.problems_exprs.append(
                    ("status", given.is_not_null() & read.is_null(), _refusal(parse))
                )
                given = read
            else:
                self.problems_exprs.append(
                    ("status", given.is_not_null() & ~given.is_in(_STATUSES), _UNKNOWN_STATUS)
                )
            status = given.fill_null(default_status)
        else:
            status = default_status
        self.keep = self.keep & SALE.to_polars(columns={"status": status})
        if marker is not None:
            self.problems_exprs.append(marker)

    def bad(self) -> Any:
        """One boolean expression: the row breaks a rule."""
        pl = import_polars()
        return pl.any_horizontal([e.fill_null(False) for _, e, _ in self.problems_exprs])


def _sample(pl: Any, lf: Any, schema: Any) -> tuple[str | None, int | None]:
    """From the first thousand rows: a ``placed_at`` text (to pick the fast parser) and
    the most decimal places of the ``amount`` texts (at least 2).

    Either is None when that column is not text.
    """
    wanted = [c for c in ("placed_at", "amount") if schema[c] == pl.String]
    if not wanted:
        return None, None
    head = lf.select(wanted).head(1000).collect()
    moment: str | None = None
    scale: int | None = None
    if "placed_at" in wanted:
        texts = head["placed_at"].drop_nulls()
        moment = str(texts[0]) if len(texts) else None
    if "amount" in wanted:
        scale = 2
        for text in head["amount"].drop_nulls().to_list():
            m = _FRACTION.search(str(text))
            if m is not None:
                scale = max(scale, len(m.group(1)))
    return moment, scale


def rfm_frame(
    orders: object,
    *,
    as_of: datetime,
    tz: tzinfo | str = "UTC",
    currency: str = "USD",
    sort: bool = False,
) -> pl.DataFrame:
    """:func:`rfm_summary` as a polars DataFrame (the same columns, no copy to Arrow)."""
    pl = import_polars()
    check_as_of(as_of)
    zone = resolve_zone(tz)
    lf, source_name, has_row = lazy_frame(orders, columns={})
    schema = lf.collect_schema()
    missing = [c for c in ("client_id", "placed_at", "amount") if c not in schema]
    if missing:
        raise InputError(
            [Problem(source_name, None, c, None, "a required column is missing") for c in missing]
        )
    sample, scale = _sample(pl, lf, schema)
    general = _General()
    for _attempt in range(3):
        plan = _Plan(
            pl,
            schema,
            sample=sample,
            as_of=as_of,
            zone=zone,
            scale=scale,
            general=general,
            currency=currency,
        )
        result = _run(pl, lf, plan, currency=currency)
        if not result["_bad"].any():
            break
        # A problem may only mean the fast guesses were wrong: mixed time formats,
        # amounts or statuses in forms the readers also accept (read them one by
        # one, as the readers do), or more decimal places than the sample showed.
        retry = _retry(pl, lf, plan, zone)
        if retry is None:
            _raise_problems(pl, lf, plan, source_name, has_row)
        general, scale = retry
    else:  # pragma: no cover - a rerun reads every column generally, then fails or passes
        _raise_problems(pl, lf, plan, source_name, has_row)
    if plan.currency is not None:
        mixed = result.filter(pl.col("_cur_lo") != pl.col("_cur_hi"))
        if mixed.height:
            row = mixed.row(0, named=True)
            raise CurrencyMismatchError(
                currencies=(row["_cur_lo"], row["_cur_hi"]),
                context=f"the RFM figures of client {row['client_id']!r}",
            )
    out = _exact_means(pl, result.drop("_bad", "_cur_lo", "_cur_hi", strict=False), plan.scale)
    if sort:
        out = out.sort("client_id")
    return cast("DataFrame", out)


def _run(pl: Any, lf: Any, plan: _Plan, *, currency: str) -> Any:
    """The grouped query: per client and day, then per client, then the figures."""
    cols = [
        plan.cid.alias("client_id"),
        plan.day.alias("day"),
        plan.amount.alias("amount"),
        plan.bad().alias("_bad"),
    ]
    day_aggs = [pl.col("amount").sum(), pl.col("_bad").max()]
    client_aggs = [
        pl.len().alias("purchase_days"),
        pl.col("day").min().alias("first_day"),
        pl.col("day").max().alias("last_day"),
        pl.col("amount").sum().alias("total_value"),
        pl.col("amount").sort_by("day").first().alias("_first_value"),
        pl.col("_bad").max(),
    ]
    if plan.currency is not None:
        cols.append(plan.currency.alias("_cur"))
        day_aggs += [pl.col("_cur").min().alias("_cur_lo"), pl.col("_cur").max().alias("_cur_hi")]
        client_aggs += [pl.col("_cur_lo").min(), pl.col("_cur_hi").max()]
    query = (
        lf.select(*cols, plan.keep.alias("_keep"))
        .filter(pl.col("_keep") | pl.col("_bad"))
        .group_by("client_id", "day")
        .agg(day_aggs)
        .group_by("client_id")
        .agg(client_aggs)
        .select(_figures(pl, plan, currency=currency))
    )
    return query.collect(engine="streaming")


def _retry(pl: Any, lf: Any, plan: _Plan, zone: tzinfo) -> tuple[_General, int | None] | None:
    """How a rerun reads the columns (and at which scale), or None if it cannot
    change the outcome (the problems are the data's, as the readers name them)."""
    # which problems occur anywhere (and the most decimal places), in one pass
    found = lf.select(
        *[
            e.fill_null(False).any().alias(f"_{i}")
            for i, (_, e, _) in enumerate(plan.problems_exprs)
        ],
        *([] if plan.digits is None else [plan.digits.max().alias("_digits")]),
    ).collect()
    general = plan.general
    scale: int | None = plan.scale
    for i, (column, _, reason) in enumerate(plan.problems_exprs):
        if not found[f"_{i}"].item():
            continue
        if reason is _NOT_A_MOMENT:
            # mixed forms, or a bad text: a rerun reads each text as the readers do
            general = attrs.evolve(general, moments=True)
        elif reason is _NOT_A_NUMBER or reason is _UNKNOWN_STATUS:
            # another form the readers accept, or a bad value: a rerun reads the
            # column as the readers do, and names a bad value with their reason
            general = attrs.evolve(
                general,
                amounts=general.amounts or reason is _NOT_A_NUMBER,
                statuses=general.statuses or reason is _UNKNOWN_STATUS,
            )
        elif column == "amount" and isinstance(reason, str) and reason.startswith("more than"):
            most = found["_digits"].item()
            if most <= 30 and most != plan.scale:
                scale = int(most)
        # any other problem is the data's: the rerun (if any) names it too
    if general == plan.general and scale == plan.scale:
        return None
    return general, scale


def _raise_problems(pl: Any, lf: Any, plan: _Plan, source_name: str, has_row: bool) -> NoReturn:
    """Collect the first bad rows and raise :class:`InputError` naming each cell."""
    raw_cols = [
        pl.col(c).cast(pl.String).alias(f"raw_{c}") for c in ("client_id", "placed_at", "amount")
    ]
    for optional in ("status", "currency"):
        if optional in lf.collect_schema():
            raw_cols.append(pl.col(optional).cast(pl.String).alias(f"raw_{optional}"))
    flags = [e.fill_null(False).alias(f"_{i}") for i, (_, e, _) in enumerate(plan.problems_exprs)]
    # Rows count from 1; in a CSV file line 1 is the header.
    rows = (
        lf.with_row_index(ROW, offset=2 if has_row else 1)
        .select(pl.col(ROW), *raw_cols, *flags)
        .filter(pl.any_horizontal(pl.col(r"^_\d+$")))
        .head(DEFAULT_MAX_PROBLEMS + 1)
        .collect()
    )
    problems: list[Problem] = []
    for rec in rows.iter_rows(named=True):
        for i, (column, _, reason) in enumerate(plan.problems_exprs):
            if rec[f"_{i}"]:
                value = rec.get(f"raw_{column}")
                why = reason if isinstance(reason, str) else reason(value, rec)
                problems.append(Problem(source_name, rec[ROW], column, value, why))
    # the readers' cap: the first problems, and whether there are more
    truncated = rows.height > DEFAULT_MAX_PROBLEMS or len(problems) > DEFAULT_MAX_PROBLEMS
    raise InputError(problems[:DEFAULT_MAX_PROBLEMS], truncated=truncated)


def _figures(pl: Any, plan: _Plan, *, currency: str) -> list[Any]:
    """From the per-client aggregates to lifetimes' figures (and the exact extras).

    The four figures are :data:`~relcycle.segmentation.rfm.LIFETIMES_FIGURES`
    compiled to polars, the declaration the object path evaluates.
    """
    scale = plan.scale
    unit = 10**scale
    repeat = pl.col("total_value") - pl.col("_first_value")
    cur = pl.col("_cur_lo").fill_null(currency) if plan.currency is not None else pl.lit(currency)
    extra = [pl.col("_bad")]
    if plan.currency is not None:
        extra += [pl.col("_cur_lo"), pl.col("_cur_hi")]
    inputs = {
        "purchase_days": pl.col("purchase_days"),
        "first_day": pl.col("first_day"),
        "last_day": pl.col("last_day"),
        "as_of_day": pl.lit(plan.as_of_day),
        # the repeat sum as an exact integer of 10**-scale units, in float64
        "repeat_value": (repeat.cast(pl.Decimal(38, scale)) * unit)
        .cast(pl.Int128)
        .cast(pl.Float64),
    }

    def divide(units: Any, count: Any) -> Any:
        # repeat / (count * 10**scale) with both sides exact integers in float64 is
        # the correctly rounded mean; the rare huge sums are redone by _exact_means.
        return units / (count.cast(pl.Float64) * float(unit))

    dtypes = {"int": pl.Int64, "float": pl.Float64}
    figures = [
        figure.to_polars(inputs, divide).cast(dtypes[_KIND[name]]).alias(name)
        for name, figure in LIFETIMES_FIGURES.items()
    ]
    return [
        pl.col("client_id"),
        *figures,
        pl.col("purchase_days").cast(pl.Int64),
        pl.col("total_value").cast(pl.Decimal(38, scale)),
        repeat.cast(pl.Decimal(38, scale)).alias("repeat_value"),
        pl.col("first_day"),
        pl.col("last_day"),
        cur.alias("currency"),
        *extra,
    ]


def _exact_means(pl: Any, out: Any, scale: int) -> Any:
    """Redo ``monetary_value`` exactly where the repeat sum is too big for a float64."""
    big = out.filter(pl.col("repeat_value").cast(pl.Float64).abs() >= _EXACT / 10**scale / 2)
    if not big.height:
        return out
    exact = {
        cid: float(Fraction(value) / f) if f else 0.0
        for cid, value, f in big.select("client_id", "repeat_value", "frequency").iter_rows()
    }
    fixed = pl.DataFrame(
        {"client_id": list(exact), "_m": list(exact.values())},
        schema={"client_id": pl.String, "_m": pl.Float64},
    )
    return (
        out.join(fixed, on="client_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("_m", "monetary_value").alias("monetary_value"))
        .drop("_m")
    )


def rfm_summary(
    orders: object,
    *,
    as_of: datetime,
    tz: tzinfo | str = "UTC",
    currency: str = "USD",
    sort: bool = False,
) -> pa.Table:
    """lifetimes' RFM summary (daily periods) for every client, computed columnar.

    The same figures as :func:`relcycle.segmentation.rfm.rfm_figures` for each
    client, with the same rules: only sales count (``status`` ``placed`` or
    ``delivered``; a missing status means ``placed``); orders placed after
    ``as_of`` (an instant) are dropped; each order's moment is floored to its
    calendar day in ``tz``; a client's orders of one day form one purchase day
    with their amounts summed (exactly: money is decimal, never float); a client
    with no sale by ``as_of`` is absent.

    Args:
        orders: The orders table: a path to a ``.csv`` (or ``.csv.gz``) or
            ``.parquet`` file (scanned in batches, never read whole), a polars
            DataFrame/LazyFrame, or any object exposing ``__arrow_c_stream__``
            (pyarrow Table, pandas DataFrame with pyarrow installed, ...). Columns
            per the data contract: ``client_id``, ``placed_at`` (timestamp, date
            or ISO 8601 text; naive values are wall-clock times in ``tz``),
            ``amount`` (decimal, integer or decimal text; never float); optional
            ``status`` and ``currency``; other columns are ignored. Text cells
            are read as :func:`relcycle.io.load_history` reads them (a status in
            any case, an amount with thousands separators, any ISO 8601 form),
            by fast polars forms and, for cells those do not fit, the readers'
            own parsers (a currency marker on an amount must be the row's
            currency, as there).
        as_of: The moment of observation (aware datetime).
        tz: The time zone whose calendar days are the periods (IANA name or
            tzinfo: any zone the object path takes, a fixed offset of any
            minutes included); UTC by default.
        currency: The currency of orders without a ``currency`` column.
        sort: Sort the rows by ``client_id`` (as the object path orders clients).
            Off by default: the rows are in no particular order, and sorting
            millions of ids costs about a third of the whole run.

    Returns:
        A pyarrow Table, one row per client with a sale: ``client_id``;
        lifetimes' ``frequency`` (repeat purchase days), ``recency`` (days from
        the first to the last purchase day), ``T`` (days from the first purchase
        day to the day of ``as_of``) as int64; ``monetary_value`` (float64: the
        exact mean of the repeat days' sums, correctly rounded; 0 without repeat
        days); and the exact extras ``purchase_days``, ``total_value`` and
        ``repeat_value`` (decimal128, the sums of all and of the repeat days),
        ``first_day``, ``last_day`` (date32) and ``currency``.

    Raises:
        InputError: Bad rows (missing or unparseable cells, negative amounts,
            unknown statuses, local times the zone skips), each named by source,
            line and column with the readers' reason; nothing is returned.
        CurrencyMismatchError: A client's sales are in two currencies.
        RecordTypeError: A column has a type that cannot hold its values
            (a float amount, say).
        UsageError: The file is missing or not CSV/Parquet, or ``tz`` is unknown.
        ValidationError: ``as_of`` is not timezone-aware.
    """
    frame = rfm_frame(orders, as_of=as_of, tz=tz, currency=currency, sort=sort)
    return frame.to_arrow()
