"""Tests for relcycle.model: validation, conversion, immutability, ordering, serialization."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from dateutil import tz
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle.errors import CurrencyMismatchError, RecordTypeError, ValidationError
from relcycle.model import (
    TERMINATION_REASONS,
    Channel,
    Client,
    ClientKind,
    Complaint,
    ComplaintCategory,
    ContactPerson,
    Direction,
    Escalation,
    FrozenMap,
    Interaction,
    LossReason,
    Money,
    Order,
    OrderStatus,
    Purpose,
    Severity,
    record_sort_key,
)
from relcycle.testing import (
    clients,
    complaints,
    contact_persons,
    interactions,
    money,
    orders,
    timestamps,
)

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
BERLIN = tz.gettz("Europe/Berlin")
NAIVE = datetime(2024, 3, 1, 9, 30)

BASE: dict[type, dict[str, Any]] = {
    Client: {"client_id": "C1"},
    ContactPerson: {"name": "Olena Koval"},
    Interaction: {"interaction_id": "I1", "client_id": "C1", "at": T0},
    Order: {"order_id": "O1", "client_id": "C1", "placed_at": T0, "amount": Decimal("10.00")},
    Complaint: {"complaint_id": "K1", "client_id": "C1", "opened_at": T0},
}


def make(cls: type, **changes: Any) -> Any:
    """Build ``cls`` from its minimal valid arguments with ``changes`` applied."""
    return cls(**{**BASE[cls], **changes})


# (class, changed fields, the field the error must name)
BAD_VALUES: list[tuple[type, dict[str, Any], str]] = [
    (Client, {"client_id": ""}, "client_id"),
    (Client, {"client_id": "   "}, "client_id"),
    (Client, {"kind": "bank"}, "kind"),
    (Client, {"since": NAIVE}, "since"),
    (Client, {"account_manager": ""}, "account_manager"),
    (ContactPerson, {"name": ""}, "name"),
    (ContactPerson, {"name": "  "}, "name"),
    (Interaction, {"interaction_id": ""}, "interaction_id"),
    (Interaction, {"client_id": ""}, "client_id"),
    (Interaction, {"at": NAIVE}, "at"),
    (Interaction, {"channel": "fax"}, "channel"),
    (Interaction, {"direction": "sideways"}, "direction"),
    (Interaction, {"purpose": "gossip"}, "purpose"),
    (Interaction, {"reason": "boredom"}, "reason"),
    (Interaction, {"handled_by": ""}, "handled_by"),
    (Interaction, {"minutes": Decimal("-1")}, "minutes"),
    (Interaction, {"minutes": Decimal("NaN")}, "minutes"),
    (Order, {"order_id": ""}, "order_id"),
    (Order, {"client_id": " "}, "client_id"),
    (Order, {"placed_at": NAIVE}, "placed_at"),
    (Order, {"amount": Decimal("NaN")}, "amount"),
    (Order, {"amount": Decimal("sNaN")}, "amount"),
    (Order, {"amount": Decimal("Infinity")}, "amount"),
    (Order, {"amount": Decimal("-Infinity")}, "amount"),
    (Order, {"amount": Decimal("-0.01")}, "amount"),
    (Order, {"amount": -5}, "amount"),
    (Order, {"amount": "12,50"}, "amount"),
    (Order, {"amount": "nan"}, "amount"),
    (Order, {"currency": "usd"}, "currency"),
    (Order, {"currency": "EURO"}, "currency"),
    (Order, {"status": "shipped"}, "status"),
    (Order, {"cost": Decimal("-1")}, "cost"),
    (Order, {"cost": Decimal("Infinity")}, "cost"),
    (Complaint, {"complaint_id": ""}, "complaint_id"),
    (Complaint, {"opened_at": NAIVE}, "opened_at"),
    (Complaint, {"category": "smell"}, "category"),
    (Complaint, {"severity": "apocalyptic"}, "severity"),
    (Complaint, {"status": "closed"}, "status"),
    (Complaint, {"escalated_to": "ceo"}, "escalated_to"),
    (Complaint, {"client_loss": Decimal("-3")}, "client_loss"),
    (Complaint, {"currency": "eur"}, "currency"),
    (
        Complaint,
        {"status": "resolved", "resolved_at": T0 - timedelta(seconds=1)},
        "resolved_at",
    ),
    (Complaint, {"status": "resolved"}, "resolved_at"),
    (Complaint, {"status": "rejected"}, "resolved_at"),
    (Complaint, {"status": "open", "resolved_at": T0}, "resolved_at"),
    (Complaint, {"status": "acknowledged", "resolved_at": T0}, "resolved_at"),
    (Complaint, {"status": "resolved", "resolved_at": NAIVE}, "resolved_at"),
]

BAD_TYPES: list[tuple[type, dict[str, Any], str]] = [
    (Client, {"client_id": 7}, "client_id"),
    (Client, {"client_id": None}, "client_id"),
    (Client, {"name": 5}, "name"),
    (Client, {"kind": 1}, "kind"),
    (Client, {"since": date(2024, 1, 1)}, "since"),
    (Client, {"contacts": ["Olena"]}, "contacts"),
    (Client, {"attributes": {"tier": 1}}, "attributes"),
    (ContactPerson, {"birthday": datetime(1990, 1, 1, tzinfo=UTC)}, "birthday"),
    (ContactPerson, {"dates": {"anniversary": "2020-01-01"}}, "dates"),
    (ContactPerson, {"email": 42}, "email"),
    (Interaction, {"at": "2024-03-01T09:30:00+00:00"}, "at"),
    (Interaction, {"minutes": 1.5}, "minutes"),
    (Interaction, {"note": ["a"]}, "note"),
    (Order, {"amount": 1.5}, "amount"),
    (Order, {"amount": float("nan")}, "amount"),
    (Order, {"amount": float("inf")}, "amount"),
    (Order, {"amount": True}, "amount"),
    (Order, {"amount": None}, "amount"),
    (Order, {"cost": 0.1}, "cost"),
    (Order, {"currency": 978}, "currency"),
    (Order, {"discounted": "yes"}, "discounted"),
    (Order, {"on_time": 1}, "on_time"),
    (Order, {"product": 3}, "product"),
    (Complaint, {"client_loss": 2.5}, "client_loss"),
    (Complaint, {"severity": 3}, "severity"),
]


def _case_id(case: tuple[type, dict[str, Any], str]) -> str:
    cls, changes, _ = case
    return f"{cls.__name__}-" + "-".join(f"{k}={v!r}" for k, v in changes.items())


class TestValidation:
    """Every validation rule refuses the bad value and names class, field and value."""

    @pytest.mark.parametrize("case", BAD_VALUES, ids=_case_id)
    def test_bad_value_raises_validation_error_naming_the_field(
        self, case: tuple[type, dict[str, Any], str]
    ) -> None:
        """A bad value raises ValidationError (a ValueError) naming class and field."""
        cls, changes, field = case
        with pytest.raises(ValidationError) as info:
            make(cls, **changes)
        err = info.value
        assert isinstance(err, ValueError)
        assert err.field == field
        assert err.record == cls.__name__
        assert f"field {field!r}" in str(err)
        assert str(err).startswith(cls.__name__)

    @pytest.mark.parametrize("case", BAD_TYPES, ids=_case_id)
    def test_wrong_type_raises_record_type_error_naming_the_field(
        self, case: tuple[type, dict[str, Any], str]
    ) -> None:
        """A value of the wrong type raises RecordTypeError (a TypeError) naming the field."""
        cls, changes, field = case
        with pytest.raises(RecordTypeError) as info:
            make(cls, **changes)
        err = info.value
        assert isinstance(err, TypeError)
        assert err.field == field
        assert f"field {field!r}" in str(err)
        assert "of type" in str(err)
        assert "expected" in str(err)

    def test_error_carries_the_offending_value_and_record_id(self) -> None:
        """The error keeps the value as given and the record's id for programs."""
        with pytest.raises(ValidationError) as info:
            make(Order, order_id="O-77", amount=Decimal("-2"))
        assert info.value.value == Decimal("-2")
        assert info.value.record_id == "O-77"
        assert "'O-77'" in str(info.value)
        assert "Decimal('-2')" in str(info.value)

    def test_vocab_error_lists_the_allowed_values(self) -> None:
        """An unknown vocabulary word is refused with the allowed words listed."""
        with pytest.raises(ValidationError, match="not one of: placed, delivered"):
            make(Order, status="shipped")

    def test_lapsed_is_not_a_termination_reason(self) -> None:
        """``lapsed`` is the lifecycle's verdict on silence: no interaction records it."""
        for value in ("lapsed", LossReason.lapsed):
            with pytest.raises(ValidationError) as info:
                make(Interaction, purpose="termination", reason=value)
            assert (info.value.field, info.value.value, info.value.record_id) == (
                "reason",
                "lapsed",
                "I1",
            )
            assert "not one of: competitor, price, quality, service, manager_left, other" in str(
                info.value
            )
            assert "lapsed is a verdict relcycle derives" in str(info.value)
        contract = ["competitor", "price", "quality", "service", "manager_left", "other"]
        assert [r.value for r in TERMINATION_REASONS] == contract
        kept = make(Interaction, purpose="termination", reason="manager_left")
        assert kept.reason is LossReason.manager_left

    def test_naive_datetime_message_explains_the_time_zone(self) -> None:
        """A naive datetime is refused with a hint that it needs a zone."""
        with pytest.raises(ValidationError, match="no time zone"):
            make(Interaction, at=NAIVE)

    def test_resolved_before_opened_names_the_opening(self) -> None:
        """A resolution before the opening is refused and the opening time is shown."""
        with pytest.raises(ValidationError, match="resolved before it was opened"):
            make(Complaint, status="rejected", resolved_at=T0 - timedelta(days=1))

    def test_resolution_at_the_opening_instant_is_accepted(self) -> None:
        """A complaint may be resolved at the very moment it was opened."""
        c = make(Complaint, status="resolved", resolved_at=T0)
        assert c.resolved_at == c.opened_at

    def test_zero_amounts_are_accepted(self) -> None:
        """Money fields take zero (a free sample is still an order)."""
        assert make(Order, amount=0, cost=Decimal("0.00")).amount == 0


class TestConversion:
    """Values given in convenient forms are stored in the canonical one."""

    def test_vocab_strings_become_members(self) -> None:
        """A vocabulary field given as a string holds the member afterwards."""
        o = make(Order, status="delivered")
        i = make(
            Interaction,
            channel="email",
            direction="outbound",
            purpose="termination",
            reason="price",
        )
        c = make(Complaint, category="quality", severity="high", escalated_to="management")
        k = make(Client, kind="person")
        assert o.status is OrderStatus.delivered
        assert (i.channel, i.direction, i.purpose, i.reason) == (
            Channel.email,
            Direction.outbound,
            Purpose.termination,
            LossReason.price,
        )
        assert type(i.channel) is Channel
        assert c.category is ComplaintCategory.quality
        assert c.severity is Severity.high
        assert c.escalated_to is Escalation.management
        assert k.kind is ClientKind.person

    def test_ints_and_decimal_strings_become_exact_decimals(self) -> None:
        """Ints and decimal strings are converted to Decimal exactly, keeping the exponent."""
        o = make(Order, amount="12.50", cost=7)
        assert o.amount == Decimal("12.50")
        assert str(o.amount) == "12.50"
        assert type(o.cost) is Decimal
        assert o.cost == 7

    def test_zone_datetimes_keep_their_instant_with_a_fixed_offset(self) -> None:
        """A datetime in a DST zone is held at the same instant with that instant's offset."""
        summer = datetime(2024, 7, 1, 12, 0, tzinfo=BERLIN)
        o = make(Order, placed_at=summer)
        assert o.placed_at == summer
        assert o.placed_at.utcoffset() == timedelta(hours=2)
        assert isinstance(o.placed_at.tzinfo, timezone)

    def test_the_defaults_follow_the_contract(self) -> None:
        """Omitted fields take the contract's defaults."""
        o, i, c, k = make(Order), make(Interaction), make(Complaint), make(Client)
        assert (o.currency, o.discounted, o.status, o.on_time) == ("USD", False, "placed", None)
        assert (i.channel, i.direction, i.purpose) == ("other", "inbound", "inquiry")
        assert (c.category, c.severity, c.status, c.escalated_to) == (
            "other",
            "medium",
            "open",
            "none",
        )
        assert k.kind is ClientKind.company


class TestDstFold:
    """Records inside a DST fold compare, sort and round-trip as instants."""

    # 2021-10-31 in Berlin: 02:00-03:00 happens twice (CEST, then CET).
    EARLY = datetime(2021, 10, 31, 2, 50, tzinfo=BERLIN)  # 00:50 UTC
    LATE = datetime(2021, 10, 31, 2, 10, fold=1, tzinfo=BERLIN)  # 01:10 UTC

    def test_fold_records_sort_by_instant_not_wall_time(self) -> None:
        """The second pass through the repeated hour sorts after the first."""
        first = make(Order, order_id="b", placed_at=self.EARLY)
        second = make(Order, order_id="a", placed_at=self.LATE)
        assert sorted([second, first], key=record_sort_key) == [first, second]

    def test_resolution_earlier_in_wall_time_but_later_in_time_is_accepted(self) -> None:
        """A complaint resolved 20 minutes after opening across the fold is valid."""
        c = make(Complaint, opened_at=self.EARLY, status="resolved", resolved_at=self.LATE)
        assert c.resolved_at is not None
        assert c.resolved_at - c.opened_at == timedelta(minutes=20)

    def test_resolution_before_opening_inside_the_fold_is_refused(self) -> None:
        """A complaint resolved before its opening is refused even if wall time says later."""
        with pytest.raises(ValidationError, match="resolved before"):
            make(Complaint, opened_at=self.LATE, status="resolved", resolved_at=self.EARLY)

    def test_fold_record_round_trips_equal(self) -> None:
        """A record in the repeated hour equals itself after a trip through JSON."""
        o = make(Order, placed_at=self.LATE)
        back = Order.from_json(o.to_json())
        assert back == o
        assert back.placed_at.utcoffset() == timedelta(hours=1)


class TestOrderedVocab:
    """Ordered vocabularies compare by rank (definition order), never by spelling."""

    def test_members_compare_by_rank(self) -> None:
        """critical > high and management > none although their spelling sorts the other way."""
        assert Severity.critical > Severity.high
        assert "critical" < "high"
        assert Escalation.management > Escalation.none
        assert sorted([Severity.critical, Severity.low, Severity.high, Severity.medium]) == list(
            Severity
        )
        assert Severity.low <= Severity.low
        assert Severity.high >= Severity.medium

    def test_rank_and_ordered(self) -> None:
        """rank is the 0-based definition position; ordered() lists lowest first."""
        assert [s.rank for s in Severity] == [0, 1, 2, 3]
        assert Escalation.ordered() == (Escalation.none, Escalation.staff, Escalation.management)

    @pytest.mark.parametrize("other", ["low", "zzz", Escalation.none])
    def test_ordering_against_other_types_raises(self, other: object) -> None:
        """Ordering a member against a string or another vocabulary raises TypeError."""
        with pytest.raises(TypeError):
            _ = Severity.high < other
        with pytest.raises(TypeError):
            _ = other > Severity.high
        with pytest.raises(TypeError):
            _ = Severity.high >= other

    def test_members_equal_and_hash_like_their_values(self) -> None:
        """A member equals its string value and finds the same dict slot."""
        assert Channel.email == "email"
        assert {"email": 1}[Channel.email] == 1
        assert {Severity.high: 1}["high"] == 1

    def test_parse_accepts_members_and_values_and_refuses_others(self) -> None:
        """Vocab.parse maps a value to its member and lists the allowed values otherwise."""
        assert Purpose.parse("referral") is Purpose.referral
        assert Purpose.parse(Purpose.referral) is Purpose.referral
        with pytest.raises(ValueError, match="not one of: low, medium, high, critical"):
            Severity.parse("urgent")


class TestMoney:
    """Money holds a Decimal in one currency and refuses to mix currencies."""

    def test_float_is_refused(self) -> None:
        """A float amount is a type error: 0.1 is not a price."""
        with pytest.raises(RecordTypeError, match="never a float"):
            Money(0.1, "EUR")  # type: ignore[arg-type]

    @pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity"), "inf", "nan"])
    def test_non_finite_is_refused(self, amount: Any) -> None:
        """NaN and infinities are refused with a message naming the amount field."""
        with pytest.raises(ValidationError, match=r"'amount'.*finite"):
            Money(amount, "EUR")

    def test_negative_money_is_allowed(self) -> None:
        """Money itself may be negative (a profit can be)."""
        assert Money(-5, "EUR").amount == -5

    @pytest.mark.parametrize("code", ["eur", "EURO", "E1R", ""])
    def test_bad_currency_is_refused(self, code: str) -> None:
        """The currency must be a three-letter upper-case code."""
        with pytest.raises(ValidationError, match="ISO 4217"):
            Money(1, code)

    def test_arithmetic_in_one_currency(self) -> None:
        """Addition, subtraction, negation and scaling keep the currency."""
        a, b = Money(Decimal("10.50"), "EUR"), Money(Decimal("0.25"), "EUR")
        assert a + b == Money(Decimal("10.75"), "EUR")
        assert a - b == Money(Decimal("10.25"), "EUR")
        assert -a == Money(Decimal("-10.50"), "EUR")
        assert a * 2 == 2 * a == Money(21, "EUR")
        assert a * Decimal("0.5") == Money(Decimal("5.25"), "EUR")
        assert b < a
        assert a >= b
        assert Money.zero("EUR") + a == a

    @pytest.mark.parametrize(
        "op",
        [
            lambda a, b: a + b,
            lambda a, b: a - b,
            lambda a, b: a < b,
            lambda a, b: a <= b,
            lambda a, b: a > b,
            lambda a, b: a >= b,
        ],
    )
    def test_mixed_currencies_are_refused(self, op: Any) -> None:
        """Arithmetic or comparison across currencies raises CurrencyMismatchError."""
        with pytest.raises(CurrencyMismatchError) as info:
            op(Money(1, "EUR"), Money(1, "USD"))
        assert info.value.currencies == ("EUR", "USD")
        assert isinstance(info.value, ValueError)

    def test_float_factor_and_non_money_operands_are_type_errors(self) -> None:
        """Multiplying by a float or adding/comparing a number raises TypeError."""
        m = Money(1, "EUR")
        with pytest.raises(TypeError):
            _ = m * 1.5  # type: ignore[operator]
        with pytest.raises(TypeError):
            _ = m + 1  # type: ignore[operator]
        with pytest.raises(TypeError):
            _ = m < 1  # type: ignore[operator]

    def test_from_dict_refuses_unknown_fields(self) -> None:
        """A misspelt field is refused rather than silently defaulting the currency."""
        with pytest.raises(ValidationError, match="'currncy'"):
            Money.from_dict({"amount": "1", "currncy": "EUR"})

    def test_from_dict_requires_the_amount(self) -> None:
        """A dict without an amount is refused naming the amount field."""
        with pytest.raises(ValidationError, match="'amount'"):
            Money.from_dict({"currency": "EUR"})

    @settings(max_examples=60)
    @given(money())
    def test_round_trip(self, m: Money) -> None:
        """to_dict/from_dict is lossless, with the amount as a decimal string."""
        d = m.to_dict()
        assert isinstance(d["amount"], str)
        back = Money.from_dict(json.loads(json.dumps(d)))
        assert back == m
        assert str(back.amount) == str(m.amount)

    def test_str_shows_amount_and_currency(self) -> None:
        """str(Money) is readable: grouped digits and the code."""
        assert str(Money(Decimal("1234.50"), "UAH")) == "1,234.50 UAH"


class TestFrozen:
    """Objects are deeply immutable and hashable."""

    @pytest.mark.parametrize("cls", [Client, ContactPerson, Interaction, Order, Complaint])
    def test_assignment_raises(self, cls: type) -> None:
        """Assigning to a field raises FrozenInstanceError."""
        obj = make(cls)
        field = attrs.fields(cls)[0].name
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(obj, field, "x")

    def test_money_is_frozen(self) -> None:
        """Money cannot be changed after it is built."""
        m = Money(1, "EUR")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            m.amount = Decimal(2)  # type: ignore[misc]

    def test_collections_inside_are_immutable_copies(self) -> None:
        """Contacts become a tuple and attributes a FrozenMap copied from the input."""
        people = [ContactPerson(name="A")]
        attributes = {"tier": "gold"}
        dates = {"anniversary": date(2001, 5, 1)}
        c = make(Client, contacts=people, attributes=attributes)
        p = ContactPerson(name="B", dates=dates)
        people.append(ContactPerson(name="C"))
        attributes["tier"] = "lead"
        dates["other"] = date(2002, 1, 1)
        assert c.contacts == (ContactPerson(name="A"),)
        assert isinstance(c.contacts, tuple)
        assert isinstance(c.attributes, FrozenMap)
        assert c.attributes == {"tier": "gold"}
        assert dict(p.dates) == {"anniversary": date(2001, 5, 1)}
        with pytest.raises(TypeError):
            c.attributes["tier"] = "x"  # type: ignore[index]

    def test_objects_are_hashable_and_equal_by_value(self) -> None:
        """Equal records hash alike, so they work in sets and as dict keys."""
        a = make(Client, attributes={"k": "v"}, contacts=[ContactPerson(name="A")])
        b = make(Client, attributes=FrozenMap({"k": "v"}), contacts=(ContactPerson(name="A"),))
        assert a == b
        assert len({a, b, make(Order), make(Order)}) == 2


class TestFrozenMap:
    """FrozenMap is a read-only, hashable mapping."""

    def test_mapping_behaviour(self) -> None:
        """It reads like a dict and equals a dict with the same items."""
        m = FrozenMap({"a": 1, "b": 2})
        assert m["a"] == 1
        assert len(m) == 2
        assert list(m) == ["a", "b"]
        assert m == {"b": 2, "a": 1}
        assert m != {"a": 1}
        assert hash(m) == hash(FrozenMap({"b": 2, "a": 1}))
        assert repr(m) == "FrozenMap({'a': 1, 'b': 2})"
        assert FrozenMap() == {}

    def test_has_no_mutators(self) -> None:
        """Item assignment and deletion are not possible."""
        m: Any = FrozenMap({"a": 1})
        with pytest.raises(TypeError):
            m["a"] = 2
        with pytest.raises(TypeError):
            del m["a"]
        assert not hasattr(m, "update")


class TestAccessors:
    """The uniform accessors and derived properties of the records."""

    def test_id_and_at_are_uniform(self) -> None:
        """Every record has .id and .at whatever its own field names are."""
        assert make(Client).id == "C1"
        i, o, c = make(Interaction), make(Order), make(Complaint)
        assert (i.id, o.id, c.id) == ("I1", "O1", "K1")
        assert i.at == o.at == c.at == T0

    @pytest.mark.parametrize(
        ("status", "sale"),
        [
            ("placed", True),
            ("delivered", True),
            ("cancelled", False),
            ("returned", False),
            ("planned", False),
        ],
    )
    def test_is_sale(self, status: str, sale: bool) -> None:
        """Only placed and delivered orders count as sales."""
        assert make(Order, status=status).is_sale is sale

    def test_money_and_loss(self) -> None:
        """Order.money and Complaint.loss wrap amounts in Money of the record's currency."""
        assert make(Order, amount=5, currency="HUF").money == Money(5, "HUF")
        assert make(Complaint).loss is None
        assert make(Complaint, client_loss="7.5", currency="EUR").loss == Money(
            Decimal("7.5"), "EUR"
        )

    def test_is_open_at(self) -> None:
        """A complaint is open from its opening until (not including) its resolution."""
        c = make(Complaint, status="resolved", resolved_at=T0 + timedelta(days=2))
        assert not c.is_open_at(T0 - timedelta(seconds=1))
        assert c.is_open_at(T0)
        assert c.is_open_at(T0 + timedelta(days=1))
        assert not c.is_open_at(T0 + timedelta(days=2))
        assert make(Complaint).is_open_at(T0 + timedelta(days=999))


class TestRecordSortKey:
    """The total order: instant, then kind (complaint, interaction, order), then id."""

    def test_same_instant_orders_by_kind_then_id(self) -> None:
        """At one instant complaints come first, then interactions, then orders."""
        o1, o2 = make(Order, order_id="b"), make(Order, order_id="a")
        i, c = make(Interaction), make(Complaint)
        assert sorted([o1, i, o2, c], key=record_sort_key) == [c, i, o2, o1]

    def test_offsets_do_not_matter(self) -> None:
        """The same instant written with another offset ties; the id decides."""
        kyiv = T0.astimezone(timezone(timedelta(hours=2)))
        a = make(Order, order_id="a", placed_at=kyiv)
        b = make(Order, order_id="b", placed_at=T0)
        assert sorted([b, a], key=record_sort_key) == [a, b]

    @settings(max_examples=50, deadline=None)
    @given(st.lists(orders(client_id="C1") | interactions() | complaints(), max_size=8))
    def test_key_order_is_instant_order(self, records: list[Any]) -> None:
        """Sorting by the key never puts a later instant before an earlier one."""
        ordered = sorted(records, key=record_sort_key)
        instants = [r.at.astimezone(UTC) for r in ordered]
        assert instants == sorted(instants)


ROUND_TRIP = [
    (Client, clients()),
    (ContactPerson, contact_persons()),
    (Interaction, interactions()),
    (Order, orders()),
    (Complaint, complaints()),
]


class TestSerialization:
    """to_dict/from_dict and JSON are lossless and use the contract's names."""

    @pytest.mark.parametrize(
        ("cls", "strategy"), ROUND_TRIP, ids=lambda x: getattr(x, "__name__", "")
    )
    @settings(max_examples=40, deadline=None)
    @given(data=st.data())
    def test_dict_round_trip(self, cls: type, strategy: Any, data: st.DataObject) -> None:
        """from_dict(to_dict(x)) == x for every object."""
        obj = data.draw(strategy)
        assert cls.from_dict(obj.to_dict()) == obj

    @pytest.mark.parametrize(
        ("cls", "strategy"), ROUND_TRIP, ids=lambda x: getattr(x, "__name__", "")
    )
    @settings(max_examples=40, deadline=None)
    @given(data=st.data())
    def test_json_round_trip(self, cls: type, strategy: Any, data: st.DataObject) -> None:
        """from_json(to_json(x)) == x, and the JSON holds no floats."""
        obj = data.draw(strategy)
        text = obj.to_json()
        assert cls.from_json(text) == obj
        assert not any(isinstance(v, float) for v in json.loads(text).values())

    def test_field_names_are_the_contract_columns(self) -> None:
        """to_dict keys are the contract's column names for each table."""
        assert list(make(Order).to_dict()) == [
            "order_id",
            "client_id",
            "placed_at",
            "amount",
            "currency",
            "discounted",
            "status",
            "on_time",
            "product",
            "cost",
        ]
        assert list(make(Interaction).to_dict())[:3] == ["interaction_id", "client_id", "at"]
        assert "resolved_at" in make(Complaint).to_dict()
        assert list(make(Client).to_dict())[:7] == [
            "client_id",
            "name",
            "kind",
            "industry",
            "region",
            "account_manager",
            "since",
        ]

    def test_values_are_json_ready_strings(self) -> None:
        """Money is a decimal string, times ISO 8601 with offset, vocabularies their values."""
        d = make(
            Order, amount=Decimal("12.50"), status="delivered", cost=Decimal("3"), on_time=True
        ).to_dict()
        assert d["amount"] == "12.50"
        assert d["cost"] == "3"
        assert d["placed_at"] == "2024-03-01T09:30:00+00:00"
        assert d["status"] == "delivered"
        assert type(d["status"]) is str
        assert d["on_time"] is True

    def test_unknown_field_is_refused_by_name(self) -> None:
        """from_dict refuses a field the record does not have, naming it."""
        data = {**make(Order).to_dict(), "colour": "red"}
        with pytest.raises(ValidationError) as info:
            Order.from_dict(data)
        assert info.value.field == "colour"
        assert "unknown field" in str(info.value)

    @pytest.mark.parametrize("field", ["order_id", "client_id", "placed_at", "amount"])
    def test_missing_required_field_is_reported(self, field: str) -> None:
        """from_dict names the required field that is missing (absent or null)."""
        data = make(Order).to_dict()
        del data[field]
        with pytest.raises(ValidationError, match="required field is missing") as info:
            Order.from_dict(data)
        assert info.value.field == field
        data[field] = None
        with pytest.raises(ValidationError, match=field):
            Order.from_dict(data)

    def test_bad_datetime_text_names_the_field(self) -> None:
        """A datetime string that is not ISO 8601 is refused naming its field."""
        data = {**make(Complaint).to_dict(), "opened_at": "yesterday"}
        with pytest.raises(ValidationError, match="ISO 8601") as info:
            Complaint.from_dict(data)
        assert info.value.field == "opened_at"

    def test_naive_datetime_text_is_refused(self) -> None:
        """A datetime string without an offset is refused: objects hold aware times only."""
        data = {**make(Order).to_dict(), "placed_at": "2024-03-01T09:30:00"}
        with pytest.raises(ValidationError, match="no time zone"):
            Order.from_dict(data)

    def test_non_mapping_is_a_type_error(self) -> None:
        """from_dict of something that is not a mapping raises RecordTypeError."""
        with pytest.raises(RecordTypeError):
            Order.from_dict(["order_id"])  # type: ignore[arg-type]

    def test_nulls_mean_the_defaults(self) -> None:
        """JSON null for an optional field gives the field's default."""
        data = {**make(Order).to_dict(), "status": None, "currency": None}
        o = Order.from_dict(data)
        assert (o.status, o.currency) == (OrderStatus.placed, "USD")

    def test_nested_contacts_round_trip(self) -> None:
        """A client's contacts and their dates survive the trip through JSON."""
        c = make(
            Client,
            since=T0,
            contacts=[
                ContactPerson(
                    name="Ilona",
                    birthday=date(1980, 2, 29),
                    dates={"name day": date(2000, 1, 5)},
                )
            ],
            attributes={"tier": "gold"},
        )
        assert Client.from_json(c.to_json()) == c
        assert c.to_dict()["contacts"][0]["birthday"] == "1980-02-29"

    @settings(max_examples=40, deadline=None)
    @given(timestamps())
    def test_every_generated_instant_round_trips(self, moment: datetime) -> None:
        """Any instant, DST edges included, survives a record's JSON round trip."""
        o = make(Order, placed_at=moment)
        back = Order.from_json(o.to_json())
        assert back == o
        assert back.placed_at.astimezone(UTC) == moment.astimezone(UTC)
