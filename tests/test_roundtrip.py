"""Round trips: any valid history survives every format relcycle reads and writes.

object -> dict/JSON -> CSV -> JSON Lines -> SQLite -> Parquet (when pyarrow is
installed) -> object, unchanged: ids (``00123`` stays), decimals to the last digit
(``12.50`` keeps its zero), instants *and* the offsets they were written with,
unicode text, contact persons and user-defined attributes.
"""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from relcycle.history import Portfolio
from relcycle.io import HistoryTables, load_history, write_history
from relcycle.model import Client, Complaint, Interaction, Order
from relcycle.testing import portfolios

HAVE_ARROW = importlib.util.find_spec("pyarrow") is not None

KINDS: dict[str, type[Any]] = {
    "orders": Order,
    "interactions": Interaction,
    "complaints": Complaint,
}


DECIMALS = ("amount", "cost", "client_loss", "minutes")


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """Decimals as plain digits: ``1E+3`` and ``1000`` are one value; ``12.50`` keeps its zero."""
    return {
        k: format(Decimal(v), "f") if k in DECIMALS and v is not None else v
        for k, v in record.items()
    }


def _snapshot(tables: HistoryTables) -> dict[str, Any]:
    """Every record as its lossless dict (ISO times keep their offsets), sorted by id.

    Writers spell decimals without an exponent (``1E+3`` is written ``1000``), so
    decimals are compared by value and by their digits after the point.
    """
    out: dict[str, Any] = {
        name: sorted((_plain(r.to_dict()) for r in getattr(tables, name)), key=repr)
        for name in KINDS
    }
    out["clients"] = (
        None
        if tables.clients is None
        else sorted((c.to_dict() for c in tables.clients), key=lambda d: d["client_id"])
    )
    return out


def _via_json(tables: HistoryTables) -> HistoryTables:
    """Each record to a dict, to JSON text, and back."""
    clients = (
        None
        if tables.clients is None
        else tuple(
            Client.from_json(Client.from_dict(c.to_dict()).to_json()) for c in tables.clients
        )
    )
    moved = {
        name: tuple(
            cls.from_json(cls.from_dict(r.to_dict()).to_json()) for r in getattr(tables, name)
        )
        for name, cls in KINDS.items()
    }
    return HistoryTables(clients=clients, **moved)


def _through(tables: HistoryTables, dest: Path, fmt: str) -> HistoryTables:
    write_history(tables, dest, format=fmt)  # type: ignore[arg-type]
    return load_history(dest).tables


SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class TestEveryFormat:
    """A portfolio goes through every format and comes back equal, field by field."""

    @SETTINGS
    @given(portfolio=portfolios(max_clients=4, max_records=6))
    def test_the_whole_chain(
        self, tmp_path_factory: pytest.TempPathFactory, portfolio: Portfolio
    ) -> None:
        """object -> JSON -> CSV -> JSONL -> SQLite -> Parquet -> object is the identity."""
        root = tmp_path_factory.mktemp("chain")
        start = HistoryTables.from_portfolio(portfolio)
        expected = _snapshot(start)
        step = _via_json(start)
        assert _snapshot(step) == expected, "dict/JSON"
        for fmt, dest in (
            ("csv", root / "csv"),
            ("jsonl", root / "jsonl"),
            ("sqlite", root / "store.db"),
            *([("parquet", root / "parquet")] if HAVE_ARROW else []),
        ):
            step = _through(step, dest, fmt)
            assert _snapshot(step) == expected, fmt
        back = step.portfolio()
        assert [h.client.client_id for h in back] == [h.client.client_id for h in portfolio]
        for history in portfolio:
            again = back[history.client.client_id]
            assert again.client.to_dict() == history.client.to_dict()
            assert again.client_inferred == history.client_inferred
            for name in KINDS:
                assert [r.to_dict() for r in getattr(again, name)] == [
                    r.to_dict() for r in getattr(history, name)
                ]

    @SETTINGS
    @given(portfolio=portfolios(max_clients=3, max_records=5))
    def test_each_format_alone(
        self, tmp_path_factory: pytest.TempPathFactory, portfolio: Portfolio
    ) -> None:
        """Each format on its own is lossless too (a bug cannot hide behind another)."""
        root = tmp_path_factory.mktemp("alone")
        start = HistoryTables.from_portfolio(portfolio)
        expected = _snapshot(start)
        formats = ["csv", "jsonl", "sqlite", *(["parquet"] if HAVE_ARROW else [])]
        for fmt in formats:
            dest = root / ("store.db" if fmt == "sqlite" else fmt)
            assert _snapshot(_through(start, dest, fmt)) == expected, fmt

    @SETTINGS
    @given(portfolio=portfolios(max_clients=4, max_records=6))
    def test_rows_encoded_in_batches_keep_their_order(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        portfolio: Portfolio,
    ) -> None:
        """The writers encode a batch of records at a time, column by column: with
        batches of 2 records (every table spans several, the last one short), every
        row keeps its cells and its place."""
        from relcycle.io import _write

        root = tmp_path_factory.mktemp("batches")
        start = HistoryTables.from_portfolio(portfolio)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_write, "_BATCH", 2)
            for fmt in ("csv", "sqlite"):
                dest = root / ("store.db" if fmt == "sqlite" else fmt)
                back = _through(start, dest, fmt)
                for name in KINDS:
                    assert [r.to_dict() for r in getattr(back, name)] == [
                        _plain(r.to_dict()) for r in getattr(start, name)
                    ], (fmt, name)


class TestTrickyValues:
    """Hand-picked values that break naive readers come back unchanged."""

    def _tables(self) -> HistoryTables:
        from datetime import datetime, timedelta, timezone
        from decimal import Decimal

        def at(h: int, minutes: int) -> datetime:
            return datetime(
                2024,
                2,
                29,
                23,
                59,
                59,
                999999,
                tzinfo=timezone(timedelta(hours=h, minutes=minutes)),
            )

        orders = tuple(
            Order(
                order_id=oid,
                client_id=cid,
                placed_at=at(h, m),
                amount=Decimal(amount),
                currency="HUF",
                product=product,
            )
            for oid, cid, h, m, amount, product in [
                ("00123", "007", 5, 45, "12.50", 'цемент \u041c500, "экстра"'),
                ("1e5", "0", -3, -30, "99999999999999999999.999999999999999999", "a\nb"),
                ("NaN", "true", 14, 0, "0.000", "="),
                ("null", "00123", -12, 0, "1E+3", "szállítás ő ű"),
                (" pad ", "007", 0, 0, "0", "   x   "),
            ]
        )
        clients = (
            Client(client_id="007", name='Ágnes & Co, "Kft"', attributes={"tier": "0012"}),
            Client(client_id="0"),
            Client(client_id="true", name="Ж" * 200),
            Client(client_id="00123", industry="будівництво"),
        )
        return HistoryTables(clients=clients, orders=orders)

    @pytest.mark.parametrize(
        "fmt", ["csv", "jsonl", "sqlite", *(["parquet"] if HAVE_ARROW else [])]
    )
    def test_tricky_values_survive(self, tmp_path: Path, fmt: str) -> None:
        """Leading zeros, number-like ids, 38-digit decimals, +14:00 and quotes survive."""
        tables = self._tables()
        dest = tmp_path / ("store.db" if fmt == "sqlite" else fmt)
        assert _snapshot(_through(tables, dest, fmt)) == _snapshot(tables)

    def test_rereading_gives_the_same_generated_ids(self, tmp_path: Path) -> None:
        """Rows without ids get the same generated ids on every read; twins stay two."""
        folder = tmp_path / "log"
        folder.mkdir()
        (folder / "orders.csv").write_text(
            "client_id,placed_at,amount\n007,2024-01-01,5\n007,2024-01-01,5\n008,2024-01-02,1\n",
            encoding="utf-8",
        )
        first = [o.order_id for o in load_history(folder).tables.orders]
        second = [o.order_id for o in load_history(folder).tables.orders]
        assert first == second
        assert len(set(first)) == 3
