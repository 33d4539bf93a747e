"""CSV and JSON Lines: the row sources and writers of text files."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from relcycle.errors import Problem

from ._load import Row, RowError, TableInput, fatal

__all__ = ["csv_table", "decode_problem", "jsonl_table"]


def decode_problem(path: Path, source: str) -> Problem | None:
    """Find the first byte that is not UTF-8 and name its line, or return None."""
    data = path.read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1]
        return Problem(
            source, line, None, None, f"not valid UTF-8 (byte 0x{bad.hex()} at offset {exc.start})"
        )
    return None


def _decode_fatal(path: Path, source: str, exc: UnicodeDecodeError) -> Exception:
    problem = decode_problem(path, source) or Problem(source, None, None, None, str(exc))
    return fatal(problem)


def _nul_free(text: str) -> bool:
    return "\x00" not in text


def csv_table(table: str, path: Path) -> TableInput:
    """A table from a CSV file (UTF-8 with or without BOM, LF or CRLF, RFC 4180 quoting)."""
    source = path.name
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise _decode_fatal(path, source, exc) from None
    except csv.Error as exc:
        raise fatal(Problem(source, 1, None, None, f"malformed CSV header: {exc}")) from None
    if header is None:
        raise fatal(Problem(source, 1, None, None, "the file is empty (no header row)"))
    columns = tuple(name.strip() for name in header)

    def rows() -> Iterator[Row | RowError]:
        width = len(columns)
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            it = iter(reader)
            try:
                next(it)
                end = reader.line_num
                for cells in it:
                    start = end + 1
                    end = reader.line_num
                    n = len(cells)
                    if n == width:
                        yield (source, start, cells)
                    elif n == 0:
                        continue  # a blank line
                    else:
                        cut = dict(zip(columns, cells, strict=False))
                        yield RowError(
                            source,
                            start,
                            cut,
                            f"the row has {n} field(s), the header has {width}",
                        )
            except UnicodeDecodeError as exc:
                raise _decode_fatal(path, source, exc) from None
            except csv.Error as exc:
                raise fatal(
                    Problem(source, reader.line_num, None, None, f"malformed CSV: {exc}")
                ) from None

    return TableInput(
        table=table, source=source, columns=columns, header_line=1, rows=rows, text_only=True
    )


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (numbers must be finite)")


def jsonl_table(table: str, path: Path) -> TableInput:
    """A table from a JSON Lines file: one JSON object per line, keys are columns.

    Numbers are kept as their text (so ``7`` is the id ``"7"`` and ``12.50`` the
    amount ``12.50``, never a float); ``null`` is an empty cell; blank lines are skipped.
    """
    source = path.name

    def rows() -> Iterator[Row | RowError]:
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                for number, text in enumerate(fh, start=1):
                    if not text.strip():
                        continue
                    try:
                        data = json.loads(
                            text, parse_float=str, parse_int=str, parse_constant=_no_constants
                        )
                    except ValueError as exc:
                        yield RowError(
                            source, number, {"(line)": text.rstrip("\r\n")}, f"not JSON: {exc}"
                        )
                        continue
                    if not isinstance(data, Mapping):
                        yield RowError(
                            source,
                            number,
                            {"(line)": text.rstrip("\r\n")},
                            "a line must hold a JSON object",
                        )
                        continue
                    cells: dict[str, object] = {}
                    bad = None
                    for key, value in data.items():
                        if isinstance(value, dict | list) and key != "contact_persons":
                            bad = key
                        cells[key] = value
                    if bad is not None:
                        yield RowError(
                            source,
                            number,
                            {k: json.dumps(v) for k, v in cells.items()},
                            f"column {bad}: a value must be a string, number, boolean or null",
                        )
                        continue
                    yield (source, number, cells)
        except UnicodeDecodeError as exc:
            raise _decode_fatal(path, source, exc) from None

    return TableInput(table=table, source=source, columns=None, header_line=None, rows=rows)
