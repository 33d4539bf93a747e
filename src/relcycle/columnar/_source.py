"""Turn what a caller gives (a path, an Arrow stream, a polars frame) into a polars LazyFrame.

Private: :mod:`relcycle.columnar` re-exports what users need. polars is imported
lazily by the callers of these helpers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relcycle.errors import RecordTypeError, UsageError
from relcycle.history import check_as_of as check_as_of

if TYPE_CHECKING:
    import polars as pl

__all__: list[str] = []

#: Row-number column added to file scans, for error messages (1-based data lines).
ROW = "__relcycle_row"


def import_polars() -> Any:
    """Import polars or explain which extra to install."""
    try:
        import polars
    except ImportError:  # pragma: no cover - the extra is installed in the test env
        raise UsageError(
            "the columnar path needs polars and pyarrow: pip install 'relcycle[arrow]'"
        ) from None
    return polars


def day_of_instant(pl: Any, tz: tzinfo) -> Callable[[Any], Any]:
    """The calendar day in ``tz`` of a UTC instant, as a function of polars expressions.

    The one polars form of :func:`relcycle.segmentation._util.day_of`
    (``moment.astimezone(tz).date()``), for every zone the object path takes: a
    fixed offset (any number of minutes) is added, a zone polars knows is
    converted to, and a zone it does not know is asked in Python, once per
    distinct instant.
    """
    if isinstance(tz, timezone):
        offset = tz.utcoffset(None)
        if not offset:
            return lambda e: e.dt.date()
        micros = offset // timedelta(microseconds=1)
        return lambda e: (e + pl.duration(microseconds=micros)).dt.date()
    name = _polars_name(pl, tz)
    if name is not None:
        return lambda e: e.dt.convert_time_zone(name).dt.date()

    def days(series: Any) -> Any:
        uniq = series.unique().drop_nulls()
        found = pl.Series([v.astimezone(tz).date() for v in uniq.to_list()], dtype=pl.Date)
        return series.replace_strict(uniq, found, default=None, return_dtype=pl.Date)

    return lambda e: e.map_batches(days, return_dtype=pl.Date)


def instant_of_wall_time(pl: Any, tz: tzinfo) -> Callable[[Any], Any]:
    """The UTC instant of a naive wall-clock time in ``tz``, as a function of polars
    expressions (a ``Datetime("us", "UTC")`` expression).

    It reads the time as the readers do (``wall.replace(tzinfo=tz)``, ``fold=0``):
    an ambiguous time is the earlier instant. A time skipped by a clock change has
    no instant: it is null, which the readers refuse (:func:`relcycle.io._parse.gap_reason`).
    Every zone the object path takes.
    """
    if isinstance(tz, timezone):
        offset = tz.utcoffset(None) or timedelta(0)
        micros = offset // timedelta(microseconds=1)
        return lambda e: (e - pl.duration(microseconds=micros)).dt.replace_time_zone("UTC")
    name = _polars_name(pl, tz)
    if name is not None:
        return lambda e: e.dt.replace_time_zone(
            name, ambiguous="earliest", non_existent="null"
        ).dt.convert_time_zone("UTC")

    from dateutil import tz as dtz

    def at(wall: datetime) -> datetime | None:
        aware = wall.replace(tzinfo=tz)
        return aware.astimezone(UTC) if dtz.datetime_exists(aware) else None

    def instants(series: Any) -> Any:
        uniq = series.unique().drop_nulls()
        found = pl.Series([at(v) for v in uniq.to_list()], dtype=pl.Datetime("us", "UTC"))
        return series.replace_strict(
            uniq, found, default=None, return_dtype=pl.Datetime("us", "UTC")
        )

    return lambda e: e.map_batches(instants, return_dtype=pl.Datetime("us", "UTC"))


def _polars_name(pl: Any, tz: tzinfo) -> str | None:
    """The zone's IANA name if polars knows it, else None."""
    if tz is UTC:
        return "UTC"
    name = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if not isinstance(name, str):
        return None
    try:
        pl.select(pl.lit(datetime(2000, 1, 1, tzinfo=UTC)).dt.convert_time_zone(name))
    except Exception:  # polars raises its own error types for unknown zones
        return None
    return name


def lazy_frame(source: object, *, columns: dict[str, Any]) -> tuple[pl.LazyFrame, str, bool]:
    """Open ``source`` as a LazyFrame (files are scanned, never read whole).

    Args:
        source: A path (``str``/``PathLike``) to a ``.csv``/``.csv.gz``/``.parquet``
            file, a polars DataFrame or LazyFrame, or any object exposing
            ``__arrow_c_stream__`` (a pyarrow Table or RecordBatchReader, a pandas
            DataFrame through pyarrow, ...).
        columns: polars dtypes to read CSV columns as (others stay strings).

    Returns:
        The frame, a name for messages (the file name or ``"orders"``), and True
        when rows are lines of a CSV file with a header (row ``i`` is line ``i + 2``).

    Raises:
        UsageError: For a missing file, an unknown file type or an object that is
            not tabular.
    """
    pl = import_polars()
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise UsageError(f"orders: no such file: {path}")
        name = path.name
        suffixes = [s.lower() for s in path.suffixes]
        if suffixes[-1:] == [".parquet"] or suffixes[-1:] == [".pq"]:
            return pl.scan_parquet(path), name, False
        if ".csv" in suffixes[-2:]:
            # Everything is read as text and parsed by the kernel. (Line numbers
            # for errors are added only when a bad row is diagnosed: a row index
            # slows the streaming scan down.)
            lf = pl.scan_csv(path, infer_schema=False, schema_overrides=columns)
            return lf, name, True
        raise UsageError(f"orders: {path}: give a .csv, .csv.gz or .parquet file")
    if isinstance(source, pl.LazyFrame):
        return source, "orders", False
    if isinstance(source, pl.DataFrame):
        return source.lazy(), "orders", False
    if hasattr(source, "__arrow_c_stream__"):
        # A stream can be consumed once only and errors are diagnosed by a second
        # pass, so the data is taken in (an Arrow table is in memory already).
        return pl.DataFrame(source).lazy(), "orders", False
    module = type(source).__module__.split(".")[0]
    if module == "pandas":
        raise UsageError(
            "orders: a pandas DataFrame needs pyarrow to export it "
            "(pandas >= 2.2 with pyarrow installed exposes __arrow_c_stream__)"
        )
    raise RecordTypeError(
        record="orders",
        field="orders",
        value=source,
        expected="a path to a CSV/Parquet file or an object exposing __arrow_c_stream__",
    )
