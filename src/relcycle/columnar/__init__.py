"""The columnar path: the report and per-client figures over Arrow tables.

Needs the ``arrow`` extra (pyarrow and polars), imported only when a function
here runs. Each function computes exactly what its object-path twin computes;
the tests hold the two paths equal.

- The full report: :func:`read_tables` reads the four tables into normalized
  polars :class:`Frames` (vectorized when the input is provably what
  :func:`relcycle.io.load_history` would load, through it otherwise), and
  :func:`build_report` returns the :class:`relcycle.report.Report` of
  :func:`relcycle.report.build_report`; :func:`client_signals` gives every
  client's regularity, motivation, cost-to-serve, RFM figures and counts.
- A machine over whole tables: :func:`machine_steps` folds a machine whose
  decider is data (:class:`relcycle.machine.LookupDecider`, or the general
  :class:`relcycle.machine.DeclaredDecider`) over every client at once and
  gives the steps :meth:`relcycle.machine.Machine.run` takes;
  :func:`steps_table` turns steps taken client by client into the same table,
  and :func:`steps_as_inputs` makes a steps table another machine's inputs.
- Declared decisions over whole tables: :func:`regularity_frame` decides
  every client's regularity (verdict, next expected order, overdue, evidence)
  and :func:`motivation_frame` its motivation segment, in polars queries
  compiled from the rules' one declaration
  (:func:`relcycle.segmentation.regularity.regularity_decision`,
  :func:`relcycle.segmentation.motivation.motivation_decision`).
- lifetimes' RFM figures for tens of millions of orders: :func:`rfm_summary`
  and :func:`rfm_frame` scan a CSV/Parquet file in batches (memory bounded by
  the number of clients, not of orders) or take any object exposing
  ``__arrow_c_stream__``; :func:`rfm_scores` adds the scores and segments.
"""

from __future__ import annotations

from relcycle.columnar._decide import (
    MOTIVATION_COLUMNS,
    REGULARITY_COLUMNS,
    motivation_frame,
    regularity_frame,
)
from relcycle.columnar._fold import (
    INPUT_COLUMNS,
    STEP_COLUMNS,
    machine_steps,
    steps_as_inputs,
    steps_table,
)
from relcycle.columnar._report import build_report
from relcycle.columnar._rfm import RFM_COLUMNS, mean_repeat_value, rfm_frame, rfm_summary
from relcycle.columnar._scores import rfm_scores
from relcycle.columnar._signals import ClientSignals, client_signals, iter_client_signals
from relcycle.columnar._tables import (
    Frames,
    frames_from_result,
    frames_from_tables,
    histories,
    read_tables,
    to_portfolio,
)

__all__ = [
    "INPUT_COLUMNS",
    "MOTIVATION_COLUMNS",
    "REGULARITY_COLUMNS",
    "RFM_COLUMNS",
    "STEP_COLUMNS",
    "ClientSignals",
    "Frames",
    "build_report",
    "client_signals",
    "frames_from_result",
    "frames_from_tables",
    "histories",
    "iter_client_signals",
    "machine_steps",
    "mean_repeat_value",
    "motivation_frame",
    "read_tables",
    "regularity_frame",
    "rfm_frame",
    "rfm_scores",
    "rfm_summary",
    "steps_as_inputs",
    "steps_table",
    "to_portfolio",
]
