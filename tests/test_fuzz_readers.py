"""Fuzzing the readers: mutated CSV and JSON Lines give a clean report or a clean error.

Every example starts from a valid history written by the contract (rows from
``relcycle.testing.valid_rows``), mutates it (bytes, encodings, quoting,
truncation, huge fields, extra or missing columns, BOMs, CRLF, NUL bytes,
non-ASCII digits, ``NaN``/``Infinity``/``1e999999`` amounts, ``00123`` ids) and
then checks what a user relies on:

* ``load_history`` returns records or raises :class:`~relcycle.errors.InputError`
  whose problems name a file of the source, a line inside it and (for a cell) the
  column — never another exception;
* the structure-aware mutators of ``fuzz/mutators.py`` (shared with the atheris
  harness) add JSON-level damage (a key twice, lone surrogates, 100,000 nested
  brackets) and damaged SQLite stores, which must read, report and take an ingest
  cleanly;
* ``relcycle report --output`` (run in-process) exits 0 with a complete report or
  exits 1 with the problems on stderr, no output file and no temporary leftovers;
* cells that were valid are read exactly: ids keep their leading zeros,
  decimals every digit, times their instant and offset.

The default sizes keep this file well under 30 seconds. Set
``RELCYCLE_FUZZ_EXAMPLES`` (examples per property, e.g. 5000) for a longer run, or
run ``pytest -m slow tests/test_fuzz_readers.py`` (2,000 more folders).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import random
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from relcycle.cli import main
from relcycle.errors import InputError, UsageError
from relcycle.io import LoadResult, load_history
from relcycle.store import ingest
from relcycle.testing import COLUMNS, invalid_rows, valid_rows

# the structure-aware mutators are shared with the atheris harness in fuzz/
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
from mutators import (
    JSONL_MUTATIONS,
    STORE_MUTATIONS,
    intact,
    mutate_jsonl,
    mutate_store,
)

FAST = int(os.environ.get("RELCYCLE_FUZZ_EXAMPLES", "0"))


def _settings(n: int) -> settings:
    return settings(
        max_examples=FAST or n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=not FAST,
    )


SLOW = settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ZONES = ("UTC", "Europe/Kyiv", "America/St_Johns")

#: Values real exports hold where a number (or an id) should be.
ODD_CELLS = (
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1e999999",
    "1E+999999",
    "-1e-999999",
    "-0",
    "-0.00",
    "+5",
    "0x1F",
    "1_000",
    "1 000",
    "12,50",
    "1.2.3",
    "\u0661\u0662\u0663",  # Arabic-Indic digits: Decimal() would read 123
    "\uff11\uff12\uff13",  # full-width digits
    "\u0663.\u0665",
    "\u0967\u0968",  # Devanagari
    "\u22125",  # U+2212 minus
    "12.5\u00a0",
    "\u00a0",
    "",
    "   ",
    "00123",
    "007",
    "0.000000000000000001",
    "0.0000000000000000001",
    "9" * 21,
    "9" * 22,
    "1e20",
    "1e21",
    "true",
    "null",
    "None",
    '"',
    "a\x00b",
    "\ufeff12",
    "2024-02-30",
    "0001-01-01",
    "9999-12-31T23:59:59",
    "2024-03-31T03:30:00",  # a DST gap in Europe/Kyiv
    "x" * 5000,
)

# ---------------------------------------------------------------------------- building inputs


def _render_csv(columns: Sequence[str], rows: Sequence[Mapping[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return buffer.getvalue().encode("utf-8")


def _render_jsonl(rows: Sequence[Mapping[str, str]]) -> bytes:
    lines = [
        json.dumps({k: v for k, v in row.items() if v != ""}, ensure_ascii=False) for row in rows
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


@st.composite
def histories_as_rows(draw: st.DrawFn) -> dict[str, list[dict[str, str]]]:
    """A small valid history as raw rows: orders, maybe interactions and complaints."""
    pool = draw(
        st.lists(
            st.sampled_from(["007", "00123", "C1", "Київ-2", "x"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    currency = draw(st.sampled_from(["USD", "EUR", "UAH"]))
    tables: dict[str, list[dict[str, str]]] = {}
    for name, low, high in (("orders", 1, 5), ("interactions", 0, 3), ("complaints", 0, 2)):
        if name != "orders" and not draw(st.booleans()):
            continue
        rows = draw(st.lists(valid_rows(name), min_size=low, max_size=high))
        for row in rows:
            row["client_id"] = draw(st.sampled_from(pool))
            if "currency" in row:
                row["currency"] = currency
        ids = [r[f"{name[:-1]}_id"] for r in rows if r[f"{name[:-1]}_id"]]
        if len(ids) != len(set(ids)):  # keep the base valid: duplicate ids are another test
            for n, row in enumerate(rows):
                row[f"{name[:-1]}_id"] = (
                    f"{row[f'{name[:-1]}_id']}#{n}" if row[f"{name[:-1]}_id"] else ""
                )
        tables[name] = rows
    return tables


@st.composite
def odd_cell(draw: st.DrawFn, tables: Mapping[str, list[dict[str, str]]]) -> None:
    """Put an odd value into one cell of one row."""
    name = draw(st.sampled_from(sorted(tables)))
    rows = tables[name]
    if not rows:
        return
    row = draw(st.sampled_from(rows))
    column = draw(st.sampled_from(sorted(row)))
    row[column] = draw(st.sampled_from(ODD_CELLS) | st.text(max_size=12))


def _insert(data: bytes, at: int, piece: bytes) -> bytes:
    return data[:at] + piece + data[at:]


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """One mutation of a file's bytes."""
    kind = draw(
        st.sampled_from(
            [
                "truncate",
                "delete",
                "insert",
                "flip",
                "nul",
                "bom",
                "double_bom",
                "crlf",
                "cr",
                "utf16",
                "cp1251",
                "quote",
                "huge",
                "extra_column",
                "drop_column",
                "duplicate_line",
                "empty",
            ]
        )
    )
    at = draw(st.integers(0, len(data)))
    if kind == "truncate":
        return data[:at]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 20)) :]
    if kind == "insert":
        return _insert(data, at, draw(st.binary(min_size=1, max_size=8)))
    if kind == "flip":
        if not data:
            return data
        at = min(at, len(data) - 1)
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if kind == "nul":
        return _insert(data, at, b"\x00")
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "double_bom":
        return b"\xef\xbb\xbf\xef\xbb\xbf" + data
    if kind == "crlf":
        return data.replace(b"\n", b"\r\n")
    if kind == "cr":
        return data.replace(b"\n", b"\r")
    if kind == "utf16":
        return data.decode("utf-8", errors="replace").encode("utf-16")
    if kind == "cp1251":
        return data.decode("utf-8", errors="replace").encode("cp1251", errors="replace")
    if kind == "quote":
        return _insert(data, at, b'"')
    if kind == "huge":
        piece = draw(st.sampled_from([b"9", b"x", b"\xd0\x96", b" "]))
        return _insert(data, at, piece * draw(st.sampled_from([1000, 70_000, 200_000])))
    if kind == "extra_column":
        head, _, rest = data.partition(b"\n")
        return head + b",extra\n" + rest
    if kind == "drop_column":
        head, _, rest = data.partition(b"\n")
        names = head.split(b",")
        if len(names) > 1:
            names.pop(draw(st.integers(0, len(names) - 1)))
        return b",".join(names) + b"\n" + rest
    if kind == "duplicate_line":
        lines = data.split(b"\n")
        line = draw(st.sampled_from(lines))
        return data + line + b"\n"
    return b""


# ---------------------------------------------------------------------------- checking outcomes


def _lines(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") + 1


def _check_problems(error: InputError, folder: Path, files: Mapping[str, bytes]) -> None:
    """Every problem names a file of the source, a line inside it, and a reason."""
    assert error.problems, "an InputError without problems"
    for p in error.problems:
        assert p.source in files or p.source == folder.name, p
        assert isinstance(p.reason, str), p
        assert p.reason.strip(), p
        assert p.column is None or isinstance(p.column, str), p
        assert p.value is None or isinstance(p.value, str), p
        if p.line is not None:
            assert isinstance(p.line, int), p
            assert 1 <= p.line <= _lines(files.get(p.source, b"")), p


def _run_cli(folder: Path, out_dir: Path, zone: str, fmt: str) -> tuple[int, str]:
    out = out_dir / f"report.{fmt}"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["report", str(folder), "--format", fmt, "--output", str(out), "--tz", zone])
    return code, err.getvalue()


def _check_run(
    tmp: Path, files: Mapping[str, bytes], zone: str, fmt: str = "json"
) -> LoadResult | InputError:
    """Write the files, load them, run the CLI; check the outcome; return the load's."""
    folder = tmp / "in"
    folder.mkdir()
    out_dir = tmp / "out"
    out_dir.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    outcome: LoadResult | InputError
    try:
        outcome = load_history(folder, tz=zone)
    except InputError as exc:
        _check_problems(exc, folder, files)
        outcome = exc
    code, stderr = _run_cli(folder, out_dir, zone, fmt)
    assert "Traceback" not in stderr
    written = sorted(p.name for p in out_dir.iterdir())
    if code == 2:  # nothing to report on and no --as-of: a usage error, nothing written
        assert isinstance(outcome, LoadResult), stderr
        assert len(outcome.tables) == 0, stderr
        assert written == [], written
        return outcome
    assert code in (0, 1), stderr
    if code == 1:
        assert written == [], f"a failed run left {written}"
        assert stderr.startswith("relcycle:"), stderr
    else:
        assert not isinstance(outcome, InputError), "the CLI accepted what the reader refused"
        assert written == [f"report.{fmt}"], written
        if fmt == "json":
            report = json.loads((out_dir / written[0]).read_text(encoding="utf-8"))
            reported = {c["client_id"] for c in report["clients"]}
            assert reported == {h.client.client_id for h in outcome.portfolio}
    if isinstance(outcome, InputError):
        assert code == 1
        first = outcome.problems[0]
        assert first.source in stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(files), "the input was touched"
    return outcome


def _fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# ---------------------------------------------------------------------------- the properties


def _csv_files(tables: Mapping[str, list[dict[str, str]]]) -> dict[str, bytes]:
    return {f"{n}.csv": _render_csv(COLUMNS[n], rows) for n, rows in tables.items()}


def _jsonl_files(tables: Mapping[str, list[dict[str, str]]]) -> dict[str, bytes]:
    return {f"{n}.jsonl": _render_jsonl(rows) for n, rows in tables.items()}


Render = Callable[[Mapping[str, list[dict[str, str]]]], dict[str, bytes]]


def _mutated_files(draw: st.DrawFn, render: Render) -> tuple[dict[str, bytes], str]:
    tables = draw(histories_as_rows())
    for _ in range(draw(st.integers(0, 2))):
        draw(odd_cell(tables))
    files = render(tables)
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(sorted(files)))
        files[name] = draw(byte_mutation(files[name]))
    return files, draw(st.sampled_from(ZONES))


@st.composite
def mutated_csv(draw: st.DrawFn) -> tuple[dict[str, bytes], str]:
    """Mutated CSV folders and the --tz to read them in."""
    return _mutated_files(draw, _csv_files)


@st.composite
def mutated_jsonl(draw: st.DrawFn) -> tuple[dict[str, bytes], str]:
    """Mutated JSON Lines folders and the --tz to read them in."""
    return _mutated_files(draw, _jsonl_files)


class TestMutatedInputs:
    """Mutated files: a clean report or a clean error, never a traceback or a partial file."""

    @_settings(150)
    @given(case=mutated_csv())
    def test_mutated_csv(
        self, tmp_path_factory: pytest.TempPathFactory, case: tuple[dict[str, bytes], str]
    ) -> None:
        """Mutated CSV folders load or fail with problems naming file, line and column."""
        files, zone = case
        _check_run(_fresh(tmp_path_factory), files, zone)

    @_settings(100)
    @given(case=mutated_jsonl())
    def test_mutated_jsonl(
        self, tmp_path_factory: pytest.TempPathFactory, case: tuple[dict[str, bytes], str]
    ) -> None:
        """Mutated JSON Lines folders load or fail with problems naming file and line."""
        files, zone = case
        _check_run(_fresh(tmp_path_factory), files, zone)

    @_settings(25)
    @given(case=mutated_csv(), fmt=st.sampled_from(["csv", "jsonl", "html", "table"]))
    def test_every_output_format_is_all_or_nothing(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        case: tuple[dict[str, bytes], str],
        fmt: str,
    ) -> None:
        """Whatever the format, a failed run leaves no file and a good one a whole one."""
        files, zone = case
        _check_run(_fresh(tmp_path_factory), files, zone, fmt)

    @pytest.mark.slow
    @SLOW
    @given(case=mutated_csv() | mutated_jsonl())
    def test_long_run(
        self, tmp_path_factory: pytest.TempPathFactory, case: tuple[dict[str, bytes], str]
    ) -> None:
        """The same property over many more CSV and JSON Lines examples."""
        files, zone = case
        _check_run(_fresh(tmp_path_factory), files, zone)


@st.composite
def jsonl_structure(draw: st.DrawFn) -> tuple[dict[str, bytes], str, str]:
    """JSON Lines folders with one JSON-level mutation (mutators.py), and its kind."""
    tables = draw(histories_as_rows())
    files = _jsonl_files(tables)
    name = draw(st.sampled_from(sorted(files)))
    kind = draw(st.sampled_from(JSONL_MUTATIONS))
    before = files[name]
    files[name] = mutate_jsonl(before, random.Random(draw(st.integers(0, 2**32))), kind)
    return files, draw(st.sampled_from(ZONES)), kind if files[name] != before else "none"


#: JSON-level mutations that always make the file invalid (never silently read).
ALWAYS_BAD = {"duplicate_key", "deep_nesting", "unclosed", "not_an_object", "trailing_text"}


class TestStructuredMutations:
    """The harness's structure-aware mutators: JSON Lines and stores."""

    @_settings(50)
    @given(case=jsonl_structure())
    def test_jsonl_structure(
        self, tmp_path_factory: pytest.TempPathFactory, case: tuple[dict[str, bytes], str, str]
    ) -> None:
        """A key twice, lone surrogates, deep nesting: a line problem, never a crash."""
        files, zone, kind = case
        outcome = _check_run(_fresh(tmp_path_factory), files, zone)
        if kind in ALWAYS_BAD:
            assert isinstance(outcome, InputError), kind

    @_settings(25)
    @given(
        kind=st.sampled_from(STORE_MUTATIONS),
        seed=st.integers(0, 2**32),
        tables=histories_as_rows(),
    )
    def test_damaged_store(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        kind: str,
        seed: int,
        tables: dict[str, list[dict[str, str]]],
    ) -> None:
        """A damaged store: read, report and ingest end cleanly, or leave it intact."""
        tmp = _fresh(tmp_path_factory)
        src = tmp / "src"
        src.mkdir()
        for name, data in _csv_files(tables).items():
            (src / name).write_bytes(data)
        db = tmp / "store.db"
        ingest(src, db)
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode = DELETE")  # one file holds it all
        conn.close()
        db.write_bytes(mutate_store(db.read_bytes(), random.Random(seed), kind))
        with contextlib.suppress(InputError, UsageError):
            load_history(db)
        out = tmp / "report.json"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["report", str(db), "--format", "json", "--output", str(out)])
            assert code in (0, 1, 2)
            assert (code == 0) == out.exists()
            was_intact = intact(db)
            code = main(["ingest", str(src), "--db", str(db)])
        assert code in (0, 1, 2)
        assert "Traceback" not in err.getvalue()
        if code == 0 and was_intact:
            assert intact(db)


class TestKnownBadCells:
    """A file with one bad cell names exactly that file, line and column."""

    @_settings(60)
    @given(
        data=st.data(),
        table=st.sampled_from(["orders", "interactions", "complaints", "clients"]),
        fmt=st.sampled_from(["csv", "jsonl"]),
    )
    def test_one_bad_cell_is_named(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        data: st.DataObject,
        table: str,
        fmt: str,
    ) -> None:
        """The problem points at the bad row's line and column, with the expected reason."""
        bad, column, reason = data.draw(invalid_rows(table))
        before = data.draw(st.integers(0, 3))
        good = [data.draw(valid_rows(table)) for _ in range(before)]
        id_column = "client_id" if table == "clients" else f"{table[:-1]}_id"
        for n, row in enumerate(good):  # unique ids, so only the planted mistake is wrong
            if row[id_column]:
                row[id_column] = f"{row[id_column]}#{n}"
        if bad[id_column] and column != id_column:
            bad[id_column] = f"{bad[id_column]}#bad"
        rows = [*good, bad]
        files: dict[str, bytes] = {}
        if table != "orders":
            orders = dict.fromkeys(COLUMNS["orders"], "")
            orders.update(client_id="C1", placed_at="2024-01-01", amount="1")
            files["orders" + "." + fmt] = (
                _render_csv(COLUMNS["orders"], [orders])
                if fmt == "csv"
                else _render_jsonl([orders])
            )
        columns = list(COLUMNS[table]) + sorted({k for r in rows for k in r} - set(COLUMNS[table]))
        files[f"{table}.{fmt}"] = (
            _render_csv(columns, rows) if fmt == "csv" else _render_jsonl(rows)
        )
        if table == "clients":  # the orders refer to C1: make it known
            rows.insert(0, {"client_id": "C1"})
            files[f"{table}.{fmt}"] = (
                _render_csv(columns, rows) if fmt == "csv" else _render_jsonl(rows)
            )
        folder = _fresh(tmp_path_factory)
        for name, payload in files.items():
            (folder / name).write_bytes(payload)
        with pytest.raises(InputError) as caught:
            load_history(folder)
        line = _line_of_last_row(files[f"{table}.{fmt}"], fmt)
        named = [
            p
            for p in caught.value.problems
            if p.source == f"{table}.{fmt}" and p.line == line and p.column == column
        ]
        assert named, (column, reason, [str(p) for p in caught.value.problems])
        assert any(reason in p.reason.lower() for p in named), [str(p) for p in named]


def _line_of_last_row(data: bytes, fmt: str) -> int:
    """The 1-based line where the file's last record starts."""
    if fmt == "jsonl":
        return data.rstrip(b"\n").count(b"\n") + 1
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    start = 1
    end = 0
    for _ in reader:
        start = end + 1
        end = reader.line_num
    return start


# ---------------------------------------------------------------------------- exact values


@st.composite
def exact_amounts(draw: st.DrawFn) -> str:
    """Decimal text as exports write it: trailing zeros, 20 integer digits, 18 decimals."""
    whole = draw(st.integers(0, 10**20 - 1))
    places = draw(st.integers(0, 18))
    fraction = draw(st.integers(0, 10**places - 1)) if places else 0
    text = str(whole) + (f".{fraction:0{places}d}" if places else "")
    if places < 18 and draw(st.integers(0, 9)) == 0:  # a trailing zero is a digit too
        text += "0" if "." in text else ".0"
    return text


EXACT_IDS = st.sampled_from(
    [
        "00123",
        "007",
        "0",
        "000",
        "1e5",
        "1E5",
        "0x10",
        "12.50",
        "-1",
        "\u0663",
        "NaN",
        "true",
        "null",
        "Ő-7",
        "a,b",
        'q"t',
        " pad ",
    ]
)


@st.composite
def exact_orders(draw: st.DrawFn) -> list[dict[str, str]]:
    """Orders whose every cell must come back exactly as written."""
    n = draw(st.integers(1, 6))
    order_ids = draw(
        st.lists(
            EXACT_IDS | st.integers(0, 999).map(lambda i: f"{i:05d}"),
            min_size=n,
            max_size=n,
            unique=True,
        )
    )
    rows = []
    for oid in order_ids:
        offset = draw(st.sampled_from(["+00:00", "+02:00", "-03:30", "+05:45", "Z", "-12:00"]))
        moment = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
        rows.append(
            {
                "order_id": oid,
                "client_id": draw(st.sampled_from(["00123", "007", "0", "C-1", "Ж"])),
                "placed_at": moment.isoformat() + offset,
                "amount": draw(exact_amounts()),
                "currency": "EUR",
                "cost": draw(st.just("") | exact_amounts()),
            }
        )
    return rows


def _digits(value: Decimal) -> tuple[int, tuple[int, ...], int | str]:
    """The sign, every digit and the exponent: equal means equal to the last digit."""
    sign, digits, exponent = value.as_tuple()
    return sign, digits, exponent


def _load_or_error(folder: Path) -> LoadResult | InputError:
    try:
        return load_history(folder)
    except InputError as exc:
        return exc


def _parse_moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class TestValuesRoundTripExactly:
    """Valid cells are read exactly, whatever odd cell sits next to them."""

    @_settings(80)
    @given(
        rows=exact_orders(),
        fmt=st.sampled_from(["csv", "jsonl"]),
        odd=st.none()
        | st.tuples(
            st.sampled_from(["amount", "cost", "order_id", "client_id", "placed_at"]),
            st.sampled_from(ODD_CELLS),
        ),
        victim=st.integers(0, 5),
        bom_crlf=st.tuples(st.booleans(), st.booleans()),
    )
    def test_valid_cells_are_kept_to_the_last_digit(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        rows: list[dict[str, str]],
        fmt: str,
        odd: tuple[str, str] | None,
        victim: int,
        bom_crlf: tuple[bool, bool],
    ) -> None:
        """Ids keep leading zeros, amounts every digit, times instant and offset."""
        victim %= len(rows)
        if odd is not None:
            rows[victim][odd[0]] = odd[1]
        payload = _render_csv(COLUMNS["orders"], rows) if fmt == "csv" else _render_jsonl(rows)
        bom, crlf = bom_crlf
        if bom:
            payload = b"\xef\xbb\xbf" + payload
        if crlf:
            payload = payload.replace(b"\n", b"\r\n")
        folder = _fresh(tmp_path_factory)
        (folder / f"orders.{fmt}").write_bytes(payload)
        outcome = _load_or_error(folder)
        if isinstance(outcome, InputError):
            shown = [str(p) for p in outcome.problems]
            assert odd is not None, shown
            assert {p.line for p in outcome.problems} == {victim + (2 if fmt == "csv" else 1)}, (
                shown
            )
            assert {p.column for p in outcome.problems} <= {odd[0], "order_id", None}, shown
            return
        result = outcome
        by_id = {o.order_id: o for o in result.tables.orders}
        assert len(result.tables.orders) == len(rows)
        for n, row in enumerate(rows):
            if odd is not None and n == victim:
                self._check_accepted_odd(result, row, odd)
                continue
            order = by_id[row["order_id"]]
            assert order.client_id == row["client_id"]
            assert _digits(order.amount) == _digits(Decimal(row["amount"]))
            if row["cost"]:
                assert order.cost is not None
                assert _digits(order.cost) == _digits(Decimal(row["cost"]))
            else:
                assert order.cost is None
            expected = _parse_moment(row["placed_at"])
            assert order.placed_at == expected
            assert order.placed_at.utcoffset() == expected.utcoffset()

    @staticmethod
    def _check_accepted_odd(result: LoadResult, row: dict[str, str], odd: tuple[str, str]) -> None:
        """An odd cell that was accepted means what it says, never a guess."""
        column, value = odd
        assert not any(ch.isdigit() and not ch.isascii() for ch in value) or column in {
            "order_id",
            "client_id",
        }, f"non-ASCII digits accepted in {column}: {value!r}"
        if column in {"amount", "cost"} and value.strip():
            (order,) = [o for o in result.tables.orders if o.order_id == row["order_id"]]
            got = order.amount if column == "amount" else order.cost
            assert got is not None
            assert got == Decimal(value.strip())
            assert got.is_finite()
            assert got >= 0
        if column in {"order_id", "client_id"} and value.strip():
            ids = {getattr(o, column) for o in result.tables.orders}
            assert value in ids, f"{column} {value!r} was changed"
