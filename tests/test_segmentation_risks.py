"""Tests for relcycle.segmentation.risks: risk flags and the key-person what-if."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from relcycle import lifecycle
from relcycle.errors import CurrencyMismatchError, UsageError, ValidationError
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory, build_portfolio
from relcycle.lifecycle import LifecyclePolicy
from relcycle.model import Client, Complaint, Interaction, Order
from relcycle.segmentation.cost import CostRates
from relcycle.segmentation.risks import (
    STAGE_RISKS,
    RiskFlag,
    RiskPolicy,
    assess_risks,
    key_person_whatif,
)
from test_lifecycle import histories as lifecycle_histories

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=300)


def at(day: float) -> datetime:
    """``day`` days after T0."""
    return T0 + timedelta(days=day)


def contact(n: int, by: str | None, cid: str = "c1", day: int = 200) -> Interaction:
    """An interaction handled by ``by``."""
    return Interaction(interaction_id=f"{cid}-i{n}", client_id=cid, at=at(day + n), handled_by=by)


def sale(n: int, day: int, cid: str = "c1", amount: int = 100, **kw: object) -> Order:
    """An order."""
    return Order(
        order_id=f"{cid}-o{n}",
        client_id=cid,
        placed_at=at(day),
        amount=amount,
        **kw,  # type: ignore[arg-type]
    )


def flags(
    records: list[Interaction | Order | Complaint],
    client: Client | str = "c1",
    as_of: datetime = AS_OF,
    **kw: object,
) -> dict[RiskFlag, Evidence]:
    """The flags of one client as of ``as_of`` (AS_OF), by flag."""
    history = ClientHistory.of(client, records)
    return {r.flag: r.evidence for r in assess_risks(history, as_of=as_of, **kw)}  # type: ignore[arg-type]


def stable_orders(**kw: object) -> list[Order]:
    """Six monthly sales ending near AS_OF: a stability client's demand."""
    return [sale(i, 130 + 30 * i, **kw) for i in range(6)]


def late(n: int, day: float) -> Order:
    """A delivery of c1 that came late."""
    return sale(n, int(day), on_time=False, status="delivered")


class TestRecurringProblems:
    """The lifecycle's stage-1 signature and stages 1-2 become the flag."""

    def test_from_a_lifecycle_assessment(self) -> None:
        """Three delivery complaints within 60 days, read by the lifecycle, raise the flag."""
        complaints = [
            Complaint(
                complaint_id=f"k{i}",
                client_id="c1",
                opened_at=at(250 + 10 * i),
                category="delivery",
                status="resolved",
                resolved_at=at(251 + 10 * i),
            )
            for i in range(3)
        ]
        history = ClientHistory.of("c1", complaints)
        assessment = lifecycle.assess(history, as_of=AS_OF)
        assert assessment.recurring_problems is not None
        risks = assess_risks(history, as_of=AS_OF, lifecycle=assessment)
        found = {r.flag: r.evidence for r in risks}
        assert set(found[RiskFlag.recurring_problems].record_ids) >= {"k0", "k1", "k2"}

    def test_the_stage_implies_the_flag(self) -> None:
        """Three late deliveries in 60 days: the stage and the flag agree after the window.

        70 days after the third late delivery the 60-day signature is gone, but the
        client is still in ``recurring_problems`` (a trouble-free period is 90
        days): it carries the flag, with the stage's evidence.
        """
        records = [late(0, 150), late(1, 170), late(2, 200)]
        history = ClientHistory.of("c1", records)
        as_of = at(270)
        assessment = lifecycle.assess(history, as_of=as_of)
        assert assessment.stage is lifecycle.Stage.recurring_problems
        assert assessment.recurring_problems is None  # the window is past
        found = {r.flag: r.evidence for r in assess_risks(history, as_of=as_of)}
        evidence = found[RiskFlag.recurring_problems]
        assert evidence == assessment.evidence
        assert set(evidence.record_ids) == {"c1-o0", "c1-o1", "c1-o2"}
        # and 90 trouble-free days later both are gone
        later = at(291)
        assert lifecycle.assess(history, as_of=later).stage is lifecycle.Stage.satisfied
        assert RiskFlag.recurring_problems not in flags(records, as_of=later)

    def test_a_report_counts_it(self) -> None:
        """The summary counts the flag of a client in ``recurring_problems``."""
        from relcycle.report import build_report

        portfolio = build_portfolio(orders=[late(0, 150), late(1, 170), late(2, 200)])
        report = build_report(portfolio, as_of=at(270))
        (client,) = report.clients
        assert client.lifecycle_stage.value == "recurring_problems"
        assert "recurring_problems" in client.risk_flags
        assert report.summary["risks"]["recurring_problems"] == 1

    def test_counter_example_none(self) -> None:
        """No problem, no flag; a lost client carries none of its stage."""
        assert RiskFlag.recurring_problems not in flags([sale(0, 100)])
        lost = Interaction(interaction_id="t", client_id="c1", at=at(250), purpose="termination")
        found = flags([late(0, 150), late(1, 170), late(2, 200), lost])
        assert RiskFlag.recurring_problems not in found
        assert RiskFlag.past_escalation not in found

    def test_an_assessment_of_another_client_is_refused(self) -> None:
        """The lifecycle passed in must be the client's, as of the same moment."""
        other = lifecycle.assess(ClientHistory.of("c2", []), as_of=AS_OF)
        with pytest.raises(UsageError, match="c2"):
            assess_risks(ClientHistory.of("c1", []), as_of=AS_OF, lifecycle=other)
        earlier = lifecycle.assess(ClientHistory.of("c1", []), as_of=at(10))
        with pytest.raises(UsageError, match="as of"):
            assess_risks(ClientHistory.of("c1", []), as_of=AS_OF, lifecycle=earlier)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lifecycle_histories())
def test_every_stage_that_implies_a_flag_carries_it(drawn: Any) -> None:
    """Whatever the history, the client's stage's flag is among its flags, the overdue
    flag is the lifecycle's, and a lost client carries only ``activity_after_loss``."""
    records, as_of = drawn
    history = ClientHistory.of("C1", records)
    assessment = lifecycle.assess(history, as_of=as_of)
    raised = {r.flag for r in assess_risks(history, as_of=as_of, lifecycle=assessment)}
    implied = STAGE_RISKS[assessment.stage]
    if implied is not None:
        assert implied in raised
    if assessment.stage is lifecycle.Stage.lost:
        # a lost client carries no live-client flag, whatever its open complaints
        assert raised <= {RiskFlag.activity_after_loss}
        assert (RiskFlag.activity_after_loss in raised) == (
            assessment.activity_after_loss is not None
        )
    else:
        assert (RiskFlag.overdue_complaint in raised) == (assessment.overdue is not None)


class TestKeyPerson:
    """One employee holding the relationship is a risk (seed 004)."""

    def test_scenario(self) -> None:
        """One employee with 5 of 5 handled contacts is a key person."""
        ev = flags([contact(i, "ann") for i in range(5)])[RiskFlag.key_person]
        assert ev.reason.startswith("ann handled 5 of 5 contacts (100%")
        assert len(ev.record_ids) == 5

    def test_counter_example_shared(self) -> None:
        """Contacts shared 3/2 between two employees are below the 80% share."""
        records = [contact(i, "ann") for i in range(3)] + [contact(i + 3, "bob") for i in range(2)]
        assert RiskFlag.key_person not in flags(records)

    def test_counter_example_too_few(self) -> None:
        """Four contacts are below the minimum count; unknown handlers do not count."""
        records = [contact(i, "ann") for i in range(4)] + [contact(i + 4, None) for i in range(9)]
        assert RiskFlag.key_person not in flags(records)

    def test_marketing_touches_hold_no_client(self) -> None:
        """A mailer who sent the client ten marketing touches is not its key person: only
        contacts count (the rule layer's HANDLED_CONTACT)."""
        touches = [
            Interaction(
                interaction_id=f"m{i}",
                client_id="c1",
                at=at(200 + i),
                purpose="marketing",
                direction="outbound",
                handled_by="mailer",
            )
            for i in range(10)
        ]
        assert RiskFlag.key_person not in flags(touches)
        ev = flags(touches + [contact(i, "ann") for i in range(5)])[RiskFlag.key_person]
        assert ev.reason.startswith("ann handled 5 of 5 contacts")

    def test_window(self) -> None:
        """Contacts older than the window are not counted."""
        records = [contact(i, "ann", day=-200) for i in range(5)]
        assert RiskFlag.key_person not in flags(records)
        assert RiskFlag.key_person in flags(records, policy=RiskPolicy(key_person_window_days=None))


class TestSilentStable:
    """A stability client whose deliveries go wrong while it stays silent."""

    def test_scenario(self) -> None:
        """Two late deliveries and a cancellation without a complaint raise the flag."""
        records = stable_orders()
        records[-1] = sale(5, 280, on_time=False, status="delivered")
        records[-2] = sale(4, 250, on_time=False, status="delivered")
        records.append(sale(9, 265, status="cancelled"))
        found = flags(records)
        assert RiskFlag.silent_stable in found
        assert set(found[RiskFlag.silent_stable].record_ids) == {"c1-o4", "c1-o5", "c1-o9"}
        assert "2 late and 1 cancelled" in found[RiskFlag.silent_stable].reason

    def test_counter_example_client_complained(self) -> None:
        """A stability client that did complain is not silent."""
        records = stable_orders()
        records[-1] = sale(5, 280, on_time=False)
        records[-2] = sale(4, 250, on_time=False)
        complaint = Complaint(complaint_id="k", client_id="c1", opened_at=at(290))
        assert RiskFlag.silent_stable not in flags([*records, complaint])

    def test_counter_example_not_stability(self) -> None:
        """Late deliveries of a non-stability client do not raise silent_stable."""
        records = [sale(0, 250, on_time=False), sale(1, 280, on_time=False)]
        assert RiskFlag.silent_stable not in flags(records)

    def test_counter_example_good_deliveries(self) -> None:
        """A stability client served on time raises nothing."""
        assert RiskFlag.silent_stable not in flags(stable_orders(on_time=True))


class TestOverdueComplaint:
    """Open past the service level the client expects for its severity."""

    def complaint(self, severity: str, opened_day: float, **kw: object) -> Complaint:
        """A complaint of client c1."""
        return Complaint(
            complaint_id=f"k-{severity}",
            client_id="c1",
            opened_at=at(opened_day),
            severity=severity,  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )

    def test_scenario(self) -> None:
        """A high-severity complaint open 4 days is past its 3-day level."""
        ev = flags([self.complaint("high", 296)])[RiskFlag.overdue_complaint]
        assert ev.record_ids == ("k-high",)
        assert "SLA 3.0" in ev.reason

    def test_counter_example_within_level(self) -> None:
        """A medium complaint open 4 days is within its 7-day level; a closed one never counts."""
        assert RiskFlag.overdue_complaint not in flags([self.complaint("medium", 296)])
        closed = self.complaint("high", 200, status="resolved", resolved_at=at(250))
        assert RiskFlag.overdue_complaint not in flags([closed])

    def test_resolved_after_as_of_was_open_then(self) -> None:
        """A complaint resolved after as_of was still open at as_of."""
        late = self.complaint("critical", 290, status="resolved", resolved_at=at(310))
        assert RiskFlag.overdue_complaint in flags([late])

    def test_client_sets_its_level(self) -> None:
        """The client's attribute or the per-client policy overrides the default level."""
        strict = Client(client_id="c1", attributes={"sla_medium": "2"})
        assert RiskFlag.overdue_complaint in flags([self.complaint("medium", 296)], strict)
        relaxed = LifecyclePolicy(client_service_levels={"c1": {"high": timedelta(days=10)}})
        assert RiskFlag.overdue_complaint not in flags(
            [self.complaint("high", 296)], lifecycle_policy=relaxed
        )

    def test_one_service_level_for_the_flag_and_the_lifecycle(self) -> None:
        """The client's own level makes its complaint overdue and moves its stage.

        A medium complaint open 4 days is within the default 7-day level, but
        this client expects 2 days (``sla_medium``): the flag is raised and the
        lifecycle has the client voicing its discontent since the level passed.
        """
        strict = Client(client_id="c1", attributes={"sla_medium": "2"})
        history = ClientHistory.of(strict, [self.complaint("medium", 296)])
        assessment = lifecycle.assess(history, as_of=AS_OF)
        assert assessment.stage is lifecycle.Stage.voicing_discontent
        assert assessment.since == at(298)
        found = {r.flag: r.evidence for r in assess_risks(history, as_of=AS_OF)}
        assert found[RiskFlag.overdue_complaint] == assessment.overdue
        assert "SLA 2.0" in found[RiskFlag.overdue_complaint].reason
        assert RiskFlag.recurring_problems in found  # the stage implies it

    def test_the_level_itself_is_past(self) -> None:
        """A complaint still open at exactly its level is past it (as the breach timer)."""
        found = flags([self.complaint("high", 297)])  # open 3 days at AS_OF, level 3 days
        assert RiskFlag.overdue_complaint in found

    def test_bad_client_level(self) -> None:
        """A client attribute that is not a positive number of days is refused."""
        bad = Client(client_id="c1", attributes={"sla_high": "soon"})
        with pytest.raises(ValidationError, match=r"attributes\.sla_high"):
            flags([self.complaint("high", 296)], bad)


class TestUnprofitable:
    """Profit below zero."""

    def test_scenario(self) -> None:
        """Costs above revenue raise the flag with the cost evidence."""
        records = [sale(0, 100, cost=Decimal(150))]
        assert RiskFlag.unprofitable in flags(records)

    def test_counter_example(self) -> None:
        """A profitable client, or one without cost data, is not flagged."""
        assert RiskFlag.unprofitable not in flags([sale(0, 100, cost=Decimal(50))])
        assert RiskFlag.unprofitable not in flags([sale(0, 100)])

    def test_rates_are_used(self) -> None:
        """Time spent at the given rates can make a client unprofitable."""
        records = [sale(0, 100, cost=Decimal(50)), contact(0, "ann")]
        records[1] = Interaction(
            interaction_id="i", client_id="c1", at=at(150), minutes=Decimal(120)
        )
        assert RiskFlag.unprofitable in flags(records, rates=CostRates(default_rate=Decimal(30)))


class TestOverdueOrder:
    """A regular buyer whose next order is late."""

    def test_scenario_and_counter_example(self) -> None:
        """Monthly orders stopping 100 days ago are overdue; recent ones are not.

        (Four mean gaps without a sale would make the client lost, ``lapsed``:
        see the lifecycle's lapse rule.)
        """
        old = [sale(i, 80 + 30 * i) for i in range(5)]  # last on day 200
        assert RiskFlag.overdue_order in flags(old)
        assert RiskFlag.overdue_order not in flags(stable_orders())


class TestPastEscalation:
    """An escalation is remembered after the client recovered from it."""

    def records(self) -> list[Interaction | Order | Complaint]:
        """The client's management escalated on day 0; it went on buying, nothing else."""
        return [
            Interaction(interaction_id="e1", client_id="c1", at=at(0), purpose="escalation"),
            *(sale(k, 5 + 120 * k) for k in range(4)),
        ]

    def test_while_escalated(self) -> None:
        """An escalated client carries the flag with the escalation's records."""
        ev = flags(self.records(), as_of=at(50))[RiskFlag.past_escalation]
        assert ev.record_ids == ("e1",)
        assert ev.reason.startswith("escalated since 2024-01-01")

    def test_after_a_recovery(self) -> None:
        """Recovered to satisfied, the client keeps the flag for the memory period.

        The client stepped down from ``escalated`` on day 90 and reached
        ``satisfied`` on day 360; on day 400 the escalation is 310 days behind
        it, within the default 365 days.
        """
        history = ClientHistory.of("c1", self.records())
        assessment = lifecycle.assess(history, as_of=at(400))
        assert assessment.stage is lifecycle.Stage.satisfied
        found = flags(self.records(), as_of=at(400))
        ev = found[RiskFlag.past_escalation]
        assert ev.record_ids == ("e1",)
        assert "until 2024-03-31" in ev.reason
        assert "310 days ago; remembered for 365 days" in ev.reason
        assert "interaction e1 (escalation)" in ev.reason

    def test_memory_ends(self) -> None:
        """The flag goes when the memory period is over, or sooner with a shorter one."""
        assert RiskFlag.past_escalation not in flags(self.records(), as_of=at(455))
        assert RiskFlag.past_escalation in flags(self.records(), as_of=at(454))
        short = RiskPolicy(escalation_memory_days=200)
        assert RiskFlag.past_escalation not in flags(self.records(), as_of=at(400), policy=short)

    def test_a_complaint_raised_to_management_and_an_ultimatum(self) -> None:
        """Every record of the escalation is evidence: the complaint and the ultimatum."""
        records: list[Interaction | Order | Complaint] = [
            Complaint(
                complaint_id="k1",
                client_id="c1",
                opened_at=at(0),
                escalated_to="management",
                status="resolved",
                resolved_at=at(2),
            ),
            Interaction(interaction_id="u1", client_id="c1", at=at(10), purpose="ultimatum"),
        ]
        ev = flags(records, as_of=at(300))[RiskFlag.past_escalation]
        assert ev.record_ids == ("k1", "u1")

    def test_counter_example_never_escalated(self) -> None:
        """Problems without an escalation raise no such flag."""
        assert RiskFlag.past_escalation not in flags([late(0, 150), late(1, 170), late(2, 200)])


class TestFlagOrder:
    """Flags come in RiskFlag order."""

    def test_order(self) -> None:
        """Several flags are listed in the vocabulary's order."""
        records: list[Interaction | Order | Complaint] = [contact(i, "ann") for i in range(5)]
        records.append(sale(0, 100, cost=Decimal(500)))
        records.append(Complaint(complaint_id="k", client_id="c1", opened_at=at(200)))
        got = list(flags(records))
        assert got == [
            RiskFlag.recurring_problems,  # the open complaint breached its level: voicing
            RiskFlag.key_person,
            RiskFlag.overdue_complaint,
            RiskFlag.unprofitable,
        ]


class TestKeyPersonWhatIf:
    """If employee X leaves, which clients and how much revenue are at risk."""

    def portfolio(self):  # type: ignore[no-untyped-def]
        """c1 held by ann, c2 shared, c3 managed by ann alone, c4 managed by ann with help."""
        interactions = [contact(i, "ann", "c1") for i in range(5)]
        interactions += [contact(i, "ann" if i % 2 else "bob", "c2") for i in range(6)]
        interactions += [contact(0, "bob", "c4")]
        orders = [
            sale(0, 250, "c1", 1000),
            sale(1, 10, "c1", 5000),  # inside the 365-day window, outside a 100-day one
            sale(0, 250, "c2", 700),
            sale(0, 260, "c3", 300),
            sale(0, 260, "c4", 50),
        ]
        clients = [
            Client(client_id="c1"),
            Client(client_id="c2"),
            Client(client_id="c3", account_manager="ann"),
            Client(client_id="c4", account_manager="ann"),
        ]
        return build_portfolio(orders=orders, interactions=interactions, clients=clients)

    def test_scenario(self) -> None:
        """ann's leaving puts c1 (key person) and c3 (sole manager) at risk."""
        result = key_person_whatif(self.portfolio(), "ann", as_of=AS_OF)
        assert result.client_ids == ("c1", "c3")
        assert [c.reason for c in result.clients] == ["key_person", "sole_manager"]
        assert result.revenue_at_risk == Decimal(6300)
        assert result.currency == "USD"

    def test_counter_example(self) -> None:
        """bob holds no relationship alone: nothing is at risk."""
        result = key_person_whatif(self.portfolio(), "bob", as_of=AS_OF)
        assert result.clients == ()
        assert result.revenue_at_risk == 0
        assert result.currency is None

    def test_revenue_window(self) -> None:
        """Revenue at risk counts the sales of the policy's window only."""
        policy = RiskPolicy(whatif_revenue_window_days=100)
        result = key_person_whatif(self.portfolio(), "ann", as_of=AS_OF, policy=policy)
        assert result.revenue_at_risk == Decimal(1300)

    def test_mixed_currencies(self) -> None:
        """Revenue at risk in two currencies is refused."""
        orders = [sale(0, 250, "c1", 10), sale(0, 250, "c2", 10, currency="EUR")]
        interactions = [contact(i, "ann", c) for c in ("c1", "c2") for i in range(5)]
        p = build_portfolio(orders=orders, interactions=interactions)
        with pytest.raises(CurrencyMismatchError):
            key_person_whatif(p, "ann", as_of=AS_OF)


class TestPolicy:
    """The risk policy refuses bad thresholds."""

    def test_bad_values(self) -> None:
        """Shares outside [0, 1] and non-positive counts are refused."""
        with pytest.raises(ValidationError, match="key_person_min_share"):
            RiskPolicy(key_person_min_share=Decimal(2))
        with pytest.raises(ValidationError, match="key_person_min_contacts"):
            RiskPolicy(key_person_min_contacts=0)
        with pytest.raises(ValidationError, match="escalation_memory_days"):
            RiskPolicy(escalation_memory_days=0)
