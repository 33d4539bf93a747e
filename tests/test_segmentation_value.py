"""Tests for relcycle.segmentation.value: ABC classes and the top-20% share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle.errors import CurrencyMismatchError, UsageError
from relcycle.history import build_portfolio
from relcycle.model import Interaction, Order
from relcycle.segmentation.cost import CostRates, cost_to_serve
from relcycle.segmentation.value import (
    ValueBasis,
    ValueClass,
    abc_classes,
    client_values,
    known_profit,
    share_text,
    top_count,
    top_share,
    value_classes,
)

A, B, C = ValueClass.A, ValueClass.B, ValueClass.C
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def d(**values: int) -> dict[str, Decimal]:
    """Decimal values by client id."""
    return {k: Decimal(v) for k, v in values.items()}


class TestAbcClasses:
    """Pareto/ABC on cumulative share, ties by client id."""

    def test_pareto_scenario(self) -> None:
        """One client with 80% of the value is A; the next 15% are B; the tail is C."""
        classes = abc_classes(d(a=80, b=10, c=5, d=3, e=2))
        assert classes == {"a": A, "b": B, "c": B, "d": C, "e": C}

    def test_the_client_crossing_the_cutoff_is_in_the_class(self) -> None:
        """The client whose value crosses 80% is still A."""
        assert abc_classes(d(a=50, b=40, c=10)) == {"a": A, "b": A, "c": B}

    def test_ties_are_broken_by_client_id(self) -> None:
        """Equal values are ranked by client id, whatever the mapping order."""
        values = {"z": Decimal(40), "y": Decimal(40), "x": Decimal(20)}
        classes = abc_classes(values)
        assert classes == {"y": A, "z": A, "x": B}
        assert list(classes) == ["y", "z", "x"]
        assert abc_classes(dict(reversed(values.items()))) == classes

    def test_non_positive_values_are_c(self) -> None:
        """Zero and negative values (unprofitable clients) are C."""
        classes = abc_classes(d(a=100, b=0, c=-50))
        assert classes == {"a": A, "b": C, "c": C}
        assert set(abc_classes(d(a=0, b=-1)).values()) == {C}

    def test_configurable_cutoffs(self) -> None:
        """Cut-offs are parameters; floats are read exactly."""
        assert abc_classes(d(a=50, b=30, c=20), cutoffs=(0.5, 0.8)) == {"a": A, "b": B, "c": C}
        with pytest.raises(UsageError, match="cutoffs"):
            abc_classes(d(a=1), cutoffs=(Decimal("0.9"), Decimal("0.5")))
        with pytest.raises(UsageError, match="cutoffs"):
            abc_classes(d(a=1), cutoffs=(0, 0.5))

    def test_bad_values(self) -> None:
        """Values must be Decimals (or ints), never floats."""
        with pytest.raises(UsageError, match="client 'a'"):
            abc_classes({"a": 1.5})  # type: ignore[dict-item]

    def test_empty(self) -> None:
        """No clients, no classes."""
        assert abc_classes({}) == {}

    @settings(max_examples=80, deadline=None)
    @given(st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(-50, 1000)))
    def test_every_client_gets_exactly_one_class(self, raw: dict[str, int]) -> None:
        """Each client gets one class, independent of order; A's share reaches the cut-off."""
        values = {k: Decimal(v) for k, v in raw.items()}
        classes = abc_classes(values)
        assert set(classes) == set(values)
        assert abc_classes(dict(sorted(values.items(), reverse=True))) == classes
        total = sum(v for v in values.values() if v > 0)
        a_value = sum(values[k] for k, c in classes.items() if c is A)
        if total > 0:
            assert a_value >= Decimal("0.8") * total
        # a higher value never gets a worse class
        for k1, v1 in values.items():
            for k2, v2 in values.items():
                if v1 > v2:
                    assert classes[k1] <= classes[k2]


class TestTopShare:
    """The share of value held by the top 20% of clients."""

    def test_scenario(self) -> None:
        """With five clients the top one holds its share of the total."""
        assert top_share(d(a=80, b=10, c=5, d=3, e=2)) == Decimal("0.8")

    def test_rounds_the_group_up(self) -> None:
        """With six clients the top 20% are two clients (ceil)."""
        assert top_share(d(a=50, b=20, c=10, d=10, e=5, f=5)) == Decimal("0.7")

    def test_edge_cases(self) -> None:
        """No clients or no positive value give 0; fraction 1 gives 1."""
        assert top_share({}) == 0
        assert top_share(d(a=0, b=-5)) == 0
        assert top_share(d(a=3, b=1), fraction=1) == 1
        with pytest.raises(UsageError, match="fraction"):
            top_share(d(a=1), fraction=0)


class TestClientValues:
    """Values per client from a portfolio, on revenue or profit."""

    def portfolio(self, currency: str = "USD"):  # type: ignore[no-untyped-def]
        """Three clients: one with costs, one without, one without sales."""
        orders = [
            Order(order_id="o1", client_id="a", placed_at=T0, amount=100, cost=60),
            Order(order_id="o2", client_id="b", placed_at=T0, amount=300, currency=currency),
            Order(order_id="o3", client_id="c", placed_at=T0, amount=50, status="planned"),
        ]
        contacts = [
            Interaction(interaction_id="i1", client_id="a", at=T0, minutes=60, handled_by="e")
        ]
        return build_portfolio(orders=orders, interactions=contacts)

    def test_revenue_and_profit(self) -> None:
        """Revenue counts sales; profit without cost data counts as 0."""
        p = self.portfolio()
        as_of = T0 + timedelta(days=1)
        assert client_values(p, as_of=as_of) == d(a=100, b=300, c=0)
        rates = CostRates(default_rate=Decimal(10))
        assert client_values(p, as_of=as_of, basis="profit", rates=rates) == d(a=30, b=0, c=0)
        classes = abc_classes(client_values(p, as_of=as_of, basis="profit", rates=rates))
        assert classes == {"a": A, "b": C, "c": C}

    def test_mixed_currencies_and_bad_basis(self) -> None:
        """Two currencies in one portfolio or an unknown basis are refused."""
        with pytest.raises(CurrencyMismatchError):
            client_values(self.portfolio("EUR"), as_of=T0)
        with pytest.raises(UsageError, match="basis"):
            client_values(self.portfolio(), as_of=T0, basis="margin")  # type: ignore[arg-type]


class TestValueClasses:
    """value_classes: profit where known, revenue otherwise (value_basis)."""

    def test_auto_uses_profit_when_every_profit_is_known(self) -> None:
        """The one-off 90,000 at a 400 profit falls below the steady 7,200."""
        revenue = d(oneoff=90000, regular=12000, big=100000)
        profit = d(oneoff=400, regular=7200, big=1000)
        found = value_classes(revenue, dict(profit))
        assert found.basis is ValueBasis.profit
        assert found.classes["regular"] is A
        assert found.classes["oneoff"] is C
        assert found.unknown == ()

    def test_auto_falls_back_to_revenue_with_an_unknown_profit(self) -> None:
        """One unknown profit: revenue for everyone, the unknown named."""
        revenue = d(oneoff=90000, regular=12000)
        found = value_classes(revenue, {"oneoff": Decimal(400), "regular": None})
        assert found.basis is ValueBasis.revenue
        assert found.classes == abc_classes(revenue)
        assert found.unknown == ("regular",)

    def test_profit_basis_values_unknown_at_zero(self) -> None:
        found = value_classes(d(a=10, b=1000), {"a": Decimal(5), "b": None}, basis="profit")
        assert (found.basis, found.classes["b"], found.classes["a"]) == (ValueBasis.profit, C, A)

    def test_revenue_basis_ignores_profit(self) -> None:
        found = value_classes(d(a=10, b=1000), {"a": Decimal(5), "b": Decimal(1)}, basis="revenue")
        assert (found.basis, found.classes["b"]) == (ValueBasis.revenue, A)

    def test_bad_arguments(self) -> None:
        with pytest.raises(UsageError, match="basis 'margin'"):
            value_classes(d(a=1), {"a": None}, basis="margin")
        with pytest.raises(UsageError, match="a revenue or a profit only"):
            value_classes(d(a=1), {"b": None})

    def test_known_profit(self) -> None:
        """No sale and nothing to cost is a profit of 0; a missing rate leaves it unknown."""
        history = build_portfolio(
            interactions=[Interaction(interaction_id="i", client_id="p", at=T0, minutes="5")]
        )["p"]
        at = T0 + timedelta(days=1)
        assert known_profit(cost_to_serve(history, as_of=at)) is None
        empty = build_portfolio(
            interactions=[Interaction(interaction_id="i", client_id="p", at=T0)]
        )["p"]
        assert known_profit(cost_to_serve(empty, as_of=at)) == 0


class TestShares:
    """One rounding rule and one top group for every output."""

    @pytest.mark.parametrize(
        ("share", "text"),
        [
            (Decimal("0.875"), "88%"),
            (Decimal("0.745"), "75%"),  # half up, not half even
            (Decimal("0.7449"), "74%"),
            (0.2, "20%"),
            (Decimal(1), "100%"),
            (Decimal(0), "0%"),
        ],
    )
    def test_share_text_rounds_half_up_to_whole_percent(
        self, share: Decimal | float, text: str
    ) -> None:
        assert share_text(share) == text

    def test_top_count_is_the_top_shares_group(self) -> None:
        """7 clients, top 20%: 2 (ceil), the count top_share adds up."""
        assert top_count(7, Decimal("0.2")) == 2
        assert top_count(10, Decimal("0.2")) == 2
        assert top_count(0, Decimal("0.2")) == 0
        values = d(a=50, b=30, c=10, d=4, e=3, f=2, g=1)
        assert top_share(values) == Decimal(80) / Decimal(100)
