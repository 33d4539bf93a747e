"""Tests for relcycle.report: the portfolio report as a Python API."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle import (
    Client,
    Complaint,
    CurrencyMismatchError,
    Interaction,
    Order,
    Portfolio,
    RecordTypeError,
    UsageError,
    ValidationError,
    build_portfolio,
)
from relcycle.ladder import Rung
from relcycle.lifecycle import Stage
from relcycle.model import LossReason
from relcycle.report import (
    COMPARE_FIELDS,
    COMPARED,
    FIELDS,
    FLAT_FIELDS,
    ClientReport,
    Previous,
    Report,
    ReportPolicies,
    build_report,
    moved_actions,
    priority_key,
)
from relcycle.segmentation.cost import CostRates
from relcycle.segmentation.motivation import MotivationSegment
from relcycle.segmentation.playbook import PriorityPolicy
from relcycle.segmentation.risks import RiskFlag
from relcycle.segmentation.value import ValueClass
from relcycle.testing import portfolios

DATA = Path(__file__).parent / "data"

# --------------------------------------------------------------------------- the contract

#: The allowed values of the contract's per-client fields (contract.md, "Output").
STAGES = (
    "satisfied",
    "recurring_problems",
    "voicing_discontent",
    "monitoring_failures",
    "escalated",
    "ultimatum",
    "arbitration",
    "lost",
)
RUNGS = ("adversary", "doubter", "buyer", "customer", "advocate", "expert")
SEGMENTS = ("lowest_price", "novelty", "belonging", "stability", "unclassified")
VALUE_CLASSES = ("A", "B", "C")
REGULARITIES = ("regular", "irregular", "one_off", "none")
#: The contract's termination reasons, then ``lapsed`` (silent churn, found by the lifecycle).
LOSS_REASONS = ("competitor", "price", "quality", "service", "manager_left", "other", "lapsed")
RISK_FLAGS = (
    "recurring_problems",
    "key_person",
    "silent_stable",
    "overdue_complaint",
    "unprofitable",
)
#: The contract asks for at least RISK_FLAGS; the library may add more.
KNOWN_RISK_FLAGS = frozenset(flag.value for flag in RiskFlag)
CONTRACT_FIELDS = (
    "client_id",
    "lifecycle_stage",
    "loss_reason",
    "ladder_rung",
    "motivation_segment",
    "value_class",
    "regularity",
    "rfm",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "orders",
    "contacts",
    "requests",
    "complaints_open",
    "revenue",
    "cost_to_serve",
    "profit",
    "risks",
    "actions",
    "evidence",
)


def _is_money(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        number = Decimal(value)
    except ArithmeticError:
        return False
    return number.is_finite()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def assert_contract_record(record: Mapping[str, Any]) -> None:
    """Fail unless ``record`` has every contract field with an allowed value (JSON types)."""
    missing = [f for f in CONTRACT_FIELDS if f not in record]
    assert not missing, f"missing contract fields: {missing}"
    assert isinstance(record["client_id"], str)
    assert record["client_id"]
    assert record["lifecycle_stage"] in STAGES
    if record["lifecycle_stage"] == "lost":
        assert record["loss_reason"] in LOSS_REASONS
    else:
        assert record["loss_reason"] is None
    assert record["ladder_rung"] in RUNGS
    assert record["motivation_segment"] in SEGMENTS
    assert record["value_class"] in VALUE_CLASSES
    assert record["regularity"] in REGULARITIES
    rfm = record["rfm"]
    assert set(rfm) == {"r", "f", "m", "segment"}
    if record["frequency"] is not None:
        assert record["orders"]
        assert all(rfm[k] in (1, 2, 3, 4, 5) for k in "rfm")
        assert isinstance(rfm["segment"], str)
        assert rfm["segment"]
        for key in ("frequency", "recency", "T", "monetary_value"):
            assert _is_number(record[key]), key
            assert record[key] >= 0, key
        assert record["frequency"] <= record["orders"] - 1
        assert record["recency"] <= record["T"]
    else:
        assert rfm == {"r": None, "f": None, "m": None, "segment": None}
        # only a lost client's sales after its loss are left out of its figures
        assert not record["orders"] or record["lifecycle_stage"] == "lost"
    if not record["orders"]:
        assert record["regularity"] == "none"
    for key in ("orders", "contacts", "requests", "complaints_open"):
        assert isinstance(record[key], int), key
        assert record[key] >= 0, key
    assert record["requests"] <= record["contacts"]
    assert _is_money(record["revenue"])
    assert Decimal(record["revenue"]) >= 0
    for key in ("cost_to_serve", "profit"):
        assert record[key] is None or _is_money(record[key]), key
    assert (record["cost_to_serve"] is None) == (record["profit"] is None)
    assert isinstance(record["risks"], list)
    assert all(flag in KNOWN_RISK_FLAGS for flag in record["risks"])
    assert len(set(record["risks"])) == len(record["risks"])
    assert isinstance(record["actions"], list)
    for action in record["actions"]:
        assert isinstance(action["id"], str)
        assert isinstance(action["text"], str)
        assert action["text"]
    evidence = record["evidence"]
    assert set(evidence) >= {"stage", "rung", "segment"}
    for why in evidence.values():
        assert isinstance(why["reason"], str)
        assert why["reason"]
        assert all(isinstance(i, str) for i in why["record_ids"])


# --------------------------------------------------------------------------- a small history


def at(day: int, hour: int = 10) -> datetime:
    """A moment in 2025, ``day`` days after 1 January."""
    return datetime(2025, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)


def small_portfolio() -> Portfolio:
    """Four clients: a regular buyer, a lost one, one with recurring complaints, a prospect."""
    clients = [
        Client(client_id="acme", name="Acme Ltd", account_manager="m1"),
        Client(client_id="beta", name="Beta LLC", account_manager="m2"),
        Client(client_id="gamma", name="Gamma Inc", account_manager="m1"),
        Client(client_id="007", name="Prospect"),
    ]
    orders = [
        *(
            Order(order_id=f"a{i}", client_id="acme", placed_at=at(30 * i), amount="1000.00")
            for i in range(8)
        ),
        Order(
            order_id="a-cancel", client_id="acme", placed_at=at(35), amount="50", status="cancelled"
        ),
        Order(order_id="b1", client_id="beta", placed_at=at(5), amount="300.50"),
        Order(order_id="b2", client_id="beta", placed_at=at(5, 15), amount="199.50"),
        Order(order_id="b3", client_id="beta", placed_at=at(40), amount="250"),
        Order(order_id="g1", client_id="gamma", placed_at=at(10), amount="80", discounted=True),
        Order(order_id="g2", client_id="gamma", placed_at=at(100), amount="120", discounted=True),
    ]
    interactions = [
        Interaction(interaction_id="i1", client_id="acme", at=at(3), purpose="inquiry"),
        Interaction(interaction_id="i2", client_id="acme", at=at(4), purpose="wish"),
        Interaction(
            interaction_id="i3", client_id="acme", at=at(6), purpose="inquiry", direction="outbound"
        ),
        Interaction(
            interaction_id="i4",
            client_id="acme",
            at=at(7),
            purpose="marketing",
            direction="outbound",
        ),
        Interaction(interaction_id="i5", client_id="acme", at=at(8), purpose="feedback"),
        Interaction(
            interaction_id="i6",
            client_id="beta",
            at=at(60),
            purpose="termination",
            reason="competitor",
        ),
        Interaction(interaction_id="i7", client_id="gamma", at=at(20), purpose="offer_change"),
    ]
    complaints = [
        Complaint(complaint_id="k1", client_id="gamma", opened_at=at(30), category="delivery"),
        Complaint(
            complaint_id="k2",
            client_id="gamma",
            opened_at=at(50),
            category="delivery",
            status="resolved",
            resolved_at=at(55),
        ),
        Complaint(
            complaint_id="k3",
            client_id="gamma",
            opened_at=at(70),
            category="delivery",
            client_loss="500",
        ),
    ]
    return build_portfolio(
        clients=clients, orders=orders, interactions=interactions, complaints=complaints
    )


@pytest.fixture(scope="module")
def report() -> Report:
    return build_report(small_portfolio())


def by_id(report: Report) -> dict[str, ClientReport]:
    return {c.client_id: c for c in report.clients}


# --------------------------------------------------------------------------- tests


class TestBuildReport:
    def test_every_client_has_every_contract_field(self, report: Report) -> None:
        """Every client record carries the contract's fields with allowed values."""
        records = report.to_records()
        assert [r["client_id"] for r in records] == ["007", "acme", "beta", "gamma"]
        for record in records:
            assert_contract_record(record)

    def test_lookup_by_client_id(self, report: Report) -> None:
        """A report is a read-only collection of client lines, by id."""
        assert report["acme"].client_id == "acme"
        assert "beta" in report
        assert "nobody" not in report
        assert [c.client_id for c in report] == ["007", "acme", "beta", "gamma"]
        assert len(report) == 4
        with pytest.raises(KeyError):
            report["nobody"]

    def test_as_of_defaults_to_the_last_moment(self, report: Report) -> None:
        """Without as_of, the report is as of the latest record."""
        assert report.as_of == small_portfolio().last_moment == at(210)

    def test_counts_follow_the_documented_rules(self, report: Report) -> None:
        """orders count sales only; contacts skip marketing; requests are inbound requests."""
        acme = by_id(report)["acme"]
        assert acme.orders == 8  # the cancelled order is not a sale
        assert acme.contacts == 4  # i1, i2, i3, i5 (the marketing touch i4 is not a contact)
        assert acme.requests == 2  # i1, i2 (i3 is outbound, i5 is feedback)
        assert acme.revenue.amount == Decimal("8000.00")
        gamma = by_id(report)["gamma"]
        assert gamma.complaints_open == 2  # k1 and k3; k2 was resolved

    def test_lost_client_has_its_loss_reason(self, report: Report) -> None:
        """A terminated client is lost with the termination's reason, and the evidence id."""
        beta = by_id(report)["beta"]
        assert beta.lifecycle_stage.value == "lost"
        assert beta.loss_reason is not None
        assert beta.loss_reason.value == "competitor"
        assert not beta.active
        assert "i6" in beta.evidence["stage"].record_ids
        assert report.summary["loss_reasons"]["competitor"] == 1

    def test_client_without_orders(self, report: Report) -> None:
        """A client with no sale has no lifetimes figures and no RFM scores (null, not 0)."""
        prospect = by_id(report)["007"]
        record = prospect.to_record()
        assert record["orders"] == 0
        assert record["frequency"] is None
        assert record["T"] is None
        assert record["rfm"]["r"] is None
        assert record["regularity"] == "none"
        assert record["revenue"] == "0"

    def test_money_is_exact_decimal_text(self, report: Report) -> None:
        """Money leaves the report as decimal strings that keep every digit."""
        beta = by_id(report)["beta"].to_record()
        assert beta["revenue"] == "750.00"
        assert beta["currency"] == "USD"

    def test_summary_counts_every_client_once(self, report: Report) -> None:
        """Each count table of the summary adds up to the number of clients."""
        s = report.summary
        assert s["clients"] == 4
        for key, allowed in (
            ("lifecycle_stage", STAGES),
            ("ladder_rung", RUNGS),
            ("motivation_segment", SEGMENTS),
            ("value_class", VALUE_CLASSES),
            ("regularity", REGULARITIES),
        ):
            assert tuple(s[key]) == allowed
            assert sum(s[key].values()) == 4
        assert tuple(s["loss_reasons"]) == LOSS_REASONS
        assert set(RISK_FLAGS) <= set(s["risks"]) == KNOWN_RISK_FLAGS
        assert Decimal(s["revenue"]) == sum(c.revenue.amount for c in report.clients)
        assert 0 < s["top_share"] <= 1
        assert s["rejected_rows"] is None

    def test_top_share_is_that_of_the_largest_clients(self, report: Report) -> None:
        """The top-20% share is the largest client's revenue over the total (1 of 4 clients)."""
        total = sum(c.revenue.amount for c in report.clients)
        assert report.summary["top_share"] == pytest.approx(float(Decimal(8000) / total), abs=1e-4)

    def test_evidence_names_records(self, report: Report) -> None:
        """Stage, rung and segment each carry evidence; record ids point at real records."""
        portfolio = small_portfolio()
        for client in report.clients:
            known = {r.id for r in portfolio[client.client_id].records()}
            for key in ("stage", "rung", "segment"):
                assert set(client.evidence[key].record_ids) <= known

    def test_explain_mentions_stage_rung_and_segment(self, report: Report) -> None:
        """ClientReport.explain() says why, with the ids."""
        text = by_id(report)["beta"].explain()
        assert "lost" in text
        assert "i6" in text
        assert "Segment" in text

    def test_without_kept_assessments_the_report_is_the_same(self, report: Report) -> None:
        """keep_assessments=False gives the same records; full assessments come on demand."""
        slim = build_report(small_portfolio(), keep_assessments=False)
        assert slim.to_records() == report.to_records()
        for kept, lazy in zip(report.clients, slim.clients, strict=True):
            assert lazy.lifecycle.stage == kept.lifecycle.stage
            assert lazy.lifecycle.trajectory == kept.lifecycle.trajectory
            assert lazy.ladder.rung == kept.ladder_rung
            assert lazy.motivation.rule == kept.motivation.rule
            assert lazy.explain() == kept.explain()

    def test_as_of_in_the_past_ignores_later_records(self) -> None:
        """A report as of an earlier moment sees only the records up to it."""
        early = build_report(small_portfolio(), as_of=at(45))
        beta = by_id(early)["beta"]
        assert beta.lifecycle_stage.value != "lost"
        assert beta.orders == 3
        assert by_id(early)["acme"].orders == 2

    def test_actions_come_from_the_playbook(self, report: Report) -> None:
        """Actions are the playbook's for the client's stage, risks and segment, their
        urgency moved by the client's value class (the priority policy).

        A lost client gets its stage's (win-back) actions and its risks', not its
        segment's: those are for a live client.
        """
        policies = ReportPolicies()
        for client in report.clients:
            found = policies.playbook.actions(
                stage=client.lifecycle_stage.value,
                segment=client.motivation_segment.value,
                risks=client.risk_flags,
            )
            expected = moved_actions(
                policies,
                found,
                client.value_class,
                stage=client.lifecycle_stage.value,
                segment=client.motivation_segment.value,
                risks=client.risk_flags,
            )
            assert client.actions == expected
        assert any(client.actions for client in report.clients)


class TestExactMoney:
    def test_revenue_is_added_exactly(self) -> None:
        """Revenue keeps every digit, beyond the default 28-digit decimal context."""
        portfolio = build_portfolio(
            orders=[
                Order(order_id="1", client_id="a", placed_at=at(1), amount="99999999999999999999"),
                Order(order_id="2", client_id="a", placed_at=at(2), amount="0.000000001"),
            ]
        )
        report = build_report(portfolio)
        assert report.to_records()[0]["revenue"] == "99999999999999999999.000000001"
        assert report.summary["revenue"] == "99999999999999999999.000000001"

    def test_money_text_has_no_exponent(self) -> None:
        """Tiny amounts are written digit by digit, never as 1E-7."""
        portfolio = build_portfolio(
            orders=[Order(order_id="1", client_id="a", placed_at=at(1), amount="0.0000001")]
        )
        assert build_report(portfolio).to_records()[0]["revenue"] == "0.0000001"


class TestCurrencies:
    def test_two_currencies_are_refused(self) -> None:
        """A portfolio with orders in two currencies raises, naming both."""
        portfolio = build_portfolio(
            orders=[
                Order(order_id="1", client_id="a", placed_at=at(1), amount="1", currency="EUR"),
                Order(order_id="2", client_id="b", placed_at=at(2), amount="1", currency="UAH"),
            ]
        )
        with pytest.raises(CurrencyMismatchError) as info:
            build_report(portfolio)
        assert info.value.currencies == ("EUR", "UAH")

    def test_asked_currency_must_match(self) -> None:
        """Asking for EUR on USD orders raises instead of relabelling the money."""
        with pytest.raises(CurrencyMismatchError, match="EUR"):
            build_report(small_portfolio(), currency="EUR")

    def test_one_currency_is_the_reports(self) -> None:
        """The orders' single currency becomes the report's and every record's."""
        portfolio = build_portfolio(
            orders=[
                Order(order_id="1", client_id="a", placed_at=at(1), amount="9.99", currency="EUR")
            ]
        )
        report = build_report(portfolio, currency="EUR")
        assert report.currency == "EUR"
        assert report.to_records()[0]["currency"] == "EUR"
        assert report.summary["currency"] == "EUR"

    def test_orders_after_as_of_do_not_count(self) -> None:
        """A currency only used after as_of does not make the report fail."""
        portfolio = build_portfolio(
            orders=[
                Order(order_id="1", client_id="a", placed_at=at(1), amount="1", currency="EUR"),
                Order(order_id="2", client_id="a", placed_at=at(9), amount="1", currency="UAH"),
            ]
        )
        assert build_report(portfolio, as_of=at(5)).currency == "EUR"


class TestArguments:
    def test_naive_as_of_is_refused(self) -> None:
        """A moment without a time zone is refused, naming the field."""
        with pytest.raises(ValidationError, match="as_of"):
            build_report(small_portfolio(), as_of=datetime(2025, 3, 1))

    def test_as_of_that_is_not_a_datetime_is_refused_like_everywhere(self) -> None:
        """A string as_of raises RecordTypeError, as every as_of-taking function does."""
        with pytest.raises(RecordTypeError, match="as_of"):
            build_report(small_portfolio(), as_of="2025-03-01")  # type: ignore[arg-type]
        with pytest.raises(RecordTypeError, match="compare_to"):
            build_report(small_portfolio(), as_of=at(50), compare_to="2025-03-01")  # type: ignore[arg-type]

    @pytest.mark.parametrize("name", ["lifecycle", "motivation", "cost_rates", "risks"])
    def test_a_policy_of_the_wrong_kind_is_refused_naming_it(self, name: str) -> None:
        """A policy that is not of its kind is a RecordTypeError naming the field, as soon
        as the policies are made."""
        with pytest.raises(RecordTypeError, match=f"ReportPolicies: field '{name}'"):
            ReportPolicies(**{name: "strict"})  # type: ignore[arg-type]

    def test_compare_to_must_be_earlier(self) -> None:
        """compare_to at or after as_of is a usage error."""
        with pytest.raises(UsageError, match="compare_to"):
            build_report(small_portfolio(), as_of=at(50), compare_to=at(50))

    def test_empty_portfolio_needs_as_of(self) -> None:
        """An empty portfolio has no last moment: as_of is required, then the report is empty."""
        empty = build_portfolio()
        with pytest.raises(UsageError, match="as_of"):
            build_report(empty)
        report = build_report(empty, as_of=at(1))
        assert report.clients == ()
        assert report.summary["clients"] == 0
        assert report.summary["top_share"] == 0

    def test_progress_is_reported(self) -> None:
        """The progress callback ends at (total, total)."""
        calls: list[tuple[int, int]] = []
        build_report(small_portfolio(), progress=lambda done, total: calls.append((done, total)))
        assert calls[-1] == (4, 4)

    def test_rejected_rows_are_counted(self) -> None:
        """Rows skipped when loading show in the summary."""
        report = build_report(small_portfolio(), rejected_rows=3)
        assert report.summary["rejected_rows"] == 3


class TestMigrations:
    def test_compare_to_adds_four_matrices(self) -> None:
        """With compare_to the report has stage, rung, segment and value-class matrices."""
        report = build_report(small_portfolio(), as_of=at(210), compare_to=at(45))
        assert report.migrations is not None
        assert set(report.migrations) == {
            "lifecycle_stage",
            "ladder_rung",
            "motivation_segment",
            "value_class",
        }
        stage = report.migrations["lifecycle_stage"]
        before = by_id(build_report(small_portfolio(), as_of=at(45)))
        # beta was still a client on day 45 and is lost on day 210
        assert before["beta"].lifecycle_stage.value != "lost"
        assert stage.count(before["beta"].lifecycle_stage, by_id(report)["beta"].lifecycle_stage)
        assert stage.total == 4
        # a client lost since is a demotion of the lifecycle, never a "promotion"
        assert "beta" in [m.client_id for m in stage.demotions]
        assert "beta" not in [m.client_id for m in stage.promotions]
        data = report.to_dict()
        assert data["migrations"]["compare_to"] == at(45).isoformat()
        assert set(data["migrations"]) >= {"lifecycle_stage", "value_class"}
        json.dumps(data)  # JSON-ready

    def test_without_compare_to_no_migrations(self, report: Report) -> None:
        """A single-moment report has no migrations key in JSON."""
        assert report.migrations is None
        assert "migrations" not in report.to_dict()


class TestWarnings:
    """A moment before every record is reported, with a warning in the summary."""

    def test_as_of_before_every_record_warns(self) -> None:
        """as_of before the first record: every client empty, and the summary says why."""
        report = build_report(small_portfolio(), as_of=datetime(1990, 1, 1, tzinfo=UTC))
        assert report.summary["revenue"] == "0"
        (warning,) = report.warnings
        assert "as_of 1990-01-01T00:00:00+00:00 is before every record" in warning
        from relcycle.render import render

        assert f"warning: {warning}" in render(report, "table")

    def test_compare_to_before_every_record_warns(self) -> None:
        """compare_to before the first record: every client is new, and a warning says so."""
        report = build_report(small_portfolio(), compare_to=datetime(1990, 1, 1, tzinfo=UTC))
        assert {c.change for c in report} == {"new"}
        (warning,) = (w for w in report.warnings if not w.startswith("cost-to-serve"))
        assert warning.startswith("compare_to 1990-01-01")

    @pytest.mark.parametrize("day", [0, 45, 400])
    def test_no_warning_once_a_record_is_known(self, day: int) -> None:
        """From the first record's moment on (and after the last) there is no warning."""
        priced = ReportPolicies(cost_rates=CostRates(marketing_per_touch=Decimal(5)))
        report = build_report(small_portfolio(), as_of=at(day), policies=priced)
        assert report.warnings == ()


class TestCompareTo:
    """With compare_to each client carries its verdicts then and how they moved."""

    def test_previous_verdicts_are_those_at_compare_to(self) -> None:
        """previous_* are the report's verdicts at compare_to, client by client."""
        report = build_report(small_portfolio(), as_of=at(210), compare_to=at(45))
        then = build_report(small_portfolio(), as_of=at(45))
        for client in report:
            record = client.to_record()
            earlier = then[client.client_id]
            if client.client_id == "007":  # no record by day 45 (nor ever)
                assert client.previous is not None
                assert client.previous.new
                assert client.change == "new"
                assert all(record[f"previous_{name}"] is None for name in COMPARED)
                assert record["changed"] == {}
                continue
            for name in COMPARED:
                assert record[f"previous_{name}"] == getattr(earlier, name).value, name

    def test_a_lost_client_worsened(self) -> None:
        """beta, a customer on day 45 and lost on day 210, is 'worsened' on its stage."""
        report = build_report(small_portfolio(), as_of=at(210), compare_to=at(45))
        beta = report["beta"]
        assert beta.previous is not None
        assert beta.previous.lifecycle_stage is not Stage.lost
        assert beta.lifecycle_stage is Stage.lost
        assert beta.change == "worsened"
        assert beta.changed is not None
        assert beta.changed["lifecycle_stage"] == "worsened"
        assert beta.to_record()["change"] == "worsened"

    def test_without_compare_to_every_compare_field_is_null(self, report: Report) -> None:
        """A single-moment report has the compare fields, all null."""
        for client in report:
            assert client.previous is None
            assert client.change is None
            assert client.changed is None
            record = client.to_record()
            assert all(record[name] is None for name in COMPARE_FIELDS)

    @pytest.mark.parametrize(
        ("name", "before", "after", "move"),
        [
            ("lifecycle_stage", Stage.satisfied, Stage.escalated, "worsened"),
            ("lifecycle_stage", Stage.lost, Stage.satisfied, "improved"),
            ("ladder_rung", Rung.customer, Rung.buyer, "worsened"),
            ("ladder_rung", Rung.buyer, Rung.advocate, "improved"),
            ("value_class", ValueClass.A, ValueClass.C, "worsened"),
            ("value_class", ValueClass.B, ValueClass.A, "improved"),
            (
                "motivation_segment",
                MotivationSegment.novelty,
                MotivationSegment.stability,
                "changed",
            ),
        ],
    )
    def test_moves_follow_the_machines_order(
        self, report: Report, name: str, before: Any, after: Any, move: str
    ) -> None:
        """Stage severity, rung rank and A < B < C say which way a change went."""
        line = report["acme"]
        now = attrs.evolve(line, **{name: after})
        then = {n: getattr(now, n) for n in COMPARED} | {name: before}
        moved = attrs.evolve(now, previous=Previous(**then))
        assert moved.changed == {name: move}
        assert moved.change == move
        same = attrs.evolve(now, previous=Previous(**{n: getattr(now, n) for n in COMPARED}))
        assert same.changed == {}
        assert same.change == "unchanged"

    def test_worsened_wins_over_improved(self, report: Report) -> None:
        """A client that improved on one verdict and worsened on another is 'worsened'."""
        line = attrs.evolve(
            report["acme"], lifecycle_stage=Stage.escalated, value_class=ValueClass.A
        )
        then = Previous(
            lifecycle_stage=Stage.satisfied,
            ladder_rung=line.ladder_rung,
            motivation_segment=line.motivation_segment,
            value_class=ValueClass.C,
        )
        moved = attrs.evolve(line, previous=then)
        assert moved.changed == {"lifecycle_stage": "worsened", "value_class": "improved"}
        assert moved.change == "worsened"

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        portfolio=portfolios(min_clients=1, max_clients=4, max_records=8),
        days=st.integers(1, 400),
    )
    def test_previous_agrees_with_the_migration_matrices(
        self, portfolio: Portfolio, days: int
    ) -> None:
        """Per-client previous verdicts add up to the migration matrices' counts."""
        as_of = portfolio.last_moment
        if as_of is None:
            return
        report = build_report(portfolio, compare_to=as_of - timedelta(days=days))
        assert report.migrations is not None
        for name in COMPARED:
            matrix = report.migrations[name]
            for client in report:
                assert client.previous is not None
                before = getattr(client.previous, name)
                if before is not None:
                    assert matrix.count(before, getattr(client, name)) >= 1
            moved = sum(1 for c in report if c.changed and name in c.changed)
            assert moved == len(matrix.moved)
            if name != "motivation_segment":
                assert moved == len(matrix.promotions) + len(matrix.demotions)
        for client in report:
            changed = client.changed
            assert changed is not None
            assert (client.change == "worsened") == ("worsened" in changed.values())
            assert (client.change == "new") == (client.previous is not None and client.previous.new)


class TestOutputs:
    def test_to_json_round_trips(self, report: Report) -> None:
        """to_json is {"as_of", "clients", "summary"} and parses back to to_records()."""
        data = json.loads(report.to_json())
        assert set(data) == {"as_of", "clients", "summary"} | (
            {"warnings"} if report.warnings else set()
        )
        assert data["clients"] == report.to_records()
        assert datetime.fromisoformat(data["as_of"]) == report.as_of

    def test_every_format_renders_an_empty_report(self) -> None:
        """A report without clients still renders in every format."""
        from relcycle.render import FORMATS, render

        empty = build_report(build_portfolio(), as_of=at(1))
        assert json.loads(render(empty, "json"))["clients"] == []
        assert render(empty, "jsonl") == ""  # no client, no line
        for fmt in set(FORMATS) - {"jsonl"}:
            assert render(empty, fmt)

    def test_json_format_equals_to_json(self, report: Report) -> None:
        """The json format is the same document as Report.to_json(), laid out per client."""
        from relcycle.render import render

        text = render(report, "json")
        assert json.loads(text) == json.loads(report.to_json())
        assert text.count("\n  {") == len(report.clients)

    def test_table_plain_and_rich(self, report: Report) -> None:
        """The table lists every client and the summary, plain or drawn with rich."""
        from relcycle.render import render

        plain = render(report, "table")
        assert "\x1b[" not in plain
        for client in report.clients:
            assert client.client_id in plain
        assert "loss reasons: competitor 1" in plain
        pytest.importorskip("rich")
        drawn = render(report, "table", rich=True)
        assert "┃" in drawn
        assert "acme" in drawn
        assert "loss reasons: competitor 1" in drawn

    def test_fields_lists_the_record_keys(self, report: Report) -> None:
        """A record's keys are the contract's FIELDS, in order, then each extra column's two."""
        assert tuple(report.to_records()[0]) == report.fields
        assert report.fields == (*FIELDS, "funnel_stage", "funnel_stage_evidence")
        assert set(CONTRACT_FIELDS) <= set(FIELDS)

    def test_to_pandas(self, report: Report) -> None:
        """to_pandas: the flat columns, counts int64, scores Int64, figures and money float64."""
        pd = pytest.importorskip("pandas")
        frame = report.to_pandas()
        assert isinstance(frame, pd.DataFrame)
        assert tuple(frame.columns) == report.flat_fields
        assert report.flat_fields[: len(FLAT_FIELDS)] == FLAT_FIELDS
        assert len(frame) == 4
        dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
        for name in ("orders", "contacts", "requests", "complaints_open"):
            assert dtypes[name] == "int64", name
        for name in ("rfm_r", "rfm_f", "rfm_m"):
            assert dtypes[name] == "Int64", name  # nullable: 007 has no sale
        for name in ("frequency", "recency", "T", "monetary_value", "revenue", "profit"):
            assert dtypes[name] == "float64", name
        acme = frame.set_index("client_id").loc["acme"]
        assert acme["revenue"] == 8000.0
        assert acme["orders"] == 8
        assert pd.isna(frame.set_index("client_id").loc["007", "rfm_r"])
        assert list(acme["risks"]) == report["acme"].to_record()["risks"]

    def test_to_pandas_exact_money(self, report: Report) -> None:
        """money="decimal" keeps money as exact Decimal objects."""
        pytest.importorskip("pandas")
        frame = report.to_pandas(money="decimal").set_index("client_id")
        assert frame.loc["beta", "revenue"] == Decimal("750.00")
        assert isinstance(frame.loc["beta", "revenue"], Decimal)
        with pytest.raises(UsageError, match="money"):
            report.to_pandas(money="int")

    def test_to_polars(self, report: Report) -> None:
        """to_polars: the same columns, Int64 counts and scores, Float64 figures and money."""
        pl = pytest.importorskip("polars")
        frame = report.to_polars()
        assert isinstance(frame, pl.DataFrame)
        assert frame.height == 4
        assert tuple(frame.columns) == report.flat_fields
        assert report.flat_fields[: len(FLAT_FIELDS)] == FLAT_FIELDS
        assert frame.schema["orders"] == pl.Int64
        assert frame.schema["rfm_r"] == pl.Int64
        assert frame.schema["T"] == pl.Float64
        assert frame.schema["revenue"] == pl.Float64
        assert frame.schema["risks"] == pl.List(pl.String)
        exact = report.to_polars(money="decimal")
        assert isinstance(exact.schema["revenue"], pl.Decimal)
        assert exact.filter(pl.col("client_id") == "beta")["revenue"][0] == Decimal("750.00")

    def test_to_arrow_and_the_c_stream(self, report: Report) -> None:
        """to_arrow is a typed Table; pyarrow.table(report) and polars.DataFrame(report) work."""
        pa = pytest.importorskip("pyarrow")
        pl = pytest.importorskip("polars")
        table = report.to_arrow()
        assert table.num_rows == 4
        assert table.column_names == list(report.flat_fields)
        assert table.schema.field("orders").type == pa.int64()
        assert table.schema.field("revenue").type == pa.float64()
        assert table.schema.field("risks").type == pa.list_(pa.string())
        assert pa.table(report).equals(table)
        assert pl.DataFrame(report).equals(pl.from_arrow(table))
        exact = report.to_arrow(money="decimal")
        assert pa.types.is_decimal(exact.schema.field("revenue").type)
        assert exact.column("revenue").to_pylist() == [c.revenue.amount for c in report.clients]

    def test_exact_money_beyond_38_digits(self) -> None:
        """An amount too long for decimal128 goes to decimal256, still exact."""
        pytest.importorskip("pyarrow")
        amount = "1" * 40 + ".25"
        portfolio = build_portfolio(
            orders=[Order(order_id="o", client_id="a", placed_at=at(1), amount=amount)]
        )
        table = build_report(portfolio).to_arrow(money="decimal")
        assert table.column("revenue").to_pylist() == [Decimal(amount)]

    def test_repr_html(self, report: Report) -> None:
        """_repr_html_ is an HTML fragment without script: key figures, the clients at
        risk, the counts."""
        fragment = report._repr_html_()
        assert fragment.startswith("<div")
        assert "<script" not in fragment
        assert '<section class="kpis">' in fragment
        at_risk = fragment.split('id="at-risk"')[1].split("</table>")[0]
        assert at_risk.count("data-client=") == 1  # gamma, the one client at risk
        assert 'data-client="gamma"' in at_risk
        assert "lifecycle stage" in fragment  # the counts


class TestLifetimesFigures:
    def test_cdnow_matches_lifetimes(self) -> None:
        """frequency, recency, T and monetary_value equal lifetimes' on the CDNOW sample."""
        with (DATA / "cdnow_sample_orders.csv").open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        orders = [
            Order(
                order_id=str(i),
                client_id=r["client_id"],
                placed_at=datetime.fromisoformat(r["placed_at"]).replace(tzinfo=UTC),
                amount=r["amount"],
            )
            for i, r in enumerate(rows)
        ]
        report = build_report(build_portfolio(orders=orders))
        with (DATA / "cdnow_sample_lifetimes.csv").open(encoding="utf-8") as fh:
            expected = {r["client_id"]: r for r in csv.DictReader(fh)}
        records = report.to_records()
        assert len(records) == len(expected) == 2357
        for record in records:
            want = expected[record["client_id"]]
            assert record["frequency"] == float(want["frequency"])
            assert record["recency"] == float(want["recency"])
            assert record["T"] == float(want["T"])
            assert record["monetary_value"] == pytest.approx(
                float(want["monetary_value"]), rel=1e-9, abs=1e-12
            )


class TestProperties:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(portfolio=portfolios(min_clients=1, max_clients=4, max_records=6), data=st.data())
    def test_any_portfolio_gives_a_contract_report(
        self, portfolio: Portfolio, data: st.DataObject
    ) -> None:
        """For any valid one-currency portfolio, every record obeys the contract."""
        if portfolio.last_moment is None:
            return
        report = build_report(portfolio)
        records = report.to_records()
        assert len(records) == len(portfolio)
        for record in records:
            assert_contract_record(record)
        assert sum(report.summary["lifecycle_stage"].values()) == len(portfolio)
        json.loads(report.to_json())


class TestMovedActionsMemo:
    """A report asks for each line's actions moved by its value class through a memo."""

    @pytest.mark.parametrize("kept", [4096, 1])
    def test_the_memo_gives_what_each_line_asks(
        self, monkeypatch: pytest.MonkeyPatch, kept: int
    ) -> None:
        """Every line's actions, through the memo (also when it holds one entry), are
        those moved_actions gives for the line's own arguments."""
        from relcycle import report as report_module
        from relcycle.simulate import simulate_portfolio

        portfolio = simulate_portfolio(300, seed=5).portfolio()
        asked: list[tuple[Any, ...]] = []
        direct = report_module.moved_actions

        def spy(policies: Any, actions: Any, value_class: Any, **kw: Any) -> Any:
            asked.append((tuple(actions), value_class, kw["stage"], kw["segment"]))
            return direct(policies, actions, value_class, **kw)

        monkeypatch.setattr(report_module, "_MOVED_KEPT", kept)
        monkeypatch.setattr(report_module, "moved_actions", spy)
        memo = build_report(portfolio, keep_assessments=False)
        lines = list(memo)
        assert len(asked) < len(lines)  # lines with the same arguments share one answer
        # each line's actions equal a direct call with its own arguments
        monkeypatch.setattr(report_module, "_moved", _unmemoised)
        direct_report = build_report(portfolio, keep_assessments=False)
        assert [c.actions for c in lines] == [c.actions for c in direct_report]
        assert {c.value_class for c in lines} == set(ValueClass)


def _unmemoised(moment: Any, line: Any, value_class: Any) -> Any:
    from relcycle.report import moved_actions

    return moved_actions(
        moment.context.policies,
        line.actions,
        value_class,
        stage=line.stage.value,
        segment=line.segment.value,
        risks=[r.flag.value for r in line.risks],
    )


class TestInterpreterState:
    """build_report pauses the cyclic garbage collector for speed and always restores it."""

    def test_enabled_collector_is_enabled_again(self) -> None:
        """An enabled collector is enabled after a report."""
        import gc

        assert gc.isenabled()
        build_report(small_portfolio())
        assert gc.isenabled()

    def test_disabled_collector_stays_disabled(self) -> None:
        """A caller that disabled the collector finds it disabled after a report."""
        import gc

        gc.disable()
        try:
            build_report(small_portfolio())
            assert not gc.isenabled()
        finally:
            gc.enable()

    def test_the_summary_is_built_with_the_collector_paused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The portfolio-wide summary runs while the collector is still paused: a full
        collection there would walk every line of a report held in memory."""
        import gc

        from relcycle.segmentation import value

        seen: list[bool] = []
        top_share = value.top_share

        def watched(*args: Any, **kwargs: Any) -> Any:
            seen.append(gc.isenabled())
            return top_share(*args, **kwargs)

        monkeypatch.setattr(value, "top_share", watched)
        build_report(small_portfolio())
        assert seen == [False]
        assert gc.isenabled()

    def test_collector_is_restored_after_an_error(self) -> None:
        """A report that fails still leaves the collector enabled."""
        import gc

        mixed = build_portfolio(
            orders=[
                Order(order_id="1", client_id="a", placed_at=at(1), amount="1", currency="EUR"),
                Order(order_id="2", client_id="b", placed_at=at(2), amount="1", currency="USD"),
            ]
        )
        with pytest.raises(CurrencyMismatchError):
            build_report(mixed)
        assert gc.isenabled()


def _hunter_and_big_account() -> Portfolio:
    """Issue 15's pair: the biggest account, its deliveries turning late, and a small
    price hunter (40 inquiries of 45 minutes, 5% margin) who sent one escalation e-mail."""
    big = [
        Order(
            order_id=f"b{k}",
            client_id="big",
            placed_at=at(15 * k),
            amount="20000",
            cost="15000",
            status="delivered",
            on_time=k < 21,  # the last three deliveries late
        )
        for k in range(24)
    ]
    hunter = [
        Order(
            order_id=f"h{k}",
            client_id="hunter",
            placed_at=at(40 * k + 3),
            amount="800",
            cost="760",
            discounted=True,
        )
        for k in range(9)
    ]
    calls = [
        Interaction(interaction_id=f"i{k}", client_id="hunter", at=at(9 * k + 1), minutes="45")
        for k in range(40)
    ]
    escalation = Interaction(
        interaction_id="e1", client_id="hunter", at=at(340), purpose="escalation", channel="email"
    )
    return build_portfolio(orders=big + hunter, interactions=[*calls, escalation])


#: An hourly rate for every minute (the history has no marketing touch).
RATED = ReportPolicies(cost_rates=CostRates(default_rate=Decimal(40)))


class TestEconomics:
    """Issue 15: cost-to-serve that is not invented, value and priority from it."""

    def test_without_rates_the_price_hunter_has_no_profit_and_a_warning(self) -> None:
        """No rate for 30 hours of inquiries: profit null (not +360), the rate named."""
        report = build_report(_hunter_and_big_account(), as_of=at(360))
        hunter = report["hunter"]
        assert (hunter.cost_to_serve, hunter.profit) == (None, None)
        assert hunter.to_record()["profit"] is None
        assert "unprofitable" not in hunter.risk_flags
        (warning,) = report.warnings
        assert "unknown (null) for 1 of 2 clients" in warning
        assert "set cost_rates.default_rate" in warning
        assert "cost unknown: no hourly rate" in hunter.explain()
        assert report["big"].profit is not None  # no minutes: its cost is known

    def test_with_rates_the_price_hunter_is_unprofitable(self) -> None:
        """At 40 an hour the 1,200 of time eats the 360 of margin: -840 and the flag."""
        report = build_report(_hunter_and_big_account(), as_of=at(360), policies=RATED)
        hunter = report["hunter"]
        assert hunter.profit is not None
        assert hunter.profit.amount == Decimal(-840)
        assert "unprofitable" in hunter.risk_flags
        assert report.warnings == ()
        assert "profit -840" in hunter.explain()

    def test_the_big_account_outranks_the_price_hunters_escalation(self) -> None:
        """Class A's late deliveries come before class C's escalation e-mail, everywhere."""
        from relcycle.render import View
        from relcycle.render.html import at_risk

        report = build_report(_hunter_and_big_account(), as_of=at(360), policies=RATED)
        big, hunter = report["big"], report["hunter"]
        assert (big.value_class, hunter.value_class) == (ValueClass.A, ValueClass.C)
        assert big.lifecycle_stage is Stage.recurring_problems
        assert hunter.lifecycle_stage is Stage.escalated
        assert big.actions[0].urgency.value == "critical"  # high, one up for class A
        assert hunter.actions[0].urgency.value == "high"  # critical, one down for class C
        assert [c.client_id for c in at_risk(report)] == ["big", "hunter"]
        assert [c.client_id for c in View(sort="priority").clients(report)] == ["big", "hunter"]
        assert priority_key(big) < priority_key(hunter)
        # the standing policy of its segment keeps its urgency: value alone is no alarm
        monitor = next(a for a in big.actions if a.id == "stability.monitor_quality")
        assert monitor.urgency.value == "high"

    def test_no_shift_keeps_the_playbook_urgency(self) -> None:
        """With every shift 0 the stage decides alone: the escalation comes first."""
        flat = attrs.evolve(
            RATED, priority=PriorityPolicy(value_class_shift={"A": 0, "B": 0, "C": 0})
        )
        report = build_report(_hunter_and_big_account(), as_of=at(360), policies=flat)
        assert report["hunter"].actions[0].urgency.value == "critical"
        assert report["big"].actions[0].urgency.value == "high"
        from relcycle.render import View

        assert [c.client_id for c in View(sort="priority").clients(report)] == ["hunter", "big"]


def _one_off_and_regular() -> Portfolio:
    """Issue 15: a one-off buyer of 90,000 at a thin margin and a steady regular buyer."""
    orders = [
        Order(order_id="x1", client_id="oneoff", placed_at=at(100), amount="90000", cost="89600"),
        Order(order_id="y1", client_id="big", placed_at=at(10), amount="100000", cost="99000"),
        Order(order_id="z1", client_id="mid", placed_at=at(20), amount="60000", cost="59500"),
        *(
            Order(
                order_id=f"r{k}",
                client_id="regular",
                placed_at=at(15 * k),
                amount="500",
                cost="200",
            )
            for k in range(24)
        ),
    ]
    return build_portfolio(orders=orders)


class TestValueBasis:
    """Value classes rank profit where every profit is known (value_basis = auto)."""

    def test_auto_ranks_profit_when_every_profit_is_known(self) -> None:
        """The regular buyer (profit 7,200) is A, the one-off (profit 400) C."""
        report = build_report(_one_off_and_regular(), as_of=at(360))
        assert report.summary["value_basis"] == "profit"
        assert report["regular"].value_class is ValueClass.A
        assert report["oneoff"].value_class is ValueClass.C
        assert report.warnings == ()

    def test_revenue_basis_is_the_old_ranking(self) -> None:
        """On revenue the one-off is A and the regular buyer C."""
        policies = ReportPolicies(value_basis="revenue")
        report = build_report(_one_off_and_regular(), as_of=at(360), policies=policies)
        assert report.summary["value_basis"] == "revenue"
        assert report["oneoff"].value_class is ValueClass.A
        assert report["regular"].value_class is ValueClass.C

    def test_auto_falls_back_to_revenue_and_says_so(self) -> None:
        """One client's profit unknown (minutes without a rate): revenue, with a warning."""
        portfolio = _one_off_and_regular()
        call = Interaction(interaction_id="c1", client_id="regular", at=at(5), minutes="30")
        mixed = build_portfolio(
            orders=[o for h in portfolio for o in h.orders], interactions=[call]
        )
        report = build_report(mixed, as_of=at(360))
        assert report.summary["value_basis"] == "revenue"
        assert report["oneoff"].value_class is ValueClass.A
        (warning,) = report.warnings
        assert warning.endswith("value classes rank revenue (value_basis = auto)")
        forced = build_report(mixed, as_of=at(360), policies=ReportPolicies(value_basis="profit"))
        assert forced["regular"].value_class is ValueClass.C  # unknown profit: valued 0
        assert "1 of 4 clients of unknown profit are valued 0" in forced.warnings[1]

    def test_a_bad_basis_names_the_field(self) -> None:
        with pytest.raises(ValidationError, match="value_basis"):
            ReportPolicies(value_basis="margin")


# --------------------------------------------------------------------------- lost means lost


def _monthly(cid: str, first: int, count: int, amount: str = "1000") -> list[Order]:
    """``count`` orders of ``cid`` 30 days apart from day ``first``."""
    return [
        Order(
            order_id=f"{cid}-{first + 30 * n}",
            client_id=cid,
            placed_at=at(first + 30 * n),
            amount=amount,
        )
        for n in range(count)
    ]


def _contacts(cid: str, days: list[int], handler: str) -> list[Interaction]:
    return [
        Interaction(interaction_id=f"{cid}-i{d}", client_id=cid, at=at(d), handled_by=handler)
        for d in days
    ]


def lost_portfolio() -> Portfolio:
    """A big monthly buyer that left for a competitor, then placed two trailing orders;
    the same without trailing orders; small buyers around them."""
    small = [
        Order(order_id=f"s{n}-{d}", client_id=f"s{n}", placed_at=at(d), amount="10")
        for n in range(5)
        for d in (20 * n, 20 * n + 200)
    ]
    trailing = [
        Order(order_id=f"late-{d}", client_id="left", placed_at=at(d), amount="1000")
        for d in (350, 360)
    ]
    ends = [
        Interaction(
            interaction_id=f"{cid}-end",
            client_id=cid,
            at=at(340),
            purpose="termination",
            reason="competitor",
        )
        for cid in ("left", "quiet")
    ]
    return build_portfolio(
        orders=[*_monthly("left", 0, 11), *_monthly("quiet", 0, 11), *trailing, *small],
        interactions=[
            *_contacts("left", [1, 31, 61, 91, 121], "m1"),
            *_contacts("quiet", [1, 31, 61, 91, 121], "m1"),
            *ends,
        ],
    )


@pytest.fixture(scope="module")
def lost() -> Report:
    return build_report(lost_portfolio(), as_of=at(365))


class TestALostClientIsLostEverywhere:
    def test_trailing_orders_do_not_revive_a_terminated_client(self, lost: Report) -> None:
        """Two orders after the termination: still lost, with the activity_after_loss flag."""
        left = lost["left"]
        assert left.lifecycle_stage is Stage.lost
        assert left.loss_reason is LossReason.competitor
        assert left.active is False
        assert left.risk_flags == ("activity_after_loss",)
        (risk,) = left.risks
        assert risk.evidence.record_ids == ("late-350", "late-360")
        assert lost.summary["risks"]["activity_after_loss"] == 1

    def test_no_live_client_flag_or_action(self, lost: Report) -> None:
        """No overdue_order, key_person or segment care for a lost client: its win-back."""
        for cid in ("left", "quiet"):
            client = lost[cid]
            assert "overdue_order" not in client.risk_flags
            assert "key_person" not in client.risk_flags
            ids = {a.id for a in client.actions}
            assert "overdue_order.call" not in ids
            assert "key_person.second_contact" not in ids
            assert {"lost.loss_reason", "lost.win_back"} <= ids
            assert all(i.split(".")[0] in {"lost", "activity_after_loss"} for i in ids)
        assert lost["quiet"].risks == ()

    def test_figures_count_the_active_life_only(self, lost: Report) -> None:
        """RFM figures count the sales up to the loss; regularity is as it stood then."""
        left, quiet = lost["left"], lost["quiet"]
        assert left.frequency == quiet.frequency == 10  # 11 purchase days, not 13
        assert left.monetary_value == quiet.monetary_value
        assert left.T == quiet.T == 365
        assert left.rfm == quiet.rfm
        assert left.regularity.value == "regular"
        assert left.revenue.amount == Decimal(13000)  # revenue is still every sale
        assert "over the active life up to the loss on 2025-12-07" in left.explain()


class TestSilentChurnInTheReport:
    def test_a_regular_client_silent_for_nine_months_is_lost_lapsed(self) -> None:
        """The lapse rule makes a silent regular buyer lost; the summary counts it."""
        report = build_report(build_portfolio(orders=_monthly("r", 0, 6)), as_of=at(150 + 270))
        client = report["r"]
        assert client.lifecycle_stage is Stage.lost
        assert client.loss_reason is LossReason.lapsed
        assert report.summary["loss_reasons"]["lapsed"] == 1
        assert client.risks == ()
        assert "lapsed: a regular buyer" in client.evidence["stage"].reason

    def test_a_client_whose_only_manager_left_is_lost_manager_left(self) -> None:
        """All contacts by m1, m2 its manager now, no order for long: manager_left."""
        report = build_report(
            build_portfolio(
                clients=[Client(client_id="m", account_manager="m2")],
                orders=_monthly("m", 0, 6),
                interactions=_contacts("m", [1, 31, 61, 91, 121], "m1"),
            ),
            as_of=at(360),
        )
        client = report["m"]
        assert client.loss_reason is LossReason.manager_left
        assert "its only manager m1" in client.evidence["stage"].reason


class TestEpisodes:
    @staticmethod
    def won_back() -> Portfolio:
        """Monthly buyer, lost for a year, won back, monthly again."""
        return build_portfolio(
            orders=[*_monthly("w", 0, 6), *_monthly("w", 510, 4)],
            interactions=[
                Interaction(
                    interaction_id="end",
                    client_id="w",
                    at=at(160),
                    purpose="termination",
                    reason="price",
                ),
                Interaction(
                    interaction_id="back", client_id="w", at=at(500), purpose="reactivation"
                ),
            ],
        )

    def test_a_won_back_client_is_overdue_from_its_current_episode(self) -> None:
        """Regularity and overdue_order ignore the gap while the client was lost."""
        report = build_report(self.won_back(), as_of=at(600 + 50))
        client = report["w"]
        assert client.lifecycle_stage is Stage.satisfied
        assert client.regularity.value == "regular"
        assert "overdue_order" in client.risk_flags
        (risk,) = [r for r in client.risks if r.flag.value == "overdue_order"]
        assert risk.evidence.record_ids == ("w-510", "w-540", "w-570", "w-600")
        assert "current episode" in client.explain()

    def test_a_won_back_client_silent_for_nine_months_lapses(self) -> None:
        """Nine silent months after the win-back: lost again, reason lapsed."""
        client = build_report(self.won_back(), as_of=at(600 + 270))["w"]
        assert client.lifecycle_stage is Stage.lost
        assert client.loss_reason is LossReason.lapsed
