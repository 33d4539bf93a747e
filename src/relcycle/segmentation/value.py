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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Context, Decimal
from operator import itemgetter
from typing import Literal, cast

from relcycle._args import checked
from relcycle._vocab import OrderedVocab
from relcycle.errors import CurrencyMismatchError, UsageError
from relcycle.history import Portfolio

from ._util import to_decimal
from .cost import CostRates, CostToServe, cost_to_serve

__all__ = ["ValueClass", "abc_classes", "client_values", "top_share"]

_CTX = Context(prec=28)


class ValueClass(OrderedVocab):
    """A client's Pareto/ABC class, most valuable first (``A < B < C`` by rank)."""

    A = "A"
    B = "B"
    C = "C"


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
    k = math.ceil(frac * len(ranking))
    top = sum((v for _, v in ranking[:k] if v > 0), Decimal(0))
    return _CTX.divide(top, total)


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
