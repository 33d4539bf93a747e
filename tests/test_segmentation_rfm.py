"""Tests for relcycle.segmentation.rfm: lifetimes' figures and RFM scores/segments."""

from __future__ import annotations

import csv
import math
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Context, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle.errors import CurrencyMismatchError, UsageError, ValidationError
from relcycle.history import ClientHistory, build_portfolio
from relcycle.model import Order
from relcycle.segmentation.rfm import (
    DEFAULT_RFM_SEGMENTS,
    OTHERS,
    R_VIGNETTE_RFM_SEGMENTS,
    RFMFigures,
    RFMSegmentRule,
    rfm_figures,
    rfm_figures_by_client,
    rfm_scores,
)

DATA = Path(__file__).parent / "data"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def order(oid: str, day: int, amount: str, *, cid: str = "c1", **kw: object) -> Order:
    """An order of client ``cid`` placed ``day`` days after T0 (at noon)."""
    return Order(
        order_id=oid,
        client_id=cid,
        placed_at=T0 + timedelta(days=day, hours=12),
        amount=Decimal(amount),
        **kw,  # type: ignore[arg-type]
    )


def figures_of(*orders: Order, as_of_day: int = 100) -> RFMFigures | None:
    """The figures of a one-client history as of noon ``as_of_day`` days after T0."""
    history = ClientHistory.of("c1", orders)
    return rfm_figures(history, as_of=T0 + timedelta(days=as_of_day, hours=12))


def fig(cid: str, *, since_last: int, days: int, total: str, currency: str = "USD") -> RFMFigures:
    """Hand-made figures for scoring tests."""
    return RFMFigures(
        client_id=cid,
        repeat_days=days - 1,
        span_days=0,
        age_days=since_last,
        mean_repeat_value=Decimal(0),
        purchase_days=days,
        total_value=Decimal(total),
        first_day=T0.date(),
        last_day=T0.date(),
        as_of_day=T0.date(),
        currency=currency,
        order_ids=(),
    )


class TestCdnowAgainstLifetimes:
    """relcycle reproduces lifetimes' summary_data_from_transaction_data on CDNOW."""

    def test_every_customer_matches(self) -> None:
        """All four figures match lifetimes for every one of the 2,357 CDNOW clients."""
        orders = []
        with (DATA / "cdnow_sample_orders.csv").open(newline="") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                orders.append(
                    Order(
                        order_id=f"row{line}",
                        client_id=row["client_id"],
                        placed_at=datetime.fromisoformat(row["placed_at"]).replace(tzinfo=UTC),
                        amount=row["amount"],
                    )
                )
        portfolio = build_portfolio(orders=orders)
        got = rfm_figures_by_client(portfolio, as_of=datetime(1998, 6, 30, tzinfo=UTC))
        with (DATA / "cdnow_sample_lifetimes.csv").open(newline="") as fh:
            expected = list(csv.DictReader(fh))
        assert len(expected) == 2357
        assert sorted(got) == [row["client_id"] for row in expected]
        for row in expected:
            figures = got[row["client_id"]].lifetimes()
            assert figures["frequency"] == float(row["frequency"]), row
            assert figures["recency"] == float(row["recency"]), row
            assert figures["T"] == float(row["T"]), row
            assert math.isclose(
                float(figures["monetary_value"]),
                float(row["monetary_value"]),
                rel_tol=1e-9,
                abs_tol=0.0,
            ), row


class TestRfmFigures:
    """The lifetimes rules on small, hand-checked histories."""

    def test_same_day_orders_form_one_period(self) -> None:
        """Two sales on one day are one purchase day and their amounts are summed."""
        f = figures_of(
            order("a", 0, "10"), order("b", 5, "20"), order("c", 5, "5"), order("d", 15, "7")
        )
        assert f is not None
        assert f.lifetimes() == {
            "frequency": 2,
            "recency": 15,
            "T": 100,
            "monetary_value": Decimal(16),
        }
        assert f.total_value == Decimal(42)
        assert f.order_ids == ("a", "b", "c", "d")

    def test_single_purchase_day_has_zero_monetary_value(self) -> None:
        """A client with one purchase day has frequency 0, recency 0 and monetary_value 0."""
        f = figures_of(order("a", 3, "99"), order("b", 3, "1"))
        assert f is not None
        assert (f.repeat_days, f.span_days, f.age_days) == (0, 0, 97)
        assert f.mean_repeat_value == 0
        assert f.days_since_last == 97

    def test_zero_amount_days_count(self) -> None:
        """A zero-amount purchase day is a period and enters the mean."""
        f = figures_of(order("a", 0, "10"), order("b", 1, "0"), order("c", 2, "6"))
        assert f is not None
        assert f.repeat_days == 2
        assert f.mean_repeat_value == Decimal(3)

    def test_only_sales_count(self) -> None:
        """Planned, cancelled and returned orders are not purchases."""
        f = figures_of(
            order("a", 0, "10"),
            order("b", 1, "10", status="planned"),
            order("c", 2, "10", status="cancelled"),
            order("d", 3, "10", status="returned"),
            order("e", 4, "8", status="delivered"),
        )
        assert f is not None
        assert (f.repeat_days, f.span_days, f.mean_repeat_value) == (1, 4, Decimal(8))
        assert f.order_ids == ("a", "e")

    def test_orders_after_as_of_are_ignored(self) -> None:
        """A sale after as_of does not count, even on the same day."""
        history = ClientHistory.of("c1", [order("a", 0, "10"), order("b", 10, "10")])
        at = T0 + timedelta(days=10, hours=11)
        f = rfm_figures(history, as_of=at)
        assert f is not None
        assert (f.repeat_days, f.age_days) == (0, 10)

    def test_no_sale_gives_none(self) -> None:
        """A client without a sale by as_of has no figures (lifetimes drops it too)."""
        assert figures_of(order("a", 0, "10", status="planned")) is None
        assert figures_of(order("a", 200, "10")) is None

    def test_days_follow_the_time_zone(self) -> None:
        """Calendar days are taken in the tz given: 23:30 UTC is the next day in Kyiv."""
        late = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)
        orders = [
            Order(order_id="a", client_id="c1", placed_at=late - timedelta(hours=2), amount=1),
            Order(order_id="b", client_id="c1", placed_at=late, amount=2),
        ]
        history = ClientHistory.of("c1", orders)
        as_of = datetime(2024, 3, 10, tzinfo=UTC)
        in_utc = rfm_figures(history, as_of=as_of)
        in_kyiv = rfm_figures(history, as_of=as_of, tz="Europe/Kyiv")
        assert in_utc is not None
        assert in_kyiv is not None
        assert in_utc.repeat_days == 0
        assert (in_kyiv.repeat_days, in_kyiv.span_days) == (1, 1)
        fixed = rfm_figures(history, as_of=as_of, tz=timezone(timedelta(hours=2)))
        assert fixed == in_kyiv

    def test_unknown_time_zone_is_refused(self) -> None:
        """An unknown zone name is a usage error naming it."""
        history = ClientHistory.of("c1", [order("a", 0, "1")])
        with pytest.raises(UsageError, match="Mars/Olympus"):
            rfm_figures(history, as_of=T0, tz="Mars/Olympus")

    def test_naive_as_of_is_refused(self) -> None:
        """as_of must be timezone-aware."""
        with pytest.raises(ValidationError, match="time zone"):
            rfm_figures(ClientHistory.of("c1", [order("a", 0, "1")]), as_of=datetime(2024, 5, 1))

    def test_mixed_currencies_are_refused(self) -> None:
        """Sales in two currencies cannot be summed."""
        with pytest.raises(CurrencyMismatchError):
            figures_of(order("a", 0, "1"), order("b", 1, "1", currency="EUR"))

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(st.tuples(st.integers(0, 60), st.integers(0, 500)), min_size=1, max_size=15),
        st.randoms(use_true_random=False),
    )
    def test_record_order_does_not_matter(
        self, rows: list[tuple[int, int]], rnd: random.Random
    ) -> None:
        """The figures depend on the records, not on the order they are given in."""
        orders = [order(f"o{i}", d, str(a)) for i, (d, a) in enumerate(rows)]
        shuffled = orders[:]
        rnd.shuffle(shuffled)
        assert figures_of(*orders) == figures_of(*shuffled)

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(st.tuples(st.integers(0, 60), st.integers(0, 500)), min_size=0, max_size=12),
        st.tuples(st.integers(0, 60), st.integers(0, 500)),
    )
    def test_adding_an_order_never_lowers_frequency_or_value(
        self, rows: list[tuple[int, int]], extra: tuple[int, int]
    ) -> None:
        """One more sale never lowers frequency, purchase days or total value."""
        orders = [order(f"o{i}", d, str(a)) for i, (d, a) in enumerate(rows)]
        before = figures_of(*orders)
        after = figures_of(*orders, order("extra", extra[0], str(extra[1])))
        assert after is not None
        if before is not None:
            assert after.repeat_days >= before.repeat_days
            assert after.purchase_days >= before.purchase_days
            assert after.total_value >= before.total_value


class TestRfmScores:
    """Quintile scores over a portfolio and first-match segments."""

    def test_distinct_values_make_quintiles(self) -> None:
        """Ten clients with distinct values get two of each score 1..5."""
        figs = {
            f"c{i}": fig(f"c{i}", since_last=100 - i, days=i + 1, total=str(i * 10))
            for i in range(10)
        }
        scores = rfm_scores(figs)
        assert [scores[f"c{i}"].r for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        assert [scores[f"c{i}"].f for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        assert [scores[f"c{i}"].m for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        assert scores["c9"].segment == "Champions"
        assert scores["c9"].code == 555
        assert scores["c0"].to_dict() == {"r": 1, "f": 1, "m": 1, "segment": "Lost"}

    def test_ties_share_a_score(self) -> None:
        """Clients with equal values get equal scores, the lowest of their block."""
        figs = {
            "a": fig("a", since_last=5, days=1, total="10"),
            "b": fig("b", since_last=5, days=1, total="10"),
            "c": fig("c", since_last=5, days=1, total="10"),
            "d": fig("d", since_last=5, days=1, total="10"),
            "e": fig("e", since_last=1, days=3, total="90"),
        }
        scores = rfm_scores(figs)
        assert {scores[c].f for c in "abcd"} == {1}
        assert {scores[c].r for c in "abcd"} == {1}
        assert (scores["e"].r, scores["e"].f, scores["e"].m) == (5, 5, 5)

    def test_scores_do_not_depend_on_client_order_or_ids(self) -> None:
        """Reordering the mapping or renaming clients leaves every score unchanged."""
        figs = [
            fig(f"c{i}", since_last=(i * 37) % 11, days=(i * 7) % 5 + 1, total=str((i * 13) % 9))
            for i in range(23)
        ]
        forward = rfm_scores({f.client_id: f for f in figs})
        backward = rfm_scores({f.client_id: f for f in reversed(figs)})
        assert forward == backward

    def test_single_client_scores_one(self) -> None:
        """With one client nobody is worse, so every score is 1."""
        s = rfm_scores({"a": fig("a", since_last=1, days=9, total="1000")})["a"]
        assert (s.r, s.f, s.m) == (1, 1, 1)

    def test_evidence_names_figures_and_rule(self) -> None:
        """The evidence gives the figures behind each score and the matched rule."""
        f = figures_of(order("a", 0, "10"), order("b", 5, "20"))
        assert f is not None
        s = rfm_scores({"c1": f})["c1"]
        assert s.evidence.record_ids == ("a", "b")
        assert "95 days since the last purchase" in s.evidence.reason
        assert "rule Lost: r 1, f 1, m 1" in s.evidence.reason

    def test_mixed_currencies_are_refused(self) -> None:
        """Monetary scores cannot rank two currencies together."""
        with pytest.raises(CurrencyMismatchError):
            rfm_scores(
                {
                    "a": fig("a", since_last=1, days=1, total="1"),
                    "b": fig("b", since_last=1, days=1, total="1", currency="EUR"),
                }
            )

    def test_bad_arguments_are_refused(self) -> None:
        """bins must be positive and keys must match the figures' client ids."""
        with pytest.raises(UsageError, match="bins"):
            rfm_scores({}, bins=0)
        with pytest.raises(UsageError, match="key 'x'"):
            rfm_scores({"x": fig("a", since_last=1, days=1, total="1")})

    def test_empty_portfolio(self) -> None:
        """No figures, no scores."""
        assert rfm_scores({}) == {}


SCENARIOS = [
    # (r, f, m) -> segment under the default table
    ((5, 5, 5), "Champions"),
    ((1, 5, 4), "Can't Lose Them"),
    ((3, 3, 3), "Loyal Customers"),
    ((5, 1, 1), "New Customers"),
    ((3, 1, 1), "Promising"),
    ((5, 2, 2), "Potential Loyalist"),
    ((2, 2, 2), "Need Attention"),
    ((2, 5, 2), "At Risk"),
    ((1, 3, 3), "At Risk"),
    ((2, 1, 1), "About To Sleep"),
    ((1, 1, 1), "Lost"),
    ((1, 2, 1), "Hibernating"),
    ((5, 1, 4), OTHERS),
]


class TestSegmentRules:
    """The default rule table, first match wins."""

    @pytest.mark.parametrize(("scores", "segment"), SCENARIOS)
    def test_scenario(self, scores: tuple[int, int, int], segment: str) -> None:
        """Each named segment is reachable and takes the scores its rule describes."""
        matched = next((r for r in DEFAULT_RFM_SEGMENTS if r.matches(*scores)), None)
        assert (matched.name if matched else OTHERS) == segment

    def test_every_default_segment_is_reachable(self) -> None:
        """No rule of the default table is shadowed by the rules before it."""
        reached = set()
        for r in range(1, 6):
            for f in range(1, 6):
                for m in range(1, 6):
                    rule = next((x for x in DEFAULT_RFM_SEGMENTS if x.matches(r, f, m)), None)
                    reached.add(rule.name if rule else OTHERS)
        assert reached == {rule.name for rule in DEFAULT_RFM_SEGMENTS} | {OTHERS}
        assert len(DEFAULT_RFM_SEGMENTS) == 11

    def test_r_vignette_order_shadows_four_segments(self) -> None:
        """The R vignette's own order never assigns four of its segments (documented)."""
        reached = set()
        for r in range(1, 6):
            for f in range(1, 6):
                for m in range(1, 6):
                    rule = next((x for x in R_VIGNETTE_RFM_SEGMENTS if x.matches(r, f, m)), None)
                    reached.add(rule.name if rule else OTHERS)
        never = {rule.name for rule in R_VIGNETTE_RFM_SEGMENTS} - reached
        assert never == {"New Customers", "Promising", "Can't Lose Them", "Lost"}

    def test_custom_table_and_rule_reported(self) -> None:
        """A user table replaces the default; the matched rule is reported."""
        table = (RFMSegmentRule("Best", (5, 5), (1, 5), (1, 5)),)
        figs = {c: fig(c, since_last=i + 1, days=1, total="1") for i, c in enumerate("abcde")}
        scores = rfm_scores(figs, segments=table)
        assert scores["a"].segment == "Best"
        assert scores["a"].rule == table[0]
        assert scores["b"].segment == OTHERS
        assert scores["b"].rule is None

    def test_bad_rules_are_refused(self) -> None:
        """Bounds out of order, below 1 or not ints are refused with the rule's name."""
        with pytest.raises(ValidationError, match="'X'"):
            RFMSegmentRule("X", (3, 2), (1, 5), (1, 5))
        with pytest.raises(ValidationError, match="bounds"):
            RFMSegmentRule("X", (1,), (1, 5), (1, 5))  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="name"):
            RFMSegmentRule(" ", (1, 5), (1, 5), (1, 5))


class TestPortfolioCells:
    """The report's portfolio-wide RFM step keeps one shared cell per distinct score."""

    def test_clients_with_equal_scores_share_one_cell(self) -> None:
        """Equal scores give one tuple object; the scores are those of rfm_scores' rule:
        1 + floor(bins * worse / n), ties sharing the lowest score of their block."""
        from relcycle.segmentation.rfm import _rfm_cells

        rng = random.Random(4)
        ids = [f"c{i:04d}" for i in range(2000)]
        recency = {c: rng.randint(0, 30) for c in ids}
        frequency = {c: rng.randint(1, 6) for c in ids}
        monetary = {c: Decimal(rng.randint(1, 50)) for c in ids}
        cells = _rfm_cells(recency, frequency, monetary)
        assert list(cells) == ids
        by_scores: dict[tuple[int, int, int], set[int]] = {}
        for cell in cells.values():
            by_scores.setdefault(cell[:3], set()).add(id(cell))
        assert all(len(objects) == 1 for objects in by_scores.values())
        n = len(ids)
        for cid in ids:
            worse_r = sum(1 for v in recency.values() if v > recency[cid])
            worse_f = sum(1 for v in frequency.values() if v < frequency[cid])
            assert cells[cid][0] == 1 + (5 * worse_r) // n
            assert cells[cid][1] == 1 + (5 * worse_f) // n


class TestOneScoreRule:
    """The score rule and the segment rules are declared once and compiled to polars:
    the compiled expression gives the Python evaluation's scores and segments."""

    @settings(max_examples=80, deadline=None)
    @given(
        values=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=60),
        bins=st.integers(min_value=1, max_value=9),
        which=st.sampled_from(range(3)),
    )
    def test_polars_rank_equals_python_scores(
        self, values: list[int], bins: int, which: int
    ) -> None:
        pl = pytest.importorskip("polars")
        from relcycle.segmentation.rfm import RFM_SCORES

        rule = RFM_SCORES[which]
        expected = rule.scores(values, bins)
        n = len(values)
        for value, score in zip(values, expected, strict=True):
            worse = sum(1 for v in values if (v < value if rule.higher_is_better else v > value))
            assert score == 1 + (bins * worse) // n
        frame = pl.DataFrame({"v": values}, schema={"v": pl.Int64})
        got = frame.select(rule.to_polars(pl.col("v"), bins).alias("s"))["s"].to_list()
        assert got == expected

    def test_polars_rank_on_decimal_money(self) -> None:
        """m scores a Decimal column (the summary's total value) as it scores Decimals."""
        pl = pytest.importorskip("polars")
        from relcycle.segmentation.rfm import RFM_SCORES

        values = [Decimal(x) for x in ("10.00", "2.50", "10.00", "0.01", "99.99", "2.50")]
        frame = pl.DataFrame({"v": values}, schema={"v": pl.Decimal(12, 2)})
        got = frame.select(RFM_SCORES[2].to_polars(pl.col("v"), 5).alias("s"))["s"].to_list()
        assert got == RFM_SCORES[2].scores(values, 5) == [3, 1, 3, 1, 5, 1]

    @settings(max_examples=40, deadline=None)
    @given(
        boxes=st.lists(
            st.tuples(*[st.tuples(st.integers(1, 5), st.integers(0, 4))] * 3),
            min_size=0,
            max_size=6,
        )
    )
    def test_segment_chain_equals_first_match(
        self, boxes: list[tuple[tuple[int, int], ...]]
    ) -> None:
        pl = pytest.importorskip("polars")
        from relcycle.segmentation.rfm import OTHERS, segment_to_polars

        rules = [
            RFMSegmentRule(f"s{i}", *[(lo, min(5, lo + width)) for lo, width in box])
            for i, box in enumerate(boxes)
        ]
        triples = [(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)]
        frame = pl.DataFrame(triples, schema=["r", "f", "m"], orient="row")
        chain = segment_to_polars(rules, pl.col("r"), pl.col("f"), pl.col("m"))
        got = frame.with_columns(chain.alias("segment"))["segment"].to_list()
        expected = [
            next((rule.name for rule in rules if rule.matches(*t)), OTHERS) for t in triples
        ]
        assert got == expected


@st.composite
def purchase_days(draw: st.DrawFn) -> tuple[list[date], list[Decimal], date, RFMFigures]:
    """A client's purchase days and their sums, a moment's day, and its figures."""
    from relcycle.segmentation.rfm import rfm_from_days

    offsets = draw(st.lists(st.integers(0, 3000), min_size=1, max_size=8, unique=True))
    start = date(2001, 1, 1)
    days = [start + timedelta(days=d) for d in sorted(offsets)]
    values = [Decimal(draw(st.integers(0, 10**9))) / 100 for _ in days]
    as_of_day = days[-1] + timedelta(days=draw(st.integers(0, 400)))
    fig = rfm_from_days("c", days, values, as_of_day=as_of_day, currency="USD", order_ids=("o",))
    return days, values, as_of_day, fig


class TestScoreMeasuresDeclaredOnce:
    """The measures the scores rank are declared with the score rules
    (QuantileScore.figure): the object path evaluates them, the columnar scores
    compile them over a summary's columns."""

    @settings(max_examples=60, deadline=None)
    @given(case=purchase_days())
    def test_python_and_polars_measures(
        self, case: tuple[list[date], list[Decimal], date, RFMFigures]
    ) -> None:
        pl = pytest.importorskip("polars")
        from relcycle.segmentation.rfm import MEASURE_INPUTS, RFM_SCORES

        days, values, as_of_day, fig = case
        # what the three measures are: days since the last purchase day, the
        # purchase days, the total value
        expected = ((as_of_day - days[-1]).days, len(days), sum(values, Decimal(0)))
        assert fig.rfm_measures() == expected
        assert fig.days_since_last == expected[0]
        summary = {"T": fig.age_days, "recency": fig.span_days}
        summary |= {"purchase_days": fig.purchase_days, "total_value": fig.total_value}
        frame = pl.DataFrame({k: [summary[k]] for k in MEASURE_INPUTS})
        inputs = {name: pl.col(name) for name in MEASURE_INPUTS}
        got = frame.select(
            *(s.figure.to_polars(inputs).alias(str(i)) for i, s in enumerate(RFM_SCORES))
        ).row(0)
        assert got == expected

    def test_a_measure_is_a_number(self) -> None:
        from relcycle.segmentation.rfm import _FIRST_DAY, QuantileScore

        with pytest.raises(UsageError, match="a Figure of a number"):
            QuantileScore("first day", higher_is_better=True, figure=_FIRST_DAY)
        with pytest.raises(UsageError, match="a Figure of a number"):
            QuantileScore("days", higher_is_better=True, figure="T - recency")  # type: ignore[arg-type]


class TestLifetimesFiguresDeclaredOnce:
    """lifetimes' four figures are one declaration (LIFETIMES_FIGURES): the object path
    evaluates it, the columnar summary compiles it to polars."""

    @settings(max_examples=80, deadline=None)
    @given(case=purchase_days())
    def test_polars_compile_equals_python(
        self, case: tuple[list[date], list[Decimal], date, RFMFigures]
    ) -> None:
        pl = pytest.importorskip("polars")
        from relcycle.segmentation.rfm import LIFETIMES_FIGURES

        days, values, as_of_day, fig = case
        repeat = sum(values[1:], Decimal(0))
        assert fig.lifetimes() == {
            "frequency": len(days) - 1,
            "recency": (days[-1] - days[0]).days,
            "T": (as_of_day - days[0]).days,
            "monetary_value": (
                Context(prec=34).divide(repeat, Decimal(len(days) - 1))
                if len(days) > 1
                else Decimal(0)
            ),
        }
        frame = pl.DataFrame(
            {
                "purchase_days": [len(days)],
                "first_day": [days[0]],
                "last_day": [days[-1]],
                "repeat_value": [float(repeat)],
            }
        )
        inputs = {name: pl.col(name) for name in frame.columns}
        inputs["as_of_day"] = pl.lit(as_of_day)
        got = frame.select(
            *(figure.to_polars(inputs).alias(name) for name, figure in LIFETIMES_FIGURES.items())
        ).row(0, named=True)
        assert {k: got[k] for k in ("frequency", "recency", "T")} == {
            k: v for k, v in fig.lifetimes().items() if k != "monetary_value"
        }
        assert got["monetary_value"] == pytest.approx(float(fig.mean_repeat_value))

    def test_mean_repeat_value_is_the_declared_mean(self) -> None:
        from relcycle.columnar import mean_repeat_value as columnar_mean
        from relcycle.segmentation.rfm import mean_repeat_value

        assert columnar_mean is mean_repeat_value
        assert mean_repeat_value(Decimal("10"), 3) == Decimal("3.333333333333333333333333333333333")
        assert mean_repeat_value(Decimal("0"), 0) == 0

    def test_a_figure_mixing_days_and_numbers_is_refused(self) -> None:
        from relcycle.segmentation.rfm import _FIRST_DAY, _PURCHASE_DAYS

        with pytest.raises(UsageError, match="a day minus a number"):
            _FIRST_DAY - _PURCHASE_DAYS
        with pytest.raises(UsageError, match="a day minus a number"):
            _FIRST_DAY - 1
        with pytest.raises(UsageError, match="a mean of days"):
            _PURCHASE_DAYS.mean_or_zero(_FIRST_DAY)
