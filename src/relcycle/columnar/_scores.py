"""RFM scores and segments over a columnar RFM summary (portfolio-wide quantiles).

Private; see :func:`relcycle.columnar.rfm_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from relcycle.columnar._source import import_polars
from relcycle.errors import CurrencyMismatchError, RecordTypeError, UsageError

if TYPE_CHECKING:
    from relcycle.segmentation.rfm import RFMSegmentRule

__all__ = ["rfm_scores"]


def _frame(pl: Any, summary: object) -> Any:
    if isinstance(summary, pl.DataFrame):
        return summary
    if isinstance(summary, pl.LazyFrame):
        return summary.collect()
    if hasattr(summary, "__arrow_c_stream__"):
        return pl.DataFrame(summary)
    raise RecordTypeError(
        record="summary",
        field="summary",
        value=summary,
        expected="the table rfm_summary returns (or any Arrow table with its columns)",
    )


def rfm_scores(
    summary: object,
    *,
    segments: Sequence[RFMSegmentRule] | None = None,
    bins: int = 5,
) -> Any:
    """Score every client of an RFM summary 1..``bins`` and name its segment.

    :func:`relcycle.segmentation.rfm.rfm_scores` over a table: the same
    declarations (:data:`~relcycle.segmentation.rfm.RFM_SCORES` and the segment
    rules), compiled to polars. A client's score on a measure is
    ``1 + floor(bins * w / n)``, ``n`` the number of clients and ``w`` the number
    of clients strictly worse on it (ties share a score); r measures days since
    the last purchase day (fewer is better), f the purchase days, m the total
    value. The segment is the first rule of ``segments`` whose ranges hold the
    three scores, else ``"Others"``.

    Args:
        summary: What :func:`rfm_summary` returns (a pyarrow Table; a polars
            frame or any Arrow table with its columns will do).
        segments: The rule table, evaluated in order (default:
            :data:`~relcycle.segmentation.rfm.DEFAULT_RFM_SEGMENTS`).
        bins: The number of score bins (5 = quintiles).

    Returns:
        A pyarrow Table ``client_id, r, f, m, segment`` in the summary's row order.

    Raises:
        CurrencyMismatchError: If the summary holds two currencies.
        UsageError: If ``bins`` is not a positive int or a column is missing.
    """
    from relcycle.segmentation.rfm import (
        DEFAULT_RFM_SEGMENTS,
        MEASURE_INPUTS,
        RFM_SCORES,
        segment_to_polars,
    )

    pl = import_polars()
    if type(bins) is not int or bins < 1:
        raise UsageError(f"rfm_scores: bins must be a positive int, got {bins!r}")
    frame = _frame(pl, summary)
    missing = [c for c in ("client_id", *MEASURE_INPUTS, "currency") if c not in frame.columns]
    if missing:
        raise UsageError(f"rfm_scores: the summary lacks the columns {', '.join(missing)}")
    currencies = set(frame["currency"].unique().drop_nulls().to_list())
    if len(currencies) > 1:
        raise CurrencyMismatchError(currencies=currencies, context="RFM monetary scores")
    rules = tuple(DEFAULT_RFM_SEGMENTS if segments is None else segments)
    # the measures' declarations, over the summary's columns
    inputs = {name: pl.col(name) for name in MEASURE_INPUTS}
    scored = frame.select(
        pl.col("client_id"),
        *(
            rule.to_polars(rule.figure.to_polars(inputs), bins).alias(name)
            for name, rule in zip("rfm", RFM_SCORES, strict=True)
        ),
    )
    segment = segment_to_polars(rules, pl.col("r"), pl.col("f"), pl.col("m"))
    return scored.with_columns(segment.cast(pl.String).alias("segment")).to_arrow()
