"""The constructional relationship ladder: rungs, their evidence and what moves them.

A client stands on one rung of a ladder of relationship levels, lowest first
(domain section 3)::

    adversary -> doubter -> buyer -> customer -> advocate -> expert

The ladder is a machine as data (:data:`TABLE`, a validated
:class:`~relcycle.machine.TransitionTable`); :func:`assess` derives a client's
ladder events from its history and the trajectory of its lifecycle, folds them
through the table and returns a :class:`LadderAssessment`: the rung, whether the
client is still active, the whole trajectory (so the rung at any past moment is
known), the evidence that decided it, :meth:`~LadderAssessment.explain` and
:meth:`~LadderAssessment.next_step` (the next rung and the competency it needs).

The rules (all thresholds in :class:`LadderPolicy`):

- A client starts as a **doubter** (not convinced): contacts but no sales.
- A sale order (the rule :data:`relcycle.rules.SALE`) makes a **buyer**.
- Regular repeat ordering makes a **customer**: the purchase days since the last
  demotion are ``regular`` by the regularity rule of the report
  (:func:`~relcycle.segmentation.regularity.regular_gaps` with
  ``policy.regularity``: at least 3 gaps whose coefficient of variation is at most
  0.5 by default), counted in the assessment's time zone.
- ``advocate_min_signals`` advocacy contacts (``referral``, ``joint_planning``,
  ``service_exchange``) make a customer an **advocate**.
- Sustained engagement makes an advocate an **expert**: ``expert_min_engagements``
  joint-planning or offer-change contacts spread over ``expert_min_engagement_span``,
  ``expert_min_tenure`` since the first sale, and ``expert_min_products`` distinct
  products bought.
- A lifecycle that turns hostile (a stage in ``hostile_stages``) pulls the client
  down to **adversary**; when it leaves the hostile stages the client is
  reconciled to **doubter**.
- A lost client (lifecycle stage ``lost``) leaves the active rungs: its rung stays
  what it was and :attr:`LadderAssessment.active` is False. Won back, it starts
  again as a doubter.
- ``inactivity_period`` without activity steps a buyer or higher down one rung
  (and again after each further period).

Promotions move one rung at a time; when one record satisfies several rules at
once (an order that makes a buyer with earlier referrals a customer), the client
takes several one-rung steps at that moment. Evidence for promotions counts only
records since the client's last demotion (or reconciliation, or return), so a
demotion is never undone by the records that came before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Protocol, cast

import attrs

from ._vocab import OrderedVocab, Vocab
from ._zones import resolve_zone
from .errors import UsageError, ValidationError
from .evidence import Evidence
from .history import ClientHistory, Portfolio
from .lifecycle import Stage
from .lifecycle import assess as _assess_lifecycle
from .machine import Step, Trajectory, TransitionTable
from .migration import MigrationMatrix, migration_matrix, revenue_between
from .model import Direction, FrozenMap, Interaction, Order, Purpose
from .rules import SALE
from .segmentation.regularity import RegularityPolicy, regular_gaps

__all__ = [
    "COMPETENCIES",
    "TABLE",
    "Competency",
    "LadderAssessment",
    "LadderEvent",
    "LadderPolicy",
    "LifecycleView",
    "NextStep",
    "Rung",
    "StageStep",
    "StageTrajectory",
    "assess",
    "assess_portfolio",
    "competency_for",
    "ladder_migration",
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
            ``referral``, ``joint_planning``, ``service_exchange``.
        advocate_min_signals: Advocacy contacts since the last demotion that make a
            customer an advocate. Default 1.
        engagement_purposes: Interaction purposes that show deep engagement (joint
            planning, offer co-design). Default ``joint_planning``, ``offer_change``.
        expert_min_engagements: Engagement contacts since the last demotion an
            expert needs. Default 3.
        expert_min_engagement_span: The first and last of them must be at least this
            far apart (sustained, not one workshop). Default 90 days.
        expert_min_tenure: Time since the client's first sale order. Default 365 days.
        expert_min_products: Distinct products among the client's sale orders.
            Default 3.
        inactivity_period: Without activity (a sale order, a client-initiated
            interaction, or an advocacy or engagement contact) for this long, a buyer
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
        default=frozenset({Purpose.referral, Purpose.joint_planning, Purpose.service_exchange}),
        converter=_purposes,
    )
    advocate_min_signals: int = attrs.field(default=1, validator=_positive_int)
    engagement_purposes: frozenset[Purpose] = attrs.field(
        default=frozenset({Purpose.joint_planning, Purpose.offer_change}), converter=_purposes
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


# --------------------------------------------------------------------------- lifecycle view


class StageStep(Protocol):
    """What the ladder reads from a lifecycle step (a :class:`~relcycle.machine.Step`)."""

    @property
    def at(self) -> datetime:
        """When the step happened."""

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


# --------------------------------------------------------------------------- the replay

_DAY = timedelta(days=1)
_IS_SALE = SALE.test
_TENTH = Decimal("0.1")
_HUNDREDTH = Decimal("0.01")


def _month(moment: datetime) -> tuple[int, int]:
    utc = moment.astimezone(UTC)
    return (utc.year, utc.month)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# Rungs by rank, and the ranks the replay compares against. The replay compares
# plain ints (``rung.rank``) instead of ordered members: it runs once per record.
_RUNGS = Rung.ordered()
_DOUBTER_RANK = Rung.doubter.rank
_BUYER_RANK = Rung.buyer.rank
_EXPERT_RANK = Rung.expert.rank


class _Replay:
    """The mutable fold behind :func:`assess` (private; one per call)."""

    def __init__(self, policy: LadderPolicy, tz: tzinfo = UTC) -> None:
        self.policy = policy
        self.tz = tz
        self.rung = TABLE.initial
        self.active = True
        self.hostile = False
        self.stage: str | None = None
        self.steps: list[Step[Rung, LadderEvent]] = []
        # evidence since the last reset (demotion, reconciliation or return)
        self.sales: list[Order] = []
        self.advocacy: list[Interaction] = []
        self.engagement: list[Interaction] = []
        self.contacts: list[Interaction] = []
        # relationship-wide facts
        self.first_sale: Order | None = None
        self.products: dict[str, str] = {}  # product -> first order id
        # inactivity clock
        self.clock: datetime | None = None
        self.last_activity: str | None = None
        self.tenure_checked: datetime | None = None
        self.now: datetime | None = None
        self.reset_at: datetime | None = None
        # regular()'s last answer, keyed by (resets so far, sales since the last
        # reset): the sales list only grows between resets, so equal keys mean the
        # same sales. Every record of a buyer asks again; most add no sale.
        self.resets = 0
        self.regular_cache: tuple[int, int, Evidence | None] | None = None

    # ------------------------------------------------------------------ moves

    def move(self, at: datetime, event: LadderEvent, ids: Sequence[str], detail: str) -> None:
        target = TABLE.step(self.rung, event)
        self.steps.append(Step(at, self.rung, target, event, tuple(dict.fromkeys(ids)), detail))
        self.rung = target

    def reset(self, at: datetime) -> None:
        self.sales.clear()
        self.advocacy.clear()
        self.engagement.clear()
        self.clock = at
        self.reset_at = at
        self.resets += 1

    # ------------------------------------------------------------------ lifecycle

    def on_stage(self, at: datetime, stage: str, ids: Sequence[str]) -> None:
        policy = self.policy
        was_lost = self.stage == policy.lost_stage
        self.stage = stage
        if stage == policy.lost_stage:
            if not was_lost:
                self.move(
                    at,
                    LadderEvent.relationship_ended,
                    ids,
                    f"the client was lost on {_day(at)}; it leaves the active rungs",
                )
                self.active = False
            return
        if was_lost:
            self.move(
                at,
                LadderEvent.relationship_resumed,
                ids,
                f"the client came back on {_day(at)} (lifecycle {stage}); "
                "a won-back client starts again as a doubter",
            )
            self.active = True
            self.hostile = False
            self.reset(at)
        hostile = stage in policy.hostile_stages
        if hostile and not self.hostile:
            self.hostile = True
            if self.rung is not Rung.adversary:
                self.move(
                    at,
                    LadderEvent.turned_hostile,
                    ids,
                    f"the lifecycle turned hostile ({stage}) on {_day(at)}",
                )
            self.reset(at)
        elif not hostile and self.hostile:
            self.hostile = False
            if self.rung is Rung.adversary:
                self.move(
                    at,
                    LadderEvent.reconciled,
                    ids,
                    f"the lifecycle left its hostile stages ({stage}) on {_day(at)}",
                )
            self.reset(at)
        self.promote(at)

    # ------------------------------------------------------------------ records

    def on_record(self, record: Order | Interaction, at: datetime) -> None:
        """Take in one record; ``at`` is its moment (``record.at``, already read)."""
        policy = self.policy
        if isinstance(record, Order):
            if not _IS_SALE(record):
                return
            if self.first_sale is None:
                self.first_sale = record
            if record.product is not None:
                self.products.setdefault(record.product, record.order_id)
            self.sales.append(record)
            self.touch(at, record.order_id)
        else:
            purpose = record.purpose
            self.contacts.append(record)
            advocacy = purpose in policy.advocacy_purposes
            engagement = purpose in policy.engagement_purposes
            if advocacy:
                self.advocacy.append(record)
            if engagement:
                self.engagement.append(record)
            if record.direction is Direction.inbound or advocacy or engagement:
                self.touch(at, record.interaction_id)
            if not (advocacy or engagement) and self.rung is not Rung.advocate:
                # Nothing the promotions read has changed since they were last
                # asked (a reset empties their lists), except the moment, which
                # only an advocate's tenure rule reads: no promotion is possible.
                return
        self.promote(at)

    def touch(self, at: datetime, record_id: str) -> None:
        if self.active and not self.hostile:
            self.clock = at
            self.last_activity = record_id

    # ------------------------------------------------------------------ timers

    def advance(self, last: datetime | None, moment: datetime) -> None:
        """Go from the group of ticks at ``last`` (None: none yet) to the one at ``moment``.

        The timers due at ``last`` fire after its group, then those due before
        ``moment``; the replay's ``now`` becomes ``moment``. This runs for every
        group and usually no timer is due yet, so it first asks when the next one is.
        """
        due = self.next_due()
        if due is not None and due < moment:
            if last is not None:
                self.timers(last, inclusive=True)
            self.timers(moment, inclusive=False)
        self.now = moment

    def next_due(self) -> datetime | None:
        """When the next timer is due (inactivity or an advocate's tenure); None: none runs."""
        if not self.active or self.hostile or self.rung.rank < _BUYER_RANK:
            return None  # the clock runs only for an active, non-hostile buyer or higher
        inactive_at = None if self.clock is None else self.clock + self.policy.inactivity_period
        tenure_at = self.tenure_deadline() if self.rung is Rung.advocate else None
        if inactive_at is None or tenure_at is None:
            return inactive_at if tenure_at is None else tenure_at
        return min(inactive_at, tenure_at)

    def timers(self, until: datetime, *, inclusive: bool) -> None:
        """Fire the inactivity and tenure timers due before (or at) ``until``."""
        period = self.policy.inactivity_period
        # Neither timer runs for a lost or hostile client or below buyer.
        while self.active and not self.hostile and self.rung.rank >= _BUYER_RANK:
            # the earliest due timer; at equal moments inactivity (kind 0) fires first
            at: datetime | None = None
            kind = 0
            # inactivity: ``period`` after the last activity (or reset)
            if self.clock is not None:
                inactive_at = self.clock + period
                if inactive_at < until or (inclusive and inactive_at == until):
                    at = inactive_at
            # tenure: only an advocate waits for it (checked here to spare the call)
            tenure_at = self.tenure_deadline() if self.rung is Rung.advocate else None
            if (
                tenure_at is not None
                and (tenure_at < until or (inclusive and tenure_at == until))
                and (at is None or tenure_at < at)
            ):
                at, kind = tenure_at, 1
            if at is None:
                return
            self.now = at
            if kind == 0:
                last = f" (last activity: {self.last_activity})" if self.last_activity else ""
                self.move(
                    at,
                    LadderEvent.went_inactive,
                    [self.last_activity] if self.last_activity else [],
                    f"no activity for {period.days} days up to {_day(at)}{last}",
                )
                self.reset(at)
            else:
                self.tenure_checked = at
                self.promote(at)

    def tenure_deadline(self) -> datetime | None:
        if self.rung is not Rung.advocate or self.first_sale is None:
            return None
        if not self.active or self.hostile:
            return None
        at = self.first_sale.placed_at + self.policy.expert_min_tenure
        if self.tenure_checked is not None and self.tenure_checked >= at:
            return None
        if self.now is not None and at <= self.now:
            return None  # already reached when the client became an advocate
        return at

    # ------------------------------------------------------------------ promotions

    def promote(self, at: datetime) -> None:
        if not self.active or self.hostile:
            return
        while _DOUBTER_RANK <= self.rung.rank < _EXPERT_RANK:
            target = _RUNGS[self.rung.rank + 1]
            found = self.qualifies(target, at)
            if found is None:
                return
            self.move(at, _PROMOTION_EVENT[target], found.record_ids, found.reason)

    def qualifies(self, target: Rung, at: datetime) -> Evidence | None:
        if target is Rung.buyer:
            if not self.sales:
                return None
            order = self.sales[0]
            return Evidence(f"sale order {order.order_id} on {_day(order.placed_at)}", [order.id])
        if target is Rung.customer:
            return self.regular()
        if target is Rung.advocate:
            need = self.policy.advocate_min_signals
            if len(self.advocacy) < need:
                return None
            used = self.advocacy[:need]
            kinds = sorted({i.purpose.value for i in used})
            return Evidence(
                f"advocacy: {_plural(need, 'contact')} ({', '.join(kinds)})",
                [i.id for i in used],
            )
        return self.expertise(at)

    def regular(self) -> Evidence | None:
        if len(self.sales) <= self.policy.regularity.min_gaps:
            return None  # fewer purchases than the gaps the rule needs: not yet
        key = (self.resets, len(self.sales))
        cached = self.regular_cache
        if cached is not None and cached[:2] == key:
            return cached[2]
        found = self._regular()
        self.regular_cache = (*key, found)
        return found

    def _regular(self) -> Evidence | None:
        """The regularity rule (the report's) over the sales since the last reset."""
        tz = self.tz
        days = tuple(sorted({o.placed_at.astimezone(tz).date() for o in self.sales}))
        found = regular_gaps(days, self.policy.regularity)
        if found is None:
            return None
        mean, cv = found
        return Evidence(
            f"regular repeat orders: {len(days)} purchase days, mean gap "
            f"{mean.quantize(_TENTH)} days, cv {cv.quantize(_HUNDREDTH)}",
            [o.order_id for o in self.sales],
        )

    def expertise(self, at: datetime) -> Evidence | None:
        policy = self.policy
        engagement = self.engagement
        if len(engagement) < policy.expert_min_engagements:
            return None
        span = engagement[-1].at - engagement[0].at
        if span < policy.expert_min_engagement_span:
            return None
        first = self.first_sale
        if first is None or at - first.placed_at < policy.expert_min_tenure:
            return None
        if len(self.products) < policy.expert_min_products:
            return None
        products = sorted(self.products)
        return Evidence(
            f"deep engagement: {_plural(len(engagement), 'joint-planning/offer contact')} "
            f"over {span.days} days; client since {_day(first.placed_at)} "
            f"({(at - first.placed_at).days} days); "
            f"{_plural(len(products), 'product')} bought ({', '.join(products)})",
            [i.id for i in engagement] + [first.order_id] + [self.products[p] for p in products],
        )

    # ------------------------------------------------------------------ what is missing

    def needs(self, at: datetime) -> str:
        policy = self.policy
        rung = self.rung
        if not self.active:
            return "win the client back: it is lost (a won-back client restarts as a doubter)"
        if rung is Rung.adversary:
            return (
                f"the lifecycle must leave its hostile stages (now {self.stage}): resolve "
                "the problems with clear facts and figures on the practical value of the offer"
            )
        if rung is Rung.doubter:
            return "a first sale order"
        if rung is Rung.buyer:
            rule = policy.regularity
            days = len({o.placed_at.astimezone(self.tz).date() for o in self.sales})
            return (
                f"regular repeat orders: at least {rule.min_gaps + 1} purchase days with "
                f"even gaps (coefficient of variation at most {rule.max_cv}) "
                f"(has {_plural(days, 'purchase day')}{self.counted()})"
            )
        if rung is Rung.customer:
            kinds = ", ".join(sorted(p.value for p in policy.advocacy_purposes))
            return (
                f"{_plural(policy.advocate_min_signals, 'advocacy contact')} ({kinds}) "
                f"(has {len(self.advocacy)}{self.counted()})"
            )
        if rung is Rung.advocate:
            span = (self.engagement[-1].at - self.engagement[0].at).days if self.engagement else 0
            tenure = (at - self.first_sale.placed_at).days if self.first_sale else 0
            return (
                f"{policy.expert_min_engagements} joint-planning/offer-change contacts over "
                f"{policy.expert_min_engagement_span.days} days (has {len(self.engagement)} "
                f"over {span} days), {policy.expert_min_tenure.days} days since the first sale "
                f"(has {tenure}), {policy.expert_min_products} products bought "
                f"(has {len(self.products)})"
            )
        return "keep the client engaged: joint planning and deep product knowledge"

    def counted(self) -> str:
        return "" if self.reset_at is None else f" since {_day(self.reset_at)}"

    def initial_evidence(self, history: ClientHistory) -> Evidence:
        if self.contacts:
            return Evidence(
                f"not convinced yet: {_plural(len(self.contacts), 'contact')} and no sale order",
                [i.id for i in self.contacts],
            )
        if history.orders:
            return Evidence(
                "not convinced yet: no sale order (only planned, cancelled or returned ones)",
                [o.id for o in history.orders],
            )
        return Evidence("not convinced yet: no contacts or sale orders on record")


def _ticks(
    history: ClientHistory, life_steps: Sequence[StageStep]
) -> list[tuple[datetime, int, int, int, Any]]:
    """Lifecycle steps and records merged in time order (lifecycle first at a moment).

    Records at one moment come in the library's total order (interactions before
    orders, then by id; complaints do not move the ladder): each kind's tuple is
    already sorted by (moment, id), so its index breaks ties. The first four
    items of a tick are unique, so sorting never compares the items themselves.
    """
    ticks: list[tuple[datetime, int, int, int, Any]] = [
        (step.at, 0, 0, n, step) for n, step in enumerate(life_steps)
    ]
    ticks.extend([(r.at, 1, 0, n, r) for n, r in enumerate(history.interactions)])
    ticks.extend([(r.placed_at, 1, 1, n, r) for n, r in enumerate(history.orders)])
    ticks.sort()
    return ticks


def assess(
    history: ClientHistory,
    *,
    as_of: datetime,
    policy: LadderPolicy = LadderPolicy(),
    lifecycle: LifecycleView | None = None,
    tz: tzinfo | str = UTC,
) -> LadderAssessment:
    """Where ``history``'s client stands on the ladder as of ``as_of``, and why.

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
    life_steps = [s for s in trajectory.steps if s.at <= as_of and s.source != s.target]

    replay = _Replay(policy, resolve_zone(tz))
    replay.stage = str(trajectory.initial)
    # Ticks at one moment form a group: timers due before the moment fire first,
    # then the group's ticks, then the timers due at the moment.
    moment: datetime | None = None  # the current group's moment (its first tick's)
    for at, kind, _, _, item in _ticks(view, life_steps):
        if at != moment:
            replay.advance(moment, at)
            moment = at
        if kind == 0:
            replay.on_stage(moment, str(item.target), tuple(item.record_ids))
        else:
            replay.on_record(item, at)
    if moment is not None:
        replay.timers(moment, inclusive=True)
    replay.timers(as_of, inclusive=True)

    traj: Trajectory[Rung, LadderEvent] = Trajectory(TABLE.initial, tuple(replay.steps))
    entering = traj.entering_step()
    if entering is None:
        evidence = replay.initial_evidence(view)
    else:
        evidence = Evidence(entering.detail, entering.record_ids)
    inactive_since: datetime | None = None
    if not replay.active:
        ended = next(s for s in reversed(replay.steps) if s.event is LadderEvent.relationship_ended)
        inactive_since = ended.at
        evidence = evidence + Evidence(ended.detail, ended.record_ids)
    rung = replay.rung
    target = None if rung is Rung.expert else Rung.ordered()[rung.rank + 1]
    if not replay.active:
        target = Rung.doubter
    return LadderAssessment(
        client_id=history.client_id,
        as_of=as_of,
        rung=rung,
        active=replay.active,
        since=traj.since(),
        inactive_since=inactive_since,
        trajectory=traj,
        evidence=evidence,
        next_step_info=NextStep(
            source=rung,
            target=target,
            competency=Competency.facts_and_figures if not replay.active else COMPETENCIES[rung],
            needs=replay.needs(as_of),
        ),
    )


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
