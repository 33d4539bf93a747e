"""Scale-out on Dask: relcycle run per client partition of Dask DataFrames.

Needs the ``dask`` extra (``dask[dataframe,distributed]``, pyarrow, polars),
imported only when a function here runs. The orders are shuffled on
``client_id`` so that every partition holds whole clients; the kernel of
:func:`relcycle.columnar.rfm_summary` then runs on each partition independently
(no data moves after the shuffle), and the results form a Dask DataFrame with
one row per client. Because a client never spans two partitions, the figures
are exactly those of the single-process run.

:func:`build_report` does the same for the whole portfolio report: the four
tables are partitioned by the same hash of the client id, each partition's
histories are loaded and assessed on a worker (every per-client verdict), and
the portfolio-wide parts (ABC value classes, RFM quintile scores, the summary,
the report's currency) are computed once on the client from the partitions'
per-client figures. The result equals :func:`relcycle.report.build_report` on
the whole portfolio.

On a cluster, relcycle (with the ``arrow`` extra) must be installed on every
worker, in the same version as on the client: the kernel is shipped by
reference (module and function name), not by value. See the "scale" page.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

import attrs

from relcycle._decimal import in_own_context
from relcycle._zones import resolve_zone
from relcycle.columnar import rfm_frame
from relcycle.columnar._rfm import result_schema
from relcycle.columnar._source import check_as_of, import_polars
from relcycle.errors import InputError, Problem, RecordTypeError, UsageError
from relcycle.io._load import (
    DEFAULT_CURRENCY,
    DEFAULT_MAX_PROBLEMS,
    ExtraColumns,
    Rename,
    check_read_options,
    currency_warning,
    duplicate_id,
    in_load_order,
)
from relcycle.io._parse import BadCell, ParseOptions, names_id, parse_id
from relcycle.io._rename import check_rename, mapped_headers
from relcycle.io._schema import TABLES

__all__ = ["RFM_DECIMAL_SCALE", "build_report", "rfm_partition", "rfm_summary"]

_TABLES = ("orders", "interactions", "complaints", "clients")
_PART = "__relcycle_part"
_ROW = "__relcycle_row"
_ID = "__relcycle_id"

#: The scale of ``total_value`` and ``repeat_value`` in the Dask result: every
#: partition must return the same dtype, whatever scale its amounts were read at.
RFM_DECIMAL_SCALE = 9


def _import() -> tuple[Any, Any, Any]:
    try:
        dd = importlib.import_module("dask.dataframe")
        pd = importlib.import_module("pandas")
        pa = importlib.import_module("pyarrow")
    except ImportError:  # pragma: no cover - the extra is installed in the test env
        raise UsageError(
            "relcycle.dask needs dask, pandas and pyarrow: pip install 'relcycle[dask]'"
        ) from None
    return dd, pd, pa


def _schema(pa: Any) -> Any:
    """The Arrow schema of one partition's result."""
    return result_schema(pa, scale=RFM_DECIMAL_SCALE, large_strings=True)


def rfm_partition(
    part: Any, *, as_of: datetime, tz: tzinfo | str = "UTC", currency: str = "USD"
) -> Any:
    """The RFM figures of the clients of one pandas partition (all of their orders).

    This is the function :func:`rfm_summary` maps over the partitions; it is
    public so that other engines (a process pool, Ray, ...) can run it the same way.

    Args:
        part: A pandas DataFrame holding every order of its clients.
        as_of: The moment of observation (aware).
        tz: The time zone whose calendar days are the periods.
        currency: The currency of orders without a ``currency`` column.

    Returns:
        A pandas DataFrame with the columns of
        :func:`relcycle.columnar.rfm_summary` (Arrow-backed dtypes, decimals at
        scale :data:`RFM_DECIMAL_SCALE`), sorted by client id.

    Raises:
        InputError: Bad rows in the partition (see :func:`relcycle.columnar.rfm_summary`).
    """
    _, pd, pa = _import()
    schema = _schema(pa)
    if len(part) == 0:
        return schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    table = pa.Table.from_pandas(part, preserve_index=False)
    frame = rfm_frame(table, as_of=as_of, tz=tz, currency=currency, sort=True)
    return frame.to_arrow().cast(schema).to_pandas(types_mapper=pd.ArrowDtype)


def rfm_summary(
    orders: Any,
    *,
    as_of: datetime,
    tz: tzinfo | str = "UTC",
    currency: str = "USD",
    npartitions: int | None = None,
) -> Any:
    """lifetimes' RFM summary of every client, computed on a Dask cluster.

    Args:
        orders: A Dask DataFrame of orders with the data contract's columns
            (``client_id``, ``placed_at``, ``amount``; optional ``status`` and
            ``currency``); ``amount`` as text or decimal (Arrow-backed), never float.
        as_of: The moment of observation (aware).
        tz: The time zone whose calendar days are the periods.
        currency: The currency of orders without a ``currency`` column.
        npartitions: The number of client partitions after the shuffle (default:
            as many as ``orders`` has).

    Returns:
        A lazy Dask DataFrame with one row per client and the columns of
        :func:`relcycle.columnar.rfm_summary`; each partition is sorted by
        client id. Call ``.compute()`` for a pandas DataFrame.

    Raises:
        RecordTypeError: If ``orders`` is not a Dask DataFrame.
        UsageError: If ``tz`` is unknown.
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    dd, pd, pa = _import()
    check_as_of(as_of)
    resolve_zone(tz)
    import_polars()
    if not isinstance(orders, dd.DataFrame):
        raise RecordTypeError(
            record="orders", field="orders", value=orders, expected="a dask DataFrame"
        )
    by_client = orders.shuffle(on="client_id", npartitions=npartitions)
    meta = _schema(pa).empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    return by_client.map_partitions(
        rfm_partition, as_of=as_of, tz=tz, currency=currency, meta=meta, align_dataframes=False
    )


# --------------------------------------------------------------------------- the full report


def _source_column(
    table: str, columns: Sequence[str], rename: Mapping[str, Mapping[str, str]], column: str
) -> str | None:
    """The frame's column read as the contract's ``column`` (the loader's reading of
    the column mapping, :func:`~relcycle.io._rename.mapped_headers`), or None
    when the frame has none."""
    header = mapped_headers(table, columns, rename).get(column, column)
    return header if header in columns else None


def _with_part(frame: Any, buckets: int, column: str | None) -> Any:
    """Add the partition number of each row: a stable hash of its client id (in
    ``column``; without one, every row goes to the first partition, whose load
    then says the column is missing)."""
    pd = importlib.import_module("pandas")
    if column is None:
        return frame.assign(**{_PART: 0})
    ids = frame[column].astype(object).where(frame[column].notna(), "")
    keys = pd.util.hash_array(ids.astype(str).to_numpy(dtype=object)) % buckets
    return frame.assign(**{_PART: keys.astype("int64")})


def _numbered(frame: Any) -> Any:
    """``frame`` with each row's 1-based number in the whole frame (a scan over the
    partitions, in the same graph as the rest: the input is read once)."""
    return frame.assign(**{_ROW: frame.assign(**{_ROW: 1})[_ROW].cumsum()})


def _id_text(value: object) -> str | None:
    """A row's id as the loader reads it (:func:`~relcycle.io._parse.parse_id`), or
    None when the row has none (:func:`~relcycle.io._parse.names_id`: the loader
    generates one) or one the loader refuses (its own problem, not a duplicate)."""
    if not names_id(value):
        return None
    try:
        return parse_id(value)
    except BadCell:
        return None


def _id_rows(frame: Any, column: str) -> Any:
    """The rows of one partition that name an id: ``(id, row number)``."""
    pd = importlib.import_module("pandas")
    # a null is None, as the loader gets it from Arrow (pandas gives NA or NaN)
    cells = frame[column].astype(object).where(frame[column].notna(), None).tolist()
    ids = pd.Series([_id_text(v) for v in cells], dtype=object)
    rows = pd.DataFrame({_ID: ids, _ROW: frame[_ROW].to_numpy(dtype="int64")})
    return rows[rows[_ID].notna()]


def _repeated(rows: Any) -> Any:
    """The rows of ``rows`` (all of an id's rows in one partition) whose id repeats."""
    return rows[rows[_ID].duplicated(keep=False)]


def _refused(
    errors: Sequence[InputError],
    found: Mapping[str, tuple[str, list[Any]]],
    sources: Mapping[str, tuple[str, int]],
) -> InputError | None:
    """Every problem of the input, as one process's load names them, or None.

    ``errors`` are the partitions' load problems, ``found`` holds by table its
    id column (the frame's header) and the rows (``(id, row number)`` frames)
    whose id another row of the table has too, wherever their clients were put.
    A partition sees only the duplicates among its own clients: each duplicate
    id is named from ``found`` instead, every row of it (the first names the
    second, every later one the first).
    Problems are in the loader's order (table by table, row by row), each once,
    up to the loader's cap.
    """
    tables = {sources.get(t.name, (t.name, 0))[0]: t.name for t in TABLES}
    per_table: dict[str, list[Problem]] = {}
    duplicated: set[tuple[str, int, str]] = set()
    for spec in TABLES:
        if spec.name not in found:
            continue
        column, parts = found[spec.name]
        source, before = sources.get(spec.name, (spec.name, 0))
        rows: dict[str, list[int]] = {}
        for part in parts:
            for rid, row in zip(part[_ID].tolist(), part[_ROW].tolist(), strict=True):
                rows.setdefault(rid, []).append(int(row) + before)
        named = per_table.setdefault(spec.name, [])
        for rid, lines in rows.items():
            first, second, *rest = sorted(lines)
            named.append(duplicate_id(source, first, column, rid, source, second))
            named.extend(
                duplicate_id(source, line, column, rid, source, first) for line in (second, *rest)
            )
            duplicated.update((source, line, column) for line in lines)
    seen = {p for named in per_table.values() for p in named}
    for error in errors:
        for problem in error.problems:
            if problem.line is not None and (problem.source, problem.line, problem.column) in (
                duplicated
            ):
                continue  # named from every partition's rows above
            if problem not in seen:  # a table's problem (a missing column) in each partition
                seen.add(problem)
                per_table.setdefault(tables.get(problem.source, problem.source), []).append(problem)
    problems = in_load_order(per_table)
    if not problems:
        return None
    truncated = any(e.truncated for e in errors) or len(problems) > DEFAULT_MAX_PROBLEMS
    return InputError(problems[:DEFAULT_MAX_PROBLEMS], truncated=truncated)


def _load_partition(
    parts: dict[str, Any],
    *,
    tz: tzinfo | str,
    currency: str | None,
    sources: Mapping[str, tuple[str, int]],
    read: Mapping[str, Any],
) -> Any:
    """The load of one partition's rows (relcycle.io's Arrow loader, with the
    ``read`` options: ``rename``, ``parse`` and ``extra_columns``).

    The rows are taken in their input order, and problems name them by their
    place in the input (``sources``), not in the partition.
    """
    pa = importlib.import_module("pyarrow")
    from relcycle.io import _arrow_inputs
    from relcycle.io._load import load_tables

    tables: dict[str, tuple[object | None, str | None, Any, bool]] = {}
    for name, frame in parts.items():
        if frame is None:
            continue
        frame = frame.sort_values(_ROW, kind="stable")
        source, before = sources.get(name, (name, 0))
        numbers = (frame[_ROW].astype("int64") + before).tolist()
        table = pa.Table.from_pandas(frame.drop(columns=[_PART, _ROW]), preserve_index=False)
        # lines before the first row: a text file, whose rows of empty cells are blank
        tables[name] = (table, source, numbers, before > 0)
    parse = read.get("parse")
    return load_tables(_arrow_inputs(tables, parse), tz=tz, currency=currency, **read)


@in_own_context
def _report_partition(
    orders: Any,
    interactions: Any,
    complaints: Any,
    clients: Any,
    *,
    as_of: datetime,
    tz: tzinfo | str,
    currency: str | None,
    policies: Any,
    sources: Mapping[str, tuple[str, int]],
    read: Mapping[str, Any],
) -> tuple[list[Any], Any, set[str], int, InputError | None]:
    """Every per-client verdict of one partition of whole clients.

    The pass :func:`relcycle.report.assemble` makes over a portfolio, over this
    partition's clients: their report lines and what the portfolio-wide steps
    read of them (revenues, profits, the RFM measures the lines' figures give).

    Returns:
        The partition's report lines, what the pass gathered for the
        portfolio-wide steps, the currencies of its orders by ``as_of``, how
        many of its rows were read in the default currency, and the load's
        problems (None: none). A partition with bad rows returns its problems
        rather than raising them, so that the driver says every partition's
        (:func:`_refused`), as one process's load does.
    """
    from relcycle import report as _report

    parts = {
        "orders": orders,
        "interactions": interactions,
        "complaints": complaints,
        "clients": clients,
    }
    if all(frame is None or len(frame) == 0 for frame in parts.values()):
        return [], _report._Gathered(), set(), 0, None
    zone = resolve_zone(tz)
    try:
        loaded = _load_partition(parts, tz=zone, currency=currency, sources=sources, read=read)
    except InputError as exc:
        return [], None, set(), 0, exc
    portfolio = loaded.portfolio
    seen = _report._currencies(portfolio, as_of)
    lines: list[Any] = []
    gathered = _report._gather(
        ((history.as_of(as_of), None) for history in portfolio),
        len(portfolio),
        _report._Context(as_of, policies, zone),
        True,
        None,
        sink=lines.append,
    )
    return lines, gathered, seen, loaded.defaulted_currency, None


def build_report(
    orders: Any,
    *,
    as_of: datetime,
    interactions: Any | None = None,
    complaints: Any | None = None,
    clients: Any | None = None,
    currency: str | None = None,
    policies: Any | None = None,
    tz: tzinfo | str = "UTC",
    npartitions: int | None = None,
    sources: Mapping[str, tuple[str, int]] | None = None,
    rename: Rename | None = None,
    parse: ParseOptions | None = None,
    extra_columns: ExtraColumns = "error",
) -> Any:
    """The portfolio report of :func:`relcycle.report.build_report`, computed on Dask.

    Each table is a Dask DataFrame with the data contract's columns. The tables
    are shuffled by a hash of ``client_id`` into ``npartitions`` partitions
    (each holding whole clients, all four tables alike); each partition is
    loaded with :func:`relcycle.io.load_arrow` and assessed on a worker; the
    portfolio-wide steps run here, on the partitions' per-client results.

    Args:
        orders: The orders (a Dask DataFrame).
        as_of: The moment of the report (aware; required: there is no cheap
            "latest moment" of a distributed table).
        interactions: The interactions, or None.
        complaints: The complaints, or None.
        clients: The clients table, or None (clients are then inferred).
        currency: The report's currency; default: the one currency of the
            orders by ``as_of`` (USD when there are none).
        policies: A :class:`relcycle.report.ReportPolicies` (default: the
            documented defaults).
        tz: The time zone of calendar days and of naive times.
        npartitions: The number of client partitions (default: the orders').
        sources: How problems name each table's rows, by table: the name of its
            source and the lines before its first row. A row is named
            ``source:N``, N being its 1-based place in the table's frame plus
            those lines: ``{"orders": ("orders.csv", 1)}`` names a row of a CSV
            file with a header by its line (as the other engines do, for files
            without line breaks inside cells; read it with
            ``skip_blank_lines=False`` so that blank lines keep their numbers).
            A table with lines before its first row is a text file: a row whose
            cells are all empty is a blank line, skipped as io skips it.
            Default: the table's name and the row's 1-based place
            (``orders:2499``), as :func:`relcycle.io.load_arrow` names a frame's rows.
        rename: The frames' headers of contract columns, as for
            :func:`relcycle.io.load_arrow` (a CRM export's own column names).
        parse: How the cells are written (day-first dates, a date format, a
            decimal comma, float money's places, other spellings of fixed
            values), as for :func:`relcycle.io.load_arrow`.
        extra_columns: ``"ignore"`` to read a frame's columns that are not the
            contract's as if absent (default ``"error"``).

    Returns:
        A :class:`relcycle.report.Report` equal to the single-process one.

    Raises:
        CurrencyMismatchError: If the orders hold two currencies, or another
            currency than ``currency``.
        InputError: If a partition holds bad rows.
        RecordTypeError: If a table is not a Dask DataFrame.
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    dd, _, _ = _import()
    dask = importlib.import_module("dask")
    from relcycle import report as _report

    check_as_of(as_of)
    resolve_zone(tz)
    check_read_options(currency=currency, parse=parse, extra_columns=extra_columns)
    mapped = check_rename(rename) if rename else {}
    read = {"rename": mapped or None, "parse": parse, "extra_columns": extra_columns}
    policies = _report.ReportPolicies() if policies is None else policies
    frames = {
        "orders": orders,
        "interactions": interactions,
        "complaints": complaints,
        "clients": clients,
    }
    for name, frame in frames.items():
        if frame is not None and not isinstance(frame, dd.DataFrame):
            raise RecordTypeError(
                record=name, field=name, value=frame, expected="a dask DataFrame or None"
            )
    for name, named in (sources or {}).items():
        if (
            name not in frames
            or not isinstance(named, tuple)
            or len(named) != 2
            or not isinstance(named[0], str)
            or type(named[1]) is not int
            or named[1] < 0
        ):
            raise UsageError(
                f"sources: {name!r}: {named!r} is not (a source name, lines before the "
                f"first row >= 0) for one of the tables {', '.join(frames)}"
            )
    n = npartitions or orders.npartitions
    pd = importlib.import_module("pandas")
    id_meta = pd.DataFrame({_ID: pd.Series([], dtype=object), _ROW: pd.Series([], dtype="int64")})
    delayed: dict[str, list[Any]] = {}
    # A partition finds the duplicate ids of its own clients; the ids of
    # different clients are checked across partitions, shuffled by id.
    repeated: dict[str, tuple[str, list[Any]]] = {}
    for spec in TABLES:
        name, frame = spec.name, frames[spec.name]
        if frame is None:
            delayed[name] = [None] * n
            continue
        columns = [str(c) for c in frame.columns]
        frame = _numbered(frame)
        by = _source_column(name, columns, mapped, "client_id")
        keyed = frame.map_partitions(_with_part, n, by, meta=frame._meta.assign(**{_PART: 0}))
        delayed[name] = list(keyed.shuffle(on=_PART, npartitions=n).to_delayed())
        id_column = _source_column(name, columns, mapped, spec.id_column)
        if name != "clients" and id_column is not None:
            ids = frame.map_partitions(_id_rows, id_column, meta=id_meta)
            by_id = ids.shuffle(on=_ID, npartitions=n)
            checked = by_id.map_partitions(_repeated, meta=id_meta)
            repeated[name] = (id_column, list(checked.to_delayed()))
    task = dask.delayed(_report_partition, pure=True)
    parts, found = dask.compute(
        [
            task(
                delayed["orders"][i],
                delayed["interactions"][i],
                delayed["complaints"][i],
                delayed["clients"][i],
                as_of=as_of,
                tz=tz,
                currency=currency,
                policies=policies,
                sources=dict(sources or {}),
                read=read,
            )
            for i in range(n)
        ],
        repeated,
    )
    refused = _refused([p[4] for p in parts if p[4] is not None], found, sources or {})
    if refused is not None:
        raise refused
    code = _report.report_currency(set().union(*(p[2] for p in parts)), currency)
    defaulted = sum(p[3] for p in parts)
    # the portfolio-wide steps, the summary and the report: assemble's own
    zone = resolve_zone(tz)
    now = _report._finish(
        _report._Gathered.merged(p[1] for p in parts), _report._Context(as_of, policies, zone)
    )
    lines = sorted((line for p in parts for line in p[0]), key=lambda line: line.client_id)
    del parts
    tally = _report._Tally(policies)
    for line in lines:
        tally.add_line(line)
    report = _report._finished(
        now,
        tally,
        tuple(_report._client_report(line, now, code, None, None) for line in lines),
        total=len(lines),
        compare_to=None,
        currency=code,
        rejected_rows=None,
    )
    if not defaulted:
        return report
    # what loading assumed comes first, as relcycle report puts it
    return attrs.evolve(
        report, warnings=(currency_warning(defaulted, DEFAULT_CURRENCY), *report.warnings)
    )
