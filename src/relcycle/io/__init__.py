"""Reading and writing client histories in the contract's formats.

A history is four tables (``clients``, ``orders``, ``interactions``,
``complaints``; only ``orders`` is required) that can come as a folder of CSV,
JSON Lines or Parquet files, an SQLite database, in-memory rows, or dataframes.
Every reader validates every cell and either returns a :class:`LoadResult` or
raises :class:`~relcycle.errors.InputError` listing every problem with its
file, line, column and value; nothing is half-loaded. With
``skip_bad_rows=True`` bad rows are left out and returned with their reasons.

Example:
    >>> from relcycle.io import load_history
    >>> result = load_history("data/")  # doctest: +SKIP
    >>> result.portfolio["007"].orders  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal, Protocol

from relcycle._args import checked
from relcycle.errors import InputError, Problem, UsageError
from relcycle.history import Portfolio
from relcycle.model import Client, Complaint, Interaction, Order

from ._load import (
    DEFAULT_MAX_PROBLEMS,
    ExtraColumns,
    HistoryTables,
    LoadResult,
    RejectedRow,
    Rename,
    TableCount,
    TableInput,
    dict_rows,
    fatal,
    load_tables,
)
from ._parse import ParseOptions
from ._schema import COLUMNS, TABLES

__all__ = [
    "COLUMNS",
    "DEFAULT_MAX_PROBLEMS",
    "FORMATS",
    "HistoryTables",
    "LoadResult",
    "ParseOptions",
    "RejectedRow",
    "Rename",
    "TableCount",
    "TablesLike",
    "as_tables",
    "load_arrow",
    "load_history",
    "load_records",
    "suggest_mapping",
    "table_files",
    "write_history",
    "write_rejects",
]

Format = Literal["csv", "jsonl", "parquet", "sqlite"]

#: The formats :func:`write_history` writes, and the file suffix of each.
FORMATS: Mapping[str, str] = {
    "csv": ".csv",
    "jsonl": ".jsonl",
    "parquet": ".parquet",
    "sqlite": ".db",
}

_SUFFIXES = (".csv", ".jsonl", ".parquet")


class TablesLike(Protocol):
    """Anything with the four tables as attributes (a simulated history, say)."""

    @property
    def clients(self) -> Iterable[Client] | None:
        """The clients table, or None when clients are inferred."""

    @property
    def orders(self) -> Iterable[Order]:
        """The orders."""

    @property
    def interactions(self) -> Iterable[Interaction]:
        """The interactions."""

    @property
    def complaints(self) -> Iterable[Complaint]:
        """The complaints."""


def _file_table(table: str, path: Path, parse: ParseOptions | None = None) -> TableInput:
    from ._csv import csv_table, jsonl_table

    parse = parse or ParseOptions()
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return csv_table(table, path, parse.delimiter, parse.encoding)
    if suffix == ".jsonl":
        return jsonl_table(table, path, parse.encoding)
    if suffix == ".parquet":
        from ._arrow import parquet_table

        return parquet_table(table, path, parse)
    raise UsageError(f"{path}: unknown file type {path.suffix!r} (use .csv, .jsonl or .parquet)")


#: Data files a folder may hold a table in that relcycle does not read, and what
#: to do instead (a file of one of these types named after a table is an error,
#: never left out in silence).
_UNREAD = {
    ".xlsx": "export the sheet as CSV (UTF-8)",
    ".xlsm": "export the sheet as CSV (UTF-8)",
    ".xls": "export the sheet as CSV (UTF-8)",
    ".ods": "export the sheet as CSV (UTF-8)",
    ".numbers": "export the sheet as CSV (UTF-8)",
    ".tsv": "name it .csv and read it with --delimiter tab",
    ".txt": "name it .csv, and give its --delimiter if it is not a comma",
    ".json": "write one JSON object per line and name it .jsonl",
    ".csv.gz": "decompress it",
    ".zip": "unpack it",
}


def table_files(folder: Path) -> dict[str, Path]:
    """The file of each contract table in ``folder``, by table name.

    A table is read from ``TABLE.csv``, ``TABLE.jsonl`` or ``TABLE.parquet``.

    Raises:
        UsageError: Two files for one table, or a table in a file type relcycle
            does not read (``orders.xlsx``: the message says what to do).
    """
    found: dict[str, Path] = {}
    for spec in TABLES:
        paths = [
            folder / f"{spec.name}{s}" for s in _SUFFIXES if (folder / f"{spec.name}{s}").is_file()
        ]
        if len(paths) > 1:
            raise UsageError(
                f"{folder}: more than one file for table {spec.name}: "
                f"{', '.join(p.name for p in paths)}; keep one"
            )
        for suffix, todo in _UNREAD.items():
            if (folder / f"{spec.name}{suffix}").is_file():
                raise UsageError(
                    f"{folder / (spec.name + suffix)}: relcycle reads the {spec.name} table "
                    f"from {spec.name}.csv, .jsonl or .parquet: {todo}, or move the file "
                    "out of the folder"
                )
        if paths:
            found[spec.name] = paths[0]
    return found


def _folder_tables(folder: Path, parse: ParseOptions | None = None) -> dict[str, TableInput]:
    found = table_files(folder)
    if "orders" not in found:
        raise InputError(
            [
                Problem(
                    folder.name or str(folder),
                    None,
                    None,
                    None,
                    "no orders table: the folder needs orders.csv, orders.jsonl or orders.parquet",
                )
            ]
        )
    inputs: dict[str, TableInput] = {}
    problems: list[Problem] = []
    from ._load import _Fatal

    for table, path in found.items():
        try:
            inputs[table] = _file_table(table, path, parse)
        except _Fatal as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return inputs


@checked
def load_history(
    source: str | os.PathLike[str],
    *,
    tz: str | tzinfo = "UTC",
    currency: str | None = None,
    skip_bad_rows: bool = False,
    extra_columns: ExtraColumns = "error",
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    rename: Rename | None = None,
    parse: ParseOptions | None = None,
) -> LoadResult:
    """Load a history from a folder of CSV/JSONL/Parquet files or an SQLite file.

    A folder holds ``orders`` (required) and optionally ``clients``,
    ``interactions`` and ``complaints``, each as ``NAME.csv``, ``NAME.jsonl`` or
    ``NAME.parquet``. A single CSV/JSONL/Parquet file is read as the orders table
    (a plain transaction log). An SQLite file is read in one read transaction, so
    a store being written meanwhile is seen as one consistent snapshot.

    Args:
        source: The folder or file.
        tz: The zone of datetimes written without an offset (IANA name or tzinfo).
            A local time that does not exist there (a daylight-saving gap) is an
            error; an ambiguous one (the repeated hour) is the earlier instant.
        currency: The currency of rows without a ``currency`` cell. None (the
            default) reads them as USD and says so in :attr:`LoadResult.warnings`.
        skip_bad_rows: Leave bad rows out (see :attr:`LoadResult.rejects`) instead
            of failing.
        extra_columns: What to do with unknown columns of orders, interactions and
            complaints: ``"error"`` (default) or ``"ignore"`` (listed in
            :attr:`LoadResult.ignored_columns`). Extra client columns are always
            kept as client attributes.
        max_problems: Stop collecting problems after this many.
        rename: The source's own headers of contract columns, per table:
            ``{"orders": {"client_id": "Customer ID", "amount": "Total"}}``; the
            table ``"*"`` maps the column in every table that has the header.
        parse: How dates and numbers are written when not in the contract's
            plain form (day-first dates, a date format, a decimal comma, float
            money): see :class:`ParseOptions`.

    Returns:
        The records, the portfolio, and what was left out.

    Raises:
        InputError: The data holds problems (every one is listed, up to the cap).
        UsageError: The source does not exist or is not a supported format, or an
            option is bad; reading Parquet without the ``arrow`` extra.
    """
    path = Path(source)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    options: dict[str, Any] = {
        "tz": tz,
        "currency": currency,
        "skip_bad_rows": skip_bad_rows,
        "extra_columns": extra_columns,
        "max_problems": max_problems,
        "rename": rename,
        "parse": parse,
    }
    from ._load import _Fatal
    from ._sqlite import connect_read, is_sqlite, sqlite_tables

    if path.is_dir():
        return load_tables(_folder_tables(path, parse), **options)
    if is_sqlite(path):
        import sqlite3

        try:
            conn = connect_read(path)
        except sqlite3.Error as exc:
            raise UsageError(f"{path}: cannot open the database: {exc}") from None
        try:
            conn.execute("BEGIN")
            try:
                inputs = sqlite_tables(conn, path.name)
            except _Fatal as exc:
                raise InputError(exc.problems) from None
            return load_tables(
                inputs,
                missing_orders=Problem(
                    path.name, None, None, None, "no orders table in the database"
                ),
                **options,
            )
        finally:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            conn.close()
    stem = path.name.split(".")[0].lower()
    if stem in {"clients", "interactions", "complaints"}:
        raise UsageError(
            f"{path}: a single file is read as the orders table; "
            "pass the folder holding all the tables instead"
        )
    try:
        inputs = {"orders": _file_table("orders", path, parse)}
    except _Fatal as exc:
        raise InputError(exc.problems) from None
    return load_tables(inputs, **options)


@checked
def load_records(
    orders: Iterable[Mapping[str, object]],
    *,
    interactions: Iterable[Mapping[str, object]] | None = None,
    complaints: Iterable[Mapping[str, object]] | None = None,
    clients: Iterable[Mapping[str, object]] | None = None,
    tz: str | tzinfo = "UTC",
    currency: str | None = None,
    skip_bad_rows: bool = False,
    extra_columns: ExtraColumns = "error",
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    rename: Rename | None = None,
    parse: ParseOptions | None = None,
) -> LoadResult:
    """Load a history from in-memory rows (mappings of column name to value).

    Values may be text (read exactly like CSV cells) or typed (``int``,
    :class:`~decimal.Decimal`, :class:`~datetime.datetime`, ``bool``); floats are
    refused for money. Problems name rows as ``orders[3]`` (0-based index).

    Args:
        orders: The orders rows (required, may be empty).
        interactions: The interactions rows, if any.
        complaints: The complaints rows, if any.
        clients: The clients rows; when None (or empty) clients are inferred.
        tz: See :func:`load_history`.
        currency: See :func:`load_history`.
        skip_bad_rows: See :func:`load_history`.
        extra_columns: See :func:`load_history`.
        max_problems: See :func:`load_history`.
        rename: See :func:`load_history`.
        parse: See :func:`load_history`.

    Raises:
        InputError: The rows hold problems.
        UsageError: An option is bad.
    """
    inputs = {"orders": dict_rows("orders", orders)}
    for name, rows in (
        ("clients", clients),
        ("interactions", interactions),
        ("complaints", complaints),
    ):
        if rows is not None:
            inputs[name] = dict_rows(name, rows)
    return load_tables(
        inputs,
        tz=tz,
        currency=currency,
        skip_bad_rows=skip_bad_rows,
        extra_columns=extra_columns,
        max_problems=max_problems,
        rename=rename,
        parse=parse,
    )


def load_arrow(
    orders: object,
    *,
    interactions: object | None = None,
    complaints: object | None = None,
    clients: object | None = None,
    tz: str | tzinfo = "UTC",
    currency: str | None = None,
    skip_bad_rows: bool = False,
    extra_columns: ExtraColumns = "error",
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    rename: Rename | None = None,
    parse: ParseOptions | None = None,
) -> LoadResult:
    """Load a history from dataframes, one per table (needs the ``arrow`` extra).

    Any object exposing the Arrow PyCapsule stream interface
    (``__arrow_c_stream__``: pyarrow tables, polars and pandas >= 2.2 frames, ...)
    is accepted: a pandas frame goes through pyarrow, a polars frame directly.
    Typed columns are read as their types (timestamps with a zone keep it,
    timestamps without one are read in ``tz``). A float money column is refused
    unless ``parse=ParseOptions(money_places=N)`` says how to round it: each value
    is rounded half-even to N decimal places (``12.345`` -> ``12.34`` with 2).
    Problems name the table and the 1-based row.

    Args:
        orders: The orders frame (required).
        interactions: The interactions frame, if any.
        complaints: The complaints frame, if any.
        clients: The clients frame; when None clients are inferred.
        tz: See :func:`load_history`.
        currency: See :func:`load_history`.
        skip_bad_rows: See :func:`load_history`.
        extra_columns: See :func:`load_history`.
        max_problems: See :func:`load_history`.
        rename: See :func:`load_history` (the frames' column names).
        parse: See :func:`load_history`.

    Raises:
        InputError: The data holds problems.
        UsageError: pyarrow is missing, or an argument is not a dataframe.
    """
    frames = {"orders": orders, "interactions": interactions, "complaints": complaints}
    frames["clients"] = clients
    return load_tables(
        _arrow_inputs({name: (frame, None, None, False) for name, frame in frames.items()}, parse),
        tz=tz,
        currency=currency,
        skip_bad_rows=skip_bad_rows,
        extra_columns=extra_columns,
        max_problems=max_problems,
        rename=rename,
        parse=parse,
    )


def _arrow_inputs(
    frames: Mapping[str, tuple[object | None, str | None, Any, bool]], parse: ParseOptions | None
) -> dict[str, TableInput]:
    """The tables of :func:`load_arrow`: by name, ``(frame, source, numbers, text)``.

    A None frame is left out; ``source``, ``numbers`` and ``text`` name the rows
    and read blank ones as :func:`relcycle.io._arrow.arrow_table` says (None,
    None, False: the table, its 1-based rows, every row read).

    Raises:
        InputError: A frame that cannot be read as its table (a float money column).
        UsageError: pyarrow is missing, or a frame is not a dataframe.
    """
    from ._arrow import arrow_table
    from ._load import _Fatal

    inputs = {}
    try:
        for name, (frame, source, numbers, text) in frames.items():
            if frame is not None:
                inputs[name] = arrow_table(
                    name, frame, parse, source=source, numbers=numbers, text=text
                )
    except _Fatal as exc:
        raise InputError(exc.problems) from None
    return inputs


def _headers(path: Path, parse: ParseOptions | None = None) -> dict[str, tuple[str, ...]]:
    """The headers of each table of a source (keys of the first rows of JSON Lines)."""
    from ._load import _Fatal
    from ._sqlite import connect_read, is_sqlite, sqlite_tables

    if path.is_dir():
        try:
            files = table_files(path)
        except UsageError:
            return {}  # the load itself says what is wrong with the folder
    elif is_sqlite(path):
        conn = connect_read(path)
        try:
            return {name: inp.columns or () for name, inp in sqlite_tables(conn, path.name).items()}
        finally:
            conn.close()
    else:
        files = {"orders": path}
    out: dict[str, tuple[str, ...]] = {}
    for table, file in files.items():
        try:
            inp = _file_table(table, file, parse)
        except _Fatal:
            continue
        if inp.columns is not None:
            out[table] = inp.columns
            continue
        keys: dict[str, None] = {}
        for number, item in enumerate(inp.rows()):
            if number >= 100:
                break
            if not isinstance(item, tuple) or not isinstance(item[2], Mapping):
                continue
            keys.update(dict.fromkeys(map(str, item[2])))
        out[table] = tuple(keys)
    return out


def suggest_mapping(
    source: str | os.PathLike[str],
    *,
    rename: Rename | None = None,
    parse: ParseOptions | None = None,
) -> dict[str, dict[str, str]]:
    """The column mapping a source seems to need: what ``relcycle check`` proposes.

    Reads the headers of each table of ``source`` (a folder, a file or an SQLite
    store) and matches the contract columns they lack with headers that are not
    contract columns: equal ignoring case, blanks and punctuation, or a common
    CRM name (``Customer ID`` -> ``client_id``, ``Order Date`` -> ``placed_at``,
    ``Total`` or ``Amount`` -> ``amount``).

    Args:
        source: The folder or file.
        rename: A mapping already given: the headers it reads and their columns
            are not proposed again.
        parse: How the source is written (a CSV file's ``delimiter``).

    Returns:
        ``{table: {contract column: header}}``, ready for ``rename=`` (empty when
        nothing matches).

    Raises:
        UsageError: The source does not exist.
    """
    from ._rename import check_rename, propose_mapping

    path = Path(source)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    given = check_rename(rename or {})
    headers: dict[str, tuple[str, ...]] = {}
    for table, names in _headers(path, parse).items():
        mapped = {
            column: header
            for column, header in {**given.get("*", {}), **given.get(table, {})}.items()
            if header in names  # a mapping naming a missing header is proposed anew
        }
        used = set(mapped.values())
        headers[table] = tuple(column for column in (*mapped, *(h for h in names if h not in used)))
    return propose_mapping(headers)


def as_tables(history: HistoryTables | Portfolio | LoadResult | TablesLike) -> HistoryTables:
    """The flat tables of a portfolio, a load result, or any object with the four tables."""
    if isinstance(history, HistoryTables):
        return history
    if isinstance(history, LoadResult):
        return history.tables
    if isinstance(history, Portfolio):
        return HistoryTables.from_portfolio(history)
    try:
        clients = history.clients
        return HistoryTables(
            clients=None if clients is None else tuple(clients),
            orders=tuple(history.orders),
            interactions=tuple(history.interactions),
            complaints=tuple(history.complaints),
        )
    except AttributeError:
        raise UsageError(
            f"cannot write {type(history).__name__}: give a Portfolio, a LoadResult or "
            "an object with clients, orders, interactions and complaints"
        ) from None


@checked
def write_history(
    history: HistoryTables | Portfolio | LoadResult | TablesLike,
    dest: str | os.PathLike[str],
    *,
    format: Format = "csv",
    overwrite: bool = False,
) -> list[Path]:
    """Write a history as contract tables; reading them back gives equal records.

    Args:
        history: A :class:`~relcycle.history.Portfolio`, a :class:`LoadResult`,
            :class:`HistoryTables`, or a simulated history.
        dest: A folder (``csv``, ``jsonl``, ``parquet``) or a database file (``sqlite``).
        format: ``csv`` (default), ``jsonl``, ``parquet`` (needs the ``arrow``
            extra) or ``sqlite`` (the embedded store's layout).
        overwrite: Replace existing files of the same names whatever they hold.
            Without it, files holding exactly what would be written are left as
            they are (writing the same history twice is harmless), and files with
            other content are an error. A database file is never overwritten:
            ingest into it with :func:`relcycle.store.ingest`.

    Returns:
        The files written.

    Raises:
        UsageError: For an unknown format, existing files with other content, or client attributes
            whose names clash with the contract's client columns.
    """
    tables = as_tables(history)
    path = Path(dest)
    if format == "csv":
        from ._write import write_csv

        return write_csv(tables, path, overwrite=overwrite)
    if format == "jsonl":
        from ._write import write_jsonl

        return write_jsonl(tables, path, overwrite=overwrite)
    if format == "parquet":
        from ._write import write_parquet

        return write_parquet(tables, path, overwrite=overwrite)
    if format == "sqlite":
        if path.exists():
            raise UsageError(f"{path} exists; use relcycle.store.ingest to add to a database")
        from relcycle.store import ingest

        ingest(tables, path)
        return [path]
    raise UsageError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")


@checked
def write_rejects(rejects: Iterable[RejectedRow], path: str | os.PathLike[str]) -> Path:
    """Write rejected rows as CSV: one line per problem, with the row as JSON.

    Columns: ``table, source, line, column, value, reason, row``. The file is
    written like a report (:func:`relcycle.render.atomic_write`); text that is not
    valid Unicode (a lone surrogate read from a JSON escape) is written as its
    ``\\uXXXX`` escape.

    Raises:
        UsageError: ``path`` is a folder or its folder does not exist.
        OutputError: The file cannot be written.
    """
    from relcycle._output import atomic_write

    atomic_write(path, _reject_lines(rejects), errors="backslashreplace")
    return Path(path)


def _reject_lines(rejects: Iterable[RejectedRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", "source", "line", "column", "value", "reason", "row"])
    for reject in rejects:
        row = json.dumps(dict(reject.row), ensure_ascii=False)
        for p in reject.problems:
            writer.writerow(
                [
                    reject.table,
                    p.source,
                    "" if p.line is None else p.line,
                    p.column or "",
                    "" if p.value is None else p.value,
                    p.reason,
                    row,
                ]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


_ = fatal  # re-exported for the format modules
