"""Playbooks: what to do with a client, as data.

An :class:`Action` is a value (id, text, who, urgency). A :class:`Playbook` maps
each motivation segment, each lifecycle stage and each risk flag to its actions.
:data:`DEFAULT_PLAYBOOK` holds the policies of the seed texts; a user replaces
all of it or some keys (:meth:`Playbook.replace`), never code.

Stage keys are the contract's lifecycle stage names (``satisfied`` ...
``lost``, :data:`STAGES`); members of ``relcycle.lifecycle.Stage`` work too, being
string enums with those values.

**Priority from value** (seed 003: the most valuable clients have a right to
priority service). An action's urgency in the playbook is that of the stage, risk
or segment it answers; the report moves the urgency of the actions that answer
the client's stage and risks by its value class (:class:`PriorityPolicy`, the
report's ``priority`` policy): by default one step up for class ``A``, none for
``B``, one step down for ``C``, within ``low`` ... ``critical``. The standing
policies of its motivation segment (:meth:`Playbook.standing`: "keep in touch",
"monitor quality proactively") keep their urgency: a problem-free client is not
made urgent by its value alone. So the escalation e-mail of a small price hunter (class ``C``,
``critical`` -> ``high``) does not outrank the recurring late deliveries of the
biggest account (class ``A``, ``high`` -> ``critical``). Across clients, actions
are ordered by this urgency, then value class, then profit (where known), then
revenue (:func:`relcycle.report.priority_key`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from relcycle._vocab import OrderedVocab
from relcycle.errors import ValidationError
from relcycle.lifecycle import Stage
from relcycle.model import FrozenMap

from .motivation import MotivationSegment
from .risks import RiskFlag
from .value import ValueClass

__all__ = ["DEFAULT_PLAYBOOK", "STAGES", "Action", "Playbook", "PriorityPolicy", "Urgency"]

#: The lifecycle stage names of the contract, in order of severity (the
#: lifecycle's :class:`~relcycle.lifecycle.Stage`).
STAGES: tuple[str, ...] = tuple(stage.value for stage in Stage)


class Urgency(OrderedVocab):
    """How soon an action is due, lowest first."""

    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    def shifted(self, steps: int) -> Urgency:
        """The urgency ``steps`` levels up (down when negative), within low ... critical."""
        members = tuple(Urgency)
        return members[max(0, min(len(members) - 1, self.rank + steps))]


@attrs.frozen
class Action:
    """One recommended action.

    Attributes:
        id: A stable id (``"stability.monitor_quality"``).
        text: What to do, for a person.
        who: The role that does it (``account_manager``, ``key_account_manager``,
            ``sales_manager``, ``service_manager``, ``marketing``,
            ``top_management``, ``legal``; any text is accepted).
        urgency: How soon (``low`` ... ``critical``).
    """

    id: str
    text: str
    who: str
    urgency: Urgency

    def __attrs_post_init__(self) -> None:
        for field in ("id", "text", "who"):
            value = getattr(self, field)
            if type(value) is not str or not value.strip():
                raise ValidationError(
                    record="Action",
                    field=field,
                    value=value,
                    record_id=self.id if type(self.id) is str else None,
                    reason="must be a non-empty string",
                )
        try:
            object.__setattr__(self, "urgency", Urgency.parse(self.urgency))
        except ValueError as exc:
            raise ValidationError(
                record="Action",
                field="urgency",
                value=self.urgency,
                record_id=self.id,
                reason=str(exc),
            ) from None

    def to_dict(self) -> dict[str, str]:
        """Return ``{"id", "text", "who", "urgency"}`` as strings."""
        return {"id": self.id, "text": self.text, "who": self.who, "urgency": self.urgency.value}


_KEYS: dict[str, frozenset[str]] = {
    "segments": frozenset(m.value for m in MotivationSegment),
    "stages": frozenset(STAGES),
    "risks": frozenset(f.value for f in RiskFlag),
}


def _table(kind: str, value: Mapping[Any, Iterable[Action]]) -> FrozenMap[str, tuple[Action, ...]]:
    result: dict[str, tuple[Action, ...]] = {}
    for key, actions in value.items():
        name = str(key.value) if hasattr(key, "value") else key
        if name not in _KEYS[kind]:
            raise ValidationError(
                record="Playbook",
                field=kind,
                value=key,
                reason=f"unknown key (known: {', '.join(sorted(_KEYS[kind]))})",
            )
        items = tuple(actions)
        for a in items:
            if not isinstance(a, Action):
                raise ValidationError(
                    record="Playbook", field=f"{kind}[{name}]", value=a, reason="not an Action"
                )
        result[name] = items
    return FrozenMap(result)


def _segments(value: Mapping[Any, Iterable[Action]]) -> FrozenMap[str, tuple[Action, ...]]:
    return _table("segments", value)


def _stages(value: Mapping[Any, Iterable[Action]]) -> FrozenMap[str, tuple[Action, ...]]:
    return _table("stages", value)


def _risks(value: Mapping[Any, Iterable[Action]]) -> FrozenMap[str, tuple[Action, ...]]:
    return _table("risks", value)


#: How many distinct questions a playbook remembers the answers to.
_MAX_ANSWERS = 4096


def _ended(stage: str | None) -> bool:
    """Whether the relationship has ended (the lifecycle's ``lost``): no segment care."""
    return stage is not None and str(stage) == Stage.lost.value


@attrs.frozen
class Playbook:
    """Actions per motivation segment, per lifecycle stage and per risk flag.

    Keys are the string values (members of the vocabularies work too). One action
    id always means the same action: two different actions under one id are refused.

    Attributes:
        segments: Actions by motivation segment.
        stages: Actions by lifecycle stage name.
        risks: Actions by risk flag.
    """

    segments: FrozenMap[str, tuple[Action, ...]] = attrs.field(
        factory=FrozenMap, converter=_segments
    )
    stages: FrozenMap[str, tuple[Action, ...]] = attrs.field(factory=FrozenMap, converter=_stages)
    risks: FrozenMap[str, tuple[Action, ...]] = attrs.field(factory=FrozenMap, converter=_risks)
    # actions()'s answers by (stage, segment, risks): the playbook is frozen, so an
    # answer never changes, and a report asks the same few questions per client.
    _answers: dict[tuple[str | None, str | None, tuple[str, ...]], tuple[Action, ...]] = (
        attrs.field(factory=dict, init=False, repr=False, eq=False, hash=False)
    )

    def __attrs_post_init__(self) -> None:
        seen: dict[str, Action] = {}
        for table in (self.segments, self.stages, self.risks):
            for actions in table.values():
                for a in actions:
                    if a.id in seen and seen[a.id] != a:
                        raise ValidationError(
                            record="Playbook",
                            field="id",
                            value=a.id,
                            record_id=a.id,
                            reason="two different actions share this id",
                        )
                    seen[a.id] = a

    def for_segment(self, segment: str) -> tuple[Action, ...]:
        """The actions of a motivation segment (empty if it has none)."""
        return self.segments.get(str(segment), ())

    def for_stage(self, stage: str) -> tuple[Action, ...]:
        """The actions of a lifecycle stage (empty if it has none)."""
        return self.stages.get(str(stage), ())

    def for_risk(self, flag: str) -> tuple[Action, ...]:
        """The actions of a risk flag (empty if it has none)."""
        return self.risks.get(str(flag), ())

    def actions(
        self,
        *,
        stage: str | None = None,
        segment: str | None = None,
        risks: Iterable[str] = (),
    ) -> tuple[Action, ...]:
        """The actions for a client: its stage's, its risks', then its segment's.

        A ``lost`` client gets its stage's (win-back) and its risks' actions only:
        its segment's care is for a live client. Duplicates (same id) are kept
        once; the result is ordered by urgency, most urgent first, and keeps the
        stage/risks/segment order within one urgency.

        Args:
            stage: The client's lifecycle stage name, if known.
            segment: The client's motivation segment, if known.
            risks: The client's risk flags.
        """
        key = (
            None if stage is None else str(stage),
            None if segment is None or _ended(stage) else str(segment),
            tuple(str(flag) for flag in risks),
        )
        found = self._answers.get(key)
        if found is None:
            found = self._collect(*key)
            if len(self._answers) < _MAX_ANSWERS:
                self._answers[key] = found
        return found

    def _collect(
        self, stage: str | None, segment: str | None, risks: tuple[str, ...]
    ) -> tuple[Action, ...]:
        collected: dict[str, Action] = {}
        groups: list[tuple[Action, ...]] = []
        if stage is not None:
            groups.append(self.for_stage(stage))
        groups.extend(self.for_risk(flag) for flag in risks)
        if segment is not None:
            groups.append(self.for_segment(segment))
        for group in groups:
            for a in group:
                collected.setdefault(a.id, a)
        return tuple(sorted(collected.values(), key=lambda a: -a.urgency.rank))

    def standing(
        self, *, stage: str | None = None, segment: str | None = None, risks: Iterable[str] = ()
    ) -> frozenset[str]:
        """The ids of a client's actions that come from its segment alone.

        The segment's standing policies, which :class:`PriorityPolicy` leaves at
        their urgency; an action also answering the stage or a risk is not one.

        Args:
            stage: The client's lifecycle stage name, if known.
            segment: The client's motivation segment, if known.
            risks: The client's risk flags.
        """
        if segment is None or _ended(stage):
            return frozenset()
        answering = {a.id for a in (self.for_stage(stage) if stage is not None else ())}
        answering.update(a.id for flag in risks for a in self.for_risk(flag))
        return frozenset(a.id for a in self.for_segment(segment) if a.id not in answering)

    def replace(
        self,
        *,
        segments: Mapping[Any, Iterable[Action]] | None = None,
        stages: Mapping[Any, Iterable[Action]] | None = None,
        risks: Mapping[Any, Iterable[Action]] | None = None,
    ) -> Playbook:
        """A copy whose given keys hold new actions (other keys are kept).

        Pass an empty tuple for a key to drop its actions.
        """
        return Playbook(
            segments={**self.segments, **_segments(segments or {})},
            stages={**self.stages, **_stages(stages or {})},
            risks={**self.risks, **_risks(risks or {})},
        )

    def to_dict(self) -> dict[str, dict[str, list[dict[str, str]]]]:
        """Return the playbook as plain data (JSON-ready)."""
        return {
            kind: {k: [a.to_dict() for a in v] for k, v in getattr(self, kind).items()}
            for kind in ("segments", "stages", "risks")
        }


_SHIFT_LIMIT = len(Urgency) - 1


def _shifts(value: Mapping[Any, int]) -> FrozenMap[ValueClass, int]:
    result: dict[ValueClass, int] = {}
    for key, steps in value.items():
        try:
            cls = ValueClass.parse(key)
        except ValueError as exc:
            raise ValidationError(
                record="PriorityPolicy", field="value_class_shift", value=key, reason=str(exc)
            ) from None
        if type(steps) is not int or not -_SHIFT_LIMIT <= steps <= _SHIFT_LIMIT:
            raise ValidationError(
                record="PriorityPolicy",
                field=f"value_class_shift[{cls.value}]",
                value=steps,
                reason=f"expected an int from -{_SHIFT_LIMIT} to {_SHIFT_LIMIT} (urgency steps)",
            )
        result[cls] = steps
    return FrozenMap(result)


@attrs.frozen(kw_only=True)
class PriorityPolicy:
    """How a client's value class moves the urgency of its actions (see the module docs).

    Attributes:
        value_class_shift: Urgency steps per value class, added to each action's
            playbook urgency and kept within low ... critical; a class left out
            moves nothing. Default ``A = 1``, ``B = 0``, ``C = -1``; all 0 gives
            the playbook's urgencies unchanged.
    """

    value_class_shift: FrozenMap[ValueClass, int] = attrs.field(
        factory=lambda: FrozenMap({ValueClass.A: 1, ValueClass.B: 0, ValueClass.C: -1}),
        converter=_shifts,
    )

    def adjust(
        self,
        actions: Iterable[Action],
        value_class: ValueClass,
        *,
        standing: Collection[str] = frozenset(),
    ) -> tuple[Action, ...]:
        """A client's actions with urgencies moved by its value class, most urgent first.

        Args:
            actions: The playbook's actions for the client (:meth:`Playbook.actions`).
            value_class: The client's value class.
            standing: The ids of the actions that keep their urgency: the standing
                policies of the client's segment (:meth:`Playbook.standing`).

        Returns:
            The actions, the moved ones with their new urgency, ordered by
            urgency (most urgent first; the given order within one urgency).
        """
        steps = self.value_class_shift.get(value_class, 0)
        found = tuple(actions)
        if not steps:
            return found
        moved = [
            a if a.id in standing else attrs.evolve(a, urgency=a.urgency.shifted(steps))
            for a in found
        ]
        return tuple(sorted(moved, key=lambda a: -a.urgency.rank))


def _a(id: str, text: str, who: str, urgency: str) -> Action:
    return Action(id, text, who, Urgency(urgency))


_ROOT_CAUSE = _a(
    "recurring_problems.root_cause",
    "Treat the recurring complaints as a symptom: find the process or system behind them "
    "that does not meet the client's expectations, not a culprit.",
    "service_manager",
    "high",
)

#: The seed texts' policies (seeds 000, 001, 003, 004) as a playbook.
DEFAULT_PLAYBOOK = Playbook(
    segments={
        "lowest_price": (
            _a(
                "lowest_price.non_loyal",
                "Treat as a non-loyal client: do not invest in long-term loyalty measures.",
                "account_manager",
                "low",
            ),
            _a(
                "lowest_price.shortage_priority",
                "Give the lowest priority when goods are short.",
                "sales_manager",
                "low",
            ),
            _a(
                "lowest_price.price_for_service",
                "Offer lower prices in exchange for rationed service; sell extra support "
                "as a paid option.",
                "sales_manager",
                "medium",
            ),
            _a(
                "lowest_price.promo_mailings",
                "Send automatic mailings of promotions, discounts and bonus programmes.",
                "marketing",
                "low",
            ),
            _a(
                "lowest_price.let_go_unprofitable",
                "When the client is unprofitable, let it go to competitors rather than cut "
                "the price further.",
                "sales_manager",
                "medium",
            ),
        ),
        "novelty": (
            _a(
                "novelty.first_to_know",
                "Notify the client first of new products and invite it to pilots.",
                "account_manager",
                "medium",
            ),
            _a(
                "novelty.trends",
                "Consult the client on market trends and ask its view of new offers.",
                "account_manager",
                "low",
            ),
            _a(
                "novelty.competitor_news",
                "Collect news about competitors from the client's requests.",
                "marketing",
                "low",
            ),
            _a(
                "novelty.non_loyal",
                "Treat as non-loyal: do not count on its volumes in sales plans.",
                "sales_manager",
                "low",
            ),
        ),
        "belonging": (
            _a(
                "belonging.contact_often",
                "Contact the client as often as possible and ask its advice.",
                "account_manager",
                "medium",
            ),
            _a(
                "belonging.meet_informally",
                "Meet the client's people outside work hours.",
                "account_manager",
                "low",
            ),
            _a(
                "belonging.inform_in_advance",
                "Give information and samples, exchange newsletters, inform of changes in advance.",
                "marketing",
                "medium",
            ),
            _a(
                "belonging.press",
                "Name the client in press releases (with its consent); consider bonuses.",
                "marketing",
                "low",
            ),
            _a(
                "belonging.tact",
                "Be tactful: the client's interest comes close to the supplier's trade secrets.",
                "account_manager",
                "medium",
            ),
        ),
        "stability": (
            _a(
                "stability.keep_in_touch",
                "Keep in touch without interfering.",
                "account_manager",
                "low",
            ),
            _a(
                "stability.monitor_quality",
                "Monitor service quality proactively: this client rarely complains, even "
                "when it matters.",
                "service_manager",
                "high",
            ),
            _a(
                "stability.key_account_manager",
                "Assign a key-account manager.",
                "sales_manager",
                "medium",
            ),
            _a(
                "stability.joint_planning_later",
                "Offer joint planning only after long trouble-free cooperation.",
                "account_manager",
                "low",
            ),
        ),
        "unclassified": (
            _a(
                "unclassified.learn_motivation",
                "Learn why the client buys: review its contacts and orders and ask about "
                "its needs.",
                "account_manager",
                "low",
            ),
        ),
    },
    stages={
        "satisfied": (
            _a(
                "satisfied.ask_feedback",
                "Keep the client satisfied: ask for feedback in any form and act on it.",
                "service_manager",
                "low",
            ),
        ),
        "recurring_problems": (
            _ROOT_CAUSE,
            _a(
                "recurring_problems.engage_departments",
                "Engage every department that serves the client in the fix.",
                "service_manager",
                "high",
            ),
            _a(
                "recurring_problems.compensate_loss",
                "Where the client suffered a loss, acknowledge it and compensate.",
                "account_manager",
                "high",
            ),
        ),
        "voicing_discontent": (
            _a(
                "voicing_discontent.listen",
                "Meet the client, hear its discontent, agree what will change and by when.",
                "account_manager",
                "high",
            ),
            _a(
                "voicing_discontent.inform",
                "Keep the client informed so its expectations match what the supplier can deliver.",
                "service_manager",
                "high",
            ),
        ),
        "monitoring_failures": (
            _a(
                "monitoring_failures.kpis",
                "Urgently improve how the supplier measures its performance indicators for "
                "this client and share the figures with it.",
                "sales_manager",
                "critical",
            ),
            _a(
                "monitoring_failures.fix_fast",
                "Fix each recorded failure fast and report every fix to the client's staff.",
                "service_manager",
                "critical",
            ),
        ),
        "escalated": (
            _a(
                "escalated.top_meeting",
                "Top management meets the client's management and owns the fix.",
                "top_management",
                "critical",
            ),
            _a(
                "escalated.no_scapegoats",
                "Do not hunt for culprits: change the process that fails the client.",
                "top_management",
                "critical",
            ),
        ),
        "ultimatum": (
            _a(
                "ultimatum.recovery_plan",
                "Answer the ultimatum with a concrete, dated recovery plan.",
                "top_management",
                "critical",
            ),
            _a(
                "ultimatum.stakes",
                "Assess what is at stake (revenue, references) and prepare the retention offer.",
                "sales_manager",
                "critical",
            ),
        ),
        "arbitration": (
            _a(
                "arbitration.counsel",
                "Involve legal counsel, avoid retaliation, seek a settlement.",
                "legal",
                "critical",
            ),
        ),
        "lost": (
            _a(
                "lost.loss_reason",
                "Record and analyse why the client was lost (competitor, price, quality, "
                "service, manager left).",
                "sales_manager",
                "medium",
            ),
            _a(
                "lost.win_back",
                "Plan a win-back contact once the cause of the loss is fixed.",
                "account_manager",
                "low",
            ),
        ),
    },
    risks={
        "recurring_problems": (_ROOT_CAUSE,),
        "key_person": (
            _a(
                "key_person.second_contact",
                "Make the relationship rest on the supplier, not one person: introduce a "
                "second contact and a dedicated service manager, and make sure the client "
                "knows whom to call for key questions.",
                "sales_manager",
                "high",
            ),
        ),
        "silent_stable": (
            _a(
                "silent_stable.service_review",
                "Review the late and cancelled deliveries with the client before it "
                "draws its own conclusions.",
                "service_manager",
                "high",
            ),
        ),
        "overdue_complaint": (
            _a(
                "overdue_complaint.resolve_now",
                "Resolve the overdue complaint now and tell the client when it will be closed.",
                "service_manager",
                "critical",
            ),
        ),
        "unprofitable": (
            _a(
                "unprofitable.review_terms",
                "Review prices, service level and cost-to-serve; let the client go if it "
                "stays unprofitable and buys on price only.",
                "sales_manager",
                "medium",
            ),
        ),
        "overdue_order": (
            _a(
                "overdue_order.call",
                "The regular order is late: call the client and ask what changed.",
                "account_manager",
                "high",
            ),
        ),
        "past_escalation": (
            _a(
                "past_escalation.review",
                "The client's management has been involved: review the account with it "
                "regularly until the fix has held, and check that the process behind the "
                "escalation was changed.",
                "top_management",
                "medium",
            ),
        ),
        "activity_after_loss": (
            _a(
                "activity_after_loss.clarify",
                "The lost client still orders or calls: find out whether these are "
                "deliveries still due or a way back, and record a reactivation if it "
                "returns.",
                "account_manager",
                "medium",
            ),
        ),
    },
)
