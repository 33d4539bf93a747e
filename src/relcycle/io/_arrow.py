"""Parquet files and Arrow-compatible dataframes (behind the ``arrow`` extra)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from relcycle.errors import Problem, UsageError

from ._load import Row, RowError, TableInput, blank_row, fatal
from ._parse import ParseOptions

__all__ = ["arrow_table", "parquet_table", "require_pyarrow"]


def require_pyarrow(what: str) -> Any:
    """Import pyarrow or raise a :class:`UsageError` naming the extra to install."""
    try:
        import pyarrow  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError(
            f"{what} needs pyarrow: install the arrow extra (pip install 'relcycle[arrow]')"
        ) from None
    return pyarrow


def _check_types(table: str, source: str, arrow: Any, parse: ParseOptions | None) -> None:
    import pyarrow.types as pt  # type: ignore[import-untyped]

    if parse is not None and parse.money_places is not None:
        return  # float money is rounded cell by cell
    money = {"amount", "cost", "client_loss"}
    for field in arrow.schema:
        if field.name in money and pt.is_floating(field.type):
            raise fatal(
                Problem(
                    source,
                    None,
                    field.name,
                    None,
                    f"the column is {field.type}: money must be exact; store it as a "
                    "string or decimal column, or round floats half-even to N places "
                    "with --money-places N (ParseOptions(money_places=N) in Python)",
                )
            )


def _from_arrow(
    table: str,
    source: str,
    arrow: Any,
    parse: ParseOptions | None = None,
    numbers: Sequence[int] | None = None,
    text: bool = False,
) -> TableInput:
    _check_types(table, source, arrow, parse)
    columns = tuple(str(name) for name in arrow.column_names)

    def rows() -> Iterator[Row | RowError]:
        number = 0
        for batch in arrow.to_batches(max_chunksize=65536):
            data = [col.to_pylist() for col in batch.columns]
            for values in zip(*data, strict=True):
                if not (text and blank_row(values)):
                    yield (source, number + 1 if numbers is None else numbers[number], values)
                number += 1

    return TableInput(table=table, source=source, columns=columns, header_line=None, rows=rows)


def parquet_table(table: str, path: Path, parse: ParseOptions | None = None) -> TableInput:
    """A table from a Parquet file; row numbers count from 1."""
    require_pyarrow("reading Parquet")
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    try:
        arrow = pq.read_table(path)
    except Exception as exc:  # pyarrow raises many kinds for a bad file
        raise fatal(
            Problem(path.name, None, None, None, f"not a readable Parquet file: {exc}")
        ) from None
    return _from_arrow(table, path.name, arrow, parse)


def arrow_table(
    table: str,
    frame: object,
    parse: ParseOptions | None = None,
    *,
    source: str | None = None,
    numbers: Sequence[int] | None = None,
    text: bool = False,
) -> TableInput:
    """A table from any object with ``__arrow_c_stream__`` (polars, pandas, pyarrow, ...).

    Problems name its rows ``source:number``: by default the table's name and the
    1-based row; ``source`` and ``numbers`` (one per row) name the rows of a frame
    that is a part of a larger input (a Dask partition: the file and its lines).
    ``text``: the frame holds a text file's cells (strings, None when empty),
    whose rows of empty cells are blank lines, skipped as the CSV reader skips them.
    """
    pa = require_pyarrow("reading dataframes")
    if not hasattr(frame, "__arrow_c_stream__"):
        raise UsageError(
            f"{table}: expected a dataframe exposing __arrow_c_stream__ "
            f"(pyarrow, polars, pandas >= 2.2, ...), got {type(frame).__name__}"
        )
    try:
        arrow = pa.table(frame)
    except Exception as exc:
        raise UsageError(f"{table}: cannot read the dataframe through Arrow: {exc}") from None
    if numbers is not None and len(numbers) != arrow.num_rows:
        raise UsageError(f"{table}: {len(numbers)} row numbers for {arrow.num_rows} rows")
    return _from_arrow(table, table if source is None else source, arrow, parse, numbers, text)
