"""Tests for relcycle.history: client histories, portfolios and build_portfolio."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from dateutil import tz
from hypothesis import given, settings
from hypothesis import strategies as st

from relcycle.errors import DuplicateIdError, RecordTypeError, UnknownClientError, ValidationError
from relcycle.history import ClientHistory, Portfolio, build_portfolio
from relcycle.model import Client, Complaint, Interaction, Order, record_sort_key
from relcycle.testing import histories, portfolios, timestamps

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def order(oid: str, at: datetime, cid: str = "C1", amount: int = 10) -> Order:
    """A minimal order."""
    return Order(order_id=oid, client_id=cid, placed_at=at, amount=amount)


def interaction(iid: str, at: datetime, cid: str = "C1") -> Interaction:
    """A minimal interaction."""
    return Interaction(interaction_id=iid, client_id=cid, at=at)


def complaint(kid: str, at: datetime, cid: str = "C1") -> Complaint:
    """A minimal open complaint."""
    return Complaint(complaint_id=kid, client_id=cid, opened_at=at)


def all_records(h: ClientHistory) -> list[Any]:
    """Every timed record of a history, kinds concatenated."""
    return [*h.interactions, *h.orders, *h.complaints]


HISTORY_SETTINGS = settings(max_examples=40, deadline=None)


class TestClientHistoryOf:
    """ClientHistory.of sorts, checks and is deterministic."""

    def test_sorts_each_kind_by_moment_then_id(self) -> None:
        """Records of each kind come out oldest first, ties broken by id."""
        h = ClientHistory.of(
            Client(client_id="C1"),
            [order("b", T0), order("a", T0), order("z", T0 - DAY), interaction("i", T0)],
        )
        assert [o.order_id for o in h.orders] == ["z", "a", "b"]
        assert [i.interaction_id for i in h.interactions] == ["i"]
        assert len(h) == 4

    @HISTORY_SETTINGS
    @given(histories(max_records=12), st.randoms(use_true_random=False))
    def test_shuffled_input_gives_the_same_history(
        self, h: ClientHistory, rnd: random.Random
    ) -> None:
        """The same records in any order give an equal history with the same record order."""
        records = all_records(h)
        rnd.shuffle(records)
        again = ClientHistory.of(h.client_id if h.client_inferred else h.client, records)
        assert again == h
        assert [r.id for r in again.records()] == [r.id for r in h.records()]

    def test_a_record_of_another_client_is_refused(self) -> None:
        """A record whose client_id differs is refused naming the record."""
        with pytest.raises(ValidationError, match="another client") as info:
            ClientHistory.of("C1", [order("o1", T0), order("o2", T0, cid="C2")])
        assert info.value.record_id == "o2"
        assert info.value.field == "client_id"

    def test_duplicate_ids_of_one_kind_are_refused(self) -> None:
        """Two orders with one id raise DuplicateIdError listing the id."""
        with pytest.raises(DuplicateIdError) as info:
            ClientHistory.of("C1", [order("o1", T0), order("o1", T0 + DAY)])
        assert info.value.ids == ("o1",)

    def test_the_same_id_in_two_kinds_is_fine(self) -> None:
        """Ids are unique per kind: an order and a complaint may share one."""
        h = ClientHistory.of("C1", [order("x", T0), complaint("x", T0)])
        assert len(h) == 2

    def test_something_else_is_a_type_error(self) -> None:
        """Anything but an Interaction, Order or Complaint raises RecordTypeError."""
        with pytest.raises(RecordTypeError):
            ClientHistory.of("C1", [Client(client_id="C1")])  # type: ignore[list-item]

    def test_a_client_id_makes_an_inferred_client(self) -> None:
        """Given just an id, the client is inferred and marked so."""
        h = ClientHistory.of("C9")
        assert h.client == Client(client_id="C9")
        assert h.client_inferred
        assert not ClientHistory.of(Client(client_id="C9")).client_inferred
        assert h.client_id == "C9"


class TestRecords:
    """records() merges the kinds in the library's total order."""

    def test_same_moment_kinds_come_complaint_interaction_order(self) -> None:
        """At one moment: complaint, then interaction, then order."""
        h = ClientHistory.of("C1", [order("o", T0), interaction("i", T0), complaint("k", T0)])
        assert [type(r).__name__ for r in h.records()] == ["Complaint", "Interaction", "Order"]

    @HISTORY_SETTINGS
    @given(histories(max_records=15))
    def test_records_are_sorted_by_the_key(self, h: ClientHistory) -> None:
        """The merged records equal all records sorted by record_sort_key."""
        merged = list(h.records())
        assert merged == sorted(all_records(h), key=record_sort_key)
        instants = [r.at.astimezone(UTC) for r in merged]
        assert instants == sorted(instants)

    def test_first_and_last_moment(self) -> None:
        """first/last moment span the records; resolutions count for the last."""
        c = Complaint(
            complaint_id="k",
            client_id="C1",
            opened_at=T0,
            status="resolved",
            resolved_at=T0 + 5 * DAY,
        )
        h = ClientHistory.of("C1", [order("o", T0 - DAY), interaction("i", T0 + DAY), c])
        assert h.first_moment == T0 - DAY
        assert h.last_moment == T0 + 5 * DAY
        empty = ClientHistory.of("C1")
        assert empty.first_moment is None
        assert empty.last_moment is None


class TestAsOf:
    """as_of(moment) keeps the records up to and including the moment."""

    def test_includes_records_exactly_at_the_moment(self) -> None:
        """A record at exactly the moment is part of the view; a microsecond later is not."""
        h = ClientHistory.of(
            "C1",
            [
                order("o1", T0),
                order("o2", T0 + timedelta(microseconds=1)),
                interaction("i", T0),
                complaint("k", T0),
            ],
        )
        view = h.as_of(T0)
        assert [o.order_id for o in view.orders] == ["o1"]
        assert len(view.interactions) == 1
        assert len(view.complaints) == 1
        assert view.client == h.client

    def test_moment_in_another_zone_compares_as_an_instant(self) -> None:
        """The moment's offset does not matter, only the instant."""
        h = ClientHistory.of("C1", [order("o1", T0), order("o2", T0 + timedelta(hours=1))])
        kyiv = T0.astimezone(tz.gettz("Europe/Kyiv") or tz.gettz("Europe/Kiev"))
        assert [o.order_id for o in h.as_of(kyiv).orders] == ["o1"]

    def test_before_everything_is_empty_and_after_everything_is_the_whole(self) -> None:
        """A moment before the first record gives an empty view; at the end, everything."""
        h = ClientHistory.of("C1", [order("o1", T0), interaction("i", T0 + DAY)])
        assert len(h.as_of(T0 - DAY)) == 0
        assert h.as_of(T0 + DAY) == h

    def test_naive_moment_is_refused(self) -> None:
        """as_of needs an aware datetime."""
        h = ClientHistory.of("C1", [order("o1", T0)])
        with pytest.raises(ValidationError, match="no time zone"):
            h.as_of(datetime(2024, 5, 1))
        with pytest.raises(RecordTypeError):
            h.as_of("2024-05-01")  # type: ignore[arg-type]

    @HISTORY_SETTINGS
    @given(histories(max_records=15), timestamps())
    def test_view_is_exactly_the_records_up_to_the_moment(
        self, h: ClientHistory, moment: datetime
    ) -> None:
        """as_of(t) holds exactly the records with at <= t, in the same order."""
        view = h.as_of(moment)
        assert list(view.records()) == [r for r in h.records() if r.at <= moment]
        assert view.client_inferred == h.client_inferred

    @HISTORY_SETTINGS
    @given(histories(max_records=15), timestamps(), timestamps())
    def test_views_are_monotone(self, h: ClientHistory, t1: datetime, t2: datetime) -> None:
        """An earlier moment's view is a prefix of a later moment's view."""
        early, late = sorted([t1, t2])
        a, b = h.as_of(early), h.as_of(late)
        assert len(a) <= len(b)
        for kind in ("interactions", "orders", "complaints"):
            shorter, longer = getattr(a, kind), getattr(b, kind)
            assert longer[: len(shorter)] == shorter
        assert a.as_of(late) == a
        assert b.as_of(early) == a


class TestHistorySerialization:
    """ClientHistory.to_dict/from_dict is lossless."""

    @HISTORY_SETTINGS
    @given(histories(max_records=12))
    def test_round_trip_through_json(self, h: ClientHistory) -> None:
        """from_dict(json(to_dict(h))) == h, including client_inferred."""
        text = json.dumps(h.to_dict())
        assert ClientHistory.from_dict(json.loads(text)) == h

    def test_dict_shape(self) -> None:
        """The dict has the client, the flag and one list per kind."""
        d = ClientHistory.of("C1", [order("o", T0)]).to_dict()
        assert set(d) == {"client", "client_inferred", "interactions", "orders", "complaints"}
        assert d["orders"][0]["order_id"] == "o"
        assert d["client_inferred"] is True


class TestBuildPortfolio:
    """build_portfolio groups flat records into per-client histories."""

    def test_groups_by_client_and_sorts_clients(self) -> None:
        """Each client gets its own records; the portfolio iterates by client id."""
        p = build_portfolio(
            orders=[order("o1", T0, "B"), order("o2", T0, "A"), order("o3", T0 + DAY, "B")],
            interactions=[interaction("i1", T0, "A")],
        )
        assert p.client_ids == ("A", "B")
        assert [h.client_id for h in p] == ["A", "B"]
        assert [o.order_id for o in p["B"].orders] == ["o1", "o3"]
        assert len(p["A"].interactions) == 1
        assert "A" in p
        assert "Z" not in p
        assert len(p) == 2
        assert p.records_count() == 4

    def test_inferred_clients_are_marked(self) -> None:
        """Without a clients table clients are inferred from client_id."""
        p = build_portfolio(orders=[order("o1", T0, "007")])
        assert p["007"].client_inferred
        assert p["007"].client == Client(client_id="007")

    def test_clients_table_gives_full_clients_and_empty_histories(self) -> None:
        """With a clients table every client is present, records or not."""
        known = [Client(client_id="A", name="Alfa"), Client(client_id="B")]
        p = build_portfolio(orders=[order("o1", T0, "A")], clients=known)
        assert p["A"].client.name == "Alfa"
        assert not p["A"].client_inferred
        assert len(p["B"]) == 0

    def test_unknown_clients_are_flagged_with_every_record(self) -> None:
        """Records of clients missing from the table raise, listing records and clients."""
        with pytest.raises(UnknownClientError) as info:
            build_portfolio(
                orders=[order("o1", T0, "A"), order("o2", T0, "X"), order("o3", T0, "Y")],
                clients=[Client(client_id="A")],
            )
        err = info.value
        assert err.record_ids == ("o2", "o3")
        assert err.client_ids == ("X", "Y")
        assert err.record == "Order"
        assert isinstance(err, ValidationError)

    def test_unknown_client_in_complaints_names_the_kind(self) -> None:
        """The error names the kind of record that points at an unknown client."""
        with pytest.raises(UnknownClientError, match="Complaint"):
            build_portfolio(complaints=[complaint("k", T0, "X")], clients=[])

    def test_duplicate_record_ids_are_flagged(self) -> None:
        """Two records of one kind with one id raise DuplicateIdError, also across clients."""
        with pytest.raises(DuplicateIdError) as info:
            build_portfolio(interactions=[interaction("i1", T0, "A"), interaction("i1", T0, "B")])
        assert info.value.ids == ("i1",)
        assert info.value.field == "interaction_id"

    def test_duplicate_clients_are_flagged(self) -> None:
        """Two clients with one id raise DuplicateIdError."""
        with pytest.raises(DuplicateIdError, match="client_id"):
            build_portfolio(clients=[Client(client_id="A"), Client(client_id="A")])

    def test_accepts_generators(self) -> None:
        """Inputs may be one-shot iterables."""
        p = build_portfolio(orders=(order(f"o{i}", T0 + i * DAY) for i in range(3)))
        assert len(p["C1"].orders) == 3

    @settings(max_examples=30, deadline=None)
    @given(portfolios(max_clients=4, max_records=6), st.randoms(use_true_random=False))
    def test_shuffled_input_gives_the_same_portfolio(
        self, p: Portfolio, rnd: random.Random
    ) -> None:
        """Rebuilding from the same records in another order gives an equal portfolio."""
        ints = [r for h in p for r in h.interactions]
        ords = [r for h in p for r in h.orders]
        comps = [r for h in p for r in h.complaints]
        for items in (ints, ords, comps):
            rnd.shuffle(items)
        with_table = not any(h.client_inferred for h in p)
        clients = [h.client for h in p] if with_table else None
        if clients is not None:
            rnd.shuffle(clients)
        again = build_portfolio(interactions=ints, orders=ords, complaints=comps, clients=clients)
        assert again == p
        assert list(again.client_ids) == sorted(p.client_ids)


class TestPortfolio:
    """Portfolio views and checks."""

    def test_as_of_keeps_every_client(self) -> None:
        """as_of cuts every history but keeps clients with nothing yet."""
        p = build_portfolio(orders=[order("o1", T0, "A"), order("o2", T0 + DAY, "B")])
        view = p.as_of(T0)
        assert view.client_ids == ("A", "B")
        assert len(view["B"]) == 0
        assert p.last_moment == T0 + DAY
        assert view.last_moment == T0

    def test_empty_portfolio(self) -> None:
        """An empty portfolio has no clients and no last moment."""
        p = build_portfolio()
        assert len(p) == 0
        assert p.last_moment is None

    def test_unknown_client_lookup_raises_key_error(self) -> None:
        """p[client_id] of an unknown client raises KeyError."""
        with pytest.raises(KeyError):
            build_portfolio()["nobody"]

    def test_duplicate_histories_are_refused(self) -> None:
        """A portfolio cannot hold two histories of one client."""
        h = ClientHistory.of("A")
        with pytest.raises(DuplicateIdError):
            Portfolio((h, h))

    def test_naive_moment_is_refused(self) -> None:
        """Portfolio.as_of needs an aware datetime."""
        with pytest.raises(ValidationError):
            build_portfolio().as_of(datetime(2024, 1, 1))

    @settings(max_examples=30, deadline=None)
    @given(portfolios(max_clients=4, max_records=6), timestamps())
    def test_as_of_equals_per_history_as_of(self, p: Portfolio, moment: datetime) -> None:
        """The portfolio view is every history's view."""
        view = p.as_of(moment)
        assert view.client_ids == p.client_ids
        for h in p:
            assert view[h.client_id] == h.as_of(moment)

    def test_money_survives_grouping(self) -> None:
        """Grouping does not touch the records: amounts stay exact."""
        p = build_portfolio(orders=[order("o", T0, amount=0)])
        assert p["C1"].orders[0].amount == Decimal(0)
