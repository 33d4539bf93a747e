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

from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

import attrs

from relcycle._args import checked

from ._vocab import OrderedVocab, Vocab
from .errors import BudgetError, IllegalTransitionError, RecordTypeError, ValidationError
from .evidence import Evidence
from .history import ClientHistory, Portfolio, check_as_of
from .machine import Trajectory, TransitionTable
from .model import (
    Complaint,
    ComplaintCategory,
    ComplaintStatus,
    Escalation,
    FrozenMap,
    Interaction,
    LossReason,
    Money,
    Order,
    OrderStatus,
    Purpose,
    Severity,
)

__all__ = [
    "DEFAULT_SERVICE_LEVELS",
    "EVIDENCE_BUDGET",
    "TABLE",
    "LifecycleAssessment",
    "LifecycleEvent",
    "LifecycleEventRecord",
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

    def service_level(self, client_id: str, severity: Severity) -> timedelta:
        """How long a complaint of ``severity`` by ``client_id`` may stay open."""
        levels = self.client_service_levels.get(client_id, self.service_levels)
        return levels[severity]


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


def _fmt(moment: datetime) -> str:
    """A moment as a date when it is midnight UTC, else to the minute."""
    if moment.utcoffset() == timedelta(0) and moment.time() == datetime.min.time():
        return moment.date().isoformat()
    return moment.isoformat(timespec="minutes")


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


# Same-moment order of occurrences (then by record id).
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
_PURPOSE_EVENT = {
    Purpose.reactivation: _E.client_reactivated,
    Purpose.escalation: _E.escalation_received,
    Purpose.ultimatum: _E.ultimatum_received,
    Purpose.arbitration: _E.arbitration_opened,
    Purpose.arbitration_closed: _E.arbitration_closed,
    Purpose.termination: _E.relationship_terminated,
}
_K_OPEN, _K_CLOSE, _K_SLA, _K_ORDER, _K_INTERACTION = range(5)


@attrs.frozen
class _Interpretation:
    events: tuple[LifecycleEventRecord, ...]
    anomalies: tuple[Evidence, ...]
    reasons: Mapping[str, LossReason | None]


def _occurrences(
    history: ClientHistory, as_of: datetime, policy: LifecyclePolicy
) -> list[tuple[datetime, int, str, int, int, Any]]:
    """Every record-driven occurrence up to ``as_of``, in the lifecycle's total order."""
    occ: list[tuple[datetime, int, str, int, int, Any]] = []
    add = occ.append
    levels = policy.client_service_levels.get(history.client_id, policy.service_levels)
    for c in history.complaints:
        if c.opened_at > as_of:
            break
        add((c.opened_at, _P_OPEN, c.complaint_id, 0, _K_OPEN, c))
        closed = c.resolved_at
        if closed is not None and closed <= as_of:
            if closed == c.opened_at:  # closed at once: right after its own opening
                add((closed, _P_OPEN, c.complaint_id, 1, _K_CLOSE, c))
            else:
                add((closed, _P_CLOSE, c.complaint_id, 0, _K_CLOSE, c))
        due = c.opened_at + levels[c.severity]
        if due <= as_of and (closed is None or closed > due):
            add((due, _P_SLA, c.complaint_id, 0, _K_SLA, c))
    for o in history.orders:
        if o.placed_at > as_of:
            break
        failed = (policy.cancelled_orders_fail and o.status is OrderStatus.cancelled) or (
            policy.late_orders_fail and o.on_time is False and o.status is not OrderStatus.planned
        )
        if failed or (policy.reactivate_on_sale and o.is_sale):
            add((o.placed_at, _P_ORDER, o.order_id, 0, _K_ORDER, o))
    for i in history.interactions:
        if i.at > as_of:
            break
        prio = _P_INTERACTION.get(i.purpose)
        if prio is not None:
            add((i.at, prio, i.interaction_id, 0, _K_INTERACTION, i))
    occ.sort(key=_OCC_KEY)
    return occ


#: An occurrence's sort key: its first four items (the record itself is never compared).
_OCC_KEY = itemgetter(0, 1, 2, 3)

#: The most record ids one client's lifecycle events may cite in total. An event
#: cites every record behind it (a complaint opened while 3,000 others are open
#: cites 3,001), so the evidence of a history grows with the square of the
#: complaints open at once; past this budget (about 100 MB of evidence) the
#: assessment raises :class:`~relcycle.errors.BudgetError` naming the client
#: instead of exhausting memory.
EVIDENCE_BUDGET = 5_000_000


def _interpret(history: ClientHistory, as_of: datetime, policy: LifecyclePolicy) -> _Interpretation:
    """The decider: read the records in order, knowing the stage, and emit events."""
    events: list[LifecycleEventRecord] = []
    anomalies: list[Evidence] = []
    reasons: dict[str, LossReason | None] = {}
    stage = Stage.satisfied
    anchor: datetime | None = None  # the moment of the latest event
    anchor_ids: tuple[str, ...] = ()
    open_: dict[str, Complaint] = {}
    recent: dict[ComplaintCategory, deque[tuple[datetime, str, str]]] = {}
    period = policy.trouble_free_period
    window = policy.recurrence_window
    count = policy.recurrence_count
    recur_as = policy.failures_recur_as
    window_text = _days(window)
    period_text = _days(period)

    budget = EVIDENCE_BUDGET
    cited = 0

    def emit(at: datetime, event: LifecycleEvent, ids: tuple[str, ...], detail: str) -> bool:
        nonlocal stage, anchor, anchor_ids, cited
        cited += len(ids)
        if cited > budget:
            raise BudgetError(
                client_id=history.client_id, budget=budget, what="record ids cited as evidence"
            )
        target = _NEXT[stage].get(event)
        if target is None:
            if policy.strict:
                try:
                    TABLE.step(stage, event)
                except IllegalTransitionError as exc:
                    exc.add_note(f"record(s) {_ids(ids)} of client {history.client_id!r}: {detail}")
                    raise
            allowed = ", ".join(e.value for e in TABLE.allowed(stage))
            anomalies.append(
                Evidence(
                    f"{_fmt(at)}: {detail}: ignored, {event.value} is not allowed in stage "
                    f"{stage.value} (allowed there: {allowed})",
                    ids,
                )
            )
            return False
        events.append(LifecycleEventRecord(at, event, ids, detail))
        stage = target
        anchor = at
        anchor_ids = ids
        return True

    def elapse(before: datetime, inclusive: bool) -> None:
        while stage in _RECOVERABLE and not open_ and anchor is not None:
            due = anchor + period
            if due > before or (due == before and not inclusive):
                return
            emit(
                due,
                _E.trouble_free_period_elapsed,
                anchor_ids,
                f"no open complaint and no new problem for {period_text} since {_fmt(anchor)}",
            )

    def problem(at: datetime, category: ComplaintCategory, rid: str, what: str) -> None:
        q = recent.get(category)
        if q is None:
            q = recent[category] = deque()
        q.append((at, rid, what))
        start = at - window
        while q[0][0] < start:
            q.popleft()
        if len(q) >= count:
            ids = tuple(r for _, r, _ in q)
            emit(
                at,
                _E.problem_recurred,
                ids,
                f"{len(q)} {category} problems within {window_text}: "
                + _grouped((w, r) for _, r, w in q),
            )

    for at, _prio, rid, _sub, kind, rec in _occurrences(history, as_of, policy):
        elapse(at, inclusive=False)
        if kind == _K_OPEN:
            c: Complaint = rec
            earlier = tuple(open_)
            emit(
                at,
                _E.complaint_opened,
                (rid,),
                f"complaint {rid} opened ({c.category}, {c.severity})",
            )
            open_[rid] = c
            problem(at, c.category, rid, "complaint")
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
        elif kind == _K_CLOSE:
            c = rec
            open_.pop(rid, None)
            took = _days(at - c.opened_at) if at > c.opened_at else "at once"
            if c.status is ComplaintStatus.rejected:
                emit(at, _E.complaint_rejected, (rid,), f"complaint {rid} rejected ({took})")
            else:
                emit(at, _E.complaint_resolved, (rid,), f"complaint {rid} resolved ({took})")
        elif kind == _K_SLA:
            c = rec
            if rid in open_:
                level = _days(at - c.opened_at)
                emit(
                    at,
                    _E.service_level_breached,
                    (rid,),
                    f"complaint {rid} ({c.severity}) still open after {level}, "
                    "past the client's service level",
                )
        elif kind == _K_ORDER:
            o: Order = rec
            if stage is Stage.lost and policy.reactivate_on_sale and o.is_sale:
                emit(at, _E.client_reactivated, (rid,), f"order {rid} placed by a lost client")
            if policy.cancelled_orders_fail and o.status is OrderStatus.cancelled:
                what = "cancelled order"
            elif policy.late_orders_fail and o.on_time is False:
                what = "late order"
            else:
                continue
            emit(at, _E.service_failed, (rid,), f"{what} {rid}")
            if recur_as is not None:
                problem(at, recur_as, rid, what)
        else:
            i: Interaction = rec
            event = _PURPOSE_EVENT[i.purpose]
            if event is _E.relationship_terminated:
                why = i.reason if i.reason is not None else "no reason recorded"
                detail = f"interaction {rid} (termination: {why})"
            else:
                detail = f"interaction {rid} ({i.purpose})"
            if emit(at, event, (rid,), detail) and event is _E.relationship_terminated:
                reasons[rid] = i.reason
    elapse(as_of, inclusive=True)
    return _Interpretation(tuple(events), tuple(anomalies), reasons)


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
    return _interpret(history, check_as_of(as_of), the_policy).events


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
    return TABLE.fold(derive_events(history, as_of=as_of, policy=policy))


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
        for o in history.orders:
            if o.placed_at > as_of:
                break
            if o.placed_at < start:
                continue
            if (policy.cancelled_orders_fail and o.status is OrderStatus.cancelled) or (
                policy.late_orders_fail
                and o.on_time is False
                and o.status is not OrderStatus.planned
            ):
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
    trajectory = TABLE.fold(interpretation.events)
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
        trajectory = TABLE.fold(interpretation.events)
        losses.extend(_losses(history.client_id, trajectory, interpretation.reasons))
    losses.sort(key=lambda x: (x.lost_at, x.client_id, x.episode))
    return LossAnalysis(as_of=moment, clients=clients, losses=tuple(losses))
