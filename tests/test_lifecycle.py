"""The dissatisfaction-to-loss lifecycle: table, interpretation, scenarios, evidence, losses."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle import cli
from relcycle.errors import (
    DefinitionError,
    IllegalTransitionError,
    RecordTypeError,
    UsageError,
    ValidationError,
)
from relcycle.history import ClientHistory, build_portfolio
from relcycle.lifecycle import (
    MACHINE,
    TABLE,
    TRIGGERS,
    LifecycleEvent,
    LifecycleEventRecord,
    LifecycleMemory,
    LifecyclePolicy,
    Stage,
    assess,
    derive_events,
    loss_analysis,
    replay,
)
from relcycle.machine import MachineState, TransitionTable
from relcycle.model import (
    TERMINATION_REASONS,
    Client,
    Complaint,
    Interaction,
    LossReason,
    Order,
    Severity,
)
from relcycle.testing import known_at

ROOT = Path(__file__).resolve().parent.parent
UTC = UTC
T0 = datetime(2026, 1, 1, tzinfo=UTC)
E = LifecycleEvent
S = Stage


def day(n: float) -> datetime:
    """The moment ``n`` days after 2026-01-01 (midnight UTC)."""
    return T0 + timedelta(days=n)


def complaint(cid: str, at: float, **kw: Any) -> Complaint:
    """A complaint of client C1 opened on day ``at``; ``resolved`` is a day number."""
    resolved = kw.pop("resolved", None)
    if resolved is not None:
        kw.setdefault("status", "resolved")
        kw["resolved_at"] = day(resolved)
    return Complaint(complaint_id=cid, client_id="C1", opened_at=day(at), **kw)


def interaction(iid: str, at: float, purpose: str, **kw: Any) -> Interaction:
    """An interaction of client C1 on day ``at`` with ``purpose``."""
    return Interaction(interaction_id=iid, client_id="C1", at=day(at), purpose=purpose, **kw)


def order(oid: str, at: float, **kw: Any) -> Order:
    """An order of client C1 placed on day ``at`` (100 USD unless told)."""
    kw.setdefault("amount", Decimal(100))
    return Order(order_id=oid, client_id="C1", placed_at=day(at), **kw)


def history(*records: Complaint | Interaction | Order) -> ClientHistory:
    """Client C1's history of ``records``."""
    return ClientHistory.of("C1", records)


def events_of(h: ClientHistory, as_of: datetime, **kw: Any) -> list[tuple[LifecycleEvent, Any]]:
    """``(event, record_ids)`` pairs derived from ``h``."""
    return [
        (r.event, r.record_ids) for r in derive_events(h, as_of=as_of, policy=LifecyclePolicy(**kw))
    ]


class TestStages:
    def test_stages_are_the_contract_values_in_severity_order(self) -> None:
        """The stages carry the contract's values, ordered by severity."""
        assert [s.value for s in Stage] == [
            "satisfied",
            "recurring_problems",
            "voicing_discontent",
            "monitoring_failures",
            "escalated",
            "ultimatum",
            "arbitration",
            "lost",
        ]
        assert Stage.recurring_problems < Stage.escalated < Stage.lost
        assert max(Stage) is Stage.lost

    def test_events_are_past_tense_facts(self) -> None:
        """Every event name reads as something that already happened."""
        for event in LifecycleEvent:
            assert event.value.endswith("ed"), event


class TestTable:
    def test_table_is_defined_over_all_stages_and_events(self) -> None:
        """The table starts satisfied, ends in lost, and knows every stage and event."""
        assert TABLE.name == "lifecycle"
        assert TABLE.initial is Stage.satisfied
        assert TABLE.terminal == frozenset({Stage.lost})
        assert TABLE.states == tuple(Stage)
        assert TABLE.events == tuple(LifecycleEvent)

    @pytest.mark.parametrize(
        ("event", "target"),
        [
            (E.escalation_received, S.escalated),
            (E.ultimatum_received, S.ultimatum),
            (E.arbitration_opened, S.arbitration),
            (E.relationship_terminated, S.lost),
        ],
    )
    def test_the_clients_moves_arrive_from_any_earlier_stage(
        self, event: LifecycleEvent, target: Stage
    ) -> None:
        """Escalation, ultimatum, arbitration and termination jump from every earlier stage."""
        for stage in Stage:
            if stage < target:
                assert TABLE.step(stage, event) is target

    @pytest.mark.parametrize(
        ("stage", "event"),
        [
            (S.satisfied, E.arbitration_closed),
            (S.escalated, E.arbitration_closed),
            (S.satisfied, E.client_reactivated),
            (S.ultimatum, E.client_reactivated),
            (S.lost, E.relationship_terminated),
            (S.lost, E.escalation_received),
            (S.lost, E.trouble_free_period_elapsed),
            (S.satisfied, E.trouble_free_period_elapsed),
            (S.arbitration, E.trouble_free_period_elapsed),
        ],
    )
    def test_illegal_pairs_raise_with_machine_stage_and_event(
        self, stage: Stage, event: LifecycleEvent
    ) -> None:
        """An event the stage does not allow raises, naming machine, stage, event, allowed."""
        with pytest.raises(IllegalTransitionError) as info:
            TABLE.step(stage, event)
        err = info.value
        assert (err.machine, err.state, err.event) == ("lifecycle", stage.value, event.value)
        assert set(err.allowed) == {e.value for e in TABLE.allowed(stage)}
        assert event.value not in err.allowed

    def test_trouble_free_period_steps_exactly_one_stage_down(self) -> None:
        """Recovery goes down one stage at a time, from ultimatum to satisfied."""
        stage = Stage.ultimatum
        path = [stage]
        while stage is not Stage.satisfied:
            stage = TABLE.step(stage, E.trouble_free_period_elapsed)
            path.append(stage)
        assert path == [
            S.ultimatum,
            S.escalated,
            S.monitoring_failures,
            S.voicing_discontent,
            S.recurring_problems,
            S.satisfied,
        ]

    def test_lost_is_left_only_by_a_reactivation(self) -> None:
        """In lost every allowed event but the reactivation keeps the client lost."""
        for event, target in TABLE.successors(Stage.lost).items():
            expected = Stage.satisfied if event is E.client_reactivated else Stage.lost
            assert target is expected

    def test_arbitration_closed_ends_arbitration(self) -> None:
        """Closing the proceedings returns the matter to the client's management."""
        assert TABLE.step(S.arbitration, E.arbitration_closed) is S.escalated

    def test_complaint_facts_never_move_a_client_by_themselves(self) -> None:
        """An opened, resolved or rejected complaint or a failed order keeps the stage."""
        for stage in Stage:
            for event in (
                E.complaint_opened,
                E.complaint_resolved,
                E.complaint_rejected,
                E.service_failed,
            ):
                assert TABLE.step(stage, event) is stage

    def test_problems_going_on_after_voicing_lead_to_monitoring(self) -> None:
        """Overdue or piled-up complaints move a voicing client to monitoring_failures."""
        for event in (E.complaint_opened_while_unresolved, E.service_level_breached):
            assert TABLE.step(S.satisfied, event) is S.voicing_discontent
            assert TABLE.step(S.voicing_discontent, event) is S.monitoring_failures
            assert TABLE.step(S.escalated, event) is S.escalated

    def test_a_broken_table_is_refused_listing_the_stages(self) -> None:
        """A table with a duplicate pair, an unreachable and a trap stage is refused."""
        rows = [
            (S.satisfied, E.problem_recurred, S.recurring_problems),
            (S.satisfied, E.problem_recurred, S.voicing_discontent),
            (S.recurring_problems, E.complaint_opened, S.recurring_problems),
        ]
        with pytest.raises(DefinitionError) as info:
            TransitionTable.define(
                name="broken", states=Stage, events=LifecycleEvent, initial=S.satisfied, rows=rows
            )
        err = info.value
        assert err.machine == "broken"
        message = str(err)
        assert "duplicate transition (satisfied, problem_recurred)" in message
        assert "unreachable from satisfied" in message
        assert "trap states" in message
        assert "recurring_problems" in err.states
        assert "lost" in err.states
        assert "arbitration" in message


class TestDiagram:
    def test_mermaid_lists_every_moving_row(self) -> None:
        """The Mermaid diagram has one labelled edge per (source, target) pair."""
        text = TABLE.to_mermaid()
        assert text.startswith("stateDiagram-v2\n    [*] --> satisfied\n")
        assert "    arbitration --> escalated: arbitration_closed\n" in text
        assert "    lost --> satisfied: client_reactivated\n" in text
        assert "    lost --> [*]\n" in text
        edges = {(s, t) for s, _, t in TABLE.rows if s is not t}
        assert text.count(" --> ") == len(edges) + 2

    def test_cli_prints_the_dot_diagram(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`relcycle diagram lifecycle --format dot` prints the table as DOT."""
        assert cli.main(["diagram", "lifecycle", "--format", "dot"]) == 0
        out = capsys.readouterr().out
        assert out == TABLE.to_dot()
        assert out.startswith('digraph "lifecycle" {')
        assert '"lost" [label="lost", peripheries=2];' in out
        assert '"arbitration" -> "escalated" [label="arbitration_closed"];' in out

    def test_docs_page_embeds_the_current_diagram(self) -> None:
        """The lifecycle docs page shows exactly TABLE.to_mermaid()."""
        page = (ROOT / "docs" / "lifecycle.md").read_text(encoding="utf-8")
        blocks = re.findall(r"```text\n(stateDiagram-v2\n.*?)```", page, re.DOTALL)
        assert blocks == [TABLE.to_mermaid()]


class TestPolicy:
    def test_defaults_are_documented_values(self) -> None:
        """The defaults: 3 problems in 60 days, 90 trouble-free days, SLA by severity."""
        p = LifecyclePolicy()
        assert p.recurrence_count == 3
        assert p.recurrence_window == timedelta(days=60)
        assert p.trouble_free_period == timedelta(days=90)
        assert p.service_level("C1", Severity.critical) == timedelta(days=1)
        assert p.service_level("C1", Severity.high) == timedelta(days=3)
        assert p.service_level("C1", Severity.medium) == timedelta(days=7)
        assert p.service_level("C1", Severity.low) == timedelta(days=14)

    def test_service_levels_can_be_given_in_part_and_per_client(self) -> None:
        """Severities left out keep their default; a client's own levels win for it."""
        p = LifecyclePolicy(
            service_levels={"high": timedelta(days=5)},
            client_service_levels={"C9": {Severity.high: timedelta(hours=4)}},
        )
        assert p.service_level("C1", Severity.high) == timedelta(days=5)
        assert p.service_level("C1", Severity.low) == timedelta(days=14)
        assert p.service_level("C9", Severity.high) == timedelta(hours=4)
        assert p.service_level("C9", Severity.medium) == timedelta(days=7)

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"recurrence_count": 1}, "recurrence_count"),
            ({"recurrence_window": timedelta(0)}, "recurrence_window"),
            ({"trouble_free_period": timedelta(days=-1)}, "trouble_free_period"),
            ({"service_levels": {"urgent": timedelta(days=1)}}, "service_levels"),
            ({"service_levels": {"low": timedelta(0)}}, "service_levels[low]"),
            ({"failures_recur_as": "weather"}, "failures_recur_as"),
        ],
    )
    def test_bad_values_are_refused_naming_the_field(
        self, kwargs: dict[str, Any], field: str
    ) -> None:
        """A bad threshold raises a ValidationError naming the policy field."""
        with pytest.raises(ValidationError) as info:
            LifecyclePolicy(**kwargs)
        assert info.value.record == "LifecyclePolicy"
        assert info.value.field == field

    def test_wrong_types_are_refused(self) -> None:
        """A float count or a number of days instead of a timedelta is a type error."""
        with pytest.raises(RecordTypeError):
            LifecyclePolicy(recurrence_count=3.0)  # type: ignore[arg-type]
        with pytest.raises(RecordTypeError):
            LifecyclePolicy(trouble_free_period=90)  # type: ignore[arg-type]

    def test_policy_is_immutable(self) -> None:
        """A policy cannot be changed after it is built."""
        p = LifecyclePolicy()
        with pytest.raises(AttributeError):
            p.recurrence_count = 5  # type: ignore[misc]


class TestDeriveEvents:
    def test_recurrence_needs_count_problems_within_the_window(self) -> None:
        """Three delivery complaints within 60 days recur; spread out, they do not."""
        close = history(
            complaint("c1", 0, category="delivery"),
            complaint("c2", 30, category="delivery"),
            complaint("c3", 60, category="delivery"),
        )
        assert (E.problem_recurred, ("c1", "c2", "c3")) in events_of(close, day(70))
        spread = history(
            complaint("c1", 0, category="delivery"),
            complaint("c2", 31, category="delivery"),
            complaint("c3", 61, category="delivery"),
        )
        assert all(e is not E.problem_recurred for e, _ in events_of(spread, day(70)))

    def test_recurrence_counts_one_category_at_a_time(self) -> None:
        """Three complaints of three categories are not a recurring problem."""
        h = history(
            complaint("c1", 0, category="delivery", resolved=1),
            complaint("c2", 2, category="quality", resolved=3),
            complaint("c3", 4, category="billing", resolved=5),
        )
        assert all(e is not E.problem_recurred for e, _ in events_of(h, day(10)))

    def test_late_and_cancelled_orders_are_service_failures_that_recur(self) -> None:
        """Late or cancelled orders give service_failed and count as delivery problems."""
        h = history(
            order("o1", 0, status="delivered", on_time=False),
            order("o2", 10, status="cancelled"),
            complaint("c1", 20, category="delivery", resolved=21),
            order("o3", 30, status="delivered", on_time=True),
        )
        evs = events_of(h, day(40))
        assert (E.service_failed, ("o1",)) in evs
        assert (E.service_failed, ("o2",)) in evs
        assert (E.problem_recurred, ("o1", "o2", "c1")) in evs
        assert not any("o3" in ids for _, ids in evs)
        off = events_of(h, day(40), failures_recur_as=None, cancelled_orders_fail=False)
        assert (E.service_failed, ("o2",)) not in off
        assert all(e is not E.problem_recurred for e, _ in off)

    def test_a_complaint_with_a_client_loss_is_a_loss_suffered(self) -> None:
        """A complaint whose client lost money gives loss_suffered; zero loss does not."""
        h = history(
            complaint("c1", 0, client_loss=Decimal(1500), currency="EUR", resolved=2),
            complaint("c2", 5, client_loss=Decimal(0), resolved=6),
        )
        evs = derive_events(h, as_of=day(10))
        losses = [r for r in evs if r.event is E.loss_suffered]
        assert [r.record_ids for r in losses] == [("c1",)]
        assert "1,500 EUR" in losses[0].detail

    def test_a_new_complaint_while_others_are_open(self) -> None:
        """A complaint opened while earlier ones are unresolved names all of them."""
        h = history(
            complaint("c1", 0),
            complaint("c2", 1, resolved=2),
            complaint("c3", 3),
        )
        evs = events_of(h, day(4), service_levels={"medium": timedelta(days=30)})
        assert (E.complaint_opened_while_unresolved, ("c2", "c1")) in evs
        assert (E.complaint_opened_while_unresolved, ("c3", "c1")) in evs

    def test_a_complaint_resolved_at_the_moment_another_opens_is_closed(self) -> None:
        """A resolution at the same moment as a new complaint counts as done before it."""
        h = history(complaint("c1", 0, resolved=3), complaint("c2", 3))
        assert all(e is not E.complaint_opened_while_unresolved for e, _ in events_of(h, day(4)))

    def test_service_level_breach_is_dated_at_the_deadline(self) -> None:
        """Past the service level is a moment: opened_at + level, if still open then."""
        h = history(
            complaint("c1", 0, severity="high"),
            complaint("c2", 10, severity="high", resolved=13),
            complaint("c3", 20, severity="high", resolved=23.5),
        )
        breaches = [
            r for r in derive_events(h, as_of=day(30)) if r.event is E.service_level_breached
        ]
        assert [(r.at, r.record_ids) for r in breaches] == [
            (day(3), ("c1",)),
            (day(23), ("c3",)),
        ]

    def test_service_level_breach_waits_for_as_of(self) -> None:
        """Before its deadline a complaint is not past its service level."""
        h = history(complaint("c1", 0, severity="high"))
        assert (E.service_level_breached, ("c1",)) not in events_of(h, day(2.9))
        assert (E.service_level_breached, ("c1",)) in events_of(h, day(3))

    def test_client_specific_service_level(self) -> None:
        """A client's own service level decides when its complaints are overdue."""
        h = history(complaint("c1", 0, severity="low"))
        levels = {"C1": {"low": timedelta(days=2)}}
        assert (E.service_level_breached, ("c1",)) in events_of(
            h, day(2), client_service_levels=levels
        )
        assert (E.service_level_breached, ("c1",)) not in events_of(h, day(2))

    def test_lifecycle_interactions_become_their_events(self) -> None:
        """Escalation, ultimatum, arbitration and termination interactions map to events."""
        h = history(
            interaction("i1", 1, "escalation"),
            interaction("i2", 2, "ultimatum"),
            interaction("i3", 3, "arbitration"),
            interaction("i4", 4, "termination", reason="competitor"),
            interaction("i5", 5, "inquiry"),
        )
        assert events_of(h, day(10)) == [
            (E.escalation_received, ("i1",)),
            (E.ultimatum_received, ("i2",)),
            (E.arbitration_opened, ("i3",)),
            (E.relationship_terminated, ("i4",)),
        ]

    def test_management_complaint_is_an_escalation(self) -> None:
        """A complaint raised to the client's management escalates at its opening."""
        h = history(complaint("c1", 5, escalated_to="management", resolved=6))
        assert (E.escalation_received, ("c1",)) in events_of(h, day(7))
        assert (E.escalation_received, ("c1",)) not in events_of(
            h, day(7), management_complaints_escalate=False
        )

    def test_trouble_free_period_elapses_at_its_moment(self) -> None:
        """The trouble-free event is dated when the period ends, and only up to as_of."""
        h = history(
            complaint("c1", 0, category="delivery", resolved=1),
            complaint("c2", 1, category="delivery", resolved=2),
            complaint("c3", 2, category="delivery", resolved=10),
        )
        evs = derive_events(h, as_of=day(100))
        assert [r.at for r in evs if r.event is E.trouble_free_period_elapsed] == [day(100)]
        assert not any(
            r.event is E.trouble_free_period_elapsed for r in derive_events(h, as_of=day(99))
        )

    def test_an_open_complaint_holds_recovery_back(self) -> None:
        """While a complaint stays open no trouble-free period elapses."""
        h = history(
            complaint("c1", 0, category="delivery", resolved=1),
            complaint("c2", 1, category="delivery", resolved=2),
            complaint("c3", 2, category="delivery", severity="low"),
        )
        a = assess(h, as_of=day(400))
        assert not any(s.event is E.trouble_free_period_elapsed for s in a.trajectory.steps)

    def test_records_after_as_of_are_ignored(self) -> None:
        """Nothing after as_of counts, not even a resolution dated after it."""
        h = history(complaint("c1", 0, resolved=20), interaction("i1", 15, "escalation"))
        evs = events_of(h, day(10), service_levels={"medium": timedelta(days=30)})
        assert evs == [(E.complaint_opened, ("c1",))]

    def test_naive_as_of_is_refused(self) -> None:
        """as_of must be timezone-aware."""
        with pytest.raises(ValidationError):
            derive_events(history(), as_of=datetime(2026, 1, 1))

    def test_derived_events_always_replay(self) -> None:
        """The derived stream folds through TABLE without error, oldest first."""
        h = history(
            interaction("i1", 0, "arbitration_closed"),
            interaction("i2", 1, "reactivation"),
            interaction("i3", 2, "termination"),
            interaction("i4", 3, "termination"),
            interaction("i5", 4, "escalation"),
        )
        evs = derive_events(h, as_of=day(10))
        assert [r.at for r in evs] == sorted(r.at for r in evs)
        assert TABLE.fold(evs).state is Stage.lost


class TestScenarios:
    def test_satisfied_to_lost_through_every_stage(self) -> None:
        """The seed's path: recurring problems, losses, monitoring, escalation, ultimatum, loss."""
        h = history(
            complaint("c1", 0, category="delivery", resolved=2),
            complaint("c2", 20, category="delivery", resolved=22),
            complaint("c3", 40, category="delivery", resolved=42),
            complaint("c4", 50, category="quality", client_loss=Decimal(1500), currency="EUR"),
            complaint("c5", 52, category="quality", severity="high", resolved=70),
            interaction("i1", 80, "escalation"),
            interaction("i2", 100, "ultimatum"),
            interaction("i3", 120, "termination", reason="competitor"),
        )
        a = assess(h, as_of=day(130))
        path = [(s.at, s.target) for s in a.trajectory.transitions]
        assert path == [
            (day(40), S.recurring_problems),
            (day(50), S.voicing_discontent),
            (day(52), S.monitoring_failures),
            (day(80), S.escalated),
            (day(100), S.ultimatum),
            (day(120), S.lost),
        ]
        assert a.stage is S.lost
        assert a.since == day(120)
        assert a.loss_reason is LossReason.competitor
        assert a.evidence.record_ids == ("i3",)
        assert [a.stage_at(day(n)) for n in (39, 40, 51, 60, 90, 110)] == [
            S.satisfied,
            S.recurring_problems,
            S.voicing_discontent,
            S.monitoring_failures,
            S.escalated,
            S.ultimatum,
        ]

    def test_a_client_recovers_when_problems_stay_resolved(self) -> None:
        """Each trouble-free period steps the client down until it is satisfied again."""
        h = history(
            complaint("c1", 0, category="delivery", resolved=5),
            complaint("c2", 10, category="delivery", resolved=15),
            complaint("c3", 20, category="delivery", client_loss=Decimal(200), resolved=25),
        )
        a = assess(h, as_of=day(300))
        assert [(s.at, s.target) for s in a.trajectory.transitions] == [
            (day(20), S.recurring_problems),
            (day(20), S.voicing_discontent),
            (day(115), S.recurring_problems),
            (day(205), S.satisfied),
        ]
        assert a.stage is S.satisfied
        assert a.since == day(205)
        assert a.evidence.record_ids == ("c3",)
        assert a.stage_at(day(200)) is S.recurring_problems

    def test_new_trouble_restarts_the_trouble_free_period(self) -> None:
        """A problem during the period resets the clock of the recovery."""
        records = [
            complaint("c1", 0, category="delivery", resolved=1),
            complaint("c2", 1, category="delivery", resolved=2),
            complaint("c3", 2, category="delivery", resolved=3),
        ]
        assert assess(history(*records), as_of=day(93)).stage is S.satisfied
        h = history(*records, order("o1", 60, status="cancelled"))
        a = assess(h, as_of=day(149))
        assert a.stage is S.recurring_problems
        assert [s.at for s in a.trajectory.transitions] == [day(2)]
        assert assess(h, as_of=day(150)).stage is S.satisfied

    def test_a_client_lost_with_its_manager(self) -> None:
        """Seed 004: the client leaves with a departing manager, straight from satisfied."""
        h = history(
            order("o1", 0),
            interaction("i1", 30, "termination", reason="manager_left", handled_by="m7"),
        )
        a = assess(h, as_of=day(40))
        assert a.stage is S.lost
        assert a.loss_reason is LossReason.manager_left
        assert [s.source for s in a.trajectory.transitions] == [S.satisfied]
        losses = loss_analysis([h], as_of=day(40))
        assert losses.counts()[LossReason.manager_left] == 1
        assert losses.losses[0].trouble_to_loss is None

    def test_a_reactivated_client_starts_a_new_episode(self) -> None:
        """A reactivation after lost starts episode 2 and keeps the old one in the history."""
        h = history(
            interaction("i1", 0, "escalation"),
            interaction("i2", 10, "termination", reason="price"),
            interaction("i3", 200, "reactivation"),
            complaint("c1", 210, resolved=211),
        )
        a = assess(h, as_of=day(220))
        assert a.stage is S.satisfied
        assert a.episode == 2
        assert a.loss_reason is None
        assert a.since == day(200)
        assert a.evidence.record_ids == ("i3",)
        assert a.stage_at(day(100)) is S.lost
        assert [s.target for s in a.trajectory.transitions] == [S.escalated, S.lost, S.satisfied]
        assert "new episode" in a.explain()

    def test_orders_after_a_termination_win_the_client_back_by_the_policy(self) -> None:
        """After a termination, reactivation_sales sales within the window are a win-back."""
        h = history(
            interaction("i1", 0, "termination", reason="quality"),
            order("o1", 50),
            order("o2", 70),
            order("o3", 100),
        )
        assert assess(h, as_of=day(60)).stage is S.lost
        back = assess(h, as_of=day(100))
        assert back.stage is S.satisfied
        assert back.evidence.record_ids == ("o1", "o2", "o3")
        assert "3 orders within 90 days after the termination" in back.evidence.reason
        one = LifecyclePolicy(reactivation_sales=1)
        assert assess(h, as_of=day(60), policy=one).stage is S.satisfied
        off = LifecyclePolicy(reactivate_on_sale=False)
        assert assess(h, as_of=day(100), policy=off).stage is S.lost

    def test_arbitration_and_its_close(self) -> None:
        """Arbitration is entered from anywhere and its close returns to escalated."""
        h = history(
            interaction("i1", 0, "arbitration"),
            interaction("i2", 30, "arbitration_closed"),
        )
        a = assess(h, as_of=day(30))
        assert [s.target for s in a.trajectory.transitions] == [S.arbitration, S.escalated]
        assert assess(h, as_of=day(29)).stage is S.arbitration
        assert assess(h, as_of=day(120)).stage is S.monitoring_failures

    def test_no_recovery_while_in_arbitration(self) -> None:
        """Time alone does not end arbitration."""
        h = history(interaction("i1", 0, "arbitration"))
        assert assess(h, as_of=day(1000)).stage is S.arbitration

    def test_a_client_that_leaves_and_sues_stays_lost(self) -> None:
        """Proceedings opened after a termination do not revive the relationship."""
        h = history(
            interaction("i1", 0, "termination", reason="quality"),
            interaction("i2", 5, "arbitration"),
            interaction("i3", 50, "arbitration_closed"),
        )
        a = assess(h, as_of=day(60))
        assert a.stage is S.lost
        assert a.anomalies == ()
        assert a.loss_reason is LossReason.quality


class TestAssessment:
    def test_satisfied_client_with_no_trouble(self) -> None:
        """A client with only orders is satisfied, never moved, with no risk."""
        a = assess(history(order("o1", 0), order("o2", 30)), as_of=day(40))
        assert a.stage is S.satisfied
        assert a.since is None
        assert a.trajectory.steps == ()
        assert a.recurring_problems is None
        assert a.evidence.record_ids == ()
        assert a.episode == 1

    def test_explain_of_a_client_that_never_moved(self) -> None:
        """explain() of a never-moved client says so once and lists the moves out."""
        text = assess(history(complaint("c1", 0, resolved=1)), as_of=day(5)).explain()
        assert text.splitlines()[:2] == [
            "client C1 as of 2026-01-06: satisfied",
            "- satisfied: no recurring problem, loss, escalation or termination as of 2026-01-06",
        ]
        assert text.splitlines()[-1].startswith("next: problem_recurred -> recurring_problems")

    def test_termination_without_reason_counts_as_other(self) -> None:
        """A lost client with no recorded reason gets `other`, and the evidence says why."""
        a = assess(history(interaction("i1", 0, "termination")), as_of=day(1))
        assert a.loss_reason is LossReason.other
        assert "no reason recorded" in a.evidence.reason

    def test_next_events_are_the_moves_out_of_the_stage(self) -> None:
        """next_events lists the events that change the stage, in enum order."""
        a = assess(history(interaction("i1", 0, "escalation")), as_of=day(1))
        assert a.next_events() == (
            E.ultimatum_received,
            E.arbitration_opened,
            E.trouble_free_period_elapsed,
            E.relationship_terminated,
            E.relationship_lapsed,
        )
        lost = assess(history(interaction("i1", 0, "termination")), as_of=day(1))
        assert lost.next_events() == (E.client_reactivated,)

    def test_stray_records_are_anomalies_not_silent(self) -> None:
        """A record whose event the stage refuses is reported and left out of the replay."""
        h = history(interaction("i1", 3, "arbitration_closed"), interaction("i2", 4, "escalation"))
        a = assess(h, as_of=day(5))
        assert a.stage is S.escalated
        assert [x.record_ids for x in a.anomalies] == [("i1",)]
        assert "not allowed in stage satisfied" in a.anomalies[0].reason
        assert "anomaly:" in a.explain()

    def test_strict_policy_raises_naming_the_record(self) -> None:
        """With strict=True a stray record raises IllegalTransitionError noting its id."""
        h = history(interaction("i1", 3, "reactivation"))
        with pytest.raises(IllegalTransitionError) as info:
            assess(h, as_of=day(5), policy=LifecyclePolicy(strict=True))
        assert info.value.state == "satisfied"
        assert info.value.event == "client_reactivated"
        assert any("i1" in note for note in info.value.__notes__)

    def test_recurring_problems_flag_looks_at_the_window_ending_now(self) -> None:
        """The stage-1 signature is reported while it lies in the window before as_of."""
        h = history(
            complaint("c1", 0, category="billing", resolved=1),
            complaint("c2", 10, category="billing", resolved=11),
            complaint("c3", 20, category="billing", resolved=21),
            complaint("c4", 25, category="quality", client_loss=Decimal(80), resolved=26),
        )
        flag = assess(h, as_of=day(30)).recurring_problems
        assert flag is not None
        assert flag.record_ids == ("c1", "c2", "c3", "c4")
        assert "3 billing problems within 60 days" in flag.reason
        assert "80 USD" in flag.reason
        assert assess(h, as_of=day(90)).recurring_problems is None

    def test_time_in_stages_adds_up(self) -> None:
        """The time spent in each stage adds up to the span from the first event."""
        h = history(interaction("i1", 10, "escalation"), interaction("i2", 40, "ultimatum"))
        spent = assess(h, as_of=day(50)).time_in_stages()
        assert spent == {
            S.satisfied: timedelta(0),
            S.escalated: timedelta(days=30),
            S.ultimatum: timedelta(days=10),
        }

    def test_to_dict_is_json_ready(self) -> None:
        """to_dict carries the stage, evidence and transitions as plain values."""
        import json

        h = history(interaction("i1", 10, "termination", reason="service"))
        data = assess(h, as_of=day(20)).to_dict()
        assert json.loads(json.dumps(data)) == data
        assert data["stage"] == "lost"
        assert data["loss_reason"] == "service"
        assert data["transitions"][0]["record_ids"] == ["i1"]

    def test_replay_matches_assess(self) -> None:
        """replay() returns the assessment's trajectory."""
        h = history(complaint("c1", 0, severity="critical"), interaction("i1", 4, "ultimatum"))
        assert replay(h, as_of=day(5)) == assess(h, as_of=day(5)).trajectory


class TestTheClientsServiceLevels:
    """One rule of a complaint's service level: the policy's per-client level, the
    client's own ``sla_*`` attributes, the policy's default."""

    def client(self, **attributes: str) -> Client:
        """Client C1 with ``attributes``."""
        return Client(client_id="C1", attributes=attributes)

    def test_the_order_of_the_sources(self) -> None:
        """Per-client policy first, then the client's attribute, then the default."""
        own = self.client(sla_high="0.5", sla_low="30")
        p = LifecyclePolicy(client_service_levels={"C1": {"high": timedelta(days=2)}})
        assert p.service_level(own, Severity.high) == timedelta(days=2)
        assert p.service_level(own, Severity.low) == timedelta(days=30)
        assert p.service_level(own, Severity.medium) == timedelta(days=7)
        assert p.service_level("C1", Severity.low) == timedelta(days=14)  # an id: no attributes
        off = LifecyclePolicy(sla_attribute_prefix=None)
        assert off.service_level(own, Severity.low) == timedelta(days=14)

    def test_the_lifecycle_reads_the_clients_own_level(self) -> None:
        """A medium complaint open 3 days is past a client's own 2-day level.

        The default level is 7 days: the lifecycle would say ``satisfied``.
        """
        records = [complaint("c1", 0, severity="medium")]
        strict = ClientHistory.of(self.client(sla_medium="2"), records)
        a = assess(strict, as_of=day(3))
        assert a.stage is S.voicing_discontent
        assert a.since == day(2)
        assert a.overdue is not None
        assert a.overdue.record_ids == ("c1",)
        assert "past the client's service level" in a.explain()
        assert assess(history(*records), as_of=day(3)).stage is S.satisfied

    def test_a_bad_attribute_names_the_client_and_the_attribute(self) -> None:
        """An attribute that is not a positive number of days is refused once a
        complaint needs it; a client without complaints never reads it."""
        bad = self.client(sla_high="soon")
        with pytest.raises(ValidationError, match=r"attributes\.sla_high") as caught:
            assess(ClientHistory.of(bad, [complaint("c1", 0)]), as_of=day(3))
        assert caught.value.record_id == "C1"
        assert assess(ClientHistory.of(bad, [order("o1", 0)]), as_of=day(3)).stage is S.satisfied

    def test_a_bad_prefix_is_refused(self) -> None:
        """The attribute prefix is a non-empty string or None."""
        with pytest.raises(RecordTypeError, match="sla_attribute_prefix"):
            LifecyclePolicy(sla_attribute_prefix="")


class TestSeed000HiddenProblems:
    """Rejected claims, the complaint's escalation field, and facts absorbed by a
    worse stage (seed 000)."""

    def claims(self, status: str) -> list[Complaint]:
        """Five high-severity quality claims a month apart, each closed in 2 days."""
        return [
            complaint(f"q{k}", 30 * k, category="quality", severity="high", status=status,
                      resolved_at=day(30 * k + 2))
            for k in range(5)
        ]  # fmt: skip

    def test_rejected_claims_are_not_fixes(self) -> None:
        """Five rejected high-severity claims do not end in a plain ``satisfied``.

        Each claim after the first was opened while an earlier rejected one was
        unresolved: the client voiced, then its failures went on. 98 days after
        the last rejection it has stepped down once, to ``voicing_discontent``,
        and carries the recurring-problems risk.
        """
        a = assess(history(*self.claims("rejected")), as_of=day(220))
        assert a.stage is S.voicing_discontent
        assert a.stage_at(day(100)) is S.monitoring_failures
        text = a.explain()
        assert "complaint q1 opened while q0 (rejected) unresolved" in text
        assert "q0 rejected (2 days): not a fix" not in text  # a rejection moves nothing itself
        from relcycle.segmentation.risks import RiskFlag, assess_risks

        flags = {r.flag for r in assess_risks(history(*self.claims("rejected")), as_of=day(220))}
        assert RiskFlag.recurring_problems in flags

    def test_resolved_claims_are_fixes(self) -> None:
        """The same five claims resolved: the client recovers to ``satisfied``."""
        assert assess(history(*self.claims("resolved")), as_of=day(220)).stage is S.satisfied

    def test_the_rejection_memory_is_a_knob(self) -> None:
        """A rejection remembered for one day is a fix after that day."""
        policy = LifecyclePolicy(rejection_memory=timedelta(days=1))
        a = assess(history(*self.claims("rejected")), as_of=day(220), policy=policy)
        assert a.stage is S.satisfied

    def test_a_rejected_claim_holds_off_the_recovery(self) -> None:
        """While a rejected claim is unresolved the client does not step down."""
        records = [complaint(f"d{k}", k, category="delivery", resolved=k + 1) for k in range(3)] + [
            complaint("r", 10, status="rejected", resolved_at=day(11))
        ]
        policy = LifecyclePolicy(rejection_memory=timedelta(days=200))
        assert assess(history(*records), as_of=day(150)).stage is S.satisfied
        held = assess(history(*records), as_of=day(150), policy=policy)
        assert held.stage is S.recurring_problems
        assert assess(history(*records), as_of=day(211), policy=policy).stage is S.satisfied

    def test_staff_escalation_means_monitoring_failures(self) -> None:
        """A complaint the client's staff took up puts the client in stage 2 at once."""
        h = history(complaint("c1", 0, escalated_to="staff", resolved=1))
        a = assess(h, as_of=day(5))
        assert a.stage is S.monitoring_failures
        assert a.evidence.record_ids == ("c1",)
        assert "taken up by the client's staff" in a.explain()
        off = LifecyclePolicy(staff_complaints_monitor=False)
        assert assess(h, as_of=day(5), policy=off).stage is S.satisfied
        worse = history(interaction("e", 0, "escalation"), complaint("c1", 1, escalated_to="staff"))
        assert assess(worse, as_of=day(5)).stage is S.escalated

    def test_explain_keeps_facts_absorbed_by_a_worse_stage(self) -> None:
        """An 18,000 loss and three recurring complaints after an escalation are explained."""
        h = history(
            interaction("e1", 0, "escalation"),
            complaint("k1", 10, category="quality", resolved=11),
            complaint("k2", 20, category="quality", resolved=21),
            complaint(
                "k3", 30, category="quality", client_loss=Decimal(18000), currency="EUR",
                resolved=31,
            ),
        )  # fmt: skip
        a = assess(h, as_of=day(40))
        assert a.stage is S.escalated
        assert [s.target for s in a.trajectory.transitions] == [S.escalated]
        text = a.explain()
        assert (
            "while escalated, 2026-01-31: 3 quality problems within 60 days: "
            "complaints k1, k2, k3" in text
        )
        assert "while escalated, 2026-01-31: complaint k3: client loss 18,000 EUR" in text

    def test_explain_counts_what_it_does_not_list(self) -> None:
        """Past five facts of one kind in one stage, the rest are counted."""
        records: list[Complaint | Interaction | Order] = [interaction("e1", 0, "escalation")]
        records += [
            complaint(f"k{n}", 1 + n, client_loss=Decimal(1), resolved=1 + n) for n in range(8)
        ]
        text = assess(history(*records), as_of=day(20)).explain()
        listed = [x for x in text.splitlines() if x.startswith("  while escalated, ")]
        assert sum(1 for x in listed if "client loss" in x) == 5
        assert "while escalated: 3 more loss_suffered" in text


class TestLossAnalysis:
    def test_losses_with_reasons_paths_and_durations(self) -> None:
        """Each loss has its reason, the path of stages with durations, and counts add up."""

        def c(cid: str, client: str, at: float, **kw: Any) -> Complaint:
            return Complaint(complaint_id=cid, client_id=client, opened_at=day(at), **kw)

        def i(iid: str, client: str, at: float, purpose: str, **kw: Any) -> Interaction:
            return Interaction(
                interaction_id=iid, client_id=client, at=day(at), purpose=purpose, **kw
            )

        portfolio = build_portfolio(
            orders=[Order(order_id="o1", client_id="A", placed_at=day(0), amount=Decimal(5))],
            interactions=[
                i("i1", "B", 10, "escalation"),
                i("i2", "B", 40, "termination", reason="competitor"),
                i("i3", "C", 5, "termination"),
                i("i4", "C", 100, "reactivation"),
                i("i5", "D", 50, "termination", reason="competitor"),
            ],
            complaints=[
                c("c1", "B", 0, client_loss=Decimal(10), status="resolved", resolved_at=day(1))
            ],
        )
        result = loss_analysis(portfolio, as_of=day(120))
        assert result.clients == 4
        assert [(x.client_id, x.reason) for x in result.losses] == [
            ("C", LossReason.other),
            ("B", LossReason.competitor),
            ("D", LossReason.competitor),
        ]
        assert result.lost_clients == ("B", "D")
        counts = result.counts()
        assert counts[LossReason.competitor] == 2
        assert counts[LossReason.other] == 1
        assert result.counts(current_only=True)[LossReason.other] == 0
        b = result.losses[1]
        assert [(leg.stage, leg.entered, leg.duration) for leg in b.path] == [
            (S.satisfied, day(0), timedelta(0)),
            (S.voicing_discontent, day(0), timedelta(days=10)),
            (S.escalated, day(10), timedelta(days=30)),
        ]
        assert b.trouble_to_loss == timedelta(days=40)
        assert b.evidence.record_ids[0] == "i2"
        assert "c1" in b.evidence.record_ids
        c_loss = result.losses[0]
        assert c_loss.reason_recorded is False
        assert c_loss.won_back_at == day(100)
        assert result.to_dict()["counts"]["competitor"] == 2


class TestWorkedExample:
    def test_the_docs_example_prints_what_the_page_shows(self) -> None:
        """The worked example on docs/lifecycle.md gives exactly the explain() shown."""
        page = (ROOT / "docs" / "lifecycle.md").read_text(encoding="utf-8")
        code = re.search(r"<!-- example -->\n```python\n(.*?)```", page, re.DOTALL)
        shown = re.search(r"<!-- explain -->\n```text\n(.*?)```", page, re.DOTALL)
        assert code is not None
        assert shown is not None
        namespace: dict[str, Any] = {}
        exec(compile(code.group(1), "lifecycle.md", "exec"), namespace)
        assert namespace["assessment"].explain() + "\n" == shown.group(1)


# --------------------------------------------------------------------------- properties

PURPOSES = ["escalation", "ultimatum", "arbitration", "arbitration_closed", "termination"]
PURPOSES += ["reactivation", "inquiry"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Complaint | Interaction | Order], datetime]:
    """Random records of client C1 on a coarse day grid (so moments often coincide)."""
    records: list[Complaint | Interaction | Order] = []
    n = draw(st.integers(0, 14))
    for k in range(n):
        kind = draw(st.sampled_from(["complaint", "complaint", "interaction", "order"]))
        at = draw(st.integers(0, 300)) / 2
        if kind == "complaint":
            closed = draw(st.one_of(st.none(), st.integers(0, 120)))
            kw: dict[str, Any] = {
                "category": draw(st.sampled_from(["delivery", "quality", "billing"])),
                "severity": draw(st.sampled_from(list(Severity))),
                "escalated_to": draw(st.sampled_from(["none", "staff", "management"])),
            }
            if draw(st.booleans()):
                kw["client_loss"] = Decimal(draw(st.integers(0, 3)))
            if closed is not None:
                kw["status"] = draw(st.sampled_from(["resolved", "rejected"]))
                kw["resolved_at"] = day(at + closed)
            records.append(complaint(f"c{k}", at, **kw))
        elif kind == "interaction":
            purpose = draw(st.sampled_from(PURPOSES))
            reason = (
                draw(st.sampled_from([None, *TERMINATION_REASONS]))
                if purpose == "termination"
                else None
            )
            records.append(interaction(f"i{k}", at, purpose, reason=reason))
        else:
            status = draw(st.sampled_from(["placed", "delivered", "cancelled", "planned"]))
            on_time = draw(st.sampled_from([None, True, False]))
            records.append(order(f"o{k}", at, status=status, on_time=on_time))
    as_of = day(draw(st.integers(0, 500)) / 2)
    return records, as_of


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class TestProperties:
    @PROPS
    @given(histories())
    def test_assess_never_raises_and_replays(self, drawn: Any) -> None:
        """Any valid history assesses without error; its events fold to the same stage."""
        records, as_of = drawn
        h = ClientHistory.of("C1", records)
        a = assess(h, as_of=as_of)
        assert TABLE.fold(derive_events(h, as_of=as_of)).state is a.stage
        assert a.stage_at(as_of) is a.stage
        assert (a.loss_reason is not None) == (a.stage is Stage.lost)

    @PROPS
    @given(histories(), st.randoms(use_true_random=False))
    def test_input_order_does_not_matter(self, drawn: Any, rnd: random.Random) -> None:
        """Shuffling the records (same-moment ones included) gives the same assessment."""
        records, as_of = drawn
        shuffled = list(records)
        rnd.shuffle(shuffled)
        a = assess(ClientHistory.of("C1", records), as_of=as_of)
        b = assess(ClientHistory.of("C1", shuffled), as_of=as_of)
        assert a == b
        assert a.explain() == b.explain()

    @PROPS
    @given(histories(), st.integers(0, 500))
    def test_stage_as_of_t_depends_only_on_records_up_to_t(self, drawn: Any, half: int) -> None:
        """The stage at t is the same from the full history and from what was known at t."""
        records, as_of = drawn
        t = min(day(half / 2), as_of)
        full = assess(ClientHistory.of("C1", records), as_of=as_of)
        known = assess(ClientHistory.of("C1", known_at(records, t)), as_of=t)
        assert full.stage_at(t) is known.stage
        assert full.trajectory.until(t) == known.trajectory

    @PROPS
    @given(
        histories(),
        st.integers(0, 500),
        st.sampled_from([5, 30, 90]),
        st.booleans(),
        st.booleans(),
    )
    def test_a_saved_state_and_the_later_records_give_the_full_replay(
        self, drawn: Any, half: int, quiet_days: int, recur_as: bool, escalate: bool
    ) -> None:
        """Run on what was known at t, save as JSON, resume with today's records: full replay."""
        records, as_of = drawn
        t = min(day(half / 2), as_of)
        policy = LifecyclePolicy(
            trouble_free_period=timedelta(days=quiet_days),
            failures_recur_as="delivery" if recur_as else None,
            management_complaints_escalate=escalate,
        )
        full = MACHINE.run(ClientHistory.of("C1", records), as_of=as_of, policy=policy)
        then = MACHINE.run(ClientHistory.of("C1", known_at(records, t)), as_of=t, policy=policy)
        saved = MachineState.from_dict(json.loads(json.dumps(then.state.to_dict())), MACHINE)
        assert saved == then.state
        rest = MACHINE.resume(saved, records, as_of=as_of, policy=policy)
        assert rest.state == full.state
        assert then.trajectory.steps + rest.trajectory.steps == full.trajectory.steps
        assert then.anomalies + rest.anomalies == full.anomalies
        a = assess(ClientHistory.of("C1", records), as_of=as_of, policy=policy)
        assert a.stage is rest.state.state
        assert a.trajectory == full.trajectory

    @PROPS
    @given(histories())
    def test_lost_is_left_only_by_a_reactivation(self, drawn: Any) -> None:
        """Every step out of lost is a reactivation; episodes count the reactivations."""
        records, as_of = drawn
        a = assess(ClientHistory.of("C1", records), as_of=as_of)
        for step in a.trajectory.transitions:
            if step.source is Stage.lost:
                assert step.event is E.client_reactivated
        reactivations = sum(1 for s in a.trajectory.steps if s.event is E.client_reactivated)
        assert a.episode == 1 + reactivations

    @PROPS
    @given(histories())
    def test_every_transition_carries_record_ids(self, drawn: Any) -> None:
        """Every step names the records behind it and its moment is not after as_of."""
        records, as_of = drawn
        a = assess(ClientHistory.of("C1", records), as_of=as_of)
        ids = {r.id for r in records}
        for step in a.trajectory.steps:
            assert step.record_ids
            assert set(step.record_ids) <= ids
            assert step.at <= as_of

    def test_event_record_is_a_fold_input(self) -> None:
        """A derived event is the (at, event, record_ids, detail) tuple the fold reads."""
        r = LifecycleEventRecord(day(0), E.escalation_received, ("i1",), "x")
        assert TABLE.fold([r]).steps[0].record_ids == ("i1",)


class TestWithLibraryStrategies:
    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def test_time_travel_is_consistent_across_zones(self, data: st.DataObject) -> None:
        """Across time zones and DST, the trajectory up to t is the assessment as of t."""
        from relcycle.testing import histories as library_histories

        h = data.draw(library_histories(max_records=14))
        moments = sorted({r.at for r in h.records()})
        if not moments:
            assert assess(h, as_of=T0).stage is Stage.satisfied
            return
        end = moments[-1] + timedelta(days=400)
        full = assess(h, as_of=end)
        t = data.draw(st.sampled_from(moments))
        then = assess(h, as_of=t)
        assert full.trajectory.until(t) == then.trajectory
        assert full.stage_at(t) is then.stage
        assert TABLE.fold(derive_events(h, as_of=end)) == full.trajectory


# --------------------------------------------------------------------------- the decider


class TestTheLifecycleAsADecider:
    def test_triggers_are_declared_as_data(self) -> None:
        """Each trigger names its rule, kind, moment field and guard."""
        by_kind = {t.kind: t for t in TRIGGERS}
        assert by_kind["complaint_closed"].at == "resolved_at"
        assert by_kind["sale"].rule.name == "sale"
        assert by_kind["sale"].states is None  # every sale moves the lapse clock
        assert by_kind["failed_order"].rule.name == "failed_order"
        assert {"escalation", "ultimatum", "termination", "reactivation"} <= set(by_kind)
        assert MACHINE.table is TABLE
        assert MACHINE.timer_kinds == {
            "service_level_due",
            "trouble_free_period_due",
            "rejection_memory_due",
            "lapse_due",
        }

    def test_the_service_level_and_the_trouble_free_period_are_timers(self) -> None:
        """An open complaint holds its service-level timer; a quiet stage its step-down one."""
        h = history(
            complaint("c1", 0, severity="high", resolved=10),
            complaint("c2", 1, severity="high", resolved=2),
            complaint("c3", 2, severity="high"),
        )
        run = MACHINE.run(h, as_of=day(2.5), policy=LifecyclePolicy())
        assert [(t.kind, t.key, t.at) for t in run.state.timers] == [
            ("service_level_due", "c1", day(3)),
            ("service_level_due", "c3", day(5)),
        ]
        assert run.state.memory.open == ("c1", "c3")
        later = MACHINE.resume(run.state, h, as_of=day(11), policy=LifecyclePolicy())
        assert [s.event for s in later.trajectory.steps] == [
            E.service_level_breached,
            E.service_level_breached,
            E.complaint_resolved,
        ]
        assert later.state.state is S.monitoring_failures
        assert later.state.memory.open == ("c3",)
        assert [t.kind for t in later.state.timers] == []  # c3 is open: no quiet period

    def test_a_saved_state_reads_back_from_json(self) -> None:
        """The state, memory included, survives JSON; a broken memory is a clear error."""
        h = history(
            complaint("c1", 0, category="delivery", client_loss=Decimal(5)),
            order("o1", 1, status="delivered", on_time=False),
            interaction("i1", 2, "termination", reason="competitor"),
        )
        state = MACHINE.run(h, as_of=day(3), policy=LifecyclePolicy()).state
        text = json.dumps(state.to_dict())
        back = MachineState.from_dict(json.loads(text), MACHINE)
        assert back == state
        assert back.memory.reasons == (("i1", LossReason.competitor),)
        assert back.memory.recent[0][0][1] == "c1"
        with pytest.raises(UsageError, match="not a saved lifecycle memory"):
            LifecycleMemory.from_dict({"open": []})

    def test_assess_is_the_machines_run(self) -> None:
        """assess, replay and derive_events read one run of MACHINE."""
        h = history(
            complaint("c1", 0),
            complaint("c2", 1),
            interaction("i1", 5, "reactivation"),
        )
        run = MACHINE.run(h, as_of=day(200), policy=LifecyclePolicy())
        a = assess(h, as_of=day(200))
        assert a.trajectory == run.trajectory == replay(h, as_of=day(200))
        assert a.anomalies == run.anomalies
        assert len(a.anomalies) == 1
        events = derive_events(h, as_of=day(200))
        assert all(type(e) is LifecycleEventRecord for e in events)
        assert events == run.events


# --------------------------------------------------------------------------- lost means lost


def monthly(first: int, count: int, prefix: str = "o") -> list[Order]:
    """``count`` orders 30 days apart from day ``first``."""
    return [order(f"{prefix}{n}", first + 30 * n) for n in range(count)]


class TestTrailingActivityAfterATermination:
    def test_trailing_orders_keep_a_terminated_client_lost_and_are_surfaced(self) -> None:
        """Two orders after a termination are trailing activity: lost, flagged, explained."""
        h = history(
            *monthly(0, 6),
            interaction("t1", 160, "termination", reason="competitor"),
            order("late1", 170),
            order("late2", 185),
        )
        a = assess(h, as_of=day(200))
        assert a.stage is S.lost
        assert a.loss_reason is LossReason.competitor
        assert a.activity_after_loss is not None
        assert a.activity_after_loss.record_ids == ("late1", "late2")
        assert "2 sales (late1, late2)" in a.activity_after_loss.reason
        assert "still lost" in a.activity_after_loss.reason
        assert "activity after the loss" in a.explain()
        assert a.to_dict()["activity_after_loss"]["record_ids"] == ["late1", "late2"]

    def test_sales_spread_wider_than_the_window_do_not_win_back(self) -> None:
        """Only reactivation_sales sales within reactivation_window count as a win-back."""
        h = history(
            interaction("t1", 0, "termination"),
            order("a", 10),
            order("b", 80),
            order("c", 170),
        )
        assert assess(h, as_of=day(171)).stage is S.lost
        wide = LifecyclePolicy(reactivation_window=timedelta(days=180))
        assert assess(h, as_of=day(171), policy=wide).stage is S.satisfied

    def test_a_recorded_reactivation_still_wins_back_at_once(self) -> None:
        """An explicit reactivation interaction needs no sale."""
        h = history(interaction("t1", 0, "termination"), interaction("r1", 40, "reactivation"))
        a = assess(h, as_of=day(41))
        assert a.stage is S.satisfied
        assert a.activity_after_loss is None
        assert a.episode_start == day(40)

    def test_the_policy_knobs_are_checked(self) -> None:
        """reactivation_sales, lapse_intervals and lapse_after refuse bad values by name."""
        with pytest.raises(ValidationError, match="reactivation_sales"):
            LifecyclePolicy(reactivation_sales=0)
        with pytest.raises(ValidationError, match="lapse_intervals"):
            LifecyclePolicy(lapse_intervals=Decimal(0))
        with pytest.raises(ValidationError, match="lapse_after"):
            LifecyclePolicy(lapse_after=timedelta(0))
        with pytest.raises(ValidationError, match="lapse_min_silence"):
            LifecyclePolicy(lapse_min_silence=timedelta(days=-1))


class TestSilentChurn:
    def test_a_regular_client_silent_for_nine_months_has_lapsed(self) -> None:
        """Four mean gaps without a sale make a regular buyer lost, reason lapsed."""
        h = history(*monthly(0, 6))  # last sale on day 150, mean gap 30 days
        assert assess(h, as_of=day(269)).stage is S.satisfied
        a = assess(h, as_of=day(150 + 270))
        assert a.stage is S.lost
        assert a.loss_reason is LossReason.lapsed
        assert a.since == day(270)  # 4 mean gaps after the last sale
        assert a.evidence.record_ids == ("o3", "o4", "o5")
        assert "a regular buyer (6 purchase days, mean gap 30.0 days)" in a.evidence.reason
        assert "no sale for 4 mean gaps since 2026-05-31" in a.evidence.reason
        losses = loss_analysis([h], as_of=day(420))
        assert losses.counts()[LossReason.lapsed] == 1

    def test_an_irregular_client_lapses_after_the_plain_silence(self) -> None:
        """Without regular buying, only lapse_after applies (365 days by default)."""
        h = history(order("o1", 0), order("o2", 5), order("o3", 100), order("o4", 101))
        assert assess(h, as_of=day(101 + 364)).stage is S.satisfied
        a = assess(h, as_of=day(101 + 365))
        assert a.stage is S.lost
        assert a.loss_reason is LossReason.lapsed
        assert "no sale for 365 days since 2026-04-12" in a.evidence.reason

    def test_a_daily_buyer_pausing_a_few_days_has_not_lapsed(self) -> None:
        """The regular-buyer rule waits for lapse_min_silence (90 days) however short the gap."""
        h = history(*(order(f"d{n}", n) for n in range(30)))  # daily, last sale on day 29
        for pause in (4, 30, 89):
            assert assess(h, as_of=day(29 + pause)).stage is S.satisfied
        a = assess(h, as_of=day(29 + 90))
        assert a.stage is S.lost
        assert a.loss_reason is LossReason.lapsed
        assert a.since == day(29 + 90)
        assert "a regular buyer (30 purchase days, mean gap 1.0 days)" in a.evidence.reason
        assert "no sale for 90 days (the floor lapse_min_silence; 4 mean gaps" in a.evidence.reason

    def test_the_lapse_floor_is_a_knob(self) -> None:
        """lapse_min_silence moves the floor; None removes it (4 mean gaps alone)."""
        h = history(*(order(f"d{n}", n) for n in range(30)))
        week = LifecyclePolicy(lapse_min_silence=timedelta(days=7))
        assert assess(h, as_of=day(29 + 6), policy=week).stage is S.satisfied
        assert assess(h, as_of=day(29 + 7), policy=week).stage is S.lost
        none = LifecyclePolicy(lapse_min_silence=None)
        assert assess(h, as_of=day(29 + 3), policy=none).stage is S.satisfied
        lost = assess(h, as_of=day(29 + 4), policy=none)
        assert lost.since == day(29 + 4)
        assert "no sale for 4 mean gaps since" in lost.evidence.reason
        # a gap long enough that 4 of them pass the floor: the floor changes nothing
        assert assess(history(*monthly(0, 6)), as_of=day(269)).stage is S.satisfied

    def test_the_lapse_moment_is_exact_in_any_decimal_context(self) -> None:
        """k mean gaps are counted exactly: gaps of 3, 4 and 3 days (mean 10/3), 3
        of them make 10 days to the microsecond, also under a caller's truncating
        decimal context (it used to give 9 days 23:59:59.999999 there)."""
        from decimal import ROUND_DOWN, localcontext

        h = history(order("a", 0), order("b", 3), order("c", 7), order("d", 10))
        policy = LifecyclePolicy(lapse_intervals=Decimal(3), lapse_min_silence=None)
        usual = assess(h, as_of=day(40), policy=policy)
        with localcontext() as context:
            context.rounding = ROUND_DOWN
            truncated = assess(h, as_of=day(40), policy=policy)
        assert usual.stage is S.lost
        assert usual.since == truncated.since == day(20)
        assert usual.evidence.reason == truncated.evidence.reason

    def test_the_lapse_rules_can_be_switched_off(self) -> None:
        """None for both knobs: silence never makes a client lost."""
        h = history(*monthly(0, 6))
        off = LifecyclePolicy(lapse_after=None, lapse_intervals=None)
        assert assess(h, as_of=day(3000), policy=off).stage is S.satisfied

    def test_a_client_whose_only_manager_left_is_lost_with_manager_left(self) -> None:
        """Every contact handled by one employee who is no longer its manager: manager_left."""
        from relcycle.model import Client

        records: list[Order | Interaction] = [
            *monthly(0, 6),
            *(interaction(f"i{n}", 30 * n + 1, "inquiry", handled_by="m1") for n in range(5)),
        ]
        h = ClientHistory.of(Client(client_id="C1", account_manager="m2"), records)
        a = assess(h, as_of=day(500))
        assert a.stage is S.lost
        assert a.loss_reason is LossReason.manager_left
        assert "its only manager m1" in a.evidence.reason
        assert "now m2" in a.evidence.reason
        assert "i0" in a.evidence.record_ids
        assert loss_analysis([h], as_of=day(500)).losses[0].reason is LossReason.manager_left
        # the same history with m1 still its manager: lapsed
        kept = ClientHistory.of(Client(client_id="C1", account_manager="m1"), records)
        assert assess(kept, as_of=day(500)).loss_reason is LossReason.lapsed
        # one contact is too thin to say who held the relationship
        thin = ClientHistory.of(Client(client_id="C1", account_manager="m2"), records[:7])
        assert assess(thin, as_of=day(500)).loss_reason is LossReason.lapsed
        few = LifecyclePolicy(manager_left_min_contacts=1)
        assert assess(thin, as_of=day(500), policy=few).loss_reason is LossReason.manager_left

    def test_a_lapsed_client_is_won_back_by_its_next_sale(self) -> None:
        """After a lapse one sale is a win-back: a new episode starts."""
        h = history(*monthly(0, 6), order("back", 600))
        a = assess(h, as_of=day(601))
        assert a.stage is S.satisfied
        assert a.episode == 2
        assert a.episode_start == day(600)
        assert "(lost by lapse)" in a.evidence.reason

    def test_the_lapse_is_a_timer_that_survives_a_saved_state(self) -> None:
        """Resuming a saved state gives the lapse a full replay gives."""
        h = history(*monthly(0, 6))
        run = MACHINE.run(h, as_of=day(200), policy=LifecyclePolicy())
        assert any(t.kind == "lapse_due" for t in run.state.timers)
        saved = MachineState.from_dict(json.loads(json.dumps(run.state.to_dict())), MACHINE)
        resumed = MACHINE.resume(saved, h, as_of=day(420), policy=LifecyclePolicy())
        assert resumed.state.state is S.lost
        assert resumed.events[-1][1] is E.relationship_lapsed

    def test_purchase_days_are_counted_in_the_given_zone(self) -> None:
        """The mean gap of the lapse rule counts calendar days in ``tz``."""
        last = day(119) + timedelta(hours=23)  # 2026-04-30 in UTC, 2026-05-01 in Kyiv
        late = Order(order_id="o4", client_id="C1", placed_at=last, amount=Decimal(100))
        h = history(*(order(f"o{n}", 30 * n) for n in range(4)), late)
        moment = last + timedelta(days=119.5)  # past 4 x 29.75 days, before 4 x 30
        assert assess(h, as_of=moment).stage is S.lost
        assert assess(h, as_of=moment, tz="Europe/Kyiv").stage is S.satisfied


class TestMovingTriggers:
    """moving_triggers(policy) names the records that can give a client an event: a
    client with none of them by a moment has the empty history's lifecycle then.
    (The columnar engine replays only the clients these triggers find.)"""

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def test_a_client_without_them_has_the_empty_history_s_lifecycle(
        self, data: st.DataObject
    ) -> None:
        from relcycle.history import ClientHistory
        from relcycle.lifecycle import moving_triggers
        from relcycle.rules import MOMENT_FIELD
        from relcycle.testing import portfolios

        portfolio = data.draw(portfolios(min_clients=1, max_clients=4, max_records=10))
        policy = LifecyclePolicy(
            late_orders_fail=data.draw(st.booleans()),
            cancelled_orders_fail=data.draw(st.booleans()),
            reactivate_on_sale=data.draw(st.booleans()),
            lapse_after=data.draw(st.sampled_from([None, timedelta(days=60)])),
            lapse_intervals=data.draw(st.sampled_from([None, Decimal(2)])),
        )
        triggers = moving_triggers(policy)
        last = portfolio.last_moment or datetime(2020, 1, 1, tzinfo=UTC)
        as_of = last + timedelta(days=data.draw(st.integers(-400, 400)))
        for history in portfolio:
            moved = any(
                trigger.rule(record, as_of)
                and getattr(record, trigger.at or MOMENT_FIELD[trigger.rule.table]) is not None
                and getattr(record, trigger.at or MOMENT_FIELD[trigger.rule.table]) <= as_of
                for trigger in triggers
                for record in getattr(history, trigger.rule.table)
            )
            if moved:
                continue
            got = assess(history, as_of=as_of, policy=policy)
            empty = assess(ClientHistory(client=history.client), as_of=as_of, policy=policy)
            assert got == empty, history.client_id

    def test_what_is_left_out(self) -> None:
        """A sale moves no one while no lapse rule is on; a failed order only as counted."""
        from relcycle.lifecycle import TRIGGERS, moving_triggers

        kinds = [t.kind for t in moving_triggers(LifecyclePolicy())]
        assert "sale" in kinds
        assert "complaint_closed" not in kinds
        quiet = LifecyclePolicy(lapse_after=None, lapse_intervals=None, late_orders_fail=False)
        found = {t.kind: t for t in moving_triggers(quiet)}
        assert "sale" not in found
        late = Order(
            order_id="o1",
            client_id="c",
            placed_at=datetime(2024, 1, 1, tzinfo=UTC),
            amount="1",
            on_time=False,
        )
        assert not found["failed_order"].rule(late)
        assert [t.kind for t in TRIGGERS if t.kind not in ("sale", "complaint_closed")] == list(
            found
        )
