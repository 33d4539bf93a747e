"""The dissatisfaction-to-loss lifecycle: how a supplier loses a key client, stage by stage.

The stages (:class:`Stage`, in order of severity) follow the source text: a
satisfied client meets **recurring problems**, begins **voicing its discontent**
when it suffers losses, its staff start **monitoring the supplier's failures**
when problems go on, the discontent is **escalated** to its management, which
issues an **ultimatum**, rarely opens **arbitration**, and the client is
**lost**.

The machine is data: :data:`TABLE` is a validated
:class:`~relcycle.machine.TransitionTable` of ``(stage, event) -> stage`` rows
over past-tense :class:`LifecycleEvent` facts. The interpretation layer
(:func:`derive_events`) reads a client's records — complaints, lifecycle
interactions, late or cancelled orders — and, with the thresholds of one
:class:`LifecyclePolicy`, turns them into events; :func:`replay` folds them
through the table; :func:`assess` adds the evidence, the loss reason, the
stage-1 risk signature and a readable :meth:`LifecycleAssessment.explain`;
:func:`loss_analysis` tells why each client of a portfolio was lost.

Everything is a pure function of the records and an explicit ``as_of``: the
stage as of a moment depends only on what was known by then, and records at
the same moment give the same result in any input order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import attrs

from relcycle._args import checked
from relcycle._decimal import in_own_context

from ._vocab import OrderedVocab, Vocab
from ._zones import resolve_zone
from .errors import RecordTypeError, UsageError, ValidationError
from .evidence import Evidence
from .history import ClientHistory, Portfolio, check_as_of
from .machine import (
    Decision,
    Emitter,
    Machine,
    MachineState,
    Occurrence,
    Step,
    Timer,
    Trajectory,
    TransitionTable,
    Trigger,
    format_moment,
)
from .model import (
    Client,
    Complaint,
    ComplaintCategory,
    FrozenMap,
    Interaction,
    LossReason,
    Money,
    Purpose,
    Severity,
)
from .rules import (
    CANCELLED_ORDER,
    COMPLAINT,
    FAILED_ORDER,
    HANDLED_CONTACT,
    INBOUND,
    LATE_ORDER,
    MANAGEMENT_COMPLAINT,
    REJECTED_COMPLAINT,
    SALE,
    STAFF_COMPLAINT,
    Rule,
    purpose_rule,
)
from .segmentation._util import nonneg_field, positive_int
from .segmentation.regularity import RegularityPolicy, mean_gap_text, regular_gaps

__all__ = [
    "DEFAULT_SERVICE_LEVELS",
    "EVIDENCE_BUDGET",
    "MACHINE",
    "PURPOSE_EVENTS",
    "TABLE",
    "TRIGGERS",
    "LifecycleAssessment",
    "LifecycleEvent",
    "LifecycleEventRecord",
    "LifecycleMemory",
    "LifecyclePolicy",
    "Loss",
    "LossAnalysis",
    "PathLeg",
    "Stage",
    "assess",
    "derive_events",
    "loss_analysis",
    "moving_triggers",
    "replay",
]


# --------------------------------------------------------------------------- vocabularies


class Stage(OrderedVocab):
    """The stage of a client in the dissatisfaction-to-loss lifecycle, least severe first."""

    satisfied = "satisfied"
    recurring_problems = "recurring_problems"
    voicing_discontent = "voicing_discontent"
    monitoring_failures = "monitoring_failures"
    escalated = "escalated"
    ultimatum = "ultimatum"
    arbitration = "arbitration"
    lost = "lost"


class LifecycleEvent(Vocab):
    """A past-tense fact that can move a client through the lifecycle.

    Complaint facts: ``complaint_opened``, ``complaint_resolved``,
    ``complaint_rejected``, ``problem_recurred`` (the stage-1 signature: problems
    of one category recurring within a window), ``loss_suffered`` (the client
    lost money through the supplier), ``complaint_opened_while_unresolved`` and
    ``service_level_breached`` (problems that go on after the client voiced
    them), ``staff_escalation_received`` (the client's staff took a complaint
    up: they record the supplier's failures). Order facts: ``service_failed`` (a
    late or cancelled order). The client's moves: ``escalation_received``,
    ``ultimatum_received``,
    ``arbitration_opened``, ``arbitration_closed``, ``relationship_terminated``,
    ``client_reactivated``. Time: ``trouble_free_period_elapsed``, and
    ``relationship_lapsed`` (silent churn: no sale for longer than the policy's
    lapse rules allow).
    """

    complaint_opened = "complaint_opened"
    complaint_resolved = "complaint_resolved"
    complaint_rejected = "complaint_rejected"
    service_failed = "service_failed"
    problem_recurred = "problem_recurred"
    loss_suffered = "loss_suffered"
    complaint_opened_while_unresolved = "complaint_opened_while_unresolved"
    service_level_breached = "service_level_breached"
    staff_escalation_received = "staff_escalation_received"
    escalation_received = "escalation_received"
    ultimatum_received = "ultimatum_received"
    arbitration_opened = "arbitration_opened"
    arbitration_closed = "arbitration_closed"
    trouble_free_period_elapsed = "trouble_free_period_elapsed"
    relationship_terminated = "relationship_terminated"
    relationship_lapsed = "relationship_lapsed"
    client_reactivated = "client_reactivated"


# --------------------------------------------------------------------------- the table

_S = Stage
_E = LifecycleEvent
_ALL = tuple(Stage)
_ACTIVE = tuple(s for s in Stage if s is not Stage.lost)


def _below(stage: Stage) -> tuple[Stage, ...]:
    return tuple(s for s in Stage if s < stage)


def _stay(event: LifecycleEvent, states: Iterable[Stage]) -> list[tuple[Stage, _E, Stage]]:
    return [(s, event, s) for s in states]


def _rows() -> list[tuple[Stage | tuple[Stage, ...], LifecycleEvent, Stage]]:
    rows: list[tuple[Stage | tuple[Stage, ...], LifecycleEvent, Stage]] = []
    # Facts that never move a client by themselves (they feed the signatures below).
    for event in (_E.complaint_opened, _E.complaint_resolved, _E.complaint_rejected):
        rows += _stay(event, _ALL)
    rows += _stay(_E.service_failed, _ALL)
    # Stage 1: recurring problems; losses make the client voice its discontent.
    rows.append((_S.satisfied, _E.problem_recurred, _S.recurring_problems))
    rows += _stay(_E.problem_recurred, [s for s in Stage if s >= _S.recurring_problems])
    rows.append((_below(_S.voicing_discontent), _E.loss_suffered, _S.voicing_discontent))
    rows += _stay(_E.loss_suffered, [s for s in Stage if s >= _S.voicing_discontent])
    # Stage 2: problems that go on after the client has voiced them.
    for event in (_E.complaint_opened_while_unresolved, _E.service_level_breached):
        rows.append((_below(_S.voicing_discontent), event, _S.voicing_discontent))
        rows.append((_S.voicing_discontent, event, _S.monitoring_failures))
        rows += _stay(event, [s for s in Stage if s >= _S.monitoring_failures])
    # The client's staff record the supplier's failures: stage 2 at once.
    event = _E.staff_escalation_received
    rows.append((_below(_S.monitoring_failures), event, _S.monitoring_failures))
    rows += _stay(event, [s for s in Stage if s >= _S.monitoring_failures])
    # Stages 3-4: the client's management does not wait for the supplier's stages.
    rows.append((_below(_S.escalated), _E.escalation_received, _S.escalated))
    rows += _stay(_E.escalation_received, (_S.escalated, _S.ultimatum, _S.arbitration))
    rows.append((_below(_S.ultimatum), _E.ultimatum_received, _S.ultimatum))
    rows += _stay(_E.ultimatum_received, (_S.ultimatum, _S.arbitration))
    rows.append((_below(_S.arbitration), _E.arbitration_opened, _S.arbitration))
    rows += _stay(_E.arbitration_opened, (_S.arbitration, _S.lost))
    rows.append((_S.arbitration, _E.arbitration_closed, _S.escalated))
    rows += _stay(_E.arbitration_closed, (_S.lost,))
    # Recovery: one step down per trouble-free period.
    for high, low in (
        (_S.recurring_problems, _S.satisfied),
        (_S.voicing_discontent, _S.recurring_problems),
        (_S.monitoring_failures, _S.voicing_discontent),
        (_S.escalated, _S.monitoring_failures),
        (_S.ultimatum, _S.escalated),
    ):
        rows.append((high, _E.trouble_free_period_elapsed, low))
    # The end of an episode, and the start of the next one.
    rows.append((_ACTIVE, _E.relationship_terminated, _S.lost))
    rows.append((_ACTIVE, _E.relationship_lapsed, _S.lost))
    rows.append((_S.lost, _E.client_reactivated, _S.satisfied))
    return rows


#: The lifecycle as data, validated when the module is imported.
TABLE: TransitionTable[Stage, LifecycleEvent] = TransitionTable.define(
    name="lifecycle",
    states=Stage,
    events=LifecycleEvent,
    initial=Stage.satisfied,
    rows=_rows(),
    terminal=(Stage.lost,),
)

_CATEGORIES = tuple(ComplaintCategory)
_NEXT: dict[Stage, dict[LifecycleEvent, Stage]] = {s: TABLE.successors(s) for s in Stage}
#: Stages a trouble-free period steps down from.
_RECOVERABLE = frozenset(s for s in Stage if _E.trouble_free_period_elapsed in _NEXT[s])


# --------------------------------------------------------------------------- policy

#: The default service levels: how long a complaint of each severity may stay open.
DEFAULT_SERVICE_LEVELS: FrozenMap[Severity, timedelta] = FrozenMap(
    {
        Severity.low: timedelta(days=14),
        Severity.medium: timedelta(days=7),
        Severity.high: timedelta(days=3),
        Severity.critical: timedelta(days=1),
    }
)


def _policy_error(field: str, value: object, reason: str) -> ValidationError:
    return ValidationError(record="LifecyclePolicy", field=field, value=value, reason=reason)


def _check_span(field: str, value: object) -> None:
    if not isinstance(value, timedelta):
        raise RecordTypeError(
            record="LifecyclePolicy", field=field, value=value, expected="a timedelta"
        )
    if value <= timedelta(0):
        raise _policy_error(field, value, "must be a positive duration")


def _levels(
    field: str, value: Mapping[Any, Any], base: Mapping[Severity, timedelta]
) -> FrozenMap[Severity, timedelta]:
    if not isinstance(value, Mapping):
        raise RecordTypeError(
            record="LifecyclePolicy",
            field=field,
            value=value,
            expected="a mapping of severity to timedelta",
        )
    levels = dict(base)
    for key, span in value.items():
        try:
            severity = Severity.parse(key)
        except ValueError as exc:
            raise _policy_error(field, key, str(exc)) from None
        _check_span(f"{field}[{severity.value}]", span)
        levels[severity] = span
    return FrozenMap(levels)


def _to_levels(value: Mapping[Any, Any]) -> FrozenMap[Severity, timedelta]:
    return _levels("service_levels", value, DEFAULT_SERVICE_LEVELS)


def _to_client_levels(
    value: Mapping[str, Mapping[Any, Any]],
) -> FrozenMap[str, FrozenMap[Severity, timedelta]]:
    if not isinstance(value, Mapping):
        raise RecordTypeError(
            record="LifecyclePolicy",
            field="client_service_levels",
            value=value,
            expected="a mapping of client id to service levels",
        )
    return FrozenMap(
        {cid: _levels(f"client_service_levels[{cid}]", lv, {}) for cid, lv in value.items()}
    )


@attrs.frozen(kw_only=True)
class LifecyclePolicy:
    """Every threshold of the lifecycle in one immutable object (defaults documented).

    Attributes:
        recurrence_count: How many problems of one category within
            ``recurrence_window`` make a recurrence (default 3, at least 2).
        recurrence_window: The window of a recurrence (default 60 days); the
            problems counted lie within ``[t - window, t]`` of the latest one.
        trouble_free_period: How long a client must go with no open complaint
            and no new lifecycle event before it steps one stage down
            (default 90 days, a business quarter).
        service_levels: How long a complaint of each severity may stay open
            before it is past the service level the client expects (default:
            low 14 days, medium 7, high 3, critical 1). Severities left out keep
            their defaults. :meth:`service_level` says which level applies to
            a client; the lifecycle's breach timer and the ``overdue_complaint``
            risk both read it.
        client_service_levels: Per-client levels by client id and severity (the
            client, not the supplier, sets the level it expects); they come
            first. Severities left out fall back to the client's own attributes,
            then to ``service_levels``.
        sla_attribute_prefix: The client attributes ``<prefix><severity>``
            (days, decimal: ``sla_high = 2``) are the client's own service levels,
            read after ``client_service_levels`` (default ``"sla_"``; None: not read).
        rejection_memory: A rejected complaint (closed without a fix) is not a
            fix: its problem stays among the client's unresolved ones for this
            long after the rejection (default 90 days). A complaint opened
            meanwhile is opened while others are unresolved, and the client does
            not step down meanwhile.
        late_orders_fail: Orders delivered late (``on_time`` false) are service
            failures (default True).
        cancelled_orders_fail: Cancelled orders are service failures (default True).
        failures_recur_as: The complaint category service failures count as when
            looking for recurring problems (default ``delivery``); None keeps them
            out of the count.
        management_complaints_escalate: A complaint the client raised to its
            management (``escalated_to`` = ``management``, the rule
            :data:`~relcycle.rules.MANAGEMENT_COMPLAINT`) counts as an escalation
            at the moment it was opened (default True; the record carries no
            escalation time).
        staff_complaints_monitor: A complaint the client's staff took up
            (``escalated_to`` = ``staff``, the rule
            :data:`~relcycle.rules.STAFF_COMPLAINT`) means its staff record the
            supplier's failures: the client is in ``monitoring_failures`` (or
            worse) from the moment it was opened (default True).
        reactivate_on_sale: Sales can win a lost client back, even with no
            ``reactivation`` recorded (default True): a client lost by lapse with
            its first sale, a client that terminated the relationship with
            ``reactivation_sales`` sales within ``reactivation_window``. False:
            only a recorded ``reactivation`` does.
        reactivation_sales: After a termination, how many sales within
            ``reactivation_window`` win the client back (default 3, at least 1).
            Fewer are trailing activity (deliveries still due, a last one-off
            order): the client stays lost and carries the
            ``activity_after_loss`` risk flag.
        reactivation_window: The window of ``reactivation_sales``: the sales
            counted lie within ``[t - window, t]`` of the latest (default 90 days).
        lapse_after: Silent churn: an active client with no sale for this long
            (since its last sale, or since it was won back) is lost, reason
            ``lapsed`` (default 365 days; None: never by this rule).
        lapse_intervals: Silent churn of a regular buyer: a client whose purchase
            days in the current episode are regular (``regularity``'s rule) and
            that has not bought for this many mean gaps since its last sale is
            lost, reason ``lapsed`` (default 4, where the regularity rule calls
            an order overdue at 1.5; None: never by this rule). Both rules give
            ``manager_left`` instead when every contact of the episode with a
            known handler, at least ``manager_left_min_contacts`` of them, was
            handled by one employee who is no longer the client's account manager.
        lapse_min_silence: The floor of the regular-buyer rule: however short its
            mean gap, a regular buyer is not lost by ``lapse_intervals`` before
            this much silence (default 90 days, a business quarter: a daily buyer
            pausing four days has not left; None: no floor).
        manager_left_min_contacts: The handled contacts one employee must hold
            alone for a lapse to count as ``manager_left`` (default 5, the
            key-person risk's minimum; at least 1).
        regularity: The rule of "regular buying" ``lapse_intervals`` reads
            (:class:`~relcycle.segmentation.regularity.RegularityPolicy`'s
            ``min_gaps`` and ``max_cv``; the report gives it its own).
        strict: Raise :class:`~relcycle.errors.IllegalTransitionError` on a record
            whose event the client's stage does not allow (an ``arbitration_closed``
            with no arbitration open, say). By default such records are left out
            of the replay and reported as anomalies of the assessment.
    """

    recurrence_count: int = 3
    recurrence_window: timedelta = timedelta(days=60)
    trouble_free_period: timedelta = timedelta(days=90)
    service_levels: FrozenMap[Severity, timedelta] = attrs.field(
        default=DEFAULT_SERVICE_LEVELS, converter=_to_levels
    )
    client_service_levels: FrozenMap[str, FrozenMap[Severity, timedelta]] = attrs.field(
        factory=FrozenMap, converter=_to_client_levels
    )
    sla_attribute_prefix: str | None = "sla_"
    rejection_memory: timedelta = timedelta(days=90)
    late_orders_fail: bool = True
    cancelled_orders_fail: bool = True
    failures_recur_as: ComplaintCategory | None = ComplaintCategory.delivery
    management_complaints_escalate: bool = True
    staff_complaints_monitor: bool = True
    reactivate_on_sale: bool = True
    reactivation_sales: int = 3
    reactivation_window: timedelta = timedelta(days=90)
    lapse_after: timedelta | None = timedelta(days=365)
    lapse_intervals: Decimal | None = Decimal(4)
    lapse_min_silence: timedelta | None = timedelta(days=90)
    manager_left_min_contacts: int = 5
    regularity: RegularityPolicy = attrs.field(factory=RegularityPolicy)
    strict: bool = False
    #: The time zone whose calendar days make the purchase days of the lapse
    #: rule: set per run by :func:`assess` (its ``tz``), see :meth:`in_zone`.
    zone: tzinfo = attrs.field(default=UTC, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        count = self.recurrence_count
        if type(count) is not int:
            raise RecordTypeError(
                record="LifecyclePolicy", field="recurrence_count", value=count, expected="an int"
            )
        if count < 2:
            raise _policy_error("recurrence_count", count, "a recurrence needs at least 2 problems")
        _check_span("recurrence_window", self.recurrence_window)
        _check_span("trouble_free_period", self.trouble_free_period)
        _check_span("rejection_memory", self.rejection_memory)
        prefix = self.sla_attribute_prefix
        if prefix is not None and (type(prefix) is not str or not prefix):
            raise RecordTypeError(
                record="LifecyclePolicy",
                field="sla_attribute_prefix",
                value=prefix,
                expected="a non-empty string or None",
            )
        _check_span("reactivation_window", self.reactivation_window)
        if self.lapse_after is not None:
            _check_span("lapse_after", self.lapse_after)
        if self.lapse_min_silence is not None:
            _check_span("lapse_min_silence", self.lapse_min_silence)
        positive_int(self, "reactivation_sales", self.reactivation_sales)
        positive_int(self, "manager_left_min_contacts", self.manager_left_min_contacts)
        if self.lapse_intervals is not None:
            k = nonneg_field(self, "lapse_intervals", self.lapse_intervals)
            if not k.is_finite() or k == 0:
                raise _policy_error("lapse_intervals", k, "must be a positive number")
            object.__setattr__(self, "lapse_intervals", k)
        if not isinstance(self.regularity, RegularityPolicy):
            raise RecordTypeError(
                record="LifecyclePolicy",
                field="regularity",
                value=self.regularity,
                expected="a RegularityPolicy",
            )
        recur: object = self.failures_recur_as
        if recur is not None and not isinstance(recur, ComplaintCategory):
            try:
                object.__setattr__(self, "failures_recur_as", ComplaintCategory.parse(recur))
            except ValueError as exc:
                raise _policy_error("failures_recur_as", recur, str(exc)) from None
        for name in (
            "late_orders_fail",
            "cancelled_orders_fail",
            "management_complaints_escalate",
            "staff_complaints_monitor",
            "reactivate_on_sale",
            "strict",
        ):
            value = getattr(self, name)
            if type(value) is not bool:
                raise RecordTypeError(
                    record="LifecyclePolicy", field=name, value=value, expected="True or False"
                )

    @property
    def failed_order(self) -> Rule:
        """The record rule of a service failure under this policy.

        :data:`~relcycle.rules.FAILED_ORDER` (cancelled or late) with both flags
        on; :data:`~relcycle.rules.CANCELLED_ORDER` or
        :data:`~relcycle.rules.LATE_ORDER` alone with one; no order with neither.
        """
        return _FAILURE_RULES[self.cancelled_orders_fail, self.late_orders_fail]

    def service_level(self, client: Client | str, severity: Severity) -> timedelta:
        """How long a complaint of ``severity`` by ``client`` may stay open: its service level.

        The one rule of a complaint's service level, which the lifecycle's breach
        timer and the ``overdue_complaint`` risk both follow. The first found of:
        :attr:`client_service_levels` for the client, the client's own attribute
        ``<sla_attribute_prefix><severity>`` (days; read when ``client`` is a
        :class:`~relcycle.model.Client`), :attr:`service_levels`.

        Args:
            client: The client, or its id (then its attributes are not read).
            severity: The complaint's severity.

        Raises:
            ValidationError: If the client's attribute is not a positive number of days.
        """
        client_id = client if isinstance(client, str) else client.client_id
        own = self.client_service_levels.get(client_id)
        if own is not None and severity in own:
            return own[severity]
        if self.sla_attribute_prefix is not None and isinstance(client, Client):
            name = f"{self.sla_attribute_prefix}{severity.value}"
            raw = client.attributes.get(name)
            if raw is not None:
                return _attribute_days(client_id, name, raw)
        return self.service_levels[severity]

    def for_client(self, client: Client) -> LifecyclePolicy:
        """This policy with ``client``'s own service levels (its attributes) folded in.

        The lifecycle's decider knows a client by its id only; :func:`assess`
        (and every function of this module that runs :data:`MACHINE`) runs it
        with the policy this returns, so the client's ``sla_*`` attributes set
        its breach timers. Run :data:`MACHINE` yourself with it too.

        Raises:
            ValidationError: If one of the client's service-level attributes is
                not a positive number of days.
        """
        prefix = self.sla_attribute_prefix
        attributes = client.attributes
        if prefix is None or not attributes:
            return self
        if not any(f"{prefix}{severity.value}" in attributes for severity in Severity):
            return self
        levels = {severity: self.service_level(client, severity) for severity in Severity}
        mine = dict(self.client_service_levels)
        mine[client.client_id] = FrozenMap(levels)
        found = attrs.evolve(self, client_service_levels=mine)
        object.__setattr__(found, "zone", self.zone)  # not an init field: evolve drops it
        return found

    def in_zone(self, tz: tzinfo | str) -> LifecyclePolicy:
        """This policy with the lapse rule counting purchase days in ``tz``.

        :func:`assess` calls it with its ``tz``; give it to
        :meth:`MACHINE.run <relcycle.machine.Machine.run>` directly to run the
        machine in another zone than UTC.
        """
        zone = resolve_zone(tz)
        if zone is self.zone:
            return self
        key = (self, zone)
        found = _ZONED.get(key)
        if found is None:
            found = attrs.evolve(self)
            object.__setattr__(found, "zone", zone)
            if len(_ZONED) < 256:  # a bounded cache of immutable values
                _ZONED[key] = found
        return found


_ZONED: dict[tuple[LifecyclePolicy, tzinfo], LifecyclePolicy] = {}


def _attribute_days(client_id: str, name: str, raw: str) -> timedelta:
    """A client's service-level attribute (decimal days) as a timedelta."""
    try:
        days = Decimal(raw.strip())
    except InvalidOperation:
        days = Decimal(-1)
    if not days.is_finite() or days <= 0:
        raise ValidationError(
            record="Client",
            field=f"attributes.{name}",
            value=raw,
            record_id=client_id,
            reason="a service level must be a positive number of days",
        )
    return timedelta(microseconds=int(days * 86_400_000_000))


#: The failure rule of each (cancelled_orders_fail, late_orders_fail) pair.
_FAILURE_RULES: Mapping[tuple[bool, bool], Rule] = {
    (True, True): FAILED_ORDER,
    (True, False): CANCELLED_ORDER,
    (False, True): LATE_ORDER,
    (False, False): Rule.define("no_failed_order", "orders", False, doc="no order fails"),
}


# --------------------------------------------------------------------------- events


class LifecycleEventRecord(NamedTuple):
    """One derived lifecycle event: when, what, which records, and a readable account.

    It is a named tuple in the order :meth:`TransitionTable.fold
    <relcycle.machine.TransitionTable.fold>` reads.

    Attributes:
        at: When it happened.
        event: The event type.
        record_ids: The ids of the records that caused it.
        detail: A short account a person can read.
    """

    at: datetime
    event: LifecycleEvent
    record_ids: tuple[str, ...] = ()
    detail: str = ""


_fmt = format_moment


def _days(span: timedelta) -> str:
    text = _DAYS.get(span)
    if text is None:
        text = _days_text(span)
        if len(_DAYS) < 4096:  # a bounded cache of pure results
            _DAYS[span] = text
    return text


_DAYS: dict[timedelta, str] = {}


def _days_text(span: timedelta) -> str:
    if span % timedelta(days=1) == timedelta(0):
        n = span.days
        return f"{n} day" if n == 1 else f"{n} days"
    hours = span / timedelta(hours=1)
    return f"{hours:g} hours"


def _ids(ids: Iterable[str]) -> str:
    return ", ".join(ids)


def _grouped(items: Iterable[tuple[str, str]]) -> str:
    """``[("complaint", "c1"), ("complaint", "c2"), ("late order", "o1")]`` as
    ``"complaints c1, c2; late order o1"``."""
    groups: dict[str, list[str]] = {}
    for kind, rid in items:
        groups.setdefault(kind, []).append(rid)
    return "; ".join(
        f"{kind}{'s' if len(ids) > 1 else ''} {_ids(ids)}" for kind, ids in groups.items()
    )


# --------------------------------------------------------------------------- the decider

# Same-moment order of occurrences (then by record id): the trigger table's
# priorities, the service-level timer's, and the trouble-free timer's, which comes
# after every record at its moment.
_P_REACTIVATION = 0
_P_CLOSE = 1
_P_OPEN = 2
_P_SLA = 3
_P_ORDER = 4
_P_QUIET = 100
# A rejected complaint stops counting as unresolved before the records at its
# moment: a complaint opened exactly then is not opened while it is unresolved.
_P_FORGET = _P_CLOSE
_P_LAPSE = 101  # after every record at its moment: a sale then is not silence
# The lifecycle's interaction triggers, each declared once: the purpose, the
# event it gives, and its same-moment priority.
_PURPOSE_TRIGGERS: tuple[tuple[Purpose, LifecycleEvent, int], ...] = (
    (Purpose.reactivation, _E.client_reactivated, _P_REACTIVATION),
    (Purpose.escalation, _E.escalation_received, 5),
    (Purpose.ultimatum, _E.ultimatum_received, 6),
    (Purpose.arbitration, _E.arbitration_opened, 7),
    (Purpose.arbitration_closed, _E.arbitration_closed, 8),
    (Purpose.termination, _E.relationship_terminated, 9),
)
#: The interaction purposes the lifecycle reacts to, and the event each one gives
#: (its interaction triggers: an escalation, an ultimatum, arbitration opened or
#: closed, a termination, a reactivation).
PURPOSE_EVENTS: Mapping[Purpose, LifecycleEvent] = FrozenMap(
    {purpose: event for purpose, event, _ in _PURPOSE_TRIGGERS}
)

# Occurrence kinds: the triggers' and the timers'.
_K_OPEN = "complaint_opened"
_K_CLOSE = "complaint_closed"
_K_SALE = "sale"
_K_FAILED = "failed_order"
_K_SLA = "service_level_due"
_K_QUIET = "trouble_free_period_due"
_K_FORGET = "rejection_memory_due"
_K_LAPSE = "lapse_due"
# How the current loss came about (LifecycleMemory.lost_by).
_BY_TERMINATION = "termination"
_BY_LAPSE = "lapse"
# What a lapse timer checks when it falls due (its data).
_LAPSE_AFTER = "after"
_LAPSE_INTERVALS = "intervals"
#: How many of the latest sales a lapse cites as its evidence.
_LAPSE_EVIDENCE = 3

#: The lifecycle's trigger table: which records give which occurrence, when, and
#: in which order at one moment.
TRIGGERS: tuple[Trigger, ...] = (
    Trigger(COMPLAINT, _K_OPEN, _P_OPEN),
    Trigger(COMPLAINT, _K_CLOSE, _P_CLOSE, at="resolved_at"),
    Trigger(SALE, _K_SALE, _P_ORDER),
    Trigger(FAILED_ORDER, _K_FAILED, _P_ORDER),
    *(
        Trigger(purpose_rule(purpose), purpose.value, priority)
        for purpose, _, priority in _PURPOSE_TRIGGERS
    ),
)

_Problem = tuple[datetime, str, str]  # (moment, record id, what: "complaint", "late order"...)


def moving_triggers(policy: LifecyclePolicy) -> tuple[Trigger, ...]:
    """The triggers whose records can give a client an event under ``policy``.

    A client with no record these triggers match by a moment has the lifecycle
    of an empty history then: ``satisfied``, no trajectory, no anomaly. The
    columnar engine compiles them to find the clients it must replay. They are
    :data:`TRIGGERS` less what the decider answers with no event:

    * a complaint's close (it follows the complaint's opening, which is kept);
    * a sale, while no lapse rule is on (a sale of a client that was never lost
      only keeps the lapse rule's figures);
    * a failed order the policy does not count (the failed-order trigger keeps
      ``policy.failed_order``'s orders only).

    Args:
        policy: The lifecycle's policy.

    Returns:
        The triggers, in :data:`TRIGGERS`' order.
    """
    lapses = policy.lapse_after is not None or policy.lapse_intervals is not None
    found: list[Trigger] = []
    for trigger in TRIGGERS:
        if trigger.kind == _K_CLOSE or (trigger.kind == _K_SALE and not lapses):
            continue
        if trigger.kind == _K_FAILED:
            trigger = attrs.evolve(trigger, rule=policy.failed_order)
        found.append(trigger)
    return tuple(found)


class LifecycleMemory(NamedTuple):
    """What the lifecycle's decider remembers between occurrences (frozen).

    Attributes:
        open: The ids of the complaints open now, oldest first.
        recent: Per complaint category (in the vocabulary's order), the problems
            counted towards a recurrence: ``(moment, record id, what)``, oldest first.
        anchor: The moment of the latest event (a trouble-free period counts from
            it), or None before the first.
        anchor_ids: The records of that event.
        reasons: The reason of each termination that took effect, by interaction
            id (None when it gave none).
        unresolved: The ids of the rejected complaints still counted as
            unresolved (``LifecyclePolicy.rejection_memory``), oldest first.
        days: The purchase days of the current episode (in the policy's zone),
            oldest first: the lapse rule's regularity.
        silent_since: The latest sale of the episode, or the moment it was won
            back, whichever is later (None before either): the lapse clock.
        last_sales: The ids of the episode's latest sales (a lapse's evidence).
        lost_by: While lost, how: ``"termination"`` or ``"lapse"``; else ``""``.
        trailing: After a termination, the sales ``(moment, id)`` counted
            towards a win-back (those in the reactivation window).
    """

    open: tuple[str, ...] = ()
    recent: tuple[tuple[_Problem, ...], ...] = tuple(() for _ in ComplaintCategory)
    anchor: datetime | None = None
    anchor_ids: tuple[str, ...] = ()
    reasons: tuple[tuple[str, LossReason | None], ...] = ()
    unresolved: tuple[str, ...] = ()
    days: tuple[date, ...] = ()
    silent_since: datetime | None = None
    last_sales: tuple[str, ...] = ()
    lost_by: str = ""
    trailing: tuple[tuple[datetime, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_dict` reads it back)."""
        return {
            "open": list(self.open),
            "recent": {
                c.value: [[at.isoformat(), rid, what] for at, rid, what in problems]
                for c, problems in zip(_CATEGORIES, self.recent, strict=True)
                if problems
            },
            "anchor": None if self.anchor is None else self.anchor.isoformat(),
            "anchor_ids": list(self.anchor_ids),
            "reasons": [[rid, None if r is None else r.value] for rid, r in self.reasons],
            "unresolved": list(self.unresolved),
            "days": [d.isoformat() for d in self.days],
            "silent_since": None if self.silent_since is None else self.silent_since.isoformat(),
            "last_sales": list(self.last_sales),
            "lost_by": self.lost_by,
            "trailing": [[at.isoformat(), rid] for at, rid in self.trailing],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifecycleMemory:
        """The memory of :meth:`to_dict`.

        Raises:
            UsageError: If ``data`` is not a saved lifecycle memory.
        """
        try:
            recent = {ComplaintCategory.parse(k): v for k, v in data["recent"].items()}
            anchor = data["anchor"]
            silent = data.get("silent_since")
            return cls(
                open=tuple(str(rid) for rid in data["open"]),
                recent=tuple(
                    tuple(
                        (datetime.fromisoformat(at), str(rid), str(what))
                        for at, rid, what in recent.get(c, ())
                    )
                    for c in _CATEGORIES
                ),
                anchor=None if anchor is None else datetime.fromisoformat(anchor),
                anchor_ids=tuple(str(rid) for rid in data["anchor_ids"]),
                reasons=tuple(
                    (str(rid), None if r is None else LossReason.parse(r))
                    for rid, r in data["reasons"]
                ),
                unresolved=tuple(str(rid) for rid in data["unresolved"]),
                # states saved before the lapse rules lack these keys
                days=tuple(date.fromisoformat(d) for d in data.get("days", ())),
                silent_since=(None if silent is None else datetime.fromisoformat(silent)),
                last_sales=tuple(str(rid) for rid in data.get("last_sales", ())),
                lost_by=_lost_by(data.get("lost_by", "")),
                trailing=tuple(
                    (datetime.fromisoformat(at), str(rid)) for at, rid in data.get("trailing", ())
                ),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"not a saved lifecycle memory: {data!r} ({exc})") from None


def _lost_by(value: object) -> str:
    if value not in ("", _BY_TERMINATION, _BY_LAPSE):
        raise ValueError(f"lost_by {value!r}")
    return str(value)


_NEW_MEMORY = LifecycleMemory()
_new = tuple.__new__
_CATEGORY_INDEX = {c: n for n, c in enumerate(_CATEGORIES)}


def _recur(
    recent: tuple[tuple[_Problem, ...], ...],
    category: ComplaintCategory,
    at: datetime,
    rid: str,
    what: str,
    policy: LifecyclePolicy,
) -> tuple[tuple[tuple[_Problem, ...], ...], tuple[_Problem, ...] | None]:
    """Count a problem: the new ``recent``, and the problems that recur (None if not)."""
    n = _CATEGORY_INDEX[category]
    start = at - policy.recurrence_window
    kept = recent[n]
    if kept and kept[0][0] < start:  # problems are in time order: drop the stale head
        kept = tuple([p for p in kept if p[0] >= start])
    q = (*kept, (at, rid, what))
    recent = (*recent[:n], q, *recent[n + 1 :])
    return recent, (q if len(q) >= policy.recurrence_count else None)


def _recurred(category: ComplaintCategory, q: tuple[_Problem, ...], policy: LifecyclePolicy) -> str:
    return f"{len(q)} {category} problems within {_days(policy.recurrence_window)}: " + _grouped(
        (w, r) for _, r, w in q
    )


def _lapse_timer(
    days: tuple[date, ...], silent_since: datetime | None, policy: LifecyclePolicy
) -> Timer | None:
    """The lapse check of an active client: the earlier of the policy's two rules.

    The regular-buyer rule's moment is only a candidate (whether the days are
    regular is checked when it falls due, once, rather than at every sale).
    """
    if silent_since is None:
        return None
    best: tuple[datetime, str] | None = None
    try:
        if policy.lapse_after is not None:
            best = (silent_since + policy.lapse_after, _LAPSE_AFTER)
        span = _intervals_span(days, policy)
        if span is not None:
            due = silent_since + span
            if best is None or due < best[0]:
                best = (due, _LAPSE_INTERVALS)
    except OverflowError:  # past the end of the calendar: never
        pass
    if best is None:
        return None
    return _new(Timer, (best[0], _P_LAPSE, "", _K_LAPSE, best[1]))


def _intervals_span(days: tuple[date, ...], policy: LifecyclePolicy) -> timedelta | None:
    """The silence the regular-buyer rule allows: ``lapse_intervals`` mean gaps, floored.

    None when the rule is off or there are too few purchase days to be regular.
    The floor is ``lapse_min_silence``.

    Raises:
        OverflowError: If the span is beyond what a timedelta holds.
    """
    k = policy.lapse_intervals
    if k is None or len(days) <= policy.regularity.min_gaps:
        return None
    # k mean gaps, in whole microseconds (rounded down), from integers: exact,
    # whatever the decimal context
    times, per = k.as_integer_ratio()
    span_days = (days[-1] - days[0]).days
    span = timedelta(microseconds=span_days * times * 86_400_000_000 // (per * (len(days) - 1)))
    floor = policy.lapse_min_silence
    return span if floor is None or span >= floor else floor


def _with_lapse(timers: tuple[Timer, ...], lapse: Timer | None) -> tuple[Timer, ...]:
    """``timers`` with the lapse check replaced by ``lapse`` (None: removed)."""
    kept = tuple([t for t in timers if t[3] != _K_LAPSE])
    return kept if lapse is None else (*kept, lapse)


def _sale_seen(
    memory: LifecycleMemory, at: datetime, rid: str, policy: LifecyclePolicy
) -> LifecycleMemory:
    """``memory`` after a sale of an active client (the lapse rule's figures)."""
    day = at.astimezone(policy.zone).date()
    days = memory.days
    if not days or days[-1] != day:
        days = (*days, day)
    last = (*memory.last_sales[1 - _LAPSE_EVIDENCE :], rid)
    return memory._replace(days=days, silent_since=at, last_sales=last)


def _lapse_detail(memory: LifecycleMemory, policy: LifecyclePolicy, rule: str) -> str | None:
    """Why a due lapse check makes the client lost, or None if it does not (yet)."""
    since = memory.silent_since
    assert since is not None
    last = memory.last_sales
    tail = f" (the last: order{'s' if len(last) > 1 else ''} {_ids(last)})" if last else ""
    if rule == _LAPSE_INTERVALS:
        found = regular_gaps(memory.days, policy.regularity)
        if found is not None:
            floor = policy.lapse_min_silence
            silence = f"{policy.lapse_intervals} mean gaps"
            if floor is not None and _intervals_span(memory.days, policy) == floor:
                silence = f"{_days(floor)} (the floor lapse_min_silence; {silence} are shorter)"
            return (
                f"lapsed: a regular buyer ({len(memory.days)} purchase days, mean gap "
                f"{mean_gap_text(found[0])} days) with no sale for "
                f"{silence} since {_fmt(since)}{tail}"
            )
        return None
    assert policy.lapse_after is not None
    return f"lapsed: no sale for {_days(policy.lapse_after)} since {_fmt(since)}{tail}"


def _decide(
    state: MachineState[Stage, LifecycleMemory], occ: Occurrence, policy: LifecyclePolicy
) -> Decision[LifecycleMemory]:
    """The lifecycle's decider: one occurrence, knowing the stage, gives events."""
    client_id, stage, memory, timers, _ = state
    at, _prio, rid, _sub, kind, rec = occ
    # The common occurrences that change nothing, answered before any set-up:
    # a service level met in time, an order the policy does not count as
    # failed; a sale of an active client only moves the lapse clock.
    if kind == _K_FAILED:
        if policy.cancelled_orders_fail and CANCELLED_ORDER(rec):
            what = "cancelled order"
        elif policy.late_orders_fail and rec.on_time is False:
            what = "late order"
        else:
            return _new(Decision, ((), memory, timers, ()))
    elif kind == _K_SLA and rid not in memory[0]:
        return _new(Decision, ((), memory, timers, ()))
    elif kind == _K_SALE:
        if stage is not Stage.lost:
            memory = _sale_seen(memory, at, rid, policy)
            lapse = _lapse_timer(memory.days, memory.silent_since, policy)
            return _new(Decision, ((), memory, _with_lapse(timers, lapse), ()))
        if not policy.reactivate_on_sale:
            return _new(Decision, ((), memory, timers, ()))
        if memory.lost_by == _BY_TERMINATION:
            start = at - policy.reactivation_window
            trailing = (*[t for t in memory.trailing if t[0] >= start], (at, rid))
            if len(trailing) < policy.reactivation_sales:
                # trailing activity, not a win-back (the activity_after_loss flag)
                return _new(Decision, ((), memory._replace(trailing=trailing), timers, ()))
            won = tuple(r for _, r in trailing)
            why = (
                f"order {rid} placed by a client that terminated the relationship"
                if len(won) == 1
                else f"{len(won)} orders within {_days(policy.reactivation_window)} after "
                f"the termination: {_ids(won)}"
            )
        else:
            won = (rid,)
            why = f"order {rid} placed by a lost client"
            if memory.lost_by == _BY_LAPSE:
                why += " (lost by lapse)"
    elif kind == _K_LAPSE:
        lapse_why = _lapse_detail(memory, policy, rec.data)
        if lapse_why is None:  # not a regular buyer: only the plain rule is left
            later = _lapse_timer((), memory.silent_since, policy)
            if later is None or later.at > at:
                return _new(Decision, ((), memory, _with_lapse(timers, later), ()))
            lapse_why = _lapse_detail(memory, policy, _LAPSE_AFTER)
    emit: Emitter[Stage, LifecycleEvent] = Emitter(
        TABLE, stage, client_id=client_id, strict=policy.strict, noun="stage"
    )
    open_, recent, anchor, anchor_ids, reasons, unresolved = memory[:6]
    if kind == _K_OPEN:
        c: Complaint = rec
        earlier = (*open_, *unresolved)
        shown = _ids((*open_, *(f"{x} (rejected)" for x in unresolved))) if earlier else ""
        emit(
            at, _E.complaint_opened, (rid,), f"complaint {rid} opened ({c.category}, {c.severity})"
        )
        open_ = (*open_, rid)
        recent, q = _recur(recent, c.category, at, rid, "complaint", policy)
        if q is not None:
            emit(
                at, _E.problem_recurred, tuple(r for _, r, _ in q), _recurred(c.category, q, policy)
            )
        if c.client_loss is not None and c.client_loss > 0:
            emit(
                at,
                _E.loss_suffered,
                (rid,),
                f"complaint {rid}: client loss {Money(c.client_loss, c.currency)}",
            )
        if earlier:
            emit(
                at,
                _E.complaint_opened_while_unresolved,
                (rid, *earlier),
                f"complaint {rid} opened while {shown} unresolved",
            )
        if policy.staff_complaints_monitor and STAFF_COMPLAINT(c):
            emit(
                at,
                _E.staff_escalation_received,
                (rid,),
                f"complaint {rid} taken up by the client's staff",
            )
        if policy.management_complaints_escalate and MANAGEMENT_COMPLAINT(c):
            emit(
                at,
                _E.escalation_received,
                (rid,),
                f"complaint {rid} raised to the client's management",
            )
        level = policy.service_level(client_id, c.severity)
        breach = (
            f"complaint {rid} ({c.severity}) still open after {_days(level)}, "
            "past the client's service level"
        )
        timers = (*timers, _new(Timer, (at + level, _P_SLA, rid, _K_SLA, breach)))
    elif kind == _K_CLOSE:
        c = rec
        if rid in open_:
            open_ = tuple([x for x in open_ if x != rid])
        timers = tuple([t for t in timers if t[2] != rid or t[3] != _K_SLA])
        took = _days(at - c.opened_at) if at > c.opened_at else "at once"
        if REJECTED_COMPLAINT(c):
            emit(
                at,
                _E.complaint_rejected,
                (rid,),
                f"complaint {rid} rejected ({took}): not a fix, unresolved for "
                f"{_days(policy.rejection_memory)}",
            )
            unresolved = (*unresolved, rid)
            forget = _new(Timer, (at + policy.rejection_memory, _P_FORGET, rid, _K_FORGET, ""))
            timers = (*timers, forget)
        else:
            emit(at, _E.complaint_resolved, (rid,), f"complaint {rid} resolved ({took})")
    elif kind == _K_SLA:
        emit(at, _E.service_level_breached, (rid,), rec.data)
    elif kind == _K_FORGET:
        unresolved = tuple([x for x in unresolved if x != rid])
    elif kind == _K_QUIET:
        emit(
            at,
            _E.trouble_free_period_elapsed,
            anchor_ids,
            f"no open complaint and no new problem for {_days(policy.trouble_free_period)} "
            f"since {_fmt(at if anchor is None else anchor)}",
        )
    elif kind == _K_SALE:  # a win-back by sales (the cases above)
        emit(at, _E.client_reactivated, won, why)
    elif kind == _K_LAPSE:
        emit(at, _E.relationship_lapsed, memory.last_sales, str(lapse_why))
    elif kind == _K_FAILED:
        emit(at, _E.service_failed, (rid,), f"{what} {rid}")
        if policy.failures_recur_as is not None:
            category = policy.failures_recur_as
            recent, q = _recur(recent, category, at, rid, what, policy)
            if q is not None:
                emit(
                    at,
                    _E.problem_recurred,
                    tuple(r for _, r, _ in q),
                    _recurred(category, q, policy),
                )
    else:
        i: Interaction = rec
        event = PURPOSE_EVENTS[i.purpose]
        if event is _E.relationship_terminated:
            why = i.reason if i.reason is not None else "no reason recorded"
            detail = f"interaction {rid} (termination: {why})"
        else:
            detail = f"interaction {rid} ({i.purpose})"
        if emit(at, event, (rid,), detail) and event is _E.relationship_terminated:
            reasons = (*reasons, (rid, i.reason))
    events = emit.events
    if events:
        last = events[-1]
        anchor, anchor_ids = last[0], last[2]
        memory = _episode(memory, events, kind == _K_SALE, policy)
        lapse = (
            None
            if emit.state is Stage.lost
            else _lapse_timer(memory.days, memory.silent_since, policy)
        )
        timers = _with_lapse(timers, lapse)
    # The trouble-free timer: due a period after the latest event (and not before
    # now: a rejection's memory may end after that), while the stage can step
    # down and no complaint is open or unresolved.
    quiet = (
        max(anchor + policy.trouble_free_period, at)
        if emit.state in _RECOVERABLE and not open_ and not unresolved and anchor is not None
        else None
    )
    current = None
    for t in timers:
        if t[3] == _K_QUIET:
            current = t[0]
            break
    if current != quiet:
        if current is not None:
            timers = tuple([t for t in timers if t[3] != _K_QUIET])
        if quiet is not None:
            timers = (*timers, _new(Timer, (quiet, _P_QUIET, "", _K_QUIET, "")))
    memory = _new(
        LifecycleMemory, (open_, recent, anchor, anchor_ids, reasons, unresolved, *memory[6:])
    )
    return emit.decision(memory, timers)


def _episode(
    memory: LifecycleMemory,
    events: Iterable[tuple[datetime, LifecycleEvent, tuple[str, ...], str]],
    sale: bool,
    policy: LifecyclePolicy,
) -> LifecycleMemory:
    """``memory`` after the ends and starts of episodes among ``events``."""
    for at, event, ids, _ in events:
        if event is _E.relationship_terminated:
            memory = memory._replace(lost_by=_BY_TERMINATION, trailing=())
        elif event is _E.relationship_lapsed:
            memory = memory._replace(lost_by=_BY_LAPSE, trailing=())
        elif event is _E.client_reactivated:
            memory = memory._replace(
                lost_by="", trailing=(), days=(), last_sales=(), silent_since=at
            )
            if sale:  # won back by sales: the last one opens the new episode
                memory = _sale_seen(memory, at, ids[-1], policy)
    return memory


#: The lifecycle as a machine that reads records: :data:`TABLE`, :data:`TRIGGERS`
#: and the decider (complaints' service levels, rejected complaints' memory and
#: the trouble-free period are its timers). :func:`assess` runs it; save a
#: client's ``MachineRun.state`` and :meth:`~relcycle.machine.Machine.resume` it
#: with later records. The decider knows the client by its id: run it with
#: ``policy.for_client(client)`` so the client's own service levels count.
MACHINE: Machine[Stage, LifecycleEvent, LifecycleMemory, LifecyclePolicy] = Machine(
    table=TABLE,
    triggers=TRIGGERS,
    decide=_decide,
    initial_memory=_NEW_MEMORY,
    memory_from_dict=LifecycleMemory.from_dict,
    timer_kinds=frozenset({_K_SLA, _K_QUIET, _K_FORGET, _K_LAPSE}),
)


@attrs.frozen
class _Interpretation:
    events: tuple[tuple[datetime, LifecycleEvent, tuple[str, ...], str], ...]
    anomalies: tuple[Evidence, ...]
    reasons: Mapping[str, LossReason | None]
    trajectory: Trajectory[Stage, LifecycleEvent]
    open: tuple[str, ...]
    policy: LifecyclePolicy


#: The most record ids one client's lifecycle events may cite in total. An event
#: cites every record behind it (a complaint opened while 3,000 others are open
#: cites 3,001), so the evidence of a history grows with the square of the
#: complaints open at once; past this budget (about 100 MB of evidence) the
#: assessment raises :class:`~relcycle.errors.BudgetError` naming the client
#: instead of exhausting memory.
EVIDENCE_BUDGET = 5_000_000


def _interpret(history: ClientHistory, as_of: datetime, policy: LifecyclePolicy) -> _Interpretation:
    """Run :data:`MACHINE` over the client's records up to ``as_of``.

    The client's own service levels count (:meth:`LifecyclePolicy.for_client`)
    once it has a complaint by ``as_of``: only a complaint reads them. The
    reasons map each termination's interaction id to its reason, and each lapse
    to its reason under :func:`_lapse_key` (``lapsed``, or ``manager_left`` when
    the episode's only manager is gone).
    """
    complaints = history.complaints
    if complaints and complaints[0].opened_at <= as_of:
        policy = policy.for_client(history.client)
    run = MACHINE.run(history, as_of=as_of, policy=policy, evidence_budget=EVIDENCE_BUDGET)
    memory = run.state.memory
    reasons: dict[str, LossReason | None] = dict(memory.reasons)
    start: datetime | None = None
    for step in run.trajectory.steps:
        if step.event is _E.client_reactivated:
            start = step.at
        elif step.event is _E.relationship_lapsed:
            reasons[_lapse_key(step.at)] = _lapse_reason(history, start, step.at, policy)[0]
    return _Interpretation(run.events, run.anomalies, reasons, run.trajectory, memory.open, policy)


def _lapse_key(at: datetime) -> str:
    """The key of a lapse's reason (no record id: a lapse is a moment, not a record)."""
    return f"lapse at {at.isoformat()}"


def _lapse_reason(
    history: ClientHistory, start: datetime | None, at: datetime, policy: LifecyclePolicy
) -> tuple[LossReason, str, tuple[str, ...]]:
    """Why a client lapsed at ``at`` (episode from ``start``): reason, account, record ids.

    ``manager_left`` when every contact of the episode with a known handler, at
    least ``policy.manager_left_min_contacts`` of them, was handled by one
    employee and the client's account manager is now someone else (seed 004:
    the client leaves with the manager who held it alone); ``lapsed`` otherwise.
    """
    handled = [
        i
        for i in history.interactions
        if HANDLED_CONTACT(i) and i.at <= at and (start is None or i.at >= start)
    ]
    handlers = {i.handled_by for i in handled}
    manager = history.client.account_manager
    enough = len(handled) >= policy.manager_left_min_contacts
    if enough and len(handlers) == 1 and manager is not None and manager not in handlers:
        (only,) = handlers
        ids = tuple(i.interaction_id for i in handled)
        return (
            LossReason.manager_left,
            f"its only manager {only} (contacts {_ids(ids)}) is no longer its account "
            f"manager (now {manager})",
            ids,
        )
    return LossReason.lapsed, "", ()


@in_own_context
def derive_events(
    history: ClientHistory,
    *,
    as_of: datetime,
    policy: LifecyclePolicy | None = None,
    tz: tzinfo | str = UTC,
) -> tuple[LifecycleEventRecord, ...]:
    """The lifecycle events of a client as of a moment (the interpretation layer).

    Complaints give ``complaint_opened`` and, at their closing moment,
    ``complaint_resolved`` or ``complaint_rejected``; ``problem_recurred`` when
    ``policy.recurrence_count`` problems of one category (late or cancelled
    orders count as ``policy.failures_recur_as``) fall within
    ``policy.recurrence_window``; ``loss_suffered`` when the client lost money;
    ``complaint_opened_while_unresolved`` when others were still open;
    ``escalation_received`` when it was raised to the client's management; and
    ``service_level_breached`` at ``opened_at`` + the client's service level for
    its severity, if still open then. Late or cancelled orders give
    ``service_failed``; interactions with a lifecycle purpose give their event;
    ``trouble_free_period_elapsed`` comes at the moment a trouble-free period
    ends; ``relationship_lapsed`` when an active client has not bought for
    longer than the policy's lapse rules allow; a lost client's sales give
    ``client_reactivated`` as ``policy.reactivate_on_sale`` says. Only what is
    known by ``as_of`` counts (records at ``as_of`` do).

    Records whose event the client's stage does not allow at that moment are left
    out (:func:`assess` lists them as anomalies; with ``policy.strict`` they raise),
    so the result always replays through :data:`TABLE`.

    Args:
        history: The client's history.
        as_of: The moment (timezone-aware).
        policy: The thresholds; :class:`LifecyclePolicy` defaults if None.
        tz: The time zone whose calendar days the lapse rule's purchase days
            are counted in (UTC by default; the report passes its own).

    Returns:
        The events, oldest first.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
        IllegalTransitionError: With ``policy.strict``, at the first record whose
            event the stage does not allow.
    """
    the_policy = (policy if policy is not None else _DEFAULT_POLICY).in_zone(tz)
    events = _interpret(history, check_as_of(as_of), the_policy).events
    return tuple([_new(LifecycleEventRecord, e) for e in events])


@in_own_context
def replay(
    history: ClientHistory,
    *,
    as_of: datetime,
    policy: LifecyclePolicy | None = None,
    tz: tzinfo | str = UTC,
) -> Trajectory[Stage, LifecycleEvent]:
    """Fold a client's events through :data:`TABLE`: its trajectory as of ``as_of``.

    Args:
        history: The client's history.
        as_of: The moment (timezone-aware).
        policy: The thresholds; :class:`LifecyclePolicy` defaults if None.
        tz: The time zone whose calendar days the lapse rule's purchase days
            are counted in (UTC by default; the report passes its own).

    Returns:
        Every step with its moment, stages, event and record ids.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    the_policy = (policy if policy is not None else _DEFAULT_POLICY).in_zone(tz)
    return _interpret(history, check_as_of(as_of), the_policy).trajectory


_DEFAULT_POLICY = LifecyclePolicy()


# --------------------------------------------------------------------------- assessment


@attrs.frozen(kw_only=True)
class LifecycleAssessment:
    """Where a client stands in the lifecycle as of a moment, and why.

    Attributes:
        client_id: The client's id.
        as_of: The moment of the assessment.
        stage: The client's stage.
        since: When it entered the stage (None if it never left ``satisfied``).
        trajectory: Every lifecycle step up to ``as_of``, across all episodes.
        loss_reason: For a ``lost`` client, the termination's reason (``other``
            when the termination gives none; see ``evidence``); else None.
        evidence: Why the client is in its stage: the step that put it there and
            the ids of the records behind it.
        recurring_problems: The stage-1 signature found in the window that ends
            at ``as_of`` (problems of one category recurring, complaints with a
            client loss), or None: the early-warning risk flag.
        anomalies: Records left out of the replay because the stage did not
            allow their event (a ``reactivation`` of a client that was not lost,
            say), each with its reason.
        episode: The episode number, from 1; a reactivation after ``lost``
            starts the next one.
        overdue: The complaints open at ``as_of`` past the client's service
            level (:meth:`LifecyclePolicy.service_level`: their breach timer
            fell due and they are still open), or None: the ``overdue_complaint``
            risk.
        activity_after_loss: For a ``lost`` client, its sales, client-initiated
            contacts and complaints after the loss that did not win it back
            (trailing orders after a termination, say), or None: the
            ``activity_after_loss`` risk flag.
    """

    client_id: str
    as_of: datetime
    stage: Stage
    since: datetime | None
    trajectory: Trajectory[Stage, LifecycleEvent]
    loss_reason: LossReason | None
    evidence: Evidence
    recurring_problems: Evidence | None
    anomalies: tuple[Evidence, ...] = ()
    episode: int = 1
    overdue: Evidence | None = None
    activity_after_loss: Evidence | None = None

    @property
    def episode_start(self) -> datetime | None:
        """When the current episode began (the win-back), or None in the first one."""
        return _episode_start(self.trajectory)

    def next_events(self) -> tuple[LifecycleEvent, ...]:
        """The events that would move the client out of its stage, in the event enum's order.

        Events the stage allows but that keep it where it is (a new complaint in
        ``escalated``, say) are left out; :meth:`TransitionTable.allowed
        <relcycle.machine.TransitionTable.allowed>` lists them all.
        """
        row = _NEXT[self.stage]
        return tuple(e for e in TABLE.allowed(self.stage) if row[e] is not self.stage)

    def stage_at(self, moment: datetime) -> Stage:
        """The stage at an earlier ``moment`` (steps at exactly ``moment`` count)."""
        return self.trajectory.state_at(moment)

    def time_in_stages(self) -> dict[Stage, timedelta]:
        """How long the client spent in each stage it visited, up to ``as_of``."""
        return self.trajectory.time_in_states(self.as_of)

    def explain(self) -> str:
        """A readable account: the stage, since when, and the path that led there.

        Every decisive fact of the path is kept: a fact that would have moved
        a client in a milder stage (a recurrence, a client loss, an escalation)
        but came while the client was already in a worse one is listed under
        that stage (``while escalated, ...``).
        """
        head = f"client {self.client_id} as of {_fmt(self.as_of)}: {self.stage.value}"
        if self.since is not None:
            head += f" since {_fmt(self.since)}"
        if self.stage is Stage.lost and self.loss_reason is not None:
            head += f" (reason: {self.loss_reason.value})"
        lines = [head]
        transitions = self.trajectory.transitions
        absorbed = _absorbed(self.trajectory)
        if not transitions:
            lines.append(f"- {self.evidence.reason}")
        first = True
        for n in range(len(transitions), 0, -1):
            step = transitions[n - 1]
            lead = "- " if first else "- before that, "
            first = False
            lines.append(f"{lead}{step.target.value} since {_fmt(step.at)}: {step.detail}")
            lines.extend(_while(step.target, absorbed[n]))
            if step.event is _E.client_reactivated:
                lines.append("  (a new episode starts here; the earlier one follows)")
        if transitions:
            lines.append(f"- before that, {self.trajectory.initial.value}")
        lines.extend(_while(self.trajectory.initial, absorbed[0]))
        if self.recurring_problems is not None:
            lines.append(f"risk: {self.recurring_problems.reason}")
        if self.overdue is not None:
            lines.append(f"overdue: {self.overdue.reason}")
        if self.activity_after_loss is not None:
            lines.append(f"risk: {self.activity_after_loss.reason}")
        lines.extend(f"anomaly: {a.reason}" for a in self.anomalies)
        moves = ", ".join(f"{e.value} -> {_NEXT[self.stage][e].value}" for e in self.next_events())
        lines.append(f"next: {moves or 'nothing'}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: stage, since, reason, evidence, risk, anomalies and transitions."""
        return {
            "client_id": self.client_id,
            "as_of": self.as_of.isoformat(),
            "stage": self.stage.value,
            "since": None if self.since is None else self.since.isoformat(),
            "loss_reason": None if self.loss_reason is None else self.loss_reason.value,
            "episode": self.episode,
            "evidence": self.evidence.to_dict(),
            "recurring_problems": (
                None if self.recurring_problems is None else self.recurring_problems.to_dict()
            ),
            "overdue": None if self.overdue is None else self.overdue.to_dict(),
            "anomalies": [a.to_dict() for a in self.anomalies],
            "activity_after_loss": (
                None if self.activity_after_loss is None else self.activity_after_loss.to_dict()
            ),
            "transitions": [
                {
                    "at": s.at.isoformat(),
                    "from": s.source.value,
                    "to": s.target.value,
                    "event": s.event.value,
                    "record_ids": list(s.record_ids),
                    "detail": s.detail,
                }
                for s in self.trajectory.transitions
            ],
        }


#: Events that move a client out of some stage, trouble-free periods aside: a
#: step of one that kept the stage is a decisive fact absorbed by a worse stage.
_DECISIVE = frozenset(
    e
    for e in LifecycleEvent
    if e is not _E.trouble_free_period_elapsed and any(_NEXT[s].get(e, s) is not s for s in Stage)
)

#: How many absorbed facts of one kind :meth:`LifecycleAssessment.explain` lists
#: per stage it was absorbed in (the rest are counted).
_ABSORBED_SHOWN = 5


def _absorbed(
    trajectory: Trajectory[Stage, LifecycleEvent],
) -> list[list[Step[Stage, LifecycleEvent]]]:
    """The decisive steps that kept the stage, per stretch: ``[0]`` before the
    first transition, ``[n]`` after the n-th."""
    stretches: list[list[Step[Stage, LifecycleEvent]]] = [[]]
    for step in trajectory.steps:
        if step.source is not step.target:
            stretches.append([])
        elif step.event in _DECISIVE:
            stretches[-1].append(step)
    return stretches


def _while(stage: Stage, steps: list[Step[Stage, LifecycleEvent]]) -> list[str]:
    """The lines of the decisive facts absorbed while in ``stage``."""
    lines: list[str] = []
    shown: dict[LifecycleEvent, int] = {}
    for step in steps:
        n = shown.get(step.event, 0)
        shown[step.event] = n + 1
        if n < _ABSORBED_SHOWN:
            lines.append(f"  while {stage.value}, {_fmt(step.at)}: {step.detail}")
    for event, n in shown.items():
        if n > _ABSORBED_SHOWN:
            lines.append(f"  while {stage.value}: {n - _ABSORBED_SHOWN} more {event.value}")
    return lines


def _signature(history: ClientHistory, as_of: datetime, policy: LifecyclePolicy) -> Evidence | None:
    """The stage-1 signature in the window ``[as_of - window, as_of]``."""
    start = as_of - policy.recurrence_window
    by_category: dict[ComplaintCategory, list[str]] = {}
    losses: list[Complaint] = []
    for c in history.complaints:
        if c.opened_at > as_of:
            break
        if c.opened_at < start:
            continue
        by_category.setdefault(c.category, []).append(c.complaint_id)
        if c.client_loss is not None and c.client_loss > 0:
            losses.append(c)
    if policy.failures_recur_as is not None:
        failed = policy.failed_order.test
        for o in history.orders:
            if o.placed_at > as_of:
                break
            if o.placed_at < start:
                continue
            if failed(o):
                by_category.setdefault(policy.failures_recur_as, []).append(o.order_id)
    parts: list[str] = []
    ids: list[str] = []
    window = _days(policy.recurrence_window)
    for category in _CATEGORIES:
        found = by_category.get(category, [])
        if len(found) >= policy.recurrence_count:
            parts.append(f"{len(found)} {category.value} problems within {window} ({_ids(found)})")
            ids.extend(found)
    if losses:
        shown = ", ".join(f"{c.complaint_id} ({c.loss})" for c in losses)
        parts.append(f"client loss in complaint(s) within {window}: {shown}")
        ids.extend(c.complaint_id for c in losses)
    if not parts:
        return None
    return Evidence("recurring problems: " + "; ".join(parts), ids)


def _overdue(
    history: ClientHistory, as_of: datetime, interpretation: _Interpretation
) -> Evidence | None:
    """The complaints open at ``as_of`` whose service-level timer fell due."""
    still_open = interpretation.open
    if not still_open:
        return None
    breached = {
        e[2][0] for e in interpretation.events if e[1] is _E.service_level_breached and e[2]
    }
    overdue = [rid for rid in still_open if rid in breached]
    if not overdue:
        return None
    by_id = {c.complaint_id: c for c in history.complaints}
    policy = interpretation.policy
    parts = []
    for rid in overdue:
        c = by_id[rid]
        level = policy.service_level(history.client_id, c.severity)
        parts.append(
            f"{rid} ({c.severity.value}) open {_tenths(as_of - c.opened_at)} days, "
            f"SLA {_tenths(level)}"
        )
    return Evidence("open past the service level: " + "; ".join(parts), overdue)


def _tenths(span: timedelta) -> str:
    """A span in days to one decimal (``4.0``)."""
    days = Decimal(span.days) + Decimal(span.seconds) / Decimal(86400)
    return str(days.quantize(Decimal("0.1")))


@in_own_context
def assess(
    history: ClientHistory,
    *,
    as_of: datetime,
    policy: LifecyclePolicy | None = None,
    tz: tzinfo | str = UTC,
) -> LifecycleAssessment:
    """The lifecycle stage of a client as of a moment, with its evidence.

    Args:
        history: The client's history (records after ``as_of`` are ignored).
        as_of: The moment (timezone-aware).
        policy: The thresholds; :class:`LifecyclePolicy` defaults if None.
        tz: The time zone whose calendar days the lapse rule's purchase days
            are counted in (UTC by default; the report passes its own).

    Returns:
        The assessment: stage, since, trajectory, loss reason, evidence, the
        stage-1 risk signature, anomalies, episode and activity after a loss.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
        IllegalTransitionError: With ``policy.strict``, at the first record whose
            event the stage does not allow.
    """
    the_policy = (policy if policy is not None else _DEFAULT_POLICY).in_zone(tz)
    moment = check_as_of(as_of)
    interpretation = _interpret(history, moment, the_policy)
    trajectory = interpretation.trajectory
    stage = trajectory.state
    entering = trajectory.entering_step()
    loss_reason: LossReason | None = None
    if entering is None:
        evidence = Evidence(
            f"satisfied: no recurring problem, loss, escalation or termination as of {_fmt(moment)}"
        )
        since = None
    else:
        since = entering.at
        reason = f"{stage.value} since {_fmt(entering.at)}: {entering.detail}"
        ids = entering.record_ids
        if stage is Stage.lost and entering.event is _E.relationship_lapsed:
            start = _episode_start(trajectory)
            loss_reason, why, handled = _lapse_reason(history, start, entering.at, the_policy)
            reason += f" (reason: {loss_reason.value}{'; ' + why if why else ''})"
            ids = (*ids, *handled)
        elif stage is Stage.lost:
            recorded = interpretation.reasons.get(entering.record_ids[0])
            loss_reason = recorded if recorded is not None else LossReason.other
            if recorded is None:
                reason += " (no reason recorded: counted as other)"
        evidence = Evidence(reason, ids)
    episode = 1 + sum(1 for s in trajectory.steps if s.event is _E.client_reactivated)
    return LifecycleAssessment(
        overdue=_overdue(history, moment, interpretation),
        client_id=history.client_id,
        as_of=moment,
        stage=stage,
        since=since,
        trajectory=trajectory,
        loss_reason=loss_reason,
        evidence=evidence,
        recurring_problems=_signature(history, moment, the_policy),
        anomalies=interpretation.anomalies,
        episode=episode,
        activity_after_loss=(
            _activity_after_loss(history, since, moment, the_policy)
            if stage is Stage.lost and since is not None
            else None
        ),
    )


def _episode_start(trajectory: Trajectory[Stage, LifecycleEvent]) -> datetime | None:
    """When the current episode began (its reactivation), None for the first one."""
    for step in reversed(trajectory.steps):
        if step.event is _E.client_reactivated:
            return step.at
    return None


def _activity_after_loss(
    history: ClientHistory, lost_at: datetime, as_of: datetime, policy: LifecyclePolicy
) -> Evidence | None:
    """The sales, client-initiated contacts and complaints of a lost client after its loss."""
    sales = [o.order_id for o in history.orders if lost_at < o.placed_at <= as_of and SALE.test(o)]
    inbound = INBOUND.test
    contacts = [
        i.interaction_id for i in history.interactions if lost_at < i.at <= as_of and inbound(i)
    ]
    complaints = [c.complaint_id for c in history.complaints if lost_at < c.opened_at <= as_of]
    if not (sales or contacts or complaints):
        return None
    parts = [
        f"{len(found)} {noun}{'s' if len(found) > 1 else ''} ({_ids(found)})"
        for noun, found in (("sale", sales), ("contact", contacts), ("complaint", complaints))
        if found
    ]
    if not policy.reactivate_on_sale:
        rule = "only a recorded reactivation wins a client back"
    else:
        rule = (
            f"a recorded reactivation wins a client back, or {policy.reactivation_sales} "
            f"sale{'s' if policy.reactivation_sales > 1 else ''} within "
            f"{_days(policy.reactivation_window)} after a termination, or one sale after a lapse"
        )
    return Evidence(
        f"activity after the loss on {_fmt(lost_at)}: {', '.join(parts)}; still lost ({rule})",
        (*sales, *contacts, *complaints),
    )


# --------------------------------------------------------------------------- loss analysis


@attrs.frozen
class PathLeg:
    """One stage on the path to a loss.

    Attributes:
        stage: The stage.
        entered: When the client entered it (for the episode's first stage: the
            episode's first event, or the reactivation).
        duration: How long the client stayed in it.
    """

    stage: Stage
    entered: datetime
    duration: timedelta


@attrs.frozen(kw_only=True)
class Loss:
    """One lost client (one episode that ended in ``lost``).

    Attributes:
        client_id: The client's id.
        episode: The episode that ended in the loss, from 1.
        lost_at: When the relationship was terminated.
        reason: The termination's reason (``other`` when none was recorded), or
            for a lapse ``lapsed`` (``manager_left`` when the episode's only
            manager is gone).
        reason_recorded: False when the termination gave no reason.
        path: The stages of the episode up to the loss, with their durations.
        trouble_to_loss: From the first step out of ``satisfied`` in the episode
            to the loss (None if the client left straight from ``satisfied``).
        won_back_at: When the client was reactivated afterwards, or None.
        evidence: The termination and the path's record ids.
    """

    client_id: str
    episode: int
    lost_at: datetime
    reason: LossReason
    reason_recorded: bool
    path: tuple[PathLeg, ...]
    trouble_to_loss: timedelta | None
    won_back_at: datetime | None
    evidence: Evidence

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the loss."""
        return {
            "client_id": self.client_id,
            "episode": self.episode,
            "lost_at": self.lost_at.isoformat(),
            "reason": self.reason.value,
            "reason_recorded": self.reason_recorded,
            "path": [
                {
                    "stage": leg.stage.value,
                    "entered": leg.entered.isoformat(),
                    "days": leg.duration / timedelta(days=1),
                }
                for leg in self.path
            ],
            "trouble_to_loss_days": (
                None if self.trouble_to_loss is None else self.trouble_to_loss / timedelta(days=1)
            ),
            "won_back_at": None if self.won_back_at is None else self.won_back_at.isoformat(),
            "evidence": self.evidence.to_dict(),
        }


@attrs.frozen(kw_only=True)
class LossAnalysis:
    """Why the clients of a portfolio were lost.

    Attributes:
        as_of: The moment of the analysis.
        clients: How many clients were analysed.
        losses: Every loss up to ``as_of`` (including clients won back later),
            by moment, then client id.
    """

    as_of: datetime
    clients: int
    losses: tuple[Loss, ...]

    @property
    def lost_clients(self) -> tuple[str, ...]:
        """The ids of the clients that are lost as of ``as_of``, sorted."""
        return tuple(sorted({x.client_id for x in self.losses if x.won_back_at is None}))

    def counts(self, *, current_only: bool = False) -> dict[LossReason, int]:
        """Losses per reason, every reason listed (in the vocabulary's order).

        Args:
            current_only: Count only losses not won back by ``as_of``.
        """
        counts = dict.fromkeys(LossReason, 0)
        for loss in self.losses:
            if not current_only or loss.won_back_at is None:
                counts[loss.reason] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the losses, counts per reason, and the lost clients."""
        return {
            "as_of": self.as_of.isoformat(),
            "clients": self.clients,
            "lost_clients": list(self.lost_clients),
            "counts": {k.value: v for k, v in self.counts().items()},
            "losses": [x.to_dict() for x in self.losses],
        }


def _losses(
    client_id: str, trajectory: Trajectory[Stage, LifecycleEvent], reasons: Mapping[str, Any]
) -> list[Loss]:
    out: list[Loss] = []
    episode = 1
    start: datetime | None = trajectory.steps[0].at if trajectory.steps else None
    legs: list[tuple[Stage, datetime]] = []
    ids: list[str] = []
    pending: Loss | None = None
    for step in trajectory.steps:
        if step.source == step.target:
            continue
        assert start is not None
        if step.event is _E.client_reactivated:
            if pending is not None:
                out.append(attrs.evolve(pending, won_back_at=step.at))
                pending = None
            episode += 1
            start = step.at
            legs = []
            ids = []
            continue
        if not legs:
            legs.append((step.source, start))
        legs.append((step.target, step.at))
        ids.extend(step.record_ids)
        if step.target is Stage.lost:
            path = tuple(
                PathLeg(stage, entered, legs[k + 1][1] - entered)
                for k, (stage, entered) in enumerate(legs[:-1])
            )
            left = next((leg.entered for leg in path if leg.stage is not Stage.satisfied), None)
            lapsed = step.event is _E.relationship_lapsed
            recorded = reasons.get(_lapse_key(step.at) if lapsed else step.record_ids[0])
            pending = Loss(
                client_id=client_id,
                episode=episode,
                lost_at=step.at,
                reason=recorded if recorded is not None else LossReason.other,
                reason_recorded=recorded is not None,
                path=path,
                trouble_to_loss=None if left is None else step.at - left,
                won_back_at=None,
                evidence=Evidence(
                    f"lost on {_fmt(step.at)}: {step.detail}; path "
                    + " -> ".join(leg.stage.value for leg in path)
                    + " -> lost",
                    (*step.record_ids, *ids),
                ),
            )
    if pending is not None:
        out.append(pending)
    return out


@checked
def loss_analysis(
    portfolio: Portfolio | Iterable[ClientHistory],
    *,
    as_of: datetime,
    policy: LifecyclePolicy | None = None,
    tz: tzinfo | str = UTC,
) -> LossAnalysis:
    """Every loss in a portfolio up to ``as_of``: reason, path and durations.

    The source text insists the supplier analyse why each client was lost
    (including to a competitor, and with a departing manager): this lists each
    loss with the stages that led to it and how long each lasted, and counts
    losses per reason.

    Args:
        portfolio: The clients' histories.
        as_of: The moment (timezone-aware).
        policy: The thresholds; :class:`LifecyclePolicy` defaults if None.
        tz: The time zone whose calendar days the lapse rule's purchase days
            are counted in (UTC by default).

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    the_policy = (policy if policy is not None else _DEFAULT_POLICY).in_zone(tz)
    moment = check_as_of(as_of)
    losses: list[Loss] = []
    clients = 0
    for history in portfolio:
        clients += 1
        interpretation = _interpret(history, moment, the_policy)
        trajectory = interpretation.trajectory
        losses.extend(_losses(history.client_id, trajectory, interpretation.reasons))
    losses.sort(key=lambda x: (x.lost_at, x.client_id, x.episode))
    return LossAnalysis(as_of=moment, clients=clients, losses=tuple(losses))
