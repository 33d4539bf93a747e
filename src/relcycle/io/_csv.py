"""CSV and JSON Lines: the row sources and writers of text files."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from relcycle.errors import Problem

from ._load import Row, RowError, TableInput, blank_row, fatal

__all__ = [
    "CSV_FIELD_LIMIT",
    "DuplicateKey",
    "csv_table",
    "decode_problem",
    "json_lines_decoder",
    "json_object",
    "jsonl_table",
]

#: The longest CSV cell, in characters: the standard library's ``csv`` limit,
#: which relcycle does not raise (the limit is process-wide, and a longer cell is
#: almost always a broken quote swallowing the rest of the file).
CSV_FIELD_LIMIT = 131_072


def text_encoding(encoding: str) -> str:
    """The codec a text file is opened with: UTF-8 with or without a BOM, or ``encoding``."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def decode_problem(path: Path, source: str, encoding: str = "utf-8") -> Problem | None:
    """Find the first byte that is not text in ``encoding`` and name its line, or None."""
    data = path.read_bytes()
    try:
        data.decode(text_encoding(encoding))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1]
        utf8 = codecs.lookup(encoding).name == "utf-8"
        hint = (
            ": save the file as UTF-8, or name its encoding with --encoding, such as "
            "--encoding cp1252 for a spreadsheet saved on Windows in Western Europe or the "
            "Americas (ParseOptions(encoding='cp1252') in Python)"
            if utf8
            else ""
        )
        return Problem(
            source,
            line,
            None,
            None,
            f"not valid {'UTF-8' if utf8 else encoding} (byte 0x{bad.hex()} at offset "
            f"{exc.start}){hint}",
        )
    return None


def _decode_fatal(path: Path, source: str, exc: UnicodeDecodeError, encoding: str) -> Exception:
    problem = decode_problem(path, source, encoding) or Problem(source, None, None, None, str(exc))
    return fatal(problem)


def _nul_free(text: str) -> bool:
    return "\x00" not in text


def csv_table(table: str, path: Path, delimiter: str = ",", encoding: str = "utf-8") -> TableInput:
    """A table from a CSV file (UTF-8 with or without BOM, LF or CRLF, RFC 4180 quoting).

    ``delimiter`` separates the cells (``,`` by default); ``encoding`` names
    another text encoding than UTF-8. A header that is one
    cell holding another delimiter is an error that names the option to read it
    with, never read as one column.
    """
    source = path.name
    codec = text_encoding(encoding)
    try:
        with path.open(encoding=codec, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise _decode_fatal(path, source, exc, encoding) from None
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise fatal(_long_cell(path, source, (), 1, delimiter, codec)) from None
        raise fatal(Problem(source, 1, None, None, f"malformed CSV header: {exc}")) from None
    if header is None:
        raise fatal(Problem(source, 1, None, None, "the file is empty (no header row)"))
    columns = tuple(name.strip() for name in header)
    if len(columns) == 1:
        other = _other_delimiter(columns[0], delimiter)
        if other is not None:
            raise fatal(
                Problem(
                    source,
                    1,
                    None,
                    columns[0],
                    f"the header is one cell, and {_NAMES[other]} separate its names: "
                    f"read the file with --delimiter {_FLAG[other]} "
                    f"(ParseOptions(delimiter={other!r}) in Python)",
                )
            )

    def rows() -> Iterator[Row | RowError]:
        width = len(columns)
        end = 1
        with path.open(encoding=codec, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            it = iter(reader)
            try:
                next(it)
                end = reader.line_num
                for cells in it:
                    start = end + 1
                    end = reader.line_num
                    n = len(cells)
                    if blank_row(cells):
                        continue
                    if n == width:
                        yield (source, start, cells)
                    else:
                        cut = dict(zip(columns, cells, strict=False))
                        yield RowError(
                            source,
                            start,
                            cut,
                            f"the row has {n} field(s), the header has {width}",
                        )
            except UnicodeDecodeError as exc:
                raise _decode_fatal(path, source, exc, encoding) from None
            except csv.Error as exc:
                if "field limit" in str(exc):
                    raise fatal(
                        _long_cell(path, source, columns, end + 1, delimiter, codec)
                    ) from None
                raise fatal(
                    Problem(source, reader.line_num, None, None, f"malformed CSV: {exc}")
                ) from None

    return TableInput(
        table=table, source=source, columns=columns, header_line=1, rows=rows, text_only=True
    )


_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "bars"}
_FLAG = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


def _other_delimiter(header: str, delimiter: str) -> str | None:
    """The delimiter that splits a one-cell ``header`` into names, if one does."""
    for other in _NAMES:
        if other != delimiter and other in header:
            return other
    return None


def _long_cell(
    path: Path,
    source: str,
    columns: tuple[str, ...],
    line: int,
    delimiter: str = ",",
    codec: str = "utf-8-sig",
) -> Problem:
    """The problem of a cell over :data:`CSV_FIELD_LIMIT` in the record starting at ``line``.

    The csv module stops without saying which cell; the record is scanned again
    (RFC 4180 quoting) to name the column.
    """
    index = 0
    length = 0
    quoted = False
    previous = ""
    with path.open(encoding=codec, newline="") as fh:
        for _ in range(line - 1):
            fh.readline()
        while length <= CSV_FIELD_LIMIT:
            ch = fh.read(1)
            if not ch:
                break
            if quoted:
                if ch == '"':
                    quoted = False
                length += 1
            elif ch == '"':
                quoted = True
                if previous == '"':
                    length += 1  # a doubled quote inside a quoted cell
            elif ch == delimiter:
                index, length = index + 1, 0
            elif ch in "\r\n":
                break
            else:
                length += 1
            previous = ch
    if not columns:
        column = f"#{index + 1} of the header"
    else:
        column = columns[index] if index < len(columns) else f"#{index + 1}"
    return Problem(
        source,
        line,
        column,
        None,
        f"the cell is longer than {CSV_FIELD_LIMIT:,} characters (the longest relcycle "
        "reads): most often a quote that is never closed",
    )


class DuplicateKey(ValueError):
    """A JSON object holds one key twice (``key`` is it)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} occurs twice in the object")
        self.key = key


def json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for :mod:`json`: a dict, or :class:`DuplicateKey`."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return out


def json_lines_decoder(constant: Callable[[str], Any]) -> Callable[[str], Any]:
    """The ``decode`` of one JSON Lines line: numbers kept as text, keys checked.

    ``constant`` is called for ``NaN`` and ``Infinity`` (and must raise).
    """
    return json.JSONDecoder(
        parse_float=str, parse_int=str, parse_constant=constant, object_pairs_hook=json_object
    ).decode


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (numbers must be finite)")


def jsonl_table(table: str, path: Path, encoding: str = "utf-8") -> TableInput:
    """A table from a JSON Lines file: one JSON object per line, keys are columns.

    Numbers are kept as their text (so ``7`` is the id ``"7"`` and ``12.50`` the
    amount ``12.50``, never a float); ``null`` is an empty cell; blank lines are skipped.
    A line whose object holds a key twice, or that is nested too deeply for the
    parser, is a bad row (never the last value silently, never a crash).
    """
    source = path.name
    loads = json_lines_decoder(_no_constants)
    codec = text_encoding(encoding)

    def rows() -> Iterator[Row | RowError]:
        try:
            with path.open(encoding=codec, newline="") as fh:
                for number, text in enumerate(fh, start=1):
                    if not text.strip():
                        continue
                    try:
                        data = loads(text)
                    except DuplicateKey as exc:
                        yield RowError(
                            source,
                            number,
                            {"(line)": text.rstrip("\r\n")},
                            f"{exc}; keep one",
                            column=exc.key,
                        )
                        continue
                    except RecursionError:
                        yield RowError(
                            source,
                            number,
                            {"(line)": text[:200]},
                            "the JSON is nested too deeply to read",
                        )
                        continue
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
            raise _decode_fatal(path, source, exc, encoding) from None

    return TableInput(table=table, source=source, columns=None, header_line=None, rows=rows)
