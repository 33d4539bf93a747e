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
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import tzinfo
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
from relcycle.history import Portfolio
from relcycle.io import (
    HistoryTables,
    LoadResult,
    ParseOptions,
    TablesLike,
    as_tables,
    load_history,
    load_records,
)
from relcycle.io._load import ExtraColumns, Rename
from relcycle.io._schema import CLIENTS, TABLES, TableSpec
from relcycle.io._sqlite import (
    APPLICATION_ID,
    connect_read,
    create_schema,
    foreign_schema,
    is_sqlite,
    quote,
)
from relcycle.io._write import table_rows
from relcycle.model import FrozenMap

__all__ = ["SCHEMA_VERSION", "IngestResult", "create_store", "ingest", "store_counts"]

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


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=timeout)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
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
        finally:
            conn.close()
    if found is None or found[0] != "ok":
        raise StoreError(
            path=str(path),
            reason=f"the store is damaged (SQLite's quick_check: {found[0] if found else '?'})",
        )


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


def _encoded(spec: TableSpec, records: Sequence[Any]) -> tuple[list[str], list[list[str | None]]]:
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
    encoded: list[tuple[TableSpec, list[str], list[list[str | None]]]] = []
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
    encoded: list[tuple[TableSpec, list[str], list[list[str | None]]]],
    zone: str | tzinfo,
    label: str,
) -> IngestResult:
    _refuse_foreign(conn, path)  # again, inside the write lock
    create_schema(conn)
    _meta(conn)
    added: dict[str, int] = {}
    unchanged: dict[str, int] = {}
    respelled: dict[str, int] = {}
    inserts: list[tuple[str, list[str], list[list[str | None]]]] = []
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
