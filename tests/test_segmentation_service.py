"""Tests for relcycle.segmentation.service: claims, wishes, requests, times, feedback share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from relcycle.history import ClientHistory, build_portfolio
from relcycle.model import Complaint, Interaction, Order
from relcycle.segmentation.service import DurationStats, client_service, service_stats

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=30)


def at(hours: float) -> datetime:
    """``hours`` after T0."""
    return T0 + timedelta(hours=hours)


def i(
    iid: str, hours: float, purpose: str, direction: str = "inbound", cid: str = "c1"
) -> Interaction:
    """An interaction."""
    return Interaction(
        interaction_id=iid,
        client_id=cid,
        at=at(hours),
        purpose=purpose,  # type: ignore[arg-type]
        direction=direction,  # type: ignore[arg-type]
    )


class TestClientService:
    """One client's service figures."""

    def test_scenario(self) -> None:
        """Claims, wishes and requests are counted and timed against the next answer."""
        records = [
            i("q1", 0, "inquiry"),
            i("w1", 1, "wish"),
            i("a1", 4, "other", "outbound"),  # answers q1 (4h) and w1 (3h)
            i("f1", 10, "feedback"),
            i("q2", 20, "offer_change"),
            Complaint(
                complaint_id="k1",
                client_id="c1",
                opened_at=at(30),
                status="resolved",
                resolved_at=at(78),
            ),
            i("a2", 32, "other", "outbound"),  # answers f1 (22h), q2 (12h), k1 (2h)
            Complaint(complaint_id="k2", client_id="c1", opened_at=at(100)),
            i("m1", 50, "marketing", "outbound"),  # any outbound contact counts as an answer
        ]
        stats, responses, resolutions = client_service(ClientHistory.of("c1", records), as_of=AS_OF)
        assert (stats.claims, stats.wishes, stats.requests, stats.feedback) == (2, 1, 2, 1)
        assert stats.gave_feedback
        assert stats.active
        assert sorted(responses) == [timedelta(hours=h) for h in (2, 3, 4, 12, 22)]
        assert stats.unanswered == 1  # k2, opened after the last outbound contact
        assert stats.response.count == 5
        assert stats.response.median == timedelta(hours=4)
        assert stats.response.max == timedelta(hours=22)
        assert resolutions == [timedelta(hours=48)]
        assert stats.open_claims == 1
        assert set(stats.record_ids) == {"q1", "w1", "f1", "q2", "k1", "k2"}

    def test_counter_example_silent_client(self) -> None:
        """Orders and supplier contacts alone are activity but not feedback."""
        records = [
            Order(order_id="o1", client_id="c1", placed_at=at(5), amount=1),
            i("a1", 6, "inquiry", "outbound"),
            i("r1", 7, "referral"),
        ]
        stats, _, _ = client_service(ClientHistory.of("c1", records), as_of=AS_OF)
        assert stats.active
        assert not stats.gave_feedback
        assert (stats.claims, stats.requests, stats.response.count, stats.unanswered) == (
            0,
            0,
            0,
            0,
        )

    def test_period_and_as_of(self) -> None:
        """Items before since or after as_of are not counted; a later answer does not count."""
        records = [
            i("q0", 0, "inquiry"),
            i("q1", 48, "inquiry"),
            i("a1", 24 * 40, "other", "outbound"),
        ]
        stats, _, _ = client_service(ClientHistory.of("c1", records), as_of=AS_OF, since=at(24))
        assert stats.requests == 1
        assert stats.unanswered == 1
        assert stats.response.count == 0

    def test_resolution_after_as_of_is_open(self) -> None:
        """A claim resolved after as_of is open as of then."""
        k = Complaint(
            complaint_id="k",
            client_id="c1",
            opened_at=at(1),
            status="resolved",
            resolved_at=AS_OF + timedelta(days=1),
        )
        stats, _, resolutions = client_service(ClientHistory.of("c1", [k]), as_of=AS_OF)
        assert resolutions == []
        assert stats.open_claims == 1


class TestPortfolio:
    """Portfolio totals and the feedback share."""

    def test_feedback_share(self) -> None:
        """Two of three active clients gave feedback; an inactive client is not counted."""
        p = build_portfolio(
            interactions=[
                i("a", 1, "feedback", cid="c1"),
                i("b", 2, "wish", cid="c2"),
                i("c", 3, "inquiry", cid="c3"),
                i("d", -100, "feedback", cid="c4"),
                i("e", 5, "other", "outbound", cid="c3"),
            ]
        )
        stats = service_stats(p, as_of=AS_OF, since=T0)
        assert (stats.active_clients, stats.feedback_clients) == (3, 2)
        assert stats.feedback_share * 3 == 2
        assert (stats.feedback, stats.wishes, stats.requests, stats.claims) == (1, 1, 1, 0)
        assert stats.response.count == 1
        assert stats.unanswered == 2
        assert [c.client_id for c in stats.clients] == ["c1", "c2", "c3", "c4"]

    def test_empty(self) -> None:
        """No clients: zero share, no times."""
        stats = service_stats(build_portfolio(), as_of=AS_OF)
        assert stats.feedback_share == 0
        assert stats.response == DurationStats(count=0, mean=None, median=None, max=None)


class TestDurationStats:
    """Summaries of durations."""

    def test_even_and_odd(self) -> None:
        """The median of an even count is the mean of the two middle values."""
        h = [timedelta(hours=x) for x in (4, 1, 3, 2)]
        s = DurationStats.of(h)
        assert (s.count, s.mean, s.median, s.max) == (
            4,
            timedelta(hours=2.5),
            timedelta(hours=2.5),
            timedelta(hours=4),
        )
        assert DurationStats.of(h[:3]).median == timedelta(hours=3)
