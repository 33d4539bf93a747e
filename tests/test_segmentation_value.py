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
from relcycle.segmentation.cost import CostRates
from relcycle.segmentation.value import ValueClass, abc_classes, client_values, top_share

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
