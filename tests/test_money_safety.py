"""Money safety: exact decimals from the input to the report, one currency per report."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given, settings

from relcycle.cli import main
from relcycle.errors import CurrencyMismatchError, InputError, RecordTypeError
from relcycle.io import load_history, load_records
from relcycle.model import Money, Order, OrderStatus
from relcycle.report import build_report
from relcycle.testing import portfolios


def _exact_sum(values: list[Decimal]) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 200
        return sum(values, Decimal(0))


def _report(tmp_path: Path, orders_csv: str, *args: str) -> tuple[int, str, dict[str, object]]:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / "orders.csv").write_text(orders_csv, encoding="utf-8")
    out = tmp_path / "report.json"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["report", str(folder), "--format", "json", "--output", str(out), *args])
    data: dict[str, object] = {}
    if out.exists():
        data = json.loads(out.read_text(encoding="utf-8"), parse_float=Decimal)
    return code, err.getvalue(), data


def _clients(data: dict[str, object]) -> dict[str, dict[str, object]]:
    clients = data["clients"]
    assert isinstance(clients, list)
    return {c["client_id"]: c for c in clients}


HEADER = "order_id,client_id,placed_at,amount,currency\n"


class TestExactMoney:
    """No float on the money path: amounts reach the report to the last digit."""

    def test_twenty_digit_amounts_reach_the_report_exactly(self, tmp_path: Path) -> None:
        """A 21-digit amount and a sum of them come out of the report unchanged."""
        rows = (
            "1,00123,2024-01-01,1234567890123456789.12,EUR\n"
            "2,00123,2024-01-02,0.01,EUR\n"
            "3,007,2024-01-03,99999999999999999999,EUR\n"
        )
        code, err, data = _report(tmp_path, HEADER + rows)
        assert code == 0, err
        clients = _clients(data)
        assert clients["00123"]["revenue"] == "1234567890123456789.13"
        assert clients["007"]["revenue"] == "99999999999999999999"
        summary = data["summary"]
        assert isinstance(summary, dict)
        assert summary["revenue"] == "101234567890123456788.13"

    def test_tenths_do_not_drift(self, tmp_path: Path) -> None:
        """Ten orders of 0.1 make exactly 1.0 (a float sum would not)."""
        rows = "".join(f"{n},C,2024-01-{n + 1:02d},0.1,USD\n" for n in range(10))
        code, err, data = _report(tmp_path, HEADER + rows)
        assert code == 0, err
        assert _clients(data)["C"]["revenue"] == "1.0"

    @pytest.mark.parametrize(
        ("amounts", "expected"),
        [
            (
                ["12345678901234567890.123456789012345678"],
                "12345678901234567890.123456789012345678",
            ),
            (["99999999999999999999", "0.000000001"], "99999999999999999999.000000001"),
        ],
    )
    def test_revenue_keeps_every_digit(
        self, tmp_path: Path, amounts: list[str], expected: str
    ) -> None:
        """Amounts the reader accepts are added exactly, however many digits they need."""
        rows = "".join(f"{n},C,2024-01-{n + 1:02d},{a},USD\n" for n, a in enumerate(amounts))
        code, err, data = _report(tmp_path, HEADER + rows)
        assert code == 0, err
        assert _clients(data)["C"]["revenue"] == expected

    def test_monetary_value_is_exact_in_python_and_a_number_in_the_report(
        self, tmp_path: Path
    ) -> None:
        """The API keeps lifetimes' monetary_value exact; the report writes it as a number.

        The contract says the four lifetimes figures feed a BG/NBD or Gamma-Gamma model
        unchanged, so the report writes them as JSON numbers, as lifetimes gives them:
        the float nearest to the exact mean. Money fields (revenue, profit, ...) stay
        exact decimal text.
        """
        rows = (
            "1,C,2024-01-01,1,USD\n"
            "2,C,2024-01-02,1234567890123456789.12,USD\n"
            "3,C,2024-01-03,1234567890123456789.13,USD\n"
        )
        code, err, data = _report(tmp_path, HEADER + rows)
        assert code == 0, err
        exact = Decimal("1234567890123456789.125")
        line = _clients(data)["C"]
        # JSON is parsed with parse_float=Decimal: a number, written as the nearest float
        assert isinstance(line["monetary_value"], Decimal)
        assert float(line["monetary_value"]) == float(exact)
        assert line["revenue"] == "2469135780246913579.25"
        report = build_report(load_history(tmp_path / "in").portfolio)
        assert report["C"].monetary_value == exact

    @settings(max_examples=25, deadline=None)
    @given(portfolio=portfolios(max_clients=4, max_records=6))
    def test_report_revenue_is_the_exact_sum_of_sales(self, portfolio: object) -> None:
        """Every client's revenue is the exact sum of its sales by as_of, in Decimal."""
        from relcycle.history import Portfolio

        assert isinstance(portfolio, Portfolio)
        if portfolio.last_moment is None:
            return
        report = build_report(portfolio)
        for line in report.clients:
            history = portfolio[line.client_id]
            sales = [
                o.amount
                for o in history.orders
                if o.placed_at <= report.as_of
                and o.status in (OrderStatus.placed, OrderStatus.delivered)
            ]
            assert type(line.revenue.amount) is Decimal
            assert line.revenue.amount == _exact_sum(sales)
        assert type(report.summary["revenue"]) in (Decimal, str)
        assert Decimal(str(report.summary["revenue"])) == _exact_sum(
            [c.revenue.amount for c in report.clients]
        )

    def test_json_numbers_are_read_as_decimals(self, tmp_path: Path) -> None:
        """A JSON Lines amount written as a number (0.1) is the decimal 0.1, not a float."""
        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "orders.jsonl").write_text(
            '{"order_id": 1, "client_id": "C", "placed_at": "2024-01-01", "amount": 0.1}\n'
            '{"order_id": 2, "client_id": "C", "placed_at": "2024-01-02",'
            ' "amount": 12345678901234567890.12}\n',
            encoding="utf-8",
        )
        orders = load_history(folder).tables.orders
        assert [o.order_id for o in orders] == ["1", "2"]
        assert [o.amount for o in orders] == [Decimal("0.1"), Decimal("12345678901234567890.12")]
        assert all(type(o.amount) is Decimal for o in orders)

    def test_floats_are_refused_for_money(self) -> None:
        """A float amount is refused by the model and by the in-memory reader."""
        with pytest.raises(RecordTypeError):
            Money(0.1, "USD")  # type: ignore[arg-type]
        with pytest.raises(InputError) as caught:
            load_records([{"client_id": "C", "placed_at": "2024-01-01", "amount": 0.1}])
        (problem,) = caught.value.problems
        assert problem.column == "amount"
        assert "float" in problem.reason.lower() or "floating" in problem.reason.lower()

    def test_float_parquet_money_columns_are_refused(self, tmp_path: Path) -> None:
        """A Parquet amount column of doubles is refused, naming the column."""
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        folder = tmp_path / "in"
        folder.mkdir()
        table = pa.table(
            {"client_id": ["C"], "placed_at": ["2024-01-01"], "amount": pa.array([0.1])}
        )
        pq.write_table(table, folder / "orders.parquet")
        with pytest.raises(InputError) as caught:
            load_history(folder)
        assert [p.column for p in caught.value.problems] == ["amount"]

    def test_order_amounts_never_become_floats(self) -> None:
        """Ints and decimal strings become Decimal; the stored amount is never a float."""
        for value in (3, "3.10", Decimal("3.10")):
            order = Order(
                order_id="1",
                client_id="C",
                placed_at=datetime(2024, 1, 1, tzinfo=UTC),
                amount=value,  # type: ignore[arg-type]
            )
            assert type(order.amount) is Decimal
            assert order.amount == Decimal(str(value))


class TestOneCurrencyPerReport:
    """One report never adds two currencies; relcycle does not convert (documented)."""

    def test_mixed_currencies_are_an_error(self, tmp_path: Path) -> None:
        """Orders in USD and EUR: exit 1 naming both currencies, no report written."""
        rows = "1,A,2024-01-01,10,USD\n2,B,2024-01-02,10,EUR\n"
        code, err, data = _report(tmp_path, HEADER + rows)
        assert code == 1
        assert "EUR" in err
        assert "USD" in err
        assert data == {}
        assert not (tmp_path / "report.json").exists()

    def test_mixed_currencies_in_the_api(self) -> None:
        """build_report raises CurrencyMismatchError with the currencies as data."""
        loaded = load_records(
            [
                {"client_id": "A", "placed_at": "2024-01-01", "amount": "1", "currency": "USD"},
                {"client_id": "A", "placed_at": "2024-01-02", "amount": "1", "currency": "UAH"},
            ]
        )
        with pytest.raises(CurrencyMismatchError) as caught:
            build_report(loaded.portfolio)
        assert caught.value.currencies == ("UAH", "USD")

    def test_currency_option_is_not_a_conversion(self, tmp_path: Path) -> None:
        """--currency EUR over USD orders is refused, not silently relabelled."""
        code, err, data = _report(tmp_path, HEADER + "1,A,2024-01-01,10,USD\n", "--currency", "EUR")
        assert code == 1
        assert "EUR" in err
        assert "USD" in err
        assert data == {}

    def test_currency_option_fills_empty_cells(self, tmp_path: Path) -> None:
        """Orders without a currency take --currency, and the report is in it."""
        code, err, data = _report(tmp_path, HEADER + "1,A,2024-01-01,10,\n", "--currency", "UAH")
        assert code == 0, err
        assert _clients(data)["A"]["currency"] == "UAH"
        summary = data["summary"]
        assert isinstance(summary, dict)
        assert summary["currency"] == "UAH"

    def test_lowercase_currency_cells_are_one_currency(self, tmp_path: Path) -> None:
        """'eur' and 'EUR' are the same currency, not a mismatch."""
        rows = "1,A,2024-01-01,10,eur\n2,A,2024-01-02,5,EUR\n"
        code, err, data = _report(tmp_path, HEADER + rows)
        assert code == 0, err
        assert _clients(data)["A"]["revenue"] == "15"
        assert _clients(data)["A"]["currency"] == "EUR"
