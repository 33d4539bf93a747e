"""Client value: Pareto/ABC classes and the share of value held by the top clients.

The seed texts: 80-90% of profit comes from 10-20% of clients; know which clients
are most profitable. :func:`abc_classes` ranks clients by a value (revenue or
profit, see :func:`client_values`) and cuts the ranking on the cumulative share
of value; :func:`top_share` gives the share held by the top fraction of clients.

Rules:

* clients are ranked by value, highest first; equal values are ordered by client
  id, so the classes never depend on the order clients come in;
* the cumulative share is taken of the total *positive* value; a client is ``A``
  while the cumulative share *before* it is below the first cut-off (so the client
  that crosses 80% is still ``A``), ``B`` while it is below the second, else ``C``;
* clients with a value of zero or less are ``C`` (an unprofitable client never
  lands in ``A``); when no client has a positive value, every client is ``C``.

**Which value** (:class:`ValueBasis`, the report's ``value_basis`` policy,
:func:`value_classes`): the seed texts value a client by its profit (a one-off
buyer of 90,000 at a thin margin is worth less than a steady regular buyer), and
profit is only known where costs are (:mod:`relcycle.segmentation.cost`):

* ``profit``: classes on profit; a client whose profit is unknown is valued 0
  (class ``C``) and named as such;
* ``revenue``: classes on revenue;
* ``auto`` (the report's default): on profit when every client's profit is known
  (a client with no sale and nothing to cost counts a profit of 0), else on
  revenue. The report says in its summary (``value_basis``) which was used, and in
  its warnings why profit was not.

**Shares in words** (:func:`share_text`): every output that prints a share (the
summary's top share, the terminal summary, the HTML tiles and charts) rounds it
with the one function, to whole percent, half up; the top group of
:func:`top_share` is :func:`top_count` clients everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from typing import Literal, cast

import attrs

from relcycle._args import checked
from relcycle._decimal import CONTEXT
from relcycle._vocab import OrderedVocab, Vocab
from relcycle.errors import CurrencyMismatchError, UsageError
from relcycle.history import Portfolio

from ._util import to_decimal
from .cost import CostRates, CostToServe, cost_to_serve

__all__ = [
    "ValueBasis",
    "ValueClass",
    "ValueClasses",
    "abc_classes",
    "client_values",
    "known_profit",
    "share_text",
    "top_count",
    "top_share",
    "value_classes",
]

#: The shares' arithmetic: relcycle's context (not ``decimal.DefaultContext``,
#: which a program can change), an instance of its own.
_CTX = CONTEXT.copy()


class ValueClass(OrderedVocab):
    """A client's Pareto/ABC class, most valuable first (``A < B < C`` by rank)."""

    A = "A"
    B = "B"
    C = "C"


class ValueBasis(Vocab):
    """What the ABC classes rank clients by (see the module docs)."""

    revenue = "revenue"
    profit = "profit"
    auto = "auto"


def _ranking(values: Mapping[str, Decimal]) -> list[tuple[str, Decimal]]:
    for cid, v in values.items():
        if type(v) is not Decimal and type(cast(object, v)) is not int:
            raise UsageError(
                f"values: client {cid!r}: expected a Decimal, got {type(v).__name__} {v!r}"
            )
    # highest value first, ties by client id: sort by id, then (stably) by value
    ranking = sorted(values.items(), key=itemgetter(0))
    ranking.sort(key=itemgetter(1), reverse=True)
    return ranking


@checked
def abc_classes(
    values: Mapping[str, Decimal],
    *,
    cutoffs: tuple[Decimal | float, Decimal | float] = (Decimal("0.8"), Decimal("0.95")),
) -> dict[str, ValueClass]:
    """Give every client an ABC class from its share of the portfolio's value.

    Args:
        values: A value per client id (revenue or profit; Decimal).
        cutoffs: The cumulative shares ending class A and class B,
            ``0 < a <= b <= 1``; ``(0.8, 0.95)`` by default.

    Returns:
        A class for every client of ``values``, in ranking order (highest value first).

    Raises:
        UsageError: If the cut-offs are out of range or a value is not a Decimal.
    """
    a, b = (to_decimal(c, name="cutoffs") for c in cutoffs)
    if not Decimal(0) < a <= b <= Decimal(1):
        raise UsageError(f"abc_classes: cutoffs must satisfy 0 < a <= b <= 1, got {cutoffs!r}")
    ranking = _ranking(values)
    total = sum((v for _, v in ranking if v > 0), Decimal(0))
    result: dict[str, ValueClass] = {}
    before = Decimal(0)  # cumulative value before the client
    for cid, v in ranking:
        if v <= 0 or total <= 0:
            result[cid] = ValueClass.C
            continue
        # compare before/total < cutoff without dividing: before < cutoff * total
        if before < a * total:
            result[cid] = ValueClass.A
        elif before < b * total:
            result[cid] = ValueClass.B
        else:
            result[cid] = ValueClass.C
        before += v
    return result


@checked
def top_share(values: Mapping[str, Decimal], fraction: Decimal | float = Decimal("0.2")) -> Decimal:
    """The share of the total positive value held by the top ``fraction`` of clients.

    The top group is the ``ceil(fraction * n)`` clients with the highest values
    (ties by client id); only positive values count, on both sides of the share.

    Args:
        values: A value per client id (Decimal).
        fraction: The fraction of clients, ``0 < fraction <= 1``; 0.2 by default.

    Returns:
        A Decimal in [0, 1]; 0 when there are no clients or no positive value.

    Raises:
        UsageError: If ``fraction`` is out of range or a value is not a Decimal.
    """
    frac = to_decimal(fraction, name="fraction")
    if not Decimal(0) < frac <= Decimal(1):
        raise UsageError(f"top_share: fraction must satisfy 0 < fraction <= 1, got {fraction!r}")
    ranking = _ranking(values)
    total = sum((v for _, v in ranking if v > 0), Decimal(0))
    if not ranking or total <= 0:
        return Decimal(0)
    k = top_count(len(ranking), frac)
    top = sum((v for _, v in ranking[:k] if v > 0), Decimal(0))
    return _CTX.divide(top, total)


def top_count(clients: int, fraction: Decimal | float) -> int:
    """How many clients the top ``fraction`` of ``clients`` is: ``ceil(fraction * clients)``.

    The one count of :func:`top_share`, of the summary and of the HTML Pareto chart.

    Args:
        clients: How many clients there are.
        fraction: The top fraction, ``0 < fraction <= 1``.

    Returns:
        The number of clients in the top group (0 for no clients).
    """
    return math.ceil(to_decimal(fraction, name="fraction") * clients)


def share_text(share: Decimal | float) -> str:
    """A share (0.8765) as whole percent, rounded half up (``"88%"``).

    The one rounding of shares in every output: the summary, the terminal
    summary and the HTML report's tiles and charts.

    Args:
        share: A share, usually in [0, 1].

    Returns:
        The percentage text.
    """
    number = to_decimal(share, name="share") * 100
    return f"{number.quantize(Decimal(1), rounding=ROUND_HALF_UP):f}%"


def known_profit(cost: CostToServe) -> Decimal | None:
    """A client's profit for ranking: its profit, 0 with nothing sold and nothing to cost.

    Args:
        cost: The client's cost-to-serve.

    Returns:
        :attr:`~relcycle.segmentation.cost.CostToServe.profit`; 0 for a client with
        no revenue and no missing rate (nothing earned, nothing spent); None when
        the profit is unknown.
    """
    if cost.profit is None and cost.revenue == 0 and not cost.missing_rates:
        return Decimal(0)
    return cost.profit


@attrs.frozen(kw_only=True)
class ValueClasses:
    """The ABC classes of a portfolio and the value they were ranked on.

    Attributes:
        classes: A class per client id.
        basis: The basis used: ``revenue`` or ``profit`` (never ``auto``).
        unknown: The clients whose profit is unknown, sorted (with ``profit``
            basis they were valued 0; with ``auto`` they made the basis revenue).
    """

    classes: dict[str, ValueClass]
    basis: ValueBasis
    unknown: tuple[str, ...]


def value_classes(
    revenue: Mapping[str, Decimal],
    profit: Mapping[str, Decimal | None],
    *,
    basis: ValueBasis | str = ValueBasis.auto,
    cutoffs: tuple[Decimal | float, Decimal | float] = (Decimal("0.8"), Decimal("0.95")),
) -> ValueClasses:
    """ABC classes on revenue or profit, as ``basis`` says (see the module docs).

    Args:
        revenue: Every client's revenue.
        profit: Every client's profit (:func:`known_profit`; None: unknown).
        basis: ``revenue``, ``profit`` or ``auto``.
        cutoffs: As :func:`abc_classes`.

    Returns:
        The classes, the basis used and the clients of unknown profit.

    Raises:
        UsageError: For an unknown ``basis``, a client in one mapping only, or
            bad cut-offs.
    """
    try:
        wanted = ValueBasis.parse(basis)
    except ValueError as exc:
        raise UsageError(f"value_classes: basis {basis!r}: {exc}") from None
    if revenue.keys() != profit.keys():
        odd = sorted(set(revenue).symmetric_difference(profit))
        raise UsageError(f"value_classes: clients {odd[:5]!r} have a revenue or a profit only")
    unknown = tuple(sorted(cid for cid, p in profit.items() if p is None))
    used = wanted
    if wanted is ValueBasis.auto:
        used = ValueBasis.revenue if unknown or not profit else ValueBasis.profit
    if used is ValueBasis.profit:
        values = {cid: Decimal(0) if p is None else p for cid, p in profit.items()}
    else:
        values = dict(revenue)
    return ValueClasses(classes=abc_classes(values, cutoffs=cutoffs), basis=used, unknown=unknown)


def client_values(
    portfolio: Portfolio,
    *,
    as_of: datetime,
    basis: Literal["revenue", "profit"] = "revenue",
    rates: CostRates | None = None,
    since: datetime | None = None,
) -> dict[str, Decimal]:
    """The value of every client of ``portfolio``, for :func:`abc_classes` and :func:`top_share`.

    Args:
        portfolio: The clients.
        as_of: Records after this moment are ignored.
        basis: ``"revenue"`` (default) or ``"profit"`` (see
            :mod:`relcycle.segmentation.cost`). With ``"profit"``, a client without
            cost data is valued 0 (so it is class ``C``): its profit is unknown.
        rates: Cost rates for ``basis="profit"``.
        since: Only records at or after this moment count (a period).

    Returns:
        A Decimal per client id, every client included (0 for clients without sales).

    Raises:
        CurrencyMismatchError: If clients' sales are in two or more currencies.
        UsageError: For an unknown ``basis``.
    """
    if basis not in ("revenue", "profit"):
        raise UsageError(f"client_values: basis must be 'revenue' or 'profit', got {basis!r}")
    costs: list[CostToServe] = [
        cost_to_serve(h, as_of=as_of, rates=rates, since=since) for h in portfolio
    ]
    currencies = {c.currency for c in costs if c.currency is not None}
    if len(currencies) > 1:
        raise CurrencyMismatchError(currencies=currencies, context="client values")
    result: dict[str, Decimal] = {}
    for c in costs:
        if basis == "revenue":
            result[c.client_id] = c.revenue
        else:
            result[c.client_id] = c.profit if c.profit is not None else Decimal(0)
    return result
