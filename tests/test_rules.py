"""The rule layer: one declaration, two evaluators that agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle import rules
from relcycle.errors import DefinitionError, UsageError
from relcycle.model import Complaint, Order, Purpose
from relcycle.rules import BUILT_IN, Rule, Signal, f, resolve_zone
from relcycle.testing import complaints, interactions, orders

pl = pytest.importorskip("polars")

from relcycle.columnar._tables import _frame, _record_columns  # noqa: E402

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STRATEGY = {"orders": orders, "interactions": interactions, "complaints": complaints}
MOMENTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


def _polars_matches(rule: Rule, records: list[object], as_of: datetime) -> list[bool]:
    frame = _frame(rule.table, _record_columns(rule.table, records))
    matched = frame.with_columns(rule.to_polars(as_of=as_of).alias("m"))
    return matched.get_column("m").to_list()


class TestTwoEvaluators:
    @pytest.mark.parametrize("name", sorted(BUILT_IN))
    @settings(max_examples=25, deadline=None)
    @given(data=st.data(), as_of=MOMENTS)
    def test_python_and_polars_agree(self, name: str, data: st.DataObject, as_of: datetime) -> None:
        """Every built-in rule gives the same answer per record on both engines."""
        rule = BUILT_IN[name]
        records = data.draw(st.lists(STRATEGY[rule.table](), min_size=1, max_size=12))
        expected = [rule(r, as_of=as_of) for r in records]
        assert _polars_matches(rule, records, as_of) == expected

    @settings(max_examples=25, deadline=None)
    @given(records=st.lists(orders(), min_size=1, max_size=12))
    def test_negation_is_the_complement(self, records: list[Order]) -> None:
        """Two-valued logic: ~rule matches exactly what rule does not, with unknown fields too."""
        for rule in (rules.LATE_ORDER, rules.FAILED_ORDER, rules.DISCOUNTED_SALE):
            negated = ~rule
            assert [negated(r) for r in records] == [not rule(r) for r in records]
            assert _polars_matches(negated, records, T0) == [not rule(r) for r in records]

    @settings(max_examples=25, deadline=None)
    @given(data=st.data(), as_of=MOMENTS)
    def test_inlined_source_is_the_rule(self, data: st.DataObject, as_of: datetime) -> None:
        """Rules inlined together through one constants list test what each rule tests."""
        table_rules: dict[str, list[Rule]] = {}
        for rule in BUILT_IN.values():
            table_rules.setdefault(rule.table, []).append(rule)
        for table, mine in table_rules.items():
            consts: list[object] = [object()]  # a caller's own constant comes first
            sources = [rule.python_source(consts) for rule in mine]
            namespace = {f"_c{i}": c for i, c in enumerate(consts)}
            code = f"lambda r, as_of: ({', '.join(sources)},)"
            tests = eval(compile(code, "<test>", "eval"), namespace)
            records = data.draw(st.lists(STRATEGY[table](), min_size=1, max_size=8))
            for record in records:
                assert list(tests(record, as_of)) == [rule(record, as_of=as_of) for rule in mine]


class TestDeclarations:
    def test_record_tables_come_from_the_schema(self) -> None:
        """Each record table's class, id field and moment field are the contract schema's."""
        from relcycle.io._schema import TABLES

        records = [t for t in TABLES if t.time_column is not None]
        assert dict(rules.RECORD_CLASS) == {t.name: t.record for t in records}
        assert dict(rules.ID_FIELD) == {t.name: t.id_column for t in records}
        assert dict(rules.MOMENT_FIELD) == {t.name: t.time_column for t in records}

    @pytest.mark.parametrize(
        ("purpose", "direction", "wish", "feedback"),
        [
            ("wish", "inbound", True, False),
            ("wish", "outbound", False, False),
            ("feedback", "inbound", False, True),
            ("inquiry", "inbound", False, False),
        ],
    )
    def test_wishes_and_feedback_are_the_clients(
        self, purpose: str, direction: str, wish: bool, feedback: bool
    ) -> None:
        """A wish and feedback count when the client initiated them."""
        from relcycle.model import Interaction

        i = Interaction(
            interaction_id="i", client_id="c", at=T0, purpose=purpose, direction=direction
        )  # type: ignore[arg-type]
        assert (rules.WISH(i), rules.FEEDBACK(i)) == (wish, feedback)

    def test_unknown_field_is_refused(self) -> None:
        """A field the table does not have is a DefinitionError naming the table's fields."""
        with pytest.raises(DefinitionError, match="orders has no field 'stauts'"):
            Rule.define("typo", "orders", f("stauts") == "placed")

    def test_unknown_vocabulary_value_is_refused(self) -> None:
        """A value outside the field's vocabulary is refused when the rule is declared."""
        with pytest.raises(DefinitionError, match="'shipped' is not one of"):
            Rule.define("typo", "orders", f("status") == "shipped")

    def test_text_values_become_members(self) -> None:
        """Vocabulary values may be written as text; the rule holds the member."""
        rule = Rule.define("referral", "interactions", f("purpose") == "referral")
        assert rule(_interaction(Purpose.referral))
        assert not rule(_interaction(Purpose.inquiry))

    def test_unknown_table_is_refused(self) -> None:
        with pytest.raises(DefinitionError, match="table 'order'"):
            Rule.define("x", "order", f("status") == "placed")  # type: ignore[arg-type]

    def test_python_boolean_operators_are_refused(self) -> None:
        """`and`/`or` on expressions would silently drop a condition: it is an error."""
        with pytest.raises(UsageError, match="combine expressions with &"):
            (f("status") == "placed") and (f("on_time") == True)  # noqa: E712

    def test_combining_rules_of_two_tables_is_refused(self) -> None:
        with pytest.raises(UsageError, match="test different tables"):
            rules.SALE | rules.CONTACT

    def test_rule_reading_the_moment_needs_it(self) -> None:
        complaint = Complaint(complaint_id="c", client_id="a", opened_at=T0)
        with pytest.raises(UsageError, match="call it with as_of="):
            rules.OPEN_COMPLAINT(complaint)
        assert rules.OPEN_COMPLAINT(complaint, as_of=T0)
        assert not rules.OPEN_COMPLAINT(complaint, as_of=T0 - timedelta(seconds=1))

    def test_a_returned_late_order_failed(self) -> None:
        """One meaning of "failed order" everywhere: lateness is not undone by a return."""
        order = Order(
            order_id="o", client_id="a", placed_at=T0, amount="1", status="returned", on_time=False
        )
        assert rules.FAILED_ORDER(order)
        assert not rules.SALE(order)

    def test_describe_names_the_condition(self) -> None:
        assert rules.SALE.describe() == "sale: status in {delivered, placed}"


class TestSignals:
    def _orders(self) -> list[Order]:
        return [
            Order(order_id=f"o{i}", client_id="a", placed_at=T0 + timedelta(days=d), amount=a)
            for i, (d, a) in enumerate([(0, "10.50"), (0, "1"), (20, "2.25"), (40, "7")])
        ]

    def test_kinds(self) -> None:
        records = self._orders()
        as_of = T0 + timedelta(days=30)
        assert Signal.count(rules.SALE).evaluate(records, as_of=as_of) == 3
        assert Signal.ids(rules.SALE, window=15).evaluate(records, as_of=as_of) == ["o2"]
        assert Signal.sum(rules.SALE, "amount").evaluate(records, as_of=as_of) == Decimal("13.75")
        assert Signal.first(rules.SALE).evaluate(records, as_of=as_of) == T0
        assert Signal.last(rules.SALE).evaluate(records, as_of=as_of) == T0 + timedelta(days=20)
        days = Signal.days(rules.SALE).evaluate(records, as_of=as_of)
        assert days == [T0.date(), (T0 + timedelta(days=20)).date()]

    def test_days_follow_the_zone(self) -> None:
        late = Order(order_id="o", client_id="a", placed_at=T0 - timedelta(hours=1), amount="1")
        kyiv = resolve_zone("Europe/Kyiv")
        days = Signal.days(rules.SALE).evaluate([late], as_of=T0, tz=kyiv)
        assert days == [T0.date()]

    def test_signal_filter_compiles(self) -> None:
        records = self._orders()
        as_of = T0 + timedelta(days=30)
        signal = Signal.ids(rules.SALE, window=15)
        frame = _frame("orders", _record_columns("orders", records))
        got = frame.filter(signal.to_polars(as_of=as_of)).get_column("order_id").to_list()
        assert got == signal.evaluate(records, as_of=as_of)

    @settings(max_examples=40, deadline=None)
    @given(
        table=st.sampled_from(sorted(STRATEGY)),
        data=st.data(),
        shift=st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(hours=-2)]),
    )
    def test_the_as_of_cut_is_the_histories(
        self, table: str, data: st.DataObject, shift: timedelta
    ) -> None:
        """known_at keeps the records ClientHistory.as_of keeps: moment <= as_of, a
        record at as_of itself included (as_of in any zone)."""
        from relcycle.history import build_portfolio

        ident = rules.ID_FIELD[table]
        records = data.draw(
            st.lists(
                STRATEGY[table](client_id="a"),
                min_size=1,
                max_size=8,
                unique_by=lambda r: getattr(r, ident),
            )
        )
        moment = getattr(data.draw(st.sampled_from(records)), rules.MOMENT_FIELD[table])
        as_of = (moment + shift).astimezone(timezone(timedelta(hours=-5)))
        (history,) = build_portfolio(**{table: records}).histories
        kept = getattr(history.as_of(as_of), table)
        frame = _frame(table, _record_columns(table, list(getattr(history, table))))
        got = frame.filter(rules.known_at(table, as_of))
        assert got.get_column(ident).to_list() == [getattr(r, ident) for r in kept]

    @pytest.mark.parametrize("window", [0, -3, 1.5])
    def test_bad_window(self, window: object) -> None:
        with pytest.raises(DefinitionError, match="positive whole number of days"):
            Signal.count(rules.SALE, window=window)  # type: ignore[arg-type]


class TestZones:
    @pytest.mark.parametrize("name", ["UTC", "utc", "Z", "z", "Etc/UTC", " UTC "])
    def test_utc_spellings(self, name: str) -> None:
        """Every spelling of UTC the readers accept, every module accepts."""
        assert resolve_zone(name) is UTC

    def test_iana_name(self) -> None:
        zone = resolve_zone("Europe/Berlin")
        assert datetime(2026, 7, 1, tzinfo=zone).utcoffset() == timedelta(hours=2)

    def test_tzinfo_passes_through(self) -> None:
        zone = timezone(timedelta(hours=3))
        assert resolve_zone(zone) is zone

    @pytest.mark.parametrize("name", ["", "Mars/Olympus", "Europe/"])
    def test_unknown_names(self, name: str) -> None:
        with pytest.raises(UsageError, match="not a known time zone"):
            resolve_zone(name, what="--tz")


def _interaction(purpose: Purpose) -> object:
    from relcycle.model import Interaction

    return Interaction(interaction_id="i", client_id="a", at=T0, purpose=purpose)
