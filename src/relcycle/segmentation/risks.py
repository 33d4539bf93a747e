"""Risk flags with evidence, and the key-person what-if.

Flags (:class:`RiskFlag`), each with the records that raised it:

* ``recurring_problems`` - the lifecycle's stage-1 signature (complaints of one
  category recurring within a window, complaints with a client loss) as found by
  ``relcycle.lifecycle.assess(...).recurring_problems``; passed in, not recomputed.
* ``key_person`` - one employee handled at least
  :attr:`~RiskPolicy.key_person_min_share` of the client's contacts whose handler
  is known, over at least :attr:`~RiskPolicy.key_person_min_contacts` such
  contacts, in the window (seed 004: the client leaves with its manager).
* ``silent_stable`` - a ``stability`` client (seed 003: they rarely complain) with at
  least :attr:`~RiskPolicy.silent_min_bad_orders` late (``on_time`` false) or
  cancelled orders and no complaint in the last
  :attr:`~RiskPolicy.silent_window_days` days.
* ``overdue_complaint`` - a complaint still open at ``as_of`` longer than the
  service level for its severity. Service levels are the client's (seed 001): the
  policy's defaults (low 14 days, medium 7, high 3, critical 1) can be overridden
  per client in :attr:`RiskPolicy.client_sla` or by client attributes
  ``sla_low``, ``sla_medium``, ``sla_high``, ``sla_critical`` (days, decimal).
* ``unprofitable`` - profit below zero (see :mod:`relcycle.segmentation.cost`).
* ``overdue_order`` - a regular buyer's next order is overdue (see
  :mod:`relcycle.segmentation.regularity`).
* ``activity_after_loss`` - a lost client bought, called or complained after its
  loss without being won back (trailing orders after a termination, say), as found
  by ``relcycle.lifecycle.assess(...).activity_after_loss``.

A lost client (its lifecycle stage is ``lost``) carries no live-client flag: only
``activity_after_loss``. What it was when it left is history, not a risk to act on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Context, Decimal, InvalidOperation
from typing import Protocol

import attrs

from relcycle._args import checked
from relcycle._vocab import Vocab
from relcycle.errors import CurrencyMismatchError, ValidationError
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory, Portfolio
from relcycle.model import FrozenMap, Severity
from relcycle.rules import CANCELLED_ORDER, FAILED_ORDER, OPEN_COMPLAINT

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
    "ClientAtRisk",
    "KeyPersonWhatIf",
    "Risk",
    "RiskFlag",
    "RiskPolicy",
    "assess_risks",
    "key_person_whatif",
]


class RiskFlag(Vocab):
    """A risk a client carries (the contract's ``risks`` values, plus ``overdue_order``)."""

    recurring_problems = "recurring_problems"
    key_person = "key_person"
    silent_stable = "silent_stable"
    overdue_complaint = "overdue_complaint"
    unprofitable = "unprofitable"
    overdue_order = "overdue_order"
    activity_after_loss = "activity_after_loss"


_DEFAULT_SLA: FrozenMap[Severity, timedelta] = FrozenMap(
    {
        Severity.low: timedelta(days=14),
        Severity.medium: timedelta(days=7),
        Severity.high: timedelta(days=3),
        Severity.critical: timedelta(days=1),
    }
)


def _sla(
    value: Mapping[object, timedelta], base: Mapping[Severity, timedelta] = _DEFAULT_SLA
) -> FrozenMap[Severity, timedelta]:
    result = dict(base)
    for key, span in value.items():
        try:
            sev = Severity.parse(key)
        except ValueError as exc:
            raise ValidationError(
                record="RiskPolicy", field="sla", value=key, reason=str(exc)
            ) from None
        if not isinstance(span, timedelta) or span <= timedelta(0):
            raise ValidationError(
                record="RiskPolicy",
                field=f"sla[{sev.value}]",
                value=span,
                reason="expected a positive timedelta",
            )
        result[sev] = span
    return FrozenMap(result)


def _client_sla(
    value: Mapping[str, Mapping[object, timedelta]],
) -> FrozenMap[str, FrozenMap[Severity, timedelta]]:
    result: dict[str, FrozenMap[Severity, timedelta]] = {}
    for cid, levels in value.items():
        if type(cid) is not str or not isinstance(levels, Mapping):
            raise ValidationError(
                record="RiskPolicy",
                field="client_sla",
                value={cid: levels},
                reason="expected a mapping of client id to a mapping of severity to timedelta",
            )
        result[cid] = _sla(levels, base={})
    return FrozenMap(result)


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
        sla: Resolution service level by severity (defaults: low 14 days, medium 7,
            high 3, critical 1); keys given replace those defaults.
        client_sla: Per-client service levels by client id and severity (the
            client sets the level it expects); they come first.
        sla_attribute_prefix: Client attributes ``<prefix><severity>`` (days)
            override the SLA per client; ``"sla_"``. None disables the override.
        whatif_revenue_window_days: Revenue at risk in the what-if is the sales of
            this many days before ``as_of``; 365 (None = all).
    """

    key_person_min_share: Decimal = Decimal("0.8")
    key_person_min_contacts: int = 5
    key_person_window_days: int | None = 365
    silent_window_days: int = 180
    silent_min_bad_orders: int = 2
    sla: FrozenMap[Severity, timedelta] = attrs.field(factory=FrozenMap, converter=_sla)
    client_sla: FrozenMap[str, FrozenMap[Severity, timedelta]] = attrs.field(
        factory=FrozenMap, converter=_client_sla
    )
    sla_attribute_prefix: str | None = "sla_"
    whatif_revenue_window_days: int | None = 365

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

    def sla_for(self, history: ClientHistory, severity: Severity) -> timedelta:
        """The client's service level for ``severity``.

        The first found of: :attr:`client_sla` for the client, the client's
        attribute ``<sla_attribute_prefix><severity>`` (days), :attr:`sla`.

        Raises:
            ValidationError: If the client's attribute is not a positive number of days.
        """
        own = self.client_sla.get(history.client_id)
        if own is not None and severity in own:
            return own[severity]
        if self.sla_attribute_prefix is not None:
            name = f"{self.sla_attribute_prefix}{severity.value}"
            raw = history.client.attributes.get(name)
            if raw is not None:
                try:
                    days = Decimal(raw.strip())
                except InvalidOperation:
                    days = Decimal(-1)
                if not days.is_finite() or days <= 0:
                    raise ValidationError(
                        record="Client",
                        field=f"attributes.{name}",
                        value=raw,
                        record_id=history.client_id,
                        reason="a service level must be a positive number of days",
                    )
                return timedelta(microseconds=int(days * 86_400_000_000))
        return self.sla[severity]


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


class HasRecurringProblems(Protocol):
    """Anything with a ``recurring_problems`` evidence (a lifecycle assessment)."""

    @property
    def recurring_problems(self) -> Evidence | None: ...


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
        if i.handled_by is not None and (start is None or i.at > start)
    ]
    if len(handled) < policy.key_person_min_contacts:
        return None
    counts = Counter(i.handled_by for i in handled)
    # the most frequent handler; ties by employee id (deterministic)
    employee, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    assert employee is not None
    share = Context(prec=28).divide(Decimal(n), Decimal(len(handled)))
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
    recurring_problems: Evidence | None = None,
    lifecycle: HasRecurringProblems | None = None,
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
        recurring_problems: The lifecycle's stage-1 evidence, or None.
        lifecycle: A lifecycle assessment; its ``recurring_problems`` is used when
            ``recurring_problems`` is not given. When its ``stage`` is ``lost``,
            the only flag is ``activity_after_loss`` (from its
            ``activity_after_loss``): a lost client has no live-client risk.
        motivation: The client's motivation assessment (for ``silent_stable``).
        motivation_policy: Policy to classify motivation when not given.
        cost: The client's cost-to-serve (for ``unprofitable``).
        rates: Cost rates to compute it when not given.
        regularity: The client's regularity (for ``overdue_order``).
        regularity_policy: Policy to assess regularity when not given.
        tz: Time zone of calendar days; UTC.

    Returns:
        The flags raised, in :class:`RiskFlag` order; empty when none.
    """
    check_as_of(as_of)
    stage = getattr(lifecycle, "stage", None)
    if getattr(stage, "value", stage) == "lost":
        after: Evidence | None = getattr(lifecycle, "activity_after_loss", None)
        return () if after is None else (Risk(RiskFlag.activity_after_loss, after),)
    policy = RiskPolicy() if policy is None else policy
    view = history.as_of(as_of)
    risks: list[Risk] = []

    if recurring_problems is None and lifecycle is not None:
        recurring_problems = lifecycle.recurring_problems
    if recurring_problems is not None:
        risks.append(Risk(RiskFlag.recurring_problems, recurring_problems))

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

    overdue = []
    for c in view.complaints:
        if OPEN_COMPLAINT.test(c, as_of):
            sla = policy.sla_for(history, c.severity)
            if as_of - c.opened_at > sla:
                overdue.append((c, sla))
    if overdue:
        parts = [
            f"{c.complaint_id} ({c.severity.value}) open {_days(as_of - c.opened_at)} "
            f"days, SLA {_days(sla)}"
            for c, sla in overdue
        ]
        risks.append(
            Risk(
                RiskFlag.overdue_complaint,
                Evidence(
                    "open past the service level: " + "; ".join(parts),
                    [c.complaint_id for c, _ in overdue],
                ),
            )
        )

    if cost is None:
        cost = cost_to_serve(history, as_of=as_of, rates=rates)
    if cost.unprofitable:
        risks.append(Risk(RiskFlag.unprofitable, cost.evidence))

    if regularity is None:
        regularity = assess_regularity(history, as_of=as_of, policy=regularity_policy, tz=tz)
    if regularity.overdue:
        risks.append(Risk(RiskFlag.overdue_order, regularity.evidence))

    return tuple(risks)


def _days(span: timedelta) -> str:
    days = Decimal(span.days) + Decimal(span.seconds) / Decimal(86400)
    return str(days.quantize(Decimal("0.1")))


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
                if i.handled_by is not None and in_window(i.at, kp_start, as_of)
            }
            if handlers <= {employee}:
                reason = "sole_manager"
                ids = tuple(
                    i.interaction_id
                    for i in history.as_of(as_of).interactions
                    if i.handled_by == employee and in_window(i.at, kp_start, as_of)
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
