"""The columnar path: per-client figures over Arrow tables, for millions of orders.

Needs the ``arrow`` extra (pyarrow and polars), imported only when a function
here runs. Inputs are paths to CSV/Parquet files (scanned in batches, so memory
stays bounded by the number of clients, not of orders) or any object exposing
``__arrow_c_stream__``; results are pyarrow Tables (or polars DataFrames with
the ``*_frame`` variants). Each function computes exactly what its object-path
twin computes; the tests hold the two paths equal.
"""

from __future__ import annotations

from relcycle.columnar._report import build_report
from relcycle.columnar._rfm import RFM_COLUMNS, mean_repeat_value, rfm_frame, rfm_summary
from relcycle.columnar._scores import rfm_scores
from relcycle.columnar._tables import (
    Frames,
    frames_from_tables,
    histories,
    read_tables,
    to_portfolio,
)

__all__ = [
    "RFM_COLUMNS",
    "Frames",
    "build_report",
    "frames_from_tables",
    "histories",
    "mean_repeat_value",
    "read_tables",
    "rfm_frame",
    "rfm_scores",
    "rfm_summary",
    "to_portfolio",
]
