"""Service statistics: claims, wishes and requests, response and resolution times, feedback.

Seed 001: the service department processes claims, wishes and requests, reports
on them, and motivates clients to give feedback in any form. Definitions, for a
period ``since <= moment <= as_of`` (``since`` None = from the start):

* **claims**: complaints opened in the period;
* **wishes**: client-initiated (``inbound``) interactions with purpose ``wish``
  (the rule :data:`relcycle.rules.WISH`);
* **requests**: inbound interactions with purpose ``inquiry`` or ``offer_change``
  (:data:`relcycle.rules.REQUEST` except wishes);
* **feedback**: inbound interactions with purpose ``feedback``
  (:data:`relcycle.rules.FEEDBACK`);
* a client **gave feedback** when it made at least one claim, wish or feedback
  contact in the period (feedback "in any form");
* **response time** of a claim, wish, request or feedback: the time to the
  supplier's next ``outbound`` interaction with the client, at or after it and up
  to ``as_of``; without one it is **unanswered**;
* **resolution time** of a claim: ``resolved_at - opened_at`` for claims resolved
  or rejected by ``as_of``; claims still open at ``as_of`` are counted as open;
* the portfolio's **feedback share** is the share of *active* clients (any record
  in the period) that gave feedback.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from relcycle._decimal import CONTEXT
from relcycle.history import ClientHistory, Portfolio
from relcycle.model import Direction
from relcycle.rules import CLOSED_COMPLAINT, FEEDBACK, OPEN_COMPLAINT, REQUEST, WISH

from ._util import check_as_of

__all__ = ["ClientServiceStats", "DurationStats", "ServiceStats", "client_service", "service_stats"]


#: The ratio's arithmetic: relcycle's context (not ``decimal.DefaultContext``,
#: which a program can change), an instance of its own.
_CTX = CONTEXT.copy()

#: The service department's requests: the rule of a request, wishes aside (they
#: are counted on their own).
_SERVICE_REQUEST = REQUEST & ~WISH
_IS_WISH, _IS_REQUEST, _IS_FEEDBACK = WISH.test, _SERVICE_REQUEST.test, FEEDBACK.test


@attrs.frozen(kw_only=True)
class DurationStats:
    """Count, mean, median and maximum of a set of durations.

    Attributes:
        count: How many durations.
        mean: Their mean, None when there are none.
        median: Their median (mean of the two middle ones for an even count).
        max: The longest.
    """

    count: int
    mean: timedelta | None
    median: timedelta | None
    max: timedelta | None

    @classmethod
    def of(cls, spans: Iterable[timedelta]) -> DurationStats:
        """Summarise ``spans``."""
        items = sorted(spans)
        n = len(items)
        if not n:
            return cls(count=0, mean=None, median=None, max=None)
        mid = n // 2
        median = items[mid] if n % 2 else (items[mid - 1] + items[mid]) / 2
        return cls(
            count=n,
            mean=sum(items, timedelta(0)) / n,
            median=median,
            max=items[-1],
        )


@attrs.frozen(kw_only=True)
class ClientServiceStats:
    """One client's service figures for a period.

    Attributes:
        client_id: The client.
        claims: Complaints opened in the period.
        wishes: Inbound ``wish`` contacts.
        requests: Inbound ``inquiry`` and ``offer_change`` contacts.
        feedback: Inbound ``feedback`` contacts.
        gave_feedback: A claim, wish or feedback contact in the period.
        active: Any record of the client in the period.
        response: Response times of claims, wishes, requests and feedback.
        unanswered: Of those, how many had no outbound answer by ``as_of``.
        resolution: Resolution times of the period's claims closed by ``as_of``.
        open_claims: The period's claims still open at ``as_of``.
        record_ids: The ids of the claims and contacts counted.
    """

    client_id: str
    claims: int
    wishes: int
    requests: int
    feedback: int
    gave_feedback: bool
    active: bool
    response: DurationStats
    unanswered: int
    resolution: DurationStats
    open_claims: int
    record_ids: tuple[str, ...]


@attrs.frozen(kw_only=True)
class ServiceStats:
    """Service figures of a portfolio for a period.

    Attributes:
        since: The start of the period (None = from the start).
        as_of: Its end.
        clients: Per-client figures, by client id.
        claims: Total claims.
        wishes: Total wishes.
        requests: Total requests.
        feedback: Total feedback contacts.
        response: Response times over all clients.
        unanswered: Items without an answer.
        resolution: Resolution times over all clients.
        open_claims: Claims still open.
        active_clients: Clients with any record in the period.
        feedback_clients: Active clients that gave feedback.
    """

    since: datetime | None
    as_of: datetime
    clients: tuple[ClientServiceStats, ...]
    claims: int
    wishes: int
    requests: int
    feedback: int
    response: DurationStats
    unanswered: int
    resolution: DurationStats
    open_claims: int
    active_clients: int
    feedback_clients: int

    @property
    def feedback_share(self) -> Decimal:
        """Share of active clients that gave feedback (0 with no active client)."""
        if not self.active_clients:
            return Decimal(0)
        return _CTX.divide(Decimal(self.feedback_clients), Decimal(self.active_clients))


def _answer(outbound: Sequence[datetime], moment: datetime) -> timedelta | None:
    i = bisect_left(outbound, moment)
    return outbound[i] - moment if i < len(outbound) else None


def client_service(
    history: ClientHistory, *, as_of: datetime, since: datetime | None = None
) -> tuple[ClientServiceStats, list[timedelta], list[timedelta]]:
    """A client's service figures, with the raw response and resolution times.

    Returns:
        ``(stats, response_times, resolution_times)``; :func:`service_stats` pools
        the raw times over the portfolio.
    """
    check_as_of(as_of)
    if since is not None:
        check_as_of(since)
    view = history.as_of(as_of)

    def inside(moment: datetime) -> bool:
        return since is None or moment >= since

    outbound = [i.at for i in view.interactions if i.direction is Direction.outbound]
    counts = {"wish": 0, "request": 0, "feedback": 0}
    items: list[tuple[str, datetime]] = []
    for i in view.interactions:
        if not inside(i.at):
            continue
        if _IS_WISH(i):
            counts["wish"] += 1
        elif _IS_REQUEST(i):
            counts["request"] += 1
        elif _IS_FEEDBACK(i):
            counts["feedback"] += 1
        else:
            continue
        items.append((i.interaction_id, i.at))
    claims = [c for c in view.complaints if inside(c.opened_at)]
    items.extend((c.complaint_id, c.opened_at) for c in claims)
    responses: list[timedelta] = []
    unanswered = 0
    for _, moment in items:
        span = _answer(outbound, moment)
        if span is None:
            unanswered += 1
        else:
            responses.append(span)
    resolutions = [
        c.resolved_at - c.opened_at
        for c in claims
        # the rule says closed by as_of; the None test only narrows the type
        if CLOSED_COMPLAINT.test(c, as_of) and c.resolved_at is not None
    ]
    open_claims = sum(1 for c in claims if OPEN_COMPLAINT.test(c, as_of))
    active = any(inside(r.at) for r in view.records())
    stats = ClientServiceStats(
        client_id=history.client_id,
        claims=len(claims),
        wishes=counts["wish"],
        requests=counts["request"],
        feedback=counts["feedback"],
        gave_feedback=bool(claims) or counts["wish"] > 0 or counts["feedback"] > 0,
        active=active,
        response=DurationStats.of(responses),
        unanswered=unanswered,
        resolution=DurationStats.of(resolutions),
        open_claims=open_claims,
        record_ids=tuple(rid for rid, _ in items),
    )
    return stats, responses, resolutions


def service_stats(
    portfolio: Portfolio | Iterable[ClientHistory],
    *,
    as_of: datetime,
    since: datetime | None = None,
) -> ServiceStats:
    """Service figures per client and for the whole portfolio over a period.

    Args:
        portfolio: The clients.
        as_of: The end of the period (aware); later records are ignored.
        since: The start of the period, inclusive; None = from the start.

    Returns:
        The figures (see the module docs for the definitions).
    """
    check_as_of(as_of)
    per_client: list[ClientServiceStats] = []
    responses: list[timedelta] = []
    resolutions: list[timedelta] = []
    for history in portfolio:
        stats, resp, res = client_service(history, as_of=as_of, since=since)
        per_client.append(stats)
        responses.extend(resp)
        resolutions.extend(res)
    per_client.sort(key=lambda s: s.client_id)
    return ServiceStats(
        since=since,
        as_of=as_of,
        clients=tuple(per_client),
        claims=sum(s.claims for s in per_client),
        wishes=sum(s.wishes for s in per_client),
        requests=sum(s.requests for s in per_client),
        feedback=sum(s.feedback for s in per_client),
        response=DurationStats.of(responses),
        unanswered=sum(s.unanswered for s in per_client),
        resolution=DurationStats.of(resolutions),
        open_claims=sum(s.open_claims for s in per_client),
        active_clients=sum(1 for s in per_client if s.active),
        feedback_clients=sum(1 for s in per_client if s.active and s.gave_feedback),
    )
