"""Short reprs and notebook HTML of relcycle's containers: counts, not contents.

A portfolio of a million orders must not print a million orders: every container
(:class:`~relcycle.history.Portfolio`, :class:`~relcycle.history.ClientHistory`,
:class:`~relcycle.report.Report`, the loaders' results, ...) shows how many of
what it holds, and its notebook view a small table of the first rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["HTML_ROWS", "count", "html_card", "short_repr"]

#: How many rows a notebook view lists before "... and N more".
HTML_ROWS = 10


def count(number: int, noun: str, plural: str | None = None) -> str:
    """``1 order``, ``2,345 orders``: a count and its noun in the right number."""
    return f"{number:,} {noun if number == 1 else (plural or noun + 's')}"


def short_repr(name: str, *parts: str) -> str:
    """``<Name: part, part>``: a repr that says what the object holds, not all of it."""
    body = ", ".join(p for p in parts if p)
    return f"<{name}: {body}>" if body else f"<{name}>"


def html_card(
    title: str,
    facts: Iterable[tuple[str, object]] = (),
    *,
    headers: Sequence[str] = (),
    rows: Iterable[Sequence[object]] = (),
    total: int | None = None,
) -> str:
    """A small HTML block for a notebook: a title, facts and the first rows of a table.

    Every text is escaped. ``None`` shows as an empty cell.

    Args:
        title: The heading.
        facts: ``(label, value)`` pairs shown as a two-column table.
        headers: The row table's column headers (no table without them).
        rows: The table's rows; only the first :data:`HTML_ROWS` are shown.
        total: How many rows there are in all (for "... and N more").

    Returns:
        The HTML fragment (no script, no external resource).
    """

    def cell(value: object) -> str:
        return "" if value is None else escape(str(value))

    out = [f'<div class="relcycle-card"><strong>{escape(title)}</strong>']
    fact_rows = "".join(
        f'<tr><th style="text-align:left">{escape(label)}</th><td style="text-align:left">'
        f"{cell(value)}</td></tr>"
        for label, value in facts
    )
    if fact_rows:
        out.append(f"<table>{fact_rows}</table>")
    if headers:
        shown = 0
        body = []
        for row in rows:
            if shown == HTML_ROWS:
                break
            body.append(
                "<tr>"
                + "".join(f'<td style="text-align:left">{cell(v)}</td>' for v in row)
                + "</tr>"
            )
            shown += 1
        head = "".join(f'<th style="text-align:left">{escape(h)}</th>' for h in headers)
        out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
        if total is not None and total > shown:
            out.append(f"<p>... and {total - shown:,} more</p>")
    out.append("</div>")
    return "".join(out)
