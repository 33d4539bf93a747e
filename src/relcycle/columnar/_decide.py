"""Declared decisions over whole tables: every client decided by one polars query.

:func:`regularity_frame` is the regularity rules of
:mod:`relcycle.segmentation.regularity` for every client at once. The rules are
not restated here: the decision :func:`~relcycle.segmentation.regularity.regularity_decision`
declares them once, and :meth:`relcycle.decisions.DecisionList.over` compiles
that declaration; this module only gathers its inputs (each client's distinct
purchase days) from the orders, as :class:`~relcycle.rules.Signal` ``days``
declares them.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, cast

from relcycle._args import checked
from relcycle._zones import resolve_zone
from relcycle.errors import UsageError
from relcycle.history import check_as_of
from relcycle.rules import ID_FIELD, MOMENT_FIELD, SALE, Signal
from relcycle.segmentation import motivation as _motivation
from relcycle.segmentation import regularity as _regularity
from relcycle.segmentation._util import day_of

from ._source import day_of_instant, import_polars

if TYPE_CHECKING:
    import polars as pl
    from polars import DataFrame

    from ._tables import Frames

__all__ = ["MOTIVATION_COLUMNS", "REGULARITY_COLUMNS", "motivation_frame", "regularity_frame"]

#: The largest denominator of ``max_cv`` whose exact comparison fits polars'
#: Int128: ``(nQ - S²) b²`` with ``nQ - S² <= S³`` and S at most the days from
#: 1900 to 2199 (the records' years) stays below 2**127 for b up to 10**11.
_LARGEST_CV_DENOMINATOR = 10**11

#: The largest numerator or denominator of a motivation threshold (its
#: comparisons multiply it with counts, sums and powers of ten in ``Int128``).
_LARGEST_TERM = 10**9

#: The columns of :func:`motivation_frame`, in order.
MOTIVATION_COLUMNS = ("client_id", "segment", "rule", "evidence", "record_ids")

#: The columns of :func:`regularity_frame`, in order.
REGULARITY_COLUMNS = (
    "client_id",
    "regularity",
    "purchase_days",
    "days_since_last",
    "next_expected",
    "overdue",
    "evidence",
    "record_ids",
)


@checked
def regularity_frame(
    frames: Frames,
    *,
    as_of: datetime,
    policy: _regularity.RegularityPolicy | None = None,
    tz: tzinfo | str = UTC,
) -> pl.DataFrame:
    """Every client's regularity as of a moment, decided over the tables at once.

    The verdicts, days and sentences of
    :func:`~relcycle.segmentation.regularity.assess_regularity` for each client,
    from one polars query: the same declaration
    (:func:`~relcycle.segmentation.regularity.regularity_decision`), compiled.

    Args:
        frames: The tables (:func:`relcycle.columnar.read_tables`).
        as_of: The moment (aware); later orders are left out.
        policy: The thresholds; ``RegularityPolicy()`` by default.
        tz: The time zone whose calendar days count (a tzinfo or an IANA name).

    Returns:
        A polars DataFrame with the columns :data:`REGULARITY_COLUMNS`, one row
        per row of ``frames.clients``, in client id order: ``regularity`` (a
        ``polars.Enum`` of the verdicts' values), the number of purchase days
        counted, the days since the last one, the day the next order is expected
        and whether it is overdue (regular buyers), the evidence sentence and
        the ids of the sales it counted (oldest first). The 34-digit mean gap and
        coefficient of variation of the assessment are not columns: the
        sentence prints them, exactly, to one and two places.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
        UsageError: If ``tz`` is an unknown zone name, or ``max_cv`` has more
            than 11 decimal places (its exact comparison would not fit polars'
            128-bit integers).
    """
    moment = check_as_of(as_of)
    pl = import_polars()
    zone = resolve_zone(tz)
    policy = _regularity.RegularityPolicy() if policy is None else policy
    _check_cv(policy, "regularity_frame")
    found = _regularity_of(pl, frames, moment, policy, zone).select(REGULARITY_COLUMNS).collect()
    return cast("DataFrame", found)


def _check_motivation(policy: _motivation.MotivationPolicy) -> None:
    """Refuse thresholds whose integers could pass the decision's 128 bits."""
    for name in (
        "lowest_price_min_discounted_share",
        "novelty_max_mean_order",
        "stability_max_contacts_per_order",
        "stability_max_complaints_per_order",
    ):
        value = getattr(policy, name)
        if value is not None and max(map(abs, value.as_integer_ratio())) > _LARGEST_TERM:
            raise UsageError(
                f"motivation_frame: {name} {value} has more digits than the columnar path "
                "compares exactly (9 significant); round it, or classify the clients with "
                "classify_motivation"
            )


def _check_cv(policy: _regularity.RegularityPolicy, caller: str) -> None:
    if policy.max_cv.as_integer_ratio()[1] > _LARGEST_CV_DENOMINATOR:
        raise UsageError(
            f"{caller}: max_cv {policy.max_cv} has more decimal places than the "
            "columnar path compares exactly (11); round it, or assess the clients one "
            "by one"
        )


def _regularity_of(
    pl: Any, frames: Frames, moment: datetime, policy: _regularity.RegularityPolicy, zone: tzinfo
) -> Any:
    """The regularity decision over every client (a LazyFrame of the columns
    :data:`REGULARITY_COLUMNS` and the decision's integers)."""
    counted = Signal.days(SALE, policy.window_days).to_polars(as_of=moment)
    day = day_of_instant(pl, zone)
    sales = (
        frames.orders.lazy()
        .filter(counted)
        .select("client_id", "order_id", "placed_at", day(pl.col("placed_at")).alias("day"))
        .sort("client_id", "placed_at", "order_id")
        .group_by("client_id", maintain_order=True)
        .agg(pl.col("order_id").alias("record_ids"), pl.col("day").unique().sort().alias("days"))
        .collect()
    )
    # The day of the moment is needed only with a sale (as on the object path:
    # a moment at the edge of datetime's range may have no day in the zone).
    as_of_day = day_of(moment, zone) if sales.height else None
    table = frames.clients.lazy().select("client_id").join(sales.lazy(), on="client_id", how="left")
    decided = _regularity.regularity_decision(policy).over(
        table, {"days": pl.col("days"), "as_of_day": pl.lit(as_of_day, dtype=pl.Date)}
    )
    verdicts = pl.Enum([r.value for r in _regularity.Regularity])
    empty: Any = pl.lit([], dtype=pl.List(pl.String))
    return decided.select(
        "client_id",
        pl.col("regularity").cast(verdicts),
        pl.col("days").list.len().fill_null(0).cast(pl.Int64).alias("purchase_days"),
        "days_since_last",
        "next_expected",
        "overdue",
        "evidence",
        pl.col("record_ids").fill_null(empty),
        "spread",
        "gap_sum",
    ).sort("client_id")


@checked
def motivation_frame(
    frames: Frames,
    *,
    as_of: datetime,
    policy: _motivation.MotivationPolicy | None = None,
    tz: tzinfo | str = UTC,
) -> pl.DataFrame:
    """Every client's motivation segment as of a moment, decided over the tables at once.

    The segments, rules and sentences of
    :func:`~relcycle.segmentation.motivation.classify_motivation` for each
    client, from polars queries: the window's signals as
    :func:`~relcycle.segmentation.motivation.motivation_signal_set` declares
    them, the exact sum of the window's sales, the window's demand by the
    regularity declaration, then the motivation declaration
    (:func:`~relcycle.segmentation.motivation.motivation_decision`), compiled.

    Args:
        frames: The tables (:func:`relcycle.columnar.read_tables`).
        as_of: The moment (aware); later records are left out.
        policy: The thresholds and attribute rules; ``MotivationPolicy()`` by default.
        tz: The time zone whose calendar days the demand's regularity counts.

    Returns:
        A polars DataFrame with the columns :data:`MOTIVATION_COLUMNS`, one row
        per row of ``frames.clients``, in client id order: the segment (a
        ``polars.Enum`` of the segments' values), the rule that matched, the
        evidence sentence and the ids of the records it cites. A client with
        an amount the columnar engine does not read as plain digits (an
        exponent, more than 15 integer digits or 12 places), or a sum near
        10**25, is classified by the object path (the same answer).

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
        UsageError: If ``tz`` is an unknown zone name, the regularity's
            ``max_cv`` has more than 11 decimal places, or a share, ratio or
            mean bound of the policy a numerator or denominator above 10**9
            (their exact comparisons would not fit polars' 128-bit integers).
    """
    moment = check_as_of(as_of)
    pl = import_polars()
    zone = resolve_zone(tz)
    policy = _motivation.MotivationPolicy() if policy is None else policy
    demand_policy = policy.windowed_regularity()
    _check_cv(demand_policy, "motivation_frame")
    _check_motivation(policy)
    signals = _motivation.motivation_signal_set(policy.window_days)
    table: Any = frames.clients.lazy().select("client_id")
    # the id lists the decision counts or cites (not the plain contacts: it reads neither)
    read = {key for key, _ in _motivation.DECISION_COUNTS}
    for name in ("orders", "interactions", "complaints"):
        aggs = [a for a in signals.aggregations(name, as_of=moment) if a.meta.output_name() in read]
        if aggs:
            per = (
                getattr(frames, name)
                .lazy()
                .sort(MOMENT_FIELD[name], ID_FIELD[name])
                .group_by("client_id", maintain_order=True)
                .agg(aggs)
            )
            table = table.join(per, on="client_id", how="left")
    table = table.join(_sales_value(pl, frames, signals, moment), on="client_id", how="left")
    demand = _regularity_of(pl, frames, moment, demand_policy, zone).select(
        "client_id", pl.col("regularity").cast(pl.String).alias("demand"), "spread", "gap_sum"
    )
    table = table.join(demand, on="client_id", how="left")
    rules = policy.attribute_rules
    if rules:
        from ._tables import clients_by_id

        clients = clients_by_id(frames)
        ids = list(clients)
        values = {
            f"attribute_{i}": [_motivation._attribute(rule, clients[cid]) for cid in ids]
            for i, rule in enumerate(rules)
        }
        attributes = pl.DataFrame(
            {"client_id": ids, **values},
            schema={"client_id": pl.String, **dict.fromkeys(values, pl.String)},
        )
        table = table.join(attributes.lazy(), on="client_id", how="left")
    # the counts the decision reads: the lengths of the signals' id lists
    count = {key: pl.col(key).list.len().fill_null(0) for key, _ in _motivation.DECISION_COUNTS}
    columns = {
        **count,
        "value_units": pl.col("value_units").fill_null(0),
        "value_places": pl.col("value_places").fill_null(0),
        "demand": pl.col("demand"),
        "spread": pl.col("spread"),
        "gap_sum": pl.col("gap_sum"),
        **{f"attribute_{i}": pl.col(f"attribute_{i}") for i in range(len(rules))},
    }
    decision = _motivation.motivation_decision(policy)
    decided = decision.over(table, columns)
    empty: Any = pl.lit([], dtype=pl.List(pl.String))
    cited: Any = empty
    for keys in sorted({case.then["keys"].value for case in decision.cases}):  # type: ignore[attr-defined]
        if keys:
            lists = [pl.col(k).fill_null(empty) for k in keys.split(",")]
            cited = pl.when(pl.col("keys") == keys).then(pl.concat_list(lists)).otherwise(cited)
    segments = pl.Enum([s.value for s in _motivation.MotivationSegment])
    found = (
        decided.select(
            "client_id",
            pl.col("segment").cast(segments),
            "rule",
            "evidence",
            cited.alias("record_ids"),
            pl.col("big").fill_null(False),
        )
        .sort("client_id")
        .collect()
    )
    big = found.filter(pl.col("big")).get_column("client_id").to_list()
    found = found.drop("big")
    if big:
        found = _by_objects(pl, frames, found, big, moment, policy, zone)
    return cast("DataFrame", found)


def _by_objects(
    pl: Any,
    frames: Frames,
    found: Any,
    ids: list[str],
    moment: datetime,
    policy: _motivation.MotivationPolicy,
    zone: tzinfo,
) -> Any:
    """``found`` with the rows of ``ids`` decided by the object path, from their
    records rebuilt as objects (sums too large for the decision's integers)."""
    from ._tables import histories

    keep = pl.col("client_id").is_in(ids)
    rows = []
    for history in histories(frames.only(keep)):
        a = _motivation.classify_motivation(history, as_of=moment, policy=policy, tz=zone)
        rows.append(
            (
                history.client_id,
                a.segment.value,
                a.rule,
                a.evidence.reason,
                list(a.evidence.record_ids),
            )
        )
    redone = pl.DataFrame(rows, schema=found.schema, orient="row")
    return pl.concat([found.filter(~keep), redone]).sort("client_id")


def _sales_value(pl: Any, frames: Frames, signals: Any, moment: datetime) -> Any:
    """Per client: the exact sum of the window's sales as ``value_units / 10**value_places``,
    and ``big``: whether the object path must decide the client.

    The amounts are read and added as the columnar engine's signals read them
    (``_money``: plain texts as 38-digit decimals at scale 12, exactly). The model
    adds them exactly from 0, so the sum has the most decimal places of its
    amounts (and 0 at least): its units are the scale-12 digits divided by
    ``10**(12 - places)``. A client with an amount in another form (an
    exponent, more digits) or whose sum, times the power of ten of its places,
    nears 10**25 (the decision multiplies it by a bound's denominator and by
    that power again, in ``Int128``) is ``big``.
    """
    from ._signals import _SCALE, _money

    value, scale, odd = _money(pl, "amount")
    where = signals.signals["sales_value"].to_polars(as_of=moment)
    summed = (
        frames.orders.lazy()
        .filter(where)
        .select("client_id", value.alias("value"), scale.alias("scale"), odd.alias("odd"))
        .group_by("client_id")
        .agg(
            pl.col("value").sum().alias("total"),
            pl.col("scale").max().clip(lower_bound=0).cast(pl.Int64).alias("value_places"),
            pl.col("odd").any().alias("odd"),
        )
    )
    digits = pl.col("total").cast(pl.String).str.replace(".", "", literal=True)
    ten = pl.lit(10, dtype=pl.Int128)
    units = digits.cast(pl.Int128) // ten.pow(_SCALE - pl.col("value_places"))
    power = pl.lit(10.0).pow(pl.col("value_places").cast(pl.Float64))
    approx = pl.col("total").cast(pl.Float64).abs()
    big = pl.col("odd") | (approx * power * power >= 1e25) | (approx * power >= 1e25)
    return summed.select("client_id", units.alias("value_units"), "value_places", big.alias("big"))
