"""RFM: the figures of lifetimes' ``summary_data_from_transaction_data`` and RFM scores.

:func:`rfm_figures` computes, per client, exactly what lifetimes'
``summary_data_from_transaction_data(..., freq="D")`` computes, with exact
:class:`~decimal.Decimal` money:

* each sale's moment is floored to its **calendar day** in the time zone ``tz``
  (UTC by default); all sales of one client on one day form one purchase day and
  their amounts are summed;
* ``frequency`` (:attr:`RFMFigures.repeat_days`) = the number of purchase days
  after the first one;
* ``recency`` (:attr:`RFMFigures.span_days`) = days from the first to the last
  purchase day;
* ``T`` (:attr:`RFMFigures.age_days`) = days from the first purchase day to the
  day of ``as_of``;
* ``monetary_value`` (:attr:`RFMFigures.mean_repeat_value`) = the mean of the
  per-day sums of the repeat days (the first day is excluded), 0 when there is
  no repeat day.

Which orders count: **sales** only (status ``placed`` or ``delivered``); planned,
cancelled and returned orders are ignored. Orders placed after ``as_of`` are
ignored. (lifetimes keeps every order on the observation end *day*, whatever its
time; to reproduce that, pass an ``as_of`` at the end of that day.)

:func:`rfm_scores` turns the figures of a portfolio into 1-5 scores (quintiles
over the portfolio, ties share the score) and names a segment with the first
matching rule of a table modelled on the R ``rfm`` package's segments.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any

import attrs

from relcycle._args import checked
from relcycle._decimal import CONTEXT
from relcycle._zones import resolve_zone
from relcycle.errors import CurrencyMismatchError, UsageError, ValidationError
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory, Portfolio
from relcycle.model import FrozenMap

from ._util import check_as_of, day_of, one_currency, sales

__all__ = [
    "DEFAULT_RFM_SEGMENTS",
    "LIFETIMES_FIGURES",
    "MEASURE_INPUTS",
    "OTHERS",
    "RFM_SCORES",
    "R_VIGNETTE_RFM_SEGMENTS",
    "Figure",
    "QuantileScore",
    "RFMFigures",
    "RFMScore",
    "RFMSegmentRule",
    "mean_repeat_value",
    "rfm_figures",
    "rfm_figures_by_client",
    "rfm_from_days",
    "rfm_scores",
    "segment_to_polars",
]

#: The mean repeat value's arithmetic: relcycle's context (not
#: ``decimal.DefaultContext``, which a program can change) with 34 digits.
_CTX = CONTEXT.copy()
_CTX.prec = 34

#: The segment name of a client no rule matched (as in the R ``rfm`` package).
OTHERS = "Others"


@attrs.frozen(kw_only=True)
class RFMFigures:
    """A client's RFM figures as of a moment (lifetimes' four figures and more).

    The lifetimes names are given by :meth:`lifetimes`; the attributes have
    names that say what they count.

    Attributes:
        client_id: The client.
        repeat_days: lifetimes' ``frequency``: purchase days after the first one.
        span_days: lifetimes' ``recency``: days from the first to the last purchase day.
        age_days: lifetimes' ``T``: days from the first purchase day to the day of ``as_of``.
        mean_repeat_value: lifetimes' ``monetary_value``: the mean per-day sum of
            the repeat days (exact Decimal), 0 when ``repeat_days`` is 0.
        purchase_days: Distinct purchase days (``repeat_days + 1``).
        total_value: The sum of all sales counted (first day included).
        first_day: The first purchase day.
        last_day: The last purchase day.
        as_of_day: The day of ``as_of`` in the time zone used.
        currency: The sales' currency.
        order_ids: The ids of the sales counted, oldest first.
    """

    client_id: str
    repeat_days: int
    span_days: int
    age_days: int
    mean_repeat_value: Decimal
    purchase_days: int
    total_value: Decimal
    first_day: date
    last_day: date
    as_of_day: date
    currency: str
    order_ids: tuple[str, ...]

    @property
    def days_since_last(self) -> int:
        """Days from the last purchase day to the day of ``as_of`` (``T - recency``):
        the r measure of :data:`RFM_SCORES`."""
        days: int = self.rfm_measures()[0]
        return days

    def rfm_measures(self) -> tuple[int, int, Decimal]:
        """The three measures :data:`RFM_SCORES` scores (r, f, m), as their
        declarations (:attr:`QuantileScore.figure`) compute them from these figures."""
        lifetimes = self.lifetimes()  # the summary's names of the figures
        measures: tuple[int, int, Decimal] = _MEASURES(
            T=lifetimes["T"],
            recency=lifetimes["recency"],
            purchase_days=self.purchase_days,
            total_value=self.total_value,
        )
        return measures

    def lifetimes(self) -> dict[str, int | Decimal]:
        """The four figures under lifetimes' names.

        Returns:
            ``{"frequency": ..., "recency": ..., "T": ..., "monetary_value": ...}``
            (``monetary_value`` a Decimal), ready to feed a BG/NBD or Gamma-Gamma model.
        """
        return {
            "frequency": self.repeat_days,
            "recency": self.span_days,
            "T": self.age_days,
            "monetary_value": self.mean_repeat_value,
        }


class Figure:
    """One of lifetimes' figures, declared once as a small expression over a client's
    purchase-day aggregates, for both engines.

    The inputs are ``purchase_days`` (the number of distinct purchase days),
    ``first_day``, ``last_day``, ``as_of_day`` (calendar days) and
    ``repeat_value`` (the sum of the sales of the days after the first). A figure
    is built from them with ``-`` (days between two days, or a count minus a
    number) and :meth:`mean_or_zero`. :data:`LIFETIMES_FIGURES` holds lifetimes'
    four figures; :func:`rfm_from_days` evaluates them in Python (compiled once
    into one function) and :func:`relcycle.columnar.rfm_summary` compiles them
    to polars expressions (:meth:`to_polars`).
    """

    __slots__ = ()

    def __sub__(self, other: Figure | int) -> Figure:
        return _Minus(self, other if isinstance(other, Figure) else _Number(other))

    def mean_or_zero(self, count: Figure) -> Figure:
        """``self / count`` (exact), or 0 when ``count`` is 0."""
        return _MeanOrZero(self, count)

    @property
    def is_day(self) -> bool:
        """True if the figure is a calendar day (an input day), not a number."""
        return False

    def _py(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_polars(self, inputs: Mapping[str, Any], divide: Any = None) -> Any:
        """The figure as a polars expression.

        Args:
            inputs: A polars expression for each input the figure reads.
            divide: ``divide(numerator, count)``, the engine's exact division
                for :meth:`mean_or_zero` (its numerator's encoding is the
                engine's); ``numerator / count`` when None.
        """
        raise NotImplementedError  # pragma: no cover - abstract


class _Input(Figure):
    __slots__ = ("_day", "name")

    def __init__(self, name: str, *, day: bool = False) -> None:
        self.name = name
        self._day = day

    @property
    def is_day(self) -> bool:
        return self._day

    def _py(self) -> str:
        return self.name

    def to_polars(self, inputs: Mapping[str, Any], divide: Any = None) -> Any:
        return inputs[self.name]


class _Number(Figure):
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        if type(value) is not int:
            raise UsageError(f"Figure: only an int can be taken from a figure, not {value!r}")
        self.value = value

    def _py(self) -> str:
        return repr(self.value)

    def to_polars(self, inputs: Mapping[str, Any], divide: Any = None) -> Any:
        from relcycle.columnar._source import import_polars

        return import_polars().lit(self.value)


class _Minus(Figure):
    __slots__ = ("left", "right")

    def __init__(self, left: Figure, right: Figure) -> None:
        if left.is_day != right.is_day:
            raise UsageError("Figure: a day minus a number (or the reverse) is not a figure")
        self.left, self.right = left, right

    def _py(self) -> str:
        diff = f"({self.left._py()} - {self.right._py()})"
        return f"{diff}.days" if self.left.is_day else diff

    def to_polars(self, inputs: Mapping[str, Any], divide: Any = None) -> Any:
        diff = self.left.to_polars(inputs, divide) - self.right.to_polars(inputs, divide)
        return diff.dt.total_days() if self.left.is_day else diff


class _MeanOrZero(Figure):
    __slots__ = ("count", "total")

    def __init__(self, total: Figure, count: Figure) -> None:
        if total.is_day or count.is_day:
            raise UsageError("Figure: a mean of days is not a figure")
        self.total, self.count = total, count

    def _py(self) -> str:
        count = self.count._py()
        return f"(_divide({self.total._py()}, _Decimal({count})) if {count} else _ZERO)"

    def to_polars(self, inputs: Mapping[str, Any], divide: Any = None) -> Any:
        from relcycle.columnar._source import import_polars

        pl = import_polars()
        total = self.total.to_polars(inputs, divide)
        count = self.count.to_polars(inputs, divide)
        mean = total / count if divide is None else divide(total, count)
        return pl.when(count != 0).then(mean).otherwise(0)


_PURCHASE_DAYS = _Input("purchase_days")
_FIRST_DAY = _Input("first_day", day=True)
_LAST_DAY = _Input("last_day", day=True)
_AS_OF_DAY = _Input("as_of_day", day=True)
_REPEAT_VALUE = _Input("repeat_value")
_FREQUENCY = _PURCHASE_DAYS - 1

#: lifetimes' four figures (``summary_data_from_transaction_data``, daily
#: periods) under lifetimes' names, declared once: ``frequency`` the purchase
#: days after the first, ``recency`` the days from the first to the last
#: purchase day, ``T`` the days from the first purchase day to the day of the
#: moment, ``monetary_value`` the mean of the repeat days' sums (0 without one).
LIFETIMES_FIGURES: Mapping[str, Figure] = FrozenMap(
    {
        "frequency": _FREQUENCY,
        "recency": _LAST_DAY - _FIRST_DAY,
        "T": _AS_OF_DAY - _FIRST_DAY,
        "monetary_value": _REPEAT_VALUE.mean_or_zero(_FREQUENCY),
    }
)


def _compile_figures(figures: Mapping[str, Figure]) -> Any:
    """One Python function of the inputs giving every figure, in ``figures``' order."""
    body = ", ".join(figure._py() for figure in figures.values())
    source = (
        "def figures(purchase_days, first_day, last_day, as_of_day, repeat_value):\n"
        f"    return ({body},)\n"
    )
    return _compiled(source, "figures")


def _compiled(source: str, name: str) -> Any:
    """The function ``name`` that ``source`` defines, with what a figure's Python reads."""
    scope: dict[str, Any] = {"_divide": _CTX.divide, "_Decimal": Decimal, "_ZERO": Decimal(0)}
    exec(compile(source, f"<relcycle lifetimes {name}>", "exec"), scope)
    return scope[name]


_lifetimes = _compile_figures(LIFETIMES_FIGURES)


def _compile_mean() -> Any:
    """``LIFETIMES_FIGURES["monetary_value"]`` alone, as a function of the repeat
    sum and the number of repeat days (one less than the purchase days)."""
    mean = LIFETIMES_FIGURES["monetary_value"]._py()
    source = (
        "def mean(repeat_value, frequency):\n"
        "    purchase_days = frequency + 1\n"
        f"    return {mean}\n"
    )
    return _compiled(source, "mean")


def mean_repeat_value(repeat_value: Decimal, frequency: int) -> Decimal:
    """lifetimes' exact ``monetary_value`` from the repeat days' sum and their number.

    ``LIFETIMES_FIGURES["monetary_value"]`` evaluated alone, as
    :func:`rfm_from_days` evaluates it: ``repeat_value / frequency`` to 34
    significant digits, 0 when ``frequency`` is 0. It is also
    ``relcycle.columnar.mean_repeat_value``, which gives the object path's
    :attr:`RFMFigures.mean_repeat_value` from a summary row's ``repeat_value``
    and ``frequency``.

    Args:
        repeat_value: The repeat days' exact sum.
        frequency: The number of repeat days.

    Returns:
        The mean (a Decimal).
    """
    value: Decimal = _MEAN(repeat_value, frequency)
    return value


_MEAN = _compile_mean()


@checked
def rfm_figures(
    history: ClientHistory, *, as_of: datetime, tz: tzinfo | str = UTC
) -> RFMFigures | None:
    """Compute a client's RFM figures as of ``as_of`` (lifetimes' rules, daily periods).

    Args:
        history: The client's history.
        as_of: The moment of observation (aware); orders after it are ignored.
        tz: The time zone whose calendar days make the periods (a tzinfo or an
            IANA name); UTC by default.

    Returns:
        The figures, or None when the client has no sale up to ``as_of`` (lifetimes
        leaves such clients out too).

    Raises:
        CurrencyMismatchError: If the client's sales are in two currencies.
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    check_as_of(as_of)
    zone_ = resolve_zone(tz)
    counted = sales(history, as_of)
    if not counted:
        return None
    currency = one_currency(counted, f"the RFM figures of client {history.client_id!r}")
    assert currency is not None
    per_day: dict[date, Decimal] = defaultdict(Decimal)
    for order in counted:
        per_day[order.placed_at.astimezone(zone_).date()] += order.amount  # day_of(), inlined
    days = sorted(per_day)
    return rfm_from_days(
        history.client_id,
        days,
        [per_day[d] for d in days],
        as_of_day=day_of(as_of, zone_),
        currency=currency,
        order_ids=tuple(o.order_id for o in counted),
    )


def rfm_from_days(
    client_id: str,
    days: Sequence[date],
    day_values: Sequence[Decimal],
    *,
    as_of_day: date,
    currency: str,
    order_ids: tuple[str, ...],
) -> RFMFigures:
    """The RFM figures from a client's purchase days and their sums (lifetimes' rules).

    :func:`rfm_figures` sums the days from a history; the columnar path sums
    the same days from tables and calls this function, so both paths share one
    implementation of the figures.

    Args:
        client_id: The client.
        days: The distinct purchase days, oldest first (at least one).
        day_values: Each day's sum of sales (added in the model's order).
        as_of_day: The day of the moment of observation.
        currency: The sales' one currency.
        order_ids: The ids of the sales counted, oldest first.

    Returns:
        The figures.
    """
    first, last = days[0], days[-1]
    repeat_sum = sum(day_values[1:], Decimal(0))
    repeat, span, age, mean = _lifetimes(len(days), first, last, as_of_day, repeat_sum)
    return RFMFigures(
        client_id=client_id,
        repeat_days=repeat,
        span_days=span,
        age_days=age,
        mean_repeat_value=mean,
        purchase_days=len(days),
        total_value=sum(day_values, Decimal(0)),
        first_day=first,
        last_day=last,
        as_of_day=as_of_day,
        currency=currency,
        order_ids=order_ids,
    )


def rfm_figures_by_client(
    portfolio: Portfolio, *, as_of: datetime, tz: tzinfo | str = UTC
) -> dict[str, RFMFigures]:
    """:func:`rfm_figures` for every client of ``portfolio`` that has a sale by ``as_of``.

    Returns:
        Figures by client id, in client-id order; clients without a sale are absent.
    """
    result: dict[str, RFMFigures] = {}
    for history in portfolio:
        figures = rfm_figures(history, as_of=as_of, tz=tz)
        if figures is not None:
            result[history.client_id] = figures
    return result


# --------------------------------------------------------------------------- segments


def _bounds(value: object) -> tuple[int, int]:
    if not isinstance(value, tuple) or len(value) != 2 or not all(type(v) is int for v in value):
        raise ValidationError(
            record="RFMSegmentRule",
            field="bounds",
            value=value,
            reason="expected a pair of ints (lower, upper)",
        )
    return (value[0], value[1])


@attrs.frozen
class RFMSegmentRule:
    """One segment rule: inclusive score ranges for r, f and m.

    Attributes:
        name: The segment's name (``"Champions"``).
        recency: ``(lower, upper)`` of the r score, inclusive.
        frequency: ``(lower, upper)`` of the f score, inclusive.
        monetary: ``(lower, upper)`` of the m score, inclusive.
    """

    name: str
    recency: tuple[int, int] = attrs.field(converter=_bounds)
    frequency: tuple[int, int] = attrs.field(converter=_bounds)
    monetary: tuple[int, int] = attrs.field(converter=_bounds)

    def __attrs_post_init__(self) -> None:
        if type(self.name) is not str or not self.name.strip():
            raise ValidationError(
                record="RFMSegmentRule",
                field="name",
                value=self.name,
                reason="a segment needs a non-empty name",
            )
        for field in ("recency", "frequency", "monetary"):
            lo, hi = getattr(self, field)
            if not 1 <= lo <= hi:
                raise ValidationError(
                    record="RFMSegmentRule",
                    field=field,
                    value=(lo, hi),
                    record_id=self.name,
                    reason="bounds must satisfy 1 <= lower <= upper",
                )

    def matches(self, r: int, f: int, m: int) -> bool:
        """True if the three scores lie within the rule's ranges."""
        return (
            self.recency[0] <= r <= self.recency[1]
            and self.frequency[0] <= f <= self.frequency[1]
            and self.monetary[0] <= m <= self.monetary[1]
        )

    def to_polars(self, r: Any, f: Any, m: Any) -> Any:
        """:meth:`matches` compiled to a polars expression over three score expressions."""
        return (
            r.is_between(*self.recency)
            & f.is_between(*self.frequency)
            & m.is_between(*self.monetary)
        )

    def __str__(self) -> str:
        def rng(b: tuple[int, int]) -> str:
            return str(b[0]) if b[0] == b[1] else f"{b[0]}-{b[1]}"

        return (
            f"{self.name}: r {rng(self.recency)}, f {rng(self.frequency)}, m {rng(self.monetary)}"
        )


def _rule(name: str, r: tuple[int, int], f: tuple[int, int], m: tuple[int, int]) -> RFMSegmentRule:
    return RFMSegmentRule(name, r, f, m)


#: The default segment table, evaluated first match wins. The score ranges are those
#: of the R ``rfm`` package's transaction-level vignette (11 named segments); the
#: evaluation order puts narrow boxes before the wide ones that contain them, so
#: that every segment can be reached, and ``Lost`` is narrowed to r=f=m=1 (the
#: vignette gives it the same box as ``Hibernating``). See the segmentation docs.
DEFAULT_RFM_SEGMENTS: tuple[RFMSegmentRule, ...] = (
    _rule("Champions", (4, 5), (4, 5), (4, 5)),
    _rule("Can't Lose Them", (1, 1), (4, 5), (4, 5)),
    _rule("Loyal Customers", (2, 5), (3, 5), (3, 5)),
    _rule("New Customers", (4, 5), (1, 1), (1, 1)),
    _rule("Promising", (3, 4), (1, 1), (1, 1)),
    _rule("Potential Loyalist", (3, 5), (1, 3), (1, 3)),
    _rule("Need Attention", (2, 3), (2, 3), (2, 3)),
    _rule("At Risk", (1, 2), (2, 5), (2, 5)),
    _rule("About To Sleep", (2, 3), (1, 2), (1, 2)),
    _rule("Lost", (1, 1), (1, 1), (1, 1)),
    _rule("Hibernating", (1, 2), (1, 2), (1, 2)),
)

#: The R ``rfm`` transaction-level vignette's table in its own ``case_when`` order,
#: for parity with R. First match wins there too, so ``New Customers``,
#: ``Promising``, ``Can't Lose Them`` and ``Lost`` are never assigned with it.
R_VIGNETTE_RFM_SEGMENTS: tuple[RFMSegmentRule, ...] = (
    _rule("Champions", (4, 5), (4, 5), (4, 5)),
    _rule("Loyal Customers", (2, 5), (3, 5), (3, 5)),
    _rule("Potential Loyalist", (3, 5), (1, 3), (1, 3)),
    _rule("New Customers", (4, 5), (1, 1), (1, 1)),
    _rule("Promising", (3, 4), (1, 1), (1, 1)),
    _rule("Need Attention", (2, 3), (2, 3), (2, 3)),
    _rule("About To Sleep", (2, 3), (1, 2), (1, 2)),
    _rule("At Risk", (1, 2), (2, 5), (2, 5)),
    _rule("Can't Lose Them", (1, 1), (4, 5), (4, 5)),
    _rule("Hibernating", (1, 2), (1, 2), (1, 2)),
    _rule("Lost", (1, 2), (1, 2), (1, 2)),
)


@attrs.frozen(kw_only=True)
class RFMScore:
    """A client's RFM scores and segment.

    Attributes:
        client_id: The client.
        r: Recency score 1-5 (5 = bought most recently).
        f: Frequency score 1-5 (5 = most purchase days).
        m: Monetary score 1-5 (5 = highest total value).
        segment: The name of the first matching rule, or ``"Others"``.
        rule: The rule that matched, or None for ``"Others"``.
        evidence: The figures behind the scores and the sales counted.
    """

    client_id: str
    r: int
    f: int
    m: int
    segment: str
    rule: RFMSegmentRule | None
    evidence: Evidence

    @property
    def code(self) -> int:
        """The R package's ``rfm_score``: ``100 r + 10 f + m`` (``555`` is best)."""
        return 100 * self.r + 10 * self.f + self.m

    def to_dict(self) -> dict[str, object]:
        """Return ``{"r": ..., "f": ..., "m": ..., "segment": ...}`` (the contract's shape)."""
        return {"r": self.r, "f": self.f, "m": self.m, "segment": self.segment}


@attrs.frozen
class QuantileScore:
    """The score rule of one RFM measure, declared once for both engines.

    A client's score is ``1 + floor(bins * worse / n)``: ``n`` is the number of
    clients scored together and ``worse`` the number of them strictly worse on
    the measure. Tied clients share a score (the lowest of their block), so a
    score depends on the values only, never on the order clients come in.
    :meth:`scores` evaluates the rule over Python values; :meth:`to_polars`
    compiles it to a polars expression over a column. The scores of
    :func:`rfm_scores`, of the report's RFM field and of
    :func:`relcycle.columnar.rfm_scores` all come from :data:`RFM_SCORES`.

    Attributes:
        measure: What is measured, in words (for documentation and errors).
        higher_is_better: True if a higher value is better (frequency, money);
            False if a lower one is (days since the last purchase).
        figure: The measure itself, a :class:`Figure` over the columns of an RFM
            summary (``T``, ``recency``, ``purchase_days``, ``total_value``):
            :meth:`RFMFigures.rfm_measures` evaluates it in Python and
            :func:`relcycle.columnar.rfm_scores` compiles it to polars.
    """

    measure: str
    higher_is_better: bool
    figure: Figure = attrs.field(kw_only=True)

    @figure.validator
    def _a_number(self, attribute: attrs.Attribute[Figure], value: object) -> None:
        if not isinstance(value, Figure) or value.is_day:
            raise UsageError(f"QuantileScore: figure must be a Figure of a number, not {value!r}")

    def scores(self, values: Sequence[Decimal | int], bins: int) -> list[int]:
        """One score per value, in the order given.

        A list, not a dict: a portfolio-wide step keeps one small int per client.
        """
        ordered = sorted(values)
        n = len(ordered)
        if self.higher_is_better:
            return [1 + (bins * bisect_left(ordered, v)) // n for v in values]
        return [1 + (bins * (n - bisect_right(ordered, v))) // n for v in values]

    def to_polars(self, value: Any, bins: int) -> Any:
        """The same rule as a polars expression over ``value`` (all rows scored together)."""
        from relcycle.columnar._source import import_polars

        pl = import_polars()
        n = pl.len().cast(pl.Int64)
        if self.higher_is_better:
            worse = value.rank("min").cast(pl.Int64) - 1
        else:
            worse = n - value.rank("max").cast(pl.Int64)
        return 1 + (bins * worse) // n


#: The inputs of the score measures: an RFM summary's columns.
MEASURE_INPUTS = ("T", "recency", "purchase_days", "total_value")

#: The three measures' score rules, in the order r, f, m: days since the last
#: purchase day (lifetimes' ``T - recency``), the purchase days, the total value.
RFM_SCORES: tuple[QuantileScore, QuantileScore, QuantileScore] = (
    QuantileScore(
        "days since the last purchase day",
        higher_is_better=False,
        figure=_Input("T") - _Input("recency"),
    ),
    QuantileScore("purchase days", higher_is_better=True, figure=_PURCHASE_DAYS),
    QuantileScore(
        "total value of the sales counted", higher_is_better=True, figure=_Input("total_value")
    ),
)


def _compile_measures() -> Any:
    """The three measures of :data:`RFM_SCORES` as one Python function of the inputs."""
    body = ", ".join(score.figure._py() for score in RFM_SCORES)
    source = f"def measures({', '.join(MEASURE_INPUTS)}):\n    return ({body},)\n"
    return _compiled(source, "measures")


_MEASURES = _compile_measures()


def segment_to_polars(rules: Sequence[RFMSegmentRule], r: Any, f: Any, m: Any) -> Any:
    """The segment name of the first rule matching the scores, else :data:`OTHERS`,
    as a polars expression: each rule's :meth:`RFMSegmentRule.to_polars` in order."""
    from relcycle.columnar._source import import_polars

    pl = import_polars()
    chain: Any = None
    for rule in rules:
        cond = rule.to_polars(r, f, m)
        chain = (pl.when(cond) if chain is None else chain.when(cond)).then(pl.lit(rule.name))
    return pl.lit(OTHERS) if chain is None else chain.otherwise(pl.lit(OTHERS))


def _rfm_cells(
    recency: Mapping[str, int],
    frequency: Mapping[str, int],
    monetary: Mapping[str, Decimal],
    *,
    segments: Sequence[RFMSegmentRule] = DEFAULT_RFM_SEGMENTS,
    bins: int = 5,
) -> dict[str, tuple[int, int, int, RFMSegmentRule | None]]:
    """The scores and matched rule of :func:`rfm_scores`, from the three measures alone.

    What :func:`rfm_scores` computes, without the figures objects and the
    evidence: for a portfolio-wide step that keeps a few numbers per client.
    Clients with the same three scores share one cell (one tuple object), so
    the result costs a dict entry per client.

    Args:
        recency: Days since the last purchase day, by client id.
        frequency: Purchase days, by client id (the same clients).
        monetary: Total value of the sales counted, by client id (the same clients).
        segments: The rule table, evaluated in order.
        bins: The number of score bins.

    Returns:
        ``(r, f, m, rule)`` by client id, in the order of ``recency``; ``rule``
        None when no rule matched (segment ``"Others"``).
    """
    rules = tuple(segments)
    ids = list(recency)
    r_score, f_score, m_score = RFM_SCORES
    r = r_score.scores(list(recency.values()), bins)
    f = f_score.scores([frequency[cid] for cid in ids], bins)
    m = m_score.scores([monetary[cid] for cid in ids], bins)
    cells: dict[tuple[int, int, int], tuple[int, int, int, RFMSegmentRule | None]] = {}
    result: dict[str, tuple[int, int, int, RFMSegmentRule | None]] = {}
    for cid, scores in zip(ids, zip(r, f, m, strict=True), strict=True):
        cell = cells.get(scores)
        if cell is None:
            matched = next((rule for rule in rules if rule.matches(*scores)), None)
            cell = cells[scores] = (*scores, matched)
        result[cid] = cell
    return result


@checked
def rfm_scores(
    figures_by_client: Mapping[str, RFMFigures],
    *,
    segments: Sequence[RFMSegmentRule] = DEFAULT_RFM_SEGMENTS,
    bins: int = 5,
) -> dict[str, RFMScore]:
    """Score every client 1..``bins`` on recency, frequency and money, and name its segment.

    Scores are quantiles over the whole portfolio given: a client's score is
    ``1 + floor(bins * w / n)`` where ``n`` is the number of clients and ``w`` the
    number of clients strictly worse on that measure. Tied clients share a score
    (the lowest of their block), so the result never depends on the order clients
    come in or on their ids. The measures, as in the R ``rfm`` package:

    * r: days since the last purchase day (fewer is better);
    * f: purchase days (``repeat_days + 1``; ranks like lifetimes' frequency);
    * m: total value of the sales counted.

    The segment is the first rule of ``segments`` whose ranges hold all three
    scores, else ``"Others"``.

    Args:
        figures_by_client: Figures by client id (see :func:`rfm_figures_by_client`).
        segments: The rule table, evaluated in order.
        bins: The number of score bins (5 = quintiles).

    Returns:
        Scores by client id, in the order of ``figures_by_client``.

    Raises:
        CurrencyMismatchError: If the figures are in two currencies.
        UsageError: If ``bins`` is not a positive int or a key does not match its
            figures' client id.
    """
    if type(bins) is not int or bins < 1:
        raise UsageError(f"rfm_scores: bins must be a positive int, got {bins!r}")
    for cid, fig in figures_by_client.items():
        if fig.client_id != cid:
            raise UsageError(
                f"rfm_scores: key {cid!r} holds the figures of client {fig.client_id!r}"
            )
    currencies = {fig.currency for fig in figures_by_client.values()}
    if len(currencies) > 1:
        raise CurrencyMismatchError(currencies=currencies, context="RFM monetary scores")
    measures = {c: fig.rfm_measures() for c, fig in figures_by_client.items()}
    cells = _rfm_cells(
        {c: m[0] for c, m in measures.items()},
        {c: m[1] for c, m in measures.items()},
        {c: m[2] for c, m in measures.items()},
        segments=segments,
        bins=bins,
    )
    result: dict[str, RFMScore] = {}
    for cid, fig in figures_by_client.items():
        r, f, m, matched = cells[cid]
        since, days, total = measures[cid]
        why = (
            f"r={r} ({since} days since the last purchase), "
            f"f={f} ({days} purchase days), "
            f"m={m} (total {total} {fig.currency}) among {len(cells)} clients: "
            + (f"rule {matched}" if matched is not None else "no rule matched")
        )
        result[cid] = RFMScore(
            client_id=cid,
            r=r,
            f=f,
            m=m,
            segment=OTHERS if matched is None else matched.name,
            rule=matched,
            evidence=Evidence(why, fig.order_ids),
        )
    return result
