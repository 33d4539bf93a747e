"""Planned versus actual sales, per client, per manager or for the portfolio, per period.

Seed 003's sales module keeps actual and *planned* sales per manager. In the data
contract a plan is an order with status ``planned``, dated (``placed_at``) by the
day it is planned for. Definitions:

* **planned**: orders with status ``planned`` dated within ``[start, end)``; plans
  are read by their target date, so a plan dated after ``as_of`` still counts when
  it falls in the period asked for;
* **actual**: sales (``placed``/``delivered``) dated within ``[start, end)`` and
  at or before ``as_of``;
* **attainment** = actual / planned (None when nothing was planned);
* rows are grouped by client, by the client's account manager (``None`` when it
  has none) or for the whole portfolio, and by calendar period (month
  ``2024-03``, quarter ``2024-Q1``, year ``2024``, or ``all``) in the time zone ``tz``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Literal

import attrs

from relcycle._decimal import CONTEXT
from relcycle._zones import resolve_zone
from relcycle.errors import CurrencyMismatchError, UsageError
from relcycle.history import ClientHistory, Portfolio
from relcycle.model import Order
from relcycle.rules import PLANNED_ORDER, SALE

from ._util import check_as_of

__all__ = ["PlanRow", "PlanVsActual", "period_label", "plan_vs_actual"]


#: The ratio's arithmetic: relcycle's context (not ``decimal.DefaultContext``,
#: which a program can change), an instance of its own.
_CTX = CONTEXT.copy()

Grouping = Literal["client", "manager", "portfolio"]
Period = Literal["month", "quarter", "year"]


@attrs.frozen(kw_only=True)
class PlanRow:
    """Planned and actual sales of one group in one period.

    Attributes:
        key: The client id, the manager id (None = no account manager), or None for
            the portfolio.
        period: ``"2024-03"``, ``"2024-Q1"``, ``"2024"`` or ``"all"``.
        planned: Sum of the planned orders.
        actual: Sum of the sales.
        planned_orders: Number of planned orders.
        actual_orders: Number of sales.
        planned_ids: Ids of the planned orders.
        actual_ids: Ids of the sales.
    """

    key: str | None
    period: str
    planned: Decimal
    actual: Decimal
    planned_orders: int
    actual_orders: int
    planned_ids: tuple[str, ...]
    actual_ids: tuple[str, ...]

    @property
    def attainment(self) -> Decimal | None:
        """``actual / planned``; None when nothing was planned."""
        return _CTX.divide(self.actual, self.planned) if self.planned else None

    @property
    def gap(self) -> Decimal:
        """``actual - planned`` (negative when behind plan)."""
        return self.actual - self.planned


@attrs.frozen(kw_only=True)
class PlanVsActual:
    """Planned versus actual sales.

    Attributes:
        by: ``"client"``, ``"manager"`` or ``"portfolio"``.
        period: ``"month"``, ``"quarter"``, ``"year"`` or None (one period, ``all``).
        as_of: Sales after this moment are not counted.
        currency: The currency of every amount (None with no orders at all).
        rows: One row per group and period, sorted by key (None last) and period.
        planned: Total planned.
        actual: Total actual.
    """

    by: str
    period: str | None
    as_of: datetime
    currency: str | None
    rows: tuple[PlanRow, ...]
    planned: Decimal
    actual: Decimal


def period_label(moment: datetime, period: Period | None, tz: tzinfo) -> str:
    """The calendar period ``moment`` falls in, as a label, in the time zone ``tz``.

    Args:
        moment: An aware moment.
        period: ``"month"`` (``2024-03``), ``"quarter"`` (``2024-Q1``), ``"year"``
            (``2024``) or None (``all``).
        tz: The time zone whose calendar the periods follow.

    Returns:
        The label.
    """
    if period is None:
        return "all"
    day = moment.astimezone(tz)
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}"


def plan_vs_actual(
    portfolio: Portfolio | Iterable[ClientHistory],
    *,
    as_of: datetime,
    by: Grouping = "client",
    period: Period | None = "month",
    start: datetime | None = None,
    end: datetime | None = None,
    tz: tzinfo | str = UTC,
) -> PlanVsActual:
    """Compare planned orders with actual sales per group and period.

    Args:
        portfolio: The clients.
        as_of: Sales after this moment are not counted (aware).
        by: Group by ``"client"`` (default), ``"manager"`` (the client's account
            manager) or ``"portfolio"``.
        period: ``"month"`` (default), ``"quarter"``, ``"year"`` or None.
        start: Count orders dated at or after this moment; None = no bound.
        end: Count orders dated before this moment; None = no bound.
        tz: The time zone of the calendar periods; UTC.

    Returns:
        The rows and totals (only groups and periods with a plan or a sale appear).

    Raises:
        CurrencyMismatchError: If the orders counted are in two currencies.
        UsageError: For an unknown ``by`` or ``period``.
    """
    check_as_of(as_of)
    if by not in ("client", "manager", "portfolio"):
        raise UsageError(f"plan_vs_actual: by must be client, manager or portfolio, got {by!r}")
    if period not in ("month", "quarter", "year", None):
        raise UsageError(
            f"plan_vs_actual: period must be month, quarter, year or None, got {period!r}"
        )
    zone_ = resolve_zone(tz)
    groups: dict[tuple[str | None, str], tuple[list[Order], list[Order]]] = {}
    currencies: set[str] = set()
    for history in portfolio:
        if by == "client":
            key: str | None = history.client_id
        elif by == "manager":
            key = history.client.account_manager
        else:
            key = None
        for o in history.orders:
            if (start is not None and o.placed_at < start) or (
                end is not None and o.placed_at >= end
            ):
                continue
            if PLANNED_ORDER.test(o):
                slot = 0
            elif SALE.test(o) and o.placed_at <= as_of:
                slot = 1
            else:
                continue
            currencies.add(o.currency)
            groups.setdefault((key, period_label(o.placed_at, period, zone_)), ([], []))[
                slot
            ].append(o)
    if len(currencies) > 1:
        raise CurrencyMismatchError(currencies=currencies, context="planned versus actual")
    rows = []
    for (key, label), (planned, actual) in sorted(
        groups.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or "", kv[0][1])
    ):
        rows.append(
            PlanRow(
                key=key,
                period=label,
                planned=sum((o.amount for o in planned), Decimal(0)),
                actual=sum((o.amount for o in actual), Decimal(0)),
                planned_orders=len(planned),
                actual_orders=len(actual),
                planned_ids=tuple(sorted(o.order_id for o in planned)),
                actual_ids=tuple(sorted(o.order_id for o in actual)),
            )
        )
    return PlanVsActual(
        by=by,
        period=period,
        as_of=as_of,
        currency=next(iter(currencies)) if currencies else None,
        rows=tuple(rows),
        planned=sum((r.planned for r in rows), Decimal(0)),
        actual=sum((r.actual for r in rows), Decimal(0)),
    )
