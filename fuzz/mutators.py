"""Structure-aware mutators for JSON Lines files and SQLite stores (standard library only).

Byte-level mutation (libFuzzer's own, or ``tests/test_fuzz_readers.py``'s) rarely
produces the inputs that broke readers in practice: a JSON object with a key given
twice, an escaped lone surrogate, 100,000 nested brackets, a store whose pages were
cut short or overwritten. These mutators produce them from valid files. Each takes
the bytes and a :class:`random.Random` and returns new bytes, so the atheris
harness (``fuzz_readers.py``) and the hypothesis tests drive the same code.
:func:`intact` is the check both make of a store after an ingest.
"""

from __future__ import annotations

import json
import random
import sqlite3
import struct
from pathlib import Path

__all__ = ["JSONL_MUTATIONS", "STORE_MUTATIONS", "intact", "mutate_jsonl", "mutate_store"]

#: Values that replace a JSON value: every one is valid JSON text.
_ODD_VALUES = (
    '"\\ud800"',
    '"x\\udfff"',
    '"\\udbff\\udbff"',
    '"\\ud83d\\ude00"',  # a valid pair: must be read as one character
    '"\\u0000"',
    '"\\u001b[31m"',
    "1e999999",
    "-0",
    "123456789012345678901234567890.123456789",
    "null",
    "true",
    "[]",
    '{"a": 1}',
    '""',
    '" "',
)

JSONL_MUTATIONS = (
    "duplicate_key",
    "surrogate_key",
    "odd_value",
    "deep_nesting",
    "unclosed",
    "not_an_object",
    "trailing_text",
)


def _objects(lines: list[bytes]) -> list[int]:
    out = []
    for i, line in enumerate(lines):
        try:
            if isinstance(json.loads(line), dict):
                out.append(i)
        except (ValueError, RecursionError):  # a line the deep_nesting mutation made
            continue
    return out


def mutate_jsonl(data: bytes, rng: random.Random, kind: str | None = None) -> bytes:
    """Apply one JSON-level mutation (one of :data:`JSONL_MUTATIONS`) to one line.

    Lines that are not JSON objects are left alone; with none, ``data`` is returned.
    """
    lines = data.split(b"\n")
    targets = _objects(lines)
    if not targets:
        return data
    index = rng.choice(targets)
    obj: dict[str, object] = json.loads(lines[index])
    keys = list(obj) or ["order_id"]
    key = rng.choice(keys)
    kind = kind or rng.choice(JSONL_MUTATIONS)
    body = json.dumps(obj, ensure_ascii=False)[1:-1]
    depth = rng.choice((50, 1_000, 100_000))
    if kind == "duplicate_key":
        value = json.dumps(obj.get(key)) if rng.random() < 0.5 else '"other"'
        text = "{" + body + (", " if body else "") + f"{json.dumps(key)}: {value}" + "}"
    elif kind == "surrogate_key":
        text = "{" + body + (", " if body else "") + '"col\\udc80": "x"}'
    elif kind == "odd_value":
        rest = {k: v for k, v in obj.items() if k != key}
        head = json.dumps(rest, ensure_ascii=False)[1:-1]
        odd = rng.choice(_ODD_VALUES)
        text = "{" + head + (", " if head else "") + f"{json.dumps(key)}: {odd}" + "}"
    elif kind == "deep_nesting":
        rest = {k: v for k, v in obj.items() if k != key}
        head = json.dumps(rest, ensure_ascii=False)[1:-1]
        nested = "[" * depth + "]" * depth
        text = "{" + head + (", " if head else "") + f"{json.dumps(key)}: {nested}" + "}"
    elif kind == "unclosed":
        text = "{" + body + ', "x": ' + "[" * depth
    elif kind == "not_an_object":
        text = rng.choice(("[1, 2]", '"text"', "42", "null"))
    else:
        text = "{" + body + "} trailing"
    # a lone surrogate an earlier surrogate_key mutation put in a string goes back
    # as the JSON escape it was read from
    lines[index] = text.encode("utf-8", "backslashreplace")
    return b"\n".join(lines)


STORE_MUTATIONS = (
    "truncate",
    "truncate_page",
    "flip",
    "zero_page",
    "header_field",
    "append",
)

_PAGE_SIZE_AT = 16  # big-endian u16 in the SQLite header
_HEADER_FIELDS = (16, 18, 19, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 92, 96)


def mutate_store(data: bytes, rng: random.Random, kind: str | None = None) -> bytes:
    """Apply one damage (one of :data:`STORE_MUTATIONS`) to an SQLite file's bytes."""
    if len(data) < 100:
        return data
    kind = kind or rng.choice(STORE_MUTATIONS)
    page = struct.unpack(">H", data[_PAGE_SIZE_AT : _PAGE_SIZE_AT + 2])[0]
    page = 65536 if page == 1 else max(page, 512)
    pages = max(1, len(data) // page)
    if kind == "truncate":
        return data[: rng.randrange(16, len(data))]
    if kind == "truncate_page":
        return data[: page * rng.randrange(1, pages + 1)]
    out = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            at = rng.randrange(100, len(out))
            out[at] = rng.randrange(256)
    elif kind == "zero_page":
        start = page * rng.randrange(pages)
        out[start : start + page] = bytes(len(out[start : start + page]))
    elif kind == "header_field":
        at = rng.choice(_HEADER_FIELDS)
        out[at : at + 4] = rng.randbytes(4)
    else:
        out += rng.randbytes(rng.choice((1, 100, page)))
    return bytes(out)


def intact(db: Path) -> bool:
    """Whether SQLite's ``integrity_check`` finds nothing wrong with the database.

    A damage ``quick_check`` cannot see (an index entry whose key changed, the
    count intact) may survive an ingest: what an ingest that succeeded must
    keep is a store that was intact before it.
    """
    try:
        conn = sqlite3.connect(db)
        try:
            return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
        finally:
            conn.close()
    except (sqlite3.DatabaseError, UnicodeDecodeError):  # a message quoting damaged text
        return False
