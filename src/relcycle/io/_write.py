"""Writers: a history as contract tables in CSV, JSON Lines, Parquet or SQLite.

Values are written losslessly: ids verbatim, money as its exact decimal text, times
as ISO 8601 with their offset, vocabularies as their contract values, so reading
what was written gives equal records.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from operator import attrgetter
from pathlib import Path
from typing import Any

from relcycle.errors import UsageError
from relcycle.model import Client

from ._load import HistoryTables
from ._schema import CLIENTS, TABLES, TableSpec

__all__ = ["encode", "table_rows", "write_csv", "write_jsonl", "write_parquet"]


def encode(value: object) -> str | None:
    """The contract text of one value (None for "not known").

    The rules are the column encoders' (:data:`_COLUMN_ENCODERS`), chosen by the
    value's type rather than by its column's kind.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return _words([value])[0] if isinstance(value, Enum) else value
    if isinstance(value, bool):
        return _flags([value])[0]
    if isinstance(value, Decimal):
        return _decimals([value])[0]
    if isinstance(value, datetime):
        return _moments([value])[0]
    if isinstance(value, tuple):  # contact persons
        return json.dumps([p.to_dict() for p in value], ensure_ascii=False, sort_keys=True)
    return str(value)


def _client_columns(clients: Sequence[Client]) -> tuple[list[str], list[str], bool]:
    keys: set[str] = set()
    contacts = False
    for client in clients:
        keys.update(client.attributes)
        contacts = contacts or bool(client.contacts)
    known = {name.lower() for name in CLIENTS.names}
    clash = sorted(k for k in keys if k.lower() in known or not k)
    if clash:
        raise UsageError(
            f"client attribute(s) {', '.join(map(repr, clash))} cannot be written as columns: "
            "the names clash with the clients table's own columns"
        )
    base = [n for n in CLIENTS.names if n != "contact_persons" or contacts]
    return base, sorted(keys), contacts


#: How many records :func:`table_rows` encodes at once, column by column.
_BATCH = 4096


def table_rows(
    spec: TableSpec, records: Sequence[Any]
) -> tuple[list[str], Iterator[Sequence[str | None]]]:
    """The column names and the encoded rows of one table.

    The rows are encoded a batch of records at a time, one column after the
    other (a comprehension per column rather than a call per cell: about 2.6
    times faster on an order log), so a large table costs one batch of text at
    a time, not a copy of the table.
    """
    if spec is CLIENTS:
        base, attributes, _ = _client_columns(records)

        def client_rows() -> Iterator[list[str | None]]:
            fields = ["contacts" if n == "contact_persons" else n for n in base]
            for client in records:
                row = [encode(getattr(client, f)) for f in fields]
                if row[-1] == "[]" and fields[-1] == "contacts":
                    row[-1] = None
                row.extend(client.attributes.get(k) or None for k in attributes)
                yield row

        return base + attributes, client_rows()
    names = list(spec.names)
    columns = [(_COLUMN_ENCODERS.get(c.kind, _other), attrgetter(c.name)) for c in spec.columns]

    def rows() -> Iterator[Sequence[str | None]]:
        for start in range(0, len(records), _BATCH):
            batch = records[start : start + _BATCH]
            cells = [encoded(list(map(get, batch))) for encoded, get in columns]
            yield from zip(*cells, strict=True)

    return names, rows()


def _same(values: list[Any]) -> list[str | None]:
    return values


def _moments(values: list[datetime | None]) -> list[str | None]:
    return [None if v is None else v.isoformat() for v in values]


def _decimals(values: list[Decimal | None]) -> list[str | None]:
    # plain digits, never an exponent (1E-7 is written 0.0000001): every tool reads it
    return [None if v is None else format(v.copy_abs() if v.is_zero() else v, "f") for v in values]


def _flags(values: list[bool | None]) -> list[str | None]:
    return [None if v is None else ("true" if v else "false") for v in values]


def _words(values: list[Enum | None]) -> list[str | None]:
    return [None if v is None else str(v.value) for v in values]


def _other(values: list[object]) -> list[str | None]:
    return [encode(v) for v in values]


#: A column's encoder by its kind (the generic :func:`encode` for the others):
#: the contract text of each value, None for "not known".
_COLUMN_ENCODERS: dict[str, Callable[[list[Any]], list[str | None]]] = {
    "id": _same,
    "text": _same,
    "currency": _same,
    "datetime": _moments,
    "money": _decimals,
    "number": _decimals,
    "bool": _flags,
    "vocab": _words,
}


def _tables(tables: HistoryTables) -> Iterator[tuple[TableSpec, Sequence[Any]]]:
    for spec in TABLES:
        records = getattr(tables, spec.name)
        if records is None:
            continue
        yield spec, records


def _prepare(folder: Path, suffix: str, overwrite: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)


def _commit(folder: Path, suffix: str, written: list[Path], overwrite: bool) -> list[Path]:
    """Move the written temporary files in place.

    Without ``overwrite`` an existing table file must hold exactly what would be
    written (writing the same history twice is a no-op); otherwise nothing moves.
    """
    if not overwrite:
        names = {p.name for p in written}
        differ = [
            s.name + suffix
            for s in TABLES
            if (folder / f"{s.name}{suffix}").exists()
            and (
                f"{s.name}{suffix}" not in names
                or (folder / f"{s.name}{suffix}").read_bytes()
                != _atomic(folder / f"{s.name}{suffix}").read_bytes()
            )
        ]
        if differ:
            for path in written:
                _atomic(path).unlink(missing_ok=True)
            raise UsageError(
                f"{folder} already holds {', '.join(differ)} with other content; remove "
                "them or write elsewhere (or pass overwrite=True in Python)"
            )
    for path in written:
        _atomic(path).replace(path)
    return written


def _atomic(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def write_csv(tables: HistoryTables, folder: Path, *, overwrite: bool = False) -> list[Path]:
    """Write contract CSV files (UTF-8, header row, RFC 4180 quoting, LF line ends)."""
    _prepare(folder, ".csv", overwrite)
    written = []
    for spec, records in _tables(tables):
        path = folder / f"{spec.name}.csv"
        tmp = _atomic(path)
        columns, rows = table_rows(spec, records)
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(["" if v is None else v for v in row] for row in rows)
        written.append(path)
    return _commit(folder, ".csv", written, overwrite)


def write_jsonl(tables: HistoryTables, folder: Path, *, overwrite: bool = False) -> list[Path]:
    """Write contract JSON Lines files (one object per record, values as strings)."""
    _prepare(folder, ".jsonl", overwrite)
    written = []
    for spec, records in _tables(tables):
        path = folder / f"{spec.name}.jsonl"
        tmp = _atomic(path)
        columns, rows = table_rows(spec, records)
        bool_columns = {c.name for c in spec.columns if c.kind == "bool"}
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                obj: dict[str, Any] = {}
                for name, value in zip(columns, row, strict=True):
                    if name in bool_columns and value is not None:
                        obj[name] = value == "true"
                    elif name == "contact_persons" and value is not None:
                        obj[name] = json.loads(value)
                    else:
                        obj[name] = value
                fh.write(json.dumps(obj, ensure_ascii=False))
                fh.write("\n")
        written.append(path)
    return _commit(folder, ".jsonl", written, overwrite)


def write_parquet(tables: HistoryTables, folder: Path, *, overwrite: bool = False) -> list[Path]:
    """Write contract Parquet files (string columns, booleans as booleans; lossless)."""
    from ._arrow import require_pyarrow

    pa = require_pyarrow("writing Parquet")
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    _prepare(folder, ".parquet", overwrite)
    written = []
    for spec, records in _tables(tables):
        path = folder / f"{spec.name}.parquet"
        tmp = _atomic(path)
        columns, rows = table_rows(spec, records)
        bool_columns = {c.name for c in spec.columns if c.kind == "bool"}
        data: list[list[Any]] = [[] for _ in columns]
        for row in rows:
            for i, value in enumerate(row):
                data[i].append(value)
        arrays = []
        for name, values in zip(columns, data, strict=True):
            if name in bool_columns:
                arrays.append(
                    pa.array([None if v is None else v == "true" for v in values], pa.bool_())
                )
            else:
                arrays.append(pa.array(values, pa.string()))
        pq.write_table(pa.Table.from_arrays(arrays, names=columns), tmp)
        written.append(path)
    return _commit(folder, ".parquet", written, overwrite)
