"""Tests for relcycle.segmentation.regularity: regular, irregular, one-off, none."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle.errors import ValidationError
from relcycle.history import ClientHistory
from relcycle.model import Order
from relcycle.segmentation.regularity import Regularity, RegularityPolicy, assess_regularity

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def assess(days: list[int], as_of_day: int, **kw: object):  # type: ignore[no-untyped-def]
    """Assess a client with one sale (amount 10) on each of ``days`` (noon)."""
    orders = [
        Order(
            order_id=f"o{i}",
            client_id="c1",
            placed_at=T0 + timedelta(days=d, hours=12),
            amount=10,
        )
        for i, d in enumerate(days)
    ]
    history = ClientHistory.of("c1", orders)
    return assess_regularity(history, as_of=T0 + timedelta(days=as_of_day, hours=13), **kw)  # type: ignore[arg-type]


class TestRegularity:
    """The four regularity classes from inter-order gaps."""

    def test_regular_buyer(self) -> None:
        """Small orders every 30 days make a regular buyer with an expected next order."""
        result = assess([0, 30, 60, 90, 120], 130)
        assert result.regularity is Regularity.regular
        assert result.mean_gap == 30
        assert result.cv == 0
        assert result.next_expected == date(2024, 5, 30)
        assert not result.overdue
        assert result.evidence.record_ids == ("o0", "o1", "o2", "o3", "o4")
        assert "next order expected 2024-05-30" in result.evidence.reason

    def test_regular_buyer_overdue(self) -> None:
        """A regular buyer silent for more than 1.5 mean gaps is overdue."""
        result = assess([0, 30, 60, 90, 120], 166)
        assert result.regularity is Regularity.regular
        assert result.overdue
        assert result.days_since_last == 46
        assert "overdue" in result.evidence.reason

    def test_counter_example_not_yet_overdue(self) -> None:
        """At exactly 1.5 mean gaps the order is not yet overdue."""
        assert not assess([0, 30, 60, 90, 120], 165).overdue

    def test_irregular_buyer(self) -> None:
        """Gaps of 2 and 150 days are too uneven to be regular."""
        result = assess([0, 2, 152, 154, 300], 310)
        assert result.regularity is Regularity.irregular
        assert result.cv is not None
        assert result.cv > Decimal("0.5")
        assert result.next_expected is None
        assert not result.overdue
        assert "cv above 0.5" in result.evidence.reason

    def test_too_few_gaps_is_irregular(self) -> None:
        """Two even gaps are not enough evidence of regularity by default."""
        result = assess([0, 30, 60], 70)
        assert result.regularity is Regularity.irregular
        assert "fewer than 3 gaps" in result.evidence.reason
        assert assess([0, 30, 60], 70, policy=RegularityPolicy(min_gaps=2)).regularity is (
            Regularity.regular
        )

    def test_one_off(self) -> None:
        """One purchase day (even with several orders) is a one-off client."""
        result = assess([5, 5, 5], 50)
        assert result.regularity is Regularity.one_off
        assert result.days_since_last == 45
        assert result.evidence.record_ids == ("o0", "o1", "o2")

    def test_none(self) -> None:
        """No sale: none; orders after as_of do not count."""
        assert assess([], 10).regularity is Regularity.none
        assert assess([20], 10).regularity is Regularity.none

    def test_window(self) -> None:
        """With a window, only recent purchase days count."""
        policy = RegularityPolicy(window_days=101)
        result = assess([0, 30, 60, 90, 120, 150], 160, policy=policy)
        assert result.purchase_days[0] == date(2024, 3, 1)
        assert result.regularity is Regularity.regular
        assert "in the last 101 days" in result.evidence.reason

    def test_policy_is_validated(self) -> None:
        """Bad thresholds are refused naming the field."""
        with pytest.raises(ValidationError, match="min_gaps"):
            RegularityPolicy(min_gaps=0)
        with pytest.raises(ValidationError, match="max_cv"):
            RegularityPolicy(max_cv=Decimal(-1))
        with pytest.raises(ValidationError, match="window_days"):
            RegularityPolicy(window_days=0)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.integers(0, 300), max_size=12), st.randoms(use_true_random=False))
    def test_record_order_does_not_matter(self, days: list[int], rnd: random.Random) -> None:
        """The assessment depends on the orders, not on the order they come in."""
        shuffled = days[:]
        rnd.shuffle(shuffled)
        first = assess(days, 310)
        second = assess(shuffled, 310)
        assert (first.regularity, first.purchase_days, first.cv, first.overdue) == (
            second.regularity,
            second.purchase_days,
            second.cv,
            second.overdue,
        )
        expected = {0: Regularity.none, 1: Regularity.one_off}.get(len(set(days)))
        if expected is not None:
            assert first.regularity is expected
        else:
            assert first.regularity in (Regularity.regular, Regularity.irregular)


class TestExactFigures:
    """The figures and the rule come from integers: exact on a tie, and the same
    whatever decimal context the caller runs in."""

    @settings(max_examples=150, deadline=None)
    @given(
        st.lists(st.integers(1, 400), min_size=1, max_size=14),
        st.integers(0, 900),
        st.sampled_from(["0.5", "0.25", "0.3", "1"]),
        st.sampled_from(["1.5", "1.2", "2"]),
    )
    def test_the_rule_is_the_exact_one(
        self, gaps: list[int], after: int, max_cv: str, factor: str
    ) -> None:
        """Regular exactly when the gaps' coefficient of variation (population
        standard deviation over the mean, from exact fractions) is at most
        ``max_cv``; overdue exactly when the days since the last purchase exceed
        the exact mean gap times ``overdue_factor``."""
        from fractions import Fraction

        days = [sum(gaps[:i]) for i in range(len(gaps) + 1)]
        policy = RegularityPolicy(
            min_gaps=2, max_cv=Decimal(max_cv), overdue_factor=Decimal(factor)
        )
        found = assess(days, days[-1] + after, policy=policy)
        mean = Fraction(sum(gaps), len(gaps))
        variance = sum((g - mean) ** 2 for g in gaps) / len(gaps)
        regular = len(gaps) >= 2 and variance <= (Fraction(max_cv) * mean) ** 2
        assert (found.regularity is Regularity.regular) == regular
        if regular:
            assert found.overdue == (after > mean * Fraction(factor))
        assert found.mean_gap is not None
        assert abs(Fraction(found.mean_gap) - mean) < Fraction(1, 10**25)

    def test_a_tie_is_regular(self) -> None:
        """Gaps 1 and 3: mean 2, standard deviation 1, cv exactly 0.5 = max_cv."""
        found = assess([0, 1, 4], 5, policy=RegularityPolicy(min_gaps=2))
        assert found.regularity is Regularity.regular
        assert found.cv == Decimal("0.5")

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.integers(1, 400), min_size=2, max_size=14), st.integers(0, 900))
    def test_the_callers_decimal_context_changes_nothing(self, gaps: list[int], after: int) -> None:
        """A caller's narrow, truncating decimal context gives the same verdict,
        figures and evidence as the default one (the figures used to be partly
        computed in it: a mean gap of 30.67 days read 30.6 under ROUND_DOWN)."""
        from decimal import ROUND_DOWN, localcontext

        days = [sum(gaps[:i]) for i in range(len(gaps) + 1)]
        policy = RegularityPolicy(min_gaps=2)
        usual = assess(days, days[-1] + after, policy=policy)
        with localcontext() as context:
            context.prec = 6
            context.rounding = ROUND_DOWN
            narrow = assess(days, days[-1] + after, policy=policy)
        assert narrow == usual
