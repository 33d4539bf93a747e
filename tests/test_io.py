"""Tests for relcycle.io: reading and writing histories in the contract's formats."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle.errors import InputError, Problem, UsageError
from relcycle.history import Portfolio
from relcycle.io import (
    COLUMNS,
    HistoryTables,
    LoadResult,
    as_tables,
    load_arrow,
    load_history,
    load_records,
    write_history,
    write_rejects,
)
from relcycle.model import ComplaintStatus, OrderStatus, Purpose
from relcycle.testing import invalid_rows, portfolios, valid_rows

ORDER_HEADER = "order_id,client_id,placed_at,amount,currency,discounted,status,on_time,product,cost"


def write(folder: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    """Write a file of the test's source folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def problems_of(source: Path, **kwargs: Any) -> list[Problem]:
    """Load a source that must fail and return its problems."""
    with pytest.raises(InputError) as info:
        load_history(source, **kwargs)
    return list(info.value.problems)


def one_problem(source: Path, **kwargs: Any) -> Problem:
    """Load a source that must fail with exactly one problem and return it."""
    found = problems_of(source, **kwargs)
    assert len(found) == 1, found
    return found[0]


def record_dicts(portfolio: Portfolio) -> list[dict[str, Any]]:
    """Every client and record as its lossless dict (offsets and decimal digits included)."""
    out: list[dict[str, Any]] = []
    for history in portfolio:
        out.append({"client": history.client.to_dict(), "inferred": history.client_inferred})
        out.extend(r.to_dict() for r in history.interactions)
        out.extend(r.to_dict() for r in history.orders)
        out.extend(r.to_dict() for r in history.complaints)
    return out


# --------------------------------------------------------------------------- CSV


class TestCsv:
    def test_orders_alone_infer_clients(self, tmp_path: Path) -> None:
        """A folder with only orders.csv loads, with clients inferred from client_id."""
        write(tmp_path, "orders.csv", "order_id,client_id,placed_at,amount\n1,A,2024-01-02,10\n")
        result = load_history(tmp_path)
        assert result.portfolio.client_ids == ("A",)
        assert result.portfolio["A"].client_inferred
        assert result.tables.clients is None
        assert result.counts["orders"].loaded == 1

    def test_ids_stay_text(self, tmp_path: Path) -> None:
        """Ids are strings: 007 stays 007 and 7 is another client."""
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount\n001,007,2024-01-02,10\n002,7,2024-01-02,5\n",
        )
        result = load_history(tmp_path)
        assert result.portfolio.client_ids == ("007", "7")
        assert result.portfolio["007"].orders[0].order_id == "001"

    def test_bom_and_crlf_are_harmless(self, tmp_path: Path) -> None:
        """A UTF-8 BOM and CRLF line ends read like plain UTF-8 with LF."""
        text = "\ufefforder_id,client_id,placed_at,amount\r\nx,A,2024-01-02,10.50\r\n"
        write(tmp_path / "a", "orders.csv", text)
        write(tmp_path / "b", "orders.csv", text.lstrip("\ufeff").replace("\r\n", "\n"))
        a = load_history(tmp_path / "a")
        assert a.tables == load_history(tmp_path / "b").tables
        assert a.tables.orders[0].amount == Decimal("10.50")

    def test_rfc4180_quoting(self, tmp_path: Path) -> None:
        """Quoted fields keep commas, quotes and line breaks; line numbers stay physical."""
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount,product\n"
            'a,A,2024-01-02,1,"bolts, ""M8""\nand nuts"\n'
            "b,A,2024-01-03,-1,x\n",
        )
        problem = one_problem(tmp_path)
        assert (problem.line, problem.column) == (4, "amount")
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount,product\n"
            'a,A,2024-01-02,1,"bolts, ""M8""\nand nuts"\n',
        )
        assert load_history(tmp_path).tables.orders[0].product == 'bolts, "M8"\nand nuts'

    def test_money_is_exact(self, tmp_path: Path) -> None:
        """Amounts are Decimals read from text, to the last digit."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount,cost\nA,2024-01-02,0.10,0.070\n")
        order = load_history(tmp_path).tables.orders[0]
        assert order.amount == Decimal("0.10")
        assert str(order.amount) == "0.10"
        assert str(order.cost) == "0.070"

    def test_defaults_and_optional_cells(self, tmp_path: Path) -> None:
        """Empty optional cells mean not known; currency defaults to the load's currency."""
        write(
            tmp_path,
            "orders.csv",
            f"{ORDER_HEADER}\nx,A,2024-01-02,10,,,,,,\ny,A,2024-01-02,10,usd,YES,Delivered,0,p,1\n",
        )
        x, y = load_history(tmp_path, currency="EUR").tables.orders
        assert (x.currency, x.discounted, x.status, x.on_time, x.product, x.cost) == (
            "EUR",
            False,
            OrderStatus.placed,
            None,
            None,
            None,
        )
        assert (y.currency, y.discounted, y.status, y.on_time) == (
            "USD",
            True,
            OrderStatus.delivered,
            False,
        )

    def test_client_extra_columns_are_attributes(self, tmp_path: Path) -> None:
        """Unknown client columns become attributes; empty ones are left out."""
        write(tmp_path, "clients.csv", "client_id,name,turnover,tier\nA,Acme,1M,\n")
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-01-02,1\n")
        client = load_history(tmp_path).portfolio["A"].client
        assert dict(client.attributes) == {"turnover": "1M"}
        assert client.name == "Acme"

    def test_empty_clients_table_means_inferred(self, tmp_path: Path) -> None:
        """A clients file with a header and no rows is no clients table."""
        write(tmp_path, "clients.csv", "client_id,name\n")
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-01-02,1\n")
        assert load_history(tmp_path).portfolio["A"].client_inferred

    def test_single_file_is_the_orders_table(self, tmp_path: Path) -> None:
        """A lone CSV file is read as a transaction log (the orders table)."""
        path = write(tmp_path, "log.csv", "client_id,placed_at,amount\nA,2024-01-02,1\n")
        assert len(load_history(path).tables.orders) == 1
        other = write(tmp_path, "clients.csv", "client_id\nA\n")
        with pytest.raises(UsageError, match="orders table"):
            load_history(other)

    def test_missing_source_and_missing_orders(self, tmp_path: Path) -> None:
        """A missing path is a usage error; a folder without orders is an input error."""
        with pytest.raises(UsageError, match="no such file"):
            load_history(tmp_path / "nope")
        write(tmp_path, "clients.csv", "client_id\nA\n")
        assert "no orders table" in one_problem(tmp_path).reason

    def test_two_files_for_one_table(self, tmp_path: Path) -> None:
        """orders.csv next to orders.jsonl is ambiguous and refused."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\n")
        write(tmp_path, "orders.jsonl", "")
        with pytest.raises(UsageError, match="more than one file"):
            load_history(tmp_path)

    @pytest.mark.parametrize("table", ["orders", "interactions", "complaints", "clients"])
    @pytest.mark.parametrize(
        ("suffix", "todo"),
        [
            (".xlsx", "export the sheet as CSV"),
            (".xls", "export the sheet as CSV"),
            (".ods", "export the sheet as CSV"),
            (".tsv", "--delimiter tab"),
            (".txt", "--delimiter"),
            (".json", "name it .jsonl"),
            (".csv.gz", "decompress"),
        ],
    )
    def test_a_table_in_a_file_type_not_read(
        self, tmp_path: Path, table: str, suffix: str, todo: str
    ) -> None:
        """interactions.xlsx beside orders.csv is refused, not left out in silence,
        on both engines, saying what to do."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2026-01-01,1\n")
        write(tmp_path, f"{table}{suffix}", "")
        with pytest.raises(UsageError, match=f"{table}{suffix}: relcycle reads the {table} table"):
            load_history(tmp_path)
        with pytest.raises(UsageError, match=todo):
            load_history(tmp_path)
        pytest.importorskip("polars")
        from relcycle.columnar import read_tables

        with pytest.raises(UsageError, match=f"{table}{suffix}"):
            read_tables(tmp_path)


class TestLoaderCollector:
    """The loader pauses the cyclic garbage collector while it builds its records
    (they all live on: a collection would walk them again and again), and gives it
    back as it found it, whether the load ends well or not."""

    def test_the_records_are_built_with_the_collector_paused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import gc

        from relcycle.model import Order

        seen: list[bool] = []
        post_init = Order.__attrs_post_init__

        def watched(self: Order) -> None:
            seen.append(gc.isenabled())
            post_init(self)

        monkeypatch.setattr(Order, "__attrs_post_init__", watched)
        loaded = load_records([{"client_id": "A", "placed_at": "2024-01-02", "amount": "10"}])
        assert len(loaded.tables.orders) == 1
        assert seen == [False]
        assert gc.isenabled()

    def test_the_collector_is_enabled_again_after_bad_input(self) -> None:
        import gc

        with pytest.raises(InputError):
            load_records([{"client_id": "A", "placed_at": "2024-01-02", "amount": "-5"}])
        assert gc.isenabled()

    def test_a_collector_switched_off_stays_off(self) -> None:
        import gc

        gc.disable()
        try:
            load_records([{"client_id": "A", "placed_at": "2024-01-02", "amount": "10"}])
            assert not gc.isenabled()
        finally:
            gc.enable()


class TestSpreadsheetLeftovers:
    """What spreadsheets leave in a CSV export: rows of empty cells are blank lines;
    trailing columns without a name are left out when they hold nothing (and the
    load says so), and a value under no name is a problem of its row."""

    HEADER = "client_id,placed_at,amount,,\n"

    def test_rows_of_empty_cells_are_skipped(self, tmp_path: Path) -> None:
        write(tmp_path, "orders.csv", 'client_id,placed_at,amount\nA,2026-01-01,1\n,,\n"","",""\n')
        result = load_history(tmp_path, currency="EUR")
        assert result.counts["orders"].read == 1
        assert result.warnings == ()

    def test_empty_columns_without_a_name_are_left_out_and_said(self, tmp_path: Path) -> None:
        write(tmp_path, "orders.csv", self.HEADER + "A,2026-01-01,1,,\nB,2026-01-02,2,,\n")
        result = load_history(tmp_path, currency="EUR")
        assert [o.client_id for o in result.tables.orders] == ["A", "B"]
        assert result.warnings == (
            "orders.csv: 2 column(s) without a name (#4, #5) left out: they hold no value "
            "in the rows loaded",
        )

    def test_a_value_under_no_name_is_a_problem(self, tmp_path: Path) -> None:
        write(tmp_path, "orders.csv", self.HEADER + "A,2026-01-01,1,,\nB,2026-01-02,2,,7\n")
        problem = one_problem(tmp_path, currency="EUR")
        assert (problem.line, problem.column, problem.value) == (3, "#5", "7")
        assert "without a name holds a value" in problem.reason
        result = load_history(tmp_path, currency="EUR", skip_bad_rows=True)
        assert [o.client_id for o in result.tables.orders] == ["A"]
        assert [r.line for r in result.rejects] == [3]
        assert "in the rows loaded" in result.warnings[0]

    def test_a_named_column_twice_is_still_refused(self, tmp_path: Path) -> None:
        write(tmp_path, "orders.csv", "client_id,placed_at,amount,amount\nA,2026-01-01,1,1\n")
        assert one_problem(tmp_path, currency="EUR").reason == "the column occurs twice"


class TestTextFrames:
    """A frame holding a text file's cells (a Dask partition of a CSV file) reads
    its rows of empty cells as blank lines, as the CSV reader does, and names
    rows by the numbers given; any other frame reads every row."""

    def test_blank_rows_of_a_text_frame(self) -> None:
        pa = pytest.importorskip("pyarrow")
        from relcycle.io import _arrow_inputs
        from relcycle.io._load import load_tables

        table = pa.table(
            {
                "client_id": ["A", None, "", "B"],
                "placed_at": ["2026-01-01", None, "", "2026-01-02"],
                "amount": ["1", None, "", "x"],
            }
        )
        for text, lines in ((True, [7]), (False, [4, 5, 7])):
            inputs = _arrow_inputs({"orders": (table, "orders.csv", [2, 4, 5, 7], text)}, None)
            with pytest.raises(InputError) as info:
                load_tables(inputs, currency="EUR")
            assert sorted({p.line for p in info.value.problems}) == lines


class TestGeneratedIds:
    def test_identical_rows_are_distinct_records(self, tmp_path: Path) -> None:
        """Two identical id-less rows are two orders with different ids."""
        row = "A,2024-01-02,10\n"
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\n" + row + row)
        ids = [o.order_id for o in load_history(tmp_path).tables.orders]
        assert len(set(ids)) == 2
        assert ids[1] == ids[0] + "-2"
        assert ids[0].startswith("o-")

    def test_rereading_gives_the_same_ids(self, tmp_path: Path) -> None:
        """Reading the same file twice gives the same generated ids."""
        write(
            tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-01-02,10\nB,2024-01-03,5\n"
        )
        assert load_history(tmp_path).tables == load_history(tmp_path).tables

    def test_appending_rows_keeps_earlier_ids(self, tmp_path: Path) -> None:
        """Rows appended to a source do not change the ids of the rows before them."""
        head = "client_id,placed_at,amount\nA,2024-01-02,10\nA,2024-01-02,10\nB,2024-01-03,5\n"
        write(tmp_path, "orders.csv", head)
        before = [o.order_id for o in load_history(tmp_path).tables.orders]
        write(tmp_path, "orders.csv", head + "A,2024-01-02,10\nC,2024-02-01,1\n")
        after = [o.order_id for o in load_history(tmp_path).tables.orders]
        assert after[:3] == before
        assert len(set(after)) == 5

    def test_column_order_does_not_matter(self, tmp_path: Path) -> None:
        """The id hashes the cells in contract order, whatever the header's order."""
        write(tmp_path / "a", "orders.csv", "client_id,placed_at,amount\nA,2024-01-02,10\n")
        write(tmp_path / "b", "orders.csv", "amount,client_id,placed_at\n10,A,2024-01-02\n")
        assert load_history(tmp_path / "a").tables == load_history(tmp_path / "b").tables

    def test_same_ids_from_csv_and_records(self, tmp_path: Path) -> None:
        """Text cells give the same ids whether they come from CSV or from dict rows."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-01-02,10\n")
        from_rows = load_records([{"client_id": "A", "placed_at": "2024-01-02", "amount": "10"}])
        assert load_history(tmp_path).tables == from_rows.tables


# --------------------------------------------------------------------------- bad input

BAD_CASES = [
    # (name, file, text, line, column, reason fragment)
    (
        "wrong type",
        "orders.csv",
        "client_id,placed_at,amount,discounted\nA,2024-01-02,1,maybe\n",
        2,
        "discounted",
        "bool",
    ),
    (
        "unknown enum",
        "orders.csv",
        "client_id,placed_at,amount,status\nA,2024-01-02,1,shipped\n",
        2,
        "status",
        "not one of",
    ),
    (
        "negative amount",
        "orders.csv",
        "client_id,placed_at,amount\nA,2024-01-02,-3.50\n",
        2,
        "amount",
        ">= 0",
    ),
    (
        "unparseable date",
        "orders.csv",
        "client_id,placed_at,amount\nA,yesterday,1\n",
        2,
        "placed_at",
        "iso 8601",
    ),
    (
        "ambiguous date",
        "orders.csv",
        "client_id,placed_at,amount\nA,01/02/03,1\n",
        2,
        "placed_at",
        "never guessed",
    ),
    (
        "impossible date",
        "orders.csv",
        "client_id,placed_at,amount\nA,2021-02-30,1\n",
        2,
        "placed_at",
        "not a valid datetime: day is out of range for month",
    ),
    (
        "impossible month",
        "orders.csv",
        "client_id,placed_at,amount\nA,2021-13-01,1\n",
        2,
        "placed_at",
        "not a valid datetime: month must be in 1..12",
    ),
    (
        "impossible time",
        "orders.csv",
        "client_id,placed_at,amount\nA,2021-02-01T25:00,1\n",
        2,
        "placed_at",
        "not a valid datetime: hour must be in 0..23",
    ),
    (
        "nan amount",
        "orders.csv",
        "client_id,placed_at,amount\nA,2024-01-02,NaN\n",
        2,
        "amount",
        "finite",
    ),
    (
        "infinite amount",
        "orders.csv",
        "client_id,placed_at,amount\nA,2024-01-02,Infinity\n",
        2,
        "amount",
        "finite",
    ),
    (
        "overflowing amount",
        "orders.csv",
        "client_id,placed_at,amount\nA,2024-01-02,1e999999\n",
        2,
        "amount",
        "too large",
    ),
    (
        "non-ascii digits",
        "orders.csv",
        "client_id,placed_at,amount\nA,2024-01-02,١٢٣\n",
        2,
        "amount",
        "non-ascii",
    ),
    (
        "decimal comma",
        "orders.csv",
        'client_id,placed_at,amount\nA,2024-01-02,"12,50"\n',
        2,
        "amount",
        "decimal point",
    ),
    (
        "empty required",
        "orders.csv",
        "client_id,placed_at,amount\n,2024-01-02,1\n",
        2,
        "client_id",
        "empty",
    ),
    (
        "blank id",
        "orders.csv",
        "order_id,client_id,placed_at,amount\n  ,A,2024-01-02,1\n",
        2,
        "order_id",
        "blank",
    ),
    (
        "bad currency",
        "orders.csv",
        "client_id,placed_at,amount,currency\nA,2024-01-02,1,euro\n",
        2,
        "currency",
        "iso 4217",
    ),
    (
        "year out of range",
        "orders.csv",
        "client_id,placed_at,amount\nA,0001-01-01T00:00,1\n",
        2,
        "placed_at",
        "supported years",
    ),
    (
        "sub-microsecond",
        "orders.csv",
        "client_id,placed_at,amount\nA,2024-01-02T10:00:00.1234567,1\n",
        2,
        "placed_at",
        "microsecond",
    ),
    (
        "nul byte",
        "orders.csv",
        "client_id,placed_at,amount,product\nA,2024-01-02,1,a\x00b\n",
        2,
        "product",
        "nul",
    ),
    (
        "missing required column",
        "orders.csv",
        "client_id,amount\nA,1\n",
        1,
        "placed_at",
        "required column",
    ),
    (
        "unknown column",
        "orders.csv",
        "client_id,placed_at,amount,ammount\nA,2024-01-02,1,2\n",
        1,
        "ammount",
        "unknown column",
    ),
    (
        "field count",
        "orders.csv",
        "client_id,placed_at,amount\nA,2024-01-02,1,extra\n",
        2,
        None,
        "field",
    ),
    (
        "unknown interaction purpose",
        "interactions.csv",
        "client_id,at,purpose\nA,2024-01-02,gossip\n",
        2,
        "purpose",
        "not one of",
    ),
    (
        "lapsed is no termination reason",
        "interactions.csv",
        "client_id,at,purpose,reason\nA,2024-01-02,termination,Lapsed\n",
        2,
        "reason",
        "not one of: competitor, price, quality, service, manager_left, other (lapsed is",
    ),
    (
        "negative minutes",
        "interactions.csv",
        "client_id,at,minutes\nA,2024-01-02,-5\n",
        2,
        "minutes",
        ">= 0",
    ),
    (
        "resolution before opening",
        "complaints.csv",
        "client_id,opened_at,status,resolved_at\nA,2024-01-05,resolved,2024-01-02\n",
        2,
        "resolved_at",
        "before",
    ),
    (
        "resolved without time",
        "complaints.csv",
        "client_id,opened_at,status\nA,2024-01-05,resolved\n",
        2,
        "resolved_at",
        "resolution",
    ),
    (
        "open with a resolution",
        "complaints.csv",
        "client_id,opened_at,status,resolved_at\nA,2024-01-05,open,2024-01-06\n",
        2,
        "resolved_at",
        "resolution",
    ),
    (
        "unknown severity",
        "complaints.csv",
        "client_id,opened_at,severity\nA,2024-01-05,apocalyptic\n",
        2,
        "severity",
        "not one of",
    ),
]


class TestBadInput:
    @pytest.mark.parametrize(
        ("name", "file", "text", "line", "column", "fragment"),
        BAD_CASES,
        ids=[c[0] for c in BAD_CASES],
    )
    def test_each_bad_cell_names_file_line_column(
        self,
        tmp_path: Path,
        name: str,
        file: str,
        text: str,
        line: int,
        column: str | None,
        fragment: str,
    ) -> None:
        """Each kind of bad input is reported with its file, line, column and reason."""
        write(tmp_path, file, text)
        if file != "orders.csv":
            write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-01-01,1\n")
        problem = one_problem(tmp_path)
        assert problem.source == file
        assert problem.line == line
        assert problem.column == column
        assert fragment in problem.reason.lower()
        assert str(problem).startswith(f"{file}:{line}: ")

    def test_impossible_iso_date_is_not_called_ambiguous(self, tmp_path: Path) -> None:
        """An ISO-shaped date that does not exist says why, not that its form is unknown."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2026-02-30,1\n")
        problem = one_problem(tmp_path)
        assert (problem.column, problem.value) == ("placed_at", "2026-02-30")
        assert problem.reason == "not a valid datetime: day is out of range for month"

    def test_dst_gap_is_an_error_naming_the_cell(self, tmp_path: Path) -> None:
        """A local time skipped by a DST change is refused, naming the zone."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-03-31T03:30,1\n")
        problem = one_problem(tmp_path, tz="Europe/Kyiv")
        assert (problem.line, problem.column, problem.value) == (2, "placed_at", "2024-03-31T03:30")
        assert "does not exist" in problem.reason
        assert "Europe/Kyiv" in problem.reason

    def test_duplicate_ids_report_both_lines(self, tmp_path: Path) -> None:
        """A duplicate id is reported at both of its lines."""
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount\nX,A,2024-01-02,1\nY,A,2024-01-02,1\nX,B,2024-01-03,2\n",
        )
        found = problems_of(tmp_path)
        assert [(p.line, p.column, p.value) for p in found] == [
            (2, "order_id", "X"),
            (4, "order_id", "X"),
        ]
        assert "orders.csv:4" in found[0].reason
        assert "orders.csv:2" in found[1].reason

    def test_duplicate_id_on_a_row_with_bad_cells_is_reported(self, tmp_path: Path) -> None:
        """A duplicate id is reported at both lines even when the second row has bad cells."""
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount,status\n"
            "o1,007,2026-01-05,12.50,placed\no1,007,2026-01-06,-3,shipped\n",
        )
        found = problems_of(tmp_path)
        assert [(p.line, p.column) for p in found] == [
            (2, "order_id"),
            (3, "amount"),
            (3, "status"),
            (3, "order_id"),
        ]
        assert found[0].value == found[3].value == "o1"
        assert found[0].reason == "duplicate id (also at orders.csv:3)"
        assert found[3].reason == "duplicate id (also at orders.csv:2)"

    def test_duplicate_id_of_an_earlier_bad_row_is_reported(self, tmp_path: Path) -> None:
        """A good row repeating the id of an earlier bad row is a duplicate at both lines."""
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount\nX,A,bad,1\nX,A,2024-01-02,1\nX,A,2024-01-03,1\n",
        )
        found = problems_of(tmp_path)
        assert [(p.line, p.column, p.reason) for p in found] == [
            (2, "placed_at", found[0].reason),
            (2, "order_id", "duplicate id (also at orders.csv:3)"),
            (3, "order_id", "duplicate id (also at orders.csv:2)"),
            (4, "order_id", "duplicate id (also at orders.csv:2)"),
        ]

    def test_bad_id_cell_on_a_row_with_bad_cells_is_reported(self) -> None:
        """An invalid id is reported along with the row's other bad cells."""
        with pytest.raises(InputError) as info:
            load_records([{"order_id": "  ", "client_id": "A", "placed_at": "x", "amount": "1"}])
        assert [p.column for p in info.value.problems] == ["placed_at", "order_id"]

    def test_unknown_client_on_a_row_with_bad_cells_is_reported(self, tmp_path: Path) -> None:
        """A row with bad cells and a valid but unknown client_id reports all of them."""
        write(tmp_path, "clients.csv", "client_id\nA\n")
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-01-02,1\nB,bad,-1\n")
        found = problems_of(tmp_path)
        assert [(p.line, p.column, p.value) for p in found] == [
            (3, "placed_at", "bad"),
            (3, "amount", "-1"),
            (3, "client_id", "B"),
        ]
        assert found[2].reason == "no such client in the clients table"

    def test_unknown_client_and_duplicate_id_are_both_reported(self, tmp_path: Path) -> None:
        """A row naming an unknown client with a repeated id gets both problems."""
        write(tmp_path, "clients.csv", "client_id\nA\n")
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount\nX,A,2024-01-02,1\nX,B,2024-01-02,1\n",
        )
        found = problems_of(tmp_path)
        assert [(p.line, p.column) for p in found] == [
            (2, "order_id"),
            (3, "client_id"),
            (3, "order_id"),
        ]

    def test_unknown_client(self, tmp_path: Path) -> None:
        """Records of a client missing from clients.csv are reported with their line."""
        write(tmp_path, "clients.csv", "client_id\nA\n")
        write(
            tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-01-02,1\nB,2024-01-02,1\n"
        )
        problem = one_problem(tmp_path)
        assert (problem.source, problem.line, problem.column, problem.value) == (
            "orders.csv",
            3,
            "client_id",
            "B",
        )

    def test_every_problem_is_reported(self, tmp_path: Path) -> None:
        """All bad cells are reported at once, in line order, not just the first."""
        write(
            tmp_path,
            "orders.csv",
            "client_id,placed_at,amount,status\nA,bad,1,placed\nA,2024-01-02,-1,nope\nA,2024-01-02,1,placed\n",
        )
        found = problems_of(tmp_path)
        assert [(p.line, p.column) for p in found] == [
            (2, "placed_at"),
            (3, "amount"),
            (3, "status"),
        ]

    def test_problems_are_capped(self, tmp_path: Path) -> None:
        """Past the cap the load stops and says the list is truncated."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\n" + "A,x,1\n" * 30)
        with pytest.raises(InputError) as info:
            load_history(tmp_path, max_problems=10)
        assert len(info.value.problems) == 10
        assert info.value.truncated
        assert "10+ problem(s)" in str(info.value)

    def test_unknown_columns_can_be_ignored(self, tmp_path: Path) -> None:
        """extra_columns='ignore' leaves unknown order columns out and lists them."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount,invoice\nA,2024-01-02,1,77\n")
        result = load_history(tmp_path, extra_columns="ignore")
        assert result.ignored_columns["orders"] == ("invoice",)
        assert len(result.tables.orders) == 1

    def test_misspelled_column_gets_a_hint(self, tmp_path: Path) -> None:
        """A missing required column suggests the present column it resembles."""
        write(tmp_path, "orders.csv", "client_id,placed_on,amount\nA,2024-01-02,1\n")
        found = problems_of(tmp_path, extra_columns="ignore")
        assert found[0].column == "placed_at"
        assert "placed_on" in found[0].reason

    def test_bad_utf8_names_the_line(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are reported with their line."""
        (tmp_path / "orders.csv").write_bytes(
            b"client_id,placed_at,amount\nA,2024-01-02,1\nB\xff,2024-01-02,1\n"
        )
        problem = one_problem(tmp_path)
        assert (problem.source, problem.line) == ("orders.csv", 3)
        assert "UTF-8" in problem.reason

    def test_unterminated_quote(self, tmp_path: Path) -> None:
        """A quote left open at the end of the file is malformed CSV, not a silent value."""
        write(tmp_path, "orders.csv", 'client_id,placed_at,amount\nA,2024-01-02,"1\n')
        assert "malformed CSV" in one_problem(tmp_path).reason

    def test_empty_file(self, tmp_path: Path) -> None:
        """An empty orders.csv has no header and is reported."""
        write(tmp_path, "orders.csv", "")
        assert "empty" in one_problem(tmp_path).reason

    def test_bad_options_are_usage_errors(self, tmp_path: Path) -> None:
        """Unknown zones and currencies are usage errors, not data problems."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-01-02,1\n")
        with pytest.raises(UsageError, match="time zone"):
            load_history(tmp_path, tz="Mars/Olympus")
        with pytest.raises(UsageError, match="currency"):
            load_history(tmp_path, currency="euro")

    @settings(max_examples=60, deadline=None)
    @given(
        case=st.sampled_from(["orders", "interactions", "complaints", "clients"]).flatmap(
            lambda t: st.tuples(st.just(t), invalid_rows(t))
        )
    )
    def test_every_invalid_row_of_the_testing_module_is_caught(
        self, case: tuple[str, tuple[dict[str, str], str, str]]
    ) -> None:
        """Rows wrong in one cell (relcycle.testing.invalid_rows) fail at that cell."""
        table, (row, column, fragment) = case
        rows = {table: [row]}
        if table != "orders":
            rows["orders"] = []
        with pytest.raises(InputError) as info:
            load_records(rows.pop("orders"), **rows)  # type: ignore[arg-type]
        problems = info.value.problems
        assert [p.column for p in problems] == [column]
        assert fragment in problems[0].reason.lower()
        assert problems[0].source == f"{table}[0]"


# --------------------------------------------------------------------------- time


class TestTime:
    def test_date_alone_is_midnight_in_the_zone(self, tmp_path: Path) -> None:
        """A date alone is midnight in the load's zone."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-07-01,1\n")
        at = load_history(tmp_path, tz="Europe/Kyiv").tables.orders[0].placed_at
        assert at == datetime(2024, 6, 30, 21, 0, tzinfo=UTC)
        assert at.utcoffset() == timedelta(hours=3)

    def test_explicit_offsets_are_kept(self, tmp_path: Path) -> None:
        """A value with an offset keeps it, whatever the load's zone."""
        write(
            tmp_path,
            "orders.csv",
            "client_id,placed_at,amount\nA,2024-07-01T10:00:00-05:00,1\nA,2024-07-02T10:00Z,1\n",
        )
        a, b = load_history(tmp_path, tz="Asia/Tokyo").tables.orders
        assert a.placed_at.utcoffset() == timedelta(hours=-5)
        assert b.placed_at.utcoffset() == timedelta(0)

    def test_dst_fold_is_the_earlier_instant(self, tmp_path: Path) -> None:
        """An ambiguous local time (the repeated hour) is the earlier instant."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-10-27T03:30,1\n")
        at = load_history(tmp_path, tz="Europe/Kyiv").tables.orders[0].placed_at
        assert at == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("value", "zone"),
        [
            ("0001-01-01T00:00", "Europe/Kyiv"),
            ("9999-12-31T23:59:59", "America/New_York"),
            ("9999-12-31T23:59:59-05:00", "UTC"),
            ("1899-12-31", "UTC"),
            ("2200-01-01", "UTC"),
        ],
    )
    def test_ends_of_the_calendar_are_refused(self, tmp_path: Path, value: str, zone: str) -> None:
        """Years outside 1900-2199 are a clean error naming the cell, never an overflow."""
        write(tmp_path, "orders.csv", f"client_id,placed_at,amount\nA,{value},1\n")
        problem = one_problem(tmp_path, tz=zone)
        assert (problem.line, problem.column) == (2, "placed_at")
        assert "1900-2199" in problem.reason

    def test_leap_day(self, tmp_path: Path) -> None:
        """29 February exists in leap years only."""
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-02-29,1\n")
        assert load_history(tmp_path).tables.orders[0].placed_at.day == 29
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2023-02-29,1\n")
        assert one_problem(tmp_path).column == "placed_at"

    def test_iso_variants(self, tmp_path: Path) -> None:
        """Common ISO 8601 spellings read to the same instant."""
        spellings = ["2024-01-02T03:04:05Z", "2024-01-02 03:04:05+00:00", "20240102T030405Z"]
        body = "".join(f"A,{s},1\n" for s in spellings)
        write(tmp_path, "orders.csv", "client_id,placed_at,amount\n" + body)
        moments = {o.placed_at for o in load_history(tmp_path).tables.orders}
        assert moments == {datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)}


# --------------------------------------------------------------------------- skip mode


class TestSkipBadRows:
    def test_bad_rows_are_rejected_with_reasons(self, tmp_path: Path) -> None:
        """With skip_bad_rows the good rows load and each bad row comes back with reasons."""
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount\n1,A,2024-01-02,1\n2,A,bad,-1\n3,B,2024-01-03,2\n",
        )
        result = load_history(tmp_path, skip_bad_rows=True)
        assert [o.order_id for o in result.tables.orders] == ["1", "3"]
        assert result.rejected == 1
        (reject,) = result.rejects
        assert (reject.table, reject.source, reject.line) == ("orders", "orders.csv", 3)
        assert [p.column for p in reject.problems] == ["placed_at", "amount"]
        assert reject.row["amount"] == "-1"
        assert result.counts["orders"].read == 3
        assert result.counts["orders"].rejected == 1

    def test_duplicates_reject_both_rows(self, tmp_path: Path) -> None:
        """Both rows sharing an id are rejected: relcycle does not guess which is right."""
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount\nX,A,2024-01-02,1\nX,A,2024-01-03,2\nY,A,2024-01-04,3\n",
        )
        result = load_history(tmp_path, skip_bad_rows=True)
        assert [o.order_id for o in result.tables.orders] == ["Y"]
        assert sorted(r.line or 0 for r in result.rejects) == [2, 3]

    def test_duplicates_after_a_duplicate_reject_their_own_rows(self, tmp_path: Path) -> None:
        """A second duplicated id, first seen after the first duplicate, rejects its own rows."""
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount\nX,A,2024-01-02,1\nW,A,2024-01-02,1\n"
            "X,A,2024-01-03,2\nY,A,2024-01-04,3\nZ,A,2024-01-05,4\nY,A,2024-01-06,5\n",
        )
        result = load_history(tmp_path, skip_bad_rows=True)
        assert [o.order_id for o in result.tables.orders] == ["W", "Z"]
        assert [(r.line, r.problems[0].reason) for r in result.rejects] == [
            (2, "duplicate id (also at orders.csv:4)"),
            (4, "duplicate id (also at orders.csv:2)"),
            (5, "duplicate id (also at orders.csv:7)"),
            (7, "duplicate id (also at orders.csv:5)"),
        ]

    def test_duplicate_of_a_bad_row_rejects_both_rows(self, tmp_path: Path) -> None:
        """A bad row and a good row sharing its id are both rejected, each naming the other."""
        write(
            tmp_path,
            "orders.csv",
            "order_id,client_id,placed_at,amount\nX,A,2024-01-02,1\nX,A,2024-01-03,-2\n"
            "Y,A,bad,3\nY,A,2024-01-04,3\nZ,A,2024-01-05,4\n",
        )
        result = load_history(tmp_path, skip_bad_rows=True)
        assert [o.order_id for o in result.tables.orders] == ["Z"]
        assert [(r.line, [p.column for p in r.problems]) for r in result.rejects] == [
            (2, ["order_id"]),
            (3, ["amount", "order_id"]),
            (4, ["placed_at", "order_id"]),
            (5, ["order_id"]),
        ]
        assert result.rejects[2].problems[1].reason == "duplicate id (also at orders.csv:5)"

    def test_rejected_client_rejects_its_records(self, tmp_path: Path) -> None:
        """A client row that is rejected takes its records with it (they name an unknown client)."""
        write(tmp_path, "clients.csv", "client_id,kind\nA,company\nB,alien\n")
        write(
            tmp_path, "orders.csv", "client_id,placed_at,amount\nA,2024-01-02,1\nB,2024-01-02,1\n"
        )
        result = load_history(tmp_path, skip_bad_rows=True)
        assert result.portfolio.client_ids == ("A",)
        assert [(r.table, r.line) for r in result.rejects] == [("clients", 3), ("orders", 3)]

    def test_header_problems_still_fail(self, tmp_path: Path) -> None:
        """A missing required column cannot be skipped row by row."""
        write(tmp_path, "orders.csv", "client_id,amount\nA,1\n")
        with pytest.raises(InputError):
            load_history(tmp_path, skip_bad_rows=True)

    def test_write_rejects(self, tmp_path: Path) -> None:
        """The rejects file has one line per problem with the row as JSON."""
        write(tmp_path / "src", "orders.csv", "client_id,placed_at,amount\nA,bad,-1\n")
        result = load_history(tmp_path / "src", skip_bad_rows=True)
        out = write_rejects(result.rejects, tmp_path / "rejects.csv")
        with out.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [(r["line"], r["column"]) for r in rows] == [("2", "placed_at"), ("2", "amount")]
        assert json.loads(rows[0]["row"])["amount"] == "-1"


# --------------------------------------------------------------------------- other formats


class TestJsonl:
    def test_reads_numbers_as_text(self, tmp_path: Path) -> None:
        """JSON numbers are read from their text: ids stay ids and amounts stay exact."""
        write(
            tmp_path,
            "orders.jsonl",
            '{"order_id": 7, "client_id": "007", "placed_at": "2024-01-02", "amount": 12.50,'
            ' "discounted": true, "on_time": null}\n\n',
        )
        (order,) = load_history(tmp_path).tables.orders
        assert (order.order_id, order.client_id, str(order.amount), order.discounted) == (
            "7",
            "007",
            "12.50",
            True,
        )
        assert order.on_time is None

    def test_bad_lines_name_their_line(self, tmp_path: Path) -> None:
        """Broken JSON, non-objects, NaN and nested values are reported with their line."""
        write(
            tmp_path,
            "orders.jsonl",
            '{"client_id": "A", "placed_at": "2024-01-02", "amount": "1"}\n'
            "{broken\n"
            "[1, 2]\n"
            '{"client_id": "A", "placed_at": "2024-01-02", "amount": NaN}\n'
            '{"client_id": "A", "placed_at": "2024-01-02", "amount": {"v": 1}}\n'
            '{"client_id": "A", "placed_at": "2024-01-02", "amount": 1e999999}\n',
        )
        found = problems_of(tmp_path)
        assert [p.line for p in found] == [2, 3, 4, 5, 6]
        assert found[-1].column == "amount"

    def test_unknown_key_is_an_error(self, tmp_path: Path) -> None:
        """An unknown key of an order is refused like an unknown CSV column."""
        write(
            tmp_path,
            "orders.jsonl",
            '{"client_id": "A", "placed_at": "2024-01-02", "amount": "1", "x": 1}\n',
        )
        problem = one_problem(tmp_path)
        assert (problem.line, problem.column) == (1, "x")


class TestSqlite:
    def test_reads_plain_user_tables(self, tmp_path: Path) -> None:
        """A database with plain contract tables made by a user is a source."""
        db = tmp_path / "crm.db"
        with sqlite3.connect(db) as conn:
            conn.execute(
                "CREATE TABLE orders "
                "(client_id TEXT, placed_at TEXT, amount TEXT, discounted INTEGER)"
            )
            conn.execute("INSERT INTO orders VALUES ('007', '2024-01-02', '9.99', 1)")
            conn.execute("CREATE TABLE clients (client_id TEXT, name TEXT, tier TEXT)")
            conn.execute("INSERT INTO clients VALUES ('007', 'Bond', 'gold')")
            conn.execute("CREATE TABLE notes (x TEXT)")
        conn.close()
        result = load_history(db)
        history = result.portfolio["007"]
        assert history.client.attributes["tier"] == "gold"
        assert history.orders[0].amount == Decimal("9.99")
        assert history.orders[0].discounted is True

    def test_float_money_is_refused_with_its_rowid(self, tmp_path: Path) -> None:
        """A REAL amount is refused (money is never a float), naming the table and rowid."""
        db = tmp_path / "crm.db"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE orders (client_id TEXT, placed_at TEXT, amount REAL)")
            conn.execute("INSERT INTO orders VALUES ('A', '2024-01-02', '2.50')")
            conn.execute("INSERT INTO orders VALUES ('A', '2024-01-02', 0.1)")
        conn.close()
        found = problems_of(db)
        assert [(p.source, p.line, p.column) for p in found] == [
            ("crm.db:orders", 1, "amount"),
            ("crm.db:orders", 2, "amount"),
        ]
        assert "floating-point" in found[0].reason

    def test_database_without_orders(self, tmp_path: Path) -> None:
        """A database without an orders table is reported."""
        db = tmp_path / "x.db"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE clients (client_id TEXT)")
        conn.close()
        assert "no orders table" in one_problem(db).reason


class TestArrow:
    def test_parquet_typed_columns(self, tmp_path: Path) -> None:
        """Parquet with typed columns reads: timestamps, decimals, ints, bools."""
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        table = pa.table(
            {
                "client_id": pa.array([7, 8], pa.int64()),
                "placed_at": pa.array(
                    [datetime(2024, 1, 2, 10), datetime(2024, 1, 3)], pa.timestamp("us")
                ),
                "amount": pa.array([Decimal("1.50"), Decimal("2.00")], pa.decimal128(10, 2)),
                "discounted": pa.array([True, None], pa.bool_()),
            }
        )
        pq.write_table(table, tmp_path / "orders.parquet")
        a, b = load_history(tmp_path, tz="Europe/Kyiv").tables.orders
        assert (a.client_id, a.amount, a.discounted, b.discounted) == (
            "7",
            Decimal("1.50"),
            True,
            False,
        )
        assert a.placed_at.utcoffset() == timedelta(hours=2)

    @pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
    def test_equal_typed_cells_share_one_value(self, zone: str) -> None:
        """Equal timestamps and amounts of an Arrow table become one object each,
        as equal texts of a CSV file do (a Parquet file's records used to hold a
        moment and an amount each: about a fifth more memory for CDNOW x20), and
        the records equal those the same cells as text give."""
        pa = pytest.importorskip("pyarrow")
        moments = [datetime(2024, 3, 31, 0, 30), datetime(2024, 3, 31, 3, 30)] * 3
        amounts = [Decimal("1.50"), Decimal("2.00"), Decimal("1.50")] * 2
        typed = {
            "client_id": [f"c{i}" for i in range(6)],
            "placed_at": pa.array(moments, pa.timestamp("us")),
            "amount": pa.array(amounts, pa.decimal128(10, 2)),
        }
        aware = dict(typed, placed_at=pa.array(moments, pa.timestamp("us", tz="Europe/Berlin")))
        text = load_records(
            [
                {"client_id": f"c{i}", "placed_at": m.isoformat(), "amount": str(a)}
                for i, (m, a) in enumerate(zip(moments, amounts, strict=True))
            ],
            tz=zone,
        ).tables.orders
        for table in (typed, aware):
            orders = load_arrow(pa.table(table), tz=zone).tables.orders
            if table is typed:
                assert orders == text
            assert len({id(o.placed_at) for o in orders}) == 2
            assert len({id(o.amount) for o in orders}) == 2
            for o in orders:
                assert type(o.placed_at.tzinfo) is timezone  # the records' fixed offset
        # the instants of the aware column, whatever the zone the load reads naive times in
        berlin = load_arrow(pa.table(aware), tz=zone).tables.orders
        assert [o.placed_at.utcoffset() for o in berlin[:2]] == [
            timedelta(hours=1),
            timedelta(hours=2),
        ]

    def test_float_money_column_is_refused(self, tmp_path: Path) -> None:
        """A float64 amount column is refused before any row is read."""
        pa = pytest.importorskip("pyarrow")
        frame = pa.table({"client_id": ["A"], "placed_at": ["2024-01-02"], "amount": [1.5]})
        with pytest.raises(InputError) as info:
            load_arrow(frame)
        assert info.value.problems[0].column == "amount"

    def test_any_arrow_stream_dataframe(self) -> None:
        """Objects exposing __arrow_c_stream__ (polars here) load like CSV text."""
        pl = pytest.importorskip("polars")
        frame = pl.DataFrame(
            {"client_id": ["007"], "placed_at": ["2024-01-02"], "amount": ["3.10"]}
        )
        result = load_arrow(frame)
        expected = load_records([{"client_id": "007", "placed_at": "2024-01-02", "amount": "3.10"}])
        assert result.tables == expected.tables

    def test_not_a_dataframe(self) -> None:
        """Something without the Arrow stream interface is a usage error."""
        pytest.importorskip("pyarrow")
        with pytest.raises(UsageError, match="__arrow_c_stream__"):
            load_arrow([{"client_id": "A"}])

    def test_missing_pyarrow_names_the_extra(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without pyarrow, Parquet is a usage error telling which extra to install."""
        write(tmp_path, "orders.parquet", "not really")
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        with pytest.raises(UsageError, match=r"relcycle\[arrow\]"):
            load_history(tmp_path)


class TestRecords:
    def test_typed_values(self) -> None:
        """Dict rows may hold typed values; naive datetimes get the load's zone."""
        result = load_records(
            [
                {
                    "client_id": "A",
                    "placed_at": datetime(2024, 1, 2, 12),
                    "amount": Decimal("5.25"),
                    "cost": 3,
                    "discounted": True,
                }
            ],
            interactions=[{"client_id": "A", "at": date(2024, 1, 1), "purpose": Purpose.referral}],
            tz="America/New_York",
        )
        order = result.tables.orders[0]
        assert order.placed_at == datetime(2024, 1, 2, 17, tzinfo=UTC)
        assert order.cost == Decimal(3)
        assert result.tables.interactions[0].purpose is Purpose.referral

    def test_floats_are_never_money(self) -> None:
        """A float amount is refused, naming the row as orders[index]."""
        with pytest.raises(InputError) as info:
            load_records([{"client_id": "A", "placed_at": "2024-01-02", "amount": 0.1}])
        problem = info.value.problems[0]
        assert (problem.source, problem.column) == ("orders[0]", "amount")

    def test_complaint_status_rules(self) -> None:
        """Complaints read with their status and resolution times."""
        result = load_records(
            [],
            complaints=[
                {
                    "client_id": "A",
                    "opened_at": "2024-01-02",
                    "status": "resolved",
                    "resolved_at": "2024-01-03",
                }
            ],
        )
        assert result.tables.complaints[0].status is ComplaintStatus.resolved


# --------------------------------------------------------------------------- writing

FORMATS = ["csv", "jsonl", "sqlite", "parquet"]


def _round_trip(portfolio: Portfolio, fmt: str, folder: Path) -> LoadResult:
    dest = folder / ("store.db" if fmt == "sqlite" else fmt)
    write_history(portfolio, dest, format=fmt)  # type: ignore[arg-type]
    return load_history(dest)


class TestWriters:
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_round_trip_keeps_everything(self, tmp_path: Path, fmt: str) -> None:
        """Unicode, offsets, decimal digits and attributes survive a write and a read."""
        if fmt == "parquet":
            pytest.importorskip("pyarrow")
        tables = load_records(
            [
                {
                    "order_id": "007",
                    "client_id": 'Ä,"b"\n',
                    "placed_at": "2024-03-31T03:30:00.000001+05:45",
                    "amount": "0.10",
                    "cost": "0.0700",
                    "on_time": "no",
                },
                {
                    "client_id": 'Ä,"b"\n',
                    "placed_at": "2024-01-01",
                    "amount": "0.0000001",
                    "status": "planned",
                },
            ],
            clients=[
                {
                    "client_id": 'Ä,"b"\n',
                    "name": "Ünïcode 😀",
                    "since": "2020-02-29T23:59:59-03:30",
                    "tier": "gold",
                    "contact_persons": '[{"name": "Olha", "birthday": "1980-02-29"}]',
                }
            ],
            complaints=[
                {
                    "client_id": 'Ä,"b"\n',
                    "opened_at": "2024-01-01",
                    "client_loss": "12.345",
                    "status": "rejected",
                    "resolved_at": "2024-01-02T00:00:00+14:00",
                }
            ],
            interactions=[
                {
                    "client_id": 'Ä,"b"\n',
                    "at": "2024-01-01",
                    "purpose": "termination",
                    "reason": "manager_left",
                    "minutes": "1.5",
                    "note": "line1\r\nline2",
                }
            ],
        ).portfolio
        back = _round_trip(tables, fmt, tmp_path)
        assert record_dicts(back.portfolio) == record_dicts(tables)
        assert back.portfolio == tables

    def test_numbers_are_written_without_exponents(self, tmp_path: Path) -> None:
        """Decimals are written as plain digits (1E+3 as 1000, 1E-7 as 0.0000001), same value."""
        source = load_records(
            [
                {"order_id": "a", "client_id": "A", "placed_at": "2024-01-02", "amount": "1E+3"},
                {"order_id": "b", "client_id": "A", "placed_at": "2024-01-02", "amount": "1E-7"},
                {"order_id": "c", "client_id": "A", "placed_at": "2024-01-02", "amount": "-0.00"},
            ]
        )
        write_history(source, tmp_path)
        text = (tmp_path / "orders.csv").read_text(encoding="utf-8")
        assert ",1000," in text
        assert ",0.0000001," in text
        assert ",0.00," in text
        assert "E" not in text.replace("USD", "")
        assert load_history(tmp_path).tables == source.tables

    @pytest.mark.parametrize("fmt", ["csv", "jsonl"])
    def test_refuses_to_overwrite_other_content(self, tmp_path: Path, fmt: Any) -> None:
        """Writing the same history twice is harmless; other content needs overwrite=True."""
        portfolio = load_records(
            [{"client_id": "A", "placed_at": "2024-01-02", "amount": "1"}]
        ).portfolio
        other = load_records(
            [{"client_id": "B", "placed_at": "2024-01-02", "amount": "2"}]
        ).portfolio
        write_history(portfolio, tmp_path, format=fmt)
        write_history(portfolio, tmp_path, format=fmt)  # the same bytes: a no-op
        with pytest.raises(UsageError, match="other content") as info:
            write_history(other, tmp_path, format=fmt)
        assert "remove" in str(info.value)
        assert load_history(tmp_path).tables == as_tables(portfolio)  # nothing moved
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
        write_history(other, tmp_path, format=fmt, overwrite=True)
        assert load_history(tmp_path).tables == as_tables(other)

    def test_unknown_format(self, tmp_path: Path) -> None:
        """An unknown format is a usage error."""
        with pytest.raises(UsageError, match="unknown format"):
            write_history(HistoryTables(clients=None), tmp_path, format="xml")  # type: ignore[arg-type]

    def test_columns_follow_the_contract(self, tmp_path: Path) -> None:
        """Written CSV headers are the contract's columns, in its order."""
        portfolio = load_records(
            [{"client_id": "A", "placed_at": "2024-01-02", "amount": "1"}]
        ).portfolio
        write_history(portfolio, tmp_path)
        header = (tmp_path / "orders.csv").read_text(encoding="utf-8").splitlines()[0]
        assert tuple(header.split(",")) == COLUMNS["orders"]
        assert not (tmp_path / "clients.csv").exists()

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(portfolio=portfolios(max_clients=4, max_records=6))
    def test_any_portfolio_survives_every_format(self, portfolio: Portfolio) -> None:
        """Any valid portfolio reads back unchanged from CSV, JSONL, SQLite and Parquet."""
        expected = record_dicts(portfolio)
        with tempfile.TemporaryDirectory() as folder:
            for fmt in FORMATS:
                if fmt == "parquet" and "pyarrow" not in sys.modules:
                    try:
                        import pyarrow  # noqa: F401
                    except ImportError:
                        continue
                back = _round_trip(portfolio, fmt, Path(folder))
                assert record_dicts(back.portfolio) == expected, fmt

    @settings(max_examples=40, deadline=None)
    @given(rows=st.lists(valid_rows("orders"), min_size=1, max_size=5))
    def test_valid_rows_are_accepted_and_round_trip(self, rows: list[dict[str, str]]) -> None:
        """Every valid raw row (relcycle.testing.valid_rows) loads, and re-reads identically."""
        rows = [
            {**r, "order_id": f"{i}-{r['order_id']}" if r["order_id"] else ""}
            for i, r in enumerate(rows)
        ]
        result = load_records(rows)
        with tempfile.TemporaryDirectory() as folder:
            back = _round_trip(result.portfolio, "csv", Path(folder))
        assert record_dicts(back.portfolio) == record_dicts(result.portfolio)


def test_problem_fields_are_structured() -> None:
    """Problems carry source, line, column, value and reason for programs to read."""
    with pytest.raises(InputError) as info:
        load_records([{"client_id": "A", "placed_at": "2024-01-02", "amount": "-1"}])
    problem = info.value.problems[0]
    assert problem == Problem("orders[0]", None, "amount", "-1", problem.reason)


# --------------------------------------------------------------------------- fuzzing

_VALID_CSV = (
    "order_id,client_id,placed_at,amount,currency,discounted,status,on_time,product,cost\n"
    "1,007,2024-01-02T10:00:00+02:00,12.50,EUR,true,delivered,yes,bolts,7.10\n"
    ',007,2024-01-03,3,,0,placed,,"nuts, ""M8""",\n'
    "3,A,2024-02-29 23:59,0.10,USD,no,cancelled,,,\n"
)

_MUTATIONS = st.one_of(
    st.binary(max_size=8),
    st.sampled_from(
        [
            b"\x00",
            b"\xef\xbb\xbf",
            b"\r\n",
            b'"',
            b",",
            b"\n",
            b"NaN",
            b"Infinity",
            b"1e999999",
            b"-1",
            "١٢٣".encode(),
            b"00123",
            b"\xff\xfe",
            b"x" * 200_000,
        ]
    ),
)


class TestFuzz:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        edits=st.lists(
            st.tuples(st.integers(0, len(_VALID_CSV)), st.integers(0, 6), _MUTATIONS),
            min_size=1,
            max_size=4,
        ),
        truncate=st.none() | st.integers(0, len(_VALID_CSV)),
    )
    def test_mutated_csv_loads_or_fails_cleanly(
        self, edits: list[tuple[int, int, bytes]], truncate: int | None
    ) -> None:
        """A mutated CSV either loads or raises InputError naming the file; nothing else."""
        data = bytearray(_VALID_CSV.encode())
        for position, cut, insert in edits:
            position = min(position, len(data))
            data[position : position + cut] = insert
        if truncate is not None:
            data = data[:truncate]
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "orders.csv").write_bytes(bytes(data))
            problems: tuple[Problem, ...] = ()
            try:
                result = load_history(folder)
            except InputError as exc:
                problems = exc.problems
            if problems:
                assert all(p.source == "orders.csv" for p in problems)
                assert all(p.line is None or p.line >= 1 for p in problems)
                return
            for order in result.tables.orders:
                assert order.amount >= 0
                assert order.placed_at.utcoffset() is not None

    def test_unchanged_values_survive(self, tmp_path: Path) -> None:
        """The unmutated fuzz seed loads with every value as written."""
        write(tmp_path, "orders.csv", _VALID_CSV)
        a, b, c = load_history(tmp_path).tables.orders
        assert (a.order_id, a.client_id, str(a.amount), a.currency) == ("1", "007", "12.50", "EUR")
        assert a.placed_at.utcoffset() == timedelta(hours=2)
        assert b.product == 'nuts, "M8"'
        assert str(c.amount) == "0.10"


class TestDuplicatesInRecords:
    def test_dict_rows_name_both_rows(self) -> None:
        """Duplicate ids among Python rows are reported as orders[i] and orders[j]."""
        row = {"order_id": "X", "client_id": "A", "placed_at": "2024-01-02", "amount": "1"}
        with pytest.raises(InputError) as info:
            load_records([row, {**row, "order_id": "Y"}, row])
        assert [(p.source, p.column) for p in info.value.problems] == [
            ("orders[0]", "order_id"),
            ("orders[2]", "order_id"),
        ]
        assert "orders[2]" in info.value.problems[0].reason


class TestColumns:
    """The readers accept every contract column, in contract order, plus documented additions."""

    def test_contract_columns_come_first_in_contract_order(self) -> None:
        """Each table's reader columns start with the contract's columns, in its order."""
        from relcycle.io import COLUMNS
        from relcycle.testing import COLUMNS as CONTRACT

        assert set(COLUMNS) == set(CONTRACT)
        for table, contract in CONTRACT.items():
            read = [c for c in COLUMNS[table] if c in contract]
            assert read == list(contract), table

    def test_additions_are_the_documented_ones(self) -> None:
        """Beyond the contract the readers take only the additions docs/data.md documents."""
        from relcycle.io import COLUMNS
        from relcycle.testing import COLUMNS as CONTRACT

        extra = {t: [c for c in COLUMNS[t] if c not in CONTRACT[t]] for t in CONTRACT}
        assert extra == {
            "clients": ["contact_persons"],
            "orders": [],
            "interactions": [],
            "complaints": ["currency"],
        }
        page = (Path(__file__).resolve().parent.parent / "docs" / "data.md").read_text("utf-8")
        assert "`contact_persons`" in page
        assert "`complaints` (the currency of `client_loss`" in page
