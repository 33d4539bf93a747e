"""The ``relcycle`` command line (the imperative shell around the library).

Commands::

    relcycle report SOURCE [--as-of T] [--compare-to T0] [--format FORMAT] [--output PATH]
                           [--columns A,B] [--top N] [--sort FIELD [--desc]]
                           [--csv-nested] [--csv-raw-formulas]
                           [--tz ZONE] [--currency CODE] [--skip-bad-rows --rejects PATH]
                           [--engine auto|python|arrow|dask] [--workers N] [--scheduler ADDR]
                           [--column MODULE:NAME ...] [--policy FILE]
    relcycle ingest SOURCE --db FILE [--tz ZONE] [--currency CODE]
    relcycle check SOURCE [--tz ZONE] [--currency CODE]
    relcycle demo [--clients N] [--seed S] [--out DIR] [--output PATH]
    relcycle diagram lifecycle|ladder|funnel [--format mermaid|dot]
    relcycle policy --print-defaults [--output FILE]

``report``, ``ingest`` and ``check`` read a source's own layout with the input
options ``--map [TABLE.]COLUMN=HEADER`` (repeatable), ``--day-first``,
``--date-format FMT``, ``--decimal-comma``, ``--money-places N`` and
``--ignore-extra-columns``.

Exit codes: 0 success, 1 bad input data (every problem is listed on stderr as
``FILE:LINE: column COLUMN: value 'VALUE': reason`` and no output is written), 2 a
usage error. No traceback reaches the user for bad data. Results go to stdout (or
``--output``); progress goes to stderr, and only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from . import __version__
from ._zones import resolve_zone
from .errors import InputError, OutputError, RelcycleError, UsageError

if TYPE_CHECKING:
    from .io import LoadResult
    from .report import Report

__all__ = [
    "DEMO_OUTPUT",
    "ENGINES",
    "build_parser",
    "choose_engine",
    "main",
    "parse_moment",
]

#: The machines ``relcycle diagram`` can draw: name -> "module:attribute" of a TransitionTable.
DIAGRAMS: dict[str, str] = {
    "lifecycle": "relcycle.lifecycle:TABLE",
    "ladder": "relcycle.ladder:TABLE",
    "funnel": "relcycle.funnel:TABLE",
}

#: Where ``relcycle demo`` writes its HTML report unless ``--output`` says otherwise.
DEMO_OUTPUT = "relcycle-demo-report.html"

#: The demo report's migration matrices compare with the portfolio this long before its end.
DEMO_COMPARE = timedelta(days=182)

#: The policy file ``relcycle demo --out DIR`` writes to DIR: the report's policies
#: with the simulated supplier's cost rates.
DEMO_POLICY = "policy.toml"

#: The output formats of ``relcycle report``.
REPORT_FORMATS = ("table", "json", "jsonl", "csv", "html")


def _cmd_diagram(args: argparse.Namespace) -> int:
    module_name, attr = DIAGRAMS[args.machine].split(":")
    table = getattr(importlib.import_module(module_name), attr)
    text = table.to_mermaid() if args.format == "mermaid" else table.to_dot()
    sys.stdout.write(text)
    return 0


# --------------------------------------------------------------------------- helpers


def _zone(name: str) -> tzinfo:
    return resolve_zone(name, what="--tz")


def parse_moment(text: str, zone: tzinfo, *, option: str = "--as-of") -> datetime:
    """Parse an ISO 8601 moment given on the command line.

    A date alone means midnight; a value without an offset is read in ``zone``
    (as the readers read cells): a local time that does not exist there (a
    daylight-saving gap) is refused, an ambiguous one (the repeated hour) is the
    earlier instant. The result carries the fixed UTC offset of that instant.

    Raises:
        UsageError: If the text is not ISO 8601, names a local time that does
            not exist in ``zone``, or a year outside the supported years
            (:data:`relcycle.model.EARLIEST_YEAR` to :data:`relcycle.model.LATEST_YEAR`).
    """
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: not an ISO 8601 date or datetime (e.g. 2024-03-31 or "
            "2024-03-31T18:00+02:00)"
        ) from None
    from .model import EARLIEST_YEAR, LATEST_YEAR

    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise UsageError(
            f"{option} {text!r}: outside the supported years {EARLIEST_YEAR}-{LATEST_YEAR}"
        )
    if len(value) == 10:  # a date alone
        moment = datetime.combine(moment.date(), time())
    if moment.tzinfo is None:
        from dateutil import tz as dtz

        from .io._parse import zone_name

        local = moment.replace(tzinfo=zone, fold=0)
        if not dtz.datetime_exists(local):
            raise UsageError(
                f"{option} {text!r}: this local time does not exist in time zone "
                f"{zone_name(zone)} (a daylight-saving gap); write it with an explicit "
                "UTC offset, such as +02:00"
            )
        offset = local.utcoffset()
        assert offset is not None
        moment = moment.replace(tzinfo=timezone(offset) if offset else UTC)
    return moment


def _progress() -> Callable[[int, int], None] | None:
    """A stderr progress line, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\rrelcycle: assessing clients {done:,}/{total:,}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _emit(text: str | Iterable[str], output: str | None) -> None:
    """Write ``text`` (or its chunks) to ``--output`` (see ``relcycle._output``), or to stdout."""
    if output is None or output == "-":
        try:
            for chunk in [text] if isinstance(text, str) else text:
                sys.stdout.write(chunk)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:  # a full disk behind `> FILE`, a closed terminal
            _silence_stdout()
            raise OutputError(path="stdout", reason=exc.strerror or str(exc)) from None
        return
    from ._output import atomic_write

    atomic_write(output, text)


def _render(report: Report, fmt: str, output: str | None, view: Any = None) -> Iterator[str]:
    from .render import iter_render

    to_stdout = output is None or output == "-"
    rich = fmt == "table" and to_stdout and sys.stdout.isatty()
    # the terminal's width (or $COLUMNS); no limit into a pipe or a file
    width = (shutil.get_terminal_size((0, 0)).columns or None) if to_stdout else None
    return iter_render(report, fmt, rich=rich, view=view, width=width)


# --------------------------------------------------------------------------- output options

#: The format an ``--output`` file's extension asks for.
EXTENSIONS: dict[str, str] = {
    ".txt": "table",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
}


def _add_output_options(report: argparse.ArgumentParser) -> None:
    """``relcycle report``'s options on what the output shows and how CSV is written."""
    report.add_argument(
        "--columns",
        metavar="A,B,...",
        help="show these columns, in this order (the CSV header's names; table, csv, json, jsonl)",
    )
    report.add_argument("--top", type=int, metavar="N", help="show only the first N clients")
    report.add_argument(
        "--sort",
        metavar="FIELD",
        help="order the clients by FIELD (default: client id), or by 'priority': most "
        "urgent action first, its urgency moved by the value class, then by value",
    )
    report.add_argument("--desc", action="store_true", help="with --sort: largest first")
    report.add_argument(
        "--csv-nested",
        action="store_true",
        help="csv: keep rfm, risks, actions, evidence, changed as JSON text in one cell",
    )
    report.add_argument(
        "--csv-raw-formulas",
        action="store_true",
        help="csv: write cells starting with = + - @ as they are (no leading ')",
    )


def _output_choice(args: argparse.Namespace) -> tuple[str, Any]:
    """The format (``--format``, else the ``--output`` extension) and the view.

    Raises:
        UsageError: If ``--format`` and the extension disagree, the extension is
            unknown without ``--format``, or an output option is wrong. A name
            without an extension (``/dev/null``, ``report``) gets the default format.
    """
    from .render.view import View

    fmt: str | None = args.format
    output: str | None = args.output
    if output is not None and output != "-":
        suffix = Path(output).suffix.lower()
        implied = EXTENSIONS.get(suffix)
        if fmt is None:
            # A name without an extension (a device such as /dev/null, a pipe, a
            # plain name) gets the default format, as a shell redirection would;
            # an extension the report does not write is a mistake worth stopping.
            if implied is None and suffix:
                known = ", ".join(EXTENSIONS)
                raise UsageError(
                    f"--output {output!r}: no format for {suffix} (known: {known}); give --format"
                )
            fmt = implied
        elif implied is not None and implied != fmt:
            raise UsageError(
                f"--format {fmt} does not match --output {output!r} (a {suffix} file is "
                f"--format {implied}): change one of them"
            )
    if args.desc and args.sort is None:
        raise UsageError("--desc needs --sort FIELD")
    columns = None
    if args.columns is not None:
        columns = tuple(name.strip() for name in args.columns.split(",") if name.strip())
    view = View(
        columns=columns,
        top=args.top,
        sort=args.sort,
        descending=args.desc,
        csv_nested=args.csv_nested,
        csv_raw_formulas=args.csv_raw_formulas,
    )
    return fmt or "table", view


# --------------------------------------------------------------------------- input options


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that read a source's own layout (report, ingest, check)."""
    group = parser.add_argument_group("reading a source's own layout")
    group.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="[TABLE.]COLUMN=HEADER",
        help="read the source's column HEADER as the contract's COLUMN (repeatable); "
        "without TABLE, in every table whose source has HEADER: --map "
        "orders.client_id='Customer ID'",
    )
    group.add_argument(
        "--day-first",
        action="store_true",
        help="read DD/MM/YYYY (or DD.MM.YYYY, DD-MM-YYYY) dates day first",
    )
    group.add_argument(
        "--date-format",
        metavar="FMT",
        help="read every datetime cell with this strptime format, e.g. '%%d/%%m/%%Y %%H:%%M'",
    )
    group.add_argument(
        "--decimal-comma",
        action="store_true",
        help="numbers use a decimal comma: 1.200,50 is 1200.50",
    )
    group.add_argument(
        "--money-places",
        type=int,
        metavar="N",
        help="accept floating-point money (Parquet float columns), rounded half-even to N places",
    )
    group.add_argument(
        "--delimiter",
        default=",",
        metavar="CHAR",
        type=_delimiter,
        help="the character between a CSV file's cells: ',' (default), ';', '|' or tab",
    )
    group.add_argument(
        "--encoding",
        default="utf-8",
        metavar="NAME",
        help="the text encoding of CSV and JSON Lines files: utf-8 (default), or "
        "another such as cp1252 (spreadsheets saved on Windows)",
    )
    group.add_argument(
        "--map-value",
        nargs=3,
        action="append",
        default=[],
        metavar=("TABLE.COLUMN", "SPELLING", "VALUE"),
        help="read SPELLING in a column of fixed values as VALUE, e.g. "
        "--map-value orders.status Completed delivered (repeatable)",
    )
    group.add_argument(
        "--ignore-extra-columns",
        action="store_true",
        help="leave unknown columns of orders, interactions and complaints out",
    )


def _delimiter(text: str) -> str:
    """``--delimiter``: one character, or ``tab`` (a tab is awkward to type in a shell)."""
    return "\t" if text.strip().lower() in ("tab", "\\t") else text


def _value_flags(flags: list[list[str]]) -> dict[str, dict[str, dict[str, str]]]:
    """``--map-value TABLE.COLUMN SPELLING VALUE`` flags as ``ParseOptions.values``."""
    values: dict[str, dict[str, dict[str, str]]] = {}
    for where, spelling, value in flags:
        table, dot, column = where.partition(".")
        if not dot or not table or not column:
            raise UsageError(
                f"--map-value {where!r}: name the column as TABLE.COLUMN, "
                "e.g. --map-value orders.status Completed delivered"
            )
        values.setdefault(table, {}).setdefault(column, {})[spelling] = value
    return values


def _input_options(args: argparse.Namespace) -> dict[str, Any]:
    """The reader keywords of the input options (``rename``, ``parse``, ``extra_columns``)."""
    from .io import ParseOptions
    from .io._rename import parse_map_flags

    parse = ParseOptions(
        day_first=args.day_first,
        date_format=args.date_format,
        decimal_comma=args.decimal_comma,
        money_places=args.money_places,
        delimiter=args.delimiter,
        encoding=args.encoding,
        values=_value_flags(args.map_value),
    )
    return {
        "rename": parse_map_flags(args.map) or None,
        "parse": None if parse.is_default else parse,
        "extra_columns": "ignore" if args.ignore_extra_columns else "error",
    }


#: The library's hints for Python callers, "(... in Python)", left out of CLI messages.
_PYTHON_HINT = re.compile(r" ?\((?:[^()]|\([^()]*\))*\bin Python\)")


def _say(text: str) -> None:
    """Print a message on stderr with only the hints that apply to the command line."""
    print(_PYTHON_HINT.sub("", text), file=sys.stderr)


def _warn(warnings: Iterable[str]) -> None:
    for warning in warnings:
        _say(f"relcycle: warning: {warning}")


# --------------------------------------------------------------------------- report


def _load(
    source: str, zone: tzinfo, currency: str | None, skip: bool, read: dict[str, Any]
) -> LoadResult:
    from .io import load_history

    return load_history(source, tz=zone, currency=currency, skip_bad_rows=skip, **read)


ENGINES = ("auto", "python", "arrow", "dask")


def _installed(*modules: str) -> bool:
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in modules)


def choose_engine(engine: str, source: str) -> str:
    """The engine ``relcycle report`` runs: ``engine`` itself, or auto's choice.

    ``auto`` picks the engine that is faster *and* not heavier on memory for
    the input, measured side by side (``bench/bench_engines.py``, figures in
    ``bench/README.md``). No input measured gives that to ``arrow``: from 2,000
    simulated clients to CDNOW x10 it takes 0.54 to 1.22 times the python
    engine's time (faster on the smaller inputs, slower on CDNOW x10) and 2.3 to
    3.9 times its peak memory on every one, while the python engine keeps its
    portfolio and its lines in temporary files. So ``auto`` is ``python``, whatever the
    ``source``; ``--engine arrow`` is the choice when time matters more than
    memory.

    Raises:
        UsageError: If ``arrow`` or ``dask`` is asked for without its extra.
    """
    if engine == "auto":
        return "python"
    if engine == "arrow" and not _installed("polars", "pyarrow"):
        raise UsageError("--engine arrow needs polars and pyarrow: pip install 'relcycle[arrow]'")
    if engine == "dask" and not _installed("dask", "distributed"):
        raise UsageError("--engine dask needs dask and distributed: pip install 'relcycle[dask]'")
    return engine


def _policies(args: argparse.Namespace) -> Any:
    """``ReportPolicies`` of ``--policy FILE`` (or the defaults) plus the ``--column`` columns."""
    from .errors import ValidationError
    from .policy import column_from_spec, load_policies
    from .report import ReportPolicies

    try:
        policies = ReportPolicies() if args.policy is None else load_policies(args.policy)
    except ValidationError as exc:  # the policy file is the user's configuration
        raise UsageError(f"--policy {exc}") from None
    if not args.column:
        return policies
    columns = [*policies.columns, *(column_from_spec(spec) for spec in args.column)]
    return attrs.evolve(policies, columns=columns)


def _cmd_policy(args: argparse.Namespace) -> int:
    if not args.print_defaults:
        raise UsageError("policy: give --print-defaults")
    from .policy import policies_to_toml
    from .report import ReportPolicies

    _emit(policies_to_toml(ReportPolicies()), args.output)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    if args.rejects and not args.skip_bad_rows:
        raise UsageError("--rejects needs --skip-bad-rows")
    if args.skip_bad_rows and not args.rejects:
        raise UsageError("--skip-bad-rows needs --rejects PATH (where the skipped rows go)")
    policies = _policies(args)  # the policy file first: fail before reading the source
    if not os.path.exists(args.source):
        raise UsageError(f"SOURCE {args.source!r}: no such file or folder")
    from ._output import check_outputs

    check_outputs(args.source, {"--output": args.output, "--rejects": args.rejects})
    fmt, view = _output_choice(args)
    zone = _zone(args.tz)
    as_of = None if args.as_of is None else parse_moment(args.as_of, zone)
    compare_to = (
        None
        if args.compare_to is None
        else parse_moment(args.compare_to, zone, option="--compare-to")
    )
    engine = choose_engine(args.engine, args.source)
    keep = fmt == "html"  # the page explains; other formats stream
    read = _input_options(args)
    if engine == "dask":
        report = _dask_report(args, zone, as_of, compare_to, policies, read)
    else:
        with _scratch(keep) as spill_dir:
            if engine == "arrow":
                if args.workers is not None and args.workers > 1:
                    raise UsageError(
                        f"--workers {args.workers}: the arrow engine runs in one process; "
                        "worker processes apply to the python and dask engines"
                    )
                from .columnar import build_report as columnar_report
                from .columnar import read_tables

                loaded: Any = read_tables(
                    args.source,
                    tz=zone,
                    currency=args.currency,
                    skip_bad_rows=args.skip_bad_rows,
                    **read,
                )
                _warn(loaded.warnings)
                rejected = _write_rejects(args, loaded)
                options = _report_options(args, rejected, as_of, compare_to, zone, keep, policies)
                report = _with_load_warnings(
                    columnar_report(loaded, spill_dir=spill_dir, **options), loaded.warnings
                )
                del loaded  # the lines are in the spill: the tables can go before writing
                _emit(_render(report, fmt, args.output, view), args.output)
                return 0
            with _python_portfolio(args, zone, read) as (portfolio, rejected, warnings):
                options = _report_options(args, rejected, as_of, compare_to, zone, keep, policies)
                from .report import build_report

                workers = _cpus() if args.workers is None else args.workers
                report = _with_load_warnings(
                    build_report(portfolio, spill_dir=spill_dir, workers=workers, **options),
                    warnings,
                )
                # rendered while the portfolio is open: the HTML page looks histories up
                _emit(_render(report, fmt, args.output, view), args.output)
            return 0
    if engine == "dask":
        # the load's assumptions are in the report, worded for Python callers
        report = attrs.evolve(
            report, warnings=tuple(_PYTHON_HINT.sub("", w) for w in report.warnings)
        )
        _warn(report.warnings)
    _emit(_render(report, fmt, args.output, view), args.output)
    return 0


def _cpus() -> int:
    """The CPUs this process may run on (the python engine's default ``--workers``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of 1 or more: {text!r}")
    return value


@contextlib.contextmanager
def _python_portfolio(
    args: argparse.Namespace, zone: tzinfo, read: dict[str, Any]
) -> Iterator[tuple[Any, int | None, tuple[str, ...]]]:
    """The python engine's portfolio, read client by client from a store.

    A relcycle store is read as it is (checked first, then client by client);
    any other source is loaded (every check and message of the loader), its
    rows written to a temporary store, and the loaded records let go. The
    temporary store's folder is removed however the report ends. Yields the
    portfolio, what stands for the load's rejects (see :func:`_report_options`)
    and the load's warnings.
    """
    from .store import is_store, read_store, spilled

    plain = not (args.skip_bad_rows or read["rename"] or read["parse"])
    if plain and is_store(args.source):
        with read_store(
            args.source,
            tz=zone,
            currency=args.currency,
            extra_columns=read["extra_columns"],
        ) as stored:
            _warn(stored.warnings)
            yield stored, None, stored.warnings
        return
    loaded = _load(args.source, zone, args.currency, args.skip_bad_rows, read)
    warnings = loaded.warnings
    _warn(warnings)
    rejected = _write_rejects(args, loaded)
    with _terminate_cleanly(), spilled(loaded, tz=zone, currency=args.currency) as portfolio:
        del loaded  # ``spilled`` emptied its tables: the records are in the store now
        yield portfolio, rejected, warnings


@contextlib.contextmanager
def _scratch(keep: bool) -> Iterator[str | None]:
    """A temporary folder for the report's lines (None: the HTML page keeps them in memory).

    The python and arrow engines write each client's line there as it is
    assessed, so the report holds a few figures per client while it is built and
    written, not every line; the folder is removed however the report ends.
    """
    if keep:
        yield None
        return
    import tempfile

    with _terminate_cleanly(), tempfile.TemporaryDirectory(prefix="relcycle-report-") as folder:
        yield folder


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into an exit that runs the cleanups (the temporary store is removed)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_rejects(args: argparse.Namespace, loaded: Any) -> int | None:
    if not args.skip_bad_rows:
        return None
    from .io import write_rejects

    write_rejects(loaded.rejects, args.rejects)
    if loaded.rejected:
        from .render.table import counted

        print(
            f"relcycle: skipped {counted(loaded.rejected, 'bad row')}; see {args.rejects}",
            file=sys.stderr,
        )
    return int(loaded.rejected)


def _report_options(
    args: argparse.Namespace,
    rejected: int | None,
    as_of: datetime | None,
    compare_to: datetime | None,
    zone: tzinfo,
    keep: bool,
    policies: Any,
) -> dict[str, Any]:
    """The report's keywords; ``rejected``: the rows skipped (None: no --skip-bad-rows)."""
    return {
        "as_of": as_of,
        "compare_to": compare_to,
        "currency": args.currency,
        "tz": zone,
        "rejected_rows": rejected,
        "progress": _progress(),
        "keep_assessments": keep,
        "policies": policies,
    }


def _with_load_warnings(report: Report, warnings: tuple[str, ...]) -> Report:
    """The report carrying what loading assumed (said when it loaded); its own warnings said."""
    if not warnings:
        _warn(report.warnings)
        return report
    import attrs

    assumed = tuple(_PYTHON_HINT.sub("", w) for w in warnings)
    report = attrs.evolve(report, warnings=(*assumed, *report.warnings))
    _warn(report.warnings[len(assumed) :])
    return report


def _undecodable(files: Iterable[Path], encoding: str) -> Exception:
    """The problem of the first of ``files`` that holds a byte ``encoding`` does not
    define, named by its file and line as the other engines' reader names it."""
    from .io._csv import decode_problem

    for file in files:
        problem = decode_problem(file, file.name, encoding)
        if problem is not None:
            return InputError([problem])
    return UsageError(f"a CSV file is not valid {encoding} text")


def _dask_report(
    args: argparse.Namespace,
    zone: tzinfo,
    as_of: datetime | None,
    compare_to: datetime | None,
    policies: Any,
    read: dict[str, Any],
) -> Report:
    """``relcycle report --engine dask``: the report on a Dask cluster.

    The input options (``read``: ``--map``, the parse options,
    ``--ignore-extra-columns``) apply as on the other engines; ``--delimiter``
    and ``--encoding`` are also how the CSV files are split into cells.
    """
    if as_of is None:
        raise UsageError(
            "--engine dask needs --as-of (a distributed table has no cheap latest moment)"
        )
    if compare_to is not None:
        raise UsageError("--engine dask does not compute migrations: drop --compare-to")
    if args.skip_bad_rows:
        raise UsageError("--engine dask fails on bad rows: drop --skip-bad-rows")
    from .dask import build_report as dask_report

    dd: Any = importlib.import_module("dask.dataframe")
    distributed: Any = importlib.import_module("distributed")

    folder = Path(args.source)
    if not folder.is_dir():
        raise UsageError(f"--engine dask reads a folder of CSV or Parquet tables, not {folder}")
    from .io import ParseOptions, table_files
    from .io._csv import text_encoding

    parse: ParseOptions = read["parse"] or ParseOptions()
    tables: dict[str, Any] = {}
    sources: dict[str, tuple[str, int]] = {}  # problems name a file's row or line
    csv_files: dict[str, Path] = {}
    for name, file in table_files(folder).items():
        if file.suffix == ".parquet":
            tables[name] = dd.read_parquet(file)
            sources[name] = (file.name, 0)
        elif file.suffix == ".csv":
            csv_files[name] = file
            try:  # dask reads the file's first rows here
                tables[name] = dd.read_csv(
                    file,
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                    skip_blank_lines=False,
                    sep=parse.delimiter,
                    encoding=text_encoding(parse.encoding),
                )
            except UnicodeDecodeError:
                raise _undecodable([file], parse.encoding) from None
            sources[name] = (file.name, 1)
        else:
            raise UsageError(
                f"{file}: --engine dask reads CSV and Parquet tables, not JSON Lines; "
                "use --engine python or arrow, or write the table as CSV or Parquet"
            )
    if "orders" not in tables:
        raise UsageError(f"{folder}: no orders.csv or orders.parquet")
    if args.scheduler:
        client = distributed.Client(args.scheduler)
        cluster = None
    else:
        # The cluster's own log lines (a shuffle's start, a task that failed with
        # the input's problems, which relcycle reports itself) stay off stderr.
        # Its HTTP server takes a free port: on dask's own (8787, which None also
        # means) it would warn whenever another cluster or notebook holds it.
        cluster = distributed.LocalCluster(
            n_workers=2 if args.workers is None else args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )
        client = distributed.Client(cluster)
    try:
        orders = tables.pop("orders")
        report: Report = dask_report(
            orders,
            as_of=as_of,
            currency=args.currency,
            tz=zone,
            policies=policies,
            sources=sources,
            **read,
            **tables,
        )
    except UnicodeDecodeError:
        raise _undecodable(csv_files.values(), parse.encoding) from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return report


# --------------------------------------------------------------------------- ingest


def _cmd_ingest(args: argparse.Namespace) -> int:
    from .store import ingest

    zone = _zone(args.tz)
    if not os.path.exists(args.source):
        raise UsageError(f"SOURCE {args.source!r}: no such file or folder")
    result = ingest(args.source, args.db, tz=zone, currency=args.currency, **_input_options(args))
    if result.load is not None:
        _warn(result.load.warnings)
    added = ", ".join(f"{k} {v}" for k, v in result.added.items())
    unchanged = ", ".join(f"{k} {v}" for k, v in result.unchanged.items())
    from .render.table import counted

    total = counted(result.total_added, "record")
    print(f"{args.db}: added {total} ({added}); already stored: {unchanged}{_respelled(result)}")
    return 0


def _respelled(result: Any) -> str:
    """The ingest summary's note on records stored with the same values spelled otherwise."""
    if not result.respelled:
        return ""
    from .render.table import counted

    tables = ", ".join(f"{k} {v}" for k, v in result.respelled.items())
    n = sum(result.respelled.values())
    return f"; {counted(n, 'record')} ({tables}) spelled differently, same values: kept as stored"


# --------------------------------------------------------------------------- check


def _cmd_check(args: argparse.Namespace) -> int:
    from .io import load_history, suggest_mapping
    from .io._rename import map_flags
    from .render.table import counted

    zone = _zone(args.tz)
    if not os.path.exists(args.source):
        raise UsageError(f"SOURCE {args.source!r}: no such file or folder")
    read = _input_options(args)
    try:
        result = load_history(args.source, tz=zone, currency=args.currency, **read)
    except InputError as exc:
        _say(f"relcycle: {exc}")
        proposal = suggest_mapping(args.source, rename=read["rename"], parse=read["parse"])
        if proposal:
            print(
                "relcycle: these headers look like contract columns; to read them so, "
                "add to the command:\n  " + " ".join(map_flags(proposal)),
                file=sys.stderr,
            )
        return 1
    _warn(result.warnings)
    for table, count in result.counts.items():
        print(f"{table} ({result.sources[table]}): {counted(count.loaded, 'row')}")
    for table, names in result.ignored_columns.items():
        print(f"{table}: ignored columns: {', '.join(names)}")
    clients = len(result.portfolio)
    inferred = "" if result.tables.clients is not None else " (inferred from the records)"
    print(f"{args.source}: valid; {counted(clients, 'client')}{inferred}")
    return 0


# --------------------------------------------------------------------------- demo


def _cmd_demo(args: argparse.Namespace) -> int:
    from .render.table import render_summary
    from .report import ReportPolicies, build_report

    if args.clients < 1:
        raise UsageError("--clients must be at least 1")
    from .simulate import simulate_portfolio

    simulated = simulate_portfolio(args.clients, seed=args.seed)
    portfolio = simulated.portfolio()
    # the simulated supplier's own cost rates: the report shows profit
    policies = ReportPolicies(cost_rates=simulated.cost_rates)
    as_of, compare_to = simulated.as_of, simulated.as_of - DEMO_COMPARE
    again = None
    if args.out is not None:
        from ._output import atomic_write
        from .io import write_history
        from .policy import policies_to_toml

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_history(portfolio, out)
        atomic_write(str(out / DEMO_POLICY), policies_to_toml(policies))
        again = shlex.join(
            [
                "relcycle",
                "report",
                str(out),
                "--policy",
                str(out / DEMO_POLICY),
                "--as-of",
                as_of.isoformat(),
                "--compare-to",
                compare_to.isoformat(),
            ]
        )
    report = build_report(
        portfolio, as_of=as_of, compare_to=compare_to, policies=policies, progress=_progress()
    )
    from .render.html import render_html

    output = args.output or DEMO_OUTPUT
    _emit(render_html(report, title="relcycle demo portfolio"), output)
    sys.stdout.write(render_summary(report))
    print(f"relcycle: wrote {output}", file=sys.stderr)
    if again is not None:
        print(
            f"relcycle: wrote the history and {DEMO_POLICY} to {args.out}; "
            f"`{again}` gives this report",
            file=sys.stderr,
        )
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``relcycle`` command."""
    parser = argparse.ArgumentParser(
        prog="relcycle",
        description="Model how a supplier wins, keeps and loses its business clients.",
    )
    parser.add_argument("--version", action="version", version=f"relcycle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    report = sub.add_parser(
        "report",
        help="evaluate every client as of a moment and write the portfolio report",
        description=(
            "Read a client history (a folder of CSV, JSONL or Parquet files, or a SQLite "
            "store) and write one record per client: lifecycle stage, ladder rung, "
            "segments, RFM figures, counts, money, risks and recommended actions."
        ),
    )
    report.add_argument("source", metavar="SOURCE", help="a folder of tables or a SQLite file")
    report.add_argument(
        "--as-of",
        metavar="T",
        help="evaluate as of this ISO 8601 moment (default: the latest record)",
    )
    report.add_argument(
        "--compare-to",
        metavar="T0",
        help="an earlier moment: add migration matrices from T0 to T",
    )
    report.add_argument(
        "--format",
        choices=REPORT_FORMATS,
        help="output format (default: the --output extension's, else table: a terminal "
        "table and the summary)",
    )
    report.add_argument(
        "--output", metavar="PATH", help="write here (atomically) instead of stdout"
    )
    report.add_argument(
        "--tz", metavar="ZONE", default="UTC", help="zone of times without an offset (UTC)"
    )
    report.add_argument(
        "--currency", metavar="CODE", help="currency of orders without one, and of the report"
    )
    report.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="skip bad rows instead of failing (needs --rejects)",
    )
    report.add_argument(
        "--rejects", metavar="PATH", help="with --skip-bad-rows: write skipped rows here"
    )
    report.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="python: the object path, bounded memory, in worker processes (--workers); "
        "arrow: the columnar path (the arrow extra), in one process, 2-4x the memory; dask: "
        "a Dask cluster (the dask extra); auto (default): the faster engine that is not "
        "heavier on memory, measured: python",
    )
    report.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="processes that assess the clients: with the python engine (default: the "
        "machine's CPUs; 1 assesses them in this process), or the local cluster's with "
        "--engine dask (2)",
    )
    report.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: use this running cluster instead of a local one",
    )
    _add_input_options(report)
    _add_output_options(report)
    report.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="add an extra column: a relcycle.report.Column importable as MODULE:NAME "
        "(repeatable; added to the policies' columns)",
    )
    report.add_argument(
        "--policy",
        metavar="FILE",
        help="read thresholds, service levels, cost rates and the playbook from this TOML "
        "file (see `relcycle policy --print-defaults`)",
    )
    report.set_defaults(func=_cmd_report)

    policy = sub.add_parser(
        "policy",
        help="print the report's default policies as a commented TOML policy file",
        description="Write the defaults of every report policy as a commented TOML file, "
        "to edit and pass to `relcycle report --policy FILE`.",
    )
    policy.add_argument("--print-defaults", action="store_true", help="write the defaults")
    policy.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    policy.set_defaults(func=_cmd_policy)

    ingest = sub.add_parser(
        "ingest",
        help="load a history into the embedded SQLite store",
        description=(
            "Validate a history and write it into a SQLite store in one transaction: "
            "all or nothing, idempotent, incremental."
        ),
    )
    ingest.add_argument("source", metavar="SOURCE", help="a folder of tables or a SQLite file")
    ingest.add_argument("--db", metavar="FILE", required=True, help="the SQLite store")
    ingest.add_argument("--tz", metavar="ZONE", default="UTC")
    ingest.add_argument("--currency", metavar="CODE")
    _add_input_options(ingest)
    ingest.set_defaults(func=_cmd_ingest)

    check = sub.add_parser(
        "check",
        help="validate a history without reporting; propose a column mapping",
        description=(
            "Read and validate a history as report would, and print the rows per table "
            "(exit 0) or every problem (exit 1). When headers do not match the contract, "
            "propose --map flags from the headers the source has."
        ),
    )
    check.add_argument("source", metavar="SOURCE", help="a folder of tables or a SQLite file")
    check.add_argument(
        "--tz", metavar="ZONE", default="UTC", help="zone of times without an offset (UTC)"
    )
    check.add_argument("--currency", metavar="CODE", help="currency of rows without one")
    _add_input_options(check)
    check.set_defaults(func=_cmd_check)

    demo = sub.add_parser(
        "demo",
        help="generate a synthetic portfolio and write its HTML report",
        description=(
            "Simulate a deterministic portfolio (same seed, same data), write its HTML "
            f"report (default ./{DEMO_OUTPUT}) and print the summary."
        ),
    )
    demo.add_argument("--clients", type=int, default=200, metavar="N", help="clients (200)")
    demo.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (0)")
    demo.add_argument(
        "--out", metavar="DIR", help="also write the generated history as contract CSV here"
    )
    demo.add_argument(
        "--output", metavar="PATH", help=f"the HTML report's path (default {DEMO_OUTPUT})"
    )
    demo.set_defaults(func=_cmd_demo)

    diagram = sub.add_parser(
        "diagram",
        help="print a state machine as a Mermaid or Graphviz diagram",
        description="Print the lifecycle, the ladder or the sales funnel as a diagram "
        "(text, no dependency).",
    )
    diagram.add_argument("machine", choices=sorted(DIAGRAMS))
    diagram.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    diagram.set_defaults(func=_cmd_diagram)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.func(args)
    except UsageError as exc:
        _say(f"relcycle: error: {exc}")
        return 2
    except InputError as exc:
        _say(f"relcycle: {exc}")
        if args.command in ("report", "ingest") and any(
            p.reason.startswith("required column is missing") for p in exc.problems
        ):
            _say(
                f"relcycle: `relcycle check {shlex.quote(args.source)}` proposes --map flags "
                "that read the source's own headers as the contract's columns"
            )
        return 1
    except RelcycleError as exc:
        _say(f"relcycle: error: {exc}")
        return 1
    except BrokenPipeError:  # pragma: no cover - `relcycle ... | head`
        _silence_stdout()
        return 0
    return code


def _silence_stdout() -> None:
    """Point stdout at the null device, so Python's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
