"""Turn what a caller gives (a path, an Arrow stream, a polars frame) into a polars LazyFrame.

Private: :mod:`relcycle.columnar` re-exports what users need. polars is imported
lazily by the callers of these helpers.
"""

from __future__ import annotations

import os
from datetime import UTC, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from relcycle._zones import resolve_zone
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


def zone_name(tz: tzinfo | str) -> tuple[str, tzinfo]:
    """Return an IANA (or ``Etc/GMT``) zone name polars accepts, and the tzinfo itself.

    Raises:
        UsageError: For an unknown name or a tzinfo without a name polars knows.
    """
    tz = resolve_zone(tz)
    if isinstance(tz, ZoneInfo):
        return tz.key, tz
    if tz is UTC:
        return "UTC", tz
    if isinstance(tz, timezone):
        offset = tz.utcoffset(None)
        if offset == timedelta(0):
            return "UTC", tz
        hours, rest = divmod(offset, timedelta(hours=1))
        if rest == timedelta(0) and -14 <= hours <= 12:
            # POSIX-style names: Etc/GMT-2 is two hours *ahead* of UTC.
            return f"Etc/GMT{-hours:+d}", tz
        raise UsageError(f"tz: a fixed offset of {offset} has no zone name; give an IANA name")
    if isinstance(tz, tzinfo):
        key = getattr(tz, "key", None) or getattr(tz, "zone", None)
        if isinstance(key, str):
            return zone_name(key)
        raise UsageError(f"tz: {tz!r} has no IANA name; give a ZoneInfo or an IANA name")
    raise RecordTypeError(record="tz", field="tz", value=tz, expected="a tzinfo or an IANA name")


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
