"""Tests for relcycle.segmentation.playbook: actions as replaceable data."""

from __future__ import annotations

import json

import pytest

from relcycle import lifecycle
from relcycle.errors import ValidationError
from relcycle.segmentation.motivation import MotivationSegment
from relcycle.segmentation.playbook import (
    DEFAULT_PLAYBOOK,
    STAGES,
    Action,
    Playbook,
    PriorityPolicy,
    Urgency,
)
from relcycle.segmentation.risks import RiskFlag
from relcycle.segmentation.value import ValueClass


class TestDefaultPlaybook:
    """The seed's policies, for every segment, stage and risk."""

    def test_covers_every_key(self) -> None:
        """Every motivation segment, lifecycle stage and risk flag has actions."""
        assert set(DEFAULT_PLAYBOOK.segments) == {m.value for m in MotivationSegment}
        assert set(DEFAULT_PLAYBOOK.stages) == set(STAGES)
        assert set(DEFAULT_PLAYBOOK.risks) == {f.value for f in RiskFlag}
        assert all(DEFAULT_PLAYBOOK.segments.values())
        assert all(DEFAULT_PLAYBOOK.stages.values())

    def test_stage_names_are_the_lifecycles(self) -> None:
        """The stage keys are the lifecycle's stages, in severity order."""
        assert tuple(s.value for s in lifecycle.Stage) == STAGES
        assert DEFAULT_PLAYBOOK.for_stage(lifecycle.Stage.escalated)

    def test_seed_policies(self) -> None:
        """The seed's key policies are there: stability monitored proactively, a KAM."""
        ids = {a.id for a in DEFAULT_PLAYBOOK.for_segment("stability")}
        assert {"stability.monitor_quality", "stability.key_account_manager"} <= ids
        ids = {a.id for a in DEFAULT_PLAYBOOK.for_segment(MotivationSegment.lowest_price)}
        assert {"lowest_price.promo_mailings", "lowest_price.let_go_unprofitable"} <= ids
        assert DEFAULT_PLAYBOOK.for_stage("lost")[0].id == "lost.loss_reason"

    def test_to_dict_is_json(self) -> None:
        """The playbook serialises to plain data."""
        data = json.loads(json.dumps(DEFAULT_PLAYBOOK.to_dict()))
        assert data["stages"]["arbitration"][0]["who"] == "legal"
        assert data["segments"]["novelty"][0]["urgency"] == "medium"


class TestActions:
    """Actions for a client: stage, risks, segment; deduplicated; most urgent first."""

    def test_combined_and_sorted(self) -> None:
        """Critical stage actions come before the segment's routine ones."""
        actions = DEFAULT_PLAYBOOK.actions(
            stage="escalated", segment="stability", risks=["key_person"]
        )
        ranks = [a.urgency.rank for a in actions]
        assert ranks == sorted(ranks, reverse=True)
        assert actions[0].id == "escalated.top_meeting"
        assert actions[-1].urgency is Urgency.low
        assert {"key_person.second_contact", "stability.monitor_quality"} <= {a.id for a in actions}

    def test_shared_action_is_listed_once(self) -> None:
        """The root-cause action of the stage and of the risk appears once."""
        actions = DEFAULT_PLAYBOOK.actions(stage="recurring_problems", risks=["recurring_problems"])
        ids = [a.id for a in actions]
        assert ids.count("recurring_problems.root_cause") == 1

    def test_a_lost_client_gets_no_segment_care(self) -> None:
        """A lost client's actions are its stage's (win-back) and its risks', not its
        segment's; none of them is a standing segment policy."""
        live = DEFAULT_PLAYBOOK.actions(stage="satisfied", segment="stability")
        assert any(a.id.startswith("stability.") for a in live)
        lost = DEFAULT_PLAYBOOK.actions(
            stage="lost", segment="stability", risks=["activity_after_loss"]
        )
        assert lost == DEFAULT_PLAYBOOK.actions(stage="lost", risks=["activity_after_loss"])
        assert not any(a.id.startswith("stability.") for a in lost)
        assert "activity_after_loss.clarify" in {a.id for a in lost}
        assert DEFAULT_PLAYBOOK.standing(stage="lost", segment="stability") == frozenset()

    def test_nothing_known(self) -> None:
        """No stage, segment or risk: no actions; unknown lookups are empty."""
        assert DEFAULT_PLAYBOOK.actions() == ()
        assert Playbook().for_segment("novelty") == ()


class TestReplace:
    """The user replaces actions without touching code."""

    def test_replace_keys(self) -> None:
        """Given keys get new actions; other keys are kept; empty drops a key's actions."""
        call = Action("novelty.call", "Call the product team.", "product_manager", Urgency.high)
        book = DEFAULT_PLAYBOOK.replace(segments={"novelty": (call,)}, stages={"lost": ()})
        assert book.for_segment("novelty") == (call,)
        assert book.for_stage("lost") == ()
        assert book.for_segment("stability") == DEFAULT_PLAYBOOK.for_segment("stability")
        assert DEFAULT_PLAYBOOK.for_segment("novelty") != (call,)

    def test_validation(self) -> None:
        """Unknown keys, non-actions, bad urgencies and conflicting ids are refused."""
        act = Action("x", "Do it.", "someone", Urgency.low)
        with pytest.raises(ValidationError, match="unknown key"):
            Playbook(segments={"loyal": (act,)})
        with pytest.raises(ValidationError, match="unknown key"):
            Playbook(stages={"angry": (act,)})
        with pytest.raises(ValidationError, match="not an Action"):
            Playbook(risks={"key_person": ("call",)})  # type: ignore[dict-item]
        with pytest.raises(ValidationError, match="urgency"):
            Action("x", "Do it.", "someone", "asap")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="text"):
            Action("x", " ", "someone", Urgency.low)
        other = Action("x", "Do something else.", "someone", Urgency.low)
        with pytest.raises(ValidationError, match="share this id"):
            Playbook(segments={"novelty": (act,), "stability": (other,)})

    def test_urgency_strings_accepted(self) -> None:
        """Urgency may be given as its string value."""
        assert Action("x", "Do it.", "me", "high").urgency is Urgency.high  # type: ignore[arg-type]


class TestPriority:
    """PriorityPolicy: the value class moves the urgency of a client's actions."""

    def test_default_moves_a_up_and_c_down(self) -> None:
        """An escalation is critical for B, high for C; a recurring problem critical for A."""
        policy = PriorityPolicy()
        escalated = DEFAULT_PLAYBOOK.actions(stage="escalated")
        recurring = DEFAULT_PLAYBOOK.actions(stage="recurring_problems")
        assert {a.urgency for a in policy.adjust(escalated, ValueClass.B)} == {Urgency.critical}
        assert {a.urgency for a in policy.adjust(escalated, ValueClass.C)} == {Urgency.high}
        assert {a.urgency for a in policy.adjust(recurring, ValueClass.A)} == {Urgency.critical}

    def test_urgency_stays_within_low_and_critical(self) -> None:
        assert Urgency.critical.shifted(2) is Urgency.critical
        assert Urgency.low.shifted(-1) is Urgency.low
        assert Urgency.medium.shifted(1) is Urgency.high

    def test_order_is_by_the_moved_urgency(self) -> None:
        """Moved actions stay most urgent first, in the playbook's order within one urgency."""
        actions = DEFAULT_PLAYBOOK.actions(stage="satisfied", segment="stability")
        moved = PriorityPolicy(value_class_shift={"A": 2}).adjust(actions, ValueClass.A)
        ranks = [a.urgency.rank for a in moved]
        assert ranks == sorted(ranks, reverse=True)
        assert [a.id for a in moved] == [a.id for a in actions]
        assert moved[0].urgency is Urgency.critical  # monitor_quality: high + 2
        unmoved = PriorityPolicy(value_class_shift={"A": 2}).adjust(actions, ValueClass.B)
        assert unmoved == actions

    def test_standing_segment_policies_keep_their_urgency(self) -> None:
        """A satisfied class-A stability client: its feedback action moves, its segment's
        standing policies (monitor quality: high) do not."""
        actions = DEFAULT_PLAYBOOK.actions(stage="satisfied", segment="stability")
        standing = DEFAULT_PLAYBOOK.standing(stage="satisfied", segment="stability")
        assert standing == {a.id for a in DEFAULT_PLAYBOOK.for_segment("stability")}
        moved = {
            a.id: a.urgency
            for a in PriorityPolicy().adjust(actions, ValueClass.A, standing=standing)
        }
        assert moved["stability.monitor_quality"] is Urgency.high
        assert moved["satisfied.ask_feedback"] is Urgency.medium  # low + 1

    def test_an_action_answering_a_risk_is_not_standing(self) -> None:
        """An id in the segment's and a risk's actions answers the risk: it moves."""
        mine = DEFAULT_PLAYBOOK.replace(
            risks={"unprofitable": DEFAULT_PLAYBOOK.for_segment("lowest_price")[4:]}
        )
        assert "lowest_price.let_go_unprofitable" in mine.standing(segment="lowest_price")
        assert "lowest_price.let_go_unprofitable" not in mine.standing(
            segment="lowest_price", risks=["unprofitable"]
        )
        assert mine.standing(stage="lost") == frozenset()

    @pytest.mark.parametrize(
        ("shifts", "match"),
        [
            ({"D": 1}, "value_class_shift"),
            ({"A": 4}, r"value_class_shift\[A\]"),
            ({"A": True}, r"value_class_shift\[A\]"),
        ],
    )
    def test_bad_shifts_name_the_key(self, shifts: dict[str, object], match: str) -> None:
        with pytest.raises(ValidationError, match=match):
            PriorityPolicy(value_class_shift=shifts)  # type: ignore[arg-type]
