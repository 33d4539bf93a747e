"""Tests for relcycle.segmentation.plan: planned versus actual sales."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from relcycle.errors import CurrencyMismatchError, UsageError
from relcycle.history import build_portfolio
from relcycle.model import Client, Order
from relcycle.segmentation.plan import plan_vs_actual

AS_OF = datetime(2024, 5, 15, tzinfo=UTC)


def o(oid: str, cid: str, month: int, amount: int, status: str = "placed", **kw: object) -> Order:
    """An order on the 10th of ``month`` 2024."""
    return Order(
        order_id=oid,
        client_id=cid,
        placed_at=datetime(2024, month, 10, tzinfo=UTC),
        amount=amount,
        status=status,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def portfolio(*extra: Order):  # type: ignore[no-untyped-def]
    """Two clients of manager ann, one without a manager."""
    orders = [
        o("p1", "c1", 1, 1000, "planned"),
        o("s1", "c1", 1, 800),
        o("s2", "c1", 1, 100, "delivered"),
        o("x1", "c1", 1, 999, "cancelled"),
        o("p2", "c2", 2, 500, "planned"),
        o("s3", "c2", 2, 600),
        o("p3", "c3", 4, 300, "planned"),
        o("p4", "c1", 6, 400, "planned"),  # a plan for after as_of
        o("s4", "c1", 6, 50),  # a sale after as_of: not counted
        *extra,
    ]
    clients = [
        Client(client_id="c1", account_manager="ann"),
        Client(client_id="c2", account_manager="ann"),
        Client(client_id="c3"),
    ]
    return build_portfolio(orders=orders, clients=clients)


class TestPlanVsActual:
    """Plans (status planned) against sales, per group and period."""

    def test_per_client_and_month(self) -> None:
        """Each client's plan and sales per month; cancelled orders are neither."""
        result = plan_vs_actual(portfolio(), as_of=AS_OF)
        rows = {(r.key, r.period): r for r in result.rows}
        jan = rows[("c1", "2024-01")]
        assert (jan.planned, jan.actual, jan.planned_orders, jan.actual_orders) == (
            Decimal(1000),
            Decimal(900),
            1,
            2,
        )
        assert jan.attainment == Decimal("0.9")
        assert jan.gap == Decimal(-100)
        assert jan.actual_ids == ("s1", "s2")
        assert rows[("c2", "2024-02")].attainment == Decimal("1.2")
        assert rows[("c3", "2024-04")].actual == 0
        assert rows[("c1", "2024-06")].planned == Decimal(400)
        assert rows[("c1", "2024-06")].actual == 0
        assert (result.planned, result.actual) == (Decimal(2200), Decimal(1500))
        assert result.currency == "USD"

    def test_per_manager_and_quarter(self) -> None:
        """By manager and quarter; a client without a manager has key None (listed last)."""
        result = plan_vs_actual(portfolio(), as_of=AS_OF, by="manager", period="quarter")
        assert [(r.key, r.period) for r in result.rows] == [
            ("ann", "2024-Q1"),
            ("ann", "2024-Q2"),
            (None, "2024-Q2"),
        ]
        q1 = result.rows[0]
        assert (q1.planned, q1.actual) == (Decimal(1500), Decimal(1500))

    def test_portfolio_with_bounds(self) -> None:
        """For the portfolio in one period, between start and end."""
        result = plan_vs_actual(
            portfolio(),
            as_of=AS_OF,
            by="portfolio",
            period=None,
            start=datetime(2024, 2, 1, tzinfo=UTC),
            end=datetime(2024, 6, 1, tzinfo=UTC),
        )
        assert len(result.rows) == 1
        row = result.rows[0]
        assert (row.key, row.period, row.planned, row.actual) == (
            None,
            "all",
            Decimal(800),
            Decimal(600),
        )

    def test_nothing_planned(self) -> None:
        """Attainment is 0 for a plan without sales and None without a plan."""
        result = plan_vs_actual(portfolio(), as_of=AS_OF, period="year", by="client")
        c3 = next(r for r in result.rows if r.key == "c3")
        assert c3.attainment == 0
        only_sales = plan_vs_actual(build_portfolio(orders=[o("s", "c9", 1, 5)]), as_of=AS_OF)
        assert only_sales.rows[0].attainment is None

    def test_refusals(self) -> None:
        """Mixed currencies and unknown groupings are refused."""
        with pytest.raises(CurrencyMismatchError):
            plan_vs_actual(portfolio(o("e", "c2", 3, 1, currency="EUR")), as_of=AS_OF)
        with pytest.raises(UsageError, match="by"):
            plan_vs_actual(portfolio(), as_of=AS_OF, by="region")  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="period"):
            plan_vs_actual(portfolio(), as_of=AS_OF, period="week")  # type: ignore[arg-type]
