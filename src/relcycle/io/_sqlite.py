"""SQLite: contract tables in a database file (the embedded store's layout).

A database holds tables named ``clients``, ``orders``, ``interactions`` and
``complaints`` with the contract's column names; any other table is ignored.
Every column relcycle creates is TEXT, so money and times keep their exact text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from relcycle.errors import Problem

from ._load import Row, RowError, TableInput, fatal
from ._schema import CLIENTS, TABLES, TableSpec

__all__ = [
    "SQLITE_MAGIC",
    "connect_read",
    "create_schema",
    "is_sqlite",
    "quote",
    "sqlite_tables",
]

SQLITE_MAGIC = b"SQLite format 3\x00"


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
    """Open a database for reading (read-only; autocommit, so reads can BEGIN a snapshot)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def sqlite_tables(conn: sqlite3.Connection, source: str) -> dict[str, TableInput]:
    """The contract tables of an open database, read lazily.

    Call it inside a read transaction (``BEGIN``) and finish reading before it
    ends: every table is then read from one consistent snapshot.
    """
    try:
        names = {
            str(row[0]).lower(): str(row[0])
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            )
        }
    except sqlite3.DatabaseError as exc:
        raise fatal(
            Problem(source, None, None, None, f"not a readable SQLite database: {exc}")
        ) from None
    out: dict[str, TableInput] = {}
    for spec in TABLES:
        actual = names.get(spec.name)
        if actual is not None:
            out[spec.name] = _table(conn, source, spec, actual)
    return out


def _table(conn: sqlite3.Connection, source: str, spec: TableSpec, name: str) -> TableInput:
    where = f"{source}:{spec.name}"
    try:
        columns = tuple(str(r[1]) for r in conn.execute(f"PRAGMA table_info({quote(name)})"))
        with_rowid = True
        try:
            conn.execute(f"SELECT rowid FROM {quote(name)} LIMIT 0")
        except sqlite3.OperationalError:
            with_rowid = False
    except sqlite3.DatabaseError as exc:
        raise fatal(Problem(where, None, None, None, f"cannot read the table: {exc}")) from None

    def rows() -> Iterator[Row | RowError]:
        if with_rowid:
            sql = f"SELECT rowid, * FROM {quote(name)} ORDER BY rowid"
        else:
            sql = f"SELECT NULL, * FROM {quote(name)}"
        try:
            cursor = conn.execute(sql)
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
        except sqlite3.DatabaseError as exc:
            raise fatal(Problem(where, None, None, None, f"cannot read the table: {exc}")) from None

    return TableInput(table=spec.name, source=where, columns=columns, header_line=None, rows=rows)


def _text(value: object) -> object:
    return f"<{len(value)} bytes>" if isinstance(value, bytes) else value


def _ddl(spec: TableSpec) -> str:
    cols = []
    for col in spec.columns:
        decl = f"{quote(col.name)} TEXT"
        if col.name == spec.id_column:
            decl += " PRIMARY KEY NOT NULL"
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
        if spec.name in existing:
            # a table made elsewhere: make its ids unique (ours have them as primary keys)
            conn.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {quote('relcycle_' + spec.name + '_id')} "
                f"ON {quote(spec.name)} ({quote(spec.id_column)})"
            )
        if spec is not CLIENTS:
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS {quote('relcycle_' + spec.name + '_client')} "
                f"ON {quote(spec.name)} (client_id)"
            )
