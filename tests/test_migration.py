"""Tests for relcycle.migration: the generic migration matrix between two dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle.errors import CurrencyMismatchError, RecordTypeError, UsageError, ValidationError
from relcycle.history import ClientHistory
from relcycle.ladder import Rung
from relcycle.lifecycle import Stage
from relcycle.migration import ABSENT, migration_matrix, revenue_between
from relcycle.model import Order

T0 = datetime(2026, 1, 1, tzinfo=UTC)

states = st.sampled_from([None, *Rung])
portfolios = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3),
    st.tuples(states, states, st.integers(0, 10_000)),
    max_size=30,
)


def split(
    data: dict[str, tuple[Rung | None, Rung | None, int]],
) -> tuple[dict[str, Rung | None], dict[str, Rung | None], dict[str, Decimal]]:
    before = {cid: b for cid, (b, _, _) in data.items()}
    after = {cid: a for cid, (_, a, _) in data.items()}
    values = {cid: Decimal(v) / 100 for cid, (_, _, v) in data.items()}
    return before, after, values


class TestMigrationMatrix:
    @settings(max_examples=150)
    @given(portfolios)
    def test_counts_and_values_sum_to_the_portfolio(
        self, data: dict[str, tuple[Rung | None, Rung | None, int]]
    ) -> None:
        """Every client is in exactly one cell: counts sum to the size, values to the total."""
        before, after, values = split(data)
        m = migration_matrix(before, after, order=Rung.ordered(), values=values)
        assert m.total == len(data)
        assert sum(m.counts.values()) == len(data)
        assert sum(m.values.values(), Decimal(0)) == sum(values.values(), Decimal(0))
        labels = [*Rung, None]
        assert sum(m.row_total(b) for b in labels) == len(data)
        assert sum(m.column_total(a) for a in labels) == len(data)
        both_absent = m.count(None, None)
        parts = len(m.promotions) + len(m.demotions) + len(m.stayed)
        assert parts + len(m.entered) + len(m.left) + both_absent == len(data)

    @settings(max_examples=100)
    @given(portfolios)
    def test_moves_follow_the_order(
        self, data: dict[str, tuple[Rung | None, Rung | None, int]]
    ) -> None:
        """Promotions go up the order, demotions down; the matrix is deterministic."""
        before, after, values = split(data)
        m = migration_matrix(before, after, order=Rung.ordered(), values=values)
        for move in m.promotions:
            assert move.before is not None
            assert move.after is not None
            assert move.after > move.before
        for move in m.demotions:
            assert move.before is not None
            assert move.after is not None
            assert move.after < move.before
        again = migration_matrix(
            dict(reversed(before.items())), after, order=Rung.ordered(), values=values
        )
        assert again == m

    def test_a_small_portfolio(self) -> None:
        """Counts, values and movers of a hand-made example."""
        m = migration_matrix(
            {"a": "buyer", "b": "customer", "c": "doubter", "d": "expert"},
            {"a": "customer", "b": "buyer", "c": "doubter", "e": "buyer"},
            order=Rung.ordered(),
            values={"a": 10, "b": Decimal("2.5"), "c": 0, "d": 7, "e": 1},
        )
        assert m.count(Rung.buyer, Rung.customer) == 1
        assert m.value(Rung.customer, Rung.buyer) == Decimal("2.5")
        assert [x.client_id for x in m.promotions] == ["a"]
        assert [x.client_id for x in m.demotions] == ["b"]
        assert [x.client_id for x in m.stayed] == ["c"]
        assert [x.client_id for x in m.left] == ["d"]
        assert [x.client_id for x in m.entered] == ["e"]
        assert m.promotions[0].before is Rung.buyer  # strings normalised to the order's members
        assert m.total_value == Decimal("20.5")

    def test_without_values_every_value_is_zero(self) -> None:
        """No values: counts only, values are zero."""
        m = migration_matrix({"a": "A"}, {"a": "B"}, order=["A", "B", "C"])
        assert m.value("A", "B") == 0
        assert m.total_value == 0
        assert [x.client_id for x in m.promotions] == ["a"]

    def test_lifecycle_direction_worse_is_later(self) -> None:
        """In the lifecycle a later stage is worse: escalated -> lost is a demotion."""
        m = migration_matrix(
            {"a": Stage.escalated, "b": Stage.escalated, "c": Stage.ultimatum},
            {"a": Stage.lost, "b": Stage.satisfied, "c": Stage.ultimatum},
            order=Stage.ordered(),
            later_is_better=False,
        )
        assert [x.client_id for x in m.demotions] == ["a"]
        assert [x.client_id for x in m.promotions] == ["b"]
        assert [x.client_id for x in m.moved] == ["a", "b"]
        data = m.to_dict()
        assert data["later_is_better"] is False
        assert [x["client_id"] for x in data["demotions"]] == ["a"]
        assert data["demotions"][0] == {
            "client_id": "a",
            "before": "escalated",
            "after": "lost",
            "value": "0",
        }

    def test_no_direction_has_only_moves(self) -> None:
        """States without a direction (segments) are neither promoted nor demoted."""
        m = migration_matrix(
            {"a": "x", "b": "y"}, {"a": "y", "b": "y"}, order=["x", "y"], later_is_better=None
        )
        assert m.promotions == m.demotions == ()
        assert [x.client_id for x in m.moved] == ["a"]
        assert m.to_dict()["moved"][0]["client_id"] == "a"

    @settings(max_examples=100)
    @given(portfolios, st.sampled_from([True, False, None]))
    def test_moves_partition_whatever_the_direction(
        self, data: dict[str, tuple[Rung | None, Rung | None, int]], direction: bool | None
    ) -> None:
        """Promotions and demotions swap with the direction; together they are the moves."""
        before, after, _ = split(data)
        m = migration_matrix(before, after, order=Rung.ordered(), later_is_better=direction)
        up = migration_matrix(before, after, order=Rung.ordered())
        if direction is None:
            assert m.promotions == m.demotions == ()
        elif direction:
            assert (m.promotions, m.demotions) == (up.promotions, up.demotions)
        else:
            assert (m.promotions, m.demotions) == (up.demotions, up.promotions)
        assert m.moved == tuple(sorted(up.promotions + up.demotions, key=lambda x: x.client_id))

    def test_unknown_state_is_refused(self) -> None:
        """A state outside the order names the client, the side and the value."""
        with pytest.raises(ValidationError) as info:
            migration_matrix({"a": "buyer"}, {"a": "hero"}, order=Rung.ordered())
        assert info.value.field == "after"
        assert info.value.record_id == "a"
        assert info.value.value == "hero"

    @pytest.mark.parametrize("order", [[], ["A", "A"]])
    def test_bad_order_is_refused(self, order: list[str]) -> None:
        """An empty order or one that repeats a state is a usage error."""
        with pytest.raises(UsageError):
            migration_matrix({}, {}, order=order)

    def test_missing_value_is_refused(self) -> None:
        """With values given, every client needs one."""
        with pytest.raises(ValidationError, match="b"):
            migration_matrix({"a": "A", "b": "A"}, {}, order=["A"], values={"a": 1})

    def test_float_value_is_refused(self) -> None:
        """A float is not money."""
        with pytest.raises(RecordTypeError):
            migration_matrix({"a": "A"}, {}, order=["A"], values={"a": 0.1})  # type: ignore[dict-item]

    def test_to_dict_and_text(self) -> None:
        """to_dict is JSON-ready with an absent row and column; to_text has totals."""
        m = migration_matrix(
            {"a": "A", "b": "B"},
            {"a": "B", "c": "A"},
            order=["A", "B"],
            values={"a": 1, "b": 2, "c": 3},
        )
        data = json.loads(json.dumps(m.to_dict()))
        assert data["counts"]["A"]["B"] == 1
        assert data["counts"][ABSENT]["A"] == 1
        assert data["counts"]["B"][ABSENT] == 1
        assert data["values"]["B"][ABSENT] == "2"
        assert data["total"] == 3
        text = m.to_text()
        assert text.splitlines()[-1].split() == ["total", "1", "1", "1", "3"]
        assert str(m) == text


class TestRevenueBetween:
    def test_sales_in_the_half_open_period(self) -> None:
        """Sales after start and up to end count; other statuses do not."""

        def o(oid: str, day: int, status: str = "placed") -> Order:
            return Order(
                order_id=oid,
                client_id="c",
                placed_at=T0 + timedelta(days=day),
                amount=10,
                status=status,  # type: ignore[arg-type]
            )

        h = ClientHistory.of("c", [o("o0", 0), o("o1", 1), o("o2", 5), o("o3", 3, "cancelled")])
        empty = ClientHistory.of("z", [])
        assert revenue_between([h, empty], start=T0, end=T0 + timedelta(days=5)) == {
            "c": Decimal(20),
            "z": Decimal(0),
        }

    def test_two_currencies_are_refused(self) -> None:
        """One report never adds two currencies."""
        a = ClientHistory.of(
            "a", [Order(order_id="1", client_id="a", placed_at=T0, amount=1, currency="EUR")]
        )
        b = ClientHistory.of("b", [Order(order_id="2", client_id="b", placed_at=T0, amount=1)])
        with pytest.raises(CurrencyMismatchError):
            revenue_between([a, b], start=T0 - timedelta(days=1), end=T0)
