"""The terminal rendering: a table of clients and the summary below it.

The table has the report's columns, then one per extra column
(:attr:`relcycle.report.ReportPolicies.columns`); the summary counts the extra
columns' values too.

With ``rich`` installed (the ``cli`` extra) and ``rich=True`` the table is drawn
with rich; otherwise it is plain text in aligned columns, which is also what
goes into a pipe.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relcycle.report import ClientReport, Report

__all__ = [
    "COLUMNS",
    "MOVE_WORDS",
    "counted",
    "migration_text",
    "render_summary",
    "render_table",
    "summary_lines",
]

#: The table's columns: (header, right-aligned).
COLUMNS: tuple[tuple[str, bool], ...] = (
    ("client", False),
    ("stage", False),
    ("rung", False),
    ("segment", False),
    ("class", False),
    ("regularity", False),
    ("rfm", False),
    ("orders", True),
    ("contacts", True),
    ("requests", True),
    ("open", True),
    ("revenue", True),
    ("profit", True),
    ("risks", False),
)


def _row(c: ClientReport) -> list[str]:
    rfm = c.rfm
    rfm_text = "-" if rfm.r is None else f"{rfm.r}{rfm.f}{rfm.m} {rfm.segment}"
    return [
        c.client_id,
        c.lifecycle_stage.value,
        c.ladder_rung.value + ("" if c.active else " (left)"),
        c.motivation_segment.value,
        c.value_class.value,
        c.regularity.value,
        rfm_text,
        str(c.orders),
        str(c.contacts),
        str(c.requests),
        str(c.complaints_open),
        f"{c.revenue.amount:,.2f}",
        "-" if c.profit is None else f"{c.profit.amount:,.2f}",
        ", ".join(c.risk_flags) or "-",
    ]


def _text(value: object) -> str:
    """An extra column's value in a table cell (``-`` for None)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """A count and its noun, singular for exactly one: ``1 client``, ``3 clients``.

    Args:
        count: How many.
        noun: The noun in the singular.
        plural: The plural when it is not ``noun + "s"``.

    Returns:
        The count, a space and the noun in the right number.
    """
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


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
    ]
    if s.get("top_share") is not None:
        lines.append(
            f"  top {s['top_fraction']:.0%} of clients hold {s['top_share']:.1%} of revenue"
        )
    lines.append(f"  loss reasons: {_counts_line(s['loss_reasons'])}")
    lines.append(f"  risks:       {_counts_line(s['risks'])}")
    for name, counts in s.get("columns", {}).items():
        lines.append(f"  {name.replace('_', ' ')}: {_counts_line(counts)}")
    if s.get("rejected_rows") is not None:
        lines.append(f"  rejected rows (skipped when loading): {s['rejected_rows']}")
    if report.migrations is not None and report.compare_to is not None:
        lines.append(f"  since {report.compare_to.isoformat()}:")
        for name, matrix in report.migrations.items():
            lines.append(f"    {name.replace('_', ' ')}: {migration_text(name, matrix)}")
    return lines


#: How moves along each field's order read: (to a later value, to an earlier value).
MOVE_WORDS: Mapping[str, tuple[str, str]] = {
    "lifecycle_stage": ("worse", "better"),
    "ladder_rung": ("up", "down"),
    "motivation_segment": ("changed", "changed"),
    "value_class": ("fell", "rose"),
}


def migration_text(name: str, matrix: Any) -> str:
    """One line on a migration matrix: how many clients moved which way, entered, left."""
    later, earlier = MOVE_WORDS.get(name, ("to a later value", "to an earlier value"))
    ups, downs = len(matrix.promotions), len(matrix.demotions)
    if later == earlier:
        parts = [f"{ups + downs} {later}"]
    else:
        parts = [f"{ups} {later}", f"{downs} {earlier}"]
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
    widths = [len(h) for h, _ in headers]
    for row in rows:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if headers[i][1] else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    out = [line([h for h, _ in headers]), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in rows)
    return "\n".join(out) + "\n"


def render_table(report: Report, *, rich: bool = False) -> str:
    """The clients as a table, then the summary.

    Args:
        report: The report.
        rich: Draw with ``rich`` when it is installed (plain text otherwise).
    """
    headers = COLUMNS + tuple((name.replace("_", " "), False) for name in report.columns)
    rows = [_row(c) + [_text(c.columns[name].value) for name in report.columns] for c in report]
    if rich:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            rich = False
    if not rich:
        return _plain(headers, rows) + "\n" + render_summary(report)
    table = Table(title=f"relcycle report as of {report.as_of.isoformat()}")
    for header, right in headers:
        table.add_column(header, justify="right" if right else "left")
    for row in rows:
        table.add_row(*row)
    buffer = io.StringIO()
    width = shutil.get_terminal_size((160, 24)).columns
    console = Console(file=buffer, force_terminal=True, width=width)
    console.print(table)
    console.print(render_summary(report), highlight=False, markup=False)
    return buffer.getvalue()
