"""The terminal rendering: a table of clients and the summary below it.

The table has the report's columns, then one per extra column
(:attr:`relcycle.report.ReportPolicies.columns`); the summary counts the extra
columns' values too.

With ``rich`` installed (the ``cli`` extra) and ``rich=True`` the table is drawn
with rich; otherwise it is plain text in aligned columns, which is also what
goes into a pipe. Given a ``width`` the table keeps the columns that fit, most
wanted first (:data:`PRIORITY`), and says which it left out. Every cell is
printed inert: control characters (terminal escape sequences) are escaped.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from relcycle._repr import count as _count
from relcycle.render.view import View, inert
from relcycle.segmentation.value import share_text

if TYPE_CHECKING:
    from relcycle.report import ClientReport, Report

__all__ = [
    "CHANGE_COLUMN",
    "COLUMNS",
    "MOVE_WORDS",
    "PRIORITY",
    "change_text",
    "counted",
    "fit",
    "loss_lines",
    "migration_text",
    "render_summary",
    "render_table",
    "summary_lines",
]

#: The table's default columns: (field, header), in display order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("client_id", "client"),
    ("lifecycle_stage", "stage"),
    ("ladder_rung", "rung"),
    ("client_stage", "base"),
    ("motivation_segment", "segment"),
    ("value_class", "class"),
    ("regularity", "regularity"),
    ("rfm", "rfm"),
    ("orders", "orders"),
    ("contacts", "contacts"),
    ("requests", "requests"),
    ("complaints_open", "open"),
    ("revenue", "revenue"),
    ("profit", "profit"),
    ("risks", "risks"),
)

#: The column added for a report with ``compare_to``: the movement since then.
CHANGE_COLUMN: tuple[str, str] = ("change", "change")

#: Which columns stay when the table is narrowed to a width, most wanted first;
#: columns not listed come after, in display order.
PRIORITY: tuple[str, ...] = (
    "client_id",
    "lifecycle_stage",
    "change",
    "value_class",
    "revenue",
    "risks",
    "ladder_rung",
    "complaints_open",
    "motivation_segment",
    "orders",
    "profit",
    "rfm",
    "regularity",
    "requests",
    "contacts",
    "client_stage",
)

#: Short names of the compared fields in the table.
_SHORT = {
    "lifecycle_stage": "stage",
    "ladder_rung": "rung",
    "motivation_segment": "segment",
    "value_class": "class",
}


def change_text(c: ClientReport) -> str:
    """The client's movement since ``compare_to`` in a few words.

    ``worsened: stage, class`` (the fields that moved that way), ``improved: rung``,
    ``changed: segment``, ``unchanged``, ``new``; ``-`` without a compare moment.
    """
    change, changed = c.change, c.changed
    if change is None or changed is None:
        return "-"
    if change in ("new", "unchanged"):
        return change
    fields = [_SHORT[k] for k, v in changed.items() if v == change]
    return f"{change}: {', '.join(fields)}"


def _rfm_text(c: ClientReport) -> str:
    rfm = c.rfm
    return "-" if rfm.r is None else f"{rfm.r}{rfm.f}{rfm.m} {rfm.segment}"


def _money_cell(value: Any) -> str:
    return "-" if value is None else f"{value.amount:,.2f}"


#: How the table writes its own columns (any other: the flat record's text).
_CELLS: Mapping[str, Callable[[ClientReport], str]] = {
    "client_id": lambda c: c.client_id,
    "lifecycle_stage": lambda c: c.lifecycle_stage.value,
    "ladder_rung": lambda c: c.ladder_rung.value + ("" if c.active else " (left)"),
    "client_stage": lambda c: c.client_stage.value,
    "motivation_segment": lambda c: c.motivation_segment.value,
    "value_class": lambda c: c.value_class.value,
    "regularity": lambda c: c.regularity.value,
    "rfm": _rfm_text,
    "orders": lambda c: str(c.orders),
    "contacts": lambda c: str(c.contacts),
    "requests": lambda c: str(c.requests),
    "complaints_open": lambda c: str(c.complaints_open),
    "revenue": lambda c: _money_cell(c.revenue),
    "cost_to_serve": lambda c: _money_cell(c.cost_to_serve),
    "profit": lambda c: _money_cell(c.profit),
    "risks": lambda c: ", ".join(c.risk_flags) or "-",
    "change": change_text,
}


def _columns(report: Report, view: View) -> list[tuple[str, str]]:
    """The (field, header) columns the view asks for."""
    extra = [(name, name.replace("_", " ")) for name in report.columns]
    if view.columns is None:
        columns = [*COLUMNS, *extra]
        if report.compare_to is not None:
            columns.append(CHANGE_COLUMN)
        return columns
    headers = dict((*COLUMNS, *extra, CHANGE_COLUMN))
    names: list[str] = []
    for name in view.columns:
        if name == "evidence":
            names.extend(f for f in view.flat_fields(report) if f.startswith("evidence_"))
        else:
            names.append(name)
    return [(n, headers.get(n, n)) for n in dict.fromkeys(names)]


def _cells(
    columns: Sequence[tuple[str, str]], extra: Sequence[str] = ()
) -> Callable[[ClientReport], list[str]]:
    """A function giving a client's (inert) cells for ``columns`` (``extra``: the
    report's extra columns, read from the flat record)."""
    from relcycle.render.formats import flat_cell
    from relcycle.report import flat_record

    makers = [_CELLS.get(field) for field, _ in columns]
    if all(m is not None for m in makers):
        return lambda c: [inert(m(c)) for m in makers if m is not None]

    def row(c: ClientReport) -> list[str]:
        flat = flat_record(c.to_record(), extra)
        return [
            inert(m(c) if m is not None else (flat_cell(flat[field]) or "-"))
            for m, (field, _) in zip(makers, columns, strict=True)
        ]

    return row


def fit(
    widths: Sequence[int], names: Sequence[str], width: int, *, gap: int, edge: int
) -> list[int]:
    """The indexes of the columns that fit in ``width`` characters.

    Columns are taken in :data:`PRIORITY` order (others after, in display order)
    while they fit; one that does not fit is left out and the next one tried.
    The first column always stays.

    Args:
        widths: Each column's width (its widest cell or header).
        names: Each column's field name.
        width: The characters available.
        gap: Characters between two columns.
        edge: Characters around the table (borders), beside the gaps.

    Returns:
        The kept columns' indexes, in display order.
    """
    rank = {name: i for i, name in enumerate(PRIORITY)}
    order = sorted(range(len(names)), key=lambda i: (i != 0, rank.get(names[i], len(rank)), i))
    kept: list[int] = []
    used = edge
    for i in order:
        need = widths[i] + (gap if kept else 0)
        if not kept or used + need <= width:
            kept.append(i)
            used += need
    return sorted(kept)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """A count and its noun, singular for exactly one: ``1 client``, ``3 clients``.

    Args:
        count: How many.
        noun: The noun in the singular.
        plural: The plural when it is not ``noun + "s"``.

    Returns:
        The count, a space and the noun in the right number.
    """
    return _count(count, noun, plural)


def _counts_line(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"


def summary_lines(report: Report) -> list[str]:
    """The summary as lines of text (also what ``relcycle demo`` prints)."""
    s: Mapping[str, Any] = report.summary
    lines = [
        f"as of {report.as_of.isoformat()}: {counted(s['clients'], 'client')}, "
        f"revenue {_money(s['revenue'])} {s['currency']}",
        f"  stages:      {_counts_line(s['lifecycle_stage'])}",
        f"  rungs:       {_counts_line(s['ladder_rung'])}",
        f"  segments:    {_counts_line(s['motivation_segment'])}",
        f"  value class: {_counts_line(s['value_class'])}",
        f"  regularity:  {_counts_line(s['regularity'])}",
        f"  client base: {_counts_line(s['client_stage'])}",
    ]
    if s.get("top_share") is not None:
        lines.append(
            f"  top {share_text(s['top_fraction'])} of clients hold "
            f"{share_text(s['top_share'])} of revenue"
        )
    if s.get("value_basis") is not None:
        lines.append(f"  value classes rank: {s['value_basis']}")
    lines.append(f"  loss reasons: {_counts_line(s['loss_reasons'])}")
    lines.extend(loss_lines(s["losses"], s["currency"]))
    lines.append(f"  risks:       {_counts_line(s['risks'])}")
    for name, counts in s.get("columns", {}).items():
        lines.append(f"  {name.replace('_', ' ')}: {_counts_line(counts)}")
    if s.get("rejected_rows") is not None:
        lines.append(f"  rejected rows (skipped when loading): {s['rejected_rows']}")
    for warning in report.warnings:
        lines.append(f"  warning: {warning}")
    if report.migrations is not None and report.compare_to is not None:
        lines.append(f"  since {report.compare_to.isoformat()}:")
        for name, matrix in report.migrations.items():
            lines.append(f"    {name.replace('_', ' ')}: {migration_text(name, matrix)}")
    return lines


def loss_lines(losses: Mapping[str, Any], currency: str) -> list[str]:
    """The loss analysis (``summary["losses"]``) as lines of text: what was lost and why."""
    lines = [
        f"  lost: {counted(losses['clients'], 'client')}, {_money(losses['lost_revenue'])} "
        f"{currency} of sales in the {losses['window_days']} days before each loss "
        "(a lapse: before the client went silent)"
    ]
    if not losses["clients"]:
        return lines
    for label, key in (
        ("reason", "by_reason"),
        ("segment", "by_segment"),
        ("manager", "by_manager"),
    ):
        parts = [
            f"{name} {cell['clients']} ({_money(cell['lost_revenue'])})"
            for name, cell in losses[key].items()
            if cell["clients"]
        ]
        lines.append(f"    by {label}: {', '.join(parts)}")
    return lines


#: How a field's moves read, in the order shown: (the matrix's list, its word).
#: Promotions are moves to a better value, whichever way the field's order runs.
MOVE_WORDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "lifecycle_stage": (("demotions", "worse"), ("promotions", "better")),
    "ladder_rung": (("promotions", "up"), ("demotions", "down")),
    "motivation_segment": (("moved", "changed"),),
    "value_class": (("demotions", "fell"), ("promotions", "rose")),
}


def migration_text(name: str, matrix: Any) -> str:
    """One line on a migration matrix: how many clients moved which way, entered, left."""
    default = (
        (("moved", "changed"),)
        if matrix.later_is_better is None
        else (("promotions", "better"), ("demotions", "worse"))
    )
    words = MOVE_WORDS.get(name, default)
    parts = [f"{len(getattr(matrix, kind))} {word}" for kind, word in words]
    parts.append(f"{len(matrix.stayed)} unchanged")
    if matrix.entered:
        parts.append(f"{len(matrix.entered)} new")
    if matrix.left:
        parts.append(f"{len(matrix.left)} gone")
    return ", ".join(parts)


def _money(text: str) -> str:
    from decimal import Decimal

    return f"{Decimal(text):,.2f}"


def render_summary(report: Report) -> str:
    """The summary as text, one fact per line."""
    return "\n".join(summary_lines(report)) + "\n"


def _plain(headers: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]]) -> str:
    widths = _widths(headers, rows)

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if headers[i][1] else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    out = [line([h for h, _ in headers]), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in rows)
    return "\n".join(out) + "\n"


def _widths(headers: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]]) -> list[int]:
    widths = [len(h) for h, _ in headers]
    for row in rows:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    return widths


def render_table(
    report: Report, *, rich: bool = False, view: View | None = None, width: int | None = None
) -> str:
    """The clients as a table, then the summary.

    Args:
        report: The report.
        rich: Draw with ``rich`` when it is installed (plain text otherwise).
        view: Which clients, in which order, which columns (default: all, by id).
        width: Fit the table in this many characters: the columns that do not
            fit are left out (most wanted kept, see :data:`PRIORITY`) and a line
            under the table names them. None: every column, however wide.
    """
    view = View() if view is None else view
    columns = _columns(report, view)
    cells = _cells(columns, report.columns)
    rows = [cells(c) for c in view.clients(report)]
    from relcycle.report import FRAME_KINDS

    numbers = ("count", "score", "figure", "money")
    headers = [(header, FRAME_KINDS.get(field) in numbers) for field, header in columns]
    if rich:
        try:
            from rich.console import Console
            from rich.table import Table
            from rich.text import Text
        except ImportError:
            rich = False
    dropped: list[str] = []
    if width is not None:
        widths = _widths(headers, rows)
        names = [field for field, _ in columns]
        # plain: two spaces between columns; rich: a border and a space each side
        kept = fit(widths, names, width, gap=3 if rich else 2, edge=4 if rich else 0)
        if len(kept) < len(columns):
            dropped = [columns[i][1] for i in range(len(columns)) if i not in kept]
            headers = [headers[i] for i in kept]
            rows = [[row[i] for i in kept] for row in rows]
    note = ""
    if dropped:
        note = (
            f"(left out to fit {width} columns: {', '.join(dropped)}; "
            "choose the columns with --columns)\n"
        )
    if not rich:
        return _plain(headers, rows) + note + "\n" + render_summary(report)
    table = Table(title=f"relcycle report as of {report.as_of.isoformat()}")
    for header, right in headers:
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: no markup in ids and names
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width or 100_000)
    console.print(table)
    console.print(note + render_summary(report), highlight=False, markup=False, end="")
    return buffer.getvalue()
