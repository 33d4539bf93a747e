"""One big client: its memory grows linearly with its records, never faster.

The per-client algorithms (lifecycle, ladder, funnel, segmentation and the
report's per-client pass) are run on one client with n and 4n records, and the
peak memory they allocate (``tracemalloc``, the history built beforehand) must
grow about 4 times, well under the 16 times of a square. Nothing is timed: the
ladder's work is pinned instead by what its memory keeps and by how often it
asks the regularity rule. The million-record runs are ``bench/bench_big_client.py``
and ``tests/test_scale_edges.py`` (``-m slow``).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from relcycle import build_portfolio, funnel, ladder, lifecycle
from relcycle.history import ClientHistory
from relcycle.model import Complaint, Interaction, Order
from relcycle.report import build_report
from relcycle.segmentation.regularity import RegularityPolicy

START = datetime(1901, 1, 1, tzinfo=UTC)
_PURPOSES = (
    "inquiry",
    "offer_change",
    "joint_planning",
    "service_exchange",
    "wish",
    "feedback",
    "referral",
    "marketing",
)
_CATEGORIES = ("delivery", "quality", "billing", "service", "other")


def noisy(n: int) -> ClientHistory:
    """One client with ``n`` orders and ``n`` interactions, hostile from the start.

    An escalation on the first day makes the lifecycle hostile for good (the
    ladder's adversary); a few complaints a year, most resolved, keep the
    lifecycle's evidence linear (each cites a bounded number of records).
    """
    orders, contacts, complaints = [], [], []
    for i in range(n):
        at = START + timedelta(hours=20 * i)
        late = False if i % 13 == 0 else None
        orders.append(Order(order_id=f"o{i}", client_id="A", placed_at=at, amount=10, on_time=late))
        purpose = "escalation" if i == 0 else _PURPOSES[i % len(_PURPOSES)]
        direction = "outbound" if purpose == "marketing" else "inbound"
        contacts.append(
            Interaction(
                interaction_id=f"i{i}",
                client_id="A",
                at=at + timedelta(minutes=5),
                purpose=purpose,
                direction=direction,
                handled_by=f"m{i % 3}",
            )
        )
        if i % 50 == 7:
            complaints.append(
                Complaint(
                    complaint_id=f"k{i}",
                    client_id="A",
                    opened_at=at,
                    category=_CATEGORIES[i % 5],
                    severity=("low", "medium", "high", "critical")[i % 4],
                    status="rejected" if i % 150 == 7 else "resolved",
                    resolved_at=at + timedelta(days=2),
                    client_loss=Decimal(5) if i % 100 == 7 else None,
                )
            )
    portfolio = build_portfolio(orders=orders, interactions=contacts, complaints=complaints)
    return portfolio["A"]


def irregular_buyer(n: int) -> ClientHistory:
    """One client with ``n`` sales on ``n`` purchase days one and 60 days apart in turn.

    Gaps of 1, 60, 1, 60... are never regular (cv about 0.97): the client stays a
    buyer whose promotion to customer is asked at every sale and contact.
    """
    orders, contacts = [], []
    for i in range(n):
        at = START + timedelta(days=(i // 2) * 61 + i % 2, hours=9)
        orders.append(Order(order_id=f"o{i}", client_id="A", placed_at=at, amount=10))
        contacts.append(
            Interaction(
                interaction_id=f"i{i}",
                client_id="A",
                at=at + timedelta(hours=1),
                purpose="inquiry",
                direction="inbound",
            )
        )
    return build_portfolio(orders=orders, interactions=contacts)["A"]


def _as_of(history: ClientHistory) -> datetime:
    return history.orders[-1].placed_at + timedelta(days=1)


def _per_client(history: ClientHistory) -> None:
    """Every per-client algorithm of the report, as the report runs them."""
    as_of = _as_of(history)
    life = lifecycle.assess(history, as_of=as_of)
    ladder.assess(history, as_of=as_of, lifecycle=life)
    funnel.assess_funnel(history, as_of=as_of)
    build_report(
        build_portfolio(
            orders=history.orders,
            interactions=history.interactions,
            complaints=history.complaints,
        )
    )


def _peak(make: Callable[[int], ClientHistory], n: int) -> int:
    """The peak memory allocated while assessing one client of ``n`` records a table."""
    history = make(n)
    _per_client(make(8))  # warm the caches and lazy imports on a tiny client
    gc.collect()
    tracemalloc.start()
    try:
        _per_client(history)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("make", "n"), [(noisy, 300), (irregular_buyer, 200)], ids=["noisy", "irregular_buyer"]
)
def test_memory_of_one_client_is_linear(make: Callable[[int], ClientHistory], n: int) -> None:
    """Four times the records take about four times the memory, far from sixteen."""
    small, large = _peak(make, n), _peak(make, 4 * n)
    ratio = large / small
    assert ratio < 6, f"{small:,} -> {large:,} bytes: {ratio:.1f}x for 4x the records"


class TestLadderKeepsOnlyWhatItReads:
    """The ladder's memory holds what a promotion can still read, not every record."""

    def _state(self, history: ClientHistory) -> ladder.LadderMemory:
        as_of = _as_of(history)
        life = lifecycle.assess(history, as_of=as_of)
        run = ladder.MACHINE.run(
            history,
            as_of=as_of,
            policy=ladder.LadderSettings(),
            inputs=ladder.lifecycle_inputs(life),
        )
        return run.state.memory

    def test_hostile_client_keeps_no_sales_or_contacts(self) -> None:
        """An adversary's sales and contacts are read by no promotion: none is kept."""
        memory = self._state(noisy(300))
        assert memory.hostile
        assert (memory.sales, memory.advocacy, memory.engagement) == ((), (), ())
        assert memory.first_sale is not None
        assert memory.first_sale[1] == "o0"

    def test_customer_keeps_no_later_sales(self) -> None:
        """Above buyer no sale is read: only those that made the client a customer stay."""
        orders = [
            Order(
                order_id=f"o{i}", client_id="A", placed_at=START + timedelta(days=30 * i), amount=1
            )
            for i in range(40)
        ]
        praise = [
            Interaction(
                interaction_id=f"i{i}",
                client_id="A",
                at=START + timedelta(days=30 * i, hours=1),
                purpose="feedback",
                direction="outbound",
            )
            for i in range(40)
        ]
        history = build_portfolio(orders=orders, interactions=praise)["A"]
        life = lifecycle.assess(history, as_of=_as_of(history))
        assessment = ladder.assess(history, as_of=_as_of(history), lifecycle=life)
        assert assessment.rung is ladder.Rung.customer
        memory = self._state(history)
        # the sales that made it a customer, none after
        assert len(memory.sales) == RegularityPolicy().min_gaps + 1
        assert memory.advocacy == ()  # outbound feedback is no advocacy

    def test_buyer_asks_the_rule_once_per_purchase_day(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A buyer's sales on a day already counted, and its contacts, ask nothing again."""
        calls = []
        original = ladder.regular_gaps

        def counted(days: tuple[object, ...], rule: RegularityPolicy) -> object:
            calls.append(len(days))
            return original(days, rule)  # type: ignore[arg-type]

        monkeypatch.setattr(ladder, "regular_gaps", counted)
        history = irregular_buyer(200)
        # three more sales on each purchase day
        extra = [
            Order(
                order_id=f"x{k}{o.order_id}",
                client_id="A",
                placed_at=o.placed_at + timedelta(hours=k),
                amount=1,
            )
            for o in history.orders
            for k in (1, 2, 3)
        ]
        history = build_portfolio(
            orders=[*history.orders, *extra], interactions=history.interactions
        )["A"]
        as_of = _as_of(history)
        life = lifecycle.assess(history, as_of=as_of)
        assert ladder.assess(history, as_of=as_of, lifecycle=life).rung is ladder.Rung.buyer
        assert len(calls) <= 200
