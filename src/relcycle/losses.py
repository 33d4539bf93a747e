"""What each lost client was worth, and which manager held it when it left.

The texts insist the supplier must analyse why each client was lost (seed 000)
and warn that a client leaves together with a departing manager who held the
relationship alone (seed 004). For a client the lifecycle finds ``lost`` as of a
moment, :func:`assess_loss` gives:

- **lost revenue**: the client's sales (``placed`` or ``delivered`` orders, the
  rule :data:`relcycle.rules.SALE`) in the :attr:`LossPolicy.window_days` days
  before the loss, the loss moment included — what the supplier stops selling
  each year. It is the signal :func:`lost_revenue_signals` declares once over the
  rule layer (:meth:`relcycle.rules.Signal.sum` with a window), evaluated at the
  loss moment.
- **the loss manager**: the supplier's employee who held the relationship when
  the client left — for a ``manager_left`` loss, the manager who left. The rule:
  among the client's interactions *before* the loss moment and inside the same
  window, the employee named most often in ``handled_by`` (ties: the one who
  handled the latest of them); when no such interaction names a handler, the
  client's ``account_manager``; else unknown (None). The termination itself is
  not counted: whoever took the client's notice is not who held it.

The report (:mod:`relcycle.report`) writes both per client (``lost_revenue``,
``loss_manager``, the ``loss`` evidence) and sums them per loss reason, per
motivation segment and per manager in ``summary["losses"]``.
"""

from __future__ import annotations

import functools
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import attrs

from relcycle._decimal import in_own_context
from relcycle._repr import count
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory
from relcycle.machine import Trajectory
from relcycle.model import LossReason
from relcycle.rules import HANDLED_CONTACT, SALE, Signal, SignalSet
from relcycle.segmentation._util import positive_int

__all__ = ["LossFigures", "LossPolicy", "active_until", "assess_loss", "lost_revenue_signals"]


@attrs.frozen(kw_only=True)
class LossPolicy:
    """The thresholds of the loss figures.

    Attributes:
        window_days: Days before a loss whose sales are the client's lost revenue,
            and whose handled interactions name its manager (default 365: the
            trailing twelve months).

    Raises:
        RecordTypeError: If ``window_days`` is not an int.
        ValidationError: If ``window_days`` is not positive.
    """

    window_days: int = 365

    def __attrs_post_init__(self) -> None:
        positive_int(self, "window_days", self.window_days)


@functools.lru_cache(maxsize=64)
def lost_revenue_signals(window_days: int) -> SignalSet:
    """The signals of the lost revenue: the sum and the ids of the sales in the window.

    Evaluated at the loss moment (``as_of`` = when the client was lost). One
    compiled set per window (cached: compiling is the costly part).

    Args:
        window_days: The days before the loss (:attr:`LossPolicy.window_days`).
    """
    return SignalSet(
        {
            "lost_revenue": Signal.sum(SALE, "amount", window=window_days),
            "sales": Signal.ids(SALE, window=window_days),
        }
    )


class _Lifecycle(Protocol):
    """What the loss figures read of a lifecycle assessment."""

    @property
    def loss_reason(self) -> LossReason | None: ...

    @property
    def since(self) -> datetime | None: ...

    @property
    def evidence(self) -> Evidence: ...

    @property
    def trajectory(self) -> Trajectory[Any, Any]: ...


@attrs.frozen(kw_only=True)
class LossFigures:
    """A lost client's loss figures.

    Attributes:
        client_id: The client's id.
        lost_at: When it was lost.
        reason: Why (the lifecycle's loss reason).
        lost_revenue: Its sales in the window before the loss (exact).
        manager: The employee who held the relationship when it left (see the
            module's rule), or None when no record names one.
        evidence: The loss, the sales counted and the interactions that name the
            manager.
    """

    client_id: str
    lost_at: datetime
    reason: LossReason
    lost_revenue: Decimal
    manager: str | None
    evidence: Evidence


def _manager(
    history: ClientHistory, lost_at: datetime, window_days: int
) -> tuple[str | None, str, tuple[str, ...]]:
    """The loss manager, how it was found and the ids that name it (see the module)."""
    start = lost_at - timedelta(days=window_days)
    handled = [
        i
        for i in history.interactions
        if HANDLED_CONTACT(i) and start < i.at < lost_at  # the model's order
    ]
    if handled:
        counts = Counter(i.handled_by for i in handled)
        latest = {i.handled_by: k for k, i in enumerate(handled)}
        employee = max(counts, key=lambda e: (counts[e], latest[e]))
        assert employee is not None
        ids = tuple(i.interaction_id for i in handled if i.handled_by == employee)
        how = f"handled {len(ids)} of the {len(handled)} handled contacts before the loss"
        return employee, how, ids
    owner = history.client.account_manager
    if owner is not None:
        return owner, "the client's account manager (no contact before the loss names one)", ()
    return None, "", ()


def _currency_of(history: ClientHistory, sales: list[str]) -> str:
    """`` USD``: the currency of the sales counted, as the summary's loss line
    names it ("13,702.98 USD of sales"); empty without a sale."""
    if not sales:
        return ""
    last = sales[-1]
    for order in reversed(history.orders):  # the last sale counted is near the end
        if order.order_id == last:
            return f" {order.currency}"
    return ""  # pragma: no cover - the signal's ids are the history's own


@in_own_context
def assess_loss(
    history: ClientHistory,
    *,
    lifecycle: _Lifecycle,
    policy: LossPolicy | None = None,
) -> LossFigures | None:
    """The loss figures of a lost client (None for a client that is not lost).

    Args:
        history: The client's history (cut at the assessment's moment).
        lifecycle: The client's lifecycle assessment at that moment
            (:func:`relcycle.lifecycle.assess`).
        policy: The window; :class:`LossPolicy` defaults if None.

    Returns:
        The figures, or None when the lifecycle gives no loss reason.
    """
    reason = lifecycle.loss_reason
    lost_at = lifecycle.since
    if reason is None or lost_at is None:
        return None
    window = (LossPolicy() if policy is None else policy).window_days
    # A client lost by silence (a lapse) was lost when it stopped buying: its
    # trailing window ends at its last sale, not at the lapse, which comes a
    # silent year (or several missed cycles) later with nothing in the window.
    end = active_until(history, lifecycle)
    assert end is not None
    found = lost_revenue_signals(window).evaluate({"orders": history.orders}, as_of=end)
    revenue: Decimal = found["lost_revenue"]
    sales: list[str] = found["sales"]
    manager, how, manager_ids = _manager(history, end, window)
    before = (
        "before"
        if end == lost_at
        else f"up to its last sale on {end.date().isoformat()}, when it went silent"
    )
    text = (
        f"lost ({reason.value}) on {lost_at.date().isoformat()}: "
        f"{revenue:,}{_currency_of(history, sales)} of sales in the {window} days {before} "
        f"({count(len(sales), 'sale')})"
    )
    if manager is not None:
        who = "manager who left" if reason is LossReason.manager_left else "manager"
        text += f"; {who}: {manager}, {how}"
    else:
        text += "; no interaction or account manager names the manager"
    return LossFigures(
        client_id=history.client_id,
        lost_at=lost_at,
        reason=reason,
        lost_revenue=revenue,
        manager=manager,
        evidence=Evidence(text, (*lifecycle.evidence.record_ids, *sales, *manager_ids)),
    )


def active_until(history: ClientHistory, lifecycle: _Lifecycle) -> datetime | None:
    """When a lost client's active life ended (None for a client that is not lost).

    The loss moment for a termination; for a lapse (silent churn), the client's
    last sale before it, when it went silent: the lapse itself comes a silent
    year (or several missed cycles) later. Its lost revenue counts the window
    before this moment, and the report classifies its motivation segment as it
    stood then.

    Args:
        history: The client's history.
        lifecycle: The client's lifecycle assessment.
    """
    from relcycle.lifecycle import LifecycleEvent

    lost_at = lifecycle.since
    if lifecycle.loss_reason is None or lost_at is None:
        return None
    lapse = LifecycleEvent.relationship_lapsed
    if not any(s.at == lost_at and s.event is lapse for s in lifecycle.trajectory.steps):
        return lost_at
    last = None
    for order in history.orders:
        if order.placed_at <= lost_at and SALE(order):
            last = order.placed_at if last is None or order.placed_at > last else last
    return lost_at if last is None else last
