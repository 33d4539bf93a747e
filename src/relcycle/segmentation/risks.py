"""Risk flags with evidence, and the key-person what-if.

Flags (:class:`RiskFlag`), each with the records that raised it. One source for
each risk: the flags that follow the lifecycle read its assessment
(:func:`relcycle.lifecycle.assess`), and a stage that implies a risk implies its
flag (:data:`STAGE_RISKS`).

* ``recurring_problems`` - the client is in a stage of recurring problems and
  discontent (``recurring_problems``, ``voicing_discontent``,
  ``monitoring_failures``: the stage's evidence), or the lifecycle's stage-1
  signature (complaints of one category recurring within a window, complaints
  with a client loss) is found in the window ending at ``as_of``.
* ``key_person`` - one employee handled at least
  :attr:`~RiskPolicy.key_person_min_share` of the client's contacts whose handler
  is known, over at least :attr:`~RiskPolicy.key_person_min_contacts` such
  contacts, in the window (seed 004: the client leaves with its manager).
* ``silent_stable`` - a ``stability`` client (seed 003: they rarely complain) with at
  least :attr:`~RiskPolicy.silent_min_bad_orders` late (``on_time`` false) or
  cancelled orders and no complaint in the last
  :attr:`~RiskPolicy.silent_window_days` days.
* ``overdue_complaint`` - a complaint still open at ``as_of`` past the client's
  service level for its severity: the lifecycle's ``overdue`` (its breach timer
  fell due and the complaint is still open). Service levels are the client's
  (seed 001), declared once in
  :meth:`relcycle.lifecycle.LifecyclePolicy.service_level`: per client in the
  policy, else the client's attributes ``sla_low`` ... ``sla_critical`` (days,
  decimal), else the policy's defaults (low 14 days, medium 7, high 3, critical 1).
* ``unprofitable`` - profit below zero (see :mod:`relcycle.segmentation.cost`).
* ``overdue_order`` - a regular buyer's next order is overdue (see
  :mod:`relcycle.segmentation.regularity`).
* ``past_escalation`` - the client is escalated, under an ultimatum or in
  arbitration, or left such a stage less than
  :attr:`~RiskPolicy.escalation_memory_days` ago (a recovery does not erase an
  escalation); the evidence is the escalation's records. Not raised for a lost
  client.
* ``activity_after_loss`` - a lost client bought, called or complained after its
  loss without being won back (trailing orders after a termination, say), as found
  by ``relcycle.lifecycle.assess(...).activity_after_loss``.

A lost client (its lifecycle stage is ``lost``) carries no live-client flag: only
``activity_after_loss``. What it was when it left is history, not a risk to act on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal

import attrs

from relcycle._args import checked
from relcycle._decimal import CONTEXT
from relcycle._vocab import Vocab
from relcycle.errors import CurrencyMismatchError, UsageError
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory, Portfolio
from relcycle.lifecycle import LifecycleAssessment, LifecycleEvent, LifecyclePolicy, Stage
from relcycle.lifecycle import assess as _assess_lifecycle
from relcycle.machine import format_moment
from relcycle.model import FrozenMap
from relcycle.rules import CANCELLED_ORDER, FAILED_ORDER, HANDLED_CONTACT

from ._util import (
    check_as_of,
    in_window,
    opt_days,
    positive_int,
    sales,
    share_field,
    window_start,
)
from .cost import CostRates, CostToServe, cost_to_serve
from .motivation import MotivationAssessment, MotivationPolicy, MotivationSegment
from .motivation import classify_motivation as _classify
from .regularity import RegularityAssessment, RegularityPolicy, assess_regularity

__all__ = [
    "STAGE_RISKS",
    "ClientAtRisk",
    "KeyPersonWhatIf",
    "Risk",
    "RiskFlag",
    "RiskPolicy",
    "assess_risks",
    "key_person_whatif",
]


#: The ratio's arithmetic: relcycle's context (not ``decimal.DefaultContext``,
#: which a program can change), an instance of its own.
_CTX = CONTEXT.copy()


class RiskFlag(Vocab):
    """A risk a client carries (the contract's ``risks`` values, plus ``overdue_order``
    and ``past_escalation``)."""

    recurring_problems = "recurring_problems"
    key_person = "key_person"
    silent_stable = "silent_stable"
    overdue_complaint = "overdue_complaint"
    unprofitable = "unprofitable"
    overdue_order = "overdue_order"
    past_escalation = "past_escalation"
    activity_after_loss = "activity_after_loss"


#: The risk each lifecycle stage implies (None: none). A client in a stage always
#: carries its flag, with the stage's evidence: stages 1-2 of the source text
#: (recurring problems, voicing discontent, the client's staff monitoring
#: failures) are ``recurring_problems``; stages 3-4 (escalated, ultimatum,
#: arbitration) are ``past_escalation``. ``satisfied`` implies nothing, and a
#: ``lost`` client carries no live-client risk of its stage.
STAGE_RISKS: FrozenMap[Stage, RiskFlag | None] = FrozenMap(
    {
        Stage.satisfied: None,
        Stage.recurring_problems: RiskFlag.recurring_problems,
        Stage.voicing_discontent: RiskFlag.recurring_problems,
        Stage.monitoring_failures: RiskFlag.recurring_problems,
        Stage.escalated: RiskFlag.past_escalation,
        Stage.ultimatum: RiskFlag.past_escalation,
        Stage.arbitration: RiskFlag.past_escalation,
        Stage.lost: None,
    }
)

#: The stages of an escalation (the client's management involved).
_ESCALATED = frozenset(s for s, flag in STAGE_RISKS.items() if flag is RiskFlag.past_escalation)

#: The client's moves that make or continue an escalation: its records are the
#: ``past_escalation`` risk's evidence.
_ESCALATION_EVENTS = frozenset(
    {
        LifecycleEvent.escalation_received,
        LifecycleEvent.ultimatum_received,
        LifecycleEvent.arbitration_opened,
        LifecycleEvent.arbitration_closed,
    }
)


@attrs.frozen(kw_only=True)
class RiskPolicy:
    """Thresholds of the risk flags.

    Attributes:
        key_person_min_share: Share of the client's handled contacts one employee
            must hold; 0.8.
        key_person_min_contacts: Handled contacts needed before the share counts; 5.
        key_person_window_days: Window of the contacts counted; 365 (None = all).
        silent_window_days: Window of the silent-stable rule; 180.
        silent_min_bad_orders: Late or cancelled orders needed; 2.
        whatif_revenue_window_days: Revenue at risk in the what-if is the sales of
            this many days before ``as_of``; 365 (None = all).
        escalation_memory_days: How long ``past_escalation`` stays raised after
            the client left its last escalated, ultimatum or arbitration stage
            (recovered, or lost and won back); 365.

    The service levels of ``overdue_complaint`` are the lifecycle's
    (:attr:`relcycle.lifecycle.LifecyclePolicy.service_levels`): one
    declaration for the flag and the lifecycle's breach timers.
    """

    key_person_min_share: Decimal = Decimal("0.8")
    key_person_min_contacts: int = 5
    key_person_window_days: int | None = 365
    silent_window_days: int = 180
    silent_min_bad_orders: int = 2
    whatif_revenue_window_days: int | None = 365
    escalation_memory_days: int = 365

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self,
            "key_person_min_share",
            share_field(self, "key_person_min_share", self.key_person_min_share),
        )
        positive_int(self, "key_person_min_contacts", self.key_person_min_contacts)
        opt_days(self, "key_person_window_days", self.key_person_window_days)
        positive_int(self, "silent_window_days", self.silent_window_days)
        positive_int(self, "silent_min_bad_orders", self.silent_min_bad_orders)
        opt_days(self, "whatif_revenue_window_days", self.whatif_revenue_window_days)
        positive_int(self, "escalation_memory_days", self.escalation_memory_days)


@attrs.frozen
class Risk:
    """One risk flag with its evidence.

    Attributes:
        flag: The risk.
        evidence: Why, with the ids of the records that raised it.
    """

    flag: RiskFlag
    evidence: Evidence

    def to_dict(self) -> dict[str, object]:
        """Return ``{"flag": ..., "evidence": {...}}``."""
        return {"flag": self.flag.value, "evidence": self.evidence.to_dict()}


@attrs.frozen
class _Holder:
    employee: str
    share: Decimal
    handled: int
    ids: tuple[str, ...]


def _key_person(history: ClientHistory, as_of: datetime, policy: RiskPolicy) -> _Holder | None:
    """The employee holding the relationship under the policy, or None."""
    start = window_start(as_of, policy.key_person_window_days)
    # The view holds nothing after as_of, so "in the window" is "after start"
    # (in_window() without a call per record).
    handled = [
        i
        for i in history.as_of(as_of).interactions
        if HANDLED_CONTACT(i) and (start is None or i.at > start)
    ]
    if len(handled) < policy.key_person_min_contacts:
        return None
    counts = Counter(i.handled_by for i in handled)
    # the most frequent handler; ties by employee id (deterministic)
    employee, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    assert employee is not None
    share = _CTX.divide(Decimal(n), Decimal(len(handled)))
    if share < policy.key_person_min_share:
        return None
    ids = tuple(i.interaction_id for i in handled if i.handled_by == employee)
    return _Holder(employee, share, len(handled), ids)


def _pct(share: Decimal) -> str:
    return f"{(share * 100).quantize(Decimal('1'))}%"


@checked
def assess_risks(
    history: ClientHistory,
    *,
    as_of: datetime,
    policy: RiskPolicy | None = None,
    lifecycle: LifecycleAssessment | None = None,
    lifecycle_policy: LifecyclePolicy | None = None,
    motivation: MotivationAssessment | None = None,
    motivation_policy: MotivationPolicy | None = None,
    cost: CostToServe | None = None,
    rates: CostRates | None = None,
    regularity: RegularityAssessment | None = None,
    regularity_policy: RegularityPolicy | None = None,
    tz: tzinfo | str = UTC,
) -> tuple[Risk, ...]:
    """Flag a client's risks as of ``as_of``.

    Results computed elsewhere can be passed in so nothing is computed twice;
    what is not passed is computed here with the given (or default) policy.

    Args:
        history: The client's history.
        as_of: The moment of the assessment (aware).
        policy: Thresholds; ``RiskPolicy()`` by default.
        lifecycle: The client's lifecycle assessment as of ``as_of`` (for
            ``recurring_problems``, ``overdue_complaint`` and ``past_escalation``).
            When its ``stage`` is ``lost``, the only flag is
            ``activity_after_loss``: a lost client has no live-client risk.
        lifecycle_policy: Policy to assess the lifecycle when not given.
        motivation: The client's motivation assessment (for ``silent_stable``).
        motivation_policy: Policy to classify motivation when not given.
        cost: The client's cost-to-serve (for ``unprofitable``).
        rates: Cost rates to compute it when not given.
        regularity: The client's regularity (for ``overdue_order``).
        regularity_policy: Policy to assess regularity when not given.
        tz: Time zone of calendar days; UTC.

    Returns:
        The flags raised, in :class:`RiskFlag` order; empty when none.

    Raises:
        UsageError: If ``lifecycle`` is another client's or of another moment.
    """
    check_as_of(as_of)
    policy = RiskPolicy() if policy is None else policy
    view = history.as_of(as_of)
    risks: list[Risk] = []

    if lifecycle is None:
        lifecycle = _assess_lifecycle(history, as_of=as_of, policy=lifecycle_policy)
    elif lifecycle.client_id != history.client_id or lifecycle.as_of != as_of:
        raise UsageError(
            f"assess_risks: the lifecycle assessment is of client {lifecycle.client_id!r} "
            f"as of {lifecycle.as_of.isoformat()}, not of {history.client_id!r} as of "
            f"{as_of.isoformat()}"
        )
    if lifecycle.stage is Stage.lost:
        after = lifecycle.activity_after_loss
        return () if after is None else (Risk(RiskFlag.activity_after_loss, after),)
    implied = STAGE_RISKS[lifecycle.stage]
    signature = lifecycle.recurring_problems
    if implied is RiskFlag.recurring_problems:
        stage = lifecycle.evidence
        evidence = stage if signature is None else stage + signature
        risks.append(Risk(RiskFlag.recurring_problems, evidence))
    elif signature is not None:
        risks.append(Risk(RiskFlag.recurring_problems, signature))

    holder = _key_person(history, as_of, policy)
    if holder is not None:
        risks.append(
            Risk(
                RiskFlag.key_person,
                Evidence(
                    f"{holder.employee} handled {len(holder.ids)} of {holder.handled} contacts "
                    f"({_pct(holder.share)}, threshold {_pct(policy.key_person_min_share)})",
                    holder.ids,
                ),
            )
        )

    if motivation is None:
        motivation = _classify(history, as_of=as_of, policy=motivation_policy, tz=tz)
    if motivation.segment is MotivationSegment.stability:
        start = as_of - timedelta(days=policy.silent_window_days)
        # the view holds nothing after as_of: "in the window" is "after start"
        bad = [o for o in view.orders if o.placed_at > start and FAILED_ORDER.test(o)]
        complaints = [c for c in view.complaints if c.opened_at > start]
        if len(bad) >= policy.silent_min_bad_orders and not complaints:
            late = sum(1 for o in bad if not CANCELLED_ORDER.test(o))
            risks.append(
                Risk(
                    RiskFlag.silent_stable,
                    Evidence(
                        f"stability client: {late} late and {len(bad) - late} cancelled "
                        f"orders and no complaint in {policy.silent_window_days} days",
                        [o.order_id for o in bad],
                    ),
                )
            )

    if lifecycle.overdue is not None:
        risks.append(Risk(RiskFlag.overdue_complaint, lifecycle.overdue))

    if cost is None:
        cost = cost_to_serve(history, as_of=as_of, rates=rates)
    if cost.unprofitable:
        risks.append(Risk(RiskFlag.unprofitable, cost.evidence))

    if regularity is None:
        regularity = assess_regularity(history, as_of=as_of, policy=regularity_policy, tz=tz)
    if regularity.overdue:
        risks.append(Risk(RiskFlag.overdue_order, regularity.evidence))

    escalation = _escalation(lifecycle, as_of, policy)
    if escalation is not None:
        risks.append(Risk(RiskFlag.past_escalation, escalation))

    return tuple(risks)


def _escalation(
    lifecycle: LifecycleAssessment, as_of: datetime, policy: RiskPolicy
) -> Evidence | None:
    """The client's latest escalation, if it is on now or ended within the memory."""
    if lifecycle.stage is Stage.lost:
        return None
    steps = lifecycle.trajectory.steps
    end = len(steps)  # the escalation's steps lie before this index
    left: tuple[datetime, Stage] | None = None
    if lifecycle.stage not in _ESCALATED:
        for k in range(len(steps) - 1, -1, -1):
            step = steps[k]
            if step.source in _ESCALATED and step.target not in _ESCALATED:
                left, end = (step.at, step.target), k
                break
        if left is None or as_of - left[0] >= timedelta(days=policy.escalation_memory_days):
            return None
    moves: list[str] = []
    ids: list[str] = []
    entered = None
    for k in range(end - 1, -1, -1):
        step = steps[k]
        if step.event in _ESCALATION_EVENTS:
            moves.append(f"{format_moment(step.at)}: {step.detail}")
            ids[:0] = step.record_ids
        if step.source not in _ESCALATED and step.target in _ESCALATED:
            entered = step.at
            break
    moves.reverse()
    # (a trajectory that started escalated has no step into it)
    since = "" if entered is None else f" since {format_moment(entered)}"
    if left is None:
        head = f"{lifecycle.stage.value}{since}"
    else:
        days = (as_of - left[0]).days
        head = (
            f"escalated{since} until {format_moment(left[0])} ({left[1].value} since, "
            f"{days} days ago; remembered for {policy.escalation_memory_days} days)"
        )
    return Evidence(f"{head}: " + "; ".join(moves), ids)


@attrs.frozen(kw_only=True)
class ClientAtRisk:
    """A client at risk if an employee leaves.

    Attributes:
        client_id: The client.
        reason: ``"key_person"`` (the employee holds the client's contacts) or
            ``"sole_manager"`` (the employee is the account manager and nobody else
            handled a contact in the window).
        share: The employee's share of the handled contacts (None for a sole
            manager without handled contacts).
        revenue: The client's sales in the policy's what-if window.
        currency: The sales' currency (None without sales).
        evidence: Why, with record ids.
    """

    client_id: str
    reason: str
    share: Decimal | None
    revenue: Decimal
    currency: str | None
    evidence: Evidence


@attrs.frozen(kw_only=True)
class KeyPersonWhatIf:
    """What is at risk if one employee leaves.

    Attributes:
        employee: The employee.
        as_of: The moment of the assessment.
        clients: The clients at risk, by client id.
        revenue_at_risk: Their revenue in the policy's window, summed.
        currency: Its currency (None when no client at risk has sales).
    """

    employee: str
    as_of: datetime
    clients: tuple[ClientAtRisk, ...]
    revenue_at_risk: Decimal
    currency: str | None

    @property
    def client_ids(self) -> tuple[str, ...]:
        """The ids of the clients at risk."""
        return tuple(c.client_id for c in self.clients)


@checked
def key_person_whatif(
    portfolio: Portfolio | Iterable[ClientHistory],
    employee: str,
    *,
    as_of: datetime,
    policy: RiskPolicy | None = None,
) -> KeyPersonWhatIf:
    """Which clients, and how much revenue, are at risk if ``employee`` leaves.

    A client is at risk when ``employee`` is its key person (the ``key_person``
    rule), or when ``employee`` is its account manager and no other employee
    handled any of its contacts in the key-person window.

    Args:
        portfolio: The clients.
        employee: The employee id (``handled_by`` / ``account_manager``).
        as_of: The moment of the assessment (aware).
        policy: Thresholds; ``RiskPolicy()`` by default.

    Returns:
        The clients at risk and their revenue in the what-if window.

    Raises:
        CurrencyMismatchError: If the clients at risk have sales in two currencies.
    """
    check_as_of(as_of)
    policy = RiskPolicy() if policy is None else policy
    rev_start = window_start(as_of, policy.whatif_revenue_window_days)
    kp_start = window_start(as_of, policy.key_person_window_days)
    at_risk: list[ClientAtRisk] = []
    for history in portfolio:
        holder = _key_person(history, as_of, policy)
        reason: str | None = None
        share: Decimal | None = None
        ids: tuple[str, ...] = ()
        if holder is not None and holder.employee == employee:
            reason, share, ids = "key_person", holder.share, holder.ids
            text = f"{employee} handled {len(ids)} of {holder.handled} contacts ({_pct(share)})"
        elif history.client.account_manager == employee:
            handlers = {
                i.handled_by
                for i in history.as_of(as_of).interactions
                if HANDLED_CONTACT(i) and in_window(i.at, kp_start, as_of)
            }
            if handlers <= {employee}:
                reason = "sole_manager"
                ids = tuple(
                    i.interaction_id
                    for i in history.as_of(as_of).interactions
                    if i.handled_by == employee
                    and HANDLED_CONTACT(i)
                    and in_window(i.at, kp_start, as_of)
                )
                share = Decimal(1) if ids else None
                text = f"{employee} is the account manager and nobody else handled a contact"
        if reason is None:
            continue
        counted = [o for o in sales(history, as_of) if in_window(o.placed_at, rev_start, as_of)]
        currencies = {o.currency for o in counted}
        if len(currencies) > 1:
            raise CurrencyMismatchError(
                currencies=currencies, context=f"the revenue of client {history.client_id!r}"
            )
        revenue = sum((o.amount for o in counted), Decimal(0))
        at_risk.append(
            ClientAtRisk(
                client_id=history.client_id,
                reason=reason,
                share=share,
                revenue=revenue,
                currency=next(iter(currencies)) if currencies else None,
                evidence=Evidence(f"{text}; revenue {revenue}", ids),
            )
        )
    currencies = {c.currency for c in at_risk if c.currency is not None}
    if len(currencies) > 1:
        raise CurrencyMismatchError(currencies=currencies, context="revenue at risk")
    at_risk.sort(key=lambda c: c.client_id)
    return KeyPersonWhatIf(
        employee=employee,
        as_of=as_of,
        clients=tuple(at_risk),
        revenue_at_risk=sum((c.revenue for c in at_risk), Decimal(0)),
        currency=next(iter(currencies)) if currencies else None,
    )
