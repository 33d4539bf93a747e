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
from relcycle.rules import SALE, Signal
from relcycle.segmentation import regularity as _regularity
from relcycle.segmentation._util import day_of

from ._source import day_of_instant, import_polars

if TYPE_CHECKING:
    import polars as pl
    from polars import DataFrame

    from ._tables import Frames

__all__ = ["REGULARITY_COLUMNS", "regularity_frame"]

#: The largest denominator of ``max_cv`` whose exact comparison fits polars'
#: Int128: ``(nQ - S²) b²`` with ``nQ - S² <= S³`` and S at most the days from
#: 1900 to 2199 (the records' years) stays below 2**127 for b up to 10**11.
_LARGEST_CV_DENOMINATOR = 10**11

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
    if policy.max_cv.as_integer_ratio()[1] > _LARGEST_CV_DENOMINATOR:
        raise UsageError(
            f"regularity_frame: max_cv {policy.max_cv} has more decimal places than the "
            "columnar path compares exactly (11); round it, or assess the clients with "
            "assess_regularity"
        )
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
    found = (
        decided.select(
            "client_id",
            pl.col("regularity").cast(verdicts),
            pl.col("days").list.len().fill_null(0).cast(pl.Int64).alias("purchase_days"),
            "days_since_last",
            "next_expected",
            "overdue",
            "evidence",
            pl.col("record_ids").fill_null(empty),
        )
        .sort("client_id")
        .collect()
    )
    return cast("DataFrame", found)
