"""Renderers of a :class:`~relcycle.report.Report`: table, JSON, JSON Lines, CSV and HTML.

:func:`render` turns a report into the text of one format; :func:`write_report`
writes it to a file atomically (a temporary file in the target directory, then
:func:`os.replace`), so a failed run never leaves a partial output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from relcycle.errors import UsageError

if TYPE_CHECKING:
    from relcycle.report import Report

__all__ = ["FORMATS", "atomic_write", "render", "write_report"]

#: The output formats, by ``--format`` name.
FORMATS: tuple[str, ...] = ("table", "json", "jsonl", "csv", "html")


def render(report: Report, fmt: str = "table", *, rich: bool = False) -> str:
    """Return the report as text in format ``fmt``.

    Args:
        report: The report.
        fmt: One of :data:`FORMATS`.
        rich: For ``table``: draw with ``rich`` (the ``cli`` extra) when it is installed.

    Raises:
        UsageError: For an unknown format.
    """
    if fmt == "table":
        from .table import render_table

        return render_table(report, rich=rich)
    if fmt == "json":
        from .formats import render_json

        return render_json(report)
    if fmt == "jsonl":
        from .formats import render_jsonl

        return render_jsonl(report)
    if fmt == "csv":
        from .formats import render_csv

        return render_csv(report)
    if fmt == "html":
        from .html import render_html

        return render_html(report)
    raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def atomic_write(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    The text goes to a temporary file in the target directory, is flushed to disk,
    then renamed over ``path``; on any failure the temporary file is removed and
    ``path`` is untouched.

    Raises:
        OSError: If the directory cannot be written.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_report(report: Report, path: str | os.PathLike[str], fmt: str = "json") -> None:
    """Render ``report`` in format ``fmt`` and write it to ``path`` atomically."""
    atomic_write(path, render(report, fmt))
