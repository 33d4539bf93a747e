"""Tests for relcycle.testing: the strategies produce valid, varied objects and rows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from dateutil import tz
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from relcycle.errors import InputError, UsageError
from relcycle.history import ClientHistory, Portfolio
from relcycle.io import load_records
from relcycle.model import (
    Client,
    ClientKind,
    Complaint,
    ComplaintStatus,
    ContactPerson,
    Interaction,
    Money,
    Order,
    OrderStatus,
    Purpose,
)
from relcycle.testing import (
    COLUMNS,
    CURRENCIES,
    MAX_TIME,
    MIN_TIME,
    _hypothesis_setup_hook,
    amounts,
    clients,
    complaints,
    histories,
    ids,
    interactions,
    invalid_rows,
    known_at,
    money,
    orders,
    portfolios,
    texts,
    timestamps,
    valid_rows,
)

LO = datetime(2021, 1, 1, tzinfo=UTC)
HI = datetime(2022, 12, 31, tzinfo=UTC)
SOME = settings(max_examples=40, deadline=None)
FIND = settings(max_examples=2000, deadline=None, database=None, phases=[Phase.generate])


def utc(moment: datetime) -> datetime:
    """The moment in UTC."""
    return moment.astimezone(UTC)


class TestTimestamps:
    """timestamps() gives real, aware instants, often next to a DST change."""

    @settings(max_examples=200, deadline=None)
    @given(timestamps())
    def test_aware_and_existing(self, moment: datetime) -> None:
        """Every value is aware, exists in its zone and lies within the default range."""
        assert moment.tzinfo is not None
        assert moment.utcoffset() is not None
        assert tz.datetime_exists(moment)
        assert MIN_TIME <= moment <= MAX_TIME

    @SOME
    @given(timestamps(min_value=LO, max_value=HI))
    def test_bounds(self, moment: datetime) -> None:
        """min_value and max_value bound the instants."""
        assert LO <= moment <= HI

    @SOME
    @given(timestamps(zones=["Europe/Budapest"]))
    def test_zones_by_name(self, moment: datetime) -> None:
        """zones restricts the zones the instants are shown in."""
        assert moment.tzinfo is tz.gettz("Europe/Budapest")

    def test_second_pass_of_a_fold_comes_up(self) -> None:
        """Instants in the repeated hour after a DST change (fold=1) are produced."""
        moment = find(
            timestamps(zones=["Europe/Berlin"]),
            lambda t: t.fold == 1 and tz.datetime_ambiguous(t),
            settings=FIND,
        )
        assert moment.utcoffset() == timedelta(hours=1)

    def test_instants_next_to_a_spring_gap_come_up(self) -> None:
        """An instant within a minute of a spring-forward change is produced."""

        def near_gap(t: datetime) -> bool:
            before, after = t - timedelta(minutes=1), t + timedelta(minutes=1)
            return utc(before).astimezone(t.tzinfo).utcoffset() != utc(after).astimezone(
                t.tzinfo
            ).utcoffset() and t.month in (3, 4)

        moment = find(timestamps(zones=["America/New_York"]), near_gap, settings=FIND)
        assert tz.datetime_exists(moment)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"min_value": datetime(2021, 1, 1)},
            {"max_value": datetime(2021, 1, 1)},
            {"min_value": HI, "max_value": LO},
            {"zones": ["Mars/Olympus_Mons"]},
            {"zones": []},
        ],
    )
    def test_bad_arguments_are_usage_errors(self, kwargs: dict[str, Any]) -> None:
        """Naive or reversed bounds and unknown or no zones raise UsageError."""
        with pytest.raises(UsageError):
            timestamps(**kwargs)


class TestScalars:
    """ids, texts, amounts and money."""

    @SOME
    @given(ids("O-"), texts(), texts(newlines=True))
    def test_ids_and_texts_survive_a_reader(self, rid: str, text: str, note: str) -> None:
        """Ids and texts are non-empty and have no surrounding whitespace."""
        assert rid.startswith("O-")
        for value in (rid, text, note):
            assert value
            assert value == value.strip()

    @SOME
    @given(amounts(min_value=5, max_value=Decimal("7.5")))
    def test_amounts(self, amount: Decimal) -> None:
        """Amounts are finite Decimals within the bounds."""
        assert type(amount) is Decimal
        assert amount.is_finite()
        assert 5 <= amount <= Decimal("7.5")

    @SOME
    @given(money(currency="HUF", min_value=-10, max_value=10))
    def test_money(self, m: Money) -> None:
        """money() respects currency and bounds and may be negative."""
        assert m.currency == "HUF"
        assert -10 <= m.amount <= 10

    def test_bad_amount_bounds(self) -> None:
        """Reversed bounds raise UsageError."""
        with pytest.raises(UsageError):
            amounts(min_value=2, max_value=1)


class TestRecords:
    """The record strategies respect their constraints and produce valid records only."""

    @SOME
    @given(clients(client_id="C-1", kind="person", min_time=LO, max_time=HI))
    def test_clients(self, c: Client) -> None:
        """client_id and kind are fixed; since lies within the bounds."""
        assert c.client_id == "C-1"
        assert c.kind is ClientKind.person
        assert c.since is None or LO <= c.since <= HI
        assert all(isinstance(p, ContactPerson) for p in c.contacts)
        assert not set(c.attributes) & set(COLUMNS["clients"])

    @SOME
    @given(
        orders(
            client_id="C-1",
            currency="EUR",
            min_time=LO,
            max_time=HI,
            statuses=["planned", OrderStatus.returned],
        )
    )
    def test_orders(self, o: Order) -> None:
        """client_id, currency, statuses and time bounds are respected."""
        assert (o.client_id, o.currency) == ("C-1", "EUR")
        assert o.status in (OrderStatus.planned, OrderStatus.returned)
        assert LO <= o.placed_at <= HI
        assert o.amount >= 0

    @SOME
    @given(interactions(client_id="C-1", purposes=["termination", "referral"]))
    def test_interactions(self, i: Interaction) -> None:
        """Purposes are restricted; a termination always has a reason, others none."""
        assert i.client_id == "C-1"
        assert i.purpose in (Purpose.termination, Purpose.referral)
        assert (i.reason is not None) == (i.purpose is Purpose.termination)

    @settings(max_examples=100, deadline=None)
    @given(complaints(client_id="C-1", currency="UAH", min_time=LO, max_time=HI))
    def test_complaints(self, c: Complaint) -> None:
        """Closed complaints are resolved within [opened_at, max_time]; others are not."""
        assert (c.client_id, c.currency) == ("C-1", "UAH")
        assert LO <= c.opened_at <= HI
        if c.status in (ComplaintStatus.resolved, ComplaintStatus.rejected):
            assert c.resolved_at is not None
            assert c.opened_at <= c.resolved_at <= HI
        else:
            assert c.resolved_at is None

    def test_complaints_with_a_resolution_later_than_the_opening_come_up(self) -> None:
        """Resolutions are not always instant."""
        c = find(
            complaints(statuses=["resolved"]),
            lambda c: c.resolved_at is not None and c.resolved_at > c.opened_at,
            settings=FIND,
        )
        assert c.status is ComplaintStatus.resolved

    def test_empty_choices_are_usage_errors(self) -> None:
        """An empty list of statuses or purposes raises UsageError."""
        with pytest.raises(UsageError):
            orders(statuses=[])
        with pytest.raises(UsageError):
            complaints(statuses=[])
        with pytest.raises(UsageError):
            interactions(purposes=[])


class TestHistories:
    """histories() gives valid, realistic one-client histories."""

    @SOME
    @given(histories(client_id="C-7", currency="PLN", min_time=LO, max_time=HI, max_records=10))
    def test_constraints(self, h: ClientHistory) -> None:
        """Client, currency, bounds and size are respected; ids are unique per kind."""
        assert h.client_id == "C-7"
        assert len(h) <= 10
        for kind in (h.interactions, h.orders, h.complaints):
            assert len({r.id for r in kind}) == len(kind)
        for r in h.records():
            assert r.client_id == "C-7"
            assert LO <= r.at <= HI
        assert all(o.currency == "PLN" for o in h.orders)
        assert h.last_moment is None or h.last_moment <= HI

    @SOME
    @given(histories(min_records=3, max_records=3, inferred=True))
    def test_exact_size_and_inferred(self, h: ClientHistory) -> None:
        """min_records/max_records fix the size; inferred=True gives an id-only client."""
        assert len(h) == 3
        assert h.client_inferred
        assert h.client == Client(client_id=h.client_id)

    def test_same_moment_records_come_up(self) -> None:
        """Histories with several records at one instant are produced."""
        h = find(
            histories(max_records=6),
            lambda h: len({utc(r.at) for r in h.records()}) < len(h),
            settings=FIND,
        )
        assert len(h) >= 2

    def test_repeated_rows_with_distinct_ids_come_up(self) -> None:
        """Histories with two orders equal but for their id are produced."""

        def repeated(h: ClientHistory) -> bool:
            rows = Counter(tuple(o.to_dict().values())[1:] for o in h.orders)
            return any(n > 1 for n in rows.values())

        h = find(histories(max_records=6), repeated, settings=FIND)
        assert len({o.order_id for o in h.orders}) == len(h.orders)

    def test_bad_sizes_are_usage_errors(self) -> None:
        """min_records above max_records raises UsageError."""
        with pytest.raises(UsageError):
            histories(min_records=3, max_records=2)


class TestPortfolios:
    """portfolios() builds valid portfolios through build_portfolio."""

    @SOME
    @given(portfolios(min_clients=1, max_clients=3, currency="GBP", with_clients=False))
    def test_inferred_portfolio(self, p: Portfolio) -> None:
        """Client count, currency and inference are respected; every client has records."""
        assert 1 <= len(p) <= 3
        for h in p:
            assert h.client_inferred
            assert len(h) >= 1
            assert all(o.currency == "GBP" for o in h.orders)

    @SOME
    @given(portfolios(max_clients=3, with_clients=True))
    def test_portfolio_with_clients_table(self, p: Portfolio) -> None:
        """With a clients table no client is inferred and record ids are globally unique."""
        assert not any(h.client_inferred for h in p)
        order_ids = [o.order_id for h in p for o in h.orders]
        assert len(order_ids) == len(set(order_ids))
        assert list(p.client_ids) == sorted(p.client_ids)


def _load(table: str, row: dict[str, str]) -> Any:
    if table == "orders":
        return load_records([row])
    return load_records([], **{table: [row]})


class TestRows:
    """Raw contract rows: valid ones load, invalid ones fail in the named column."""

    @pytest.mark.parametrize("table", sorted(COLUMNS))
    @settings(max_examples=40, deadline=None)
    @given(data=st.data())
    def test_valid_rows_load(self, table: str, data: st.DataObject) -> None:
        """A valid row holds every contract column and the reader accepts it."""
        row = data.draw(valid_rows(table))
        assert set(COLUMNS[table]) <= set(row)
        assert all(isinstance(v, str) for v in row.values())
        _load(table, row)

    @pytest.mark.parametrize("table", sorted(COLUMNS))
    @settings(max_examples=60, deadline=None)
    @given(data=st.data())
    def test_invalid_rows_fail_in_exactly_the_named_column(
        self, table: str, data: st.DataObject
    ) -> None:
        """The reader refuses the row in the named column only, with the reason fragment."""
        row, column, fragment = data.draw(invalid_rows(table))
        assert column in COLUMNS[table]
        assert fragment == fragment.lower()
        with pytest.raises(InputError) as info:
            _load(table, row)
        problems = info.value.problems
        assert {p.column for p in problems} == {column}, [str(p) for p in problems]
        assert any(fragment in p.reason.lower() for p in problems), [str(p) for p in problems]

    def test_unknown_table_is_a_usage_error(self) -> None:
        """Asking for rows of a table the contract does not have raises UsageError."""
        with pytest.raises(UsageError, match="unknown table"):
            valid_rows("invoices")
        with pytest.raises(UsageError):
            invalid_rows("invoices")

    def test_currencies_are_iso_codes(self) -> None:
        """The currency list holds three-letter upper-case codes."""
        assert all(len(c) == 3 and c.isupper() for c in CURRENCIES)


REGISTERED = [Client, ContactPerson, Interaction, Order, Complaint, Money, ClientHistory, Portfolio]


class TestFromType:
    """The entry point registers the strategies for st.from_type."""

    @pytest.mark.parametrize("cls", REGISTERED, ids=lambda c: c.__name__)
    @settings(max_examples=10, deadline=None)
    @given(data=st.data())
    def test_from_type_gives_valid_instances(self, cls: type, data: st.DataObject) -> None:
        """st.from_type(cls) draws instances of cls (built, hence validated)."""
        assert isinstance(data.draw(st.from_type(cls)), cls)

    @settings(max_examples=10, deadline=None)
    @given(st.builds(lambda o, m: (o, m), st.from_type(Order), st.from_type(Money)))
    def test_builds_with_registered_types(self, pair: tuple[Order, Money]) -> None:
        """Registered types compose in st.builds like any other."""
        assert isinstance(pair[0], Order)
        assert isinstance(pair[1], Money)

    def test_hook_can_run_again(self) -> None:
        """Running the hook again is harmless: from_type still gives valid orders."""
        _hypothesis_setup_hook()
        order = find(st.from_type(Order), lambda o: True, settings=FIND)
        assert isinstance(order, Order)


class TestKnownAt:
    @settings(max_examples=60, deadline=None)
    @given(histories(max_records=14), st.integers(0, 100))
    def test_what_was_known_at_a_moment(self, history: ClientHistory, percent: int) -> None:
        """Later records are left out; a complaint closed later is open, as it was then."""
        records = list(history.records())
        if not records:
            return
        first, last = records[0].at, records[-1].at
        moment = first + (last - first) * percent / 100
        known = known_at(records, moment)
        assert [r.id for r in known] == [r.id for r in records if r.at <= moment]
        for before, then in zip([r for r in records if r.at <= moment], known, strict=True):
            if isinstance(before, Complaint) and before.resolved_at is not None:
                closed_then = before.resolved_at <= moment
                assert then == before if closed_then else then.is_open_at(moment)
                assert isinstance(then, Complaint)
                assert (then.resolved_at is None) is not closed_then
            else:
                assert then is before
