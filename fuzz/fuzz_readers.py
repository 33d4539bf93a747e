"""Coverage-guided fuzzing of relcycle's readers and report with atheris (libFuzzer).

Each input is the bytes of an orders file: JSON Lines when it starts with ``{``
(after an optional BOM and blanks), an SQLite store when it starts with SQLite's
magic, CSV otherwise. The harness writes it into a scratch folder, then checks
what users rely on:

* ``load_history`` returns records or raises ``InputError`` whose problems name the
  file, a line inside it and a non-empty reason — any other exception is a crash;
* ``relcycle report --format json --output FILE`` (in-process) exits 0 with a
  complete JSON report listing every loaded client, or exits 1/2 leaving no file
  and no temporary file behind;
* for a store, also ``relcycle ingest`` into it exits 0, 1 or 2, never with a
  traceback; after an ingest that exits 0, a store that passed ``PRAGMA
  integrity_check`` before still passes it.

Besides libFuzzer's byte mutations, a custom mutator applies the structure-aware
mutators of ``mutators.py`` half of the time: JSON-level ones to JSON Lines inputs
(a key twice, lone surrogates, deep nesting, odd values) and page-level damage to
stores (truncation, zeroed pages, header fields). ``fuzz/corpus/seed4.db`` is a
small store made by ``relcycle ingest``.

Run (from the repository root)::

    pip install atheris
    python fuzz/fuzz_readers.py fuzz/corpus -runs=100000 -artifact_prefix=fuzz/crash-

``fuzz/corpus`` holds valid seed files; libFuzzer adds the new inputs it finds
there (pass a scratch copy to keep the repository clean). Put the scratch folder
on a RAM disk (``TMPDIR=/dev/shm``): every run fsyncs its output file.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
import tempfile
from pathlib import Path

import atheris
from mutators import intact, mutate_jsonl, mutate_store

with atheris.instrument_imports():
    from relcycle.cli import main
    from relcycle.errors import InputError, UsageError
    from relcycle.io import load_history

ZONES = ("UTC", "Europe/Kyiv", "America/St_Johns")

_ROOT = Path(tempfile.mkdtemp(prefix="relcycle-fuzz-"))
_IN = _ROOT / "in"
_OUT = _ROOT / "out"
_IN.mkdir()
_OUT.mkdir()


def _lines(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") + 1


_SQLITE = b"SQLite format 3\x00"


def _clear(folder: Path) -> None:
    for old in folder.iterdir():
        old.unlink()


def _check_store(data: bytes) -> None:
    """A (damaged) store: read, report and ingest into it end cleanly."""
    _clear(_IN)
    _clear(_OUT)
    db = _IN / "store.db"
    db.write_bytes(data)
    with contextlib.suppress(InputError, UsageError):
        load_history(db)
    out = _OUT / "report.json"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["report", str(db), "--format", "json", "--output", str(out)])
    assert code in (0, 1, 2), code
    assert "Traceback" not in err.getvalue()
    assert (code == 0) == out.exists()
    source = _OUT / "src"
    source.mkdir(exist_ok=True)
    (source / "orders.csv").write_text(
        "order_id,client_id,placed_at,amount\nfz1,C1,2024-01-01,1\n", encoding="utf-8"
    )
    was_intact = intact(db)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["ingest", str(source), "--db", str(db)])
    assert code in (0, 1, 2), code
    assert "Traceback" not in err.getvalue()
    if code == 0 and was_intact:
        assert intact(db)
    (source / "orders.csv").unlink()
    source.rmdir()


def _check(data: bytes) -> None:
    if data.startswith(_SQLITE):
        _check_store(data)
        return
    _clear(_IN)
    _clear(_OUT)  # a store's report of the input before stays there
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    name = "orders.jsonl" if head.startswith(b"{") else "orders.csv"
    zone = ZONES[len(data) % len(ZONES)]
    (_IN / name).write_bytes(data)

    loaded = None
    error: InputError | None = None
    try:
        loaded = load_history(_IN, tz=zone)
    except InputError as exc:
        error = exc
    if error is not None:
        assert error.problems, "InputError without problems"
        for p in error.problems:
            assert p.source in (name, _IN.name), p
            assert p.reason.strip(), p
            assert p.line is None or 1 <= p.line <= _lines(data), p

    out = _OUT / "report.json"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["report", str(_IN), "--format", "json", "--output", str(out), "--tz", zone])
    left = sorted(p.name for p in _OUT.iterdir())
    if code == 0:
        assert loaded is not None, "the report accepted what the reader refused"
        assert left == ["report.json"], left
        report = json.loads(out.read_text(encoding="utf-8"))
        assert {c["client_id"] for c in report["clients"]} == {
            h.client.client_id for h in loaded.portfolio
        }
        out.unlink()
    else:
        assert code in (1, 2), code
        assert left == [], f"a failed run left {left}"
        assert "Traceback" not in err.getvalue()


def test_one_input(data: bytes) -> None:
    """The libFuzzer entry point: one input, checked; a failed check is a crash."""
    _check(data)


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """Half of the time a structure-aware mutation, else libFuzzer's own."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        if data.startswith(_SQLITE):
            return mutate_store(data, rng)[:max_size]
        if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            return mutate_jsonl(data, rng)[:max_size]
    return bytes(atheris.Mutate(data, max_size))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
