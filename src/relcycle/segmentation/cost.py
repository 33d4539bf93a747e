"""Cost-to-serve and profit per client.

The seed texts count the "cost" of a client as the marketing spent on it and the
time of the supplier's specialists and managers; profit per client is revenue
minus cost of goods minus that cost-to-serve.

Definitions (all money is :class:`~decimal.Decimal`, in the client's one currency):

* **revenue**: the sum of ``amount`` over the client's *sales* (orders ``placed`` or
  ``delivered``) placed up to ``as_of`` (and from ``since``, when given). Planned,
  cancelled and returned orders are not revenue.
* **cost of goods**: the sum of ``cost`` over those sales that give one.
* **time cost**: for each interaction with ``minutes``, ``minutes / 60`` times the
  hourly rate that applies to it: the rate of its ``handled_by`` employee
  (:attr:`CostRates.employee_rates`), else the rate of that employee's role
  (:attr:`CostRates.employee_roles` and :attr:`CostRates.role_rates`), else
  :attr:`CostRates.default_rate`. With no rate, the minutes are not costed.
* **marketing cost**: the number of interactions with purpose ``marketing`` times
  :attr:`CostRates.marketing_per_touch` (when set).
* **cost-to-serve** = time cost + marketing cost; **profit** = revenue - cost of
  goods - cost-to-serve.

Cost-to-serve is **unknown** (cost-to-serve and profit are None), never a silent 0,
in two cases:

* **a rate is missing**: an interaction has ``minutes`` and no hourly rate applies
  to it (no :attr:`CostRates.employee_rates` entry, no role rate, no
  :attr:`CostRates.default_rate`), or the client has ``marketing`` touches and
  :attr:`CostRates.marketing_per_touch` is not set. The time was spent: without
  its rate its cost is not 0 but not known. :attr:`CostToServe.missing_rates`
  names the rates to set (``default_rate``, ``marketing_per_touch``) and
  :attr:`CostToServe.unrated_employees` the employees whose minutes had no rate;
  the report says so in its warnings and in the client's explanation. A rate of
  ``"0"`` says that a driver really costs nothing.
* **no cost data** at all: no sale of the client gives a ``cost``, and it has
  neither minutes nor marketing touches to price.

Otherwise cost-to-serve and profit are numbers. Sales without a ``cost`` are
listed in :attr:`CostToServe.uncosted_ids` (their cost of goods counts 0), so a
partial cost of goods is never mistaken for a complete one. Interactions without
``minutes`` cost no time: the history holds none for them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from relcycle._args import checked
from relcycle.errors import CurrencyMismatchError, ValidationError
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory
from relcycle.model import FrozenMap
from relcycle.rules import MARKETING_TOUCH

from ._util import check_as_of, money_field, sales

__all__ = [
    "CostRates",
    "CostToServe",
    "cost_currency",
    "cost_from_figures",
    "cost_to_serve",
    "minutes_cost",
    "missing_rates_text",
]

_SIXTY = Decimal(60)


def _rates(value: Mapping[str, object] | None) -> FrozenMap[str, Decimal]:
    if value is None:
        return FrozenMap()
    result: dict[str, Decimal] = {}
    for key, rate in value.items():
        number = money_field(CostRates, f"rate[{key!r}]", rate)
        result[key] = number
    return FrozenMap(result)


def _roles(value: Mapping[str, str] | None) -> FrozenMap[str, str]:
    if value is None:
        return FrozenMap()
    for key, role in value.items():
        if type(key) is not str or type(role) is not str:
            raise ValidationError(
                record="CostRates",
                field="employee_roles",
                value={key: role},
                reason="expected a mapping of employee id to role name",
            )
    return FrozenMap(value)


def _opt_money(value: object) -> Decimal | None:
    return None if value is None else money_field(CostRates, "rate", value)


@attrs.frozen(kw_only=True)
class CostRates:
    """The supplier's cost rates (hourly rates and the price of a marketing touch).

    Rates are money per hour in :attr:`currency` (or in the client's currency when
    :attr:`currency` is None). Decimals, ints and decimal strings are accepted.

    Attributes:
        default_rate: Hourly rate for minutes whose employee and role have no rate;
            None (default) leaves such minutes uncosted.
        employee_rates: Hourly rate by employee id (``handled_by``).
        employee_roles: Role by employee id (``{"e7": "engineer"}``).
        role_rates: Hourly rate by role.
        marketing_per_touch: Cost of one ``marketing`` interaction; None (default)
            prices no marketing.
        currency: The currency of the rates; None (default) means "the client's
            currency". When set, a client whose sales are in another currency is
            refused (:class:`~relcycle.errors.CurrencyMismatchError`).
    """

    default_rate: Decimal | None = attrs.field(default=None, converter=_opt_money)
    employee_rates: FrozenMap[str, Decimal] = attrs.field(factory=FrozenMap, converter=_rates)
    employee_roles: FrozenMap[str, str] = attrs.field(factory=FrozenMap, converter=_roles)
    role_rates: FrozenMap[str, Decimal] = attrs.field(factory=FrozenMap, converter=_rates)
    marketing_per_touch: Decimal | None = attrs.field(default=None, converter=_opt_money)
    currency: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.currency is not None and (
            type(self.currency) is not str
            or len(self.currency) != 3
            or not self.currency.isascii()
            or not self.currency.isupper()
        ):
            raise ValidationError(
                record="CostRates",
                field="currency",
                value=self.currency,
                reason="must be a three-letter upper-case ISO 4217 code such as 'EUR'",
            )

    def rate_for(self, employee: str | None) -> Decimal | None:
        """The hourly rate that applies to ``employee`` (see the module docs), or None."""
        if employee is not None:
            if employee in self.employee_rates:
                return self.employee_rates[employee]
            role = self.employee_roles.get(employee)
            if role is not None and role in self.role_rates:
                return self.role_rates[role]
        return self.default_rate


@attrs.frozen(kw_only=True)
class CostToServe:
    """A client's revenue, cost-to-serve and profit as of a moment.

    Attributes:
        client_id: The client.
        currency: The currency of every amount; None when the client has no sale
            and :attr:`CostRates.currency` is None.
        revenue: Sum of the sales.
        cost_of_goods: Sum of ``cost`` of the sales that give one (0 when none do).
        time_cost: Cost of the minutes spent, where a rate applies.
        marketing_cost: Cost of the marketing touches, where priced.
        cost_to_serve: ``time_cost + marketing_cost``, or None when unknown (a rate
            is missing, or no cost data).
        profit: ``revenue - cost_of_goods - cost_to_serve``, or None when unknown.
        uncosted_ids: Sales without ``cost``, then the interactions with minutes but
            no rate and the unpriced marketing touches (empty without cost data).
        missing_rates: The :class:`CostRates` fields whose absence leaves the cost
            unknown, in field order: ``default_rate`` (minutes without a rate),
            ``marketing_per_touch`` (marketing touches without a price).
        unrated_employees: The ``handled_by`` ids of minutes without a rate, sorted
            (``""`` for minutes handled by nobody named).
        evidence: The records costed and the figures.
    """

    client_id: str
    currency: str | None
    revenue: Decimal
    cost_of_goods: Decimal
    time_cost: Decimal
    marketing_cost: Decimal
    cost_to_serve: Decimal | None
    profit: Decimal | None
    uncosted_ids: tuple[str, ...]
    evidence: Evidence
    missing_rates: tuple[str, ...] = ()
    unrated_employees: tuple[str, ...] = ()

    @property
    def has_cost_data(self) -> bool:
        """True when the client's cost is known (profit is a number)."""
        return self.profit is not None

    @property
    def unprofitable(self) -> bool:
        """True when profit is known and below zero."""
        return self.profit is not None and self.profit < 0


@checked
def cost_to_serve(
    history: ClientHistory,
    *,
    as_of: datetime,
    rates: CostRates | None = None,
    since: datetime | None = None,
) -> CostToServe:
    """Compute a client's revenue, cost-to-serve and profit as of ``as_of``.

    Args:
        history: The client's history.
        as_of: Records after this moment are ignored.
        rates: The cost rates; ``CostRates()`` (nothing priced) by default.
        since: When given, only records at or after this moment count (a period).

    Returns:
        The figures with their evidence; see the module docs for the definitions.

    Raises:
        CurrencyMismatchError: If the client's sales are in two currencies, or not
            in ``rates.currency``.
        ValidationError: If ``as_of`` or ``since`` is not timezone-aware.
    """
    check_as_of(as_of)
    if since is not None:
        check_as_of(since)
    rates = CostRates() if rates is None else rates
    view = history.as_of(as_of)
    counted = [o for o in sales(history, as_of) if since is None or o.placed_at >= since]
    currency = cost_currency(history.client_id, {o.currency for o in counted}, rates)
    revenue = sum((o.amount for o in counted), Decimal(0))
    cogs = Decimal(0)
    costed: list[str] = []
    uncosted: list[str] = []
    for o in counted:
        if o.cost is None:
            uncosted.append(o.order_id)
        else:
            cogs += o.cost
            costed.append(o.order_id)
    time_cost = Decimal(0)
    marketing = Decimal(0)
    priced_touches = 0
    unrated: set[str] = set()
    unpriced: list[str] = []
    for i in view.interactions:
        if since is not None and i.at < since:
            continue
        if i.minutes is not None:
            rate = rates.rate_for(i.handled_by)
            if rate is None:
                uncosted.append(i.interaction_id)
                unrated.add(i.handled_by or "")
            else:
                time_cost += minutes_cost(i.minutes, rate)
                costed.append(i.interaction_id)
        if MARKETING_TOUCH.test(i):
            if rates.marketing_per_touch is None:
                unpriced.append(i.interaction_id)
            else:
                marketing += rates.marketing_per_touch
                priced_touches += 1
                costed.append(i.interaction_id)
    return cost_from_figures(
        history.client_id,
        currency=currency,
        revenue=revenue,
        cost_of_goods=cogs,
        time_cost=time_cost,
        marketing_cost=marketing,
        priced_touches=priced_touches,
        sale_ids=[o.order_id for o in counted],
        costed_ids=costed,
        uncosted_ids=uncosted,
        unrated_employees=unrated,
        unpriced_touch_ids=unpriced,
    )


def missing_rates_text(missing: Collection[str], employees: Collection[str] = ()) -> str:
    """Say which cost rates to set, for a warning or an explanation.

    Args:
        missing: :attr:`CostToServe.missing_rates` (of one client or many).
        employees: :attr:`CostToServe.unrated_employees` (of one client or many).

    Returns:
        ``"no hourly rate for the minutes of SV01, SV02 (set cost_rates.default_rate,
        or employee_rates / role_rates for them); no price for marketing touches (set
        cost_rates.marketing_per_touch)"``; the names are shown up to five.
    """
    parts = []
    if "default_rate" in missing:
        named = sorted(e for e in employees if e)
        whose = ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
        if "" in employees:
            whose = (whose + " and " if whose else "") + "unnamed staff"
        parts.append(
            f"no hourly rate for the minutes of {whose or 'the client'} (set "
            "cost_rates.default_rate, or employee_rates / role_rates for them)"
        )
    if "marketing_per_touch" in missing:
        parts.append("no price for marketing touches (set cost_rates.marketing_per_touch)")
    return "; ".join(parts)


def minutes_cost(minutes: Decimal, rate: Decimal) -> Decimal:
    """The cost of ``minutes`` at an hourly ``rate`` (``minutes * rate / 60``)."""
    return minutes * rate / _SIXTY


def cost_currency(client_id: str, currencies: Collection[str], rates: CostRates) -> str | None:
    """The currency of a client's cost figures, from the currencies of its sales counted.

    Args:
        client_id: The client (named in errors).
        currencies: The distinct currencies of the sales counted.
        rates: The cost rates (:attr:`CostRates.currency`, when set, wins).

    Returns:
        The one currency, or None with no sale and no currency in ``rates``.

    Raises:
        CurrencyMismatchError: If the sales are in two currencies, or not in
            ``rates.currency``.
    """
    if len(currencies) > 1:
        raise CurrencyMismatchError(
            currencies=currencies, context=f"the revenue of client {client_id!r}"
        )
    currency = next(iter(currencies)) if currencies else None
    if rates.currency is not None:
        if currency is not None and currency != rates.currency:
            raise CurrencyMismatchError(
                currencies=(currency, rates.currency),
                context=f"the cost-to-serve of client {client_id!r}",
            )
        currency = rates.currency
    return currency


def cost_from_figures(
    client_id: str,
    *,
    currency: str | None,
    revenue: Decimal,
    cost_of_goods: Decimal,
    time_cost: Decimal,
    marketing_cost: Decimal,
    priced_touches: int,
    sale_ids: list[str],
    costed_ids: list[str],
    uncosted_ids: list[str],
    unrated_employees: Collection[str] = (),
    unpriced_touch_ids: list[str] | None = None,
) -> CostToServe:
    """Cost-to-serve and profit from a client's summed figures (the module docs' rules).

    :func:`cost_to_serve` sums the figures from a history; the columnar path
    sums the same figures from tables and calls this function, so both paths
    share one implementation of the verdict.

    Args:
        client_id: The client.
        currency: The figures' currency (:func:`cost_currency`).
        revenue: Sum of the sales' amounts.
        cost_of_goods: Sum of the sales' costs, where given.
        time_cost: Sum of :func:`minutes_cost` over the interactions with a rate.
        marketing_cost: The price of the priced marketing touches, summed.
        priced_touches: How many marketing touches were priced.
        sale_ids: The sales counted, oldest first.
        costed_ids: The sales with a cost, then the interactions costed (minutes
            priced or a priced marketing touch), each in the model's order.
        uncosted_ids: The sales without a cost, then the interactions with
            minutes but no rate, each in the model's order.
        unrated_employees: The ``handled_by`` of the minutes without a rate
            (``""`` for nobody named); any makes the cost unknown.
        unpriced_touch_ids: The marketing touches left unpriced because
            :attr:`CostRates.marketing_per_touch` is not set; any makes the cost
            unknown.

    Returns:
        The figures with their evidence.
    """
    unpriced = unpriced_touch_ids or []
    employees = tuple(sorted(set(unrated_employees)))
    missing = (("default_rate",) if employees else ()) + (
        ("marketing_per_touch",) if unpriced else ()
    )
    uncosted = uncosted_ids + unpriced
    serve: Decimal | None = None
    profit: Decimal | None = None
    if missing:
        reason = f"revenue {revenue}; cost unknown: {missing_rates_text(missing, employees)}"
    elif costed_ids:
        serve = time_cost + marketing_cost
        profit = revenue - cost_of_goods - time_cost - marketing_cost
        reason = (
            f"revenue {revenue}, cost of goods {cost_of_goods}, time {time_cost}, "
            f"marketing {marketing_cost} ({priced_touches} touches): profit {profit}"
            + (f"; {len(uncosted)} record(s) without cost data" if uncosted else "")
        )
    else:
        uncosted = []
        reason = f"revenue {revenue}; no cost data (no order cost, no minutes, no touches)"
    if currency is not None:
        reason += f" {currency}"
    return CostToServe(
        client_id=client_id,
        currency=currency,
        revenue=revenue,
        cost_of_goods=cost_of_goods,
        time_cost=time_cost,
        marketing_cost=marketing_cost,
        cost_to_serve=serve,
        profit=profit,
        uncosted_ids=tuple(uncosted),
        evidence=Evidence(reason, sale_ids + costed_ids),
        missing_rates=missing,
        unrated_employees=employees,
    )
