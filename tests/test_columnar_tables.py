"""Tests of the columnar reader: frames equal io's records, on the fast path and off it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from relcycle.columnar._tables import (
    Frames,
    frames_from_tables,
    histories,
    to_portfolio,
)
from relcycle.history import Portfolio
from relcycle.io import HistoryTables
from relcycle.testing import portfolios

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def exact(portfolio: Portfolio) -> list[dict[str, Any]]:
    """A portfolio as lossless dicts: offsets and Decimal digits show (== ignores them)."""
    return [h.to_dict() for h in portfolio]


def assert_same(got: Portfolio, expected: Portfolio) -> None:
    """Equal records, and equal offsets and digits of every value."""
    assert got == expected
    assert exact(got) == exact(expected)
    for a, b in zip(got, expected, strict=True):
        for ra, rb in zip(a.records(), b.records(), strict=True):
            assert ra.at.utcoffset() == rb.at.utcoffset()


class TestFramesFromTables:
    """Domain objects -> frames -> domain objects."""

    @SETTINGS
    @given(portfolios(max_clients=6, max_records=8))
    def test_round_trip(self, portfolio: Portfolio) -> None:
        """Frames of a portfolio's tables give the same portfolio back, exactly."""
        frames = frames_from_tables(HistoryTables.from_portfolio(portfolio))
        assert frames.path == "objects"
        assert_same(to_portfolio(frames), portfolio)

    @SETTINGS
    @given(portfolios(max_clients=6, max_records=8))
    def test_histories_come_in_client_order(self, portfolio: Portfolio) -> None:
        """histories() yields one history per client, sorted by client id."""
        frames = frames_from_tables(HistoryTables.from_portfolio(portfolio))
        got = list(histories(frames))
        assert [h.client_id for h in got] == sorted(portfolio.client_ids)
        assert tuple(got) == portfolio.histories

    def test_schema(self) -> None:
        """Every frame has the normalized schema, even when empty."""
        import polars as pl

        frames = frames_from_tables(HistoryTables(clients=None))
        assert frames.orders.schema["placed_at"] == pl.Datetime("us", "UTC")
        assert frames.orders.schema["placed_at_offset"] == pl.Int32
        assert frames.orders.schema["amount"] == pl.String
        assert frames.orders.schema["discounted"] == pl.Boolean
        assert frames.complaints.schema["resolved_at_offset"] == pl.Int32
        assert frames.clients.height == 0
        assert not frames.clients_given

    def test_equals_ignores_row_order(self) -> None:
        """Frames.equals compares rows in any order."""
        from relcycle.simulate import simulate_portfolio

        tables = HistoryTables.from_portfolio(simulate_portfolio(5, seed=3).portfolio())
        a = frames_from_tables(tables)
        b = frames_from_tables(
            HistoryTables(
                clients=tables.clients,
                orders=tuple(reversed(tables.orders)),
                interactions=tables.interactions,
                complaints=tables.complaints,
            )
        )
        assert isinstance(a, Frames)
        assert a.equals(b)
        assert not a.equals(frames_from_tables(HistoryTables(clients=None)))
