"""Regularity of demand: regular, irregular, one-off or no buyer, and overdue orders.

The seed texts: a client who buys little but regularly over a long time is usually
worth more than a one-off client with a big random order, and deserves better
service. A regular client whose next order is late is a signal worth acting on.

Rules (thresholds in :class:`RegularityPolicy`):

* purchase days are the distinct calendar days (in ``tz``) of the client's sales
  (``placed``/``delivered``) up to ``as_of``, within the policy's window if any;
* ``none``: no purchase day; ``one_off``: exactly one;
* the gaps are the day counts between consecutive purchase days; with at least
  :attr:`~RegularityPolicy.min_gaps` gaps and a coefficient of variation
  (population standard deviation / mean) of at most
  :attr:`~RegularityPolicy.max_cv`, the client is ``regular``; otherwise ``irregular``;
* for a regular client, the next order is expected on the last purchase day plus
  the mean gap (rounded half up to whole days); it is **overdue** when the days
  since the last purchase exceed the mean gap times
  :attr:`~RegularityPolicy.overdue_factor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache

import attrs

from relcycle._args import checked
from relcycle._decimal import CONTEXT
from relcycle._vocab import Vocab
from relcycle._zones import resolve_zone
from relcycle.decisions import (
    Case,
    DecisionList,
    day_input,
    days_input,
    lit,
    plural,
    ratio_digits,
    ratio_text,
    round_half_up,
    sqrt_ratio_text,
    text,
)
from relcycle.errors import UsageError
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory

from ._util import check_as_of, day_of, nonneg_field, opt_days, positive_int, sales

__all__ = [
    "Regularity",
    "RegularityAssessment",
    "RegularityPolicy",
    "assess_regularity",
    "cv_text",
    "mean_gap_text",
    "regular_gaps",
    "regularity_decision",
    "regularity_from_days",
]

#: The figures' arithmetic: relcycle's context (not ``decimal.DefaultContext``,
#: which a program can change) with 34 digits, an instance of its own.
_CTX = CONTEXT.copy()
_CTX.prec = 34


class Regularity(Vocab):
    """How regularly a client buys (the contract's ``regularity`` values)."""

    regular = "regular"
    irregular = "irregular"
    one_off = "one_off"
    none = "none"


@attrs.frozen(kw_only=True, cache_hash=True)
class RegularityPolicy:
    """Thresholds of the regularity rules.

    Attributes:
        min_gaps: Gaps (purchase days - 1) needed to call a client regular; 3.
        max_cv: Highest coefficient of variation of the gaps for ``regular``; 0.5.
        overdue_factor: A regular client is overdue when the days since its last
            purchase exceed ``mean gap * overdue_factor``; 1.5.
        window_days: Only purchase days within this many days before ``as_of``
            count; None (default) = the whole history.
    """

    min_gaps: int = 3
    max_cv: Decimal = Decimal("0.5")
    overdue_factor: Decimal = Decimal("1.5")
    window_days: int | None = None

    def __attrs_post_init__(self) -> None:
        positive_int(self, "min_gaps", self.min_gaps)
        opt_days(self, "window_days", self.window_days)
        for f in ("max_cv", "overdue_factor"):
            object.__setattr__(self, f, nonneg_field(self, f, getattr(self, f)))


@attrs.frozen(kw_only=True)
class RegularityAssessment:
    """How regularly a client buys, as of a moment.

    Attributes:
        client_id: The client.
        regularity: ``regular``, ``irregular``, ``one_off`` or ``none``.
        purchase_days: The distinct purchase days counted, oldest first.
        mean_gap: Mean days between purchase days (None with fewer than two).
        cv: Coefficient of variation of the gaps (None with fewer than two
            purchase days; 0 when all gaps are equal).
        next_expected: For a regular client, the day its next order is expected.
        overdue: True for a regular client whose next order is late (see the module docs).
        days_since_last: Days from the last purchase day to the day of ``as_of``.
        evidence: The figures and the sales counted.
    """

    client_id: str
    regularity: Regularity
    purchase_days: tuple[date, ...]
    mean_gap: Decimal | None
    cv: Decimal | None
    next_expected: date | None
    overdue: bool
    days_since_last: int | None
    evidence: Evidence


@checked
def assess_regularity(
    history: ClientHistory,
    *,
    as_of: datetime,
    policy: RegularityPolicy | None = None,
    tz: tzinfo | str = UTC,
) -> RegularityAssessment:
    """Classify how regularly a client buys and whether its next order is overdue.

    Args:
        history: The client's history.
        as_of: The moment of the assessment (aware).
        policy: Thresholds; ``RegularityPolicy()`` by default.
        tz: The time zone whose calendar days count; UTC by default.

    Returns:
        The assessment with its evidence.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    check_as_of(as_of)
    policy = RegularityPolicy() if policy is None else policy
    zone_ = resolve_zone(tz)
    counted = sales(history, as_of)
    if policy.window_days is not None:
        start = as_of - timedelta(days=policy.window_days)
        counted = tuple(o for o in counted if o.placed_at > start)
    ids = tuple(o.order_id for o in counted)
    days = tuple(sorted({o.placed_at.astimezone(zone_).date() for o in counted}))  # day_of()
    # The day of as_of is needed only with a sale (and a moment at the edge of
    # datetime's range may have no day in the zone).
    as_of_day = day_of(as_of, zone_) if days else None
    return regularity_from_days(history.client_id, days, ids, as_of_day=as_of_day, policy=policy)


def regularity_from_days(
    client_id: str,
    days: tuple[date, ...],
    record_ids: Sequence[str],
    *,
    as_of_day: date | None,
    policy: RegularityPolicy,
) -> RegularityAssessment:
    """The regularity verdict from a client's purchase days (the rules of the module docs).

    :func:`assess_regularity` collects the inputs from a history; the columnar
    path collects the same inputs from tables and calls this function, so both
    paths share one implementation of the rules. The rules themselves are the
    declared decision :func:`regularity_decision`, which also compiles to polars.

    Args:
        client_id: The client.
        days: The distinct purchase days counted (in the policy's window), oldest first.
        record_ids: The ids of the sales counted, oldest first (the evidence).
        as_of_day: The calendar day (in the zone of ``days``) of the assessment's
            moment; only read when there is a purchase day.
        policy: The thresholds (its window only names the window in the evidence).

    Returns:
        The assessment with its evidence.

    Raises:
        UsageError: If there are purchase days but no ``as_of_day``.
    """
    if days and as_of_day is None:
        raise UsageError("regularity_from_days: as_of_day is needed when there are purchase days")
    verdict, why, next_expected, overdue, since_last, n, total, spread = regularity_decision(
        policy
    ).function(days, as_of_day)
    mean, cv = _decimal_figures(n, total, spread) if n > 0 else (None, None)
    return RegularityAssessment(
        client_id=client_id,
        regularity=_REGULARITY[verdict],
        purchase_days=days,
        mean_gap=mean,
        cv=cv,
        next_expected=next_expected,
        overdue=overdue,
        days_since_last=since_last,
        evidence=Evidence(why, record_ids if days else ()),
    )


_REGULARITY = {r.value: r for r in Regularity}


@lru_cache(maxsize=64)
def regularity_decision(policy: RegularityPolicy) -> DecisionList:
    """The regularity rules of ``policy``, declared once (:mod:`relcycle.decisions`).

    Its inputs are ``days`` (the distinct purchase days counted, oldest first)
    and ``as_of_day`` (the day of the moment); its outputs, in order:
    ``regularity`` (the verdict's value), ``evidence`` (the sentence),
    ``next_expected``, ``overdue``, ``days_since_last``, and the integers the
    figures are computed from: ``gaps`` (n), ``gap_sum`` (S) and ``spread``
    (``nQ - S²``, Q the sum of the squared gaps). Its named values are the
    rule of regular buying alone (``regular``) and ``gaps``, ``gap_sum`` and
    ``spread`` (:func:`regular_gaps` asks them). :func:`regularity_from_days`
    evaluates it in Python; :func:`relcycle.columnar.regularity_frame` compiles
    it to polars (:meth:`~relcycle.decisions.DecisionList.over`).

    Every figure is an integer and every comparison exact: ``cv <= max_cv`` for
    ``max_cv = a / b`` is ``(nQ - S²) b² <= a² S²``, "overdue" is
    ``days since · n · d > S · f`` for ``overdue_factor = f / d``, the next
    order is due ``S / n`` days (rounded half up) after the last purchase day,
    and the printed mean gap and cv are rounded half even to one and two places.
    """
    days = days_input("days")
    today = day_input("as_of_day")
    n_days = days.count().named("purchase days")
    n = (n_days - 1).named("n")
    total = (days.last() - days.first()).named("S")
    spread = (n * days.gap_squares() - total * total).named("nQ - S²")
    a, b = policy.max_cv.as_integer_ratio()
    factor, per = policy.overdue_factor.as_integer_ratio()
    regular = ((n >= policy.min_gaps) & (spread * (b * b) <= (a * a) * total * total)).named(
        "regular"
    )
    since = (today - days.last()).named("days since the last")
    overdue = (since * n * per > total * factor).named("overdue")
    next_expected = (days.last() + round_half_up(total, n)).named("next expected")
    window = _window_text(policy)
    figures = text(
        n_days,
        " purchase days, ",
        plural(n, "gap"),
        ", mean gap ",
        ratio_text(total, n, 1),
        " days, cv ",
        sqrt_ratio_text(spread, total, 2),
    ).named("figures")
    none = lit(None, "date")
    counts = {"gaps": n, "gap_sum": total, "spread": spread}
    empty = {"gaps": 0, "gap_sum": 0, "spread": 0}
    return DecisionList.define(
        "regularity",
        inputs=(days, today),
        outputs={
            "regularity": "text",
            "evidence": "text",
            "next_expected": "date",
            "overdue": "bool",
            "days_since_last": "int",
            "gaps": "int",
            "gap_sum": "int",
            "spread": "int",
        },
        cases=[
            Case(
                n_days == 0,
                regularity="none",
                evidence="no sale" + window,
                next_expected=None,
                overdue=False,
                days_since_last=None,
                **empty,
            ),
            Case(
                n_days == 1,
                regularity="one_off",
                evidence=text("one purchase day (", days.first(), ")", window),
                next_expected=none,
                overdue=False,
                days_since_last=since,
                **empty,
            ),
            Case(
                n < policy.min_gaps,
                regularity="irregular",
                evidence=text(figures, f": irregular (fewer than {policy.min_gaps} gaps)", window),
                next_expected=none,
                overdue=False,
                days_since_last=since,
                **counts,
            ),
            Case(
                ~regular,
                regularity="irregular",
                evidence=text(figures, f": irregular (cv above {policy.max_cv})", window),
                next_expected=none,
                overdue=False,
                days_since_last=since,
                **counts,
            ),
            Case(
                overdue,
                regularity="regular",
                evidence=text(
                    figures,
                    ": regular; next order expected ",
                    next_expected,
                    ", overdue (",
                    since,
                    " days since the last purchase)",
                    window,
                ),
                next_expected=next_expected,
                overdue=True,
                days_since_last=since,
                **counts,
            ),
            Case(
                None,
                regularity="regular",
                evidence=text(figures, ": regular; next order expected ", next_expected, window),
                next_expected=next_expected,
                overdue=False,
                days_since_last=since,
                **counts,
            ),
        ],
        values={"regular": regular, "gaps": n, "gap_sum": total, "spread": spread},
    )


def regular_gaps(days: Sequence[date], policy: RegularityPolicy) -> tuple[Decimal, Decimal] | None:
    """``(mean gap, cv)`` of purchase days the rule calls regular, else None.

    The decision :func:`regularity_from_days` makes (the named value ``regular``
    of :func:`regularity_decision`), without building an assessment: the ladder
    asks it at every sale of a buyer.

    Args:
        days: Distinct purchase days, oldest first.
        policy: The thresholds.
    """
    if len(days) <= policy.min_gaps:
        return None
    regular, n, total, spread = regularity_decision(policy).value(
        "regular", "gaps", "gap_sum", "spread"
    )(days, None)
    return _decimal_figures(n, total, spread) if regular else None


def mean_gap_text(mean: Decimal) -> str:
    """A mean gap for people: days to one decimal place, rounded half even (the
    rounding the regularity sentence's ``ratio_text`` does)."""
    return ratio_digits(*mean.as_integer_ratio(), 1)


def cv_text(cv: Decimal) -> str:
    """A coefficient of variation for people: two decimal places, rounded half even."""
    return ratio_digits(*cv.as_integer_ratio(), 2)


@lru_cache(maxsize=4096)
def _decimal_figures(n: int, total: int, spread: int) -> tuple[Decimal, Decimal]:
    """The mean gap ``S / n`` and the cv ``sqrt(nQ - S²) / S`` (0 when every gap is
    the same) to 34 significant digits, from the exact integers, in relcycle's own
    context (not the caller's). Many clients share them (one gap of 7 days)."""
    mean = _CTX.divide(Decimal(total), Decimal(n))
    cv = _CTX.divide(_CTX.sqrt(Decimal(spread)), Decimal(total)) if spread else Decimal(0)
    return mean, cv


def _window_text(policy: RegularityPolicy) -> str:
    return "" if policy.window_days is None else f" in the last {policy.window_days} days"
