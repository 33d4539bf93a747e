"""Tests for relcycle.clientbase: seed 004's client-base stages, read from the ladder."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from relcycle import Client, Interaction, Order, Portfolio, build_portfolio
from relcycle.clientbase import STAGE_OF_RUNG, ClientStage, client_stage
from relcycle.ladder import Rung
from relcycle.ladder import assess as assess_ladder
from relcycle.render import View, render
from relcycle.render.html import unpack
from relcycle.report import FLAT_FIELDS, Report, build_report
from relcycle.segmentation.regularity import assess_regularity


def at(day: int) -> datetime:
    """A moment in 2024, ``day`` days after 1 January."""
    return datetime(2024, 1, 1, 10, tzinfo=UTC) + timedelta(days=day)


def monthly(cid: str, count: int, first: int = 0) -> list[Order]:
    """``count`` sales 30 days apart: regular from the fourth purchase day on."""
    return [
        Order(order_id=f"{cid}-o{i}", client_id=cid, placed_at=at(first + 30 * i), amount="100")
        for i in range(count)
    ]


def stages_portfolio() -> Portfolio:
    """A prospect, a new buyer, a regular buyer, a partner, a lost client, and a regular
    buyer that escalated (an adversary on the ladder, still a regular buyer)."""
    ids = ("prospect", "new", "regular", "partner", "lost", "angry")
    orders = [
        Order(order_id="new-o0", client_id="new", placed_at=at(100), amount="900"),
        *monthly("regular", 5),
        *monthly("partner", 5),
        *monthly("lost", 5),
        *monthly("angry", 5),
    ]
    interactions = [
        Interaction(interaction_id="prospect-i", client_id="prospect", at=at(20)),
        Interaction(
            interaction_id="partner-ref", client_id="partner", at=at(125), purpose="referral"
        ),
        Interaction(
            interaction_id="lost-t", client_id="lost", at=at(130), purpose="termination",
            reason="quality",
        ),
        Interaction(
            interaction_id="angry-e", client_id="angry", at=at(125), purpose="escalation"
        ),
    ]  # fmt: skip
    return build_portfolio(
        clients=[Client(client_id=c) for c in ids], orders=orders, interactions=interactions
    )


AS_OF = at(135)


@pytest.fixture(scope="module")
def report() -> Report:
    return build_report(stages_portfolio(), as_of=AS_OF)


class TestClientStage:
    @pytest.mark.parametrize(
        ("cid", "stage"),
        [
            ("prospect", "none"),
            ("new", "new"),
            ("regular", "regular"),
            ("partner", "partner"),
            ("lost", "lost"),
            ("angry", "regular"),
        ],
    )
    def test_each_stage_from_a_small_history(self, report: Report, cid: str, stage: str) -> None:
        assert report[cid].client_stage.value == stage
        assert report[cid].to_record()["client_stage"] == stage

    def test_the_stage_follows_the_ladder_rung(self, report: Report) -> None:
        """Where the rung is a client-base rung, the stage is the rung's."""
        for c in report:
            if c.active and c.ladder_rung in STAGE_OF_RUNG and c.client_stage.value != "regular":
                assert c.client_stage is STAGE_OF_RUNG[c.ladder_rung]
        assert report["angry"].ladder_rung is Rung.adversary

    def test_evidence_names_the_records(self, report: Report) -> None:
        ev = {c.client_id: c.evidence["client_stage"] for c in report}
        assert ev["partner"].record_ids[-1] == "partner-ref"
        assert ev["partner"].reason.startswith("advocate: ")
        assert set(ev["regular"].record_ids) >= {f"regular-o{i}" for i in range(4)}
        assert ev["new"].record_ids == ("new-o0",)
        assert "lost-t" in ev["lost"].record_ids
        assert ev["angry"].reason.startswith("buys regularly: ")
        assert set(ev["angry"].record_ids) == {f"angry-o{i}" for i in range(5)}
        assert ev["prospect"].record_ids == ()
        assert ev["prospect"].reason == "no sale"  # it read "no sale yet: no sale"

    def test_a_one_off_buyer_off_the_buyer_rung_has_bought_once(self) -> None:
        """A client with one sale that escalated is an adversary, not a buyer: it is
        new, and its evidence says it bought once (it read "has bought (one_off)")."""
        history = build_portfolio(
            orders=monthly("once", 1, first=100),
            interactions=[
                Interaction(
                    interaction_id="once-e", client_id="once", at=at(125), purpose="escalation"
                )
            ],
        )["once"]
        found = client_stage(
            ladder=assess_ladder(history, as_of=AS_OF),
            regularity=assess_regularity(history, as_of=AS_OF),
        )
        assert found.stage is ClientStage.new
        assert found.evidence.reason == "has bought once: one purchase day (2024-04-10)"
        assert found.evidence.record_ids == ("once-o0",)

    def test_the_function_reads_the_two_verdicts(self) -> None:
        history = stages_portfolio()["regular"]
        found = client_stage(
            ladder=assess_ladder(history, as_of=AS_OF),
            regularity=assess_regularity(history, as_of=AS_OF),
        )
        assert found.stage is ClientStage.regular

    def test_summary_counts_every_stage(self, report: Report) -> None:
        assert report.summary["client_stage"] == {
            "none": 1,
            "new": 1,
            "regular": 2,
            "partner": 1,
            "lost": 1,
        }


class TestOutputs:
    def test_json_and_jsonl(self, report: Report) -> None:
        doc = json.loads(render(report, "json"))
        record = next(r for r in doc["clients"] if r["client_id"] == "partner")
        assert record["client_stage"] == "partner"
        assert record["evidence"]["client_stage"]["record_ids"][-1] == "partner-ref"
        assert doc["summary"]["client_stage"]["regular"] == 2
        line = json.loads(render(report, "jsonl").splitlines()[0])
        assert line["client_id"] == "angry"
        assert line["client_stage"] == "regular"

    def test_csv_flat_fields(self, report: Report) -> None:
        assert {"client_stage", "evidence_client_stage", "evidence_client_stage_records"} <= set(
            FLAT_FIELDS
        )
        rows = {r["client_id"]: r for r in csv.DictReader(io.StringIO(render(report, "csv")))}
        assert rows["new"]["client_stage"] == "new"
        assert rows["new"]["evidence_client_stage_records"] == "new-o0"

    def test_table_and_html(self, report: Report) -> None:
        table = render(report, "table")
        assert "client base: none 1, new 1, regular 2, partner 1, lost 1" in table
        assert "partner" in render(
            report, "table", view=View(columns=("client_id", "client_stage"))
        )
        page = render(report, "html")
        assert "client-base stage" in page
        # each client's explanation (built in the browser) carries its stage and records
        block = re.search(r'id="relcycle-data">([^<]*)</script>', page)
        assert block is not None
        data = unpack(block.group(1))
        rows = {row[0]: i for i, row in enumerate(data["rows"])}
        (base,) = data["why"][rows["partner"]][8]
        assert base[:2] == ["client_base", "partner"]
        assert "partner-ref" in base[3]
        assert "partner-ref" in data["records"]
        lost = data["why"][rows["lost"]][8]
        assert [k[:2] for k in lost] == [["client_base", "lost"], ["loss", "quality"]]

    def test_sort_by_stage_follows_the_stages_order(self, report: Report) -> None:
        view = View(sort="client_stage", columns=("client_id", "client_stage"))
        order = [c.client_stage.value for c in view.clients(report)]
        assert order == ["none", "new", "regular", "regular", "partner", "lost"]


def test_a_lost_client_says_where_it_left_from() -> None:
    """A lost regular client's stage is lost; the evidence says it left as a customer."""
    found = build_report(stages_portfolio(), as_of=AS_OF)["lost"]
    assert found.client_stage is ClientStage.lost
    assert found.evidence["client_stage"].reason.startswith("left the client base as a customer: ")
