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
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import pairwise
from typing import NamedTuple

import attrs

from relcycle._args import checked
from relcycle._decimal import CONTEXT
from relcycle._repr import count
from relcycle._vocab import Vocab
from relcycle._zones import resolve_zone
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


@attrs.frozen(kw_only=True)
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
    paths share one implementation of the rules.

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
    if not days:
        return RegularityAssessment(
            client_id=client_id,
            regularity=Regularity.none,
            purchase_days=(),
            mean_gap=None,
            cv=None,
            next_expected=None,
            overdue=False,
            days_since_last=None,
            evidence=Evidence("no sale" + _window_text(policy)),
        )
    if as_of_day is None:
        raise UsageError("regularity_from_days: as_of_day is needed when there are purchase days")
    since_last = (as_of_day - days[-1]).days
    if len(days) == 1:
        return RegularityAssessment(
            client_id=client_id,
            regularity=Regularity.one_off,
            purchase_days=days,
            mean_gap=None,
            cv=None,
            next_expected=None,
            overdue=False,
            days_since_last=since_last,
            evidence=Evidence(f"one purchase day ({days[0]})" + _window_text(policy), record_ids),
        )
    gaps = tuple([(b - a).days for a, b in pairwise(days)])
    figures = _figures(gaps)
    mean, cv, text = figures.mean, figures.cv, figures.text
    if not _is_regular(figures, policy):
        why = (
            f"fewer than {policy.min_gaps} gaps"
            if len(gaps) < policy.min_gaps
            else f"cv above {policy.max_cv}"
        )
        return RegularityAssessment(
            client_id=client_id,
            regularity=Regularity.irregular,
            purchase_days=days,
            mean_gap=mean,
            cv=cv,
            next_expected=None,
            overdue=False,
            days_since_last=since_last,
            evidence=Evidence(f"{text}: irregular ({why})" + _window_text(policy), record_ids),
        )
    step = int(mean.to_integral_value(rounding=ROUND_HALF_UP))
    next_expected = days[-1] + timedelta(days=step)
    # since_last > (S / n) * factor, in integers: exact, whatever the decimal context
    factor, per = policy.overdue_factor.as_integer_ratio()
    overdue = since_last * figures.n * per > figures.total * factor
    text += f": regular; next order expected {next_expected}"
    if overdue:
        text += f", overdue ({since_last} days since the last purchase)"
    return RegularityAssessment(
        client_id=client_id,
        regularity=Regularity.regular,
        purchase_days=days,
        mean_gap=mean,
        cv=cv,
        next_expected=next_expected,
        overdue=overdue,
        days_since_last=since_last,
        evidence=Evidence(text + _window_text(policy), record_ids),
    )


def _is_regular(figures: _Gaps, policy: RegularityPolicy) -> bool:
    """The rule of regular buying: enough gaps, and even enough.

    ``cv <= max_cv`` is decided exactly, in integers: with ``n`` gaps of sum
    ``S`` and sum of squares ``Q``, ``cv = sqrt(nQ - S²) / S``, so for
    ``max_cv = a / b`` the rule is ``(nQ - S²) b² <= a² S²`` (a tie is a tie,
    whatever the decimal context).
    """
    if figures.n < policy.min_gaps:
        return False
    a, b = policy.max_cv.as_integer_ratio()
    return figures.spread * b * b <= a * a * figures.total * figures.total


def regular_gaps(days: Sequence[date], policy: RegularityPolicy) -> tuple[Decimal, Decimal] | None:
    """``(mean gap, cv)`` of purchase days the rule calls regular, else None.

    The decision :func:`regularity_from_days` makes, without building an
    assessment: the ladder asks it at every sale of a buyer.

    Args:
        days: Distinct purchase days, oldest first.
        policy: The thresholds.
    """
    if len(days) <= policy.min_gaps:
        return None
    figures = _figures(tuple([(b - a).days for a, b in pairwise(days)]))
    return (figures.mean, figures.cv) if _is_regular(figures, policy) else None


def mean_gap_text(mean: Decimal) -> str:
    """A mean gap for people: days to one decimal place, rounded half even."""
    return str(mean.quantize(_TENTH, rounding=ROUND_HALF_EVEN))


def cv_text(cv: Decimal) -> str:
    """A coefficient of variation for people: two decimal places, rounded half even."""
    return str(cv.quantize(_HUNDREDTH, rounding=ROUND_HALF_EVEN))


#: The longest gap tuples whose figures are cached. Clients share short ones;
#: a long one is one client's, and a buyer of thousands of purchase days asks for
#: each longer prefix in turn (the ladder, at every new purchase day): caching
#: those would keep 4,096 of them, memory growing with the square of the days.
_CACHED_GAPS = 64


class _Gaps(NamedTuple):
    """The figures of a client's gaps (day counts between purchase days)."""

    #: The number of gaps.
    n: int
    #: Their sum ``S``.
    total: int
    #: ``nQ - S²`` (``Q``: the sum of their squares): ``n²`` times their variance.
    spread: int
    #: ``S / n``, to 34 significant digits.
    mean: Decimal
    #: ``sqrt(nQ - S²) / S`` (the population standard deviation over the mean),
    #: to 34 significant digits; 0 when every gap is the same.
    cv: Decimal
    #: The figures for people (the evidence's start).
    text: str


_TENTH = Decimal("0.1")
_HUNDREDTH = Decimal("0.01")


def _figures(gaps: tuple[int, ...]) -> _Gaps:
    """:func:`_gap_figures`, cached for short gap tuples only."""
    if len(gaps) > _CACHED_GAPS:
        return _gap_figures.__wrapped__(gaps)
    return _gap_figures(gaps)


@lru_cache(maxsize=4096)
def _gap_figures(gaps: tuple[int, ...]) -> _Gaps:
    """The figures of a tuple of gaps, from integers (exact sums, then a fixed
    34-digit context), so they do not depend on the caller's decimal context.

    Many clients share their gaps (``(7,)``, ``(30, 31)``), so the figures are
    computed once per tuple.
    """
    n = len(gaps)
    total = sum(gaps)
    spread = n * sum([g * g for g in gaps]) - total * total
    mean = _CTX.divide(Decimal(total), Decimal(n))
    cv = _CTX.divide(_CTX.sqrt(Decimal(spread)), Decimal(total)) if spread else Decimal(0)
    text = (
        f"{n + 1} purchase days, {count(n, 'gap')}, mean gap {mean_gap_text(mean)} days, "
        f"cv {cv_text(cv)}"
    )
    return _Gaps(n, total, spread, mean, cv, text)


def _window_text(policy: RegularityPolicy) -> str:
    return "" if policy.window_days is None else f" in the last {policy.window_days} days"
