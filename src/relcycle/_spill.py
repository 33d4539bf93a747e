"""Rows written once, in order, to a file, and read back by position or key.

A report whose lines would not fit in memory keeps them here
(:func:`relcycle.report.build_report`'s ``spill_dir``): each line is pickled into
a SQLite table of a temporary file as it is assessed, and read back in chunks
when the report is rendered. The file lives in a folder the caller gives and is
removed when the :class:`Spill` is closed or let go (and by the folder's owner,
however the process ends). Pickle is safe here: the process reads back only
what it wrote itself, in a file it created with owner-only permissions.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import OutputError, UsageError

#: Rows written per ``INSERT`` batch and read per query.
CHUNK = 2_000


def _close(db: sqlite3.Connection, path: Path) -> None:
    db.close()
    path.unlink(missing_ok=True)


class Spill:
    """Pickled rows in a temporary SQLite file, appended then read back.

    Append every row (:meth:`append`), then :meth:`seal`; after that the rows
    are read by position (:meth:`at`, :meth:`rows`) or by key (:meth:`find`).

    Args:
        folder: An existing folder for the file.

    Raises:
        UsageError: If ``folder`` is not an existing folder.
        OutputError: If the file cannot be created there, or written (a full
            disk: raised by :meth:`append` or :meth:`seal`, the file removed).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        shown = os.fspath(folder)
        if not os.path.isdir(folder):
            raise UsageError(f"spill_dir {shown!r}: not an existing folder")
        try:
            fd, name = tempfile.mkstemp(prefix="relcycle-lines-", suffix=".sqlite", dir=folder)
        except OSError as exc:
            raise OutputError(path=shown, reason=exc.strerror or str(exc)) from None
        os.close(fd)
        self.path = Path(name)
        db = sqlite3.connect(name)
        self._db = db
        self._closer = weakref.finalize(self, _close, db, self.path)
        # a scratch file: nothing to recover after a crash, so no journal
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE rows (pos INTEGER PRIMARY KEY, key TEXT NOT NULL, row BLOB)")
        self._pending: list[tuple[int, str, bytes]] = []
        self._count = 0
        self._sealed = False

    @staticmethod
    def encode(row: Any) -> bytes:
        """``row`` as the spill keeps it (for :meth:`extend`, in another process)."""
        return pickle.dumps(row, pickle.HIGHEST_PROTOCOL)

    def append(self, key: str, row: Any) -> None:
        """Add ``row`` at the next position, findable by ``key``."""
        if self._sealed:
            raise ValueError("the spill is sealed: no more rows")
        self._pending.append((self._count, key, pickle.dumps(row, pickle.HIGHEST_PROTOCOL)))
        self._count += 1
        if len(self._pending) >= CHUNK:
            self._flush()

    def extend(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """Add rows already encoded (:meth:`encode`), as ``(key, bytes)``, in order."""
        if self._sealed:
            raise ValueError("the spill is sealed: no more rows")
        pending = self._pending
        for key, blob in rows:
            pending.append((self._count, key, blob))
            self._count += 1
            if len(pending) >= CHUNK:
                self._flush()

    def _flush(self) -> None:
        try:
            self._db.executemany("INSERT INTO rows VALUES (?, ?, ?)", self._pending)
        except sqlite3.Error as exc:  # a full disk
            self.close()
            raise OutputError(path=str(self.path), reason=str(exc)) from None
        self._pending.clear()

    def seal(self) -> None:
        """Write what is pending and index the keys: the rows are final.

        Raises:
            OutputError: If the file cannot be written (a full disk); it is removed.
        """
        self._flush()
        try:
            self._db.execute("CREATE UNIQUE INDEX rows_key ON rows (key)")
            self._db.commit()
        except sqlite3.Error as exc:
            self.close()
            raise OutputError(path=str(self.path), reason=str(exc)) from None
        self._sealed = True

    def close(self) -> None:
        """Close the file and remove it (also done when the spill is let go)."""
        self._closer()

    def __len__(self) -> int:
        return self._count

    def at(self, pos: int) -> Any:
        """The row at position ``pos`` (0-based, within ``len(self)``)."""
        (blob,) = self._db.execute("SELECT row FROM rows WHERE pos = ?", (pos,)).fetchone()
        return pickle.loads(blob)

    def find(self, key: str) -> Any | None:
        """The row of ``key``, or None."""
        found = self._db.execute("SELECT row FROM rows WHERE key = ?", (key,)).fetchone()
        return None if found is None else pickle.loads(found[0])

    def __contains__(self, key: object) -> bool:
        found = self._db.execute("SELECT 1 FROM rows WHERE key = ?", (key,)).fetchone()
        return found is not None

    def keys(self, start: int = 0, stop: int | None = None) -> Iterator[str]:
        """The keys from position ``start`` to ``stop`` (default: every key), in order."""
        stop = self._count if stop is None else min(stop, self._count)
        for low in range(start, stop, CHUNK):
            query = "SELECT key FROM rows WHERE pos >= ? AND pos < ? ORDER BY pos"
            for (key,) in self._db.execute(query, (low, min(low + CHUNK, stop))).fetchall():
                yield key

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[Any]:
        """The rows from position ``start`` to ``stop`` (default: the end), in order."""
        stop = self._count if stop is None else min(stop, self._count)
        for low in range(start, stop, CHUNK):
            yield from _rows(self._db, low, min(low + CHUNK, stop))


def read_rows(path: str | os.PathLike[str], start: int, stop: int) -> list[Any]:
    """The rows from ``start`` to ``stop`` of a sealed spill, read in another process.

    The spill's own process keeps the file until it closes the spill; a worker
    it started reads a run of rows here (read-only).
    """
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return _rows(db, start, stop)
    finally:
        db.close()


def _rows(db: sqlite3.Connection, start: int, stop: int) -> list[Any]:
    """The rows at positions ``start`` to ``stop`` of a spill's file, in order."""
    query = "SELECT row FROM rows WHERE pos >= ? AND pos < ? ORDER BY pos"
    return [pickle.loads(blob) for (blob,) in db.execute(query, (start, stop)).fetchall()]
