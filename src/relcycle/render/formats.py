"""Machine-readable renderings: JSON, JSON Lines and CSV.

- JSON: ``{"as_of": ..., "clients": [...], "summary": {...}}`` plus ``"migrations"``
  when the report compares two moments.
- JSON Lines: one client record per line (no summary).
- CSV: a header row of the contract's field names, then one client per row.
  Nested fields (``rfm``, ``risks``, ``actions``, ``evidence``) are JSON text in
  their cell; ``None`` is an empty cell; money is a decimal string.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relcycle.report import Report

__all__ = ["NESTED_FIELDS", "render_csv", "render_json", "render_jsonl"]

#: Fields written as JSON text inside a CSV cell.
NESTED_FIELDS: frozenset[str] = frozenset({"rfm", "risks", "actions", "evidence"})


def render_json(report: Report) -> str:
    """The whole report as one JSON document, one client per line.

    The layout keeps a large report fast to write (the C encoder does each
    client) and easy to scan; the summary is indented.
    """
    data = report.to_dict()
    dumps = json.dumps
    parts = [
        "{\n",
        f' "as_of": {dumps(data["as_of"])},\n',
        ' "clients": [',
        ",".join(
            "\n  " + dumps(record, ensure_ascii=False, default=str) for record in data["clients"]
        ),
        "\n ]" if data["clients"] else "]",
        ',\n "summary": ',
        dumps(data["summary"], ensure_ascii=False, indent=1).replace("\n", "\n "),
    ]
    if "migrations" in data:
        parts.append(',\n "migrations": ')
        parts.append(dumps(data["migrations"], ensure_ascii=False, default=str))
    parts.append("\n}\n")
    return "".join(parts)


def render_jsonl(report: Report) -> str:
    """One JSON object per client per line."""
    return "".join(
        json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        for record in report.to_records()
    )


def _cell(field: str, value: Any) -> str:
    if value is None:
        return ""
    if field in NESTED_FIELDS:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_csv(report: Report) -> str:
    """A header row and one row per client (RFC 4180, CRLF line ends)."""
    from relcycle.report import FIELDS

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for record in report.to_records():
        writer.writerow([_cell(f, record.get(f)) for f in FIELDS])
    return buffer.getvalue()
