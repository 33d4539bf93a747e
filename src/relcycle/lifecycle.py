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
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import attrs

from relcycle._args import checked

from ._vocab import OrderedVocab, Vocab
from .errors import RecordTypeError, UsageError, ValidationError
from .evidence import Evidence
from .history import ClientHistory, Portfolio, check_as_of
from .machine import (
    Decision,
    Emitter,
    Machine,
    MachineState,
    Occurrence,
    Timer,
    Trajectory,
    TransitionTable,
    Trigger,
    format_moment,
)
from .model import (
    Complaint,
    ComplaintCategory,
    Escalation,
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
    LATE_ORDER,
    REJECTED_COMPLAINT,
    SALE,
    Rule,
    f,
)

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
    them). Order facts: ``service_failed`` (a late or cancelled order). The
    client's moves: ``escalation_received``, ``ultimatum_received``,
    ``arbitration_opened``, ``arbitration_closed``, ``relationship_terminated``,
    ``client_reactivated``. Time: ``trouble_free_period_elapsed``.
    """

    complaint_opened = "complaint_opened"
    complaint_resolved = "complaint_resolved"
    complaint_rejected = "complaint_rejected"
    service_failed = "service_failed"
    problem_recurred = "problem_recurred"
    loss_suffered = "loss_suffered"
    complaint_opened_while_unresolved = "complaint_opened_while_unresolved"
    service_level_breached = "service_level_breached"
    escalation_received = "escalation_received"
    ultimatum_received = "ultimatum_received"
    arbitration_opened = "arbitration_opened"
    arbitration_closed = "arbitration_closed"
    trouble_free_period_elapsed = "trouble_free_period_elapsed"
    relationship_terminated = "relationship_terminated"
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


def _levels(field: str, value: Mapping[Any, Any]) -> FrozenMap[Severity, timedelta]:
    if not isinstance(value, Mapping):
        raise RecordTypeError(
            record="LifecyclePolicy",
            field=field,
            value=value,
            expected="a mapping of severity to timedelta",
        )
    levels = dict(DEFAULT_SERVICE_LEVELS)
    for key, span in value.items():
        try:
            severity = Severity.parse(key)
        except ValueError as exc:
            raise _policy_error(field, key, str(exc)) from None
        _check_span(f"{field}[{severity.value}]", span)
        levels[severity] = span
    return FrozenMap(levels)


def _to_levels(value: Mapping[Any, Any]) -> FrozenMap[Severity, timedelta]:
    return _levels("service_levels", value)


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
        {cid: _levels(f"client_service_levels[{cid}]", lv) for cid, lv in value.items()}
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
            their defaults.
        client_service_levels: Per-client overrides of ``service_levels``, by
            client id (the client, not the supplier, sets the level it expects).
        late_orders_fail: Orders delivered late (``on_time`` false) are service
            failures (default True).
        cancelled_orders_fail: Cancelled orders are service failures (default True).
        failures_recur_as: The complaint category service failures count as when
            looking for recurring problems (default ``delivery``); None keeps them
            out of the count.
        management_complaints_escalate: A complaint the client raised to its
            management (``escalated_to`` = ``management``) counts as an escalation
            at the moment it was opened (default True; the record carries no
            escalation time).
        reactivate_on_sale: A lost client that places an order (``placed`` or
            ``delivered``) has come back, even with no ``reactivation`` recorded
            (default True).
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
    late_orders_fail: bool = True
    cancelled_orders_fail: bool = True
    failures_recur_as: ComplaintCategory | None = ComplaintCategory.delivery
    management_complaints_escalate: bool = True
    reactivate_on_sale: bool = True
    strict: bool = False

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

    def service_level(self, client_id: str, severity: Severity) -> timedelta:
        """How long a complaint of ``severity`` by ``client_id`` may stay open."""
        levels = self.client_service_levels.get(client_id, self.service_levels)
        return levels[severity]


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
_P_INTERACTION = {
    Purpose.reactivation: _P_REACTIVATION,
    Purpose.escalation: 5,
    Purpose.ultimatum: 6,
    Purpose.arbitration: 7,
    Purpose.arbitration_closed: 8,
    Purpose.termination: 9,
}
_P_QUIET = 100
#: The interaction purposes the lifecycle reacts to, and the event each one gives
#: (its interaction triggers: an escalation, an ultimatum, arbitration opened or
#: closed, a termination, a reactivation).
PURPOSE_EVENTS: Mapping[Purpose, LifecycleEvent] = FrozenMap(
    {
        Purpose.reactivation: _E.client_reactivated,
        Purpose.escalation: _E.escalation_received,
        Purpose.ultimatum: _E.ultimatum_received,
        Purpose.arbitration: _E.arbitration_opened,
        Purpose.arbitration_closed: _E.arbitration_closed,
        Purpose.termination: _E.relationship_terminated,
    }
)

# Occurrence kinds: the triggers' and the timers'.
_K_OPEN = "complaint_opened"
_K_CLOSE = "complaint_closed"
_K_SALE = "sale_while_lost"
_K_FAILED = "failed_order"
_K_SLA = "service_level_due"
_K_QUIET = "trouble_free_period_due"

#: The lifecycle's trigger table: which records give which occurrence, when, and
#: in which order at one moment.
TRIGGERS: tuple[Trigger, ...] = (
    Trigger(COMPLAINT, _K_OPEN, _P_OPEN),
    Trigger(COMPLAINT, _K_CLOSE, _P_CLOSE, at="resolved_at"),
    Trigger(SALE, _K_SALE, _P_ORDER, states={Stage.lost}),
    Trigger(FAILED_ORDER, _K_FAILED, _P_ORDER),
    *(
        Trigger(
            Rule.define(
                f"{purpose.value}_interaction",
                "interactions",
                f("purpose") == purpose,
                doc=f"an interaction of purpose {purpose.value}",
            ),
            purpose.value,
            _P_INTERACTION[purpose],
        )
        for purpose in PURPOSE_EVENTS
    ),
)

_Problem = tuple[datetime, str, str]  # (moment, record id, what: "complaint", "late order"...)


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
    """

    open: tuple[str, ...] = ()
    recent: tuple[tuple[_Problem, ...], ...] = tuple(() for _ in ComplaintCategory)
    anchor: datetime | None = None
    anchor_ids: tuple[str, ...] = ()
    reasons: tuple[tuple[str, LossReason | None], ...] = ()

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
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"not a saved lifecycle memory: {data!r} ({exc})") from None


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


def _decide(
    state: MachineState[Stage, LifecycleMemory], occ: Occurrence, policy: LifecyclePolicy
) -> Decision[LifecycleMemory]:
    """The lifecycle's decider: one occurrence, knowing the stage, gives events."""
    client_id, stage, memory, timers, _ = state
    at, _prio, rid, _sub, kind, rec = occ
    # The common occurrences that change nothing, answered before any set-up:
    # a sale when the policy does not reactivate on one, a service level met in
    # time, an order the policy does not count as failed.
    if kind == _K_FAILED:
        if policy.cancelled_orders_fail and CANCELLED_ORDER(rec):
            what = "cancelled order"
        elif policy.late_orders_fail and rec.on_time is False:
            what = "late order"
        else:
            return _new(Decision, ((), memory, timers, ()))
    elif (kind == _K_SALE and not policy.reactivate_on_sale) or (
        kind == _K_SLA and rid not in memory[0]
    ):
        return _new(Decision, ((), memory, timers, ()))
    emit: Emitter[Stage, LifecycleEvent] = Emitter(
        TABLE, stage, client_id=client_id, strict=policy.strict, noun="stage"
    )
    open_, recent, anchor, anchor_ids, reasons = memory
    if kind == _K_OPEN:
        c: Complaint = rec
        earlier = open_
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
                f"complaint {rid} opened while {_ids(earlier)} unresolved",
            )
        if policy.management_complaints_escalate and c.escalated_to is Escalation.management:
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
            emit(at, _E.complaint_rejected, (rid,), f"complaint {rid} rejected ({took})")
        else:
            emit(at, _E.complaint_resolved, (rid,), f"complaint {rid} resolved ({took})")
    elif kind == _K_SLA:
        emit(at, _E.service_level_breached, (rid,), rec.data)
    elif kind == _K_QUIET:
        emit(
            at,
            _E.trouble_free_period_elapsed,
            anchor_ids,
            f"no open complaint and no new problem for {_days(policy.trouble_free_period)} "
            f"since {_fmt(at if anchor is None else anchor)}",
        )
    elif kind == _K_SALE:  # the trigger's guard: the client is lost
        emit(at, _E.client_reactivated, (rid,), f"order {rid} placed by a lost client")
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
    # The trouble-free timer: due a period after the latest event, while the stage
    # can step down and no complaint is open.
    quiet = (
        anchor + policy.trouble_free_period
        if emit.state in _RECOVERABLE and not open_ and anchor is not None
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
    memory = _new(LifecycleMemory, (open_, recent, anchor, anchor_ids, reasons))
    return emit.decision(memory, timers)


#: The lifecycle as a machine that reads records: :data:`TABLE`, :data:`TRIGGERS`
#: and the decider (complaints' service levels and the trouble-free period are
#: its timers). :func:`assess` runs it; save a client's ``MachineRun.state`` and
#: :meth:`~relcycle.machine.Machine.resume` it with later records.
MACHINE: Machine[Stage, LifecycleEvent, LifecycleMemory, LifecyclePolicy] = Machine(
    table=TABLE,
    triggers=TRIGGERS,
    decide=_decide,
    initial_memory=_NEW_MEMORY,
    memory_from_dict=LifecycleMemory.from_dict,
    timer_kinds=frozenset({_K_SLA, _K_QUIET}),
)


@attrs.frozen
class _Interpretation:
    events: tuple[tuple[datetime, LifecycleEvent, tuple[str, ...], str], ...]
    anomalies: tuple[Evidence, ...]
    reasons: Mapping[str, LossReason | None]
    trajectory: Trajectory[Stage, LifecycleEvent]


#: The most record ids one client's lifecycle events may cite in total. An event
#: cites every record behind it (a complaint opened while 3,000 others are open
#: cites 3,001), so the evidence of a history grows with the square of the
#: complaints open at once; past this budget (about 100 MB of evidence) the
#: assessment raises :class:`~relcycle.errors.BudgetError` naming the client
#: instead of exhausting memory.
EVIDENCE_BUDGET = 5_000_000


def _interpret(history: ClientHistory, as_of: datetime, policy: LifecyclePolicy) -> _Interpretation:
    """Run :data:`MACHINE` over the client's records up to ``as_of``."""
    run = MACHINE.run(history, as_of=as_of, policy=policy, evidence_budget=EVIDENCE_BUDGET)
    return _Interpretation(
        run.events, run.anomalies, dict(run.state.memory.reasons), run.trajectory
    )


def derive_events(
    history: ClientHistory, *, as_of: datetime, policy: LifecyclePolicy | None = None
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
    ends. Only what is known by ``as_of`` counts (records at ``as_of`` do).

    Records whose event the client's stage does not allow at that moment are left
    out (:func:`assess` lists them as anomalies; with ``policy.strict`` they raise),
    so the result always replays through :data:`TABLE`.

    Args:
        history: The client's history.
        as_of: The moment (timezone-aware).
        policy: The thresholds; :class:`LifecyclePolicy` defaults if None.

    Returns:
        The events, oldest first.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
        IllegalTransitionError: With ``policy.strict``, at the first record whose
            event the stage does not allow.
    """
    the_policy = policy if policy is not None else _DEFAULT_POLICY
    events = _interpret(history, check_as_of(as_of), the_policy).events
    return tuple([_new(LifecycleEventRecord, e) for e in events])


def replay(
    history: ClientHistory, *, as_of: datetime, policy: LifecyclePolicy | None = None
) -> Trajectory[Stage, LifecycleEvent]:
    """Fold a client's events through :data:`TABLE`: its trajectory as of ``as_of``.

    Args:
        history: The client's history.
        as_of: The moment (timezone-aware).
        policy: The thresholds; :class:`LifecyclePolicy` defaults if None.

    Returns:
        Every step with its moment, stages, event and record ids.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    the_policy = policy if policy is not None else _DEFAULT_POLICY
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
        """A readable account: the stage, since when, and the path that led there."""
        head = f"client {self.client_id} as of {_fmt(self.as_of)}: {self.stage.value}"
        if self.since is not None:
            head += f" since {_fmt(self.since)}"
        if self.stage is Stage.lost and self.loss_reason is not None:
            head += f" (reason: {self.loss_reason.value})"
        lines = [head]
        transitions = self.trajectory.transitions
        if not transitions:
            lines.append(f"- {self.evidence.reason}")
        first = True
        for step in reversed(transitions):
            lead = "- " if first else "- before that, "
            first = False
            lines.append(f"{lead}{step.target.value} since {_fmt(step.at)}: {step.detail}")
            if step.event is _E.client_reactivated:
                lines.append("  (a new episode starts here; the earlier one follows)")
        if transitions:
            lines.append(f"- before that, {self.trajectory.initial.value}")
        if self.recurring_problems is not None:
            lines.append(f"risk: {self.recurring_problems.reason}")
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
            "anomalies": [a.to_dict() for a in self.anomalies],
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


def assess(
    history: ClientHistory, *, as_of: datetime, policy: LifecyclePolicy | None = None
) -> LifecycleAssessment:
    """The lifecycle stage of a client as of a moment, with its evidence.

    Args:
        history: The client's history (records after ``as_of`` are ignored).
        as_of: The moment (timezone-aware).
        policy: The thresholds; :class:`LifecyclePolicy` defaults if None.

    Returns:
        The assessment: stage, since, trajectory, loss reason, evidence, the
        stage-1 risk signature, anomalies and episode.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
        IllegalTransitionError: With ``policy.strict``, at the first record whose
            event the stage does not allow.
    """
    the_policy = policy if policy is not None else _DEFAULT_POLICY
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
        if stage is Stage.lost:
            recorded = interpretation.reasons.get(entering.record_ids[0])
            loss_reason = recorded if recorded is not None else LossReason.other
            if recorded is None:
                reason += " (no reason recorded: counted as other)"
        evidence = Evidence(reason, entering.record_ids)
    episode = 1 + sum(1 for s in trajectory.steps if s.event is _E.client_reactivated)
    return LifecycleAssessment(
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
        reason: The termination's reason (``other`` when none was recorded).
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
            recorded = reasons.get(step.record_ids[0])
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

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    the_policy = policy if policy is not None else _DEFAULT_POLICY
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
