"""Machine-readable renderings: JSON, JSON Lines and CSV.

- JSON: ``{"as_of": ..., "clients": [...], "summary": {...}}`` plus ``"migrations"``
  when the report compares two moments.
- JSON Lines: one client record per line (no summary).
- CSV: a header row, then one client per row, in the flat form by default
  (:attr:`~relcycle.report.Report.flat_fields`: ``rfm_r`` ... ``rfm_segment``,
  evidence as reasons and record ids, lists joined with ``"; "``, then each extra
  column's value, evidence and evidence ids); with ``View(csv_nested=True)`` the
  columns are :attr:`~relcycle.report.Report.fields` and the nested fields
  (``rfm``, ``risks``, ``actions``, ``evidence``, a column's evidence) are JSON text
  in their cell. ``None`` is an empty cell; money is a decimal string. Cells a
  spreadsheet would run as a formula get a leading ``'`` unless
  ``View(csv_raw_formulas=True)`` (see :func:`~relcycle.render.view.neutralise`).

Each takes a :class:`~relcycle.render.view.View`: which clients, in which order,
which fields; the JSON summary is always the whole portfolio's.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from relcycle.render.view import View, neutralise

if TYPE_CHECKING:
    from relcycle.report import ClientReport, Report

__all__ = [
    "LIST_SEPARATOR",
    "NESTED_FIELDS",
    "flat_cell",
    "iter_csv",
    "iter_json",
    "iter_jsonl",
    "render_csv",
    "render_json",
    "render_jsonl",
]

#: Fields written as JSON text inside a CSV cell in the nested form.
NESTED_FIELDS: frozenset[str] = frozenset({"rfm", "risks", "actions", "evidence", "changed"})

#: What joins a list's items in a flat CSV cell.
LIST_SEPARATOR = "; "

_DEFAULT = View()


def _shown(fields: Sequence[str]) -> tuple[str, ...] | None:
    """The fields a record keeps: None for all of a report without extra columns."""
    from relcycle.report import FIELDS

    return None if tuple(fields) == FIELDS else tuple(fields)


def _record(client: ClientReport, fields: tuple[str, ...] | None) -> dict[str, Any]:
    record = client.to_record()
    return record if fields is None else {f: record[f] for f in fields}


def _records(clients: Sequence[ClientReport], fields: Sequence[str]) -> Iterator[dict[str, Any]]:
    shown = _shown(fields)
    for client in clients:
        yield _record(client, shown)


def _jsonl_line(client: ClientReport, fields: tuple[str, ...] | None) -> str:
    """A client's line of JSON Lines."""
    return json.dumps(_record(client, fields), ensure_ascii=False, separators=(",", ":")) + "\n"


def _json_item(client: ClientReport, fields: tuple[str, ...] | None) -> str:
    """A client's item of the JSON document's ``clients`` list, after a comma."""
    return ",\n  " + json.dumps(_record(client, fields), ensure_ascii=False)


def _encoded(
    clients: Sequence[ClientReport], encode: Callable[[ClientReport], str]
) -> Iterator[str]:
    """``encode`` of every client in order; by the report's worker processes if it has them.

    A report whose lines are in a file and that was built by worker processes
    encodes them there too, a run of clients per chunk of text.
    """
    encoded = getattr(clients, "encoded", None)
    return encoded(encode) if encoded is not None else map(encode, clients)


def iter_json(report: Report, view: View = _DEFAULT) -> Iterator[str]:
    """The JSON document in chunks, one client at a time (see :func:`render_json`)."""
    dumps = json.dumps
    yield "{\n"
    yield f' "as_of": {dumps(report.as_of.isoformat())},\n'
    yield ' "clients": ['
    first = True
    encode = functools.partial(_json_item, fields=_shown(view.fields(report)))
    for text in _encoded(view.clients(report), encode):
        if first and text:
            text = text[1:]  # the first item has no comma before it
            first = False
        yield text
    yield "]" if first else "\n ]"
    yield ',\n "summary": '
    yield dumps(dict(report.summary), ensure_ascii=False, indent=1).replace("\n", "\n ")
    if report.warnings:
        yield ',\n "warnings": ' + dumps(list(report.warnings), ensure_ascii=False)
    migrations = report.to_dict(clients=False).get("migrations")
    if migrations is not None:
        yield ',\n "migrations": '
        yield dumps(migrations, ensure_ascii=False)
    yield "\n}\n"


def render_json(report: Report, view: View = _DEFAULT) -> str:
    """The whole report as one JSON document, one client per line.

    ``{"as_of": ..., "clients": [...], "summary": {...}}``, plus ``"migrations"``
    when the report compares two moments. The layout keeps a large report fast
    to write (the C encoder does each client) and easy to scan.
    """
    return "".join(iter_json(report, view))


def iter_jsonl(report: Report, view: View = _DEFAULT) -> Iterator[str]:
    """One JSON object per client per line, one line at a time."""
    encode = functools.partial(_jsonl_line, fields=_shown(view.fields(report)))
    return _encoded(view.clients(report), encode)


def render_jsonl(report: Report, view: View = _DEFAULT) -> str:
    """One JSON object per client per line."""
    return "".join(iter_jsonl(report, view))


def _nested_cell(field: str, value: Any, nested: frozenset[str] = NESTED_FIELDS) -> str:
    if value is None:
        return ""
    if field in nested:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return flat_cell(value)


def flat_cell(value: Any) -> str:
    """A value of the flat record as CSV text: lists joined, booleans as words, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    return str(value)


def _csv_row(
    client: ClientReport,
    fields: tuple[str, ...],
    nested: frozenset[str] | None,
    columns: tuple[str, ...],
    raw: bool,
) -> str:
    """A client's CSV row: the nested form with ``nested`` (its JSON-text fields), else
    the flat form; cells that start like a formula neutralised unless ``raw``."""
    from relcycle.report import flat_record

    if nested is not None:
        record = _record(client, _shown(fields))
        cells = [_nested_cell(f, record[f], nested) for f in fields]
    else:
        flat = flat_record(client.to_record(), columns)
        cells = [flat_cell(flat[f]) for f in fields]
    if not raw:
        cells = [neutralise(cell) for cell in cells]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def iter_csv(report: Report, view: View = _DEFAULT, *, batch: int = 1000) -> Iterator[str]:
    """The CSV text in chunks (the header first): ``batch`` clients each, or, when the
    report's workers encode the rows, ``batch`` of their runs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    columns = tuple(report.columns)
    if view.csv_nested:
        fields = tuple(view.fields(report))
        nested: frozenset[str] | None = NESTED_FIELDS | {f"{name}_evidence" for name in columns}
    else:
        fields = tuple(view.flat_fields(report))
        nested = None
    writer.writerow(fields)
    encode = functools.partial(
        _csv_row, fields=fields, nested=nested, columns=columns, raw=view.csv_raw_formulas
    )
    chunk = [buffer.getvalue()]
    for i, text in enumerate(_encoded(view.clients(report), encode), start=1):
        chunk.append(text)
        if i % batch == 0:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)


def render_csv(report: Report, view: View = _DEFAULT) -> str:
    """A header row and one row per client (RFC 4180, CRLF line ends)."""
    return "".join(iter_csv(report, view))
