"""Tests for relcycle.decisions: one declaration, the same answers in Python and polars."""

from __future__ import annotations

import functools
import math
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction
from operator import add, eq, floordiv, ge, gt, le, lt, mul, ne
from operator import sub as sub_
from typing import Any, cast
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from relcycle.clientbase import STAGE_OF_RUNG, ClientStage, client_stage_decision
from relcycle.decisions import (
    Case,
    DecisionList,
    Kind,
    bool_input,
    choose,
    day_in,
    day_input,
    days_input,
    grouped,
    ids_input,
    int_input,
    lit,
    lookup,
    plural,
    pow10,
    ratio_text,
    round_half_up,
    sqrt_ratio_text,
    text,
    text_input,
)
from relcycle.errors import DefinitionError, UsageError
from relcycle.history import Portfolio, build_portfolio
from relcycle.ladder import Rung
from relcycle.model import (
    Channel,
    Client,
    Direction,
    Interaction,
    Order,
    OrderStatus,
    Purpose,
)
from relcycle.segmentation.motivation import (
    DECISION_COUNTS,
    SIGNAL_KEYS,
    AttributeRule,
    MotivationPolicy,
    MotivationSegment,
    classify_motivation,
    motivation_decision,
    motivation_from_signals,
    motivation_signals,
)
from relcycle.segmentation.regularity import (
    Regularity,
    RegularityPolicy,
    assess_regularity,
    cv_text,
    mean_gap_text,
    regularity_decision,
    regularity_from_days,
)
from relcycle.testing import portfolios

pl = pytest.importorskip("polars")

from relcycle.columnar import (  # noqa: E402
    MOTIVATION_COLUMNS,
    REGULARITY_COLUMNS,
    motivation_frame,
    regularity_frame,
)
from test_columnar_signals import TZS, as_of_moments, frames_of, policies_for  # noqa: E402

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Wide enough that no figure here is rounded: the reference for the exact helpers.
WIDE = Context(prec=200)

AS_OF = datetime(2024, 6, 1, tzinfo=UTC)

A = int_input("a")
B = int_input("b")

#: Every helper, on integer inputs: the figures a decision prints.
FIGURES = DecisionList.define(
    "figures",
    inputs=(A, B),
    outputs={
        "ratio0": "text",
        "ratio1": "text",
        "ratio3": "text",
        "root2": "text",
        "root0": "text",
        "half_up": "int",
        "grouped": "text",
        "plural": "text",
    },
    cases=[
        Case(
            None,
            ratio0=ratio_text(A, B, 0),
            ratio1=ratio_text(A, B, 1),
            ratio3=ratio_text(A, B, 3),
            root2=sqrt_ratio_text(A, B, 2),
            root0=sqrt_ratio_text(A, B, 0),
            half_up=round_half_up(A, B),
            grouped=grouped(A),
            plural=plural(A, "gap"),
        )
    ],
)


def python_and_polars(
    decision: DecisionList, rows: list[dict[str, Any]]
) -> tuple[list[Any], list[Any]]:
    """Each row decided by the Python function and by the polars compilation."""
    by_python = [decision(**row) for row in rows]
    frame = pl.DataFrame(
        {name: [row[name] for row in rows] for name in decision.inputs},
        schema={
            name: (pl.List(pl.Date) if isinstance(rows[0][name], tuple) else None)
            for name in decision.inputs
        },
    )
    columns = {name: pl.col(name) for name in decision.inputs}
    decided = decision.over(frame, columns).select(list(decision.outputs)).collect()
    by_polars = [tuple(r) for r in decided.iter_rows()]
    return by_python, by_polars


def portfolios_example() -> Portfolio:
    """One client with five sales at even gaps."""
    orders = [
        Order(
            order_id=f"o{k}",
            client_id="c1",
            placed_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=20 * k),
            amount=Decimal("10.00"),
            currency="EUR",
            status=OrderStatus.delivered,
        )
        for k in range(5)
    ]
    return build_portfolio(clients=[Client(client_id="c1", name="One")], orders=orders)


class TestExactFigures:
    """Ratios and roots are printed exactly, the same digits in both engines."""

    @SETTINGS
    @given(
        pairs=st.lists(
            st.tuples(
                st.integers(-(10**18), 10**18) | st.integers(-2_000, 2_000),
                st.integers(-(10**6), 10**6) | st.integers(-40, 40),
            ),
            min_size=1,
            max_size=30,
        )
    )
    def test_helpers_equal_wide_decimals_and_polars(self, pairs: list[tuple[int, int]]) -> None:
        """Any sign: the magnitude rounded half even, then the sign (no "-0.0");
        half up toward the larger integer; a zero denominator or a negative
        radicand has no answer: missing in both engines."""
        rows = [{"a": a, "b": b} for a, b in pairs]
        by_python, by_polars = python_and_polars(FIGURES, rows)
        assert by_python == by_polars

        def printed(value: Decimal, unit: str) -> str:
            found = value.quantize(Decimal(unit), rounding=ROUND_HALF_EVEN)
            return str(abs(found) if found == 0 else found)

        for (a, b), got in zip(pairs, by_python, strict=True):
            assert got[6] == f"{a:,}"
            assert got[7] == f"{a:,} gap" + ("" if a == 1 else "s")
            if b == 0:
                assert got[:6] == (None,) * 6
                continue
            ratio = WIDE.divide(Decimal(a), Decimal(b))
            assert got[0] == printed(ratio, "1")
            assert got[1] == printed(ratio, "0.1")
            assert got[2] == printed(ratio, "0.001")
            assert got[5] == math.floor(Fraction(a, b) + Fraction(1, 2))
            if a < 0:
                assert got[3] is None
                assert got[4] is None
                continue
            root = WIDE.divide(WIDE.sqrt(Decimal(a)), Decimal(b))
            assert got[3] == printed(root, "0.01")
            assert got[4] == printed(root, "1")

    def test_ties_round_half_even(self) -> None:
        """A ratio or root exactly on a half goes to the even digit, not up."""
        rows = [{"a": 25, "b": 10}, {"a": 35, "b": 10}, {"a": 1, "b": 8}, {"a": 1, "b": 4}]
        by_python, by_polars = python_and_polars(FIGURES, rows)
        assert by_python == by_polars
        assert [r[1] for r in by_python] == ["2.5", "3.5", "0.1", "0.2"]
        assert [r[0] for r in by_python] == ["2", "4", "0", "0"]
        # sqrt(1) / 8 = 0.125 -> 0.12; sqrt(1) / 4 = 0.25 -> 0.25 (two places: no tie)
        assert [r[3] for r in by_python[2:]] == ["0.12", "0.25"]
        # half up is half up: 2.5 -> 3, 3.5 -> 4
        assert [r[5] for r in by_python[:2]] == [3, 4]

    def test_the_ladders_and_lifecycles_figures_round_the_same_way(self) -> None:
        """mean_gap_text and cv_text (their sentences) print with ratio_text's rounding."""
        assert [mean_gap_text(Decimal(v)) for v in ("2.25", "2.35", "7", "0.04999")] == [
            "2.2",
            "2.4",
            "7.0",
            "0.0",
        ]
        assert [cv_text(Decimal(v)) for v in ("0.125", "0.135", "0", "1.005")] == [
            "0.12",
            "0.14",
            "0.00",
            "1.00",
        ]


class TestDecisions:
    """First match wins, outputs are evaluated only for the case that matched."""

    DAYS = days_input("days")
    TODAY = day_input("today")

    def decision(self) -> DecisionList:
        n = self.DAYS.count()
        return DecisionList.define(
            "buying",
            inputs=(self.DAYS, self.TODAY),
            outputs={"verdict": "text", "evidence": "text", "since": "int", "next": "date"},
            cases=[
                Case(n == 0, verdict="none", evidence="no sale", since=None, next=None),
                Case(
                    # reads the first day: only reached with at least one
                    (self.TODAY - self.DAYS.first() > 30) & (n == 1),
                    verdict="lapsed",
                    evidence=text("one sale on ", self.DAYS.first()),
                    since=self.TODAY - self.DAYS.last(),
                    next=lit(None, "date"),
                ),
                Case(
                    None,
                    verdict="active",
                    evidence=text(plural(n, "day"), ", the last ", self.DAYS.last()),
                    since=self.TODAY - self.DAYS.last(),
                    next=self.DAYS.last() + round_half_up(self.DAYS.last() - self.DAYS.first(), n),
                ),
            ],
        )

    @SETTINGS
    @given(
        rows=st.lists(
            st.tuples(
                st.lists(st.dates(date(1900, 1, 1), date(2199, 12, 31)), max_size=6, unique=True),
                st.integers(0, 400),
            ),
            min_size=1,
            max_size=20,
        )
    )
    def test_python_equals_polars(self, rows: list[tuple[list[date], int]]) -> None:
        decision = self.decision()
        inputs = []
        for days, later in rows:
            ordered = tuple(sorted(days))
            today = (ordered[-1] if ordered else date(2000, 1, 1)) + timedelta(days=later)
            inputs.append({"days": ordered, "today": today})
        by_python, by_polars = python_and_polars(decision, inputs)
        assert by_python == by_polars
        for row, got in zip(inputs, by_python, strict=True):
            days = row["days"]
            if not days:
                assert got == ("none", "no sale", None, None)
            elif len(days) == 1 and (row["today"] - days[0]).days > 30:
                assert got[0] == "lapsed"
            else:
                assert got[0] == "active"
                assert got[1].endswith(days[-1].isoformat())

    def test_describe_names_named_values(self) -> None:
        n = self.DAYS.count().named("sales")
        decision = DecisionList.define(
            "d",
            inputs=(self.DAYS,),
            outputs={"verdict": "text"},
            cases=[Case(n == 0, verdict="none"), Case(None, verdict="some")],
        )
        assert (
            decision.describe() == "when sales == 0: verdict = 'none'\notherwise: verdict = 'some'"
        )

    @pytest.mark.parametrize(
        ("cases", "message"),
        [
            ([], "no case"),
            ([Case(None, verdict="a"), Case(None, verdict="b")], "case 1 has no condition"),
            ([Case(A == 1, verdict="a")], "the last case has a condition"),
            ([Case(None)], "case 1 does not give verdict"),
            ([Case(None, verdict="a", other=1)], "unknown outputs other"),
            ([Case(None, verdict=A + 1)], "verdict is int, declared text"),
            ([Case(None, verdict=1)], "verdict = 1 is not text"),
            ([Case(None, verdict=text(B))], "reads undeclared inputs b"),
        ],
    )
    def test_bad_definitions_are_refused_by_name(self, cases: list[Case], message: str) -> None:
        with pytest.raises(DefinitionError, match=message) as e:
            DecisionList.define("mine", inputs=(A,), outputs={"verdict": "text"}, cases=cases)
        assert "decision list 'mine' is badly defined" in str(e.value)

    def test_bad_values_are_refused_where_declared(self) -> None:
        with pytest.raises(DefinitionError, match="cannot compare int with date"):
            _ = A < self.TODAY
        with pytest.raises(DefinitionError, match="texts are only compared for equality"):
            _ = text("a") < text("b")
        with pytest.raises(DefinitionError, match="is a condition, not a text"):
            text(A == 1)
        with pytest.raises(DefinitionError, match=r"\+ does not take date and date"):
            _ = self.TODAY + self.TODAY
        with pytest.raises(DefinitionError, match="needs its kind"):
            lit(None)
        with pytest.raises(DefinitionError, match="places must be an integer from 0 to 6"):
            ratio_text(A, B, 7)
        with pytest.raises(UsageError, match="no truth value"):
            bool(A == 1)
        for name in ("_x", "len", "str", "class", "1a"):
            with pytest.raises(UsageError, match="an input's name"):
                int_input(name)

    def test_missing_inputs_are_named(self) -> None:
        decision = DecisionList.define(
            "mine", inputs=(A,), outputs={"v": "int"}, cases=[Case(None, v=A)]
        )
        assert decision(a=3) == (3,)
        with pytest.raises(UsageError, match="input 'a' not given"):
            decision(b=3)
        with pytest.raises(UsageError, match="no column for a"):
            decision.over(pl.DataFrame({"b": [1]}), {})
        with pytest.raises(UsageError, match="already has columns named like its outputs: v"):
            decision.over(pl.DataFrame({"a": [1], "v": [2]}), {"a": pl.col("a")})
        with pytest.raises(UsageError, match="has no value named 'x'"):
            decision.value("x")


class TestRegularityDeclaredOnce:
    """The regularity rules: one declaration, the object path's answers over tables."""

    @SETTINGS
    @given(data=st.data(), portfolio=portfolios(max_clients=5, max_records=12), tz=TZS)
    def test_regularity_frame_equals_assess_regularity(
        self, data: Any, portfolio: Portfolio, tz: tzinfo
    ) -> None:
        policy = data.draw(
            st.builds(
                RegularityPolicy,
                min_gaps=st.integers(1, 4),
                max_cv=st.sampled_from([Decimal(0), Decimal("0.3"), Decimal("0.5"), Decimal(2)]),
                overdue_factor=st.sampled_from([Decimal(0), Decimal(1), Decimal("1.5")]),
                window_days=st.none() | st.sampled_from([1, 30, 365]),
            )
        )
        as_of: datetime = data.draw(as_of_moments(portfolio))
        frame = regularity_frame(frames_of(portfolio, 3), as_of=as_of, policy=policy, tz=tz)
        assert frame.columns == list(REGULARITY_COLUMNS)
        assert frame.get_column("client_id").to_list() == sorted(h.client_id for h in portfolio)
        for row, history in zip(
            frame.iter_rows(named=True), sorted(portfolio, key=lambda h: h.client_id), strict=True
        ):
            a = assess_regularity(history, as_of=as_of, policy=policy, tz=tz)
            assert row == {
                "client_id": history.client_id,
                "regularity": a.regularity.value,
                "purchase_days": len(a.purchase_days),
                "days_since_last": a.days_since_last,
                "next_expected": a.next_expected,
                "overdue": a.overdue,
                "evidence": a.evidence.reason,
                "record_ids": list(a.evidence.record_ids),
            }

    def test_exact_threshold_is_regular_in_both_engines(self) -> None:
        """Gaps whose cv is exactly the threshold: regular (a tie is a tie), both ways."""
        # gaps 10, 30, 10, 30: mean 20, population sd 10, cv exactly 0.5
        start = date(2024, 1, 1)
        days = tuple(start + timedelta(days=d) for d in (0, 10, 40, 50, 80))
        today = days[-1] + timedelta(days=31)
        decision = regularity_decision(RegularityPolicy())
        by_python, by_polars = python_and_polars(decision, [{"days": days, "as_of_day": today}])
        assert by_python == by_polars
        verdict, evidence, next_expected, overdue, since, n, total, spread = by_python[0]
        assert (verdict, next_expected, overdue, since) == ("regular", date(2024, 4, 10), True, 31)
        assert evidence == (
            "5 purchase days, 4 gaps, mean gap 20.0 days, cv 0.50: regular; next order "
            "expected 2024-04-10, overdue (31 days since the last purchase)"
        )
        assert (n, total, spread) == (4, 80, 4 * 2000 - 80 * 80)
        # just above the threshold: irregular
        decision = regularity_decision(RegularityPolicy(max_cv=Decimal("0.49")))
        by_python, by_polars = python_and_polars(decision, [{"days": days, "as_of_day": today}])
        assert by_python == by_polars
        assert by_python[0][:2] == (
            "irregular",
            "5 purchase days, 4 gaps, mean gap 20.0 days, cv 0.50: irregular (cv above 0.49)",
        )

    def test_a_threshold_too_fine_for_int128_is_refused(self) -> None:
        frames = frames_of(portfolios_example(), 0)
        moment = datetime(2024, 6, 1, tzinfo=UTC)
        policy = RegularityPolicy(max_cv=Decimal("0.333333333333"))
        with pytest.raises(UsageError, match=r"max_cv 0\.333333333333 has more decimal places"):
            regularity_frame(frames, as_of=moment, policy=policy)
        fine = RegularityPolicy(max_cv=Decimal("0.33333333333"))
        assert regularity_frame(frames, as_of=moment, policy=fine).height == 1


class TestMotivationDeclaredOnce:
    """The motivation rules: one declaration, the same verdicts in Python and polars."""

    @SETTINGS
    @given(data=st.data())
    def test_python_equals_polars(self, data: Any) -> None:
        segments = st.sampled_from([s.value for s in MotivationSegment])
        rules = data.draw(
            st.lists(
                st.builds(
                    AttributeRule,
                    st.sampled_from(["industry", "tier"]),
                    st.sampled_from(["retail", "a", ""]),
                    segments,
                ),
                max_size=2,
            )
        )
        policy = MotivationPolicy(
            window_days=data.draw(st.none() | st.sampled_from([30, 365])),
            attribute_rules=rules,
            belonging_min_offer_changes=data.draw(st.integers(0, 3)),
            belonging_min_partnership=data.draw(st.integers(0, 2)),
            lowest_price_min_requests=data.draw(st.integers(0, 6)),
            lowest_price_min_discounted_share=data.draw(
                st.sampled_from([Decimal(0), Decimal("0.75"), Decimal("0.333")])
            ),
            novelty_min_offer_changes=data.draw(st.integers(0, 3)),
            novelty_max_orders=data.draw(st.integers(0, 4)),
            novelty_max_mean_order=data.draw(
                st.none() | st.sampled_from([Decimal(0), Decimal("10.5"), Decimal("33.333")])
            ),
            stability_max_contacts_per_order=data.draw(
                st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1)])
            ),
        )
        decision = motivation_decision(policy)
        counts = st.integers(0, 3) | st.integers(0, 5_000)
        rows = []
        for _ in range(data.draw(st.integers(1, 12))):
            row: dict[str, Any] = {
                name: data.draw(st.none() | st.sampled_from(["retail", "a", "b", ""]))
                for name in decision.inputs
                if name.startswith("attribute_")
            }
            for name, _ in DECISION_COUNTS:
                row[name] = data.draw(counts)
            row["discounted"] = min(row["discounted"], row["sales"])
            row["value_units"] = data.draw(st.integers(0, 10**12))
            row["value_places"] = data.draw(st.integers(0, 6))
            row["demand"] = data.draw(st.sampled_from(["regular", "irregular", "one_off", "none"]))
            row["gap_sum"] = data.draw(st.integers(1, 5_000))
            row["spread"] = data.draw(st.integers(0, 10**9))
            rows.append(row)
        by_python, by_polars = python_and_polars(decision, rows)
        assert by_python == by_polars
        for row, (segment, rule, evidence, keys) in zip(rows, by_python, strict=True):
            assert segment in {s.value for s in MotivationSegment}
            if rule == "novelty" and row["sales"]:
                # the mean sale, in the places of the amounts, rounded half even
                mean = WIDE.divide(
                    Decimal(row["value_units"]).scaleb(-row["value_places"]), Decimal(row["sales"])
                )
                places = Decimal(1).scaleb(-row["value_places"])
                assert evidence.endswith(f"(mean {mean.quantize(places, ROUND_HALF_EVEN)})")
            assert all(k in SIGNAL_KEYS for k in keys.split(",") if k)

    def test_the_mean_sale_keeps_the_places_of_the_amounts(self) -> None:
        """Equal sums written with other places print their mean in their own places."""
        policy = MotivationPolicy(novelty_min_offer_changes=1, belonging_min_referrals=5)
        before = datetime(2000, 1, 1, tzinfo=UTC)
        empty = assess_regularity(portfolios_example()["c1"], as_of=before)
        ids = {key: [] for key in SIGNAL_KEYS} | {"offer_changes": ["i1", "i2", "i3"]}
        ids["sales"] = ["o1", "o2"]
        seen = []
        for value in ("0", "0.000", "12.5", "12.50", "1E+3", "0.005"):
            signals = motivation_signals(ids, sales_value=Decimal(value), regularity=empty)
            found = motivation_from_signals("c1", signals, as_of=AS_OF, policy=policy)
            assert found.rule == "novelty"
            seen.append(found.evidence.reason.rsplit("(mean ", 1)[1])
        # half even: 6.25 -> 6.2, 0.0025 -> 0.002
        assert seen == ["0)", "0.000)", "6.2)", "6.25)", "500)", "0.002)"]


class TestMissingValues:
    """A missing text compares as in Python, in both engines (two-valued logic)."""

    def test_missing_equals_only_missing(self) -> None:
        tier = text_input("tier")
        decision = DecisionList.define(
            "tiers",
            inputs=(tier,),
            outputs={"eq": "bool", "ne": "bool", "not_eq": "bool", "word": "text"},
            cases=[
                Case(
                    None,
                    eq=tier == "gold",
                    ne=tier != "gold",
                    not_eq=~(tier == "gold"),
                    word=lookup(tier, {"gold": "best"}),
                )
            ],
        )
        rows = [{"tier": t} for t in ("gold", "silver", None)]
        by_python, by_polars = python_and_polars(decision, rows)
        assert (
            by_python
            == by_polars
            == [
                (True, False, False, "best"),
                (False, True, True, None),
                (False, True, True, None),
            ]
        )


class TestMissingConditions:
    """A missing condition is three-valued: kept missing as an output, and a case
    (or a choice) whose condition is missing is not taken — ``~`` of a missing
    condition included."""

    def test_a_missing_condition_is_neither_taken_nor_read_as_false(self) -> None:
        p, q = bool_input("p"), bool_input("q")
        decision = DecisionList.define(
            "flags",
            inputs=(p, q),
            outputs={"case": "text", "both": "bool", "either": "bool", "neither": "text"},
            cases=[
                Case(
                    ~p,
                    case="not p",
                    both=p & q,
                    either=p | q,
                    neither=choose(~(p | q), "neither", "not neither"),
                ),
                Case(p | q, case="p or q", both=p & q, either=p | q, neither="-"),
                Case(None, case="otherwise", both=p & q, either=p | q, neither="-"),
            ],
        )
        rows = [{"p": a, "q": b} for a in (None, True, False) for b in (None, True, False)]
        by_python, by_polars = python_and_polars(decision, rows)
        assert by_python == by_polars
        assert by_python == [
            ("otherwise", None, None, "-"),  # p, q missing
            ("p or q", None, True, "-"),  # p missing, q true
            ("otherwise", False, None, "-"),  # p missing, q false
            ("p or q", None, True, "-"),
            ("p or q", True, True, "-"),
            ("p or q", False, True, "-"),
            (
                "not p",
                False,
                None,
                "not neither",
            ),  # false & missing is false; ~(false | missing) missing
            ("not p", False, True, "not neither"),
            ("not p", False, False, "neither"),
        ]


class TestClientStageDeclaredOnce:
    """The client-base stage: one declaration, the same stage in Python and polars."""

    def test_every_combination(self) -> None:
        decision = client_stage_decision()
        rows = [
            {
                "active": active,
                "rung": rung.value,
                "rung_evidence": f"why {rung.value}",
                "regularity": regularity.value,
                "regularity_evidence": f"sales {regularity.value}",
            }
            for active in (True, False)
            for rung in Rung
            for regularity in Regularity
        ]
        by_python, by_polars = python_and_polars(decision, rows)
        assert by_python == by_polars
        for row, (stage, _, source) in zip(rows, by_python, strict=True):
            by_rung = STAGE_OF_RUNG.get(Rung(row["rung"]))
            if not row["active"]:
                assert (stage, source) == ("lost", "ladder")
            elif by_rung in (ClientStage.partner, ClientStage.regular):
                assert (stage, source) == (by_rung.value, "ladder")
            elif row["regularity"] == "regular":
                assert (stage, source) == ("regular", "regularity")
            elif row["regularity"] == "none" and by_rung is None:
                assert stage == "none"
            else:
                assert stage == "new"


class TestMotivationFrame:
    """motivation_frame: the object path's segments, rules, sentences and ids, over tables."""

    @SETTINGS
    @given(data=st.data(), portfolio=portfolios(max_clients=5, max_records=14), tz=TZS)
    def test_equals_classify_motivation(self, data: Any, portfolio: Portfolio, tz: tzinfo) -> None:
        # the columnar signals' random policies: windows, thresholds, attribute rules
        policy = data.draw(policies_for(portfolio)).motivation
        as_of: datetime = data.draw(as_of_moments(portfolio))
        frame = motivation_frame(frames_of(portfolio, 5), as_of=as_of, policy=policy, tz=tz)
        assert frame.columns == list(MOTIVATION_COLUMNS)
        histories = sorted(portfolio, key=lambda h: h.client_id)
        assert frame.get_column("client_id").to_list() == [h.client_id for h in histories]
        for row, history in zip(frame.iter_rows(named=True), histories, strict=True):
            a = classify_motivation(history, as_of=as_of, policy=policy, tz=tz)
            assert row == {
                "client_id": history.client_id,
                "segment": a.segment.value,
                "rule": a.rule,
                "evidence": a.evidence.reason,
                "record_ids": list(a.evidence.record_ids),
            }

    @pytest.mark.parametrize(
        "amounts",
        [
            ("1E+3", "0.5"),
            ("0.000", "0"),
            ("12.50", "7.125"),
            ("1234567890123456789012345678901234567.5", "2"),  # 38 digits: Int128 still
            ("12345678901234567890123456789012345678.5", "2"),  # 39: read as a Decimal
        ],
    )
    def test_amounts_in_every_form_give_the_objects_mean(self, amounts: tuple[str, ...]) -> None:
        """The novelty sentence's mean sale from amounts written with an exponent,
        with places, or with more digits than 128 bits hold: the object path's."""
        start = datetime(2024, 1, 1, tzinfo=UTC)
        orders = [
            Order(
                order_id=f"o{k}",
                client_id="c1",
                placed_at=start + timedelta(days=k),
                amount=Decimal(text),
                currency="EUR",
                status=OrderStatus.delivered,
            )
            for k, text in enumerate(amounts)
        ]
        touches = [
            Interaction(
                interaction_id=f"i{k}",
                client_id="c1",
                at=start + timedelta(days=k, hours=1),
                channel=Channel.email,
                direction=Direction.inbound,
                purpose=Purpose.offer_change,
            )
            for k in range(3)
        ]
        portfolio = build_portfolio(
            clients=[Client(client_id="c1")], orders=orders, interactions=touches
        )
        policy = MotivationPolicy(belonging_min_referrals=5, novelty_min_offer_changes=1)
        moment = start + timedelta(days=30)
        found = motivation_frame(frames_of(portfolio), as_of=moment, policy=policy).row(0)
        a = classify_motivation(portfolio["c1"], as_of=moment, policy=policy)
        assert a.rule == "novelty"
        assert "(mean " in a.evidence.reason
        assert found[1:4] == (a.segment.value, a.rule, a.evidence.reason)

    def test_a_threshold_too_fine_for_int128_is_refused(self) -> None:
        frames = frames_of(portfolios_example(), 0)
        moment = datetime(2024, 6, 1, tzinfo=UTC)
        fine = MotivationPolicy(novelty_max_mean_order=Decimal("123456.789"))
        assert motivation_frame(frames, as_of=moment, policy=fine).height == 1
        policy = MotivationPolicy(novelty_max_mean_order=Decimal("0.1234567891"))
        with pytest.raises(UsageError, match=r"novelty_max_mean_order 0\.1234567891 has more"):
            motivation_frame(frames, as_of=moment, policy=policy)


class TestMotivationReadsItsDemand:
    def test_the_stability_cv_is_the_demands(self) -> None:
        """The stability sentence prints the cv of the regularity it is given, from its
        days (a regularity built by hand too); an inconsistent one is refused by name."""
        days = tuple(date(2024, 1, 1) + timedelta(days=d) for d in (0, 10, 40, 50, 80))
        demand = regularity_from_days(
            "c1", days, ["o"] * 5, as_of_day=date(2024, 4, 1), policy=RegularityPolicy()
        )
        ids = {key: [] for key in SIGNAL_KEYS} | {"sales": ["o1", "o2", "o3", "o4", "o5"]}
        policy = MotivationPolicy(belonging_min_referrals=5)

        def reason(regularity: Any) -> str:
            signals = motivation_signals(ids, sales_value=Decimal(50), regularity=regularity)
            found = motivation_from_signals("c1", signals, as_of=AS_OF, policy=policy)
            return found.evidence.reason

        assert reason(demand).startswith("regular demand (5 sales, cv 0.50)")
        other = attrs.evolve(demand, purchase_days=(*days[:4], date(2024, 3, 11)))
        assert reason(other).startswith("regular demand (5 sales, cv 0.47)")
        with pytest.raises(UsageError, match="'regular' with fewer than two purchase days"):
            reason(attrs.evolve(demand, purchase_days=()))


IDS = ids_input("ids")
ITEM = text_input("item")
KEYS = ids_input("keys")

#: Every operation on record ids, and a case that reads them.
ID_OPS = DecisionList.define(
    "record ids",
    inputs=(IDS, ITEM, KEYS),
    outputs={
        "by_keys": "ids",
        "chosen": "ids",
        "appended": "ids",
        "size": "int",
        "head": "ids",
        "tail": "ids",
        "joined": "text",
        "contains": "bool",
        "verdict": "text",
        "cites": "ids",
        "distinct": "ids",
        "sorted": "ids",
        "merged": "ids",
    },
    cases=[
        Case(
            IDS.append(ITEM).size() >= 3,
            by_keys=IDS.sorted_by(KEYS),
            chosen=choose(IDS.contains(ITEM), IDS, IDS.append(ITEM)),
            appended=IDS.append(ITEM),
            size=IDS.size(),
            head=IDS.head(2),
            tail=IDS.tail(2),
            joined=IDS.append(ITEM).joined(" + "),
            contains=IDS.contains(ITEM),
            verdict=text("many: ", IDS.tail(2).joined()),
            cites=IDS.head(0),
            distinct=IDS.append_new(ITEM),
            sorted=IDS.append(ITEM).sorted(),
            merged=IDS.merged(KEYS),
        ),
        Case(
            None,
            by_keys=KEYS.sorted_by(IDS),
            chosen=choose(KEYS.size() > IDS.size(), KEYS, IDS),
            appended=IDS.append(ITEM),
            size=IDS.size(),
            head=IDS.head(2),
            tail=IDS.tail(0),
            joined=IDS.joined(),
            contains=IDS.contains(ITEM),
            verdict="few",
            cites=(),
            distinct=IDS.append_new(ITEM).append_new(ITEM),
            sorted=IDS.sorted().head(2),
            merged=IDS.append(ITEM).merged(IDS),
        ),
    ],
)


@SETTINGS
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "ids": st.lists(
                    st.sampled_from(["o1", "o2", "k3", "é4", "", "O1", "z"]), max_size=5
                ).map(tuple),
                "item": st.none() | st.sampled_from(["o1", "x9", ""]),
                "keys": st.lists(st.sampled_from(["b", "a", "c", "a", "é"]), max_size=6).map(tuple),
            }
        ),
        min_size=1,
        max_size=20,
    )
)
def test_record_ids_are_decided_alike_by_both_engines(rows: list[dict[str, Any]]) -> None:
    """Appending (a missing id adds nothing), appending only what is new, merging
    (each id once, in the order first seen), sorting,
    sorting by aligned keys (the shorter list says how many; equal keys keep their
    order), choosing, counting, the first and last n, joining and membership: the
    Python function and the polars compilation agree on every row."""
    by_python = [ID_OPS(**row) for row in rows]
    frame = pl.DataFrame(
        {
            "ids": [list(r["ids"]) for r in rows],
            "item": [r["item"] for r in rows],
            "keys": [list(r["keys"]) for r in rows],
        },
        schema={"ids": pl.List(pl.String), "item": pl.String, "keys": pl.List(pl.String)},
    )
    decided = ID_OPS.over(frame, {n: pl.col(n) for n in ("ids", "item", "keys")})
    by_polars = [
        tuple(tuple(v) if isinstance(v, list) else v for v in row)
        for row in decided.select(list(ID_OPS.outputs)).collect().iter_rows()
    ]
    assert by_polars == by_python
    for row, got in zip(rows, by_python, strict=True):
        want = (*row["ids"], row["item"]) if row["item"] is not None else row["ids"]
        assert got[2] == want
        assert len(set(got[12])) == len(got[12])  # merged: each id once


def test_record_ids_are_checked_when_declared() -> None:
    """Ids in a sentence without joining, a negative count, an integer appended, an
    operation on something that is not ids: DefinitionError naming it."""
    for build, message in (
        (lambda: text("ids: ", IDS), "is record ids: write ids.joined()"),
        (lambda: IDS.head(-1), "give a whole number of ids, 0 or more"),
        (lambda: IDS.append(A), "a is int, not a text"),
        (lambda: A.size(), "a is int, not record ids"),
        (lambda: IDS == IDS, "cannot compare ids with ids"),
        (lambda: IDS.joined(1), "the separator must be a text"),  # type: ignore[arg-type]
    ):
        with pytest.raises(DefinitionError, match=message):
            build()


ZONES: tuple[str | tzinfo, ...] = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    ZoneInfo("Australia/Adelaide"),
    UTC,
    timezone(timedelta(hours=5, minutes=45)),
    timezone(-timedelta(hours=9, minutes=30)),
)
MICROS_2020 = 1_577_836_800_000_000  # 2020-01-01T00:00Z


def _days_decision(zone: str | tzinfo) -> DecisionList:
    """A register of purchase days gaining the day of a sale in ``zone``, and the
    regularity rule asked about the days before and after it."""
    days, at, today = days_input("days"), int_input("at"), day_input("today")
    rule = regularity_decision(RegularityPolicy())
    day = day_in(at, zone)
    after = days.add(day)
    return DecisionList.define(
        f"days in {zone}",
        inputs=(days, at, today),
        outputs={
            "day": "date",
            "after": "days",
            "regular_before": "bool",
            "regular_after": "bool",
            "gap_sum": "int",
            "sentence": "text",
        },
        cases=[
            Case(
                rule.ask("regular", days=after, as_of_day=today),
                day=day,
                after=after,
                regular_before=rule.ask("regular", days=days, as_of_day=today),
                regular_after=True,
                gap_sum=rule.ask("gap_sum", days=after, as_of_day=today),
                sentence=text(
                    "regular: ",
                    ratio_text(
                        rule.ask("gap_sum", days=after, as_of_day=today),
                        rule.ask("gaps", days=after, as_of_day=today),
                        1,
                    ),
                    " days apart",
                ),
            ),
            Case(
                None,
                day=day,
                after=after,
                regular_before=rule.ask("regular", days=days, as_of_day=today),
                regular_after=False,
                gap_sum=0,
                sentence=text("not regular: ", plural(days.count(), "day"), " before"),
            ),
        ],
    )


@SETTINGS
@given(
    zone=st.sampled_from(ZONES),
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "days": st.lists(
                    st.dates(min_value=date(2020, 1, 1), max_value=date(2020, 12, 31)),
                    max_size=8,
                ).map(lambda ds: tuple(sorted(set(ds)))),
                "at": st.none() | st.integers(MICROS_2020, MICROS_2020 + 400 * 86_400 * 10**6),
                "today": st.none() | st.dates(date(2020, 6, 1), date(2021, 6, 1)),
            }
        ),
        min_size=1,
        max_size=15,
    ),
)
def test_days_registers_and_asking_another_decision_agree_in_both_engines(
    zone: str | tzinfo, rows: list[dict[str, Any]]
) -> None:
    """The day of a moment in a zone, days gaining a day (distinct, oldest first; a
    missing day adds nothing), and the regularity rule's named values asked from
    another decision: the Python function and the polars compilation agree."""
    decision = _days_decision(zone)
    # a sale on a day already counted adds nothing (06:00Z: 2020-02-29 in every zone here)
    morning = MICROS_2020 + (59 * 86_400 + 6 * 3_600) * 10**6  # 2020-02-29T06:00Z
    counted = (date(2020, 2, 29), date(2020, 3, 30))
    rows = [*rows, {"days": counted, "at": morning, "today": None}]
    by_python = [decision(**row) for row in rows]
    frame = pl.DataFrame(
        {
            "days": [list(r["days"]) for r in rows],
            "at": [r["at"] for r in rows],
            "today": [r["today"] for r in rows],
        },
        schema={"days": pl.List(pl.Date), "at": pl.Int64, "today": pl.Date},
    )
    columns = {n: pl.col(n) for n in decision.inputs}
    decided = decision.over(frame, columns).select(list(decision.outputs)).collect()
    by_polars = [
        tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in decided.iter_rows()
    ]
    assert by_polars == by_python
    for row, got in zip(rows, by_python, strict=True):
        if row["at"] is not None:
            utc = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=row["at"])
            want = utc.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone)
            assert got[0] == want.date()
            assert got[1] == tuple(sorted({*row["days"], want.date()}))
        else:
            assert got[0] is None
            assert got[1] == row["days"]


class _Odd(tzinfo):
    """A zone that is neither UTC, a fixed offset nor an IANA zone."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=1)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)


def test_asking_another_decision_and_days_are_checked_when_declared() -> None:
    """A value the other decision does not have, a missing or extra input, an input of
    another kind, a day added that is not a day, an unknown zone: DefinitionError."""
    rule = regularity_decision(RegularityPolicy())
    days, today = days_input("days"), day_input("today")
    for build, message in (
        (lambda: rule.ask("nope", days=days, as_of_day=today), "has no value named 'nope'"),
        (lambda: rule.ask("regular", days=days), "missing as_of_day"),
        (lambda: rule.ask("regular", days=days, as_of_day=today, x=A), "unknown x"),
        (lambda: rule.ask("regular", days=A, as_of_day=today), "input days is days, not int"),
        (lambda: days.add(A), "a is int, not a day"),
        (lambda: day_in(A, "Mars/Olympus"), "'Mars/Olympus' is not a known time zone"),
        (lambda: day_in(A, _Odd()), "is not a known time zone"),
        (lambda: text(days.add(today)), "is days: print an aggregate of them"),
    ):
        with pytest.raises(DefinitionError, match=message):
            build()


# ------------------------------------------------- any declaration, missing values

INT_A, INT_B = int_input("a"), int_input("b")
DAY_D, DAY_E = day_input("d"), day_input("e")
TEXT_T, FLAG_P, FLAG_Q = text_input("t"), bool_input("p"), bool_input("q")
DAYS, IDS_X = days_input("ds"), ids_input("xs")
ANY_INPUTS = (INT_A, INT_B, DAY_D, DAY_E, TEXT_T, FLAG_P, FLAG_Q, DAYS, IDS_X)
#: Each input's polars dtype (its values may be missing but for the lists').
ANY_SCHEMA = {
    "a": pl.Int64,
    "b": pl.Int64,
    "d": pl.Date,
    "e": pl.Date,
    "t": pl.String,
    "p": pl.Boolean,
    "q": pl.Boolean,
    "ds": pl.List(pl.Date),
    "xs": pl.List(pl.String),
}
#: Moments (microseconds since 1970, UTC) at and past the calendar's ends, where
#: a day in a zone has no answer.
FIRST_MOMENT = (datetime.min.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
    microseconds=1
)
LAST_MOMENT = (datetime.max.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
    microseconds=1
)
HOUR = 3_600_000_000
EDGE_MOMENTS = (
    0,
    FIRST_MOMENT,
    FIRST_MOMENT - 1,
    FIRST_MOMENT + HOUR,
    LAST_MOMENT,
    LAST_MOMENT + 1,
    LAST_MOMENT - HOUR,
    2**62,
    -(2**62),
)
#: Near the calendar's ends too, where a day plus days has no answer.
ANY_DAYS = st.dates(date(1990, 1, 1), date(2030, 12, 31)) | st.sampled_from(
    [date(1, 1, 2), date(9999, 12, 30)]
)
ANY_ROW = st.fixed_dictionaries(
    {
        "a": st.none() | st.integers(-1_000, 1_000) | st.sampled_from([0, 1, 2, 36, 37]),
        "b": st.none() | st.integers(-1_000, 1_000) | st.sampled_from([0, -1, 2, 18, 19]),
        "d": st.none() | ANY_DAYS,
        "e": st.none() | ANY_DAYS,
        "t": st.none() | st.sampled_from(["x", "y", ""]),
        "p": st.none() | st.booleans(),
        "q": st.none() | st.booleans(),
        "ds": st.lists(ANY_DAYS, max_size=4, unique=True).map(lambda d: tuple(sorted(d))),
        "xs": st.lists(st.sampled_from(["x", "o1", ""]), max_size=3).map(tuple),
    }
)


@functools.cache
def any_values(kind: str, depth: int) -> st.SearchStrategy[Any]:
    """Values of ``kind`` built from the inputs, constants (missing ones too)
    and every operation of that kind, ``depth`` operations deep at most."""
    leaves: dict[str, st.SearchStrategy[Any]] = {
        "int": st.sampled_from(
            [INT_A, INT_B, DAYS.count(), DAYS.gap_squares(), IDS_X.size(), lit(None, "int")]
        )
        | st.integers(-3, 3).map(lit),
        "bool": st.sampled_from([FLAG_P, FLAG_Q, lit(None, "bool"), lit(True), lit(False)]),
        "date": st.sampled_from([DAY_D, DAY_E, DAYS.first(), DAYS.last(), lit(None, "date")]),
        "text": st.sampled_from([TEXT_T, lit("x"), lit(None, "text"), IDS_X.joined()]),
    }
    if depth == 0:
        return leaves[kind]

    def sub(k: str) -> st.SearchStrategy[Any]:
        return any_values(k, depth - 1)

    ops = {"+": add, "-": sub_, "*": mul, "//": floordiv}
    orders = {"<": lt, "<=": le, ">": gt, ">=": ge, "==": eq, "!=": ne}
    nodes: dict[str, list[st.SearchStrategy[Any]]] = {
        "int": [
            st.builds(
                lambda op, x, y: ops[op](x, y), st.sampled_from(sorted(ops)), sub("int"), sub("int")
            ),
            st.builds(lambda x, y: x - y, sub("date"), sub("date")),
            st.builds(round_half_up, sub("int"), sub("int")),
            st.builds(pow10, sub("int")),
        ],
        "bool": [
            st.builds(
                lambda op, x, y: orders[op](x, y),
                st.sampled_from(sorted(orders)),
                sub("int"),
                sub("int"),
            ),
            st.builds(
                lambda op, x, y: orders[op](x, y),
                st.sampled_from(sorted(orders)),
                sub("date"),
                sub("date"),
            ),
            st.builds(lambda x, y: x == y, sub("text"), sub("text")),
            st.builds(lambda x, y: x & y, sub("bool"), sub("bool")),
            st.builds(lambda x, y: x | y, sub("bool"), sub("bool")),
            st.builds(lambda x: ~x, sub("bool")),
            st.builds(IDS_X.contains, sub("text")),
        ],
        "date": [
            st.builds(lambda x, y: x + y, sub("date"), sub("int")),
            st.builds(
                day_in,
                st.sampled_from([lit(m) for m in EDGE_MOMENTS] + [lit(None, "int")]) | sub("int"),
                st.sampled_from(
                    ["Europe/Kyiv", "UTC", "America/New_York", timezone(-timedelta(hours=5))]
                ),
            ),
        ],
        "text": [
            st.builds(lambda *parts: text(*parts), sub("text"), sub("int"), sub("date")),
            st.builds(ratio_text, sub("int"), sub("int"), st.sampled_from([0, 2])),
            st.builds(ratio_text, sub("int"), sub("int"), sub("int")),
            st.builds(sqrt_ratio_text, sub("int"), sub("int"), st.sampled_from([0, 1])),
            st.builds(grouped, sub("int")),
            st.builds(lambda x: plural(x, "gap"), sub("int")),
            st.builds(lambda x: lookup(x, {"x": "ex", "": "empty"}), sub("text")),
        ],
    }
    nodes[kind].append(st.builds(choose, sub("bool"), sub(kind), sub(kind)))
    return leaves[kind] | st.one_of(nodes[kind])


def assert_engines_agree(decision: DecisionList, rows: list[dict[str, Any]]) -> None:
    """The decision's Python function and its polars expressions give the same
    outputs on every row (of ``ANY_SCHEMA``'s inputs)."""
    by_python = [decision(**row) for row in rows]
    # polars' integer outputs are Int64 (it refuses a larger one, as documented)
    assume(all(r[0] is None or -(2**63) <= r[0] < 2**63 for r in by_python))
    assert _by_polars(decision, rows) == by_python, decision.describe()


def _by_polars(decision: DecisionList, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The decision's outputs on each row (of ``ANY_SCHEMA``'s inputs), by polars."""
    frame = pl.DataFrame(
        {n: [list(r[n]) if isinstance(r[n], tuple) else r[n] for r in rows] for n in ANY_SCHEMA},
        schema=ANY_SCHEMA,
    )
    decided = decision.over(frame, {n: pl.col(n) for n in ANY_SCHEMA})
    return [tuple(r) for r in decided.select(list(decision.outputs)).collect().iter_rows()]


@settings(SETTINGS, max_examples=150)
@given(
    data=st.data(),
    rows=st.lists(ANY_ROW, min_size=1, max_size=12),
)
def test_any_declaration_gives_the_same_answers_in_both_engines(
    data: Any, rows: list[dict[str, Any]]
) -> None:
    """Random declarations over inputs that may be missing: every operation, in
    any combination, gives the same answer in Python and polars. An operation
    with no answer — a missing operand, a division by zero, a day past the
    calendar, a root of a negative — is missing; an order with a missing side is
    false; and, or and not are three-valued; a case whose condition is missing
    is not taken."""
    kinds = ("int", "bool", "date", "text")
    outputs = {f"{k}_out": cast(Kind, k) for k in kinds}
    first = {f"{k}_out": data.draw(any_values(k, 3), label=k) for k in kinds}
    second = {f"{k}_out": data.draw(any_values(k, 1), label=f"{k} otherwise") for k in kinds}
    condition = data.draw(any_values("bool", 2), label="condition")
    decision = DecisionList.define(
        "any",
        inputs=ANY_INPUTS,
        outputs=outputs,
        cases=[Case(condition, **first), Case(None, **second)],
    )
    assert_engines_agree(decision, rows)


def _shared_values(data: Any) -> tuple[Case, ...]:
    """Cases that read the same values (the same objects) in several places:
    in conditions and outputs, in several cases, twice in one output, and
    inside other values."""
    kinds = ("int", "bool", "date", "text")
    pool = {k: [data.draw(any_values(k, 2), label=f"shared {k}") for _ in range(2)] for k in kinds}
    # values built on the pool's, themselves read in several places
    pool["int"].append(pool["int"][0] + pool["int"][1])
    pool["bool"].append(pool["bool"][0] & ~pool["bool"][1])
    pool["bool"].append(pool["int"][2] > pool["int"][0])
    pool["text"].append(text(pool["text"][0], pool["int"][2], pool["date"][1]))
    pool["date"].append(choose(pool["bool"][2], pool["date"][0], pool["date"][1]))

    def one(kind: str) -> Any:
        return data.draw(st.sampled_from(pool[kind]), label=kind)

    def output(kind: str) -> Any:
        shape = data.draw(st.integers(0, 2), label=f"{kind} shape")
        if shape == 0:
            return one(kind)
        if shape == 1:
            return choose(one("bool"), one(kind), one(kind))
        if kind == "int":
            return one("int") * one("int")
        if kind == "bool":
            return one("bool") | one("bool")
        if kind == "text":
            return text(one("text"), one("text"))
        return one("date") + one("int")

    cases = []
    for n in range(3):
        condition = None if n == 2 else one("bool") | (one("bool") & one("bool"))
        cases.append(Case(condition, **{f"{k}_out": output(k) for k in kinds}))
    return tuple(cases)


@settings(SETTINGS, max_examples=50)
@given(data=st.data(), rows=st.lists(ANY_ROW, min_size=1, max_size=12))
def test_values_read_in_several_places_give_the_same_answers(
    data: Any, rows: list[dict[str, Any]]
) -> None:
    """A value a declaration reads in several places (in conditions and outputs,
    in several cases, twice in one output, inside other shared values) is
    computed once in Python: the answers stay polars' answers, row by row."""
    outputs = {f"{k}_out": cast(Kind, k) for k in ("int", "bool", "date", "text")}
    decision = DecisionList.define(
        "shared", inputs=ANY_INPUTS, outputs=outputs, cases=_shared_values(data)
    )
    assert_engines_agree(decision, rows)


def test_a_value_read_in_several_places_is_computed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Python function computes a value once however many places read it:
    a ratio read by a condition, two outputs and a later case is worked out
    once per call, and one that only a case's outputs read is worked out only
    when that case is taken."""
    import relcycle.decisions as decisions

    calls: list[tuple[Any, ...]] = []
    helper = decisions._HELPERS["_ratio_text"]

    def counted(*args: Any) -> Any:
        calls.append(args)
        return helper(*args)

    monkeypatch.setitem(decisions._HELPERS, "_ratio_text", counted)
    shared = ratio_text(INT_A, INT_B, 2)
    alone = ratio_text(INT_B, INT_A, 1)
    rule = DecisionList.define(
        "once",
        inputs=(INT_A, INT_B),
        outputs={"x": "text", "y": "text"},
        cases=[
            Case(shared == "0.50", x=shared, y=text(shared, "!")),
            Case(INT_A > 10, x=alone, y=text(alone, alone)),
            Case(None, x=shared, y=lit(None, "text")),
        ],
    )
    assert rule(a=1, b=2) == ("0.50", "0.50!")
    assert len(calls) == 1
    calls.clear()
    assert rule(a=12, b=4) == ("0.3", "0.30.3")
    assert len(calls) == 2  # the shared ratio (for the first condition) and the case's own
    calls.clear()
    assert rule(a=3, b=None) == (None, None)
    assert len(calls) == 1  # the case's own ratio is not worked out where it is not taken


def _polars_text(decision: DecisionList) -> str:
    """Every polars expression the decision compiles to, as one text."""
    temps, outputs = decision.expressions({n: pl.col(n) for n in ANY_SCHEMA})
    return " ".join([*(str(e) for _, e in temps), *map(str, outputs)])


def test_a_helper_reads_each_argument_once_in_polars() -> None:
    """A helper's polars expression reads its arguments and its own steps as
    columns computed once: a polars expression is a tree, and copying an
    argument into each place that reads it made the declared ladder's
    sentences tens of thousands of characters long (its fold 2.7 times
    slower). An
    argument written once stays written once, and so does the innermost of
    twelve helpers nested in each other's arguments (copied, 2**12 times)."""
    marked = INT_A * 7919 + INT_B  # the marker 7919 shows where it is written
    moment = INT_A * 7919
    helpers = [
        ratio_text(marked, INT_B, 2),
        ratio_text(INT_B, marked, INT_A),
        sqrt_ratio_text(marked, INT_B, 1),
        grouped(marked),
        text(round_half_up(INT_B, marked)),
        text(pow10(marked)),
        text(day_in(moment, "Europe/Kyiv")),
        text(day_in(moment, timezone(timedelta(hours=-5)))),
        text(DAY_D + marked),
        IDS_X.append(text(marked)).joined(","),
        IDS_X.append_new(text(marked)).joined(","),
    ]
    nested = marked
    for _ in range(12):
        nested = round_half_up(INT_B, nested)  # reads its denominator twice
    rows = [
        {**dict.fromkeys(ANY_SCHEMA), "a": a, "b": b, "d": date(2024, 5, 1), "ds": (), "xs": xs}
        for a, b, xs in [(1, 2, ()), (-3, 7, ("o-1",)), (0, 0, ("x",)), (None, 4, ())]
    ]
    for value in [*helpers, text(nested)]:
        decision = DecisionList.define(
            "helper", inputs=ANY_INPUTS, outputs={"out": "text"}, cases=[Case(None, out=value)]
        )
        assert _polars_text(decision).count("7919") == 1, value._text()
        assert _by_polars(decision, rows) == [decision(**row) for row in rows], value._text()


def test_a_value_shared_through_a_condition_is_computed_before_it() -> None:
    """A value read by a case's output and, inside another value, by a later
    case's condition is computed before the first of them (found by the test
    above: the first version computed it inside the first case's branch only,
    and the later condition read a name never assigned)."""
    flag = FLAG_P & FLAG_Q
    inner = ~(DAY_D != DAY_E) & ~flag
    rule = DecisionList.define(
        "through",
        inputs=(DAY_D, DAY_E, FLAG_P, FLAG_Q),
        outputs={"b": "bool", "day": "date"},
        cases=[
            Case(DAY_D == DAY_E, b=flag, day=choose(inner, DAY_D, DAY_E)),
            Case(FLAG_P | inner, b=inner, day=DAY_E),
            Case(None, b=lit(None, "bool"), day=DAY_D),
        ],
    )
    rows = [
        {"d": d, "e": e, "p": p, "q": q}
        for d in (None, date(2024, 1, 1))
        for e in (None, date(2024, 1, 1), date(2024, 1, 2))
        for p in (None, True, False)
        for q in (None, True, False)
    ]
    by_python = [rule(**row) for row in rows]
    schema = {"d": pl.Date, "e": pl.Date, "p": pl.Boolean, "q": pl.Boolean}
    frame = pl.DataFrame(rows, schema=schema)
    decided = rule.over(frame, {n: pl.col(n) for n in schema})
    assert [tuple(r) for r in decided.select("b", "day").collect().iter_rows()] == by_python
    assert rule(d=None, e=None, p=False, q=None) == (False, None)
    assert rule(d=None, e=date(2024, 1, 1), p=True, q=False) == (False, date(2024, 1, 1))


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Kyiv", "America/New_York", timezone(timedelta(hours=14))]
)
def test_the_day_of_a_moment_outside_the_calendar_is_missing_in_both_engines(
    zone: str | timezone,
) -> None:
    """A moment before year 1 or after 9999, or one whose day in the zone is
    (9999-12-31 23:00 UTC is 10000-01-01 in Kyiv), has no day: missing in both
    engines, as a day plus days past the calendar is (Python raised
    OverflowError; polars printed a year 10000 it could not hand back)."""
    moment = int_input("m")
    rule = DecisionList.define(
        "day",
        inputs=(moment,),
        outputs={"day": "date", "later": "date"},
        cases=[Case(None, day=day_in(moment, zone), later=day_in(moment * 10**12, zone))],
    )
    moments = [*EDGE_MOMENTS, None]
    by_python = [rule(m=m) for m in moments]
    frame = pl.DataFrame({"m": moments}, schema={"m": pl.Int64})
    decided = rule.over(frame, {"m": pl.col("m")}).select("day", "later").collect()
    assert [tuple(r) for r in decided.iter_rows()] == by_python
    assert rule(m=LAST_MOMENT + 1) == (None, None)
    if isinstance(zone, str):  # (a fixed offset shifts the moment first: 14 h later)
        assert rule(m=FIRST_MOMENT - 1) == (None, None)
    assert rule(m=2**62) == (None, None)
    assert rule(m=0)[0] == (date(1970, 1, 1) if zone != "America/New_York" else date(1969, 12, 31))
    if zone in ("UTC", "America/New_York"):
        assert rule(m=LAST_MOMENT)[0] == date(9999, 12, 31)
    else:  # east of UTC: the last moment's day is past the calendar
        assert rule(m=LAST_MOMENT)[0] is None
