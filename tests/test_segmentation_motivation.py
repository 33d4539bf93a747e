"""Tests for relcycle.segmentation.motivation: the seed's four motivation segments."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from relcycle.errors import ValidationError
from relcycle.history import ClientHistory
from relcycle.model import Client, Complaint, Interaction, Order, Purpose
from relcycle.segmentation.motivation import (
    AttributeRule,
    MotivationPolicy,
    MotivationSegment,
    classify_motivation,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=300)


def at(day: int) -> datetime:
    """Noon, ``day`` days after T0."""
    return T0 + timedelta(days=day, hours=12)


def contact(n: int, purpose: str, day: int = 10, direction: str = "inbound") -> Interaction:
    """An interaction of client c1."""
    return Interaction(
        interaction_id=f"{purpose}{n}",
        client_id="c1",
        at=at(day + n),
        purpose=purpose,  # type: ignore[arg-type]
        direction=direction,  # type: ignore[arg-type]
    )


def sale(n: int, day: int, amount: str = "100", **kw: object) -> Order:
    """A sale of client c1."""
    return Order(
        order_id=f"o{n}",
        client_id="c1",
        placed_at=at(day),
        amount=Decimal(amount),
        **kw,  # type: ignore[arg-type]
    )


def classify(records: list[Interaction | Order | Complaint], **kw: object) -> object:
    """Classify client c1 (a plain client) as of AS_OF."""
    return classify_motivation(ClientHistory.of("c1", records), as_of=AS_OF, **kw)  # type: ignore[arg-type]


def monthly_sales(n: int = 6, start: int = 100) -> list[Order]:
    """``n`` sales 30 days apart."""
    return [sale(i, start + 30 * i) for i in range(n)]


class TestLowestPrice:
    """Many requests and (almost) only discounted orders: lowest price."""

    def test_scenario(self) -> None:
        """Six requests and four of four sales at a discount make a lowest-price client."""
        records = [contact(i, "inquiry") for i in range(6)]
        records += [sale(i, 50 + 40 * i, discounted=True) for i in range(4)]
        result = classify(records)
        assert result.segment is MotivationSegment.lowest_price
        assert result.rule == "lowest_price"
        assert "4 of 4 sales at a discount" in result.evidence.reason
        assert set(result.evidence.record_ids) == {f"inquiry{i}" for i in range(6)} | {
            f"o{i}" for i in range(4)
        }

    def test_counter_example_full_price(self) -> None:
        """The same contacts with mostly full-price orders are not lowest price."""
        records = [contact(i, "inquiry") for i in range(6)]
        records += [sale(i, 50 + 40 * i, discounted=(i == 0)) for i in range(4)]
        assert classify(records).segment is not MotivationSegment.lowest_price

    def test_counter_example_few_requests(self) -> None:
        """Discounted orders without many requests are not lowest price."""
        records = [contact(i, "inquiry") for i in range(2)]
        records += [sale(i, 50 + 40 * i, discounted=True) for i in range(4)]
        assert classify(records).segment is not MotivationSegment.lowest_price


class TestNovelty:
    """Many requests to change the offer but few orders: novelty."""

    def test_scenario(self) -> None:
        """Four offer changes and one small sale make a novelty client."""
        records = [contact(i, "offer_change") for i in range(4)] + [sale(0, 120, "20")]
        result = classify(records)
        assert result.segment is MotivationSegment.novelty
        assert result.rule == "novelty"
        assert "o0" in result.evidence.record_ids

    def test_the_sentence_reads_as_people_write(self) -> None:
        """One sale is "1 sale", and the mean is in the amounts' own places (it read
        ``(mean 291.6033333333333333333333333)`` for three sales, ``only 1 sales``)."""
        records = [contact(i, "offer_change") for i in range(4)] + [sale(0, 120, "20.50")]
        reason = classify(records).evidence.reason  # type: ignore[attr-defined]
        assert reason == "4 offer changes but only 1 sale in 365 days (mean 20.50)"
        records += [sale(1, 130, "100.01"), sale(2, 140, "774.80")]
        reason = classify(records).evidence.reason  # type: ignore[attr-defined]
        assert reason == "4 offer changes but only 3 sales in 365 days (mean 298.44)"
        yen = [contact(i, "offer_change") for i in range(4)]
        yen += [sale(0, 120, "1000", currency="JPY"), sale(1, 130, "1001", currency="JPY")]
        reason = classify(yen).evidence.reason  # type: ignore[attr-defined]
        assert reason == "4 offer changes but only 2 sales in 365 days (mean 1000)"  # half even

    def test_no_rule_names_the_demand_in_words(self) -> None:
        """The unclassified sentence says "no sale" or "one purchase day", not the
        regularity's values ("none demand", "one_off demand")."""
        reason = classify([contact(0, "inquiry")]).evidence.reason  # type: ignore[attr-defined]
        assert reason == (
            "no rule matched: 1 request, 0 offer changes, 0 partnership proposals, "
            "0 referrals, 0 sales (0 discounted), 0 complaints, no sale in 365 days"
        )
        reason = classify([sale(0, 120)]).evidence.reason  # type: ignore[attr-defined]
        assert reason.endswith("1 sale (0 discounted), 0 complaints, one purchase day in 365 days")

    def test_counter_example_many_orders(self) -> None:
        """Offer changes followed by many orders are not novelty."""
        records = [contact(i, "offer_change") for i in range(4)]
        records += [sale(i, 100 + 10 * i) for i in range(5)]
        assert classify(records).segment is not MotivationSegment.novelty

    def test_counter_example_big_orders_when_size_is_checked(self) -> None:
        """With a size limit set, big orders rule novelty out."""
        records = [contact(i, "offer_change") for i in range(4)] + [sale(0, 120, "5000")]
        policy = MotivationPolicy(novelty_max_mean_order=Decimal(500))
        assert classify(records, policy=policy).segment is MotivationSegment.unclassified
        assert classify(records).segment is MotivationSegment.novelty


class TestBelonging:
    """Offer changes, joint planning and referrals: a sense of belonging."""

    def test_scenario(self) -> None:
        """Three offer changes, two partnership proposals and a referral make belonging."""
        records = [contact(i, "offer_change") for i in range(3)]
        records += [contact(0, "joint_planning"), contact(1, "service_exchange")]
        records += [contact(0, "referral")]
        result = classify(records)
        assert result.segment is MotivationSegment.belonging
        assert set(result.evidence.record_ids) == {
            "offer_change0",
            "offer_change1",
            "offer_change2",
            "joint_planning0",
            "service_exchange1",
            "referral0",
        }

    def test_counter_example_no_referral_falls_to_novelty(self) -> None:
        """Without a referral the rule fails and the next rule (novelty) decides."""
        records = [contact(i, "offer_change") for i in range(3)]
        records += [contact(0, "joint_planning"), contact(1, "service_exchange")]
        result = classify(records)
        assert result.segment is MotivationSegment.novelty

    def test_belonging_comes_before_lowest_price(self) -> None:
        """A client fitting both belonging and lowest price is belonging (rule order)."""
        records = [contact(i, "offer_change") for i in range(6)]
        records += [contact(0, "joint_planning"), contact(1, "joint_planning")]
        records += [contact(0, "referral")]
        records += [sale(i, 50 + 40 * i, discounted=True) for i in range(4)]
        assert classify(records).segment is MotivationSegment.belonging


class TestStability:
    """Regular demand, passive, rarely complains: stability."""

    def test_scenario(self) -> None:
        """Six monthly orders with no client-initiated contact make a stability client."""
        result = classify(monthly_sales())
        assert result.segment is MotivationSegment.stability
        assert result.rule == "stability"
        assert result.signals.regularity.regularity.value == "regular"

    def test_counter_example_complains(self) -> None:
        """A regular client that complains often is not stability."""
        complaints = [
            Complaint(complaint_id=f"k{i}", client_id="c1", opened_at=at(110 + 30 * i))
            for i in range(3)
        ]
        result = classify(monthly_sales() + complaints)
        assert result.segment is MotivationSegment.unclassified

    def test_a_rare_complaint_keeps_stability(self) -> None:
        """One complaint in six regular orders is still "rarely complains" (seed 003)."""
        complaint = Complaint(complaint_id="k1", client_id="c1", opened_at=at(110))
        assert classify([*monthly_sales(), complaint]).segment is MotivationSegment.stability

    def test_counter_example_active(self) -> None:
        """A regular client that contacts the supplier all the time is not passive."""
        records = monthly_sales() + [contact(i, "feedback", day=100) for i in range(5)]
        assert classify(records).segment is not MotivationSegment.stability

    def test_counter_example_irregular(self) -> None:
        """Passive but irregular demand is not stability."""
        records = [sale(i, d) for i, d in enumerate([100, 102, 190, 195, 280])]
        assert classify(records).segment is MotivationSegment.unclassified

    def test_supplier_contacts_do_not_make_it_active(self) -> None:
        """Outbound contacts and marketing touches are not client activity."""
        records = monthly_sales() + [contact(i, "inquiry", 100, "outbound") for i in range(5)]
        records += [contact(i, "marketing", 100) for i in range(5)]
        assert classify(records).segment is MotivationSegment.stability


class TestUnclassified:
    """A client that fits no rule is unclassified, with the figures in its evidence."""

    def test_empty_history(self) -> None:
        """A client without records is unclassified."""
        result = classify([])
        assert result.segment is MotivationSegment.unclassified
        assert result.rule == "unclassified"
        assert result.evidence.reason.startswith("no rule matched")

    def test_window_drops_old_signals(self) -> None:
        """Signals older than the window do not count."""
        records = [contact(i, "offer_change", day=-200) for i in range(4)]
        assert classify(records).segment is MotivationSegment.unclassified
        whole = MotivationPolicy(window_days=None)
        assert classify(records, policy=whole).segment is MotivationSegment.novelty

    def test_records_after_as_of_are_ignored(self) -> None:
        """Records after as_of do not count."""
        records = [contact(i, "offer_change", day=400) for i in range(4)]
        assert classify(records).segment is MotivationSegment.unclassified


class TestAttributeRules:
    """User rules on client attributes come first."""

    def test_attribute_rule_decides(self) -> None:
        """A matching attribute rule wins over the data rules and is reported."""
        client = Client(client_id="c1", attributes={"tier": "pilot"})
        policy = MotivationPolicy(attribute_rules=(AttributeRule("tier", "pilot", "novelty"),))
        history = ClientHistory.of(client, monthly_sales())
        result = classify_motivation(history, as_of=AS_OF, policy=policy)
        assert result.segment is MotivationSegment.novelty
        assert result.rule == "attribute:tier=pilot"

    def test_non_matching_attribute_falls_through(self) -> None:
        """A rule on another value leaves the data rules to decide."""
        client = Client(client_id="c1", attributes={"tier": "core"}, industry="retail")
        policy = MotivationPolicy(
            attribute_rules=(
                AttributeRule("tier", "pilot", "novelty"),
                AttributeRule("industry", "fashion", "novelty"),
            )
        )
        history = ClientHistory.of(client, monthly_sales())
        result = classify_motivation(history, as_of=AS_OF, policy=policy)
        assert result.segment is MotivationSegment.stability

    def test_client_fields_can_be_used(self) -> None:
        """industry, region and kind are usable like attributes."""
        client = Client(client_id="c1", industry="fashion")
        rule = AttributeRule("industry", "fashion", MotivationSegment.novelty)
        policy = MotivationPolicy(attribute_rules=(rule,))
        result = classify_motivation(ClientHistory.of(client), as_of=AS_OF, policy=policy)
        assert result.rule == "attribute:industry=fashion"


class TestPolicy:
    """The policy refuses bad thresholds, naming the field."""

    def test_bad_values(self) -> None:
        """Shares outside [0, 1], negative counts and unknown segments are refused."""
        with pytest.raises(ValidationError, match="lowest_price_min_discounted_share"):
            MotivationPolicy(lowest_price_min_discounted_share=Decimal("1.5"))
        with pytest.raises(ValidationError, match="novelty_max_orders"):
            MotivationPolicy(novelty_max_orders=-1)
        with pytest.raises(ValidationError, match="segment"):
            AttributeRule("tier", "x", "loyal")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="attribute_rules"):
            MotivationPolicy(attribute_rules=("tier",))  # type: ignore[arg-type]

    def test_floats_are_read_exactly(self) -> None:
        """A float threshold becomes the Decimal of its repr."""
        policy = MotivationPolicy(stability_max_contacts_per_order=0.3)  # type: ignore[arg-type]
        assert policy.stability_max_contacts_per_order == Decimal("0.3")


PURPOSES = [p.value for p in Purpose]


@st.composite
def histories(draw: st.DrawFn) -> list[Interaction | Order | Complaint]:
    """Random records of client c1 over 400 days."""
    records: list[Interaction | Order | Complaint] = []
    for i in range(draw(st.integers(0, 15))):
        records.append(
            Interaction(
                interaction_id=f"i{i}",
                client_id="c1",
                at=at(draw(st.integers(0, 400))),
                purpose=draw(st.sampled_from(PURPOSES)),
                direction=draw(st.sampled_from(["inbound", "outbound"])),
            )
        )
    for i in range(draw(st.integers(0, 10))):
        records.append(
            Order(
                order_id=f"o{i}",
                client_id="c1",
                placed_at=at(draw(st.integers(0, 400))),
                amount=draw(st.integers(0, 1000)),
                discounted=draw(st.booleans()),
                status=draw(st.sampled_from(["placed", "delivered", "cancelled", "planned"])),
            )
        )
    for i in range(draw(st.integers(0, 3))):
        records.append(Complaint(complaint_id=f"k{i}", client_id="c1", opened_at=at(i * 50)))
    return records


class TestProperties:
    """Invariants over random histories."""

    @settings(max_examples=80, deadline=None)
    @given(histories(), st.randoms(use_true_random=False))
    def test_exactly_one_segment_whatever_the_record_order(
        self, records: list[Interaction | Order | Complaint], rnd: random.Random
    ) -> None:
        """Every client gets exactly one segment, the same for any record order."""
        result = classify(records)
        assert result.segment in set(MotivationSegment)
        assert result.rule in {s.value for s in MotivationSegment}
        shuffled = records[:]
        rnd.shuffle(shuffled)
        again = classify(shuffled)
        assert (again.segment, again.rule, again.evidence) == (
            result.segment,
            result.rule,
            result.evidence,
        )


class TestExactRatios:
    """The rules' ratios are decided exactly, from the counts and the sum."""

    @settings(max_examples=200, deadline=None)
    @example(  # 2 of 3 sales at a discount, against 2/3 rounded up to 28 digits
        requests=8,
        offer_changes=0,
        inbound=0,
        sales=3,
        discounted=2,
        complaints=0,
        cents=100,
        share="0.6666666666666666666666666667",
        per_sale="0.5",
        mean_cap="500",
    )
    @given(
        requests=st.integers(0, 8),
        offer_changes=st.integers(0, 8),
        inbound=st.integers(0, 8),
        sales=st.integers(0, 9),
        discounted=st.integers(0, 9),
        complaints=st.integers(0, 4),
        cents=st.integers(0, 10**7),
        share=st.sampled_from(["0.75", "0.5", "0.6666666666666666666666666667", "1"]),
        per_sale=st.sampled_from(["0.5", "0.25", "0.3333333333333333333333333333", "1"]),
        mean_cap=st.sampled_from(["500", "99.99", "33.33"]),
    )
    def test_the_segment_is_the_exact_rules(
        self,
        requests: int,
        offer_changes: int,
        inbound: int,
        sales: int,
        discounted: int,
        complaints: int,
        cents: int,
        share: str,
        per_sale: str,
        mean_cap: str,
    ) -> None:
        """Lowest price, novelty and stability read ``discounted / sales``, the mean
        sale and the contacts and complaints per sale as exact fractions: a share of
        2 of 3 is below a threshold of 0.666…667 (it used to be equal to it, both
        rounded to 28 digits)."""
        from fractions import Fraction

        from relcycle.segmentation.motivation import motivation_from_signals, motivation_signals
        from relcycle.segmentation.regularity import regularity_from_days

        discounted = min(discounted, sales)
        ids = {
            "contacts": [f"c{i}" for i in range(requests + offer_changes)],
            "inbound": [f"i{i}" for i in range(inbound)],
            "requests": [f"r{i}" for i in range(requests)],
            "offer_changes": [f"x{i}" for i in range(offer_changes)],
            "partnership": [],
            "referrals": [],
            "sales": [f"o{i}" for i in range(sales)],
            "discounted": [f"o{i}" for i in range(discounted)],
            "complaints": [f"q{i}" for i in range(complaints)],
        }
        value = Decimal(cents).scaleb(-2)
        days = tuple(date(2024, 1, 1) + timedelta(days=30 * i) for i in range(sales))
        as_of_day = date(2025, 1, 1) if days else None
        policy = MotivationPolicy(
            lowest_price_min_discounted_share=Decimal(share),
            stability_max_contacts_per_order=Decimal(per_sale),
            stability_max_complaints_per_order=Decimal(per_sale),
            novelty_max_mean_order=Decimal(mean_cap),
        )
        regularity = regularity_from_days(
            "c1", days, ids["sales"], as_of_day=as_of_day, policy=policy.windowed_regularity()
        )
        signals = motivation_signals(ids, sales_value=value, regularity=regularity)
        got = motivation_from_signals("c1", signals, as_of=AS_OF, policy=policy).segment
        p = policy
        ratio = Fraction(share)
        if (
            requests >= p.lowest_price_min_requests
            and sales > 0
            and Fraction(discounted, sales) >= ratio
        ):
            expected = MotivationSegment.lowest_price
        elif (
            offer_changes >= p.novelty_min_offer_changes
            and sales <= p.novelty_max_orders
            and offer_changes > sales
            and (sales == 0 or Fraction(value) / sales <= Fraction(mean_cap))
        ):
            expected = MotivationSegment.novelty
        elif regularity.regularity.value == "regular" and (
            inbound <= Fraction(per_sale) * sales and complaints <= Fraction(per_sale) * sales
        ):
            expected = MotivationSegment.stability
        else:
            expected = MotivationSegment.unclassified
        assert got is expected
