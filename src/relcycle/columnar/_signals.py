"""Per-client signals of the report over the normalized frames, for the columnar path.

Private; :func:`client_signals` is what the columnar report engine calls.

The work is split in two:

- **polars** does every per-record step: it cuts each table at ``as_of``, keeps
  the sales, computes each sale's calendar day in ``tz`` and whether a record
  lies in a policy's window, sorts each client's records by the model's total
  order (moment, then id; no engine keeps row order, so the sort is explicit),
  groups by client and collects the small per-client values the rules read:
  counts, id lists, distinct purchase days, per-day sums and exact sums;
- **Python** then runs, per client, the object path's own decision functions on
  those values (:func:`~relcycle.segmentation.regularity.regularity_from_days`,
  :func:`~relcycle.segmentation.motivation.motivation_from_signals`,
  :func:`~relcycle.segmentation.cost.cost_from_figures`,
  :func:`~relcycle.segmentation.rfm.rfm_from_days`), so each rule has one
  implementation and both paths give equal objects.

Money is exact. Amounts are ``str(Decimal)`` texts; a sum of plain texts
(``123.45``: at most 15 integer digits and 12 decimal places) is taken in
polars as a 38-digit decimal and given the exponent the model's own sum has
(the smallest exponent of the values added, and 0 at most). A client with any
other text (an exponent, ``-0``) or with a sum that could need more than the
precision of the decimal context (28 digits by default) is computed from its records by
the object path itself, so rounding never differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, getcontext
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from relcycle._zones import resolve_zone
from relcycle.errors import CurrencyMismatchError
from relcycle.history import check_as_of
from relcycle.rules import (
    CONTACT,
    MARKETING_TOUCH,
    OPEN_COMPLAINT,
    REQUEST,
    SALE,
    Signal,
    known_at,
)
from relcycle.segmentation import cost as _cost
from relcycle.segmentation import motivation as _motivation
from relcycle.segmentation import regularity as _regularity
from relcycle.segmentation import rfm as _rfm
from relcycle.segmentation._util import day_of, sales

from ._source import day_of_instant, import_polars
from ._tables import client_runs

if TYPE_CHECKING:
    from relcycle.report import ReportPolicies

    from ._tables import Frames

__all__ = ["ClientSignals", "client_signals", "iter_client_signals"]


#: Decimal texts summed in polars: up to 15 integer digits and 12 decimal places
#: (a sum of up to 10**11 of them fits a 38-digit decimal at scale 12).
_PLAIN = r"^[0-9]{1,15}(\.[0-9]{1,12})?$"
_SCALE = 12
_QUANTA = tuple(Decimal(1).scaleb(-k) for k in range(_SCALE + 1))
#: The most distinct sums kept as Decimals while deciding (a memo, bounded).
_DECIMALS_KEPT = 1 << 16
#: Clients decided per chunk of the per-client table.
_CHUNK = 20_000


@attrs.frozen(kw_only=True)
class ClientSignals:
    """What the report computes for one client besides its lifecycle, ladder and risks.

    Every field equals what the object path computes from the client's history
    cut at ``as_of`` (see :func:`relcycle.report.build_report`).

    Attributes:
        client_id: The client.
        regularity: ``assess_regularity(history, as_of=, policy=policies.regularity, tz=)``.
        motivation: ``classify_motivation(history, as_of=, policy=policies.motivation, tz=)``.
        cost: ``cost_to_serve(history, as_of=, rates=policies.cost_rates)``.
        figures: ``rfm_figures(history, as_of=, tz=)`` (None: no sale).
        counts: The report's ``(orders, contacts, requests, complaints_open,
            revenue)``: sales, interactions except marketing touches, inbound
            requests, complaints open at ``as_of``, and the exact sum of the sales.
    """

    client_id: str
    regularity: _regularity.RegularityAssessment
    motivation: _motivation.MotivationAssessment
    cost: _cost.CostToServe
    figures: _rfm.RFMFigures | None
    counts: tuple[int, int, int, int, Decimal]

    @property
    def orders(self) -> int:
        """Sales placed by ``as_of``."""
        return self.counts[0]

    @property
    def contacts(self) -> int:
        """Interactions by ``as_of``, either direction, except marketing touches."""
        return self.counts[1]

    @property
    def requests(self) -> int:
        """Inbound interactions with a request purpose by ``as_of``."""
        return self.counts[2]

    @property
    def complaints_open(self) -> int:
        """Complaints open at ``as_of``."""
        return self.counts[3]

    @property
    def revenue(self) -> Decimal:
        """The exact sum of the sales' amounts."""
        return self.counts[4]


def client_signals(
    frames: Frames,
    *,
    as_of: datetime,
    tz: tzinfo | str = UTC,
    policies: ReportPolicies | None = None,
) -> dict[str, ClientSignals]:
    """Compute every client's signals as of a moment (see the module docs).

    Args:
        frames: The normalized frames (:mod:`relcycle.columnar._tables`).
        as_of: The moment (aware); records after it are ignored.
        tz: The time zone whose calendar days count (a tzinfo or an IANA name).
        policies: The report's thresholds (default: the documented defaults).

    Returns:
        One :class:`ClientSignals` per row of ``frames.clients``, keyed by client
        id, in client id order. Records of clients missing from the clients
        frame are ignored. (:func:`iter_client_signals` gives the same one at a
        time, holding only a chunk of clients in memory.)

    Raises:
        CurrencyMismatchError: If a client's sales by ``as_of`` are in two
            currencies, or not in ``policies.cost_rates.currency``.
        ValidationError: If ``as_of`` is not timezone-aware.
        RecordTypeError: If ``as_of`` is not a datetime.
        UsageError: If ``tz`` is an unknown zone name.
    """
    found = iter_client_signals(frames, as_of=as_of, tz=tz, policies=policies)
    return {signals.client_id: signals for signals in found}


def iter_client_signals(
    frames: Frames,
    *,
    as_of: datetime,
    tz: tzinfo | str = UTC,
    policies: ReportPolicies | None = None,
) -> Iterator[ClientSignals]:
    """:func:`client_signals` one client at a time, in client id order.

    The argument checks and the polars work of the first run of clients (at
    most 100,000, all of a smaller portfolio: a range of client ids) happen at
    the call. The per-client decisions, and the polars work of later runs,
    happen as the iterator is consumed. A client whose sales are in two
    currencies raises when it is reached, as on the object path.

    Args:
        frames: The normalized frames (:mod:`relcycle.columnar._tables`).
        as_of: The moment (aware); records after it are ignored.
        tz: The time zone whose calendar days count (a tzinfo or an IANA name).
        policies: The report's thresholds (default: the documented defaults).

    Returns:
        An iterator of one :class:`ClientSignals` per row of ``frames.clients``,
        sorted by client id.

    Raises:
        CurrencyMismatchError: While iterating, at a client whose sales by
            ``as_of`` are in two currencies, or not in ``policies.cost_rates.currency``.
        ValidationError: If ``as_of`` is not timezone-aware.
        RecordTypeError: If ``as_of`` is not a datetime.
        UsageError: If ``tz`` is an unknown zone name.
    """
    from relcycle.report import ReportPolicies

    check_as_of(as_of)
    policies = ReportPolicies() if policies is None else policies
    import_polars()  # a missing extra is named before anything else
    zone_ = resolve_zone(tz)
    rows = iter_client_rows(frames, as_of=as_of, tz=zone_, policies=policies)
    return (row.signals() for row in rows)


def iter_client_rows(
    frames: Frames, *, as_of: datetime, tz: tzinfo, policies: ReportPolicies
) -> Iterator[_Row]:
    """:func:`iter_client_signals` with each client's regularity, motivation and
    RFM figures decided only when asked for (:meth:`_Row.rest`).

    The report asks for them only for the clients whose verdicts read them: a
    lost client's are decided again at the end of its active life.
    """
    pl = import_polars()
    plan = _Plan(pl, as_of, tz, policies)
    parts = client_runs(frames)
    first = next(parts)
    # the first pass's polars work runs at the call, the others as the rows are read
    return _passes(pl, first, _per_client(pl, first, plan), parts, plan)


def _passes(
    pl: Any, first: Frames, table: Any, rest: Iterator[Frames], plan: _Plan
) -> Iterator[_Row]:
    yield from _decide(pl, first, table, plan)
    del table
    for part in rest:
        yield from _decide(pl, part, _per_client(pl, part, plan), plan)


#: A client's regularity, motivation and RFM figures (None: no sale).
_Rest = tuple[
    _regularity.RegularityAssessment, _motivation.MotivationAssessment, "_rfm.RFMFigures | None"
]


class _Row(NamedTuple):
    """One client's signals, the costlier half of them decided when asked for."""

    client_id: str
    cost: _cost.CostToServe
    counts: tuple[int, int, int, int, Decimal]
    #: Decides the client's regularity, motivation and RFM figures.
    rest: Callable[[], _Rest]

    def signals(self) -> ClientSignals:
        """The client's :class:`ClientSignals`, every field decided."""
        reg, mot, figures = self.rest()
        return ClientSignals(
            client_id=self.client_id,
            regularity=reg,
            motivation=mot,
            cost=self.cost,
            figures=figures,
            counts=self.counts,
        )


def _known(
    reg: _regularity.RegularityAssessment,
    mot: _motivation.MotivationAssessment,
    figures: _rfm.RFMFigures | None,
) -> _Rest:
    return reg, mot, figures


class _Plan:
    """The moments, windows and rate lookups of one run."""

    def __init__(self, pl: Any, as_of: datetime, tz: tzinfo, policies: ReportPolicies) -> None:
        self.as_of = as_of
        self.tz = tz
        self.policies = policies
        #: The precision of the decimal context the model's sums use.
        self.digits = getcontext().prec
        self.mot_policy = policies.motivation
        #: The motivation segmentation's declared signals (compiled per table).
        self.motivation = _motivation.motivation_signal_set(policies.motivation.window_days)
        self.mot_regularity = policies.motivation.windowed_regularity()
        #: Every sale by ``as_of`` (the sales the per-client figures read).
        self.sales = Signal.ids(SALE).to_polars(as_of=as_of)
        #: The sales in the motivation window: the filter of the motivation
        #: segmentation's declared ``sales_value`` signal.
        self.mot_sales = self.motivation.signals["sales_value"].to_polars(as_of=as_of)
        self.mot_window = policies.motivation.window_days is not None
        #: The sales in the regularity window (the days the regularity rules count).
        reg_days = policies.regularity.window_days
        self.reg_sales = Signal.days(SALE, reg_days).to_polars(as_of=as_of)
        self.reg_window = reg_days is not None
        self.day = day_of_instant(pl, tz)
        #: The hourly rates met, by the index :func:`_rate_index` gives.
        self.rates: list[Decimal] = []
        self._as_of_day: date | None = None

    def day_of_as_of(self) -> date:
        """The day of ``as_of`` in the zone, computed when first asked.

        It is asked only for clients with a sale, as on the object path: a moment
        at the edge of datetime's range may have no day in the zone.
        """
        if self._as_of_day is None:
            self._as_of_day = day_of(self.as_of, self.tz)
        return self._as_of_day


# ---------------------------------------------------------------------- exact sums


def _money(pl: Any, column: str) -> tuple[Any, Any, Any]:
    """(value as a 38-digit decimal at scale 12 or null, its scale, True if not plain)."""
    text = pl.col(column)
    plain = text.str.contains(_PLAIN)
    dot = text.str.find(".", literal=True)
    scale = pl.when(dot.is_null()).then(0).otherwise(text.str.len_bytes() - dot - 1)
    value = pl.when(plain).then(text).str.to_decimal(scale=_SCALE)
    return value, scale.cast(pl.Int32), text.is_not_null() & ~plain


def _sum_aggs(pl: Any, plan: _Plan, name: str, value: str, scale: str, where: Any) -> list[Any]:
    """The aggregations of an exact sum of ``value`` over the rows ``where`` holds."""
    total = pl.col(value).filter(where).sum()
    places = pl.col(scale).filter(where & pl.col(value).is_not_null()).max().fill_null(0)
    # A sum whose digits at its own scale may pass the decimal context's precision
    # (28 by default; the model's sums would round) is left to the object path.
    risky = total.cast(pl.Float64) >= pl.lit(5.0) * pl.lit(10.0).pow(plan.digits - 1 - places)
    return [
        total.cast(pl.String).alias(f"{name}_sum"),
        places.alias(f"{name}_places"),
        risky.alias(f"{name}_risky"),
    ]


def _exact(text: str | None, places: int | None) -> Decimal:
    """A polars sum's text as the Decimal with ``places`` decimal places.

    The sum is exact and has at most ``places`` decimal places, so the quantize
    only sets the exponent (it drops zeros), whatever digits the text shows.
    """
    if text is None:
        return Decimal(0)
    return Decimal(text).quantize(_QUANTA[places or 0])


# ---------------------------------------------------------------------- per client


def _per_client(pl: Any, frames: Frames, plan: _Plan) -> Any:
    """One row per client of ``frames.clients`` with every per-client value, by client id."""
    # Each client's position in client id order: the per-client parts are put in
    # that order by an integer join (joining lists on string keys is slow).
    codes = (
        frames.clients.lazy()
        .select("client_id")
        .sort("client_id")
        .with_row_index("_code")
        .collect()
    )
    rows = _sale_rows(pl, frames, plan).collect()  # read by two groupings
    parts = pl.collect_all(
        [
            _sales(pl, rows.lazy(), plan),
            _days(pl, rows.lazy(), plan),
            _interactions(pl, frames, plan),
            _complaints(pl, frames, plan),
        ]
    )
    out = codes
    for part in parts:
        coded = part.join(codes, on="client_id").drop("client_id").sort("_code")
        out = out.join(coded, on="_code", how="left", maintain_order="left")
    return out.drop("_code")


def _model_order(pl: Any, moment: str, record_id: str) -> tuple[Any, Any]:
    """Sort keys putting records in the model's total order: moment, then id.

    No engine keeps row order, so every frame is sorted explicitly; polars then
    keeps the row order within each group of a ``group_by``, so each client's
    lists come out in the model's order without sorting by client (a sort on
    the string ids is the slow part; the ids' ranks sort as the ids do).
    """
    return pl.col(moment), pl.col(record_id).rank("ordinal")


def _sale_rows(pl: Any, frames: Frames, plan: _Plan) -> Any:
    """The sales by ``as_of``, in the model's order inside each client."""
    value, scale, odd = _money(pl, "amount")
    cost, cost_scale, cost_odd = _money(pl, "cost")
    return (
        frames.orders.lazy()
        .filter(plan.sales)
        .select(
            "client_id",
            "order_id",
            "placed_at",
            "currency",
            "status",
            "discounted",
            plan.day(pl.col("placed_at")).alias("day"),
            plan.reg_sales.alias("in_reg"),
            plan.mot_sales.alias("in_mot"),
            value.alias("value"),
            scale.alias("scale"),
            cost.alias("cost_value"),
            cost_scale.alias("cost_scale"),
            (odd | cost_odd).alias("odd"),
            pl.col("cost").is_not_null().alias("has_cost"),
        )
        .sort(*_model_order(pl, "placed_at", "order_id"))
    )


def _sales(pl: Any, rows: Any, plan: _Plan) -> Any:
    """Per client: the sales' ids (all, in the windows, with a cost), currencies, sums.

    A list equal to another for every client (no window) is not collected twice.
    """
    in_mot = pl.col("in_mot")
    has_cost = pl.col("has_cost")
    oid = pl.col("order_id")
    aggs = [
        oid.alias("sale_ids"),
        # the motivation segmentation's order signals, compiled from their declaration
        *plan.motivation.aggregations("orders", as_of=plan.as_of, prefix="m_"),
        oid.filter(has_cost).alias("costed_order_ids"),
        pl.col("currency").min().alias("currency_lo"),
        pl.col("currency").max().alias("currency_hi"),
        pl.col("odd").any().alias("odd"),
        *_sum_aggs(pl, plan, "revenue", "value", "scale", pl.lit(True)),
        *_sum_aggs(pl, plan, "cogs", "cost_value", "cost_scale", has_cost),
    ]
    if plan.reg_window:
        aggs.append(oid.filter(pl.col("in_reg")).alias("reg_ids"))
    if plan.mot_window:
        aggs += _sum_aggs(pl, plan, "mot_value", "value", "scale", in_mot)
    return rows.group_by("client_id").agg(aggs)


def _days(pl: Any, rows: Any, plan: _Plan) -> Any:
    """Per client: the purchase days and each day's exact sum, oldest first, and the
    days with a sale in each window (the distinct days the regularity rules count)."""
    aggs = [
        pl.col("day").alias("days"),
        pl.col("day_sum").alias("day_sums"),
        pl.col("day_places").alias("day_places"),
    ]
    if plan.reg_window:
        aggs.append(pl.col("day").filter(pl.col("in_reg")).alias("reg_days"))
    if plan.mot_window:
        aggs.append(pl.col("day").filter(pl.col("in_mot")).alias("mot_days"))
    return (
        rows.group_by("client_id", "day")
        .agg(
            *_sum_aggs(pl, plan, "day", "value", "scale", pl.lit(True)),
            pl.col("in_reg").any(),
            pl.col("in_mot").any(),
        )
        .sort("day")
        .group_by("client_id")
        .agg(aggs)
    )


def _interactions(pl: Any, frames: Frames, plan: _Plan) -> Any:
    """Per client: the report's counts, the motivation's ids and the costed minutes."""
    contact = CONTACT.to_polars()
    request = REQUEST.to_polars()
    minutes = pl.col("minutes").is_not_null()
    rate = _rate_index(pl, frames, plan)
    priced = plan.policies.cost_rates.marketing_per_touch is not None
    marketing = MARKETING_TOUCH.to_polars()
    touch = marketing & pl.lit(priced)
    rows = (
        frames.interactions.lazy()
        .filter(known_at("interactions", plan.as_of))
        .select(
            "client_id",
            "interaction_id",
            "at",
            "purpose",
            "direction",
            "minutes",
            "handled_by",
            contact.alias("contact"),
            request.alias("request"),
            rate.alias("rate"),
            (minutes & rate.is_not_null()).alias("timed"),
            (minutes & rate.is_null()).alias("untimed"),
            touch.alias("touch"),
            (marketing & pl.lit(not priced)).alias("unpriced"),
        )
        .sort(*_model_order(pl, "at", "interaction_id"))
    )
    iid = pl.col("interaction_id")
    timed = pl.col("timed")
    return rows.group_by("client_id").agg(
        pl.col("contact").sum().alias("contacts"),
        pl.col("request").sum().alias("requests"),
        # the motivation segmentation's contact signals, compiled from their declaration
        *plan.motivation.aggregations("interactions", as_of=plan.as_of, prefix="m_"),
        pl.col("minutes").filter(timed).alias("minutes"),
        pl.col("rate").filter(timed).alias("rates"),
        iid.filter(timed | pl.col("touch")).alias("costed_interaction_ids"),
        iid.filter(pl.col("untimed")).alias("uncosted_interaction_ids"),
        pl.col("handled_by").fill_null("").filter(pl.col("untimed")).alias("unrated"),
        iid.filter(pl.col("unpriced")).alias("unpriced_touch_ids"),
        pl.col("touch").sum().alias("touches"),
    )


def _rate_index(pl: Any, frames: Frames, plan: _Plan) -> Any:
    """Per interaction, the index in ``plan.rates`` of the hourly rate that applies, or null.

    The rate of each distinct ``handled_by`` comes from :meth:`CostRates.rate_for
    <relcycle.segmentation.cost.CostRates.rate_for>`, the object path's lookup.
    """
    rates = plan.policies.cost_rates
    found = plan.rates

    def index(employee: str | None) -> int | None:
        rate = rates.rate_for(employee)
        if rate is None:
            return None
        found.append(rate)
        return len(found) - 1

    nobody = index(None)
    names = frames.interactions.get_column("handled_by").unique().drop_nulls().to_list()
    keys: list[str] = []
    values: list[int | None] = []
    for name in names:
        keys.append(name)
        values.append(index(name))
    unnamed = pl.lit(nobody, dtype=pl.Int32)
    if not keys:
        return unnamed
    named = pl.col("handled_by").replace_strict(
        keys, pl.Series(values, dtype=pl.Int32), default=None, return_dtype=pl.Int32
    )
    return pl.when(pl.col("handled_by").is_null()).then(unnamed).otherwise(named)


def _complaints(pl: Any, frames: Frames, plan: _Plan) -> Any:
    """Per client: complaints open at ``as_of`` and those opened in the motivation window."""
    return (
        frames.complaints.lazy()
        .filter(known_at("complaints", plan.as_of))
        .select(
            "client_id",
            "complaint_id",
            "opened_at",
            "resolved_at",
            "status",
        )
        .sort(*_model_order(pl, "opened_at", "complaint_id"))
        .group_by("client_id")
        .agg(
            OPEN_COMPLAINT.to_polars(as_of=plan.as_of).sum().alias("complaints_open"),
            *plan.motivation.aggregations("complaints", as_of=plan.as_of, prefix="m_"),
        )
    )


# ---------------------------------------------------------------------- decisions


#: Motivation signal key -> column of the per-client table (compiled with prefix m_).
_MOTIVATION_COLUMNS: Mapping[str, str] = {key: f"m_{key}" for key in _motivation.SIGNAL_KEYS}


def _decide(pl: Any, frames: Frames, table: Any, plan: _Plan) -> Iterator[_Row]:
    """Run the decision functions per client on the per-client table, in its order.

    The table's lists become Python lists a chunk of clients at a time, so the
    memory held stays bounded by the chunk, not by the portfolio.
    """
    from ._tables import clients_by_id

    flagged = pl.any_horizontal(
        pl.col(c).fill_null(False) for c in ("odd", "revenue_risky", "cogs_risky")
    )
    slow_ids = table.filter(flagged).get_column("client_id").to_list()
    exact = _object_signals(pl, frames, set(slow_ids), plan)
    policies = plan.policies
    as_of = plan.as_of
    reg_policy = policies.regularity
    mot_policy = plan.mot_policy
    mot_reg_policy = plan.mot_regularity
    same_regularity = mot_reg_policy == reg_policy
    rates = policies.cost_rates
    per_touch = rates.marketing_per_touch
    rate_values = plan.rates
    clients = clients_by_id(frames) if mot_policy.attribute_rules else {}
    regularity_from_days = _regularity.regularity_from_days
    empty: list[Any] = []
    # Sums repeat across clients (no cost: 0; one sale of a common price): the
    # first distinct (text, places) pairs become a Decimal once (bounded memory).
    decimals: dict[tuple[str | None, int | None], Decimal] = {}

    def exact_(text: str | None, places: int | None) -> Decimal:
        key = (text, places)
        found = decimals.get(key)
        if found is None:
            found = _exact(text, places)
            if len(decimals) < _DECIMALS_KEPT:
                decimals[key] = found
        return found

    for start in range(0, table.height, _CHUNK):
        part = table.slice(start, _CHUNK)

        def column(name: str, instead: str | None = None, part: Any = part) -> list[Any]:
            if name not in part.columns:
                assert instead is not None  # a list not collected: equal to ``instead``
                name = instead
            values: list[Any] = part.get_column(name).to_list()
            return values

        ids = column("client_id")
        c_contacts, c_requests, c_open = (
            column("contacts"),
            column("requests"),
            column("complaints_open"),
        )
        c_sales, c_days, c_day_sums, c_day_places = (
            column("sale_ids"),
            column("days"),
            column("day_sums"),
            column("day_places"),
        )
        c_reg_ids, c_reg_days = column("reg_ids", "sale_ids"), column("reg_days", "days")
        c_mot_ids, c_mot_days = column("m_sales"), column("mot_days", "days")
        c_mot_sum = column("mot_value_sum", "revenue_sum")
        c_mot_places = column("mot_value_places", "revenue_places")
        c_revenue, c_revenue_places = column("revenue_sum"), column("revenue_places")
        c_cogs, c_cogs_places = column("cogs_sum"), column("cogs_places")
        c_lo, c_hi = column("currency_lo"), column("currency_hi")
        c_costed_orders = column("costed_order_ids")
        c_costed_touches = column("costed_interaction_ids")
        c_uncosted_touches = column("uncosted_interaction_ids")
        c_minutes, c_rates, c_touches = column("minutes"), column("rates"), column("touches")
        c_unrated, c_unpriced = column("unrated"), column("unpriced_touch_ids")
        motivation_ids = [(key, column(name)) for key, name in _MOTIVATION_COLUMNS.items()]

        def rest(
            i: int,
            cid: str,
            sale_ids: list[str],
            currency: str | None,
            as_of_day: date | None,
            c_reg_ids: list[Any] = c_reg_ids,
            c_reg_days: list[Any] = c_reg_days,
            c_mot_ids: list[Any] = c_mot_ids,
            c_mot_days: list[Any] = c_mot_days,
            c_mot_sum: list[Any] = c_mot_sum,
            c_mot_places: list[Any] = c_mot_places,
            c_days: list[Any] = c_days,
            c_day_sums: list[Any] = c_day_sums,
            c_day_places: list[Any] = c_day_places,
            motivation_ids: list[tuple[str, list[Any]]] = motivation_ids,
        ) -> _Rest:
            reg_days: list[date] = c_reg_days[i] or empty
            reg = regularity_from_days(
                cid,
                tuple(reg_days),
                c_reg_ids[i] or empty,
                as_of_day=as_of_day if reg_days else None,
                policy=reg_policy,
            )
            if same_regularity:
                mot_reg = reg
            else:
                mot_days: list[date] = c_mot_days[i] or empty
                mot_reg = regularity_from_days(
                    cid,
                    tuple(mot_days),
                    c_mot_ids[i] or empty,
                    as_of_day=as_of_day if mot_days else None,
                    policy=mot_reg_policy,
                )
            signals = _motivation.motivation_signals(
                {key: values[i] or empty for key, values in motivation_ids},
                sales_value=exact_(c_mot_sum[i], c_mot_places[i]),
                regularity=mot_reg,
            )
            mot = _motivation.motivation_from_signals(
                cid, signals, as_of=as_of, policy=mot_policy, client=clients.get(cid)
            )
            figures: _rfm.RFMFigures | None = None
            if sale_ids:
                assert as_of_day is not None
                assert currency is not None
                figures = _rfm.rfm_from_days(
                    cid,
                    c_days[i],
                    [exact_(t, k) for t, k in zip(c_day_sums[i], c_day_places[i], strict=True)],
                    as_of_day=as_of_day,
                    currency=currency,
                    order_ids=tuple(sale_ids),
                )
            return reg, mot, figures

        for i in range(part.height):
            cid: str = ids[i]
            contacts = c_contacts[i] or 0
            requests = c_requests[i] or 0
            complaints_open = c_open[i] or 0
            found = exact.get(cid)
            if found is not None:
                yield _Row(
                    cid,
                    found[2],
                    (found[5], contacts, requests, complaints_open, found[4]),
                    partial(_known, found[0], found[1], found[3]),
                )
                continue
            sale_ids: list[str] = c_sales[i] or empty
            as_of_day = plan.day_of_as_of() if sale_ids else None
            currency: str | None = c_lo[i]
            if currency != c_hi[i]:  # as rfm_figures refuses them (before cost-to-serve)
                raise CurrencyMismatchError(
                    currencies=_currencies(pl, frames, cid, plan),
                    context=f"the RFM figures of client {cid!r}",
                )
            revenue = exact_(c_revenue[i], c_revenue_places[i])
            time_cost = Decimal(0)
            minutes: list[str] = c_minutes[i] or empty
            if minutes:
                for text, k in zip(minutes, c_rates[i], strict=True):
                    time_cost += _cost.minutes_cost(Decimal(text), rate_values[k])
            marketing = Decimal(0)
            touches: int = c_touches[i] or 0
            if touches:
                assert per_touch is not None
                for _ in range(touches):
                    marketing += per_touch
            costed_orders: list[str] = c_costed_orders[i] or empty
            costed = costed_orders + (c_costed_touches[i] or empty)
            uncosted: list[str] = empty
            untimed: list[str] = c_uncosted_touches[i] or empty
            unpriced: list[str] = c_unpriced[i] or empty
            if costed or untimed or unpriced:  # without cost data nothing is uncosted
                with_cost = set(costed_orders)
                uncosted = [o for o in sale_ids if o not in with_cost]
                uncosted += untimed
            cost = _cost.cost_from_figures(
                cid,
                currency=_cost.cost_currency(cid, () if currency is None else (currency,), rates),
                revenue=revenue,
                cost_of_goods=exact_(c_cogs[i], c_cogs_places[i]),
                time_cost=time_cost,
                marketing_cost=marketing,
                priced_touches=touches,
                sale_ids=sale_ids,
                costed_ids=costed,
                uncosted_ids=uncosted,
                unrated_employees=c_unrated[i] or empty,
                unpriced_touch_ids=unpriced,
            )
            yield _Row(
                cid,
                cost,
                (len(sale_ids), contacts, requests, complaints_open, revenue),
                partial(rest, i, cid, sale_ids, currency, as_of_day),
            )


def _currencies(pl: Any, frames: Frames, client_id: str, plan: _Plan) -> list[str]:
    """The currencies of a client's sales by ``as_of`` (for the error naming them)."""
    found: list[str] = (
        frames.orders.filter((pl.col("client_id") == client_id) & plan.sales)
        .get_column("currency")
        .unique()
        .to_list()
    )
    return found


_Exact = tuple[
    _regularity.RegularityAssessment,
    _motivation.MotivationAssessment,
    _cost.CostToServe,
    "_rfm.RFMFigures | None",
    Decimal,
    int,
]


def _object_signals(pl: Any, frames: Frames, ids: set[str], plan: _Plan) -> dict[str, _Exact]:
    """The signals of ``ids`` by the object path, from their records rebuilt as objects.

    For the clients whose money the polars sums cannot give exactly as the
    model's decimal arithmetic does (see the module docs).
    """
    if not ids:
        return {}
    from relcycle.report import exact_sum

    from ._tables import histories

    subset = frames.only(pl.col("client_id").is_in(sorted(ids)))
    as_of, tz, policies = plan.as_of, plan.tz, plan.policies
    out: dict[str, _Exact] = {}
    for history in histories(subset):
        cut = history.as_of(as_of)
        mot = _motivation.classify_motivation(cut, as_of=as_of, policy=policies.motivation, tz=tz)
        reg = _regularity.assess_regularity(cut, as_of=as_of, policy=policies.regularity, tz=tz)
        figures = _rfm.rfm_figures(cut, as_of=as_of, tz=tz)
        cost = _cost.cost_to_serve(cut, as_of=as_of, rates=policies.cost_rates)
        sold = sales(cut, as_of)
        revenue = exact_sum(o.amount for o in sold)
        out[history.client_id] = (reg, mot, cost, figures, revenue, len(sold))
    return out
