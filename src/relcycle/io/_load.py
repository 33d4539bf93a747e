"""The validation engine shared by every reader: rows in, records or problems out."""

from __future__ import annotations

import difflib
import hashlib
import shlex
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any, Literal

import attrs

from relcycle._gc import collector_paused
from relcycle._repr import count, short_repr
from relcycle.errors import InputError, Problem, RecordTypeError, UsageError, ValidationError
from relcycle.history import Portfolio, build_portfolio
from relcycle.model import Client, Complaint, FrozenMap, Interaction, Order

from ._parse import (
    BadCell,
    Marked,
    ParseOptions,
    Parsers,
    check_currency,
    make_parsers,
    names_id,
    parse_bool,
    parse_contacts,
    parse_currency,
    parse_id,
    parse_text,
    resolve_zone,
    vocab_parser,
)
from ._schema import TABLES, TableSpec

__all__ = [
    "DEFAULT_MAX_PROBLEMS",
    "ExtraColumns",
    "HistoryTables",
    "LoadResult",
    "RejectedRow",
    "Rename",
    "RowError",
    "TableCount",
    "TableInput",
    "currency_warning",
    "dict_rows",
    "fatal",
    "load_tables",
]

#: How many problems a strict load collects before it stops reading.
DEFAULT_MAX_PROBLEMS = 100

ExtraColumns = Literal["error", "ignore"]

#: A column mapping: table name (or ``"*"``: every table that has the column) ->
#: {contract column: the source's header}.
Rename = Mapping[str, Mapping[str, str]]

#: The currency of rows without one when the caller names none.
DEFAULT_CURRENCY = "USD"

#: A row as a source yields it: (source name, line or None, cells). Cells are a
#: sequence aligned with the header when the source has one, else a mapping.
Row = tuple[str, int | None, Sequence[object] | Mapping[str, object]]

_CACHE_LIMIT = 200_000

#: The types of typed cells (besides text) a column's cache keeps, keyed by
#: value. Only Arrow columns give them (JSON and SQLite give text, numbers and
#: booleans), and one Arrow column has one time zone and one decimal scale, so
#: equal cells there are equal in every digit: they share one parsed value, as
#: equal texts do (a Parquet file's amounts and moments, one object each).
_CACHED_TYPES = (datetime, date, Decimal)


class RowError(Exception):
    """A row a source could not split into cells (the whole row is bad).

    ``column`` names the cell at fault when there is one (a JSON key given twice).
    """

    def __init__(
        self,
        source: str,
        line: int | None,
        row: Mapping[str, object],
        reason: str,
        column: str | None = None,
    ):
        super().__init__(reason)
        self.source = source
        self.line = line
        self.row = row
        self.reason = reason
        self.column = column


def blank_row(cells: Sequence[object]) -> bool:
    """True for a row of a text file whose cells are all empty (``""`` or None):
    a blank line, or what a spreadsheet writes for an empty row (``,,,``). Such
    a row holds nothing, and every reader of text skips it."""
    return not any(cells)


class _Fatal(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("fatal input problem")
        self.problems = list(problems)


def fatal(problem: Problem) -> _Fatal:
    """Return the exception a source raises for a problem that stops the whole load."""
    return _Fatal([problem])


@attrs.frozen
class TableInput:
    """One table as a source delivers it.

    Attributes:
        table: The contract table name.
        source: The name shown in problems (a file name, ``store.db:orders``).
        columns: The column names when the source has a header (CSV, Parquet,
            SQLite), else None (JSON Lines, dicts: each row has its own keys).
        header_line: The line of the header (1 for CSV), for column problems.
        rows: A callable returning an iterator of rows. An item is either
            ``(source, line, cells)`` or a :class:`RowError`; ``cells`` is a
            sequence aligned with ``columns`` when there is a header, else a mapping.
        labels: The source's own header of each contract column read under a
            column mapping (problems and rejected rows name the source's header).
        text_only: True when every cell is a string (CSV): generated ids then hash
            the cells directly.
    """

    table: str
    source: str
    columns: tuple[str, ...] | None
    header_line: int | None
    rows: Callable[[], Iterator[Row | RowError]]
    text_only: bool = False
    labels: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class RejectedRow:
    """A row left out by a load with ``skip_bad_rows=True``, with every reason.

    Attributes:
        table: The contract table (``orders``).
        source: The file or table it came from.
        line: Its line (CSV/JSONL), row number (Parquet) or rowid (SQLite), if known.
        row: The row's cells as text (None for empty cells).
        problems: Why it was rejected (one per bad cell or check).
    """

    table: str
    source: str
    line: int | None
    row: FrozenMap[str, str | None]
    problems: tuple[Problem, ...]


@attrs.frozen
class TableCount:
    """How many rows of one table were read, loaded and rejected.

    Attributes:
        read: Data rows read.
        loaded: Records loaded.
        rejected: Rows rejected (only with ``skip_bad_rows``).
    """

    read: int = 0
    loaded: int = 0
    rejected: int = 0


@attrs.frozen
class HistoryTables:
    """A history as its four flat tables of records.

    Attributes:
        clients: The clients table, or None when clients are inferred from
            the records' ``client_id`` (no clients table, or an empty one).
        orders: The orders.
        interactions: The interactions.
        complaints: The complaints.
    """

    clients: tuple[Client, ...] | None
    orders: tuple[Order, ...] = ()
    interactions: tuple[Interaction, ...] = ()
    complaints: tuple[Complaint, ...] = ()

    def portfolio(self) -> Portfolio:
        """Group the records into a :class:`~relcycle.history.Portfolio`."""
        return build_portfolio(
            orders=self.orders,
            interactions=self.interactions,
            complaints=self.complaints,
            clients=self.clients,
        )

    @classmethod
    def from_portfolio(cls, portfolio: Portfolio) -> HistoryTables:
        """The flat tables of a portfolio.

        Clients are listed when any history's client was given (not inferred).
        """
        given = any(not h.client_inferred for h in portfolio)
        return cls(
            clients=tuple(h.client for h in portfolio) if given else None,
            orders=tuple(o for h in portfolio for o in h.orders),
            interactions=tuple(i for h in portfolio for i in h.interactions),
            complaints=tuple(c for h in portfolio for c in h.complaints),
        )

    def __len__(self) -> int:
        return len(self.orders) + len(self.interactions) + len(self.complaints)

    def __repr__(self) -> str:
        return short_repr(
            "HistoryTables",
            "clients inferred" if self.clients is None else count(len(self.clients), "client"),
            count(len(self.orders), "order"),
            count(len(self.interactions), "interaction"),
            count(len(self.complaints), "complaint"),
        )


@attrs.frozen
class LoadResult:
    """What a load returns: the records, the portfolio, and what was left out.

    Attributes:
        tables: The loaded records as flat tables, in source order (what the
            store ingests).
        rejects: Rows left out with their reasons (empty unless ``skip_bad_rows``).
        counts: Rows read, loaded and rejected per table name (tables that were
            present in the source).
        ignored_columns: Unknown columns left out per table (only with
            ``extra_columns="ignore"``).
        sources: The source name of each table that was present.
        warnings: What the load assumed that the caller should know (rows read
            in the default currency because neither they nor the caller named one).
        defaulted_currency: How many rows were read in the default currency
            (USD) because neither they nor the caller named one (what the
            warning counts; a Dask report adds its partitions' counts up).
    """

    tables: HistoryTables
    rejects: tuple[RejectedRow, ...] = ()
    counts: FrozenMap[str, TableCount] = attrs.field(factory=FrozenMap)
    ignored_columns: FrozenMap[str, tuple[str, ...]] = attrs.field(factory=FrozenMap)
    sources: FrozenMap[str, str] = attrs.field(factory=FrozenMap)
    warnings: tuple[str, ...] = ()
    defaulted_currency: int = 0
    _portfolio: Portfolio | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def portfolio(self) -> Portfolio:
        """The records grouped per client (built on first use, then kept)."""
        if self._portfolio is None:
            object.__setattr__(self, "_portfolio", self.tables.portfolio())
        assert self._portfolio is not None
        return self._portfolio

    @property
    def rejected(self) -> int:
        """The number of rows rejected."""
        return len(self.rejects)

    def __repr__(self) -> str:
        return short_repr(
            "LoadResult",
            repr(self.tables),
            count(self.rejected, "rejected row"),
            f"from {', '.join(sorted(self.sources.values()))}" if self.sources else "",
        )


# ---------------------------------------------------------------------- parsers per column


def _column_parsers(parsers: Parsers) -> dict[str, Callable[[object], Any]]:
    return {
        "id": parse_id,
        "text": parse_text,
        "datetime": parsers.parse_datetime,
        "money": parsers.money,
        "number": parsers.number,
        "bool": parse_bool,
        "currency": parse_currency,
        "contacts": parse_contacts,
    }


def _defaults(spec: TableSpec) -> dict[str, object]:
    out: dict[str, object] = {}
    for field in attrs.fields(spec.record):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            continue
        out[field.name] = None if default is attrs.NOTHING else default
    return out


def _canonical(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _shown(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _raw_row(cells: Mapping[str, object]) -> FrozenMap[str, str | None]:
    return FrozenMap(
        {str(k): (None if v is None or v == "" else _shown(v)) for k, v in cells.items()}
    )


def _hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Collector:
    def __init__(self, *, strict: bool, cap: int) -> None:
        self.strict = strict
        self.cap = cap
        self.count = 0
        self.per_table: dict[str, list[Problem]] = {}
        self.truncated = False
        self.labels: dict[str, Mapping[str, str]] = {}

    def add(self, table: str, problem: Problem) -> Problem:
        """Record a problem (naming the source's header of a mapped column) and return it."""
        labels = self.labels.get(table)
        if labels and problem.column is not None and problem.column in labels:
            problem = attrs.evolve(problem, column=labels[problem.column])
        if self.count >= self.cap:
            self.truncated = True
            if self.strict:
                raise _Stop
            return problem
        self.count += 1
        self.per_table.setdefault(table, []).append(problem)
        return problem

    def all(self) -> list[Problem]:
        return in_load_order(self.per_table)


def in_load_order(per_table: Mapping[str, Iterable[Problem]]) -> list[Problem]:
    """Problems by table in the order a load gives them: table by table (the
    contract's tables first), row by row within each."""
    out: list[Problem] = []
    for spec in TABLES:
        out.extend(sorted(per_table.get(spec.name, ()), key=lambda p: (p.source, p.line or 0)))
    for name, found in per_table.items():
        if name not in {s.name for s in TABLES}:
            out.extend(found)
    return out


class _Stop(Exception):
    pass


# ---------------------------------------------------------------------- the engine


def check_read_options(
    *, currency: str | None, parse: ParseOptions | None, extra_columns: ExtraColumns
) -> None:
    """Refuse a bad ``currency``, ``parse`` or ``extra_columns`` of a load (UsageError)."""
    if currency is not None:
        check_currency(currency)
    if parse is not None and not isinstance(parse, ParseOptions):
        raise UsageError(f"parse must be a ParseOptions, not {type(parse).__name__}")
    if extra_columns not in ("error", "ignore"):
        raise UsageError(f"extra_columns must be 'error' or 'ignore', not {extra_columns!r}")


def currency_warning(rows: int, currency: str) -> str:
    """The warning of a load that read ``rows`` rows in the default ``currency``."""
    return (
        f"{rows} row(s) have no currency and no currency was given: read as {currency}, "
        "the default; name the currency with --currency CODE (currency= in Python)"
    )


def load_tables(
    inputs: Mapping[str, TableInput],
    *,
    tz: str | tzinfo = "UTC",
    currency: str | None = None,
    skip_bad_rows: bool = False,
    extra_columns: ExtraColumns = "error",
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    missing_orders: Problem | None = None,
    parse: ParseOptions | None = None,
    rename: Rename | None = None,
    clients_given: bool = False,
) -> LoadResult:
    """Validate the rows of up to four tables and build the records and portfolio.

    Args:
        inputs: The tables present, by contract name.
        tz: The zone of datetimes without an offset.
        currency: The currency of amounts whose row has no ``currency``; None
            reads them in USD and says so in :attr:`LoadResult.warnings`.
        skip_bad_rows: Leave bad rows out (listed in ``rejects``) instead of failing.
        extra_columns: ``"error"`` (default) refuses unknown columns of orders,
            interactions and complaints; ``"ignore"`` leaves them out and lists
            them in ``ignored_columns``. Unknown columns of clients are always
            kept as client attributes.
        max_problems: Stop a strict load after this many problems.
        missing_orders: The problem to report when there is no orders table.
        parse: How cells are written (see :class:`ParseOptions`).
        rename: The source's headers of contract columns (see :data:`Rename`).
        clients_given: The rows are a part of a source whose clients table is
            not empty (a range of a store's clients): records must name a client
            of ``inputs["clients"]`` even when that part holds no client row.

    Raises:
        InputError: With every problem found (up to ``max_problems``); with
            ``skip_bad_rows`` only for problems no row skipping can fix (a missing
            required column, an unreadable file).
        UsageError: For a bad ``tz``, ``currency`` or ``extra_columns``.
    """
    zone = resolve_zone(tz)
    check_read_options(currency=currency, parse=parse, extra_columns=extra_columns)
    if max_problems < 1:
        raise UsageError("max_problems must be at least 1")
    unknown_tables = sorted(set(inputs) - {s.name for s in TABLES})
    if unknown_tables:
        raise UsageError(f"unknown table(s): {', '.join(unknown_tables)}")
    if "orders" not in inputs:
        raise InputError([missing_orders or Problem("orders", None, None, None, "no orders table")])
    if rename:
        from ._rename import apply_rename

        try:
            inputs = apply_rename(inputs, rename)
        except _Fatal as exc:
            raise InputError(exc.problems) from None
    loader = _Loader(
        parsers=make_parsers(zone, parse),
        currency=currency,
        skip=skip_bad_rows,
        extra_columns=extra_columns,
        collector=_Collector(strict=not skip_bad_rows, cap=max_problems),
        clients_given=clients_given,
    )
    try:
        # a table of records that all live on: a collection would walk them again and again
        with collector_paused():
            return loader.run(inputs)
    except _Fatal as exc:
        raise InputError(exc.problems) from None
    except _Stop:
        raise InputError(loader.collector.all(), truncated=True) from None


@attrs.define
class _TableOut:
    records: list[Any]
    rejects: list[RejectedRow]
    count: TableCount
    ignored: tuple[str, ...]


class _Loader:
    def __init__(
        self,
        *,
        parsers: Parsers,
        currency: str | None,
        skip: bool,
        extra_columns: ExtraColumns,
        collector: _Collector,
        clients_given: bool = False,
    ) -> None:
        self.clients_given = clients_given
        self.parsers = parsers
        self.by_kind = _column_parsers(parsers)
        self.currency = currency or DEFAULT_CURRENCY
        self.currency_given = currency is not None
        self.defaulted = 0
        #: Sources whose columns without a name were left out (all their cells empty).
        self.nameless: list[str] = []
        self.skip = skip
        self.extra_columns = extra_columns
        self.collector = collector
        self.known_clients: set[str] | None = None

    def run(self, inputs: Mapping[str, TableInput]) -> LoadResult:
        self.collector.labels = {t: inp.labels for t, inp in inputs.items() if inp.labels}
        self._check_columns(inputs)
        outs: dict[str, _TableOut] = {}
        for spec in TABLES:
            table_input = inputs.get(spec.name)
            if table_input is None:
                continue
            outs[spec.name] = self._table(spec, table_input)
            if (
                spec.name == "clients"
                and outs["clients"].count.read == 0
                and not self.clients_given
            ):
                self.known_clients = None
        problems = self.collector.all()
        if problems and not self.skip:
            raise InputError(problems, truncated=self.collector.truncated)
        clients_out = outs.get("clients")
        clients = (
            tuple(clients_out.records)
            if clients_out is not None and (clients_out.count.read > 0 or self.clients_given)
            else None
        )
        tables = HistoryTables(
            clients=clients,
            orders=tuple(outs["orders"].records),
            interactions=tuple(outs["interactions"].records) if "interactions" in outs else (),
            complaints=tuple(outs["complaints"].records) if "complaints" in outs else (),
        )
        rejects: list[RejectedRow] = []
        for spec in TABLES:
            if spec.name in outs:
                rejects.extend(outs[spec.name].rejects)
        return LoadResult(
            tables=tables,
            rejects=tuple(rejects),
            counts=FrozenMap({name: out.count for name, out in outs.items()}),
            ignored_columns=FrozenMap(
                {name: out.ignored for name, out in outs.items() if out.ignored}
            ),
            sources=FrozenMap({name: inp.source for name, inp in inputs.items()}),
            warnings=(
                *self.nameless,
                *(
                    (currency_warning(self.defaulted, self.currency),)
                    if self.defaulted and not self.currency_given
                    else ()
                ),
            ),
            defaulted_currency=0 if self.currency_given else self.defaulted,
        )

    # ------------------------------------------------------------------ columns

    def _check_columns(self, inputs: Mapping[str, TableInput]) -> None:
        problems: list[Problem] = []
        for spec in TABLES:
            inp = inputs.get(spec.name)
            if inp is None or inp.columns is None:
                continue
            seen: set[str] = set()
            for name in inp.columns:
                if not name:
                    continue  # a column without a name: its cells must be empty (rows)
                if name in seen:
                    reason = "the column occurs twice"
                    if name in inp.labels:
                        reason = (
                            f"the column mapping reads {inp.labels[name]!r} as {name}, "
                            "a column the source also has"
                        )
                    problems.append(Problem(inp.source, inp.header_line, name, None, reason))
                seen.add(name)
            for name in spec.required:
                if name not in seen:
                    problems.append(
                        Problem(
                            inp.source,
                            inp.header_line,
                            name,
                            None,
                            "required column is missing"
                            + _hint(name, [c for c in inp.columns if c not in spec.names]),
                        )
                    )
            if spec.name != "clients" and self.extra_columns == "error":
                for name in inp.columns:
                    if name and name not in spec.names:
                        problems.append(_unknown_column(spec, inp.source, inp.header_line, name))
        if problems:
            raise _Fatal(problems)

    # ------------------------------------------------------------------ rows

    def _table(self, spec: TableSpec, inp: TableInput) -> _TableOut:
        collector = self.collector
        add = collector.add
        table = spec.name
        skip = self.skip
        by_kind = self.by_kind
        known_names = set(spec.names)
        header = inp.columns
        is_clients = table == "clients"
        id_column = spec.id_column
        # Rows with a header are sequences aligned with it; rows without one are
        # mappings, turned into sequences aligned with the contract's columns.
        layout = header if header is not None else spec.names
        position = {name: i for i, name in enumerate(layout)}
        plan: list[tuple[int, str, Callable[[object], Any], dict[object, Any] | None, bool]] = []
        for col in spec.columns:
            if col.name == id_column and not is_clients:
                continue
            if col.name not in position:
                continue
            parser = (
                vocab_parser(
                    col.vocab,
                    col.values,
                    self.parsers.spellings.get(table, {}).get(col.name),
                    f"{table}.{col.name}",
                )
                if col.kind == "vocab"
                else by_kind[col.kind]
            )
            cache: dict[object, Any] | None = None if col.kind == "contacts" else {}
            plan.append((position[col.name], col.name, parser, cache, col.required))
        extras: list[tuple[int, str]] = []
        ignored: list[str] = []
        if header is not None:
            for i, name in enumerate(header):
                if name and name not in known_names:
                    if is_clients:
                        extras.append((i, name))
                    else:
                        ignored.append(name)
        parse_cells = _compile(plan)
        # Columns without a name (a spreadsheet's trailing empty columns): left out
        # when every cell is empty, each filled cell a problem of its row.
        nameless = [i for i, name in enumerate(header or ()) if not name]
        mapping_extras: list[str] = []
        id_index = position.get(id_column, -1) if not is_clients else -1
        key_index = [position.get(n, -1) for n in spec.names if n != id_column]
        text_only = inp.text_only
        default_currency = self.currency if "currency" in known_names else None
        prefix = spec.id_prefix
        # generated id (its first form, the record's own string) -> rows that gave it
        occurrences: dict[str, int] = {}
        cls = spec.record
        check_refs = not is_clients and self.known_clients is not None
        known = self.known_clients if self.known_clients is not None else set()
        # id -> its record (no int per record: at scale these maps set the load's
        # peak memory); where each record came from, as an int: the line for
        # sources with lines, else the row's 0-based index (dict rows)
        first_seen: dict[str, Any] = {}
        origins = array("q")
        # id(record) -> index in ``records``, made at the first duplicate only
        positions: dict[int, int] | None = None
        base_source = inp.source
        dup_reported: set[str] = set()
        # id -> where a bad row carrying it was (source, line, index in rejects or -1)
        bad_seen: dict[str, tuple[str, int | None, int]] = {}
        records: list[Any] = []
        append = records.append
        rejects: list[RejectedRow] = []
        dead: set[int] = set()
        read = 0
        valid_ids: set[str] = set()
        blake2b = hashlib.blake2b
        names = spec.names
        parsers = self.parsers
        money_columns = [c.name for c in spec.columns if c.kind == "money"]

        for item in inp.rows():
            read += 1
            if isinstance(item, RowError):
                problem = Problem(item.source, item.line, item.column, None, item.reason)
                problem = add(table, problem)
                if skip:
                    rejects.append(
                        RejectedRow(table, item.source, item.line, _raw_row(item.row), (problem,))
                    )
                continue
            source, line, row = item
            if header is None:
                mapping: Mapping[str, object] = row  # type: ignore[assignment]
                cells: Sequence[object] = [mapping.get(n) for n in names]
                unknown_keys = mapping.keys() - known_names
                if unknown_keys:
                    for key in sorted(map(str, unknown_keys)):
                        if is_clients:
                            if key not in mapping_extras:
                                mapping_extras.append(key)
                        elif self.extra_columns == "ignore":
                            if key not in ignored:
                                ignored.append(key)
                        else:
                            raise _Fatal([_unknown_column(spec, source, line, key)])
            else:
                cells = row  # type: ignore[assignment]
            kw, errors = parse_cells(cells)
            if nameless:
                for i in nameless:
                    if cells[i] not in (None, ""):
                        errors = [
                            *(errors or ()),
                            (
                                f"#{i + 1}",
                                cells[i],
                                "a column without a name holds a value: name the column "
                                "in the header, or delete it",
                            ),
                        ]
            if parsers.marked:
                errors = _check_markers(
                    kw, errors, money_columns, self.currency_given, self.currency, cells, position
                )
            bad: list[Problem] | None = None
            if errors is not None:
                bad = []
                for name, raw, reason in errors:
                    p = Problem(source, line, name, None if raw is None else _shown(raw), reason)
                    p = add(table, p)
                    bad.append(p)
            if is_clients:
                if "client_id" in kw:
                    valid_ids.add(kw["client_id"])
                attributes: dict[str, str] = {}
                pairs: list[tuple[str, object]] = [(n, cells[i]) for i, n in extras]
                if mapping_extras:
                    pairs.extend((n, mapping.get(n)) for n in mapping_extras)
                for name, raw in pairs:
                    if raw is None or raw == "":
                        continue
                    try:
                        attributes[name] = parse_text(raw)
                    except BadCell as exc:
                        p = Problem(source, line, name, _shown(raw), exc.reason)
                        p = add(table, p)
                        bad = [p] if bad is None else [*bad, p]
                if attributes:
                    kw["attributes"] = attributes
                if "contact_persons" in kw:
                    kw["contacts"] = kw.pop("contact_persons")
            else:
                raw_id = cells[id_index] if id_index >= 0 else None
                if names_id(raw_id):
                    # The id cell is checked on every row, so a duplicate is found
                    # even when the row has other bad cells.
                    try:
                        kw[id_column] = parse_id(raw_id)
                    except BadCell as exc:
                        p = Problem(source, line, id_column, _shown(raw_id), exc.reason)
                        p = add(table, p)
                        bad = [p] if bad is None else [*bad, p]
                elif bad is None:
                    if text_only:
                        key = "\x1f".join([cells[i] if i >= 0 else "" for i in key_index])  # type: ignore[misc]
                    else:
                        key = "\x1f".join(
                            [_key_text(cells[i]) if i >= 0 else "" for i in key_index]
                        )
                    generated = f"{prefix}-{blake2b(key.encode(), digest_size=6).hexdigest()}"
                    n = occurrences.get(generated, 0) + 1
                    if n == 1:
                        occurrences[generated] = 1
                        kw[id_column] = generated
                    else:
                        # keyed by the first record's id string: no string of its own
                        occurrences[generated] = n
                        kw[id_column] = f"{generated}-{n}"
                if bad is None and default_currency is not None and "currency" not in kw:
                    kw["currency"] = default_currency
                    if any(name in kw for name in money_columns):
                        self.defaulted += 1  # an amount read in the default currency
            record: Any = None
            if bad is None:
                try:
                    record = cls(**kw)
                except (ValidationError, RecordTypeError) as exc:
                    field = "contact_persons" if exc.field == "contacts" else exc.field
                    raw = cells[position[field]] if field in position else None
                    reason = exc.reason if isinstance(exc, ValidationError) else str(exc)
                    p = Problem(source, line, field, None if raw is None else _shown(raw), reason)
                    p = add(table, p)
                    bad = [p]
            # The checks across rows run on every row whose cells they need are
            # valid, bad row or not: every problem is reported (up to the cap).
            if check_refs:
                client_id = kw.get("client_id")
                if client_id is not None and client_id not in known:
                    p = Problem(
                        source, line, "client_id", client_id, "no such client in the clients table"
                    )
                    p = add(table, p)
                    bad = [p] if bad is None else [*bad, p]
            rid = kw.get(id_column)
            if rid is None:
                pass
            elif rid in first_seen:
                if positions is None:
                    positions = {id(r): i for i, r in enumerate(records)}
                first_index = positions[id(first_seen[rid])]
                origin = origins[first_index]
                if line is None:
                    first_source, first_line = f"{base_source}[{origin}]", None
                else:
                    first_source, first_line = source, origin
                p = duplicate_id(source, line, id_column, rid, first_source, first_line)
                p = add(table, p)
                bad = [p] if bad is None else [*bad, p]
                if rid not in dup_reported:
                    dup_reported.add(rid)
                    p0 = duplicate_id(first_source, first_line, id_column, rid, source, line)
                    p0 = add(table, p0)
                    if skip:
                        dead.add(first_index)
                        first = records[first_index]
                        rejects.append(
                            RejectedRow(
                                table,
                                first_source,
                                first_line,
                                _raw_row(first.to_dict()),
                                (p0,),
                            )
                        )
            elif rid in bad_seen:
                # The id's first row was bad itself (it is not among the records).
                first_source, first_line, reject_index = bad_seen[rid]
                p = duplicate_id(source, line, id_column, rid, first_source, first_line)
                p = add(table, p)
                bad = [p] if bad is None else [*bad, p]
                if rid not in dup_reported:
                    dup_reported.add(rid)
                    p0 = duplicate_id(first_source, first_line, id_column, rid, source, line)
                    p0 = add(table, p0)
                    if reject_index >= 0:
                        earlier = rejects[reject_index]
                        rejects[reject_index] = attrs.evolve(
                            earlier, problems=(*earlier.problems, p0)
                        )
            elif bad is None:
                if positions is not None:
                    positions[id(record)] = len(records)
                first_seen[rid] = record
                origins.append(read - 1 if line is None else line)
                append(record)
            else:
                bad_seen[rid] = (source, line, len(rejects) if skip else -1)
            if bad is not None and skip:
                raw_cells = (
                    dict(row)  # type: ignore[arg-type]
                    if header is None
                    else dict(zip(header, cells, strict=True))
                )
                if inp.labels:
                    raw_cells = {inp.labels.get(k, k): v for k, v in raw_cells.items()}
                rejects.append(RejectedRow(table, source, line, _raw_row(raw_cells), tuple(bad)))

        if dead:
            records = [r for i, r in enumerate(records) if i not in dead]
        if is_clients:
            self.known_clients = {r.client_id for r in records} if skip else valid_ids
        rejects.sort(key=lambda r: (r.source, r.line or 0))
        if nameless:
            numbers = ", ".join(f"#{i + 1}" for i in nameless)
            self.nameless.append(
                f"{base_source}: {len(nameless)} column(s) without a name ({numbers}) left "
                "out: they hold no value in the rows loaded"
            )
        return _TableOut(
            records=records,
            rejects=rejects,
            count=TableCount(read=read, loaded=len(records), rejected=len(rejects)),
            ignored=tuple(ignored),
        )


#: Why an empty cell of a required column is refused.
REQUIRED = "a value is required (the cell is empty)"

_Errors = list[tuple[str, object, str]]


def _error(errors: _Errors | None, name: str, raw: object, reason: str) -> _Errors:
    if errors is None:
        errors = []
    errors.append((name, raw, reason))
    return errors


def _check_markers(
    kw: dict[str, Any],
    errors: _Errors | None,
    money_columns: Sequence[str],
    given: bool,
    default: str,
    cells: Sequence[object],
    position: Mapping[str, int],
) -> _Errors | None:
    """Replace marked amounts by their amount when the marker agrees with the row's currency."""
    for name in money_columns:
        value = kw.get(name)
        if not isinstance(value, Marked):
            continue
        del kw[name]
        currency = kw.get("currency", default)
        if currency in value.codes:
            kw[name] = value.amount
            continue
        reason = marker_reason(value, currency, in_row="currency" in kw, given=given)
        errors = _error(errors, name, cells[position[name]], reason)
    return errors


def marker_reason(value: Marked, currency: str, *, in_row: bool, given: bool) -> str:
    """Why a marked amount is refused: its marker is not the row's currency.

    Args:
        value: The marked amount.
        currency: The row's currency.
        in_row: True if the row names its currency, False if it is the default.
        given: True if the caller named the default currency.
    """
    if in_row:
        whose = f"the row's currency is {currency}"
    elif given:
        whose = f"the currency given for rows without one is {currency}"
    else:
        whose = (
            f"the row has no currency and none was given (read as {currency}, the "
            "default): name it with --currency CODE (currency= in Python)"
        )
    return f"the amount is marked {value.marker!r} ({'/'.join(sorted(value.codes))}) but {whose}"


def _compile(
    plan: Sequence[tuple[int, str, Callable[[object], Any], dict[object, Any] | None, bool]],
) -> Callable[[Sequence[object]], tuple[dict[str, Any], _Errors | None]]:
    """Generate the row parser of one table layout: one straight-line block per column.

    The hot path of every load: a cell found in its column's cache costs a lookup,
    with no loop, tuple unpacking or call per cell. Cells that fail are returned as
    ``(column, raw value, reason)``.
    """
    namespace: dict[str, Any] = {
        "BadCell": BadCell,
        "_error": _error,
        "_REQUIRED": REQUIRED,
        "LIMIT": _CACHE_LIMIT,
        "TYPED": _CACHED_TYPES,
    }
    lines = ["def parse_cells(cells):", "    kw = {}", "    errors = None"]
    for i, (index, name, parser, cache, required) in enumerate(plan):
        namespace[f"p{i}"] = parser
        namespace[f"c{i}"] = cache
        lines.append(f"    raw = cells[{index}]")
        lines.append('    if raw is None or raw == "":')
        if required:
            lines.append(f"        errors = _error(errors, {name!r}, None, _REQUIRED)")
        else:
            lines.append("        pass")
        if cache is not None:
            lines.append(
                f"    elif ((t := type(raw)) is str or t in TYPED)"
                f" and (v := c{i}.get(raw)) is not None:"
            )
            lines.append(f"        kw[{name!r}] = v")
        lines.append("    else:")
        lines.append("        try:")
        lines.append(f"            v = p{i}(raw)")
        lines.append("        except BadCell as exc:")
        lines.append(f"            errors = _error(errors, {name!r}, raw, exc.reason)")
        lines.append("        else:")
        lines.append(f"            kw[{name!r}] = v")
        if cache is not None:
            lines.append(f"            if (t is str or t in TYPED) and len(c{i}) < LIMIT:")
            lines.append(f"                c{i}[raw] = v")
    lines.append("    return kw, errors")
    exec(compile("\n".join(lines), f"<relcycle row parser {id(plan):x}>", "exec"), namespace)
    parse: Callable[[Sequence[object]], tuple[dict[str, Any], _Errors | None]]
    parse = namespace["parse_cells"]
    return parse


def _key_text(value: object) -> str:
    if value is None:
        return ""
    return _shown(value)


def _where(source: str, line: int | None) -> str:
    return source if line is None else f"{source}:{line}"


def duplicate_id(
    source: str, line: int | None, column: str, rid: str, other: str, other_line: int | None
) -> Problem:
    """The problem of a row whose id ``rid`` another row (``other:other_line``) has too.

    Each row of a duplicate id gets one: the first row names the second, every
    later row names the first.
    """
    return Problem(source, line, column, rid, f"duplicate id (also at {_where(other, other_line)})")


def _unknown_column(spec: TableSpec, source: str, line: int | None, name: str) -> Problem:
    return Problem(
        source,
        line,
        name,
        None,
        f"unknown column of {spec.name}{_hint(name, spec.names)}; known columns: "
        f"{', '.join(spec.names)}; read it as one of them with --map "
        f"{spec.name}.COLUMN={shlex.quote(name)} or leave it out with --ignore-extra-columns "
        "(rename= or extra_columns='ignore' in Python)",
    )


def dict_rows(table: str, rows: Iterable[object]) -> TableInput:
    """A table from in-memory dict rows (sources are named ``table[index]``)."""

    def gen() -> Iterator[Row | RowError]:
        for index, row in enumerate(rows):
            source = f"{table}[{index}]"
            if not isinstance(row, Mapping):
                yield RowError(
                    source, None, {}, f"a row must be a mapping, not {type(row).__name__}"
                )
                continue
            yield (source, None, row)

    return TableInput(table=table, source=table, columns=None, header_line=None, rows=gen)
