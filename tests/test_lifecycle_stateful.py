"""Stateful tests of the lifecycle: event sequences through TABLE, and growing histories."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from relcycle.errors import IllegalTransitionError
from relcycle.history import ClientHistory
from relcycle.lifecycle import (
    MACHINE,
    TABLE,
    LifecycleEvent,
    LifecycleEventRecord,
    LifecycleMemory,
    LifecyclePolicy,
    Stage,
    assess,
    derive_events,
)
from relcycle.machine import MachineRun, MachineState
from relcycle.model import TERMINATION_REASONS, Complaint, Interaction, LossReason, Order, Severity

UTC = UTC
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATEFUL = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class EventSequences(RuleBasedStateMachine):
    """Random legal (and illegal) events applied to the table, checked against a replay."""

    @initialize()
    def start(self) -> None:
        self.log: list[LifecycleEventRecord] = []
        self.stage = TABLE.initial
        self.now = T0
        self.reactivations = 0

    @rule(data=st.data(), gap=st.sampled_from([0, 0, 1, 7, 30]))
    def legal_event(self, data: st.DataObject, gap: int) -> None:
        """Any event the stage allows is accepted and moves the model as the table says."""
        event = data.draw(st.sampled_from(TABLE.allowed(self.stage)))
        self.now += timedelta(days=gap)
        record = LifecycleEventRecord(self.now, event, (f"r{len(self.log)}",), event.value)
        self.stage = TABLE.step(self.stage, event)
        self.log.append(record)
        if event is LifecycleEvent.client_reactivated:
            self.reactivations += 1

    @rule(data=st.data())
    def illegal_event(self, data: st.DataObject) -> None:
        """An event the stage does not allow raises and changes nothing."""
        refused = [e for e in LifecycleEvent if not TABLE.allows(self.stage, e)]
        if not refused:
            return
        event = data.draw(st.sampled_from(refused))
        with pytest.raises(IllegalTransitionError) as info:
            TABLE.fold([*self.log, LifecycleEventRecord(self.now, event, ("x",), "")])
        assert info.value.state == self.stage.value
        assert info.value.event == event.value

    @invariant()
    def replay_gives_the_model_stage(self) -> None:
        """Folding the log gives the stage the model reached, every time."""
        first = TABLE.fold(self.log)
        assert first.state is self.stage
        assert TABLE.fold(self.log) == first
        assert len(first.steps) == len(self.log)

    @invariant()
    def stage_at_t_is_the_replay_of_the_prefix(self) -> None:
        """The stage at any past moment is the replay of the events up to it."""
        trajectory = TABLE.fold(self.log)
        for record in self.log[:: max(1, len(self.log) // 5)]:
            prefix = [r for r in self.log if r.at <= record.at]
            assert trajectory.state_at(record.at) is TABLE.fold(prefix).state
            assert trajectory.until(record.at) == TABLE.fold(prefix)

    @invariant()
    def terminal_and_episode_rules(self) -> None:
        """Lost is left only by a reactivation, which always lands in satisfied."""
        trajectory = TABLE.fold(self.log)
        for step in trajectory.transitions:
            if step.source is Stage.lost:
                assert step.event is LifecycleEvent.client_reactivated
                assert step.target is Stage.satisfied
            if step.event is LifecycleEvent.client_reactivated:
                assert step.source is Stage.lost
        episodes = 1 + sum(
            1 for s in trajectory.steps if s.event is LifecycleEvent.client_reactivated
        )
        assert episodes == 1 + self.reactivations


EventSequences.TestCase.settings = STATEFUL
TestEventSequences = EventSequences.TestCase


PURPOSES = ["escalation", "ultimatum", "arbitration", "arbitration_closed", "termination"]


class GrowingHistory(RuleBasedStateMachine):
    """A client's history grows record by record; assessments stay consistent."""

    @initialize()
    def start(self) -> None:
        self.records: list[Complaint | Interaction | Order] = []
        self.now = T0
        self.checkpoints: dict[datetime, Stage] = {}
        self.n = 0

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    @rule(gap=st.sampled_from([0, 0, 1, 5, 20, 100]))
    def time_passes(self, gap: int) -> None:
        """Time moves on (sometimes not at all, so records share moments)."""
        self.now += timedelta(days=gap)

    @rule(
        category=st.sampled_from(["delivery", "quality"]),
        severity=st.sampled_from(list(Severity)),
        loss=st.sampled_from([None, 0, 250]),
        management=st.booleans(),
        closes_after=st.one_of(st.none(), st.integers(0, 30)),
    )
    def complaint(
        self,
        category: str,
        severity: Severity,
        loss: int | None,
        management: bool,
        closes_after: int | None,
    ) -> None:
        """The client files a complaint, perhaps already resolved later on."""
        kw: dict[str, Any] = {}
        if closes_after is not None:
            kw = {"status": "resolved", "resolved_at": self.now + timedelta(days=closes_after)}
        self.records.append(
            Complaint(
                complaint_id=self._id("c"),
                client_id="C1",
                opened_at=self.now,
                category=category,
                severity=severity,
                client_loss=None if loss is None else Decimal(loss),
                escalated_to="management" if management else "none",
                **kw,
            )
        )

    @rule(purpose=st.sampled_from(PURPOSES), reason=st.sampled_from([None, *TERMINATION_REASONS]))
    def lifecycle_interaction(self, purpose: str, reason: LossReason | None) -> None:
        """The client escalates, sends an ultimatum, sues, settles or leaves."""
        self.records.append(
            Interaction(
                interaction_id=self._id("i"),
                client_id="C1",
                at=self.now,
                purpose=purpose,
                reason=reason if purpose == "termination" else None,
            )
        )

    @precondition(lambda self: any(isinstance(r, Interaction) for r in self.records))
    @rule()
    def reactivation(self) -> None:
        """A client comes back."""
        self.records.append(
            Interaction(
                interaction_id=self._id("i"), client_id="C1", at=self.now, purpose="reactivation"
            )
        )

    @rule(status=st.sampled_from(["delivered", "cancelled"]), on_time=st.booleans())
    def order(self, status: str, on_time: bool) -> None:
        """The client orders; the order may be late or cancelled."""
        self.records.append(
            Order(
                order_id=self._id("o"),
                client_id="C1",
                placed_at=self.now,
                amount=Decimal(10),
                status=status,
                on_time=on_time,
            )
        )

    @invariant()
    def assessment_is_stable(self) -> None:
        """Assessing now never raises and ignores the order records arrived in."""
        a = assess(ClientHistory.of("C1", self.records), as_of=self.now)
        shuffled = list(self.records)
        random.Random(len(shuffled)).shuffle(shuffled)
        assert assess(ClientHistory.of("C1", shuffled), as_of=self.now) == a
        assert TABLE.fold(derive_events(ClientHistory.of("C1", shuffled), as_of=self.now)) == (
            a.trajectory
        )
        self.checkpoints[self.now] = a.stage  # the last word on this moment

    @invariant()
    def the_past_does_not_change(self) -> None:
        """The stage at an earlier checkpoint is what was assessed then (history only grows).

        Later records are all at or after the checkpoint; only complaint resolutions
        that were already recorded can fall between, and they were known then too.
        """
        h = ClientHistory.of("C1", self.records)
        full = assess(h, as_of=self.now)
        for moment, stage in self.checkpoints.items():
            if moment < self.now:
                earlier = assess(h, as_of=moment)
                assert earlier.stage is stage
                assert full.stage_at(moment) is stage


GrowingHistory.TestCase.settings = STATEFUL
TestGrowingHistory = GrowingHistory.TestCase


class SavedStates(GrowingHistory):
    """The same growing history, saved as JSON at every check and resumed at the next."""

    @initialize()
    def start(self) -> None:
        super().start()
        self.saved: tuple[str, int, MachineRun[Stage, LifecycleEvent, LifecycleMemory]] | None
        self.saved = None

    @invariant()
    def a_saved_state_resumes_to_the_full_replay(self) -> None:
        """State saved at the last check + the records since = a full replay now."""
        history = ClientHistory.of("C1", self.records)
        full = MACHINE.run(history, as_of=self.now, policy=QUICK)
        if self.saved is not None:
            text, count, first = self.saved
            state = MachineState.from_dict(json.loads(text), MACHINE)
            assert state == first.state
            assert state.as_of is not None
            # A record dated at or before the saved moment that arrives later is a
            # late record (the saved state has passed it): only a full replay sees it.
            if all(r.at > state.as_of for r in self.records[count:]):
                rest = MACHINE.resume(state, history, as_of=self.now, policy=QUICK)
                assert rest.state == full.state
                assert first.trajectory.steps + rest.trajectory.steps == full.trajectory.steps
                assert first.anomalies + rest.anomalies == full.anomalies
        self.saved = (json.dumps(full.state.to_dict()), len(self.records), full)


#: A short trouble-free period and tight service levels, so timers fire often.
QUICK = LifecyclePolicy(
    trouble_free_period=timedelta(days=15), service_levels={"low": timedelta(days=2)}
)

TestSavedStates = SavedStates.TestCase
TestSavedStates.settings = STATEFUL
