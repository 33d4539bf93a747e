"""Type-checking example: records, a history, a portfolio and money (``mypy --strict``).

Not collected by pytest: it is checked by ``mypy --strict src tests/typing`` and
runs as a plain script.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import assert_type

import relcycle as rc

AT = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)

client = rc.Client(
    client_id="C1",
    name="Acme",
    kind=rc.ClientKind.company,
    since=AT - timedelta(days=400),
    contacts=[rc.ContactPerson(name="Olena Koval", role="purchasing manager")],
    attributes={"tier": "gold"},
)
order = rc.Order(
    order_id="O1",
    client_id="C1",
    placed_at=AT,
    amount=Decimal("12.50"),
    currency="EUR",
    status=rc.OrderStatus.delivered,
    cost=Decimal("7"),
)
call = rc.Interaction(
    interaction_id="I1",
    client_id="C1",
    at=AT,
    channel=rc.Channel.phone,
    purpose=rc.Purpose.offer_change,
    minutes=Decimal(15),
)
claim = rc.Complaint(
    complaint_id="K1",
    client_id="C1",
    opened_at=AT,
    severity=rc.Severity.high,
    status=rc.ComplaintStatus.resolved,
    resolved_at=AT + timedelta(days=2),
)

portfolio = rc.build_portfolio(
    orders=[order], interactions=[call], complaints=[claim], clients=[client]
)
assert_type(portfolio, rc.Portfolio)

history = portfolio["C1"]
assert_type(history, rc.ClientHistory)
assert_type(history.as_of(AT).orders, tuple[rc.Order, ...])
assert_type(history.last_moment, datetime | None)
assert_type(client.contacts, tuple[rc.ContactPerson, ...])

revenue = sum((o.money for o in history.orders if o.is_sale), rc.Money.zero("EUR"))
assert_type(revenue, rc.Money)
assert_type(revenue.amount, Decimal)
assert_type(claim.loss, rc.Money | None)
assert_type(rc.Severity.high > rc.Severity.low, bool)

same = rc.Order.from_json(order.to_json())
assert_type(same, rc.Order)
restored = rc.ClientHistory.from_dict(history.to_dict())
assert_type(restored, rc.ClientHistory)

try:
    rc.Order(order_id="", client_id="C1", placed_at=AT, amount=Decimal(1))
except rc.ValidationError as err:
    assert_type(err.field, str)
    assert_type(err.record_id, str | None)

evidence = rc.Evidence("delivered on time", (order.id,))
assert_type(evidence.record_ids, tuple[str, ...])
