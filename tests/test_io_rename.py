"""Real exports in: column mappings, parse options, currency markers, float money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import relcycle
from relcycle.errors import InputError, UsageError
from relcycle.io import ParseOptions, load_arrow, load_history, load_records, suggest_mapping
from relcycle.io._rename import map_flags, parse_map_flags, propose_mapping

CRM = 'Customer ID,Order Date,Total\nACME,03/02/2026,"€1.200,50"\nBETA,15/03/2026,"€980"\n'
CRM_RENAME = {"orders": {"client_id": "Customer ID", "placed_at": "Order Date", "amount": "Total"}}


def one_order(amount: object, parse: ParseOptions | None = None, **cells: object) -> Any:
    """The order loaded from one row with ``amount``."""
    row = {"client_id": "A", "placed_at": "2026-02-03", "amount": amount, **cells}
    return load_records([row], parse=parse, currency="EUR").tables.orders[0]


def problem_of(amount: object, parse: ParseOptions | None = None, **cells: object) -> str:
    """The one problem's reason for a row with ``amount``."""
    row = {"client_id": "A", "placed_at": "2026-02-03", "amount": amount, **cells}
    with pytest.raises(InputError) as info:
        load_records([row], parse=parse, currency="EUR")
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert (problem.source, problem.column) == ("orders[0]", "amount")
    return problem.reason


class TestDecimalComma:
    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("1.200,50", "1200.50"),
            ("1200,50", "1200.50"),
            ("1 200,50", "1200.50"),
            ("1\u00a0200,50", "1200.50"),
            ("1.234.567,8", "1234567.8"),
            ("1.200", "1200"),
            ("0,05", "0.05"),
            ("12", "12"),
        ],
    )
    def test_reads_decimal_comma_spellings(self, text: str, value: str) -> None:
        """With decimal_comma, ',' is the point and '.'/blanks group thousands."""
        assert one_order(text, ParseOptions(decimal_comma=True)).amount == Decimal(value)

    @pytest.mark.parametrize("text", ["1.20,5", "1,200.50", "12.50", "1.2.3,4", "1.200 300,1"])
    def test_refuses_malformed_groups(self, text: str) -> None:
        """A separator that does not group three digits is an error, never a guess."""
        reason = problem_of(text, ParseOptions(decimal_comma=True))
        assert "decimal-comma" in reason

    @pytest.mark.parametrize(
        ("text", "value"), [("1,200.50", "1200.50"), ("1,234,567", "1234567"), ("12.5", "12.5")]
    )
    def test_point_numbers_with_unambiguous_groups(self, text: str, value: str) -> None:
        """Without decimal_comma, ',' groups thousands where it cannot be a decimal comma."""
        assert one_order(text).amount == Decimal(value)

    @pytest.mark.parametrize("text", ["1,200", "12,500", "999,000"])
    def test_one_comma_group_is_ambiguous(self, text: str) -> None:
        """'1,200' could be 1200 or 1.2: an error naming --decimal-comma."""
        reason = problem_of(text)
        assert "ambiguous" in reason
        assert "--decimal-comma" in reason

    @pytest.mark.parametrize("text", ["-1.200,50", "-0,5"])
    def test_negative_amounts_are_refused_as_negative(self, text: str) -> None:
        """A negative amount in the decimal-comma form is refused for being negative."""
        assert ">= 0" in problem_of(text, ParseOptions(decimal_comma=True))

    def test_decimal_comma_in_minutes(self) -> None:
        """Numbers other than money follow the same option."""
        result = load_records(
            [{"client_id": "A", "placed_at": "2026-01-01", "amount": "1"}],
            interactions=[{"client_id": "A", "at": "2026-01-02", "minutes": "7,5"}],
            parse=ParseOptions(decimal_comma=True),
            currency="EUR",
        )
        assert result.tables.interactions[0].minutes == Decimal("7.5")

    @given(st.decimals(min_value=0, max_value=10**12, places=2))
    def test_grouped_decimal_comma_round_trips(self, value: Decimal) -> None:
        """Any amount written German-style (1.234.567,89) reads back exactly."""
        whole, _, cents = f"{value:.2f}".partition(".")
        grouped = f"{int(whole):,}".replace(",", ".")
        assert one_order(f"{grouped},{cents}", ParseOptions(decimal_comma=True)).amount == value


#: An export's rows, with every delimiter and a quote inside cells.
DELIMITED = (
    ("order_id", "client_id", "placed_at", "amount", "product"),
    ("o1", "ACME", "2026-02-03", "1200.50", "a;b|c\td,e"),
    ("o2", "BETA", "2026-03-15", "980", 'say "hi"'),
)


class TestDelimiter:
    """A CSV export whose cells are separated by ';', a tab or '|' is read with
    ParseOptions(delimiter=...), quoting as RFC 4180 says; a file read with the
    wrong delimiter is an error that names the right one."""

    @staticmethod
    def _write(folder: Path, delimiter: str, rows: Any) -> Path:
        import csv

        folder.mkdir()
        with (folder / "orders.csv").open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, delimiter=delimiter).writerows(rows)
        return folder

    @pytest.mark.parametrize("delimiter", [";", "\t", "|"])
    def test_reads_as_the_comma_file(self, tmp_path: Path, delimiter: str) -> None:
        comma = load_history(self._write(tmp_path / "comma", ",", DELIMITED), currency="EUR")
        other = load_history(
            self._write(tmp_path / "other", delimiter, DELIMITED),
            currency="EUR",
            parse=ParseOptions(delimiter=delimiter),
        )
        assert other.tables.orders == comma.tables.orders
        assert other.tables.orders[0].product == "a;b|c\td,e"

    @pytest.mark.parametrize(
        ("written", "given", "named"),
        [
            (";", ",", "--delimiter ';'"),
            ("\t", ",", "--delimiter tab"),
            (",", ";", "--delimiter ','"),
        ],
    )
    def test_the_wrong_delimiter_names_the_right_one(
        self, tmp_path: Path, written: str, given: str, named: str
    ) -> None:
        folder = self._write(tmp_path / "x", written, DELIMITED)
        with pytest.raises(InputError) as info:
            load_history(folder, currency="EUR", parse=ParseOptions(delimiter=given))
        (problem,) = info.value.problems
        assert (problem.source, problem.line) == ("orders.csv", 1)
        assert named in problem.reason
        assert f"ParseOptions(delimiter={written!r})" in problem.reason

    def test_the_mapping_is_proposed_from_the_cells(self, tmp_path: Path) -> None:
        """suggest_mapping reads the headers with the delimiter given."""
        rows = [["Customer ID", "Order Date", "Total"], ["ACME", "03/02/2026", "1200,50"]]
        folder = self._write(tmp_path / "crm", ";", rows)
        assert suggest_mapping(folder) == {}
        assert suggest_mapping(folder, parse=ParseOptions(delimiter=";")) == CRM_RENAME

    def test_a_long_cell_is_named_by_its_column(self, tmp_path: Path) -> None:
        rows = [list(DELIMITED[0]), ["o1", "ACME", "2026-02-03", "1", '"' + "x" * 140_000]]
        folder = tmp_path / "long"
        folder.mkdir()
        text = "\n".join(";".join(row) for row in rows) + "\n"
        (folder / "orders.csv").write_text(text, encoding="utf-8")
        with pytest.raises(InputError) as info:
            load_history(folder, currency="EUR", parse=ParseOptions(delimiter=";"))
        (problem,) = info.value.problems
        assert (problem.line, problem.column) == (2, "product")

    @pytest.mark.parametrize("delimiter", ["", ",,", '"', "x", "\n", ";;"])
    def test_bad_delimiters_are_refused(self, delimiter: str) -> None:
        with pytest.raises(UsageError, match="delimiter"):
            ParseOptions(delimiter=delimiter)


class TestEncoding:
    """A CSV or JSON Lines file in another encoding than UTF-8 (a Windows
    spreadsheet's cp1252) is read with ParseOptions(encoding=...); read as UTF-8
    it fails on its first such byte, naming the line and the option."""

    TEXT = (
        "order_id,client_id,placed_at,amount,product\n"
        "o1,Café Crème,2026-02-03,12.50,Gâteau « maison »\n"
        "o2,Müller & Söhne,2026-02-04,3,Œuvre \u2013 n°2\n"  # an en dash
    )

    @pytest.mark.parametrize("suffix", ["csv", "jsonl"])
    def test_reads_as_the_utf8_file(self, tmp_path: Path, suffix: str) -> None:
        import csv
        import io
        import json

        text = self.TEXT
        if suffix == "jsonl":
            rows = csv.DictReader(io.StringIO(text))
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        utf8, cp = tmp_path / "utf8", tmp_path / "cp"
        for folder, codec in ((utf8, "utf-8"), (cp, "cp1252")):
            folder.mkdir()
            (folder / f"orders.{suffix}").write_bytes(text.encode(codec))
        want = load_history(utf8, currency="EUR").tables.orders
        got = load_history(cp, currency="EUR", parse=ParseOptions(encoding="cp1252"))
        assert got.tables.orders == want
        assert want[1].client_id == "Müller & Söhne"

    def test_read_as_utf8_names_the_line_and_the_option(self, tmp_path: Path) -> None:
        (tmp_path / "orders.csv").write_bytes(self.TEXT.encode("cp1252"))
        with pytest.raises(InputError) as info:
            load_history(tmp_path, currency="EUR")
        (problem,) = info.value.problems
        assert (problem.source, problem.line) == ("orders.csv", 2)
        assert problem.reason.startswith("not valid UTF-8 (byte 0xe9")
        assert "--encoding cp1252" in problem.reason

    def test_a_byte_the_encoding_lacks(self, tmp_path: Path) -> None:
        """cp1252 leaves 0x81 undefined: an error naming the encoding and the line."""
        data = b"client_id,placed_at,amount\nA,2026-02-03,1\nB\x81,2026-02-03,1\n"
        (tmp_path / "orders.csv").write_bytes(data)
        with pytest.raises(InputError) as info:
            load_history(tmp_path, currency="EUR", parse=ParseOptions(encoding="cp1252"))
        (problem,) = info.value.problems
        assert problem.line == 3
        assert problem.reason.startswith("not valid cp1252 (byte 0x81")

    def test_names_are_canonical(self) -> None:
        assert ParseOptions(encoding="UTF8") == ParseOptions()
        assert ParseOptions(encoding="latin-1").encoding == "iso8859-1"

    @pytest.mark.parametrize("name", ["klingon", "rot13", "base64", "", 8])
    def test_unknown_or_non_text_encodings_are_refused(self, name: object) -> None:
        with pytest.raises(UsageError, match="not a text encoding"):
            ParseOptions(encoding=name)  # type: ignore[arg-type]


#: A CRM's status words.
SPELLINGS = {"orders": {"status": {"Completed": "delivered", "Canceled": "CANCELLED"}}}


class TestValueSpellings:
    """A CRM's own words for a column of fixed values (``Completed``, the US
    ``Canceled``) are read as the contract's values with ParseOptions(values=...);
    without it the problem names the option."""

    def test_spellings_are_read_as_their_values(self) -> None:
        parse = ParseOptions(values=SPELLINGS)
        assert one_order("1", parse, status=" completed ").status.value == "delivered"
        assert one_order("1", parse, status="CANCELED").status.value == "cancelled"
        assert one_order("1", parse, status="returned").status.value == "returned"

    def test_every_table(self, tmp_path: Path) -> None:
        """Interactions' purposes and complaints' severities read the same way."""
        rows = {
            "interactions": [
                {"client_id": "A", "at": "2026-02-03", "purpose": "Demande", "direction": "In"}
            ],
            "complaints": [
                {
                    "client_id": "A",
                    "opened_at": "2026-02-03",
                    "severity": "Grave",
                    "category": "quality",
                }
            ],
        }
        values = {
            "interactions": {"purpose": {"Demande": "inquiry"}, "direction": {"In": "inbound"}},
            "complaints": {"severity": {"grave": "high"}},
        }
        loaded = load_records(
            [{"client_id": "A", "placed_at": "2026-02-03", "amount": "1"}],
            **rows,
            currency="EUR",
            parse=ParseOptions(values=values),
        ).tables
        assert loaded.interactions[0].purpose.value == "inquiry"
        assert loaded.interactions[0].direction.value == "inbound"
        assert loaded.complaints[0].severity.value == "high"

    def test_a_contract_value_may_name_itself(self) -> None:
        """``Delivered -> delivered`` changes nothing and is accepted (a CRM's
        capitalised list of spellings may include the contract's own words)."""
        parse = ParseOptions(values={"orders": {"status": {"Delivered": "delivered"}}})
        assert one_order("1", parse, status="DELIVERED").status.value == "delivered"

    def test_an_unknown_spelling_names_the_option(self) -> None:
        row = {"client_id": "A", "placed_at": "2026-02-03", "amount": "1", "status": "Completed"}
        with pytest.raises(InputError) as info:
            load_records([row], currency="EUR")
        (problem,) = info.value.problems
        assert (problem.column, problem.value) == ("status", "Completed")
        reason = problem.reason
        assert reason.startswith("not one of: placed, delivered, cancelled, returned, planned")
        assert "--map-value orders.status SPELLING VALUE" in reason

    @pytest.mark.parametrize(
        ("values", "match"),
        [
            ({"order": {"status": {"a": "placed"}}}, "'order' is not a table"),
            ({"orders": {"amount": {"a": "1"}}}, "orders.amount is not a column of fixed values"),
            ({"orders": {"status": {"a": "shipped"}}}, "which is not one of"),
            ({"orders": {"status": {" ": "placed"}}}, "non-blank"),
            ({"orders": {"status": {"Done": "placed", "done": "delivered"}}}, "read as both"),
            # lapsed is a verdict relcycle derives, never an input value
            ({"interactions": {"reason": {"quiet": "lapsed"}}}, "which is not one of"),
            ({"orders": ["status"]}, "not a mapping of columns"),
            # a contract value keeps its meaning: mapping it would change the
            # rows already written in the contract's words
            ({"orders": {"status": {"Placed": "delivered"}}}, "the contract's own value 'placed'"),
            ({"complaints": {"severity": {" HIGH ": "low"}}}, "own value 'high'"),
        ],
    )
    def test_bad_spellings_are_refused(self, values: Any, match: str) -> None:
        with pytest.raises(UsageError, match=match):
            ParseOptions(values=values)

    def test_options_stay_values(self) -> None:
        """The spellings are frozen: equal options are equal and hash alike."""
        a, b = ParseOptions(values=SPELLINGS), ParseOptions(values=SPELLINGS)
        assert a == b
        assert hash(a) == hash(b)
        assert a != ParseOptions()
        assert ParseOptions(values={}).is_default


class TestCurrencyMarkers:
    @pytest.mark.parametrize(
        ("text", "currency", "value", "parse"),
        [
            ("€1.200,50", "EUR", "1200.50", ParseOptions(decimal_comma=True)),
            ("1.200,50 €", "EUR", "1200.50", ParseOptions(decimal_comma=True)),
            ("$1,200.50", "USD", "1200.50", None),
            ("$1,200.50", "CAD", "1200.50", None),
            ("1200.50 EUR", "EUR", "1200.50", None),
            ("GBP 12", "GBP", "12", None),
            ("£0.99", "GBP", "0.99", None),
            ("US$5", "USD", "5", None),
        ],
    )
    def test_marker_agreeing_with_the_row(
        self, text: str, currency: str, value: str, parse: ParseOptions | None
    ) -> None:
        """A symbol or code in the cell is accepted when it agrees with the row's currency."""
        order = one_order(text, parse, currency=currency)
        assert (order.amount, order.currency) == (Decimal(value), currency)

    @pytest.mark.parametrize(
        ("text", "currency"), [("€12", "USD"), ("$12", "EUR"), ("12 GBP", "EUR"), ("US$1", "CAD")]
    )
    def test_marker_disagreeing_is_an_error(self, text: str, currency: str) -> None:
        """A marker for another currency is an error naming both."""
        reason = problem_of(text, currency=currency)
        assert "marked" in reason
        assert currency in reason

    def test_marker_against_the_given_default(self, tmp_path: Path) -> None:
        """Without a currency column the marker is checked against --currency (or the default)."""
        (tmp_path / "orders.csv").write_text("client_id,placed_at,amount\nA,2026-01-02,€5\n")
        assert load_history(tmp_path, currency="EUR").tables.orders[0].amount == Decimal(5)
        with pytest.raises(InputError) as info:
            load_history(tmp_path)
        problem = info.value.problems[0]
        assert (problem.source, problem.line, problem.column) == ("orders.csv", 2, "amount")
        assert "--currency" in problem.reason

    @pytest.mark.parametrize("text", ["€5€", "€ 5 EUR", "¤5", "5 XX"])
    def test_malformed_markers(self, text: str) -> None:
        """Two markers, an unknown symbol or a half code are errors."""
        problem_of(text)

    def test_minutes_never_carry_a_currency(self) -> None:
        """A currency marker in a number that is not money is an error."""
        with pytest.raises(InputError, match="must not carry a currency"):
            load_records(
                [{"client_id": "A", "placed_at": "2026-01-01", "amount": "1"}],
                interactions=[{"client_id": "A", "at": "2026-01-02", "minutes": "€5"}],
                currency="EUR",
            )


class TestDates:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("03/02/2026", datetime(2026, 2, 3, tzinfo=UTC)),
            ("3.2.2026", datetime(2026, 2, 3, tzinfo=UTC)),
            ("03-02-2026 14:30", datetime(2026, 2, 3, 14, 30, tzinfo=UTC)),
            ("31/12/2025 23:59:58", datetime(2025, 12, 31, 23, 59, 58, tzinfo=UTC)),
            ("2026-02-03", datetime(2026, 2, 3, tzinfo=UTC)),
        ],
    )
    def test_day_first(self, text: str, expected: datetime) -> None:
        """--day-first reads DD/MM/YYYY (any of / . -) and still reads ISO 8601."""
        assert one_order("1", ParseOptions(day_first=True), placed_at=text).placed_at == expected

    @pytest.mark.parametrize("text", ["31/02/2026", "13/13/2026", "2026/02/03", "3 Feb 2026"])
    def test_day_first_refuses_the_impossible(self, text: str) -> None:
        """An impossible or other-shaped date is an error naming the column."""
        row = {"client_id": "A", "placed_at": text, "amount": "1"}
        with pytest.raises(InputError) as info:
            load_records([row], parse=ParseOptions(day_first=True), currency="EUR")
        assert info.value.problems[0].column == "placed_at"

    def test_without_day_first_slashes_are_refused(self) -> None:
        """Without an option a DD/MM/YYYY date is never guessed."""
        row = {"client_id": "A", "placed_at": "03/02/2026", "amount": "1"}
        with pytest.raises(InputError, match="never guessed"):
            load_records([row], currency="EUR")

    @pytest.mark.parametrize(
        ("fmt", "text", "expected"),
        [
            ("%m/%d/%Y", "03/02/2026", datetime(2026, 3, 2, tzinfo=UTC)),
            ("%d.%m.%Y %H:%M", "03.02.2026 09:15", datetime(2026, 2, 3, 9, 15, tzinfo=UTC)),
            ("%Y%m%d", "20260203", datetime(2026, 2, 3, tzinfo=UTC)),
            ("%d/%m/%Y", "2026-02-03", datetime(2026, 2, 3, tzinfo=UTC)),
        ],
    )
    def test_date_format(self, fmt: str, text: str, expected: datetime) -> None:
        """--date-format reads every datetime cell with the strptime format (ISO still read)."""
        parse = ParseOptions(date_format=fmt)
        assert one_order("1", parse, placed_at=text).placed_at == expected

    def test_date_format_mismatch_names_the_format(self) -> None:
        """A cell not in the format is an error quoting it."""
        row = {"client_id": "A", "placed_at": "2/3/26x", "amount": "1"}
        with pytest.raises(InputError, match="%d/%m/%Y"):
            load_records([row], parse=ParseOptions(date_format="%d/%m/%Y"), currency="EUR")

    def test_local_dates_are_read_in_the_zone(self) -> None:
        """Day-first dates without an offset are read in tz, like ISO ones."""
        row = {"client_id": "A", "placed_at": "03/02/2026 12:00", "amount": "1"}
        order = load_records(
            [row], parse=ParseOptions(day_first=True), tz="Europe/Kyiv", currency="EUR"
        ).tables.orders[0]
        assert order.placed_at == datetime(2026, 2, 3, 10, 0, tzinfo=UTC)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"day_first": True, "date_format": "%d/%m/%Y"},
            {"date_format": "dd/mm/yyyy"},
            {"money_places": -1},
            {"money_places": 19},
            {"money_places": True},
        ],
    )
    def test_bad_options(self, kwargs: dict[str, Any]) -> None:
        """A contradictory or bad option is a usage error."""
        with pytest.raises(UsageError):
            ParseOptions(**kwargs)


class TestRename:
    def test_crm_export(self, tmp_path: Path) -> None:
        """The CRM export of the docs loads with a mapping, day-first and decimal comma."""
        (tmp_path / "orders.csv").write_text(CRM, encoding="utf-8")
        result = load_history(
            tmp_path / "orders.csv",
            rename=CRM_RENAME,
            parse=ParseOptions(day_first=True, decimal_comma=True),
            currency="EUR",
        )
        orders = result.tables.orders
        assert [(o.client_id, o.amount, o.currency) for o in orders] == [
            ("ACME", Decimal("1200.50"), "EUR"),
            ("BETA", Decimal("980"), "EUR"),
        ]
        assert orders[0].placed_at == datetime(2026, 2, 3, tzinfo=UTC)
        assert result.warnings == ()

    @pytest.mark.parametrize("table", ["orders", "*"])
    def test_rows_and_dataframes(self, table: str) -> None:
        """Dict rows and dataframes are renamed the same way, with or without a table."""
        rename = {table: CRM_RENAME["orders"]}
        rows = [{"Customer ID": "A", "Order Date": "2026-01-02", "Total": "5"}]
        a = load_records(rows, rename=rename, currency="EUR")
        pa = pytest.importorskip("pyarrow")
        b = load_arrow(pa.Table.from_pylist(rows), rename=rename, currency="EUR")
        assert a.tables.orders[0].amount == b.tables.orders[0].amount == Decimal(5)

    def test_star_maps_every_table_having_the_header(self, tmp_path: Path) -> None:
        """An unprefixed mapping applies to each table whose source has the header."""
        (tmp_path / "orders.csv").write_text("Customer ID,placed_at,amount\nA,2026-01-02,5\n")
        (tmp_path / "interactions.csv").write_text("Customer ID,at\nA,2026-01-03\n")
        (tmp_path / "complaints.csv").write_text("client_id,opened_at\nA,2026-01-04\n")
        result = load_history(tmp_path, rename={"*": {"client_id": "Customer ID"}}, currency="EUR")
        assert result.tables.interactions[0].client_id == "A"
        assert result.tables.complaints[0].client_id == "A"

    @pytest.mark.parametrize("skip", [False, True])
    def test_problems_name_the_source_header(self, tmp_path: Path, skip: bool) -> None:
        """A bad cell of a mapped column is named by the file's own header, rejects too."""
        (tmp_path / "orders.csv").write_text(CRM, encoding="utf-8")
        parse = ParseOptions(day_first=True)  # no decimal comma: the amounts are bad
        if not skip:
            with pytest.raises(InputError) as info:
                load_history(tmp_path, rename=CRM_RENAME, parse=parse, currency="EUR")
            problems = info.value.problems
        else:
            result = load_history(
                tmp_path, rename=CRM_RENAME, parse=parse, currency="EUR", skip_bad_rows=True
            )
            assert set(result.rejects[0].row) == {"Customer ID", "Order Date", "Total"}
            problems = [p for r in result.rejects for p in r.problems]
        assert [(p.line, p.column, p.value) for p in problems] == [(2, "Total", "€1.200,50")]

    def test_missing_header_is_an_input_error(self, tmp_path: Path) -> None:
        """A mapped header the file lacks is named with the file and the columns it has."""
        (tmp_path / "orders.csv").write_text(CRM, encoding="utf-8")
        rename = {"orders": {**CRM_RENAME["orders"], "product": "Item"}}
        with pytest.raises(InputError) as info:
            load_history(tmp_path, rename=rename)
        problem = info.value.problems[0]
        assert (problem.source, problem.line, problem.column) == ("orders.csv", 1, "Item")
        assert "Customer ID" in problem.reason

    def test_star_header_nowhere(self, tmp_path: Path) -> None:
        """An unprefixed mapping whose header no table has is an error."""
        (tmp_path / "orders.csv").write_text("client_id,placed_at,amount\nA,2026-01-02,5\n")
        with pytest.raises(InputError, match="no table has this column"):
            load_history(tmp_path, rename={"*": {"product": "Item"}})

    def test_mapping_an_absent_table(self, tmp_path: Path) -> None:
        """A mapping for a table the source does not have is an error, not ignored."""
        (tmp_path / "orders.csv").write_text("client_id,placed_at,amount\nA,2026-01-02,5\n")
        with pytest.raises(InputError, match="names table interactions"):
            load_history(tmp_path, rename={"interactions": {"at": "Date"}})

    def test_mapping_onto_a_present_column_is_a_duplicate(self, tmp_path: Path) -> None:
        """Mapping a header onto a column the file already has is reported, not merged."""
        (tmp_path / "orders.csv").write_text("client_id,Kunde,placed_at,amount\nA,B,2026-01-02,5\n")
        with pytest.raises(InputError, match="reads 'Kunde' as client_id, a column the source"):
            load_history(tmp_path, rename={"orders": {"client_id": "Kunde"}})

    @pytest.mark.parametrize(
        "rename",
        [
            {"sales": {"client_id": "X"}},
            {"orders": {"customer": "X"}},
            {"orders": {"client_id": ""}},
            {"orders": {"client_id": "X", "product": "X"}},
            {"*": {"nonsense": "X"}},
        ],
    )
    def test_bad_mappings(self, rename: Any) -> None:
        """Unknown tables or columns, empty headers and one header twice are usage errors."""
        with pytest.raises(UsageError):
            load_records([], rename=rename)


class TestMapFlags:
    @pytest.mark.parametrize(
        ("flags", "expected"),
        [
            (["orders.client_id=Customer ID"], {"orders": {"client_id": "Customer ID"}}),
            (["client_id=Customer ID"], {"*": {"client_id": "Customer ID"}}),
            (["amount= Total "], {"*": {"amount": "Total"}}),
            (
                ["orders.amount=Total", "placed_at=Date"],
                {"orders": {"amount": "Total"}, "*": {"placed_at": "Date"}},
            ),
            (["orders.note=a=b"], None),
            (["orders.amount=a=b"], {"orders": {"amount": "a=b"}}),
        ],
    )
    def test_spellings(self, flags: list[str], expected: dict[str, Any] | None) -> None:
        """--map [TABLE.]COLUMN=HEADER: the table is optional, the header may hold '='."""
        if expected is None:
            with pytest.raises(UsageError):
                parse_map_flags(flags)
        else:
            assert parse_map_flags(flags) == expected

    @pytest.mark.parametrize("flag", ["client_id", "=X", "orders.amount=", "orders.amount= "])
    def test_malformed(self, flag: str) -> None:
        """A flag without COLUMN=HEADER, or with an empty part, is a usage error."""
        with pytest.raises(UsageError):
            parse_map_flags([flag])

    def test_flags_round_trip_through_a_shell(self) -> None:
        """map_flags quotes headers so the shell gives back the same mapping."""
        import shlex

        mapping = {"orders": {"client_id": "Customer ID", "amount": "Total", "product": "it's"}}
        words = shlex.split(" ".join(map_flags(mapping)))
        assert parse_map_flags(words[1::2]) == mapping


class TestProposal:
    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            (
                ["Customer ID", "Order Date", "Total"],
                {"client_id": "Customer ID", "placed_at": "Order Date", "amount": "Total"},
            ),
            (
                ["CLIENT_ID", "Placed At", "Amount"],
                {"client_id": "CLIENT_ID", "placed_at": "Placed At", "amount": "Amount"},
            ),
            (
                ["customer", "date", "value", "Currency Code"],
                {
                    "client_id": "customer",
                    "placed_at": "date",
                    "amount": "value",
                    "currency": "Currency Code",
                },
            ),
            (
                ["Документ", "Контрагент", "Дата", "Сума", "Валюта", "Номенклатура"],
                {
                    "order_id": "Документ",
                    "client_id": "Контрагент",
                    "placed_at": "Дата",
                    "amount": "Сума",
                    "currency": "Валюта",
                    "product": "Номенклатура",
                },
            ),
            (
                ["Номер заказа", "Покупатель", "Дата заказа", "Сумма документа"],
                {
                    "order_id": "Номер заказа",
                    "client_id": "Покупатель",
                    "placed_at": "Дата заказа",
                    "amount": "Сумма документа",
                },
            ),
            (
                ["Kunden-Nr.", "Bestelldatum", "Betrag", "Währung"],
                {
                    "client_id": "Kunden-Nr.",
                    "placed_at": "Bestelldatum",
                    "amount": "Betrag",
                    "currency": "Währung",
                },
            ),
            (["client_id", "placed_at", "amount"], {}),
            (["Foo", "Bar"], {}),
            (["Сума з ПДВ", "Номер"], {}),  # near names are not guessed
        ],
    )
    def test_proposes_from_headers(self, headers: list[str], expected: dict[str, str]) -> None:
        """Case, blanks and common CRM names are matched; contract headers are left alone."""
        assert propose_mapping({"orders": headers}).get("orders", {}) == expected

    @given(
        st.sampled_from(["order_id", "client_id", "placed_at", "amount", "product", "cost"]),
        st.lists(st.booleans(), min_size=12, max_size=12),
        st.sampled_from([" ", "-", "_", "", "  "]),
    )
    def test_any_spelling_of_a_column_is_found(
        self, column: str, upper: list[bool], joiner: str
    ) -> None:
        """Case, blanks, dashes and underscores do not hide a contract column."""
        header = joiner.join(column.split("_"))
        header = "".join(c.upper() if u else c for c, u in zip(header, upper * 3, strict=False))
        others = [c for c in ("client_id", "placed_at", "amount") if c != column]
        proposal = propose_mapping({"orders": [header, *others]})
        expected = {} if header == column else {"orders": {column: header}}
        assert proposal == expected

    def test_suggest_mapping_reads_the_source(self, tmp_path: Path) -> None:
        """suggest_mapping reads each table's headers; the proposal loads the export."""
        (tmp_path / "orders.csv").write_text(CRM, encoding="utf-8")
        proposal = suggest_mapping(tmp_path)
        assert proposal == CRM_RENAME
        parse = ParseOptions(day_first=True, decimal_comma=True)
        assert len(load_history(tmp_path, rename=proposal, parse=parse, currency="EUR").tables) == 2
        assert suggest_mapping(tmp_path, rename=proposal) == {}
        wrong = {"orders": {"client_id": "Customer", "amount": "Total"}}
        assert suggest_mapping(tmp_path, rename=wrong) == {
            "orders": {"client_id": "Customer ID", "placed_at": "Order Date"}
        }

    def test_a_ukrainian_export_gets_in_with_the_proposal(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An accounting system's export (Ukrainian headers, day-first dates,
        decimal commas): `relcycle check` proposes the mapping, the same command
        with the proposed flags passes, and the rows read as written."""
        import shlex

        from relcycle.cli import main

        (tmp_path / "orders.csv").write_text(
            "Документ;Контрагент;Дата;Сума;Валюта\n"
            "Реалізація 0001;ПП Альфа;03.02.2026;1 200,50;UAH\n"
            "Реалізація 0002;ПП Бета;15.03.2026;980,00;UAH\n",
            encoding="utf-8",
        )
        assert main(["check", str(tmp_path), "--delimiter", ";"]) == 1
        proposed = shlex.split(capsys.readouterr().err.splitlines()[-1])
        options = ["--delimiter", ";", "--day-first", "--decimal-comma"]
        assert main(["check", str(tmp_path), *options, *proposed]) == 0, capsys.readouterr().err
        rename = parse_map_flags(proposed[1::2])
        assert rename == {
            "orders": {
                "client_id": "Контрагент",
                "placed_at": "Дата",
                "amount": "Сума",
                "order_id": "Документ",
                "currency": "Валюта",
            }
        }
        parse = ParseOptions(day_first=True, decimal_comma=True, delimiter=";")
        orders = load_history(tmp_path, rename=rename, parse=parse).tables.orders
        assert [(o.order_id, o.client_id, o.amount, o.currency) for o in orders] == [
            ("Реалізація 0001", "ПП Альфа", Decimal("1200.50"), "UAH"),
            ("Реалізація 0002", "ПП Бета", Decimal("980.00"), "UAH"),
        ]
        assert orders[0].placed_at.date() == datetime(2026, 2, 3).date()


class TestDefaultCurrency:
    def test_warns_once_when_no_currency_is_named(self, tmp_path: Path) -> None:
        """Rows without a currency read as USD are counted in one warning."""
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount\nA,2026-01-02,5\nB,2026-01-03,6\n"
        )
        result = load_history(tmp_path)
        assert result.tables.orders[0].currency == "USD"
        assert len(result.warnings) == 1
        assert "2 row(s)" in result.warnings[0]
        assert "--currency" in result.warnings[0]
        assert load_history(tmp_path, currency="USD").warnings == ()

    def test_no_warning_when_every_row_has_one(self, tmp_path: Path) -> None:
        """A currency column (and complaints without a loss) need no warning."""
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount,currency\nA,2026-01-02,5,EUR\n"
        )
        (tmp_path / "complaints.csv").write_text("client_id,opened_at\nA,2026-01-03\n")
        assert load_history(tmp_path).warnings == ()

    def test_columnar_reader_says_the_same(self, tmp_path: Path) -> None:
        """The columnar reader's fast path warns exactly like io."""
        pytest.importorskip("polars")
        from relcycle.columnar import read_tables

        (tmp_path / "orders.csv").write_text("client_id,placed_at,amount\nA,2026-01-02,5\n")
        (tmp_path / "complaints.csv").write_text(
            "client_id,opened_at,client_loss\nA,2026-01-03,7\nA,2026-01-04,\n"
        )
        frames = read_tables(tmp_path)
        assert frames.path == "fast"
        assert frames.warnings == load_history(tmp_path).warnings
        assert "2 row(s)" in frames.warnings[0]


class TestFloatMoney:
    def test_pandas_floats_need_money_places(self) -> None:
        """A float amount column is refused naming money_places; with it, rounded half-even."""
        pd = pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        frame = pd.DataFrame(
            {
                "client_id": ["A", "A", "B"],
                "placed_at": pd.to_datetime(["2026-01-02", "2026-01-03", "2026-01-04"]),
                "amount": [0.125, 0.135, 1200.5],
            }
        )
        with pytest.raises(InputError) as info:
            relcycle.load_arrow(frame, currency="EUR")
        assert info.value.problems[0].column == "amount"
        assert "money_places" in info.value.problems[0].reason
        result = relcycle.load_arrow(
            frame, currency="EUR", parse=relcycle.ParseOptions(money_places=2)
        )
        assert [o.amount for o in result.tables.orders] == [
            Decimal("0.12"),
            Decimal("0.14"),
            Decimal("1200.50"),
        ]

    def test_float_rows(self) -> None:
        """Floats in dict rows follow the same rule."""
        row = {"client_id": "A", "placed_at": "2026-01-02", "amount": 2.675}
        with pytest.raises(InputError, match="money_places"):
            load_records([row], currency="EUR")
        loaded = load_records([row], currency="EUR", parse=ParseOptions(money_places=2))
        assert loaded.tables.orders[0].amount == Decimal("2.68")  # repr 2.675, half-even

    def test_columnar_reader_honours_the_options(self, tmp_path: Path) -> None:
        """read_tables with a mapping and parse options gives exactly io's records."""
        pytest.importorskip("polars")
        from relcycle.columnar import read_tables

        (tmp_path / "orders.csv").write_text(CRM, encoding="utf-8")
        parse = ParseOptions(day_first=True, decimal_comma=True)
        frames = read_tables(tmp_path, rename=CRM_RENAME, parse=parse, currency="EUR")
        loaded = load_history(tmp_path, rename=CRM_RENAME, parse=parse, currency="EUR")
        assert frames.tables() == loaded.tables
        assert frames.path == "objects"
