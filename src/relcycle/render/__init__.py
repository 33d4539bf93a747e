"""Renderers of a :class:`~relcycle.report.Report`: table, JSON, JSON Lines, CSV and HTML.

:func:`render` turns a report into the text of one format; :func:`write_report`
writes it to a file atomically (a temporary file in the target directory, then
:func:`os.replace`), so a failed run never leaves a partial output.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from relcycle.errors import UsageError
from relcycle.render.view import View

if TYPE_CHECKING:
    from relcycle.report import Report

__all__ = ["FORMATS", "View", "atomic_write", "iter_render", "render", "write_report"]

#: The output formats, by ``--format`` name.
FORMATS: tuple[str, ...] = ("table", "json", "jsonl", "csv", "html")


def iter_render(
    report: Report,
    fmt: str = "table",
    *,
    rich: bool = False,
    view: View | None = None,
    width: int | None = None,
) -> Iterator[str]:
    """The report in format ``fmt`` as chunks of text, so a large report streams.

    JSON, JSON Lines and CSV are produced a client (or a batch of clients) at a
    time; the table and the page come as one chunk.

    Args:
        report: The report.
        fmt: One of :data:`FORMATS`.
        rich: For ``table``: draw with ``rich`` (the ``cli`` extra) when it is installed.
        view: Which clients, in which order, which columns; how CSV is written
            (default: every client by id, every column, flat and safe CSV).
        width: For ``table``: fit the table in this many characters (None: no limit).

    Raises:
        UsageError: For an unknown format, a view the format cannot show (``html``
            shows the whole report; the CSV options are for ``csv``).
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    view = View() if view is None else view
    if fmt == "html" and not view.is_default:
        raise UsageError(
            "--format html shows the whole report: --columns, --top, --sort, --desc and "
            "the CSV options apply to table, csv, json and jsonl"
        )
    if fmt != "csv" and (view.csv_nested or view.csv_raw_formulas):
        raise UsageError(f"--csv-nested and --csv-raw-formulas apply to --format csv, not {fmt}")
    return _chunks(report, fmt, rich, view, width)


def _chunks(report: Report, fmt: str, rich: bool, view: View, width: int | None) -> Iterator[str]:
    if fmt == "table":
        from relcycle.render.table import render_table

        yield render_table(report, rich=rich, view=view, width=width)
    elif fmt == "json":
        from relcycle.render.formats import iter_json

        yield from iter_json(report, view)
    elif fmt == "jsonl":
        from relcycle.render.formats import iter_jsonl

        yield from iter_jsonl(report, view)
    elif fmt == "csv":
        from relcycle.render.formats import iter_csv

        yield from iter_csv(report, view)
    else:
        from relcycle.render.html import render_html

        yield render_html(report)


def render(
    report: Report,
    fmt: str = "table",
    *,
    rich: bool = False,
    view: View | None = None,
    width: int | None = None,
) -> str:
    """Return the report as text in format ``fmt`` (see :func:`iter_render`).

    Raises:
        UsageError: For an unknown format, or a view the format cannot show.
    """
    return "".join(iter_render(report, fmt, rich=rich, view=view, width=width))


def atomic_write(path: str | os.PathLike[str], text: str | Iterable[str]) -> None:
    """Write ``text`` (UTF-8; a string or chunks of one) to ``path`` atomically.

    The text goes to a temporary file in the target directory, is flushed to disk,
    then renamed over ``path``; on any failure (also while the chunks are being
    produced) the temporary file is removed and ``path`` is untouched.

    Raises:
        OSError: If the directory cannot be written.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if isinstance(text, str):
                fh.write(text)
            else:
                for chunk in text:
                    fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give the report the permissions any
        # new file gets (or those of the file it replaces), as a plain open() would.
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _mode_for(target: Path) -> int:
    """The permission bits a file written at ``target`` should get."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def write_report(
    report: Report, path: str | os.PathLike[str], fmt: str = "json", *, view: View | None = None
) -> None:
    """Render ``report`` in format ``fmt`` (with ``view``) and write it to ``path`` atomically."""
    atomic_write(path, iter_render(report, fmt, view=view))
