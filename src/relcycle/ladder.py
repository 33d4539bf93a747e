"""The constructional relationship ladder: rungs, their evidence and what moves them.

A client stands on one rung of a ladder of relationship levels, lowest first
(domain section 3)::

    adversary -> doubter -> buyer -> customer -> advocate -> expert

The ladder is a :class:`~relcycle.machine.Machine` like the lifecycle
(:data:`MACHINE`): its table (:data:`TABLE`, a validated
:class:`~relcycle.machine.TransitionTable`), a trigger table over the rule layer
(:data:`TRIGGERS`: sale orders and interactions), a pure decider over a frozen
:class:`LadderMemory` with two timers (inactivity, and an advocate's tenure), and
the lifecycle's moves as inputs (:func:`lifecycle_inputs`, one machine feeding
another). :func:`assess` runs it and returns a :class:`LadderAssessment`: the
rung, whether the client is still active, the whole trajectory (so the rung at
any past moment is known), the evidence that decided it,
:meth:`~LadderAssessment.explain` and :meth:`~LadderAssessment.next_step` (the
next rung and the competency it needs). A run's state saves as JSON and
:meth:`~relcycle.machine.Machine.resume` goes on from it with later records and
lifecycle moves, with the full replay's result.

The rules (all thresholds in :class:`LadderPolicy`):

- A client starts as a **doubter** (not convinced): contacts but no sales.
- A sale order (the rule :data:`relcycle.rules.SALE`) makes a **buyer**.
- Regular repeat ordering makes a **customer**: the purchase days since the last
  demotion are ``regular`` by the regularity rule of the report
  (:func:`~relcycle.segmentation.regularity.regular_gaps` with
  ``policy.regularity``: at least 3 gaps whose coefficient of variation is at most
  0.5 by default), counted in the assessment's time zone.
- ``advocate_min_signals`` advocacy contacts (the rule
  :data:`relcycle.rules.ADVOCACY`: ``referral``, ``joint_planning``,
  ``service_exchange``) make a customer an **advocate**.
- Sustained engagement makes an advocate an **expert**: ``expert_min_engagements``
  engagement contacts (:data:`relcycle.rules.ENGAGEMENT`: joint planning or offer
  change) spread over ``expert_min_engagement_span``,
  ``expert_min_tenure`` since the first sale, and ``expert_min_products`` distinct
  products bought.
- A lifecycle that turns hostile (a stage in ``hostile_stages``) pulls the client
  down to **adversary**; when it leaves the hostile stages the client is
  reconciled to **doubter**.
- A lost client (lifecycle stage ``lost``) leaves the active rungs: its rung stays
  what it was and :attr:`LadderAssessment.active` is False. Won back, it starts
  again as a doubter.
- ``inactivity_period`` without activity (a sale order, a client-initiated
  contact by :data:`relcycle.rules.INBOUND`, or an advocacy or engagement
  contact) steps a buyer or higher down one rung (and again after each further
  period).

Promotions move one rung at a time; when one record satisfies several rules at
once (an order that makes a buyer with earlier referrals a customer), the client
takes several one-rung steps at that moment. Evidence for promotions counts only
records since the client's last demotion (or reconciliation, or return), so a
demotion is never undone by the records that came before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple, Protocol, cast

import attrs

from ._decimal import in_own_context
from ._repr import count
from ._vocab import OrderedVocab, Vocab
from ._zones import resolve_zone
from .errors import UsageError, ValidationError
from .evidence import Evidence
from .history import ClientHistory, Portfolio
from .lifecycle import Stage
from .lifecycle import assess as _assess_lifecycle
from .machine import (
    Decision,
    Machine,
    MachineState,
    Occurrence,
    StepView,
    Timer,
    Trajectory,
    TransitionTable,
    Trigger,
    transitions_as_occurrences,
)
from .migration import MigrationMatrix, migration_matrix, revenue_between
from .model import FrozenMap, Purpose
from .rules import (
    ADVOCACY,
    ADVOCACY_PURPOSES,
    ENGAGEMENT,
    ENGAGEMENT_PURPOSES,
    INBOUND,
    SALE,
    Rule,
    f,
)
from .segmentation.regularity import RegularityPolicy, cv_text, mean_gap_text, regular_gaps

__all__ = [
    "COMPETENCIES",
    "MACHINE",
    "TABLE",
    "TRIGGERS",
    "Competency",
    "LadderAssessment",
    "LadderEvent",
    "LadderMemory",
    "LadderPolicy",
    "LadderSettings",
    "LifecycleView",
    "NextStep",
    "Rung",
    "StageStep",
    "StageTrajectory",
    "assess",
    "assess_portfolio",
    "competency_for",
    "ladder_migration",
    "lifecycle_inputs",
]


# --------------------------------------------------------------------------- vocabularies


class Rung(OrderedVocab):
    """A rung of the relationship ladder, lowest first (members are ordered)."""

    adversary = "adversary"
    doubter = "doubter"
    buyer = "buyer"
    customer = "customer"
    advocate = "advocate"
    expert = "expert"


class LadderEvent(Vocab):
    """What moves a client on the ladder (past-tense facts).

    Promotions: ``purchased`` (doubter -> buyer), ``ordered_regularly``
    (buyer -> customer), ``advocated`` (customer -> advocate), ``engaged_deeply``
    (advocate -> expert), ``reconciled`` (adversary -> doubter, the lifecycle left
    its hostile stages). Demotions: ``turned_hostile`` (any rung -> adversary),
    ``went_inactive`` (one rung down, buyer and above). ``relationship_ended``
    keeps the rung (the client leaves the active rungs); ``relationship_resumed``
    restarts a won-back client as a doubter.
    """

    purchased = "purchased"
    ordered_regularly = "ordered_regularly"
    advocated = "advocated"
    engaged_deeply = "engaged_deeply"
    reconciled = "reconciled"
    turned_hostile = "turned_hostile"
    went_inactive = "went_inactive"
    relationship_ended = "relationship_ended"
    relationship_resumed = "relationship_resumed"


class Competency(Vocab):
    """The skill a manager needs to move a client up from a rung (seed 002).

    - ``facts_and_figures``: adversary -> doubter; clear facts and figures so the
      prospect can judge the practical value of the offer (seed 002).
    - ``fast_selling``: doubter -> buyer; the managers "with the most experience of
      selling in the shortest time" who bring clients at least to buyer (seed 002,
      relay model).
    - ``emotional_closeness``: buyer -> customer; getting emotionally closer to the
      client (seed 002).
    - ``long_term_partnership``: customer -> advocate; building closer, long-term
      relations, joint planning and exchanging services (seed 002's second relay
      manager, seed 004's partner).
    - ``deep_product_knowledge``: advocate -> expert, and holding an expert; the
      client's deep understanding of the supplier's products and services comes
      from the most experienced member of the team (seed 002).
    """

    facts_and_figures = "facts_and_figures"
    fast_selling = "fast_selling"
    emotional_closeness = "emotional_closeness"
    long_term_partnership = "long_term_partnership"
    deep_product_knowledge = "deep_product_knowledge"


#: The competency each step up needs, by the rung the step starts from. The
#: expert's entry is the competency that keeps a client there.
COMPETENCIES: Mapping[Rung, Competency] = FrozenMap(
    {
        Rung.adversary: Competency.facts_and_figures,
        Rung.doubter: Competency.fast_selling,
        Rung.buyer: Competency.emotional_closeness,
        Rung.customer: Competency.long_term_partnership,
        Rung.advocate: Competency.deep_product_knowledge,
        Rung.expert: Competency.deep_product_knowledge,
    }
)


def competency_for(rung: Rung | str) -> Competency:
    """The competency a manager needs to move a client up from ``rung``.

    For ``expert`` (the top rung) it is the competency that keeps the client there.

    Raises:
        ValidationError: If ``rung`` is not a rung.
    """
    try:
        member = Rung.parse(rung)
    except ValueError as exc:
        raise ValidationError(record="Rung", field="rung", value=rung, reason=str(exc)) from None
    return COMPETENCIES[member]


_ACTIVE_RUNGS = (Rung.doubter, Rung.buyer, Rung.customer, Rung.advocate, Rung.expert)

#: The machine: promotions, demotions, leaving and returning.
TABLE: TransitionTable[Rung, LadderEvent] = TransitionTable.define(
    name="ladder",
    states=Rung,
    events=LadderEvent,
    initial=Rung.doubter,
    rows=[
        (Rung.adversary, LadderEvent.reconciled, Rung.doubter),
        (Rung.doubter, LadderEvent.purchased, Rung.buyer),
        (Rung.buyer, LadderEvent.ordered_regularly, Rung.customer),
        (Rung.customer, LadderEvent.advocated, Rung.advocate),
        (Rung.advocate, LadderEvent.engaged_deeply, Rung.expert),
        (_ACTIVE_RUNGS, LadderEvent.turned_hostile, Rung.adversary),
        (Rung.buyer, LadderEvent.went_inactive, Rung.doubter),
        (Rung.customer, LadderEvent.went_inactive, Rung.buyer),
        (Rung.advocate, LadderEvent.went_inactive, Rung.customer),
        (Rung.expert, LadderEvent.went_inactive, Rung.advocate),
        *((r, LadderEvent.relationship_ended, r) for r in Rung),
        (tuple(Rung), LadderEvent.relationship_resumed, Rung.doubter),
    ],
)

_PROMOTION_EVENT: Mapping[Rung, LadderEvent] = FrozenMap(
    {
        Rung.buyer: LadderEvent.purchased,
        Rung.customer: LadderEvent.ordered_regularly,
        Rung.advocate: LadderEvent.advocated,
        Rung.expert: LadderEvent.engaged_deeply,
    }
)

# --------------------------------------------------------------------------- policy


def _positive_td(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValidationError(
            record="LadderPolicy",
            field=attribute.name,
            value=value,
            reason="must be a positive timedelta",
        )


def _nonneg_td(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValidationError(
            record="LadderPolicy",
            field=attribute.name,
            value=value,
            reason="must be a timedelta >= 0",
        )


def _positive_int(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 1:
        raise ValidationError(
            record="LadderPolicy", field=attribute.name, value=value, reason="must be an int >= 1"
        )


def _ratio(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not Decimal or not value.is_finite() or value < 1:
        raise ValidationError(
            record="LadderPolicy",
            field=attribute.name,
            value=value,
            reason="must be a Decimal >= 1",
        )


def _purposes(value: Iterable[Purpose | str]) -> frozenset[Purpose]:
    try:
        return frozenset(Purpose.parse(p) for p in value)
    except ValueError as exc:
        raise ValidationError(
            record="LadderPolicy", field="purposes", value=value, reason=str(exc)
        ) from None


def _stage(field: str, value: object) -> Stage:
    try:
        return Stage.parse(value)
    except ValueError as exc:
        raise ValidationError(
            record="LadderPolicy", field=field, value=value, reason=f"not a lifecycle stage: {exc}"
        ) from None


def _hostile(value: Iterable[Stage | str]) -> frozenset[Stage]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError(
            record="LadderPolicy",
            field="hostile_stages",
            value=value,
            reason="give a collection of lifecycle stages, not one",
        )
    return frozenset(_stage("hostile_stages", v) for v in value)


def _lost(value: Stage | str) -> Stage:
    return _stage("lost_stage", value)


@attrs.frozen(kw_only=True)
class LadderPolicy:
    """Every threshold of the ladder's rules, with documented defaults.

    Attributes:
        regularity: The rule of "regular buying" that makes a buyer a customer:
            the client's purchase days since the last demotion must be ``regular``
            by :func:`~relcycle.segmentation.regularity.regularity_from_days` (the
            rule the report's ``regularity`` field uses, so the rung and that field
            never disagree). Default ``RegularityPolicy()``; its window is not used
            (the ladder counts from its last reset).
        advocacy_purposes: Interaction purposes that show advocacy. Default
            :data:`relcycle.rules.ADVOCACY_PURPOSES`: ``referral``,
            ``joint_planning``, ``service_exchange`` (:attr:`advocacy` is the rule).
        advocate_min_signals: Advocacy contacts since the last demotion that make a
            customer an advocate. Default 1.
        engagement_purposes: Interaction purposes that show deep engagement (joint
            planning, offer co-design). Default
            :data:`relcycle.rules.ENGAGEMENT_PURPOSES`: ``joint_planning``,
            ``offer_change`` (:attr:`engagement` is the rule).
        expert_min_engagements: Engagement contacts since the last demotion an
            expert needs. Default 3.
        expert_min_engagement_span: The first and last of them must be at least this
            far apart (sustained, not one workshop). Default 90 days.
        expert_min_tenure: Time since the client's first sale order. Default 365 days.
        expert_min_products: Distinct products among the client's sale orders.
            Default 3.
        inactivity_period: Without activity (a sale order, a client-initiated
            contact (:data:`relcycle.rules.INBOUND`: a marketing touch is not
            one), or an advocacy or engagement contact) for this long, a buyer
            or higher steps down one rung, and again after each further period.
            Default 180 days.
        hostile_stages: Lifecycle stages (:class:`~relcycle.lifecycle.Stage`
            members, or their values) that make a client an adversary (seed 000:
            the dissatisfied client "may turn into an adversary"). Default
            ``monitoring_failures``, ``escalated``, ``ultimatum``, ``arbitration``.
            Held as members; a name that is not a stage is refused.
        lost_stage: The lifecycle stage of a lost client (a member or its
            value). Default ``lost``.
        attribution_window: For contact value: the contacts at most this long before
            a promotion (and not after it) share the credit for it. Default 90 days.
    """

    regularity: RegularityPolicy = attrs.field(factory=RegularityPolicy)
    advocacy_purposes: frozenset[Purpose] = attrs.field(
        default=ADVOCACY_PURPOSES, converter=_purposes
    )
    advocate_min_signals: int = attrs.field(default=1, validator=_positive_int)
    engagement_purposes: frozenset[Purpose] = attrs.field(
        default=ENGAGEMENT_PURPOSES, converter=_purposes
    )
    expert_min_engagements: int = attrs.field(default=3, validator=_positive_int)
    expert_min_engagement_span: timedelta = attrs.field(
        default=timedelta(days=90), validator=_nonneg_td
    )
    expert_min_tenure: timedelta = attrs.field(default=timedelta(days=365), validator=_nonneg_td)
    expert_min_products: int = attrs.field(default=3, validator=_positive_int)
    inactivity_period: timedelta = attrs.field(default=timedelta(days=180), validator=_positive_td)
    hostile_stages: frozenset[Stage] = attrs.field(
        default=frozenset(
            {Stage.monitoring_failures, Stage.escalated, Stage.ultimatum, Stage.arbitration}
        ),
        converter=_hostile,
    )
    lost_stage: Stage = attrs.field(default=Stage.lost, converter=_lost)
    attribution_window: timedelta = attrs.field(default=timedelta(days=90), validator=_nonneg_td)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.regularity, RegularityPolicy):
            raise ValidationError(
                record="LadderPolicy",
                field="regularity",
                value=self.regularity,
                reason="must be a relcycle.segmentation.RegularityPolicy",
            )
        if self.lost_stage in self.hostile_stages:
            raise ValidationError(
                record="LadderPolicy",
                field="lost_stage",
                value=self.lost_stage,
                reason="the lost stage must not be one of the hostile stages",
            )

    @property
    def advocacy(self) -> Rule:
        """The record rule of an advocacy contact under this policy.

        :data:`relcycle.rules.ADVOCACY` with the default ``advocacy_purposes``;
        the same rule over the policy's purposes otherwise.
        """
        return _purpose_rule("advocacy", self.advocacy_purposes)

    @property
    def engagement(self) -> Rule:
        """The record rule of an engagement contact under this policy.

        :data:`relcycle.rules.ENGAGEMENT` with the default ``engagement_purposes``;
        the same rule over the policy's purposes otherwise.
        """
        return _purpose_rule("engagement", self.engagement_purposes)


_PURPOSE_RULES: Mapping[tuple[str, frozenset[Purpose]], Rule] = FrozenMap(
    {("advocacy", ADVOCACY_PURPOSES): ADVOCACY, ("engagement", ENGAGEMENT_PURPOSES): ENGAGEMENT}
)


@lru_cache(maxsize=64)
def _purpose_rule(name: str, purposes: frozenset[Purpose]) -> Rule:
    """The built-in rule ``name`` over ``purposes`` (declared once per set of purposes)."""
    found = _PURPOSE_RULES.get((name, purposes))
    if found is not None:
        return found
    listed = ", ".join(sorted(p.value for p in purposes)) or "none"
    return Rule.define(
        name, "interactions", f("purpose").isin(purposes), doc=f"a contact of purpose {listed}"
    )


# --------------------------------------------------------------------------- lifecycle view


class StageStep(StepView, Protocol):
    """What the ladder reads from a lifecycle step (a :class:`~relcycle.machine.Step`):
    its moment, its stages (compared by value) and the records that caused it."""

    @property
    def source(self) -> str:
        """The stage before (a lifecycle ``Stage``; compared by value)."""

    @property
    def target(self) -> str:
        """The stage after."""

    @property
    def record_ids(self) -> tuple[str, ...]:
        """The records that caused the step."""


class StageTrajectory(Protocol):
    """What the ladder reads from a lifecycle trajectory."""

    @property
    def initial(self) -> str:
        """The stage before the first step."""

    @property
    def steps(self) -> Sequence[StageStep]:
        """The steps, in order."""


class LifecycleView(Protocol):
    """What the ladder needs of a lifecycle assessment: its trajectory.

    :class:`relcycle.lifecycle.LifecycleAssessment` satisfies it.
    """

    @property
    def trajectory(self) -> StageTrajectory:
        """The lifecycle's trajectory."""


def _lifecycle_of(history: ClientHistory, as_of: datetime, tz: tzinfo | str) -> LifecycleView:
    return cast(LifecycleView, _assess_lifecycle(history, as_of=as_of, tz=tz))


# --------------------------------------------------------------------------- assessment


@attrs.frozen
class NextStep:
    """The next step up the ladder for a client, and what it needs.

    Attributes:
        source: The client's rung now.
        target: The rung the step leads to; None for an expert (top rung).
        competency: The competency the step needs (for an expert, the one that
            keeps it there).
        needs: What the client's records still lack, in words.
    """

    source: Rung
    target: Rung | None
    competency: Competency
    needs: str

    def __str__(self) -> str:
        if self.target is None:
            return f"{self.source.value} (top rung): {self.competency.value}: {self.needs}"
        return f"{self.source.value} -> {self.target.value}: {self.competency.value}: {self.needs}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "source": self.source.value,
            "target": None if self.target is None else self.target.value,
            "competency": self.competency.value,
            "needs": self.needs,
        }


@attrs.frozen(kw_only=True)
class LadderAssessment:
    """Where a client stands on the ladder as of a moment, and why.

    Attributes:
        client_id: The client's id.
        as_of: The moment of the assessment.
        rung: The client's rung (for a lost client, the rung it had when it left).
        active: False while the client is lost (it left the active rungs).
        since: When the client reached its rung (None if it never moved).
        inactive_since: When a lost client left; None while active.
        trajectory: Every ladder step up to ``as_of``.
        evidence: Why the client is on its rung (and, if lost, why inactive).
    """

    client_id: str
    as_of: datetime
    rung: Rung
    active: bool
    since: datetime | None
    inactive_since: datetime | None
    trajectory: Trajectory[Rung, LadderEvent]
    evidence: Evidence
    _next_step: NextStep = attrs.field(alias="next_step_info", repr=False)

    def next_step(self) -> NextStep:
        """The next step up, the competency it needs and what is still missing."""
        return self._next_step

    def rung_at(self, moment: datetime) -> Rung:
        """The rung at ``moment`` (at most ``as_of``; steps at ``moment`` count)."""
        return self.trajectory.state_at(moment)

    def active_at(self, moment: datetime) -> bool:
        """Whether the client was on the active rungs at ``moment``."""
        active = True
        for step in self.trajectory.steps:
            if step.at > moment:
                break
            if step.event is LadderEvent.relationship_ended:
                active = False
            elif step.event is LadderEvent.relationship_resumed:
                active = True
        return active

    def explain(self) -> str:
        """A few lines a person can read: the rung, since when, why, and the path."""
        state = "active" if self.active else f"inactive since {_day(self.inactive_since)}"
        since = f" since {_day(self.since)}" if self.since is not None else ""
        lines = [f"{self.client_id}: {self.rung.value}{since} ({state}): {self.evidence}"]
        moves = [
            s
            for s in self.trajectory.steps
            if s.changed or s.event is LadderEvent.relationship_ended
        ]
        if moves:
            lines.append("  path, latest first:")
        for step in reversed(moves):
            arrow = (
                f"{step.source.value} -> {step.target.value}"
                if step.changed
                else f"left the active rungs as {step.source.value}"
            )
            lines.append(
                f"  - {_day(step.at)}: {arrow} ({step.event.value}): {step.detail}"
                + (f" [{', '.join(step.record_ids)}]" if step.record_ids else "")
            )
        lines.append(f"  next: {self._next_step}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (rung, activity, evidence, next step, moves)."""
        return {
            "client_id": self.client_id,
            "as_of": self.as_of.isoformat(),
            "rung": self.rung.value,
            "active": self.active,
            "since": None if self.since is None else self.since.isoformat(),
            "inactive_since": (
                None if self.inactive_since is None else self.inactive_since.isoformat()
            ),
            "evidence": self.evidence.to_dict(),
            "next_step": self._next_step.to_dict(),
            "steps": [
                {
                    "at": s.at.isoformat(),
                    "source": s.source.value,
                    "target": s.target.value,
                    "event": s.event.value,
                    "record_ids": list(s.record_ids),
                    "detail": s.detail,
                }
                for s in self.trajectory.steps
            ],
        }


def _day(moment: datetime | None) -> str:
    return "?" if moment is None else moment.date().isoformat()


# --------------------------------------------------------------------------- the machine


# Rungs by rank, and the ranks the decider compares against. The decider compares
# plain ints (``rung.rank``) instead of ordered members: it runs once per record.
_RUNGS = Rung.ordered()
_DOUBTER_RANK = Rung.doubter.rank
_BUYER_RANK = Rung.buyer.rank
_CUSTOMER_RANK = Rung.customer.rank
_ADVOCATE_RANK = Rung.advocate.rank
_EXPERT_RANK = Rung.expert.rank
# Members as module constants: reading ``Rung.advocate`` goes through the enum
# class's attribute machinery (a few hundred nanoseconds) on every occurrence.
_ADVERSARY, _BUYER, _CUSTOMER, _ADVOCATE = Rung.adversary, Rung.buyer, Rung.customer, Rung.advocate

# Occurrence kinds: the lifecycle's moves (an input), the triggers' and the timers'.
_K_STAGE = "lifecycle_stage"
_K_INTERACTION = "interaction"
_K_SALE = "sale"
_K_INACTIVE = "inactivity_due"
_K_TENURE = "tenure_due"

# Same-moment order: the lifecycle's moves first, then interactions, then sale
# orders (the history's order of kinds), then the timers, which fall due after
# every record at their moment (an activity on the day the period ends keeps the
# rung); inactivity before tenure.
_P_STAGE = 0
_P_INTERACTION = 1
_P_SALE = 2
_P_INACTIVE = 10
_P_TENURE = 11

_INTERACTION = Rule.define(
    "interaction",
    "interactions",
    True,
    doc="any interaction (the decider asks the policy's advocacy and engagement rules)",
)

#: The ladder's trigger table: every interaction (which of them show advocacy or
#: engagement is the policy's, see :attr:`LadderPolicy.advocacy`), and every
#: sale order (:data:`relcycle.rules.SALE`). The lifecycle's moves come in as
#: inputs (:func:`lifecycle_inputs`).
TRIGGERS: tuple[Trigger, ...] = (
    Trigger(_INTERACTION, _K_INTERACTION, _P_INTERACTION),
    Trigger(SALE, _K_SALE, _P_SALE),
)

_Contact = tuple[datetime, str, Purpose]  # (moment, interaction id, purpose)
_Sale = tuple[datetime, str]  # (moment, order id)


def _moment(text: object) -> datetime:
    if not isinstance(text, str):
        raise TypeError(f"not a moment: {text!r}")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"not an aware moment: {text!r}")
    return moment


def _maybe(text: object) -> datetime | None:
    return None if text is None else _moment(text)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a text: {value!r}")
    return value


def _flag(value: object) -> bool:
    if type(value) is not bool:
        raise TypeError(f"not true or false: {value!r}")
    return value


class LadderMemory(NamedTuple):
    """What the ladder's decider remembers between occurrences (frozen).

    Attributes:
        stage: The lifecycle stage last seen (its value); None before the first move.
        active: False while the client is lost.
        hostile: True while the lifecycle is in a hostile stage.
        sales: The sale orders since the last reset (a demotion, reconciliation
            or return) as ``(moment, order id)``, oldest first, while a promotion
            reads them: below customer, active and not hostile.
        advocacy: The first ``advocate_min_signals`` advocacy contacts since the
            last reset, as ``(moment, interaction id, purpose)``, while a
            promotion reads them: below advocate, active and not hostile.
        engagement: The engagement contacts since the last reset, likewise,
            while below expert. (What no promotion reads before the next reset
            is not kept: one client's records cost constant memory and time each.)
        first_sale: The client's first sale order ``(moment, order id)`` (the
            whole relationship: tenure counts from it).
        products: Each product bought and the id of its first sale order, in the
            order first bought (the whole relationship).
        clock: When the inactivity period last started: the latest activity, or
            the last reset.
        last_activity: The id of the record of the latest activity.
        tenure_checked: When the tenure timer last fell due.
        reset_at: When the evidence was last reset.
    """

    stage: str | None = None
    active: bool = True
    hostile: bool = False
    sales: tuple[_Sale, ...] = ()
    advocacy: tuple[_Contact, ...] = ()
    engagement: tuple[_Contact, ...] = ()
    first_sale: _Sale | None = None
    products: tuple[tuple[str, str], ...] = ()
    clock: datetime | None = None
    last_activity: str | None = None
    tenure_checked: datetime | None = None
    reset_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_dict` reads it back)."""
        first = self.first_sale
        return {
            "stage": self.stage,
            "active": self.active,
            "hostile": self.hostile,
            "sales": [[at.isoformat(), oid] for at, oid in self.sales],
            "advocacy": [[at.isoformat(), iid, p.value] for at, iid, p in self.advocacy],
            "engagement": [[at.isoformat(), iid, p.value] for at, iid, p in self.engagement],
            "first_sale": None if first is None else [first[0].isoformat(), first[1]],
            "products": [[product, oid] for product, oid in self.products],
            "clock": _iso(self.clock),
            "last_activity": self.last_activity,
            "tenure_checked": _iso(self.tenure_checked),
            "reset_at": _iso(self.reset_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LadderMemory:
        """The memory of :meth:`to_dict`.

        Raises:
            UsageError: If ``data`` is not a saved ladder memory.
        """
        try:
            stage, first, last = data["stage"], data["first_sale"], data["last_activity"]
            return cls(
                stage=None if stage is None else _text(stage),
                active=_flag(data["active"]),
                hostile=_flag(data["hostile"]),
                sales=tuple((_moment(at), _text(oid)) for at, oid in data["sales"]),
                advocacy=tuple(
                    (_moment(at), _text(iid), Purpose(p)) for at, iid, p in data["advocacy"]
                ),
                engagement=tuple(
                    (_moment(at), _text(iid), Purpose(p)) for at, iid, p in data["engagement"]
                ),
                first_sale=None if first is None else (_moment(first[0]), _text(first[1])),
                products=tuple((_text(p), _text(oid)) for p, oid in data["products"]),
                clock=_maybe(data["clock"]),
                last_activity=None if last is None else _text(last),
                tenure_checked=_maybe(data["tenure_checked"]),
                reset_at=_maybe(data["reset_at"]),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise UsageError(f"not a saved ladder memory: {data!r} ({exc})") from None


_NEW_MEMORY = LadderMemory()
_new = tuple.__new__  # builds a named tuple without its Python-level __new__
_IS_INBOUND = INBOUND.test


@attrs.frozen
class LadderSettings:
    """What the ladder's decider reads besides its state: the thresholds and a calendar.

    It is the ``policy`` argument of :data:`MACHINE`'s ``run`` and ``resume``.

    Attributes:
        policy: The thresholds of the rules.
        tz: The time zone whose calendar days the regularity rule counts (a
            tzinfo or an IANA name; the report passes its own).

    Raises:
        UsageError: If ``policy`` is not a :class:`LadderPolicy` or ``tz`` is not
            a known zone.
    """

    policy: LadderPolicy = attrs.field(factory=LadderPolicy)
    tz: tzinfo = attrs.field(default=UTC, converter=resolve_zone)
    _advocacy: Callable[..., bool] = attrs.field(init=False, eq=False, repr=False)
    _engagement: Callable[..., bool] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.policy, LadderPolicy):
            raise UsageError(f"LadderSettings: policy must be a LadderPolicy, not {self.policy!r}")
        object.__setattr__(self, "_advocacy", self.policy.advocacy.test)
        object.__setattr__(self, "_engagement", self.policy.engagement.test)


_Event = tuple[datetime, LadderEvent, tuple[str, ...], str]


def _move(
    events: list[_Event],
    rung: Rung,
    at: datetime,
    event: LadderEvent,
    ids: Iterable[str],
    detail: str,
) -> Rung:
    """Emit ``event`` (checked against :data:`TABLE`) and return the rung it leads to."""
    target = TABLE.step(rung, event)
    events.append((at, event, tuple(dict.fromkeys(ids)), detail))
    return target


def _reset(memory: LadderMemory, at: datetime) -> LadderMemory:
    """Forget the evidence for promotions; the inactivity period starts again."""
    return memory._replace(sales=(), advocacy=(), engagement=(), clock=at, reset_at=at)


def _touched(memory: LadderMemory, at: datetime, rid: str) -> LadderMemory:
    """``memory`` with its activity clock at ``at`` (record ``rid``), if the clock runs."""
    stage, active, hostile, sales, adv, eng, first, products, _, _, checked, reset = memory
    if not active or hostile:
        return memory
    fields = (stage, active, hostile, sales, adv, eng, first, products, at, rid, checked, reset)
    return _new(LadderMemory, fields)


def _decide(
    state: MachineState[Rung, LadderMemory], occ: Occurrence, settings: LadderSettings
) -> Decision[LadderMemory]:
    """The ladder's decider: one occurrence, knowing the rung, gives events."""
    _, rung, memory, timers, _ = state
    at, _, rid, _, kind, item = occ
    # The decider runs for every interaction and sale of every client in a
    # report: the common paths build the new memory from slices of the old one
    # (in LadderMemory's field order) rather than with _replace.
    if kind == _K_INTERACTION:
        advocacy = settings._advocacy(item)
        engagement = settings._engagement(item)
        if advocacy or engagement:
            contact = (at, rid, item.purpose)
            # Only what a promotion can still read is kept (see _counts), so one
            # client's contacts cost constant time each, not a copy of them all.
            adv, eng = memory.advocacy, memory.engagement
            if advocacy and _counts(rung, memory, _ADVOCATE_RANK, settings) > len(adv):
                adv = (*adv, contact)
            if engagement and _counts(rung, memory, _EXPERT_RANK, settings) > 0:
                eng = (*eng, contact)
            memory = _touched(_new(LadderMemory, (*memory[:4], adv, eng, *memory[6:])), at, rid)
        else:
            before = memory
            if _IS_INBOUND(item):
                memory = _touched(memory, at, rid)
            if rung is not _ADVOCATE:
                # Nothing the promotions read has changed (a reset empties their
                # lists), except the moment, which only an advocate's tenure reads.
                if memory is before:
                    return _new(Decision, ((), memory, timers, ()))
                return _new(Decision, ((), memory, _timers(rung, memory, at, settings, timers), ()))
    elif kind == _K_SALE:
        products = memory.products
        product = item.product
        if product is not None:
            for known, _ in products:
                if known == product:
                    break
            else:
                products = (*products, (product, rid))
        sales = memory.sales
        if _counts(rung, memory, _CUSTOMER_RANK, settings):
            sales = (*sales, (at, rid))
        first = memory.first_sale or (at, rid)
        kept = (memory.advocacy, memory.engagement)
        memory = _touched(
            _new(LadderMemory, (*memory[:3], sales, *kept, first, products, *memory[8:])), at, rid
        )
    elif kind == _K_STAGE:
        events: list[_Event] = []
        rung, memory = _on_stage(events, rung, memory, at, item, settings)
        scheduled = _timers(rung, memory, at, settings, timers)
        return _new(Decision, (tuple(events), memory, scheduled, ()))
    elif kind == _K_INACTIVE:
        period = settings.policy.inactivity_period
        last = memory.last_activity
        event = (
            at,
            LadderEvent.went_inactive,
            (last,) if last else (),
            f"no activity for {period.days} days up to {_day(at)}"
            + (f" (last activity: {last})" if last else ""),
        )
        rung = TABLE.step(rung, LadderEvent.went_inactive)
        memory = _reset(memory, at)
        return _new(Decision, ((event,), memory, _timers(rung, memory, at, settings, timers), ()))
    else:  # _K_TENURE: an advocate's year since the first sale is complete
        memory = memory._replace(tenure_checked=at)
    found: list[_Event] = []
    rung = _promote(found, rung, memory, at, settings)
    scheduled = _timers(rung, memory, at, settings, timers)
    return _new(Decision, (tuple(found) if found else (), memory, scheduled, ()))


def _counts(rung: Rung, memory: LadderMemory, target: int, settings: LadderSettings) -> int:
    """How many more records the promotion to the rung of rank ``target`` reads (0: none).

    Sales are read by the promotions to buyer and customer, advocacy contacts (the
    first ``advocate_min_signals``) by the promotion to advocate, engagement
    contacts (all of them) by the promotion to expert. Once the rung is at the
    target or above, or while the client is lost or hostile, none is read before
    the next reset (every way back down, out of hostility or out of a loss resets
    them), so none is kept: the decider then costs constant time per record
    instead of a copy of every earlier record.
    """
    if not memory.active or memory.hostile or rung.rank >= target:
        return 0
    if target == _ADVOCATE_RANK:
        return settings.policy.advocate_min_signals
    return 1


def _on_stage(
    events: list[_Event],
    rung: Rung,
    memory: LadderMemory,
    at: datetime,
    step: StageStep,
    settings: LadderSettings,
) -> tuple[Rung, LadderMemory]:
    """The lifecycle moved to ``step.target``: leave, return, turn hostile or reconcile."""
    policy = settings.policy
    stage = str(step.target)
    ids = tuple(step.record_ids)
    was_lost = memory.stage == policy.lost_stage
    memory = memory._replace(stage=stage)
    if stage == policy.lost_stage:
        if not was_lost:
            rung = _move(
                events,
                rung,
                at,
                LadderEvent.relationship_ended,
                ids,
                f"the client was lost on {_day(at)}; it leaves the active rungs",
            )
            memory = memory._replace(active=False)
        return rung, memory
    if was_lost:
        rung = _move(
            events,
            rung,
            at,
            LadderEvent.relationship_resumed,
            ids,
            f"the client came back on {_day(at)} (lifecycle {stage}); "
            "a won-back client starts again as a doubter",
        )
        memory = _reset(memory._replace(active=True, hostile=False), at)
    hostile = stage in policy.hostile_stages
    if hostile and not memory.hostile:
        if rung is not _ADVERSARY:
            rung = _move(
                events,
                rung,
                at,
                LadderEvent.turned_hostile,
                ids,
                f"the lifecycle turned hostile ({stage}) on {_day(at)}",
            )
        memory = _reset(memory._replace(hostile=True), at)
    elif not hostile and memory.hostile:
        if rung is _ADVERSARY:
            rung = _move(
                events,
                rung,
                at,
                LadderEvent.reconciled,
                ids,
                f"the lifecycle left its hostile stages ({stage}) on {_day(at)}",
            )
        memory = _reset(memory._replace(hostile=False), at)
    return _promote(events, rung, memory, at, settings), memory


def _timers(
    rung: Rung,
    memory: LadderMemory,
    now: datetime,
    settings: LadderSettings,
    current: tuple[Timer, ...],
) -> tuple[Timer, ...]:
    """The timers the state calls for (``current`` itself when they are the same).

    Neither runs for a lost or hostile client or below buyer. Inactivity falls
    due ``inactivity_period`` after the latest activity (or reset); an advocate's
    tenure falls due ``expert_min_tenure`` after its first sale, unless that moment
    has passed or was already checked.
    """
    if not memory.active or memory.hostile or rung.rank < _BUYER_RANK:
        return ()
    policy = settings.policy
    clock = memory.clock
    inactive = None if clock is None else clock + policy.inactivity_period
    first = memory.first_sale
    tenure = None
    if rung is _ADVOCATE and first is not None:
        due = first[0] + policy.expert_min_tenure
        checked = memory.tenure_checked
        if (checked is None or checked < due) and due > now:
            tenure = due
    if tenure is None:
        if inactive is None:
            return ()
        if len(current) == 1 and current[0][0] == inactive and current[0][3] == _K_INACTIVE:
            return current
        return (_new(Timer, (inactive, _P_INACTIVE, "", _K_INACTIVE, "")),)
    timers: tuple[Timer, ...] = (_new(Timer, (tenure, _P_TENURE, "", _K_TENURE, "")),)
    if inactive is not None:  # soonest first, as the runner keeps them
        inactivity = _new(Timer, (inactive, _P_INACTIVE, "", _K_INACTIVE, ""))
        timers = tuple(sorted((inactivity, *timers)))
    return current if timers == current else timers


def _promote(
    events: list[_Event], rung: Rung, memory: LadderMemory, at: datetime, settings: LadderSettings
) -> Rung:
    """Climb one rung at a time while the next rung's rule holds (never while hostile or lost)."""
    if not memory.active or memory.hostile:
        return rung
    while _DOUBTER_RANK <= rung.rank < _EXPERT_RANK:
        target = _RUNGS[rung.rank + 1]
        found = _qualifies(target, memory, at, settings)
        if found is None:
            return rung
        rung = _move(events, rung, at, _PROMOTION_EVENT[target], found.record_ids, found.reason)
    return rung


def _qualifies(
    target: Rung, memory: LadderMemory, at: datetime, settings: LadderSettings
) -> Evidence | None:
    """The evidence that the client qualifies for ``target`` at ``at``, or None."""
    policy = settings.policy
    if target is _BUYER:
        if not memory.sales:
            return None
        placed, oid = memory.sales[0]
        return Evidence(f"sale order {oid} on {_day(placed)}", [oid])
    if target is _CUSTOMER:
        return _regular(memory.sales, settings)
    if target is _ADVOCATE:
        need = policy.advocate_min_signals
        if len(memory.advocacy) < need:
            return None
        used = memory.advocacy[:need]
        kinds = sorted({purpose.value for _, _, purpose in used})
        return Evidence(
            f"advocacy: {count(need, 'contact')} ({', '.join(kinds)})",
            [iid for _, iid, _ in used],
        )
    return _expertise(memory, at, policy)


#: The buyer last asked about: ``(sales, zone, rule, purchase days, the rule's
#: answer)``. A buyer's promotion is asked at each of its sales and contacts,
#: each time over all its sales since the last reset; with this a contact (the
#: same sales) or a sale on a purchase day already counted costs no work, and a
#: sale on a new day only adds that day, so one buyer's records cost about
#: constant time each rather than a pass over all its sales.
_LAST_BUYER: tuple[Any, ...] = ((), None, None, (), None)


def _regular(sales: tuple[_Sale, ...], settings: LadderSettings) -> Evidence | None:
    """The regularity rule (the report's) over the sales since the last reset."""
    rule = settings.policy.regularity
    if len(sales) <= rule.min_gaps:
        return None  # fewer purchases than the gaps the rule needs: not yet
    global _LAST_BUYER
    tz = settings.tz
    last_sales, last_tz, last_rule, days, found = _LAST_BUYER
    same = last_tz is tz and last_rule is rule
    if last_sales is not sales or not same:
        day = sales[-1][0].astimezone(tz).date()
        if (
            same
            and len(last_sales) == len(sales) - 1
            and days
            and day >= days[-1]
            and sales[:-1] == last_sales
        ):
            if day != days[-1]:  # a new purchase day: the rule's answer may change
                days = (*days, day)
                found = regular_gaps(days, rule)
        else:
            days = tuple(sorted({placed.astimezone(tz).date() for placed, _ in sales}))
            found = regular_gaps(days, rule)
        _LAST_BUYER = (sales, tz, rule, days, found)
    if found is None:
        return None
    mean, cv = found
    return Evidence(
        f"regular repeat orders: {len(days)} purchase days, mean gap "
        f"{mean_gap_text(mean)} days, cv {cv_text(cv)}",
        [oid for _, oid in sales],
    )


def _expertise(memory: LadderMemory, at: datetime, policy: LadderPolicy) -> Evidence | None:
    engagement = memory.engagement
    if len(engagement) < policy.expert_min_engagements:
        return None
    span = engagement[-1][0] - engagement[0][0]
    if span < policy.expert_min_engagement_span:
        return None
    first = memory.first_sale
    if first is None or at - first[0] < policy.expert_min_tenure:
        return None
    if len(memory.products) < policy.expert_min_products:
        return None
    first_order = dict(memory.products)
    products = sorted(first_order)
    return Evidence(
        f"deep engagement: {count(len(engagement), 'joint-planning/offer contact')} "
        f"over {span.days} days; client since {_day(first[0])} "
        f"({(at - first[0]).days} days); "
        f"{count(len(products), 'product')} bought ({', '.join(products)})",
        [iid for _, iid, _ in engagement] + [first[1]] + [first_order[p] for p in products],
    )


#: The ladder as a machine: :data:`TABLE`, :data:`TRIGGERS`, a pure decider over a
#: frozen :class:`LadderMemory` with two timers (inactivity, and an advocate's
#: tenure), and the lifecycle's moves as inputs (:func:`lifecycle_inputs`). Its
#: ``policy`` argument is a :class:`LadderSettings`. :func:`assess` runs it; save a
#: client's ``MachineRun.state`` and :meth:`~relcycle.machine.Machine.resume` it
#: with later records and the lifecycle's later moves.
MACHINE: Machine[Rung, LadderEvent, LadderMemory, LadderSettings] = Machine(
    table=TABLE,
    triggers=TRIGGERS,
    decide=_decide,
    initial_memory=_NEW_MEMORY,
    memory_from_dict=LadderMemory.from_dict,
    timer_kinds=frozenset({_K_INACTIVE, _K_TENURE}),
    input_kinds=frozenset({_K_STAGE}),
)


def lifecycle_inputs(lifecycle: LifecycleView) -> tuple[Occurrence, ...]:
    """The lifecycle's moves as inputs of :data:`MACHINE` (its stage changes, in order).

    Pass them as ``inputs`` to ``MACHINE.run`` or ``MACHINE.resume``: each stage
    change is taken in before the client's records at the same moment. This is
    :func:`relcycle.machine.transitions_as_occurrences` with the ladder's kind and
    priority; a machine of your own can read the lifecycle (or any machine) the
    same way.

    Args:
        lifecycle: The client's lifecycle assessment, or a lifecycle
            :class:`~relcycle.machine.MachineRun` (anything with a ``trajectory``).
    """
    return transitions_as_occurrences(lifecycle.trajectory, kind=_K_STAGE, priority=_P_STAGE)


def _needs(rung: Rung, memory: LadderMemory, at: datetime, settings: LadderSettings) -> str:
    """What the client's records still lack for the next rung, in words."""
    policy = settings.policy
    counted = "" if memory.reset_at is None else f" since {_day(memory.reset_at)}"
    if not memory.active:
        return "win the client back: it is lost (a won-back client restarts as a doubter)"
    if rung is Rung.adversary:
        return (
            f"the lifecycle must leave its hostile stages (now {memory.stage}): resolve "
            "the problems with clear facts and figures on the practical value of the offer"
        )
    if rung is Rung.doubter:
        return "a first sale order"
    if rung is Rung.buyer:
        rule = policy.regularity
        tz = settings.tz
        days = len({placed.astimezone(tz).date() for placed, _ in memory.sales})
        return (
            f"regular repeat orders: at least {rule.min_gaps + 1} purchase days with "
            f"even gaps (coefficient of variation at most {rule.max_cv}) "
            f"(has {count(days, 'purchase day')}{counted})"
        )
    if rung is Rung.customer:
        kinds = ", ".join(sorted(p.value for p in policy.advocacy_purposes))
        return (
            f"{count(policy.advocate_min_signals, 'advocacy contact')} ({kinds}) "
            f"(has {len(memory.advocacy)}{counted})"
        )
    if rung is Rung.advocate:
        engagement = memory.engagement
        span = (engagement[-1][0] - engagement[0][0]).days if engagement else 0
        first = memory.first_sale
        tenure = (at - first[0]).days if first else 0
        return (
            f"{policy.expert_min_engagements} joint-planning/offer-change contacts over "
            f"{policy.expert_min_engagement_span.days} days (has {len(engagement)} "
            f"over {span} days), {policy.expert_min_tenure.days} days since the first sale "
            f"(has {tenure}), {policy.expert_min_products} products bought "
            f"(has {len(memory.products)})"
        )
    return "keep the client engaged: joint planning and deep product knowledge"


def _initial_evidence(view: ClientHistory) -> Evidence:
    """Why a client that never moved is a doubter."""
    if view.interactions:
        return Evidence(
            f"not convinced yet: {count(len(view.interactions), 'contact')} and no sale order",
            [i.id for i in view.interactions],
        )
    if view.orders:
        return Evidence(
            "not convinced yet: no sale order (only planned, cancelled or returned ones)",
            [o.id for o in view.orders],
        )
    return Evidence("not convinced yet: no contacts or sale orders on record")


#: The settings last built, with the policy and zone they were built from: a
#: report assesses every client with one policy and zone, and building the
#: settings (a zone lookup, the rules' tests) would cost every client a few µs.
_last_settings: tuple[LadderPolicy, tzinfo | str, LadderSettings] | None = None


def _settings(policy: LadderPolicy, tz: tzinfo | str) -> LadderSettings:
    """``LadderSettings(policy, tz)``, the last one again when both are the same objects."""
    global _last_settings
    last = _last_settings
    if last is not None and last[0] is policy and last[1] is tz:
        return last[2]
    settings = LadderSettings(policy, tz)
    _last_settings = (policy, tz, settings)
    return settings


@in_own_context
def assess(
    history: ClientHistory,
    *,
    as_of: datetime,
    policy: LadderPolicy = LadderPolicy(),
    lifecycle: LifecycleView | None = None,
    tz: tzinfo | str = UTC,
) -> LadderAssessment:
    """Where ``history``'s client stands on the ladder as of ``as_of``, and why.

    Runs :data:`MACHINE` over the client's records with the lifecycle's moves as
    inputs (:func:`lifecycle_inputs`).

    Args:
        history: The client's history (records after ``as_of`` are ignored).
        as_of: The moment of the assessment (timezone-aware).
        policy: The thresholds of the rules.
        lifecycle: The client's lifecycle assessment (anything with a
            ``trajectory`` of stage steps, see :class:`LifecycleView`), computed as
            of ``as_of`` or later; when None it is computed with
            :func:`relcycle.lifecycle.assess`.
        tz: The time zone whose calendar days the regularity rule counts (the
            report passes its own, so the rung and the ``regularity`` field agree).

    Returns:
        The rung, whether the client is active, the trajectory, the evidence and
        the next step.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
        UsageError: If ``lifecycle`` belongs to another client, was computed as of
            an earlier moment, or starts in a hostile or lost stage.
    """
    view = history.as_of(as_of)
    if lifecycle is None:
        lifecycle = _lifecycle_of(history, as_of, tz)
    else:
        other = getattr(lifecycle, "client_id", None)
        if other is not None and other != history.client_id:
            raise UsageError(
                f"the lifecycle assessment is for client {other!r}, not {history.client_id!r}"
            )
        life_as_of = getattr(lifecycle, "as_of", None)
        if isinstance(life_as_of, datetime) and life_as_of < as_of:
            raise UsageError(
                f"the lifecycle assessment is as of {life_as_of.isoformat()}, "
                f"before the ladder's as_of {as_of.isoformat()}"
            )
    trajectory = lifecycle.trajectory
    if trajectory.initial in policy.hostile_stages or trajectory.initial == policy.lost_stage:
        raise UsageError(
            f"the lifecycle trajectory starts in stage {trajectory.initial!r}; "
            "the ladder needs one that starts outside the hostile and lost stages"
        )
    settings = _settings(policy, tz)
    run = MACHINE.run(view, as_of=as_of, policy=settings, inputs=lifecycle_inputs(lifecycle))
    traj = run.trajectory
    rung, memory = run.state.state, run.state.memory
    entering = traj.entering_step()
    if entering is None:
        evidence = _initial_evidence(view)
    else:
        evidence = Evidence(entering.detail, entering.record_ids)
    inactive_since: datetime | None = None
    active = memory.active
    if not active:
        ended = next(s for s in reversed(traj.steps) if s.event is LadderEvent.relationship_ended)
        inactive_since = ended.at
        evidence = evidence + Evidence(ended.detail, ended.record_ids)
    target = None if rung is Rung.expert else _RUNGS[rung.rank + 1]
    if not active:
        target = Rung.doubter
    return LadderAssessment(
        client_id=history.client_id,
        as_of=as_of,
        rung=rung,
        active=active,
        since=traj.since(),
        inactive_since=inactive_since,
        trajectory=traj,
        evidence=evidence,
        next_step_info=NextStep(
            source=rung,
            target=target,
            competency=Competency.facts_and_figures if not active else COMPETENCIES[rung],
            needs=_needs(rung, memory, as_of, settings),
        ),
    )


@in_own_context
def assess_portfolio(
    portfolio: Portfolio | Iterable[ClientHistory],
    *,
    as_of: datetime,
    policy: LadderPolicy = LadderPolicy(),
    lifecycles: Mapping[str, LifecycleView] | None = None,
) -> dict[str, LadderAssessment]:
    """:func:`assess` for every client; ``{client_id: assessment}`` sorted by id.

    Args:
        portfolio: The histories.
        as_of: The moment of the assessment.
        policy: The thresholds of the rules.
        lifecycles: Precomputed lifecycle assessments by client id; clients
            missing from it get theirs computed.
    """
    result: dict[str, LadderAssessment] = {}
    for history in sorted(portfolio, key=lambda h: h.client_id):
        life = None if lifecycles is None else lifecycles.get(history.client_id)
        result[history.client_id] = assess(history, as_of=as_of, policy=policy, lifecycle=life)
    return result


@in_own_context
def ladder_migration(
    portfolio: Portfolio | Iterable[ClientHistory],
    *,
    start: datetime,
    end: datetime,
    policy: LadderPolicy = LadderPolicy(),
    lifecycles: Mapping[str, LifecycleView] | None = None,
    values: Mapping[str, Decimal] | None = None,
) -> MigrationMatrix[Rung]:
    """The migration matrix of rungs between ``start`` and ``end``.

    A client is on the ladder at a date if it has a record by then (or its
    ``since`` is not later) and is not lost; otherwise it is absent at that date.

    Args:
        portfolio: The histories.
        start: Date A.
        end: Date B (not before ``start``).
        policy: The ladder's thresholds.
        lifecycles: Lifecycle assessments as of ``end`` or later, by client id.
        values: The value of each client; by default each client's sale revenue in
            ``(start, end]`` (all in one currency).

    Returns:
        A :class:`relcycle.migration.MigrationMatrix` over :class:`Rung`.

    Raises:
        UsageError: If ``end`` is before ``start``.
        CurrencyMismatchError: If the default values would mix currencies.
    """
    if end < start:
        raise UsageError(f"end {end.isoformat()} is before start {start.isoformat()}")
    histories = sorted(portfolio, key=lambda h: h.client_id)
    assessments = assess_portfolio(histories, as_of=end, policy=policy, lifecycles=lifecycles)
    before: dict[str, Rung | None] = {}
    after: dict[str, Rung | None] = {}
    for history in histories:
        a = assessments[history.client_id]
        before[history.client_id] = _on_ladder(history, a, start)
        after[history.client_id] = _on_ladder(history, a, end)
    if values is None:
        values = revenue_between(histories, start=start, end=end)
    return migration_matrix(before, after, order=Rung.ordered(), values=values)


def _on_ladder(history: ClientHistory, a: LadderAssessment, moment: datetime) -> Rung | None:
    first = history.first_moment
    since = history.client.since
    present = (first is not None and first <= moment) or (since is not None and since <= moment)
    if not present or not a.active_at(moment):
        return None
    return a.rung_at(moment)
