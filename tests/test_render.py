"""Tests for relcycle.render: views (columns, order, top), the table's width, CSV safety."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relcycle import Client, Order, build_portfolio
from relcycle.errors import UsageError
from relcycle.render import View, render
from relcycle.render.table import PRIORITY, fit
from relcycle.render.view import FORMULA_STARTS, inert, neutralise
from relcycle.report import FLAT_FIELDS, Report, build_report, priority_key


def at(day: int) -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=day)


def hostile_report() -> Report:
    """Clients whose ids and names carry markup, escapes and formulas."""
    ids = ["a\x1b[31mred", "[bold]b[/bold]", "=1+1", "-5", "c\u202etxt.exe"]
    clients = [Client(client_id=cid, name=f"@{i}\x07") for i, cid in enumerate(ids)]
    orders = [
        Order(order_id=f"o{i}", client_id=cid, placed_at=at(i), amount=str(10 * (i + 1)))
        for i, cid in enumerate(ids)
    ]
    return build_report(build_portfolio(clients=clients, orders=orders))


class TestNeutralise:
    @given(st.text())
    def test_no_cell_starts_a_formula(self, text: str) -> None:
        """After neutralise, a cell starts a formula only if it is a plain number."""
        cell = neutralise(text)
        if cell.startswith(FORMULA_STARTS):
            assert re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", cell)
        assert cell in (text, "'" + text)

    @pytest.mark.parametrize("cell", ["-5", "-120.50", "+3", "-1e-05", "12"])
    def test_numbers_stay_numbers(self, cell: str) -> None:
        """A negative profit is a number, not a formula: written as it is."""
        assert neutralise(cell) == cell

    @pytest.mark.parametrize("cell", ["=1+1", "+A1", "-A1", "@SUM(A1)", "\tx", "\rx", "-"])
    def test_formulas_get_a_quote(self, cell: str) -> None:
        """OWASP's formula starts get a leading quote."""
        assert neutralise(cell) == "'" + cell


class TestInert:
    @given(st.text())
    def test_no_control_character_survives(self, text: str) -> None:
        """inert() leaves no C0/C1 control character and no bidi override."""
        out = inert(text)
        assert not re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)

    def test_escape_is_readable(self) -> None:
        """ESC is written as \\x1b, the rest of the text kept."""
        assert inert("a\x1b[31mred") == "a\\x1b[31mred"
        assert inert("x\u202ey") == "x\\u202ey"

    @pytest.mark.parametrize("rich", [False, True])
    def test_table_cells_are_inert(self, rich: bool) -> None:
        """The table prints ids and names inert, plain or drawn with rich (no markup)."""
        if rich:
            pytest.importorskip("rich")
        text = render(
            hostile_report(), "table", rich=rich, view=View(columns=("client_id", "name"))
        )
        body = re.sub(r"\x1b\[[0-9;]*m", "", text) if rich else text  # rich's own styling
        assert "\x1b" not in body
        assert "\x07" not in body
        assert "\u202e" not in body
        assert "a\\x1b[31mred" in body
        assert "[bold]b[/bold]" in body  # printed, not read as markup


class TestCsv:
    def test_hostile_cells_are_neutralised(self) -> None:
        """Ids and names starting with = + - @ are quoted; a raw view writes them as they are."""
        report = hostile_report()
        view = View(columns=("client_id", "name", "revenue"))
        rows = list(csv.reader(io.StringIO(render(report, "csv", view=view))))[1:]
        ids = {r[0] for r in rows}
        assert "'=1+1" in ids
        assert "-5" in ids  # a number: not a formula
        assert all(r[1].startswith("'@") for r in rows)
        raw = View(columns=("client_id",), csv_raw_formulas=True)
        assert "=1+1" in render(report, "csv", view=raw).splitlines()

    def test_flat_header(self) -> None:
        """The flat CSV's header is FLAT_FIELDS, then the funnel's; nested keeps rfm as JSON."""
        report = hostile_report()
        assert render(report, "csv").splitlines()[0].split(",") == [
            *FLAT_FIELDS,
            "funnel_stage",
            "funnel_stage_evidence",
            "funnel_stage_evidence_records",
        ]
        nested = render(report, "csv", view=View(csv_nested=True))
        assert '"{""r"":' in nested


class TestView:
    @given(
        st.sampled_from(["revenue", "lifecycle_stage", "client_id", "orders", "rfm_m"]),
        st.booleans(),
        st.integers(1, 6),
    )
    def test_sort_and_top(self, field: str, descending: bool, top: int) -> None:
        """The shown clients are the first `top` of the report sorted on the field."""
        report = hostile_report()
        shown = View(sort=field, descending=descending, top=top).clients(report)
        assert len(shown) == min(top, len(report))
        everyone = View(sort=field, descending=descending).clients(report)
        assert list(shown) == list(everyone)[:top]
        if field == "revenue":
            amounts = [c.revenue.amount for c in everyone]
            assert amounts == sorted(amounts, reverse=descending)

    def test_sort_priority_is_the_action_first_order(self) -> None:
        """--sort priority orders as priority_key (most urgent, most valuable first)."""
        report = hostile_report()
        shown = View(sort="priority").clients(report)
        assert list(shown) == sorted(report.clients, key=priority_key)
        assert list(View(sort="priority", descending=True).clients(report)) == list(shown)[::-1]
        with pytest.raises(UsageError, match="unknown column 'priorities'"):
            View(sort="priorities")

    def test_missing_values_sort_last(self) -> None:
        """Clients without a value (no sale: no RFM score) come last either way."""
        portfolio = build_portfolio(
            clients=[Client(client_id="none"), Client(client_id="some")],
            orders=[Order(order_id="o", client_id="some", placed_at=at(1), amount="5")],
        )
        report = build_report(portfolio)
        for descending in (False, True):
            got = View(sort="rfm_r", descending=descending).clients(report)
            assert [c.client_id for c in got] == ["some", "none"]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"columns": ("nope",)},
            {"columns": ()},
            {"sort": "nope"},
            {"sort": "evidence"},
            {"top": 0},
        ],
    )
    def test_bad_views_are_usage_errors(self, kwargs: dict[str, object]) -> None:
        """Unknown columns, a nested sort field, a top below 1: UsageError."""
        with pytest.raises(UsageError):
            View(**kwargs)  # type: ignore[arg-type]

    def test_html_takes_no_view(self) -> None:
        """The page shows the whole report: a view is a usage error, not silently ignored."""
        with pytest.raises(UsageError, match="html"):
            render(hostile_report(), "html", view=View(top=1))


class TestFit:
    @given(
        st.lists(st.integers(1, 40), min_size=1, max_size=len(PRIORITY)),
        st.integers(10, 200),
    )
    def test_kept_columns_fit(self, widths: list[int], width: int) -> None:
        """The kept columns fit the width (or only the first is left); the first stays."""
        names = list(PRIORITY[: len(widths)])
        kept = fit(widths, names, width, gap=2, edge=0)
        assert kept[0] == 0
        assert kept == sorted(kept)
        used = sum(widths[i] for i in kept) + 2 * (len(kept) - 1)
        assert used <= width or kept == [0]

    def test_priority_wins(self) -> None:
        """With room for two columns of equal width, the more wanted one stays."""
        names = ["client_id", "contacts", "lifecycle_stage"]
        assert fit([5, 5, 5], names, 12, gap=2, edge=0) == [0, 2]
