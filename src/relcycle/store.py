"""The embedded store: a history kept in one SQLite file, appended to safely.

The store's layout is the contract's: tables ``clients``, ``orders``,
``interactions`` and ``complaints`` with the contract's column names (all TEXT, so
money and times keep their exact text), so :func:`relcycle.io.load_history` reads a
store like any SQLite source, in one read transaction (a consistent snapshot even
while an ingest writes). Client attributes are extra columns of ``clients``.
Two bookkeeping tables (``relcycle_meta``, ``relcycle_ingests``) are ignored by readers.

:func:`ingest` validates everything first, then writes in one explicit
transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) in WAL mode, so a crash or a kill
leaves either all of an ingest or none of it, and two ingests at once take turns
(the second waits up to ``timeout`` seconds for the first). Ingesting is
idempotent (records already stored with the same content are skipped) and
incremental (new records are appended); a record whose id is stored with other
content is a :class:`~relcycle.errors.ConflictError` and nothing is written.
A record stored with the same values spelled differently (``1252.570`` for
``1252.57``, one instant at another UTC offset) is the same record: the stored
text is kept, and the ingest counts it in :attr:`IngestResult.respelled`.

relcycle writes only its own stores: a store carries ``PRAGMA application_id``
(:data:`~relcycle.io._sqlite.APPLICATION_ID`) and ``PRAGMA user_version``
(:data:`SCHEMA_VERSION`). A database without the id is accepted only when it is
empty or is a store made before the id was written (it has the ``relcycle_meta``
table and every contract table has relcycle's layout: TEXT columns, the id as
key); it gets the id on its next write. Any other database is refused with a
:class:`~relcycle.errors.UsageError` before anything is written, so a foreign
table is never altered and no id is converted. Reading (:func:`relcycle.io.load_history`,
:func:`store_counts`) opens the file read-only, so a store without write
permission can be reported; a damaged or truncated store, or one that cannot be
written on ingest, is a :class:`~relcycle.errors.StoreError`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import attrs

from relcycle._args import checked
from relcycle.errors import (
    ConflictError,
    DuplicateIdError,
    InputError,
    Problem,
    StoreError,
    UsageError,
)
from relcycle.history import ClientHistory, Portfolio, last_moment_of
from relcycle.io import (
    DEFAULT_MAX_PROBLEMS,
    HistoryTables,
    LoadResult,
    ParseOptions,
    TablesLike,
    as_tables,
    load_history,
    load_records,
)
from relcycle.io._load import (
    DEFAULT_CURRENCY,
    ExtraColumns,
    Rename,
    _Fatal,
    currency_warning,
    load_tables,
)
from relcycle.io._schema import CLIENTS, TABLES, TableSpec
from relcycle.io._sqlite import (
    APPLICATION_ID,
    connect_read,
    create_bulk_schema,
    create_indexes,
    create_schema,
    foreign_schema,
    is_sqlite,
    quote,
    sqlite_tables,
)
from relcycle.io._write import table_rows
from relcycle.model import FrozenMap

__all__ = [
    "SCHEMA_VERSION",
    "IngestResult",
    "StoredPart",
    "StoredPortfolio",
    "create_store",
    "ingest",
    "is_store",
    "read_store",
    "spilled",
    "store_counts",
]

#: The version of the store's layout, kept in ``relcycle_meta`` and ``PRAGMA user_version``.
SCHEMA_VERSION = 1

_BATCH = 500


@attrs.frozen
class IngestResult:
    """What an ingest did.

    Attributes:
        db_path: The store.
        sequence: The ingest's number in the store's log (``relcycle_ingests``),
            or None when nothing was new (then no log entry is written).
        added: Records added per table.
        unchanged: Records already stored with the same content, per table.
        load: The load result when the ingest read a source (its ``rejects``
            hold the rows skipped with ``skip_bad_rows``), else None.
        respelled: Of ``unchanged``, the records stored with the same values
            written differently (``1252.570`` for ``1252.57``, one instant at another
            UTC offset), per table; the stored text is kept.
    """

    db_path: Path
    sequence: int | None
    added: FrozenMap[str, int]
    unchanged: FrozenMap[str, int]
    load: LoadResult | None = None
    respelled: FrozenMap[str, int] = attrs.field(factory=FrozenMap)

    @property
    def total_added(self) -> int:
        """Records added across all tables."""
        return sum(self.added.values())


def _wal(conn: sqlite3.Connection, timeout: float) -> Any:
    """Switch to WAL mode, waiting up to ``timeout`` seconds for another writer.

    SQLite answers "database is locked" at once, without its busy handler, when
    a new database's journal mode changes while another connection holds a lock
    on it (two ingests creating one store at the same moment): the switch is
    tried again until the time is up.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=timeout)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        mode = _wal(conn, timeout)
        if mode is None or str(mode[0]).lower() != "wal":  # pragma: no cover - odd filesystems
            raise UsageError(f"{path}: cannot switch the database to WAL mode")
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def _meta(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS relcycle_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT)"
    )
    conn.execute(
        "INSERT OR IGNORE INTO relcycle_meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS relcycle_ingests (sequence INTEGER PRIMARY KEY, "
        "source TEXT, clients INTEGER, orders INTEGER, interactions INTEGER, "
        "complaints INTEGER)"
    )
    # the marker (a store made before it existed gets it on its first write)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    why = foreign_schema(conn)
    if why is not None:
        raise UsageError(
            f"{path} is an SQLite database that is not a relcycle store ({why}); "
            "relcycle writes only stores it created: give a new file for --db"
        )


def _check_target(path: Path) -> None:
    """Refuse, without writing anything, a target that is not a new or relcycle store."""
    if not path.parent.is_dir():
        raise UsageError(f"{path}: the folder {path.parent} does not exist")
    if not path.exists():
        return
    if path.is_dir() or (path.stat().st_size > 0 and not is_sqlite(path)):
        raise UsageError(f"{path} exists and is not an SQLite database")
    if path.stat().st_size == 0:
        return
    with _store_errors(path):
        conn = connect_read(path)
        try:
            _refuse_foreign(conn, path)
            # a damaged store is refused before anything is added to it
            found = conn.execute("PRAGMA quick_check(1)").fetchone()
            if found is not None and found[0] == "ok":
                _check_indexes(conn, path)
        finally:
            conn.close()
    if found is None or found[0] != "ok":
        raise StoreError(
            path=str(path),
            reason=f"the store is damaged (SQLite's quick_check: {found[0] if found else '?'})",
        )


def _check_indexes(conn: sqlite3.Connection, path: Path) -> dict[str, int]:
    """Refuse a store an index of whose contract tables does not list every row;
    return each contract table's rows (counted without an index).

    The report reads a store client by client through its ``client_id``
    indexes: a row missing from one would be left out of the report without a
    word, and SQLite's ``quick_check`` does not compare an index with its table
    (``integrity_check`` does, at about ten times the cost: 6 s against 0.1 s
    for these counts on a store of 1.4 million orders). So every full index of
    a contract table must count as many entries as the table has rows.
    """
    names = {
        str(r[0]).lower(): str(r[0])
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    counted: dict[str, int] = {}
    for spec in TABLES:
        table = names.get(spec.name)
        if table is None:
            continue
        rows = conn.execute(f"SELECT count(*) FROM {quote(table)} NOT INDEXED").fetchone()[0]
        counted[spec.name] = rows
        for _, index, _, _, partial in conn.execute(f"PRAGMA index_list({quote(table)})"):
            if partial:
                continue  # lists some rows by design
            try:
                listed = conn.execute(
                    f"SELECT count(*) FROM {quote(table)} INDEXED BY {quote(str(index))}"
                ).fetchone()[0]
            except sqlite3.OperationalError:
                continue  # an index SQLite cannot scan for a count (a WITHOUT ROWID key)
            if listed != rows:
                raise StoreError(
                    path=str(path),
                    reason=(
                        f"the store is damaged: its index {index} lists {listed:,} of the "
                        f"{rows:,} rows of {spec.name} (rebuild the indexes with SQLite's "
                        "REINDEX, then run again)"
                    ),
                )
    return counted


@contextlib.contextmanager
def _store_errors(path: Path) -> Iterator[None]:
    """Turn SQLite's errors about the file into :class:`StoreError` naming the store."""
    try:
        yield
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # a damaged schema's text, too
        text = str(exc)
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            reason = f"the store cannot be written ({text}); check the permissions"
        elif "locked" in text or "busy" in text:
            reason = f"the store stayed locked by another writer ({text})"
        else:
            reason = f"the store is damaged or not a complete SQLite database ({text})"
        raise StoreError(path=str(path), reason=reason) from None


@checked
def create_store(db_path: str | os.PathLike[str], *, timeout: float = 60.0) -> Path:
    """Create an empty store (or complete an existing one); return its path.

    Raises:
        UsageError: If the path exists and is not a relcycle store (another
            program's SQLite database is never altered; see :func:`ingest`).
        StoreError: If the store is damaged or cannot be written.
    """
    path = Path(db_path)
    _check_target(path)
    with _store_errors(path):
        conn = _connect(path, timeout)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                _refuse_foreign(conn, path)
                create_schema(conn)
                _meta(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
    return path


@checked
def store_counts(db_path: str | os.PathLike[str]) -> dict[str, int]:
    """Count the records of each table of a store (in one read snapshot, read-only).

    Raises:
        UsageError: If the path is not an SQLite database.
        StoreError: If the store is damaged.
    """
    path = Path(db_path)
    if not is_sqlite(path):
        raise UsageError(f"{path} is not an SQLite database")
    with _store_errors(path):
        return _counts(path)


def _counts(path: Path) -> dict[str, int]:
    conn = connect_read(path)
    try:
        conn.execute("BEGIN")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        counts = {
            spec.name: int(conn.execute(f"SELECT count(*) FROM {quote(spec.name)}").fetchone()[0])
            for spec in TABLES
            if spec.name in names
        }
        conn.execute("COMMIT")
        return counts
    finally:
        conn.close()


def _encoded(
    spec: TableSpec, records: Sequence[Any]
) -> tuple[list[str], list[Sequence[str | None]]]:
    columns, rows = table_rows(spec, records)
    return columns, list(rows)


def _clean(cells: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in cells.items() if v is not None and v != ""}


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _same_content(
    spec: TableSpec, stored: dict[str, object], new: dict[str, object], zone: str | tzinfo
) -> bool:
    """Compare a stored row with a new one by meaning (stored text may be spelled otherwise)."""
    try:
        a = _one_record(spec, stored, zone)
        b = _one_record(spec, new, zone)
    except InputError:
        return False
    return bool(a == b)


def _one_record(spec: TableSpec, cells: dict[str, object], zone: str | tzinfo) -> object:
    row = _clean(cells)
    if spec is CLIENTS:
        clients = load_records([], clients=[row], tz=zone).tables.clients
        return None if clients is None else clients[0]
    if spec.name == "orders":
        return load_records([row], tz=zone).tables.orders[0]
    if spec.name == "interactions":
        return load_records([], interactions=[row], tz=zone).tables.interactions[0]
    return load_records([], complaints=[row], tz=zone).tables.complaints[0]


@checked
def ingest(
    source: str | os.PathLike[str] | LoadResult | HistoryTables | Portfolio | TablesLike,
    db_path: str | os.PathLike[str],
    *,
    tz: str | tzinfo = "UTC",
    currency: str | None = None,
    skip_bad_rows: bool = False,
    extra_columns: ExtraColumns = "error",
    timeout: float = 60.0,
    rename: Rename | None = None,
    parse: ParseOptions | None = None,
) -> IngestResult:
    """Validate a history and append it to a store in one transaction.

    Args:
        source: A path (read with :func:`relcycle.io.load_history`), a
            :class:`~relcycle.io.LoadResult`, a :class:`~relcycle.history.Portfolio`,
            or any object with the four tables (a simulated history).
        db_path: The store; created when missing.
        tz: See :func:`relcycle.io.load_history`.
        currency: See :func:`relcycle.io.load_history`.
        skip_bad_rows: See :func:`relcycle.io.load_history`; skipped rows are in
            ``result.load.rejects``.
        extra_columns: See :func:`relcycle.io.load_history`.
        timeout: Seconds to wait for another ingest holding the store.
        rename: See :func:`relcycle.io.load_history` (a path source only).
        parse: See :func:`relcycle.io.load_history` (a path source only).

    Returns:
        What was added and what was already there.

    Raises:
        InputError: The source holds bad rows, or after the ingest the store's
            records would refer to clients missing from its non-empty clients table
            (nothing is written).
        DuplicateIdError: Records given as objects share an id (nothing is written).
        ConflictError: A record's id is already stored with other content (the
            first table with conflicts is reported with all its ids; nothing is written).
        UsageError: Bad arguments; the target is not an SQLite database, or is
            an SQLite database that is not a relcycle store (nothing is written).
        StoreError: The store is damaged or truncated, cannot be written (no
            permission), or stayed locked longer than ``timeout``.
    """
    load: LoadResult | None = None
    label = type(source).__name__
    if isinstance(source, str | os.PathLike):
        label = os.fspath(source)
        load = load_history(
            source,
            tz=tz,
            currency=currency,
            skip_bad_rows=skip_bad_rows,
            extra_columns=extra_columns,
            rename=rename,
            parse=parse,
        )
        tables = load.tables
    else:
        if isinstance(source, LoadResult):
            load = source
        tables = as_tables(source)
    path = Path(db_path)
    _check_target(path)
    encoded: list[tuple[TableSpec, list[str], list[Sequence[str | None]]]] = []
    for spec in TABLES:
        records = getattr(tables, spec.name)
        if records is None:
            continue
        columns, rows = _encoded(spec, records)
        id_index = columns.index(spec.id_column)
        counted = Counter(row[id_index] for row in rows)
        if len(counted) != len(rows):
            dups = [str(rid) for rid, n in counted.items() if n > 1]
            raise DuplicateIdError(record=spec.name, field=spec.id_column, ids=dups)
        encoded.append((spec, columns, rows))

    with _store_errors(path):
        conn = _connect(path, timeout)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = _write(conn, path, encoded, tz, label)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
    return attrs.evolve(result, load=load)


def _write(
    conn: sqlite3.Connection,
    path: Path,
    encoded: list[tuple[TableSpec, list[str], list[Sequence[str | None]]]],
    zone: str | tzinfo,
    label: str,
) -> IngestResult:
    _refuse_foreign(conn, path)  # again, inside the write lock
    create_schema(conn)
    _meta(conn)
    added: dict[str, int] = {}
    unchanged: dict[str, int] = {}
    respelled: dict[str, int] = {}
    inserts: list[tuple[str, list[str], list[Sequence[str | None]]]] = []
    for spec, columns, rows in encoded:
        table = quote(spec.name)
        have = {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
        have_lower = {h.lower(): h for h in have}
        for name in columns:
            if name not in have:
                if name.lower() in have_lower:
                    raise UsageError(
                        f"client attribute {name!r} clashes with the store's column "
                        f"{have_lower[name.lower()]!r} (SQLite column names ignore case)"
                    )
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {quote(name)} TEXT")
                have.add(name)
                have_lower[name.lower()] = name
        id_index = columns.index(spec.id_column)
        by_id = {row[id_index]: row for row in rows}
        ids = [str(i) for i in by_id]
        stored_columns = [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]
        select = ", ".join(quote(c) for c in stored_columns)
        same_layout = stored_columns == columns
        stored_id = stored_columns.index(spec.id_column)
        conflicts: list[str] = []
        seen: set[str] = set()
        empty = conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None
        for chunk in () if empty else _chunks(ids, _BATCH):
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {select} FROM {table} WHERE {quote(spec.id_column)} IN ({marks})"
            for stored_row in conn.execute(sql, list(chunk)):
                rid = str(stored_row[stored_id])
                seen.add(rid)
                row = by_id[rid]
                if same_layout and tuple(row) == stored_row:
                    continue  # stored exactly as it would be written now
                stored = dict(zip(stored_columns, stored_row, strict=True))
                new: dict[str, object] = dict(zip(columns, row, strict=True))
                if _clean(stored) == _clean(new):
                    continue  # the same text in another column order
                if _same_content(spec, stored, new, zone):
                    respelled[spec.name] = respelled.get(spec.name, 0) + 1
                else:
                    conflicts.append(rid)
        if conflicts:
            raise ConflictError(table=spec.name, ids=conflicts)
        fresh = [row for row in rows if row[id_index] not in seen]
        added[spec.name] = len(fresh)
        unchanged[spec.name] = len(rows) - len(fresh)
        if fresh:
            inserts.append((spec.name, columns, fresh))
    for name, columns, fresh in inserts:
        cols = ", ".join(quote(c) for c in columns)
        marks = ", ".join("?" * len(columns))
        conn.executemany(f"INSERT INTO {quote(name)} ({cols}) VALUES ({marks})", fresh)
    _check_references(conn, path)
    sequence: int | None = None
    if any(added.values()):
        cursor = conn.execute(
            "INSERT INTO relcycle_ingests (source, clients, orders, interactions, complaints) "
            "VALUES (?, ?, ?, ?, ?)",
            (label, *(added.get(s.name, 0) for s in TABLES)),
        )
        sequence = cursor.lastrowid
    return IngestResult(
        db_path=path,
        sequence=sequence,
        added=FrozenMap(added),
        unchanged=FrozenMap(unchanged),
        respelled=FrozenMap(respelled),
    )


def _check_references(conn: sqlite3.Connection, path: Path) -> None:
    if conn.execute("SELECT 1 FROM clients LIMIT 1").fetchone() is None:
        return
    problems: list[Problem] = []
    for spec in TABLES:
        if spec is CLIENTS:
            continue
        sql = (
            f"SELECT {quote(spec.id_column)}, client_id FROM {quote(spec.name)} "
            "WHERE client_id NOT IN (SELECT client_id FROM clients) LIMIT 100"
        )
        for rid, cid in conn.execute(sql):
            problems.append(
                Problem(
                    f"{path.name}:{spec.name}",
                    None,
                    "client_id",
                    str(cid),
                    f"{spec.id_column} {rid}: no such client in the store's clients table",
                )
            )
    if problems:
        raise InputError(problems[:100], truncated=len(problems) > 100)


# --------------------------------------------------------------------------- reading


#: Clients read per query when a store is read client by client.
CHUNK = 2000


class StoredPortfolio:
    """A store's histories, read client by client: the portfolio without loading it all.

    It behaves like a :class:`~relcycle.history.Portfolio` where
    :func:`~relcycle.report.build_report` needs one (``len``, iteration in client
    id order, ``[client_id]``, ``in``, :attr:`last_moment`), but holds only the
    client ids: each iteration reads the store again, :data:`CHUNK` clients per
    query through the ``client_id`` indexes, and rebuilds their records with the
    loader (so they equal what :func:`relcycle.io.load_history` gives). Memory
    grows with the largest chunk, not with the store. Every read is in the one
    snapshot opened with the portfolio, so an ingest meanwhile is not seen.

    Open it with :func:`read_store` (which validates every row first, as
    :func:`~relcycle.io.load_history` does) and close it (it is a context manager).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        tz: str | tzinfo,
        currency: str | None,
        extra_columns: ExtraColumns,
        chunk: int | None = None,
    ) -> None:
        self._conn = conn
        self._path = path
        self._options: dict[str, Any] = {
            "tz": tz,
            "currency": currency,
            "extra_columns": extra_columns,
        }
        self._chunk = CHUNK if chunk is None else chunk
        self._closed = False
        names = {
            str(r[0]).lower()
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        self._tables = [spec.name for spec in TABLES if spec.name in names]
        self._clients_given = (
            "clients" in names
            and conn.execute("SELECT 1 FROM clients LIMIT 1").fetchone() is not None
        )
        union = " UNION ".join(
            f"SELECT client_id FROM {quote(t)} WHERE client_id IS NOT NULL" for t in self._tables
        )
        self._ids: list[str] = [str(r[0]) for r in conn.execute(union)] if union else []
        self._last: datetime | None = None
        self._last_known = False
        self._currencies: dict[str, datetime] = {}
        self.warnings: tuple[str, ...] = ()

    # ------------------------------------------------------------ the portfolio's protocol

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[ClientHistory]:
        ids, step = self._ids, self._chunk
        for start in range(0, len(ids), step):
            yield from self._read(ids[start], ids[min(start + step, len(ids)) - 1]).portfolio

    def __getitem__(self, client_id: str) -> ClientHistory:
        if client_id not in self:
            raise KeyError(client_id)
        return self._read(client_id, client_id).portfolio[client_id]

    def __contains__(self, client_id: object) -> bool:
        if not isinstance(client_id, str):
            return False
        at = bisect_left(self._ids, client_id)
        return at < len(self._ids) and self._ids[at] == client_id

    @property
    def client_ids(self) -> tuple[str, ...]:
        """The client ids, sorted."""
        return tuple(self._ids)

    @property
    def last_moment(self) -> datetime | None:
        """The latest moment of any record (as ``Portfolio.last_moment``).

        Of equal instants written at different offsets, the one the histories
        give first in client id order, as in memory (one pass over the store,
        made once, unless the opening check already made it).
        """
        if not self._last_known:
            self._last = _last_of(self)
            self._last_known = True
        return self._last

    def currencies(self, as_of: datetime) -> set[str]:
        """The currencies of the orders placed by ``as_of``."""
        return {code for code, first in self._currencies.items() if first <= as_of}

    def close(self) -> None:
        """Close the store (end the read snapshot); reading it again is a UsageError."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")
        self._conn.close()

    def __enter__(self) -> StoredPortfolio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<StoredPortfolio {self._path.name}: {len(self)} clients>"

    # ------------------------------------------------------------ reading

    def _read(self, first: str, last: str) -> LoadResult:
        if self._closed:
            raise UsageError(
                f"{self._path.name}: the stored portfolio is closed; a report built from it "
                "looks its histories up there (explanations, assessments): use them before "
                "closing it"
            )
        return _load_range(
            self._conn, self._path.name, first, last, self._clients_given, self._options
        )

    def parts(self, size: int = CHUNK) -> list[StoredPart]:
        """The portfolio as consecutive runs of at most ``size`` clients, in client id order.

        Each part can be read in another process (:meth:`StoredPart.read`), so
        that the clients of one store are assessed by several processes at once
        (``build_report(..., workers=N)``).

        Raises:
            UsageError: If the portfolio is closed, or ``size`` is not a positive int.
            StoreError: If the store's ingest log (read to tell a later ingest) is damaged.
        """
        if type(size) is not int or size < 1:
            raise UsageError(f"parts: size must be a positive int, not {size!r}")
        if self._closed:
            raise UsageError(f"{self._path.name}: the stored portfolio is closed")
        with _store_errors(self._path):  # the ingest log is no contract table: unchecked
            mark = _ingest_mark(self._conn)
        ids = self._ids
        return [
            StoredPart(
                path=str(self._path.resolve()),
                first=ids[start],
                last=ids[min(start + size, len(ids)) - 1],
                count=min(size, len(ids) - start),
                clients_given=self._clients_given,
                options=dict(self._options),
                mark=mark,
            )
            for start in range(0, len(ids), size)
        ]

    def _scan(self, max_problems: int, rows: Mapping[str, int]) -> None:
        """Read every chunk once: check every row, note the last moment and currencies.

        ``rows`` is each table's rows (:func:`_check_indexes`): the chunks must
        read them all.
        """
        problems: list[Problem] = []
        defaulted = 0
        last: datetime | None = None
        firsts = self._currencies
        ids, step = self._ids, self._chunk
        read: dict[str, int] = {}
        for start in range(0, len(ids), step):
            first_id, last_id = ids[start], ids[min(start + step, len(ids)) - 1]
            try:
                part = self._read(first_id, last_id)
            except InputError as exc:
                problems.extend(exc.problems)
                if len(problems) >= max_problems:
                    break
                continue
            for name, counts in part.counts.items():
                read[name] = read.get(name, 0) + counts.read
            defaulted += sum(_defaulted(w) for w in part.warnings)
            for order in part.tables.orders:
                at = order.placed_at
                first = firsts.get(order.currency)
                if first is None or at < first:
                    firsts[order.currency] = at
            last = _last_of(part.portfolio, last)
        if problems:
            truncated = len(problems) > max_problems
            by_table = {spec.name: i for i, spec in enumerate(TABLES)}
            problems.sort(
                key=lambda p: (by_table.get(p.source.rpartition(":")[2], 9), p.source, p.line or 0)
            )
            raise InputError(problems[:max_problems], truncated=truncated)
        for name, total in rows.items():
            if total != read.get(name, 0):
                raise StoreError(
                    path=str(self._path),
                    reason=(
                        f"reading the store client by client found {read.get(name, 0):,} "
                        f"of the {total:,} rows of {name}: an index is damaged (rebuild the "
                        "indexes with SQLite's REINDEX, then run again), or rows have no "
                        "client_id"
                    ),
                )
        self._last = last
        self._last_known = True
        if defaulted and self._options["currency"] is None:
            self.warnings = (currency_warning(defaulted, DEFAULT_CURRENCY),)


def _load_range(
    conn: sqlite3.Connection,
    name: str,
    first: str,
    last: str,
    clients_given: bool,
    options: dict[str, Any],
) -> LoadResult:
    """The records of the clients ``first`` to ``last`` (ids, inclusive), through the loader."""
    try:
        inputs = sqlite_tables(conn, name, (first, last))
    except _Fatal as exc:
        raise InputError(exc.problems) from None
    return load_tables(
        inputs,
        missing_orders=Problem(name, None, None, None, "no orders table in the database"),
        clients_given=clients_given,
        **options,
    )


def _ingest_mark(conn: sqlite3.Connection) -> int:
    """The number of the store's last ingest (0: none): what changes when it is written."""
    try:
        found = conn.execute("SELECT max(sequence) FROM relcycle_ingests").fetchone()
    except sqlite3.OperationalError:  # a store made before the ingest log
        return 0
    return 0 if found is None or found[0] is None else int(found[0])


@attrs.frozen(kw_only=True)
class StoredPart:
    """A run of consecutive clients of a store, readable in another process.

    Made by :meth:`StoredPortfolio.parts`; it holds no connection, only what
    opens one (the store's path and the portfolio's reading options), so it can
    be sent to a worker process.

    Attributes:
        path: The store's file.
        first: The first client id of the run.
        last: The last client id of the run (inclusive).
        count: How many clients the run holds.
        clients_given: Whether the store's ``clients`` table lists the clients.
        options: The portfolio's reading options (zone, currency, extra columns).
        mark: The store's last ingest when the portfolio was opened: a part read
            after another ingest is refused, since the portfolio's checks were
            made on the store as it was.
    """

    path: str
    first: str
    last: str
    count: int
    clients_given: bool
    options: dict[str, Any] = attrs.field(eq=False)
    mark: int

    def read(self) -> Portfolio:
        """The histories of the run's clients, read as the portfolio reads them.

        Raises:
            StoreError: If the store was written since the portfolio was opened.
            InputError: If a row is bad (the store changed: the portfolio checked it).
        """
        path = Path(self.path)
        with _store_errors(path):
            conn = connect_read(path)
        try:
            with _store_errors(path):
                conn.execute("BEGIN")
                mark = _ingest_mark(conn)
            if mark != self.mark:
                raise StoreError(
                    path=self.path,
                    reason="the store was written (an ingest) while the report read it; "
                    "run the report again",
                )
            with _store_errors(path):
                return _load_range(
                    conn, path.name, self.first, self.last, self.clients_given, self.options
                ).portfolio
        finally:
            conn.close()


def _defaulted(warning: str) -> int:
    return int(warning.split(" ", 1)[0])


def _last_of(histories: Iterable[ClientHistory], last: datetime | None = None) -> datetime | None:
    """``Portfolio.last_moment`` of ``histories`` (after ``last``, the running one):
    the first of equal instants is kept, so the offset is the one memory gives."""
    for history in histories:
        moment = history.last_moment
        if moment is not None and (last is None or moment > last):
            last = moment
    return last


@checked
def read_store(
    db_path: str | os.PathLike[str],
    *,
    tz: str | tzinfo = "UTC",
    currency: str | None = None,
    extra_columns: ExtraColumns = "error",
    max_problems: int = DEFAULT_MAX_PROBLEMS,
) -> StoredPortfolio:
    """Open a store as a :class:`StoredPortfolio`, read client by client.

    Every row is checked first, as :func:`relcycle.io.load_history` checks it (the
    same problems are raised), one chunk of clients at a time; then the portfolio
    reads the store again each time it is iterated. Close it when done.

    Raises:
        UsageError: If the path is not a relcycle store.
        InputError: The store holds bad rows (every one is listed, up to the cap).
        StoreError: If the store is damaged.
    """
    path = Path(db_path)
    if not is_sqlite(path):
        raise UsageError(f"{path} is not an SQLite database")
    with _store_errors(path):
        conn = connect_read(path)
        try:
            why = foreign_schema(conn)
            if why is not None:
                raise UsageError(f"{path} is not a relcycle store ({why})")
            conn.execute("BEGIN")
            rows = _check_indexes(conn, path)  # in the snapshot the portfolio reads
            portfolio = StoredPortfolio(
                conn, path, tz=tz, currency=currency, extra_columns=extra_columns
            )
            portfolio._scan(max_problems, rows)
        except BaseException:
            conn.close()
            raise
    return portfolio


def is_store(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is an SQLite file carrying relcycle's store marker."""
    p = Path(path)
    if not p.is_file() or not is_sqlite(p):
        return False
    try:
        conn = connect_read(p)
        try:
            return int(conn.execute("PRAGMA application_id").fetchone()[0]) == APPLICATION_ID
        finally:
            conn.close()
    except sqlite3.Error:
        return False


@contextlib.contextmanager
def spilled(
    load: LoadResult, *, tz: str | tzinfo = "UTC", currency: str | None = None
) -> Iterator[StoredPortfolio]:
    """The records of ``load`` as a :class:`StoredPortfolio` in a temporary store.

    The records are written in one transaction to a store in a new temporary
    folder, then ``load`` lets go of them (its ``tables`` are emptied), so a
    caller that keeps no other reference to them holds only one client's
    records at a time while it reads the portfolio. The folder is removed when
    the block ends, whether it ends well or by an exception.
    """
    tables = load.tables
    object.__setattr__(load, "tables", HistoryTables(clients=None))
    object.__setattr__(load, "_portfolio", None)
    with tempfile.TemporaryDirectory(prefix="relcycle-") as folder:
        path = Path(folder) / "history.db"
        _write_all(path, tables)
        firsts: dict[str, datetime] = {}
        for order in tables.orders:
            first = firsts.get(order.currency)
            if first is None or order.placed_at < first:
                firsts[order.currency] = order.placed_at
        # found here, while the records are in memory, not by reading the store again
        last = last_moment_of(
            orders=tables.orders, interactions=tables.interactions, complaints=tables.complaints
        )
        del tables
        conn = connect_read(path)
        try:
            conn.execute("BEGIN")
            portfolio = StoredPortfolio(conn, path, tz=tz, currency=currency, extra_columns="error")
        except BaseException:
            conn.close()
            raise
        portfolio._currencies = firsts
        portfolio._last, portfolio._last_known = last, True
        with portfolio:
            yield portfolio


def _write_all(path: Path, tables: HistoryTables) -> None:
    """Write every record of ``tables`` to a new store, in one transaction.

    The loader has checked the ids (none twice in a table), so the rows go in
    before the indexes are built (see :func:`~relcycle.io._sqlite.create_bulk_schema`).
    The file is new and temporary, and only read once it is written: it has no
    journal (neither WAL nor rollback: each page is written once, not to the
    log first), and no crash to survive.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN IMMEDIATE")
        create_bulk_schema(conn)
        _meta(conn)
        for spec in TABLES:
            records = getattr(tables, spec.name)
            if not records:
                continue
            columns, rows = table_rows(spec, records)
            table = quote(spec.name)
            have = {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
            for name in columns:
                if name not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {quote(name)} TEXT")
            cols = ", ".join(quote(c) for c in columns)
            marks = ", ".join("?" * len(columns))
            conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
        create_indexes(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()
