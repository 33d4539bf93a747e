"""Tests for relcycle.segmentation.cost: revenue, cost-to-serve and profit."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle.errors import CurrencyMismatchError, RecordTypeError, ValidationError
from relcycle.history import ClientHistory
from relcycle.model import Interaction, Order
from relcycle.segmentation.cost import CostRates, cost_to_serve

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=100)


def sale(oid: str, day: int, amount: str, cost: str | None = None, **kw: object) -> Order:
    """An order of client c1."""
    return Order(
        order_id=oid,
        client_id="c1",
        placed_at=T0 + timedelta(days=day),
        amount=Decimal(amount),
        cost=None if cost is None else Decimal(cost),
        **kw,  # type: ignore[arg-type]
    )


def touch(
    iid: str, day: int, *, minutes: int | None = None, by: str | None = None, **kw: object
) -> Interaction:
    """An interaction of client c1."""
    return Interaction(
        interaction_id=iid,
        client_id="c1",
        at=T0 + timedelta(days=day),
        minutes=None if minutes is None else Decimal(minutes),
        handled_by=by,
        **kw,  # type: ignore[arg-type]
    )


RATES = CostRates(
    default_rate=Decimal(30),
    employee_rates={"boss": Decimal(120)},
    employee_roles={"eng": "engineer"},
    role_rates={"engineer": Decimal(90)},
    marketing_per_touch=Decimal(5),
)


def cts(records: list[Order | Interaction], rates: CostRates | None = RATES, **kw: object):  # type: ignore[no-untyped-def]
    """cost_to_serve of client c1 as of AS_OF."""
    return cost_to_serve(ClientHistory.of("c1", records), as_of=AS_OF, rates=rates, **kw)  # type: ignore[arg-type]


class TestCostToServe:
    """The seed's cost of a client: cost of goods, people's time, marketing."""

    def test_scenario(self) -> None:
        """Revenue minus cost of goods, time at the right rate and marketing gives profit."""
        result = cts(
            [
                sale("o1", 1, "1000", "600"),
                sale("o2", 2, "500", "300", status="delivered"),
                touch("i1", 3, minutes=60, by="boss"),  # employee rate 120
                touch("i2", 4, minutes=30, by="eng"),  # role rate 90 -> 45
                touch("i3", 5, minutes=20, by="someone"),  # default 30 -> 10
                touch("m1", 6, purpose="marketing", direction="outbound"),
                touch("m2", 7, purpose="marketing", direction="outbound"),
            ]
        )
        assert result.revenue == Decimal(1500)
        assert result.cost_of_goods == Decimal(900)
        assert result.time_cost == Decimal(175)
        assert result.marketing_cost == Decimal(10)
        assert result.cost_to_serve == Decimal(185)
        assert result.profit == Decimal(415)
        assert result.currency == "USD"
        assert not result.unprofitable
        assert result.uncosted_ids == ()
        assert set(result.evidence.record_ids) == {"o1", "o2", "i1", "i2", "i3", "m1", "m2"}

    def test_unprofitable(self) -> None:
        """A client whose costs exceed its revenue is unprofitable."""
        result = cts([sale("o1", 1, "100", "90"), touch("i1", 2, minutes=60, by="boss")])
        assert result.profit == Decimal(-110)
        assert result.unprofitable

    def test_counter_example_break_even_is_not_unprofitable(self) -> None:
        """Profit exactly zero is not unprofitable."""
        result = cts([sale("o1", 1, "100", "70"), touch("i1", 2, minutes=60, by="any")])
        assert result.profit == 0
        assert not result.unprofitable

    def test_no_cost_data_gives_none(self) -> None:
        """Without order costs, priced minutes or priced touches, profit is unknown."""
        result = cts([sale("o1", 1, "100"), touch("i1", 2)], rates=CostRates())
        assert result.cost_to_serve is None
        assert result.profit is None
        assert not result.has_cost_data
        assert not result.unprofitable
        assert result.revenue == Decimal(100)
        assert "no cost data" in result.evidence.reason

    def test_minutes_without_rate_make_the_cost_unknown(self) -> None:
        """Minutes without an applicable rate are not a cost of 0: the cost is unknown."""
        rates = CostRates(employee_rates={"boss": Decimal(60)})
        result = cts(
            [
                sale("o1", 1, "100", "10"),
                touch("i1", 2, minutes=30, by="boss"),
                touch("i2", 3, minutes=30, by="x"),
                touch("i3", 4, minutes=5),
            ],
            rates=rates,
        )
        assert (result.cost_to_serve, result.profit) == (None, None)
        assert not result.unprofitable
        assert result.missing_rates == ("default_rate",)
        assert result.unrated_employees == ("", "x")
        assert result.uncosted_ids == ("i2", "i3")
        assert "cost_rates.default_rate" in result.evidence.reason
        assert "minutes of x and unnamed staff" in result.evidence.reason

    def test_sales_without_cost_are_listed(self) -> None:
        """A sale without a cost counts no cost of goods and is listed as uncosted."""
        result = cts([sale("o1", 1, "100"), touch("i1", 2, minutes=30, by="boss")])
        assert (result.cost_to_serve, result.profit) == (Decimal(60), Decimal(40))
        assert result.uncosted_ids == ("o1",)
        assert result.missing_rates == ()

    def test_unpriced_marketing_touches_make_the_cost_unknown(self) -> None:
        """Marketing touches without marketing_per_touch leave the cost unknown; "0" prices them."""
        records = [sale("o1", 1, "100", "50"), touch("m1", 2, purpose="marketing")]
        result = cts(records, rates=CostRates(default_rate=Decimal(30)))
        assert result.profit is None
        assert result.missing_rates == ("marketing_per_touch",)
        assert "cost_rates.marketing_per_touch" in result.evidence.reason
        free = cts(records, rates=CostRates(marketing_per_touch=Decimal(0)))
        assert (free.cost_to_serve, free.profit) == (Decimal(0), Decimal(50))


class TestPriceHunter:
    """Issue 15: 40 inquiries of 45 minutes and a 5% margin are not a profitable client."""

    def hunter(self) -> list[Order | Interaction]:
        """Ten discounted orders of 800 at 760, forty 45-minute inquiries by SV01."""
        orders: list[Order | Interaction] = [
            sale(f"o{k}", 2 * k, "800", "760", discounted=True) for k in range(10)
        ]
        calls = [touch(f"i{k}", 2 * k + 1, minutes=45, by="SV01") for k in range(40)]
        return orders + calls

    def test_with_rates_it_is_unprofitable(self) -> None:
        """At 40 an hour the 30 hours (1,200) eat the 400 of margin: a loss of 800."""
        result = cts(self.hunter(), rates=CostRates(default_rate=Decimal(40)))
        assert result.cost_to_serve == Decimal(1200)
        assert result.profit == Decimal(-800)
        assert result.unprofitable

    def test_without_rates_the_profit_is_unknown_not_400(self) -> None:
        """With no rates the profit is None (not +400) and the missing rate is named."""
        result = cts(self.hunter(), rates=CostRates())
        assert (result.cost_to_serve, result.profit) == (None, None)
        assert result.missing_rates == ("default_rate",)
        assert result.unrated_employees == ("SV01",)
        assert "minutes of SV01" in result.evidence.reason

    def test_only_sales_are_revenue(self) -> None:
        """Planned, cancelled and returned orders are not revenue; later orders neither."""
        result = cts(
            [
                sale("o1", 1, "100", "10"),
                sale("o2", 2, "100", "10", status="planned"),
                sale("o3", 3, "100", "10", status="cancelled"),
                sale("o4", 4, "100", "10", status="returned"),
                sale("o5", 200, "100", "10"),
            ]
        )
        assert (result.revenue, result.cost_of_goods) == (Decimal(100), Decimal(10))

    def test_since_restricts_the_period(self) -> None:
        """With since, only records from that moment count."""
        records = [sale("o1", 1, "100", "10"), sale("o2", 50, "200", "20")]
        result = cts(records, since=T0 + timedelta(days=10))
        assert (result.revenue, result.profit) == (Decimal(200), Decimal(180))

    def test_currencies(self) -> None:
        """Two currencies, or rates in another currency, are refused."""
        with pytest.raises(CurrencyMismatchError):
            cts([sale("o1", 1, "1"), sale("o2", 2, "1", currency="EUR")])
        with pytest.raises(CurrencyMismatchError):
            cts([sale("o1", 1, "1")], rates=CostRates(currency="EUR"))
        eur = cts([sale("o1", 1, "1", currency="EUR")], rates=CostRates(currency="EUR"))
        assert eur.currency == "EUR"
        assert cts([], rates=CostRates()).currency is None

    def test_bad_rates(self) -> None:
        """Negative or float rates and bad currencies are refused, naming the field."""
        with pytest.raises(ValidationError, match="must be >= 0"):
            CostRates(default_rate=Decimal(-1))
        with pytest.raises(RecordTypeError, match="never a float"):
            CostRates(default_rate=1.5)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="currency"):
            CostRates(currency="eur")
        assert CostRates(role_rates={"x": "12.5"}).role_rates["x"] == Decimal("12.5")  # type: ignore[dict-item]


class TestProperties:
    """Invariants of revenue."""

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(st.tuples(st.integers(0, 99), st.integers(0, 1000)), max_size=10),
        st.tuples(st.integers(0, 99), st.integers(0, 1000)),
        st.randoms(use_true_random=False),
    )
    def test_adding_an_order_never_lowers_revenue(
        self, rows: list[tuple[int, int]], extra: tuple[int, int], rnd: random.Random
    ) -> None:
        """One more sale never lowers revenue; record order never matters."""
        orders = [sale(f"o{i}", d, str(a), str(a // 2)) for i, (d, a) in enumerate(rows)]
        before = cts(orders)
        after = cts([*orders, sale("x", extra[0], str(extra[1]), "0")])
        assert after.revenue >= before.revenue
        rnd.shuffle(orders)
        assert cts(orders) == before
