"""Tests for relcycle.funnel: the AIDA sales funnel, built on the public API only."""

from __future__ import annotations

import ast
import csv
import importlib
import inspect
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle import funnel
from relcycle.cli import main
from relcycle.errors import RecordTypeError, UsageError
from relcycle.evidence import Evidence
from relcycle.funnel import (
    AIDA,
    FUNNEL,
    FUNNEL_COLUMN,
    TABLE,
    FunnelEvent,
    FunnelPlan,
    FunnelPolicy,
    FunnelStage,
    Quota,
    assess_funnel,
    funnel_column,
    funnel_plan_vs_actual,
    funnel_summary,
)
from relcycle.history import ClientHistory, build_portfolio
from relcycle.machine import MachineState
from relcycle.model import Client, Direction, Interaction, Order, OrderStatus, Purpose
from relcycle.render import render
from relcycle.render.view import View
from relcycle.report import FIELDS, FLAT_FIELDS, Cell, Column, ReportPolicies, build_report
from relcycle.testing import histories

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def touch(iid: str, day: int, purpose: Purpose = Purpose.marketing, **kw: Any) -> Interaction:
    """An interaction ``day`` days after T0 (an outbound marketing touch by default)."""
    kw.setdefault("direction", Direction.outbound if purpose is Purpose.marketing else None)
    if kw["direction"] is None:
        del kw["direction"]
    return Interaction(
        interaction_id=iid, client_id=kw.pop("cid", "c1"), at=T0 + day * DAY, purpose=purpose, **kw
    )


def order(oid: str, day: int, status: OrderStatus = OrderStatus.placed, cid: str = "c1") -> Order:
    """An order ``day`` days after T0."""
    return Order(
        order_id=oid, client_id=cid, placed_at=T0 + day * DAY, amount=Decimal(100), status=status
    )


def history(*records: Interaction | Order, manager: str | None = None) -> ClientHistory:
    """Client c1's history of ``records``."""
    return ClientHistory(
        client=Client(client_id="c1", account_manager=manager),
        interactions=tuple(r for r in records if isinstance(r, Interaction)),
        orders=tuple(r for r in records if isinstance(r, Order)),
    )


def stage(*records: Interaction | Order, day: int = 30, **kw: Any) -> FunnelStage:
    """c1's stage ``day`` days after T0."""
    return assess_funnel(history(*records), as_of=T0 + day * DAY, **kw).stage


class TestTransitions:
    """Each trigger moves a client to its stage; the table is the whole definition."""

    def test_no_record_is_unaware(self) -> None:
        """A client without interactions or orders is unaware, and says so."""
        found = assess_funnel(history(), as_of=T0)
        assert found.stage is FunnelStage.unaware
        assert found.since is None
        assert found.evidence == Evidence("no interaction or order yet")

    def test_marketing_touch_is_awareness(self) -> None:
        """A marketing touch makes the client aware."""
        assert stage(touch("i1", 1)) is FunnelStage.awareness

    def test_first_outbound_contact_is_awareness(self) -> None:
        """A first contact (the supplier calls; an outbound inquiry) is awareness."""
        assert stage(touch("i1", 1, Purpose.other, direction=Direction.outbound)) is (
            FunnelStage.awareness
        )
        assert stage(touch("i1", 1, Purpose.inquiry, direction=Direction.outbound)) is (
            FunnelStage.awareness
        )

    @pytest.mark.parametrize("purpose", [Purpose.inquiry, Purpose.wish, Purpose.reactivation])
    def test_inbound_request_is_interest(self, purpose: Purpose) -> None:
        """An inbound inquiry, wish or reactivation is interest."""
        assert stage(touch("i1", 1), touch("i2", 2, purpose)) is FunnelStage.interest

    @pytest.mark.parametrize("purpose", [Purpose.offer_change, Purpose.joint_planning])
    def test_negotiation_is_desire(self, purpose: Purpose) -> None:
        """A request to change the offer, or joint planning, is desire."""
        assert stage(touch("i1", 1, Purpose.inquiry), touch("i2", 2, purpose)) is (
            FunnelStage.desire
        )

    def test_planned_order_is_desire(self) -> None:
        """A planned order (a quote) is desire."""
        assert stage(order("p1", 3, OrderStatus.planned)) is FunnelStage.desire

    @pytest.mark.parametrize("status", [OrderStatus.placed, OrderStatus.delivered])
    def test_sale_is_action_even_out_of_the_blue(self, status: OrderStatus) -> None:
        """A sale is action, also as the client's first record (the stages between are skipped)."""
        found = assess_funnel(history(order("o1", 3, status)), as_of=T0 + 30 * DAY)
        assert found.stage is FunnelStage.action
        assert [s.target for s in found.trajectory.transitions] == [FunnelStage.action]

    @pytest.mark.parametrize("status", [OrderStatus.cancelled, OrderStatus.returned])
    def test_cancelled_and_returned_orders_give_nothing(self, status: OrderStatus) -> None:
        """Cancelled and returned orders are not triggers."""
        assert stage(order("x1", 3, status)) is FunnelStage.unaware

    def test_within_an_episode_never_backwards(self) -> None:
        """A marketing touch or an inquiry after a sale keeps the client at action."""
        records = (order("o1", 1), touch("i1", 2), touch("i2", 3, Purpose.inquiry))
        found = assess_funnel(history(*records), as_of=T0 + 10 * DAY)
        assert found.stage is FunnelStage.action
        assert [s.target for s in found.trajectory.steps] == [FunnelStage.action] * 3

    def test_dormant_after_the_quiet_days(self) -> None:
        """No activity for dormant_days makes the client dormant, exactly then."""
        records = (touch("i1", 0, Purpose.inquiry),)
        policy = FunnelPolicy(dormant_days=30)
        before = assess_funnel(
            history(*records), as_of=T0 + 30 * DAY - timedelta(seconds=1), policy=policy
        )
        assert before.stage is FunnelStage.interest
        at = assess_funnel(history(*records), as_of=T0 + 30 * DAY, policy=policy)
        assert at.stage is FunnelStage.dormant
        assert at.since == T0 + 30 * DAY
        assert at.evidence.record_ids == ("i1",)
        assert "no activity for 30 days after 2024-01-01" in at.evidence.reason

    def test_activity_moves_the_timer(self) -> None:
        """Each activity starts the quiet days again."""
        policy = FunnelPolicy(dormant_days=30)
        records = (touch("i1", 0), touch("i2", 20))
        assert stage(*records, day=45, policy=policy) is FunnelStage.awareness
        assert stage(*records, day=50, policy=policy) is FunnelStage.dormant

    def test_a_record_on_the_due_moment_comes_after_the_timer(self) -> None:
        """A record exactly dormant_days later finds the client dormant and starts a new episode."""
        policy = FunnelPolicy(dormant_days=30)
        found = assess_funnel(
            history(order("o1", 0), touch("i2", 30)), as_of=T0 + 40 * DAY, policy=policy
        )
        assert [s.target for s in found.trajectory.transitions] == [
            FunnelStage.action,
            FunnelStage.dormant,
            FunnelStage.awareness,
        ]

    @pytest.mark.parametrize(
        ("record", "expected"),
        [
            (touch("i9", 100), FunnelStage.awareness),
            (touch("i9", 100, Purpose.inquiry), FunnelStage.interest),
            (touch("i9", 100, Purpose.offer_change), FunnelStage.desire),
            (order("o9", 100), FunnelStage.action),
        ],
    )
    def test_a_dormant_client_starts_a_new_episode(
        self, record: Interaction | Order, expected: FunnelStage
    ) -> None:
        """From dormant, any trigger starts a new episode at its own stage (also backwards)."""
        policy = FunnelPolicy(dormant_days=30)
        assert stage(order("o1", 0), record, day=110, policy=policy) is expected

    def test_termination_is_lost(self) -> None:
        """A termination makes the client lost, with no dormancy afterwards."""
        found = assess_funnel(
            history(order("o1", 0), touch("t1", 5, Purpose.termination)), as_of=T0 + 900 * DAY
        )
        assert found.stage is FunnelStage.lost
        assert found.evidence.record_ids == ("t1",)
        assert found.state.timers == ()

    @pytest.mark.parametrize(
        ("record", "expected"),
        [
            (touch("i9", 10), FunnelStage.lost),
            (touch("i9", 10, Purpose.reactivation), FunnelStage.interest),
            (touch("i9", 10, Purpose.joint_planning), FunnelStage.desire),
            (order("o9", 10), FunnelStage.action),
        ],
    )
    def test_only_real_interest_brings_a_lost_client_back(
        self, record: Interaction | Order, expected: FunnelStage
    ) -> None:
        """Marketing leaves a lost client lost; a reactivation, negotiation or sale does not."""
        assert stage(touch("t1", 5, Purpose.termination), record) is expected

    def test_termination_comes_last_at_one_moment(self) -> None:
        """A sale and a termination at the same moment leave the client lost."""
        records = (order("o1", 5), touch("t1", 5, Purpose.termination))
        assert stage(*records) is FunnelStage.lost

    def test_the_table_has_every_stage_and_event(self) -> None:
        """The table is checked at import: every stage reachable, only lost is terminal."""
        assert TABLE.initial is FunnelStage.unaware
        assert TABLE.terminal == frozenset({FunnelStage.lost})
        assert set(TABLE.states) == set(FunnelStage)
        assert TABLE.allowed(FunnelStage.unaware) == (
            FunnelEvent.touched,
            FunnelEvent.inquired,
            FunnelEvent.considered,
            FunnelEvent.bought,
            FunnelEvent.terminated,
        )

    def test_time_travel(self) -> None:
        """stage_at answers the stage at any earlier moment."""
        records = (touch("i1", 1), touch("i2", 5, Purpose.inquiry), order("o1", 9))
        found = assess_funnel(history(*records), as_of=T0 + 20 * DAY)
        assert found.stage_at(T0) is FunnelStage.unaware
        assert found.stage_at(T0 + 6 * DAY) is FunnelStage.interest
        assert found.stage_at(T0 + 9 * DAY) is FunnelStage.action

    def test_records_after_as_of_are_ignored(self) -> None:
        """The stage as of a moment depends only on the records by then."""
        assert stage(touch("i1", 1), order("o1", 40), day=30) is FunnelStage.awareness


class TestEvidence:
    """Every stage carries the ids of the records that moved the client there."""

    def test_the_path_of_the_episode(self) -> None:
        """The evidence names the episode's path and every record that moved it."""
        records = (
            touch("i1", 1),
            touch("i2", 2, Purpose.inquiry),
            touch("i3", 3, Purpose.offer_change),
            order("o1", 4),
        )
        found = assess_funnel(history(*records), as_of=T0 + 10 * DAY)
        assert found.evidence.record_ids == ("i1", "i2", "i3", "o1")
        assert found.evidence.reason == (
            "action since 2024-01-05: sale (path: awareness 2024-01-02, interest "
            "2024-01-03, desire 2024-01-04, action 2024-01-05)"
        )
        assert list(found.episode) == list(AIDA)
        assert found.episode[FunnelStage.desire].record_ids == ("i3",)

    def test_a_new_episode_forgets_the_old_path(self) -> None:
        """After dormancy, the evidence is where the client came back from, then the new path."""
        policy = FunnelPolicy(dormant_days=30)
        records = (order("o1", 0), touch("i2", 100, Purpose.inquiry))
        found = assess_funnel(history(*records), as_of=T0 + 110 * DAY, policy=policy)
        assert found.evidence.record_ids == ("o1", "i2")
        assert "(path: dormant 2024-01-31, interest 2024-04-10)" in found.evidence.reason
        assert list(found.episode) == [FunnelStage.dormant, FunnelStage.interest]


class TestSavedState:
    """The machine's state saves as JSON and resumes with the same result as a replay."""

    @settings(max_examples=60, deadline=None)
    @given(
        data=st.data(),
        found=histories(min_time=T0, max_time=T0 + 900 * DAY, max_records=14),
        days=st.integers(1, 400),
    )
    def test_resume_equals_replay(
        self, data: st.DataObject, found: ClientHistory, days: int
    ) -> None:
        """A state saved at t1, read back and resumed to t2 ends where a full replay ends."""
        policy = FunnelPolicy(dormant_days=days)
        t1 = data.draw(
            st.datetimes(min_value=T0.replace(tzinfo=None), max_value=datetime(2026, 6, 1))
        )
        t1 = t1.replace(tzinfo=UTC)
        t2 = T0 + 1000 * DAY
        first = FUNNEL.run(found, as_of=t1, policy=policy)
        saved = json.loads(json.dumps(first.state.to_dict()))
        resumed = FUNNEL.resume(
            MachineState.from_dict(saved, FUNNEL), found, as_of=t2, policy=policy
        )
        full = FUNNEL.run(found, as_of=t2, policy=policy)
        assert resumed.state == full.state
        assert resumed.trajectory.steps == tuple(s for s in full.trajectory.steps if s.at > t1)

    @settings(max_examples=60, deadline=None)
    @given(found=histories(max_records=14))
    def test_no_history_breaks_the_machine(self, found: ClientHistory) -> None:
        """Any history gives a stage, with evidence naming only the client's records."""
        last = found.last_moment or T0
        result = assess_funnel(found, as_of=last + 400 * DAY)
        ids = {r.id for r in found.records()}
        assert set(result.evidence.record_ids) <= ids
        assert result.stage is result.trajectory.state


class TestPolicy:
    """Policies and plans are checked when built."""

    @pytest.mark.parametrize("days", [0, -3, True, 1.5, "30"])
    def test_dormant_days(self, days: Any) -> None:
        """dormant_days must be a whole number >= 1."""
        with pytest.raises(UsageError, match="dormant_days"):
            FunnelPolicy(dormant_days=days)


def portfolio() -> Any:
    """Four clients of two managers, with a known funnel."""
    ints = [
        touch("a1", 1, cid="a"),
        touch("a2", 10, Purpose.inquiry, cid="a"),
        touch("a3", 40, Purpose.offer_change, cid="a"),
        touch("b1", 5, cid="b"),
        touch("b2", 35, Purpose.inquiry, cid="b"),
        touch("c1", 2, cid="c"),
    ]
    orders = [order("a4", 50, cid="a"), order("d1", 45, cid="d")]
    clients = [
        Client(client_id="a", account_manager="ann"),
        Client(client_id="b", account_manager="bob"),
        Client(client_id="c", account_manager="ann"),
        Client(client_id="d"),
    ]
    return build_portfolio(interactions=ints, orders=orders, clients=clients)


AS_OF = T0 + 60 * DAY


class TestSummary:
    """Per-stage conversion and time in stage over a portfolio."""

    def test_conversion(self) -> None:
        """reached counts clients that got at least this far; conversion is next / this."""
        summary = funnel_summary(portfolio(), as_of=AS_OF)
        rows = {r.stage: r for r in summary.stages}
        assert [r.stage for r in summary.stages] == list(AIDA)
        assert [rows[s].reached for s in AIDA] == [4, 3, 2, 2]
        assert [rows[s].entered for s in AIDA] == [3, 2, 1, 2]
        assert rows[FunnelStage.awareness].conversion == Decimal("0.75")
        assert rows[FunnelStage.interest].conversion == Decimal("0.6667")
        assert rows[FunnelStage.desire].conversion == Decimal(1)
        assert rows[FunnelStage.action].conversion is None
        assert summary.counts[FunnelStage.action] == 2
        assert summary.counts[FunnelStage.interest] == 1
        assert summary.counts[FunnelStage.awareness] == 1
        assert summary[FunnelStage.desire] is rows[FunnelStage.desire]

    def test_time_in_stage(self) -> None:
        """Days in each stage, over the clients that spent time there."""
        summary = funnel_summary(portfolio(), as_of=AS_OF)
        awareness = summary[FunnelStage.awareness]
        # a: 9 days, b: 30 days, c: 58 days (still there)
        assert awareness.mean_days == round((9 + 30 + 58) / 3, 2)
        assert awareness.median_days == 30
        desire = summary[FunnelStage.desire]
        assert (desire.mean_days, desire.median_days) == (10, 10)
        assert summary[FunnelStage.action].mean_days == round((10 + 15) / 2, 2)

    def test_an_empty_portfolio(self) -> None:
        """No client: zero counts, no conversion, no time."""
        summary = funnel_summary([], as_of=AS_OF)
        assert all(r.reached == 0 and r.conversion is None for r in summary.stages)
        assert all(r.mean_days is None for r in summary.stages)
        assert summary.stages[0].to_dict()["conversion"] is None


class TestPlan:
    """Quotas per stage, period and manager, against the clients entering the stage."""

    def test_plan_vs_actual(self) -> None:
        """Each quota's row counts the clients entering its stage in its period."""
        plan = FunnelPlan(
            period="month",
            quotas=[
                Quota(stage="awareness", period="2024-01", target=4),
                Quota(stage=FunnelStage.interest, period="2024-02", target=1),
                Quota(stage=FunnelStage.action, period="2024-02", target=2, manager="ann"),
                Quota(stage=FunnelStage.action, period="2024-02", target=0, manager="bob"),
            ],
        )
        result = funnel_plan_vs_actual(portfolio(), plan, as_of=AS_OF)
        rows = {(r.stage, r.period, r.manager): r for r in result.rows}
        jan = rows[(FunnelStage.awareness, "2024-01", None)]
        assert (jan.actual, jan.client_ids, jan.attainment, jan.gap) == (
            3,
            ("a", "b", "c"),
            Decimal("0.75"),
            -1,
        )
        feb = rows[(FunnelStage.interest, "2024-02", None)]
        assert feb.client_ids == ("b",)
        ann = rows[(FunnelStage.action, "2024-02", "ann")]
        assert (ann.actual, ann.client_ids, ann.attainment) == (1, ("a",), Decimal("0.5"))
        bob = rows[(FunnelStage.action, "2024-02", "bob")]
        assert (bob.actual, bob.attainment) == (0, None)
        assert [r.manager for r in result.rows] == [None, None, "ann", "bob"]

    def test_quarters_and_as_of(self) -> None:
        """A quarter plan counts the quarter; entries after as_of do not count."""
        plan = FunnelPlan(
            period="quarter", quotas=[Quota(stage="action", period="2024-Q1", target=3)]
        )
        early = funnel_plan_vs_actual(portfolio(), plan, as_of=T0 + 47 * DAY)
        assert early.rows[0].client_ids == ("d",)
        late = funnel_plan_vs_actual(portfolio(), plan, as_of=AS_OF)
        assert late.rows[0].client_ids == ("a", "d")

    def test_the_plan_time_zone_decides_the_period(self) -> None:
        """An entry at 23:00 UTC on 31 January is February in UTC+2."""
        moment = datetime(2024, 1, 31, 23, tzinfo=UTC)
        found = build_portfolio(
            interactions=[
                Interaction(interaction_id="i", client_id="z", at=moment, purpose=Purpose.marketing)
            ]
        )
        quotas = [Quota(stage="awareness", period=p, target=1) for p in ("2024-01", "2024-02")]
        utc = funnel_plan_vs_actual(found, FunnelPlan(quotas=quotas), as_of=AS_OF)
        assert [r.actual for r in utc.rows] == [1, 0]
        east = FunnelPlan(quotas=quotas, tz=timezone(timedelta(hours=2)))
        assert [r.actual for r in funnel_plan_vs_actual(found, east, as_of=AS_OF).rows] == [0, 1]

    def test_entering_twice_counts_once(self) -> None:
        """A client that enters a stage twice in a period is one client."""
        found = build_portfolio(interactions=[touch("i1", 1, cid="z"), touch("i2", 25, cid="z")])
        plan = FunnelPlan(quotas=[Quota(stage="awareness", period="2024-01", target=1)])
        result = funnel_plan_vs_actual(
            found, plan, as_of=AS_OF, policy=FunnelPolicy(dormant_days=10)
        )
        assert result.rows[0].actual == 1

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda: Quota(stage="dormant", period="2024-01", target=1), "AIDA stage"),
            (lambda: Quota(stage="nope", period="2024-01", target=1), "AIDA stage"),
            (lambda: Quota(stage="action", period="2024-01", target=-1), "target"),
            (lambda: Quota(stage="action", period="2024-01", target=True), "target"),
            (lambda: Quota(stage="action", period="2024-01", target=1, manager=" "), "manager"),
            (lambda: FunnelPlan(quotas=[]), "at least one"),
            (lambda: FunnelPlan(period="year", quotas=[_q()]), "'month' or 'quarter'"),
            (lambda: FunnelPlan(quotas=[_q("2024-Q1")]), "look like '2024-03'"),
            (lambda: FunnelPlan(quotas=[_q("2024-13")]), "look like '2024-03'"),
            (lambda: FunnelPlan(period="quarter", quotas=[_q()]), "look like '2024-Q1'"),
            (lambda: FunnelPlan(quotas=[_q(), _q()]), "two quotas for action in 2024-01"),
            (lambda: FunnelPlan(quotas=["x"]), "is not a Quota"),
            (lambda: FunnelPlan(quotas=[_q()], tz="UTC"), "tzinfo"),
        ],
    )
    def test_bad_plans_are_refused(self, make: Any, message: str) -> None:
        """A plan that cannot mean anything is refused when built, saying why."""
        with pytest.raises(UsageError, match=message):
            make()

    def test_plan_must_be_a_plan(self) -> None:
        """A bare list of quotas is refused."""
        with pytest.raises(UsageError, match="FunnelPlan"):
            funnel_plan_vs_actual(portfolio(), [_q()], as_of=AS_OF)  # type: ignore[arg-type]


def _q(period: str = "2024-01") -> Quota:
    return Quota(stage="action", period=period, target=1)


@pytest.fixture(scope="module")
def report() -> Any:
    """The report of :func:`portfolio` with the default columns."""
    return build_report(portfolio(), as_of=AS_OF)


class TestReportColumn:
    """funnel_stage is in every report format, with its evidence, on by default."""

    def test_on_by_default(self, report: Any) -> None:
        """Every report has funnel_stage after the contract's fields."""
        assert report.columns == ("funnel_stage",)
        assert report["a"].columns["funnel_stage"] == Cell(
            "action",
            assess_funnel(portfolio()["a"], as_of=AS_OF).evidence,
        )
        record = report["a"].to_record()
        assert list(record)[: len(FIELDS)] == list(FIELDS)
        assert record["funnel_stage"] == "action"
        assert record["funnel_stage_evidence"]["record_ids"] == ["a1", "a2", "a3", "a4"]
        assert report.summary["columns"]["funnel_stage"] == {
            "unaware": 0,
            "awareness": 1,
            "interest": 1,
            "desire": 0,
            "action": 2,
            "dormant": 0,
            "lost": 0,
        }

    def test_json_and_jsonl(self, report: Any) -> None:
        """JSON and JSON Lines carry the stage and its evidence per client."""
        doc = json.loads(render(report, "json"))
        by_id = {c["client_id"]: c for c in doc["clients"]}
        assert by_id["b"]["funnel_stage"] == "interest"
        assert by_id["b"]["funnel_stage_evidence"]["record_ids"] == ["b1", "b2"]
        assert doc["summary"]["columns"]["funnel_stage"]["action"] == 2
        lines = [json.loads(x) for x in render(report, "jsonl").splitlines()]
        assert [x["funnel_stage"] for x in lines] == ["action", "interest", "awareness", "action"]

    def test_csv(self, report: Any) -> None:
        """Flat CSV has the value, the reason and the ids after the contract's columns;
        nested CSV the value and the evidence as JSON text."""
        flat = render(report, "csv")
        rows = list(csv.DictReader(io.StringIO(flat)))
        header = next(csv.reader(io.StringIO(flat)))
        assert header == [
            *FLAT_FIELDS,
            "funnel_stage",
            "funnel_stage_evidence",
            "funnel_stage_evidence_records",
        ]
        assert rows[3]["funnel_stage"] == "action"
        assert rows[3]["funnel_stage_evidence_records"] == "d1"
        nested = render(report, "csv", view=View(csv_nested=True))
        rows = list(csv.DictReader(io.StringIO(nested)))
        assert next(csv.reader(io.StringIO(nested))) == [
            *FIELDS,
            "funnel_stage",
            "funnel_stage_evidence",
        ]
        assert json.loads(rows[3]["funnel_stage_evidence"])["record_ids"] == ["d1"]

    def test_table(self, report: Any) -> None:
        """The table has a funnel stage column and the summary counts the stages."""
        text = render(report, "table")
        header = text.splitlines()[0]
        assert header.rstrip().endswith("funnel stage")
        assert "funnel stage: awareness 1, interest 1, action 2" in text

    def test_html(self, report: Any) -> None:
        """The page has the funnel's chart (or table) and each client's funnel evidence."""
        from relcycle.render.html import render_html

        page = render_html(report, charts=False)
        assert "<h2>Extra columns</h2>" in page
        assert "funnel stage" in page
        # each client's why (built in the browser) carries its funnel stage and records
        import re

        from relcycle.render.html import unpack

        block = re.search(r'id="relcycle-data">([^<]*)</script>', page)
        assert block is not None
        data = unpack(block.group(1))
        rows = {row[0]: i for i, row in enumerate(data["rows"])}
        (column,) = data["why"][rows["b"]][7]
        assert column[:2] == ["funnel_stage", "interest"]
        assert column[3] == ["b1", "b2"]
        assert "b2" in data["records"]
        pytest.importorskip("matplotlib")
        drawn = render_html(report, charts=True)
        assert 'id="column-funnel_stage-' in drawn

    def test_data_frames_have_the_column_as_flat_csv_does(self, report: Any) -> None:
        """A data frame gets funnel_stage, its reason and its record ids (a list)."""
        pl = pytest.importorskip("polars")
        frame = report.to_polars()
        assert frame["funnel_stage"].to_list() == ["action", "interest", "awareness", "action"]
        assert frame.schema["funnel_stage_evidence_records"] == pl.List(pl.String)
        assert frame["funnel_stage_evidence_records"].to_list()[3] == ["d1"]

    def test_columns_off(self) -> None:
        """columns=() gives exactly the contract's fields."""
        report = build_report(portfolio(), as_of=AS_OF, policies=ReportPolicies(columns=()))
        assert tuple(report["a"].to_record()) == FIELDS
        assert report.summary["columns"] == {}
        assert next(csv.reader(io.StringIO(render(report, "csv")))) == list(FLAT_FIELDS)

    def test_another_threshold(self) -> None:
        """funnel_column(policy) reports the funnel with another dormancy threshold."""
        policies = ReportPolicies(columns=(funnel_column(FunnelPolicy(dormant_days=10)),))
        report = build_report(portfolio(), as_of=AS_OF, policies=policies)
        assert report["c"].columns["funnel_stage"].value == "dormant"

    def test_the_columnar_engine_gives_the_same(self) -> None:
        """The arrow engine gives the same funnel_stage, evidence and summary."""
        pytest.importorskip("polars")
        from relcycle.columnar import build_report as columnar_report
        from relcycle.columnar import frames_from_tables
        from relcycle.io import as_tables

        policies = ReportPolicies(columns=(FUNNEL_COLUMN, PURCHASES))
        want = build_report(portfolio(), as_of=AS_OF, policies=policies)
        got = columnar_report(
            frames_from_tables(as_tables(portfolio())), as_of=AS_OF, policies=policies
        )
        assert got.to_records() == want.to_records()
        assert got == want


def _purchases(history: ClientHistory, *, as_of: datetime, tz: Any) -> Cell:
    sales = [o for o in history.orders if o.is_sale]
    return Cell(len(sales), Evidence(f"{len(sales)} sales", [o.order_id for o in sales]))


PURCHASES = Column("purchases", _purchases, doc="how many sales")


class TestColumn:
    """A user's own column: any named per-client assessor."""

    def test_a_user_column_in_every_format(self) -> None:
        """A column without a vocabulary: a number per client, in JSON, CSV and the table."""
        policies = ReportPolicies(columns=(*ReportPolicies().columns, PURCHASES))
        report = build_report(portfolio(), as_of=AS_OF, policies=policies)
        assert report.columns == ("funnel_stage", "purchases")
        assert report["a"].to_record()["purchases"] == 1
        assert "purchases" not in report.summary["columns"]
        rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
        assert rows[0]["purchases"] == "1"
        assert rows[0]["purchases_evidence"] == "1 sales"
        assert rows[0]["purchases_evidence_records"] == "a4"
        pl = pytest.importorskip("polars")
        assert report.to_polars().schema["purchases"] == pl.Int64
        assert render(report, "table").splitlines()[0].rstrip().endswith("purchases")

    @pytest.mark.parametrize("name", ["Bad", "1x", "with space", "", "orders", "x_evidence"])
    def test_names_are_checked(self, name: str) -> None:
        """A column's name is a lowercase identifier that is no report field."""
        with pytest.raises(UsageError, match="column name"):
            Column(name, _purchases)

    def test_two_columns_of_one_name(self) -> None:
        """Two columns of one name are refused."""
        with pytest.raises(UsageError, match="two columns named purchases"):
            ReportPolicies(columns=(PURCHASES, PURCHASES))

    def test_not_a_column(self) -> None:
        """Something else than a Column is refused."""
        with pytest.raises(UsageError, match="is not a Column"):
            ReportPolicies(columns=(_purchases,))  # type: ignore[arg-type]

    def test_values_are_distinct_strings(self) -> None:
        """A vocabulary is distinct strings."""
        with pytest.raises(UsageError, match="distinct strings"):
            Column("x", _purchases, values=("a", "a"))

    def test_a_value_outside_the_vocabulary(self) -> None:
        """A value the column did not declare is an error naming the column and client."""
        column = Column("x", _purchases, values=("none",))
        with pytest.raises(UsageError, match="column 'x': client 'a': value 1 is not one of none"):
            build_report(portfolio(), as_of=AS_OF, policies=ReportPolicies(columns=(column,)))

    def test_an_assessor_that_returns_something_else(self) -> None:
        """An assessor must return a Cell."""
        column = Column("x", lambda history, *, as_of, tz: 3)  # type: ignore[arg-type,return-value]
        with pytest.raises(UsageError, match="not a Cell"):
            build_report(portfolio(), as_of=AS_OF, policies=ReportPolicies(columns=(column,)))

    def test_cells_are_json_scalars(self) -> None:
        """A cell's value is a JSON scalar and its evidence an Evidence."""
        with pytest.raises(RecordTypeError):
            Cell([1], Evidence("x"))  # type: ignore[arg-type]
        with pytest.raises(RecordTypeError):
            Cell(1, "why")  # type: ignore[arg-type]


class TestCli:
    """relcycle diagram funnel, and relcycle report --column."""

    def test_diagram(self, capsys: pytest.CaptureFixture[str]) -> None:
        """relcycle diagram funnel prints the table as Mermaid or DOT."""
        assert main(["diagram", "funnel"]) == 0
        out = capsys.readouterr().out
        assert out == TABLE.to_mermaid()
        assert "desire --> action: bought" in out
        assert main(["diagram", "funnel", "--format", "dot"]) == 0
        assert '"dormant" -> "awareness" [label="touched"];' in capsys.readouterr().out

    def test_the_tutorial_shows_the_table(self) -> None:
        """The tutorial's funnel diagram is exactly TABLE.to_mermaid()."""
        page = (ROOT / "docs" / "tutorial-own-machine.md").read_text(encoding="utf-8")
        blocks = re.findall(r"```text\n(stateDiagram-v2\n.*?)```", page, re.DOTALL)
        assert blocks == [TABLE.to_mermaid()]

    def test_report_has_the_funnel(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """relcycle report writes funnel_stage; --column adds a user's column."""
        from relcycle.io import write_history

        folder = tmp_path / "data"
        write_history(portfolio(), folder)
        module = tmp_path / "mycols.py"
        module.write_text(_MODULE, encoding="utf-8")
        sys.path.insert(0, str(tmp_path))
        try:
            code = main(
                [
                    "report",
                    str(folder),
                    "--format",
                    "jsonl",
                    "--engine",
                    "python",
                    "--column",
                    "mycols:ORDERS_SEEN",
                ]
            )
        finally:
            sys.path.remove(str(tmp_path))
            sys.modules.pop("mycols", None)
        assert code == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [x["funnel_stage"] for x in lines] == ["action", "interest", "awareness", "action"]
        assert [x["orders_seen"] for x in lines] == [1, 0, 0, 1]

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("nocolon", "give MODULE:NAME"),
            ("no_such_module_x:X", "cannot import"),
            ("relcycle.funnel:TABLE", "is not a relcycle.report.Column"),
        ],
    )
    def test_bad_column(
        self, spec: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A --column that names no Column is a usage error (exit 2)."""
        from relcycle.io import write_history

        write_history(portfolio(), tmp_path)
        assert main(["report", str(tmp_path), "--column", spec]) == 2
        assert message in capsys.readouterr().err


_MODULE = """
from relcycle.evidence import Evidence
from relcycle.report import Cell, Column


def _orders(history, *, as_of, tz):
    return Cell(len(history.orders), Evidence("orders", [o.order_id for o in history.orders]))


ORDERS_SEEN = Column("orders_seen", _orders)
"""


class TestPublicApiOnly:
    """relcycle.funnel is written with public names only, as a user would write it."""

    def test_imports_are_public(self) -> None:
        """Every name funnel.py imports is in its module's __all__ and not underscored."""
        tree = ast.parse((ROOT / "src" / "relcycle" / "funnel.py").read_text(encoding="utf-8"))
        seen = 0
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not any(p.startswith("_") for p in alias.name.split(".")), alias.name
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, "relative imports reach into the package"
                assert node.module is not None
                if node.module == "__future__":
                    continue
                assert not any(p.startswith("_") for p in node.module.split(".")), node.module
                for alias in node.names:
                    assert not alias.name.startswith("_"), (node.module, alias.name)
                if node.module.split(".")[0] != "relcycle":
                    assert node.module.split(".")[0] in sys.stdlib_module_names | {"attrs"}
                    continue
                public = importlib.import_module(node.module).__all__
                for alias in node.names:
                    assert alias.name in public, f"{node.module}.{alias.name} is not public"
                    seen += 1
        assert seen > 20

    def test_exports_are_documented(self) -> None:
        """Every public function and class of the module has a docstring."""
        for name in funnel.__all__:
            value = getattr(funnel, name)
            if isinstance(value, type) or inspect.isfunction(value):
                assert value.__doc__, name
