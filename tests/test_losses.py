"""Tests for relcycle.losses and the report's loss analysis: what was lost, why, with whom."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle import Client, Interaction, Order, Portfolio, build_portfolio
from relcycle.errors import RecordTypeError, ValidationError
from relcycle.history import ClientHistory
from relcycle.lifecycle import assess
from relcycle.losses import LossFigures, LossPolicy, assess_loss, lost_revenue_signals
from relcycle.model import LossReason
from relcycle.render import render
from relcycle.report import Report, ReportPolicies, build_report


def at(day: int, hour: int = 10) -> datetime:
    """A moment in 2024, ``day`` days after 1 January."""
    return datetime(2024, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)


def monthly(cid: str, first: int, count: int, amount: str = "1000") -> list[Order]:
    """``count`` sales of ``amount``, 30 days apart from day ``first``."""
    return [
        Order(order_id=f"{cid}-o{i}", client_id=cid, placed_at=at(first + 30 * i), amount=amount)
        for i in range(count)
    ]


def losses_portfolio() -> Portfolio:
    """A price loss after 14 months of sales; a manager_left loss whose interactions name the
    manager who left; a manager_left loss named by the account manager only; a live client.
    """
    clients = [
        Client(client_id="price", account_manager="ann"),
        Client(client_id="left", account_manager="olga"),  # olga took over after kate left
        Client(client_id="owner", account_manager="ivan"),
        Client(client_id="live", account_manager="ann"),
    ]
    orders = [
        *monthly("price", 0, 14),  # days 0..390: 12 of them in the 365 days before day 400
        Order(
            order_id="price-cancel",
            client_id="price",
            placed_at=at(300),
            amount="5000",
            status="cancelled",
        ),
        *monthly("left", 0, 6, "250.50"),
        *monthly("owner", 0, 2, "99.99"),
        *monthly("live", 120, 10),  # still buying: last sale 30 days before AS_OF
    ]
    interactions = [
        Interaction(
            interaction_id="price-t", client_id="price", at=at(400), purpose="termination",
            reason="price", handled_by="ann",
        ),
        *(
            Interaction(
                interaction_id=f"left-k{i}", client_id="left", at=at(10 + 20 * i),
                purpose="inquiry", handled_by="kate",
            )
            for i in range(3)
        ),
        Interaction(
            interaction_id="left-olga", client_id="left", at=at(100), purpose="inquiry",
            handled_by="olga",
        ),
        Interaction(
            interaction_id="left-t", client_id="left", at=at(200), purpose="termination",
            reason="manager_left", handled_by="olga",
        ),
        Interaction(
            interaction_id="owner-t", client_id="owner", at=at(90), purpose="termination",
            reason="manager_left",
        ),
    ]  # fmt: skip
    return build_portfolio(clients=clients, orders=orders, interactions=interactions)


AS_OF = at(420)


@pytest.fixture(scope="module")
def portfolio() -> Portfolio:
    return losses_portfolio()


def _loss(portfolio: Portfolio, cid: str, policy: LossPolicy | None = None) -> LossFigures | None:
    history = portfolio[cid].as_of(AS_OF)
    lifecycle = assess(history, as_of=AS_OF)
    return assess_loss(history, lifecycle=lifecycle, policy=policy)


class TestAssessLoss:
    def test_lost_revenue_is_the_sales_of_the_twelve_months_before_the_loss(
        self, portfolio: Portfolio
    ) -> None:
        """Only sales count (the cancelled order does not), only those after day 35."""
        loss = _loss(portfolio, "price")
        assert loss is not None
        assert loss.lost_revenue == Decimal("12000")
        assert loss.lost_at == at(400)
        ids = loss.evidence.record_ids
        assert ids[0] == "price-t"
        assert [i for i in ids if i.startswith("price-o")] == [f"price-o{i}" for i in range(2, 14)]
        # in the currency of the sales, as the summary's loss line says it
        assert "12,000 USD of sales in the 365 days before (12 sales)" in loss.evidence.reason

    def test_a_lapsed_client_lost_the_year_before_it_went_silent(self) -> None:
        """A lapse comes a silent year after the last sale: the lost revenue is the year
        up to that sale, not the empty year before the lapse."""
        orders = [
            Order(order_id=f"q{i}", client_id="quiet", placed_at=at(40 * i), amount="500")
            for i in range(8)  # days 0..280
        ] + [Order(order_id="q8", client_id="quiet", placed_at=at(290), amount="500")]
        history = ClientHistory.of("quiet", orders)
        as_of = at(700)
        lifecycle = assess(history, as_of=as_of)
        assert lifecycle.loss_reason is LossReason.lapsed
        loss = assess_loss(history, lifecycle=lifecycle)
        assert loss is not None
        assert loss.lost_at == lifecycle.since
        assert loss.lost_revenue == Decimal("4500")  # all nine sales lie within 365 days of day 290
        assert "up to its last sale on 2024-10-17, when it went silent" in loss.evidence.reason

    def test_a_lost_client_keeps_the_segment_it_left_with(self) -> None:
        """A price hunter (discounted orders, many inquiries) terminates; a year and a half
        later its window holds nothing, yet the report and the loss analysis per segment
        show the segment it left with, not ``unclassified``."""
        orders = [
            Order(
                order_id=f"d{i}",
                client_id="hunter",
                placed_at=at(30 * i),
                amount="400",
                discounted=True,
            )
            for i in range(8)
        ]
        interactions = [
            Interaction(interaction_id=f"q{i}", client_id="hunter", at=at(30 * i + 5))
            for i in range(8)
        ]
        # a marketing mailer is not the manager the client was lost with
        interactions += [
            Interaction(
                interaction_id=f"m{i}",
                client_id="hunter",
                at=at(30 * i + 9),
                purpose="marketing",
                direction="outbound",
                handled_by="mailer",
            )
            for i in range(7)
        ]
        interactions.append(
            Interaction(
                interaction_id="t",
                client_id="hunter",
                at=at(230),
                purpose="termination",
                reason="price",
            )
        )
        portfolio = build_portfolio(orders=orders, interactions=interactions)
        report = build_report(portfolio, as_of=at(800))
        (client,) = report.clients
        assert client.lifecycle_stage.value == "lost"
        assert client.motivation_segment.value == "lowest_price"
        assert report.summary["losses"]["by_segment"]["lowest_price"]["clients"] == 1
        assert client.loss_manager is None

    def test_the_window_is_a_policy_knob(self, portfolio: Portfolio) -> None:
        loss = _loss(portfolio, "price", LossPolicy(window_days=90))
        assert loss is not None
        assert loss.lost_revenue == Decimal("3000")

    def test_manager_left_names_the_manager_who_handled_the_client(
        self, portfolio: Portfolio
    ) -> None:
        """kate handled 3 of 4 contacts before the loss; olga, who took the notice and is
        the account manager now, is not the one who left."""
        loss = _loss(portfolio, "left")
        assert loss is not None
        assert loss.manager == "kate"
        why = loss.evidence
        assert "manager who left: kate, handled 3 of the 4 handled contacts" in why.reason
        assert {"left-k0", "left-k1", "left-k2"} <= set(why.record_ids)
        assert "left-olga" not in why.record_ids

    def test_without_a_handled_contact_the_account_manager_is_named(
        self, portfolio: Portfolio
    ) -> None:
        loss = _loss(portfolio, "owner")
        assert loss is not None
        assert loss.manager == "ivan"
        assert "ivan, the client's account manager" in loss.evidence.reason

    def test_no_manager_known(self) -> None:
        history = ClientHistory(
            client=Client(client_id="x"),
            interactions=(
                Interaction(
                    interaction_id="t", client_id="x", at=at(5), purpose="termination",
                    reason="manager_left",
                ),
            ),
        )  # fmt: skip
        loss = assess_loss(history, lifecycle=assess(history, as_of=at(9)))
        assert loss is not None
        assert loss.manager is None
        assert loss.lost_revenue == 0
        assert "no interaction or account manager names the manager" in loss.evidence.reason

    def test_a_client_not_lost_has_no_loss(self, portfolio: Portfolio) -> None:
        assert _loss(portfolio, "live") is None

    def test_ties_go_to_the_latest_handler(self) -> None:
        history = ClientHistory(
            client=Client(client_id="x", account_manager="z"),
            interactions=(
                Interaction(interaction_id="a", client_id="x", at=at(1), handled_by="bob"),
                Interaction(interaction_id="b", client_id="x", at=at(2), handled_by="amy"),
                Interaction(
                    interaction_id="t", client_id="x", at=at(5), purpose="termination",
                    reason="manager_left", handled_by="zed",
                ),
            ),
        )  # fmt: skip
        loss = assess_loss(history, lifecycle=assess(history, as_of=at(9)))
        assert loss is not None
        assert loss.manager == "amy"

    @pytest.mark.parametrize("bad", [0, -1])
    def test_policy_refuses_a_window_that_is_not_positive(self, bad: int) -> None:
        with pytest.raises(ValidationError, match="window_days"):
            LossPolicy(window_days=bad)

    def test_policy_refuses_a_window_that_is_not_an_int(self) -> None:
        with pytest.raises(RecordTypeError, match="window_days"):
            LossPolicy(window_days="365")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    days=st.lists(st.integers(0, 800), max_size=12),
    lost=st.integers(0, 900),
    window=st.integers(1, 500),
)
def test_lost_revenue_is_the_sum_of_the_sales_in_the_window(
    days: list[int], lost: int, window: int
) -> None:
    """The signal adds exactly the sales placed in (loss - window, loss]."""
    orders = tuple(
        sorted(
            (
                Order(order_id=f"o{k:02}", client_id="x", placed_at=at(d), amount=f"{k + 1}.25")
                for k, d in enumerate(days)
            ),
            key=lambda o: (o.placed_at, o.order_id),
        )
    )
    found = lost_revenue_signals(window).evaluate({"orders": orders}, as_of=at(lost))
    start, end = at(lost) - timedelta(days=window), at(lost)
    inside = [o for o in orders if start < o.placed_at <= end]
    assert found["lost_revenue"] == sum((o.amount for o in inside), Decimal(0))
    assert found["sales"] == [o.order_id for o in inside]


@pytest.fixture(scope="module")
def report(portfolio: Portfolio) -> Report:
    return build_report(portfolio, as_of=AS_OF)


class TestReport:
    def test_per_client_fields(self, report: Report) -> None:
        records = {r["client_id"]: r for r in report.to_records()}
        assert records["price"]["lost_revenue"] == "12000"
        assert records["price"]["loss_manager"] == "ann"
        assert records["left"]["loss_reason"] == "manager_left"
        assert records["left"]["loss_manager"] == "kate"
        assert records["left"]["lost_revenue"] == "1503.00"
        assert records["live"]["lost_revenue"] is None
        assert records["live"]["loss_manager"] is None
        assert "kate" in records["left"]["evidence"]["loss"]["reason"]
        assert "loss" not in records["live"]["evidence"]

    def test_summary_per_reason_segment_and_manager(self, report: Report) -> None:
        losses = report.summary["losses"]
        assert losses["window_days"] == 365
        assert losses["clients"] == 3
        assert losses["lost_revenue"] == "13702.98"
        assert losses["by_reason"]["price"] == {"clients": 1, "lost_revenue": "12000"}
        assert losses["by_reason"]["manager_left"] == {"clients": 2, "lost_revenue": "1702.98"}
        assert losses["by_reason"]["competitor"] == {"clients": 0, "lost_revenue": "0"}
        assert sum(c["clients"] for c in losses["by_segment"].values()) == 3
        assert list(losses["by_manager"]) == ["ann", "kate", "ivan"]  # most lost first
        assert losses["by_manager"]["kate"] == {"clients": 1, "lost_revenue": "1503.00"}

    def test_an_unknown_manager_is_counted_last(self) -> None:
        portfolio = build_portfolio(
            clients=[Client(client_id="a", account_manager="m"), Client(client_id="b")],
            orders=[Order(order_id="o", client_id="b", placed_at=at(1), amount="5")],
            interactions=[
                Interaction(interaction_id=f"t{c}", client_id=c, at=at(3), purpose="termination")
                for c in "ab"
            ],
        )
        losses = build_report(portfolio).summary["losses"]
        assert list(losses["by_manager"]) == ["m", "(unknown)"]
        assert losses["by_reason"]["other"] == {"clients": 2, "lost_revenue": "5"}

    def test_the_policy_window_reaches_the_report(self, portfolio: Portfolio) -> None:
        policies = ReportPolicies(losses=LossPolicy(window_days=90))
        report = build_report(portfolio, as_of=AS_OF, policies=policies)
        assert report["price"].to_record()["lost_revenue"] == "3000"
        assert report.summary["losses"]["window_days"] == 90

    def test_every_output_carries_the_loss(self, report: Report) -> None:
        text = render(report, "table")
        assert "lost: 3 clients, 13,702.98 USD of sales in the 365 days before each loss" in text
        assert "by reason: price 1 (12,000.00), manager_left 2 (1,702.98)" in text
        assert "by manager: ann 1 (12,000.00), kate 1 (1,503.00), ivan 1 (199.98)" in text
        rows = {r["client_id"]: r for r in csv.DictReader(io.StringIO(render(report, "csv")))}
        assert rows["left"]["loss_manager"] == "kate"
        assert rows["left"]["lost_revenue"] == "1503.00"
        assert "kate" in rows["left"]["evidence_loss"]
        assert "left-k0" in rows["left"]["evidence_loss_records"]
        lines = render(report, "jsonl").splitlines()
        assert json.loads(lines[0])["loss_manager"] == "kate"
        page = render(report, "html")
        assert "What we lost and why" in page
        assert "kate" in page

    def test_explain_names_the_manager(self, report: Report) -> None:
        text = report["left"].explain()
        assert "Loss: lost (manager_left)" in text
        assert "manager who left: kate" in text


def test_lost_revenue_keeps_every_digit() -> None:
    """Thirty-digit amounts add exactly, as the report's revenue does."""
    big = "123456789012345678901234567.891"
    history = ClientHistory(
        client=Client(client_id="x"),
        orders=tuple(
            Order(order_id=f"o{i}", client_id="x", placed_at=at(i), amount=big) for i in range(3)
        ),
        interactions=(
            Interaction(interaction_id="t", client_id="x", at=at(5), purpose="termination"),
        ),
    )
    loss = assess_loss(history, lifecycle=assess(history, as_of=at(9)))
    assert loss is not None
    assert loss.lost_revenue == Decimal("370370367037037036703703703.673")
