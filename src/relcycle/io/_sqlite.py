"""SQLite: contract tables in a database file (the embedded store's layout).

A database holds tables named ``clients``, ``orders``, ``interactions`` and
``complaints`` with the contract's column names; any other table is ignored.
Every column relcycle creates is TEXT, so money and times keep their exact text.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from relcycle.errors import Problem

from ._load import Row, RowError, TableInput, fatal
from ._schema import CLIENTS, TABLES, TableSpec

__all__ = [
    "APPLICATION_ID",
    "SQLITE_MAGIC",
    "connect_read",
    "create_schema",
    "foreign_schema",
    "is_sqlite",
    "quote",
    "sqlite_tables",
]

SQLITE_MAGIC = b"SQLite format 3\x00"

#: ``PRAGMA application_id`` of a relcycle store (the ASCII letters "relc").
APPLICATION_ID = 0x72656C63

#: The bookkeeping table every store made by relcycle holds (also before the
#: application id was written).
META_TABLE = "relcycle_meta"


def is_sqlite(path: Path) -> bool:
    """True when ``path`` is a file that starts like an SQLite database."""
    try:
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def quote(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def connect_read(path: Path) -> sqlite3.Connection:
    """Open a database for reading (read-only; autocommit, so reads can BEGIN a snapshot).

    The ``mode=ro`` URI never writes the database. A store in WAL mode still needs
    its ``-shm`` index file, which SQLite cannot create in a folder the reader may
    not write: such a store, when this process cannot write it and no ``-wal``
    file holds uncommitted pages, is opened ``immutable`` (nothing else can be
    changing it then), so a read-only store can be reported.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
    conn.text_factory = _text_of
    conn.execute("PRAGMA busy_timeout = 30000")
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError:
        wal = path.with_name(path.name + "-wal")
        if os.access(path, os.W_OK) or (wal.exists() and wal.stat().st_size > 0):
            return conn  # the read reports SQLite's own error
        conn.close()
        conn = sqlite3.connect(f"{uri}&immutable=1", uri=True, isolation_level=None)
        conn.text_factory = _text_of
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        pass  # damaged (SQLite's message may quote undecodable bytes): the read reports it
    return conn


def _text_of(data: bytes) -> str:
    """A TEXT value; bytes that are not UTF-8 (a damaged page) become lone surrogates,
    which the records refuse with the cell named (never a UnicodeDecodeError)."""
    return data.decode("utf-8", "surrogateescape")


def sqlite_tables(
    conn: sqlite3.Connection, source: str, clients: tuple[str, str] | None = None
) -> dict[str, TableInput]:
    """The contract tables of an open database, read lazily.

    Call it inside a read transaction (``BEGIN``) and finish reading before it
    ends: every table is then read from one consistent snapshot. ``clients``
    (first, last) reads only the rows of the client ids in that range (through
    the store's ``client_id`` indexes), each table in client id order.
    """
    try:
        names = {
            str(row[0]).lower(): str(row[0])
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            )
        }
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise fatal(
            Problem(source, None, None, None, f"not a readable SQLite database: {exc}")
        ) from None
    out: dict[str, TableInput] = {}
    for spec in TABLES:
        actual = names.get(spec.name)
        if actual is not None:
            out[spec.name] = _table(conn, source, spec, actual, clients)
    return out


def _table(
    conn: sqlite3.Connection,
    source: str,
    spec: TableSpec,
    name: str,
    clients: tuple[str, str] | None = None,
) -> TableInput:
    where = f"{source}:{spec.name}"
    try:
        columns = tuple(str(r[1]) for r in conn.execute(f"PRAGMA table_info({quote(name)})"))
        with_rowid = True
        try:
            conn.execute(f"SELECT rowid FROM {quote(name)} LIMIT 0")
        except sqlite3.OperationalError:
            with_rowid = False
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise fatal(Problem(where, None, None, None, f"cannot read the table: {exc}")) from None

    def rows() -> Iterator[Row | RowError]:
        only = "" if clients is None else " WHERE client_id BETWEEN ? AND ?"
        order = "rowid" if clients is None else "client_id, rowid"
        if with_rowid:
            sql = f"SELECT rowid, * FROM {quote(name)}{only} ORDER BY {order}"
        else:
            sql = f"SELECT NULL, * FROM {quote(name)}{only}"
        try:
            cursor = conn.execute(sql, () if clients is None else clients)
            for number, values in enumerate(cursor, start=1):
                rowid = values[0] if with_rowid else number
                cells = values[1:]
                for key, value in zip(columns, cells, strict=True):
                    if isinstance(value, bytes):
                        yield RowError(
                            where,
                            rowid,
                            {k: _text(v) for k, v in zip(columns, cells, strict=True)},
                            f"column {key}: binary data (BLOB) is not a valid value",
                        )
                        break
                else:
                    yield (where, rowid, cells)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise fatal(Problem(where, None, None, None, f"cannot read the table: {exc}")) from None

    return TableInput(table=spec.name, source=where, columns=columns, header_line=None, rows=rows)


def _text(value: object) -> object:
    return f"<{len(value)} bytes>" if isinstance(value, bytes) else value


def _ddl(spec: TableSpec, *, keyed: bool = True) -> str:
    cols = []
    for col in spec.columns:
        decl = f"{quote(col.name)} TEXT"
        if col.name == spec.id_column:
            decl += " PRIMARY KEY NOT NULL" if keyed else " NOT NULL"
        elif col.required:
            decl += " NOT NULL"
        cols.append(decl)
    return f"CREATE TABLE IF NOT EXISTS {quote(spec.name)} ({', '.join(cols)})"


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the four contract tables (TEXT columns, ids as primary keys) if missing.

    Existing tables (a user's own) get the contract columns they lack and a unique
    index on their id column.
    """
    existing = {
        str(r[0]).lower() for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    for spec in TABLES:
        conn.execute(_ddl(spec))
        have = {str(r[1]).lower() for r in conn.execute(f"PRAGMA table_info({quote(spec.name)})")}
        for col in spec.columns:
            if col.name.lower() not in have:
                conn.execute(f"ALTER TABLE {quote(spec.name)} ADD COLUMN {quote(col.name)} TEXT")
        # a table made elsewhere: make its ids unique (ours have them as primary keys)
        _index(conn, spec, ids=spec.name in existing)


def create_bulk_schema(conn: sqlite3.Connection) -> None:
    """Create the four contract tables in a new database, without their indexes.

    For a store written once, in bulk (the python engine's temporary store):
    the rows go in first and :func:`create_indexes` builds the indexes after
    them, which takes about half the time of keeping them up to date row by row.
    The tables have relcycle's unique index on their ids instead of a primary
    key, a layout :func:`foreign_schema` accepts.
    """
    for spec in TABLES:
        conn.execute(_ddl(spec, keyed=False))


def create_indexes(conn: sqlite3.Connection) -> None:
    """Index the tables of :func:`create_bulk_schema`: unique ids, and clients' records.

    Raises:
        sqlite3.IntegrityError: If a table holds an id twice.
    """
    for spec in TABLES:
        _index(conn, spec, ids=True)


def _index(conn: sqlite3.Connection, spec: TableSpec, *, ids: bool) -> None:
    """relcycle's index of a table's client ids, and with ``ids`` its unique id index."""
    if ids:
        conn.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {quote('relcycle_' + spec.name + '_id')} "
            f"ON {quote(spec.name)} ({quote(spec.id_column)})"
        )
    if spec is not CLIENTS:
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {quote('relcycle_' + spec.name + '_client')} "
            f"ON {quote(spec.name)} (client_id)"
        )


def foreign_schema(conn: sqlite3.Connection) -> str | None:
    """Why the database is not a relcycle store that may be written, or None if it is one.

    A database qualifies when it is empty (no tables: a new store), or when it
    carries relcycle's marker and its contract tables have relcycle's layout:

    * the marker is ``PRAGMA application_id`` = :data:`APPLICATION_ID`, or (a store
      made before the id was written) application id 0 with the ``relcycle_meta``
      table and its ``schema_version`` row;
    * every column of ``clients``, ``orders``, ``interactions`` and ``complaints``
      is declared ``TEXT`` (so ``007`` stays ``007``), each id column is its table's
      primary key or has relcycle's unique index, and only ``clients`` has columns
      outside the contract (client attributes).

    Contract columns a store lacks are allowed (a newer contract's additions; the
    ingest adds them).
    """
    names = {
        str(r[0]).lower(): str(r[0])
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        if not str(r[0]).lower().startswith("sqlite_")
    }
    if not names:
        return None
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if app_id not in (0, APPLICATION_ID):
        return f"its application id is 0x{app_id:08x}, not relcycle's (another program's file)"
    if app_id == 0:
        if META_TABLE not in names:
            return (
                f"it has tables ({', '.join(sorted(names.values())[:5])}) but no "
                f"{META_TABLE} table: relcycle did not create it"
            )
        row = conn.execute(
            f"SELECT value FROM {quote(names[META_TABLE])} WHERE key = 'schema_version'"
        ).fetchone()
        if row is None:
            return f"its {META_TABLE} table has no schema_version: relcycle did not create it"
    for spec in TABLES:
        actual = names.get(spec.name)
        if actual is None:
            continue
        info = list(conn.execute(f"PRAGMA table_info({quote(actual)})"))
        if not info:
            return f"{spec.name} is a view, not a table"
        declared = {str(r[1]): str(r[2]).upper() for r in info}
        for name, kind in declared.items():
            if kind != "TEXT":
                return (
                    f"column {spec.name}.{name} is declared {kind or 'without a type'}, "
                    "not TEXT (values such as '007' would be changed)"
                )
            if spec is not CLIENTS and name not in spec.names:
                return f"column {spec.name}.{name} is not a column of the contract"
        primary = [str(r[1]) for r in info if int(r[5])]
        indexes = {str(r[1]) for r in conn.execute(f"PRAGMA index_list({quote(actual)})")}
        if primary != [spec.id_column] and f"relcycle_{spec.name}_id" not in indexes:
            return f"{spec.name}.{spec.id_column} is not the table's key"
    return None
