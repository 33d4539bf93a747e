"""Notebook views of relcycle's containers: short reprs (counts, not contents) and HTML."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from relcycle import Client, build_portfolio
from relcycle.io import as_tables, load_history, write_history
from relcycle.report import build_report
from relcycle.simulate import simulate_portfolio

#: A repr longer than this is printing contents, not counts.
SHORT = 300


@pytest.fixture(scope="module")
def simulated() -> Any:
    return simulate_portfolio(300, seed=2)


@pytest.fixture(scope="module")
def containers(simulated: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    portfolio = simulated.portfolio()
    as_of = portfolio.last_moment
    report = build_report(portfolio, compare_to=as_of - timedelta(days=120))
    folder = tmp_path_factory.mktemp("h")
    write_history(portfolio, folder / "h")
    found: dict[str, Any] = {
        "SimulatedHistory": simulated,
        "Portfolio": portfolio,
        "ClientHistory": max(portfolio, key=len),
        "Report": report,
        "HistoryTables": as_tables(portfolio),
        "LoadResult": load_history(folder / "h"),
        "MigrationMatrix": report.migrations["lifecycle_stage"],  # type: ignore[index]
    }
    try:
        from relcycle.columnar import read_tables
    except ImportError:  # pragma: no cover - without the arrow extra
        return found
    found["Frames"] = read_tables(folder / "h")
    return found


class TestShortRepr:
    @pytest.mark.parametrize(
        "name",
        [
            "SimulatedHistory",
            "Portfolio",
            "ClientHistory",
            "Report",
            "HistoryTables",
            "LoadResult",
            "MigrationMatrix",
            "Frames",
        ],
    )
    def test_counts_not_contents(self, containers: dict[str, Any], name: str) -> None:
        """Each container's repr is short, names its type and gives counts."""
        if name not in containers:
            pytest.skip("the arrow extra is not installed")
        text = repr(containers[name])
        assert len(text) < SHORT, text
        assert text.startswith(f"<{name}")
        assert re.search(r"\d", text)

    def test_portfolio_counts_are_right(self, containers: dict[str, Any]) -> None:
        """The portfolio's repr counts its clients and every kind of record."""
        portfolio = containers["Portfolio"]
        orders = sum(len(h.orders) for h in portfolio)
        complaints = sum(len(h.complaints) for h in portfolio)
        text = repr(portfolio)
        assert f"{len(portfolio):,} clients" in text
        assert f"{orders:,} orders" in text
        assert f"{complaints:,} complaints" in text

    def test_repr_does_not_grow_with_the_portfolio(self) -> None:
        """Ten times the clients, the same length of repr (give or take the digits)."""
        small = simulate_portfolio(10, seed=1).portfolio()
        large = simulate_portfolio(100, seed=1).portfolio()
        assert len(repr(large)) - len(repr(small)) <= 8

    def test_singular(self) -> None:
        """One client, one order: counts agree with their noun."""
        portfolio = build_portfolio(clients=[Client(client_id="a")])
        assert repr(portfolio) == ("<Portfolio: 1 client, 0 orders, 0 interactions, 0 complaints>")


class TestHtml:
    @pytest.mark.parametrize("which", ["Portfolio", "ClientHistory", "Client", "ClientReport"])
    def test_notebook_html(self, containers: dict[str, Any], which: str) -> None:
        """Portfolio, history, client and report row render as small, escaped HTML."""
        portfolio = containers["Portfolio"]
        obj = {
            "Portfolio": portfolio,
            "ClientHistory": containers["ClientHistory"],
            "Client": containers["ClientHistory"].client,
            "ClientReport": containers["Report"].clients[0],
        }[which]
        html = obj._repr_html_()
        assert html.startswith("<div")
        assert html.endswith("</div>")
        assert "<script" not in html
        assert len(html) < 20_000  # the first rows, not the whole portfolio

    def test_portfolio_lists_the_first_clients_and_how_many_more(
        self, containers: dict[str, Any]
    ) -> None:
        """The portfolio view shows ten clients and says how many it left out."""
        portfolio = containers["Portfolio"]
        html = portfolio._repr_html_()
        first = portfolio.client_ids
        assert first[0] in html
        assert first[9] in html
        assert first[10] not in html
        assert f"and {len(portfolio) - 10:,} more" in html

    def test_report_row_shows_verdicts_change_and_actions(self, containers: dict[str, Any]) -> None:
        """A report row shows its stage, rung, change since compare_to and its actions."""
        client = next(c for c in containers["Report"] if c.actions)
        html = client._repr_html_()
        assert client.lifecycle_stage.value in html
        assert client.ladder_rung.value in html
        assert f'<td style="text-align:left">{client.change}</td>' in html
        assert client.actions[0].who in html

    def test_text_is_escaped(self) -> None:
        """A client name with markup is shown as text."""
        client = Client(client_id="<b>x</b>", name="<script>alert(1)</script>")
        for obj in (client, build_portfolio(clients=[client])):
            html = obj._repr_html_()
            assert "<script>" not in html
            assert "&lt;script&gt;" in html
