"""Machine-readable renderings: JSON, JSON Lines and CSV.

- JSON: ``{"as_of": ..., "clients": [...], "summary": {...}}`` plus ``"migrations"``
  when the report compares two moments.
- JSON Lines: one client record per line (no summary).
- CSV: a header row of the contract's field names (then each extra column's
  ``<name>`` and ``<name>_evidence``), then one client per row. Nested fields
  (``rfm``, ``risks``, ``actions``, ``evidence``, a column's evidence) are JSON
  text in their cell; ``None`` is an empty cell; money is a decimal string.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relcycle.report import Report

__all__ = [
    "NESTED_FIELDS",
    "iter_csv",
    "iter_json",
    "iter_jsonl",
    "render_csv",
    "render_json",
    "render_jsonl",
]

#: Fields written as JSON text inside a CSV cell.
NESTED_FIELDS: frozenset[str] = frozenset({"rfm", "risks", "actions", "evidence"})


def iter_json(report: Report) -> Iterator[str]:
    """The JSON document in chunks, one client at a time (see :func:`render_json`)."""
    dumps = json.dumps
    yield "{\n"
    yield f' "as_of": {dumps(report.as_of.isoformat())},\n'
    yield ' "clients": ['
    first = True
    for client in report.clients:
        yield ("\n  " if first else ",\n  ") + dumps(client.to_record(), ensure_ascii=False)
        first = False
    yield "]" if first else "\n ]"
    yield ',\n "summary": '
    yield dumps(dict(report.summary), ensure_ascii=False, indent=1).replace("\n", "\n ")
    migrations = report.to_dict(clients=False).get("migrations")
    if migrations is not None:
        yield ',\n "migrations": '
        yield dumps(migrations, ensure_ascii=False)
    yield "\n}\n"


def render_json(report: Report) -> str:
    """The whole report as one JSON document, one client per line.

    ``{"as_of": ..., "clients": [...], "summary": {...}}``, plus ``"migrations"``
    when the report compares two moments. The layout keeps a large report fast
    to write (the C encoder does each client) and easy to scan.
    """
    return "".join(iter_json(report))


def iter_jsonl(report: Report) -> Iterator[str]:
    """One JSON object per client per line, one line at a time."""
    dumps = json.dumps
    for client in report.clients:
        yield dumps(client.to_record(), ensure_ascii=False, separators=(",", ":")) + "\n"


def render_jsonl(report: Report) -> str:
    """One JSON object per client per line."""
    return "".join(iter_jsonl(report))


def _cell(field: str, value: Any, nested: frozenset[str] = NESTED_FIELDS) -> str:
    if value is None:
        return ""
    if field in nested:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def iter_csv(report: Report, *, batch: int = 1000) -> Iterator[str]:
    """The CSV text in chunks of ``batch`` clients (the header first)."""
    fields = report.fields
    nested = NESTED_FIELDS | {f"{name}_evidence" for name in report.columns}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(fields)
    for i, client in enumerate(report.clients, start=1):
        record = client.to_record()
        writer.writerow([_cell(f, record.get(f), nested) for f in fields])
        if i % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def render_csv(report: Report) -> str:
    """A header row and one row per client (RFC 4180, CRLF line ends)."""
    return "".join(iter_csv(report))
