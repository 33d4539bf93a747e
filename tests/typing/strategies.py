"""Type-checking example: relcycle.testing strategies are typed (``mypy --strict``).

Not collected by pytest: it is checked by ``mypy --strict src tests/typing``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import assert_type

from hypothesis import given
from hypothesis import strategies as st

from relcycle import ClientHistory, Money, Order, Portfolio
from relcycle.testing import histories, invalid_rows, money, orders, portfolios, timestamps

LO = datetime(2021, 1, 1, tzinfo=UTC)

assert_type(orders(client_id="C1", currency="EUR"), st.SearchStrategy[Order])
assert_type(histories(max_records=5), st.SearchStrategy[ClientHistory])
assert_type(portfolios(), st.SearchStrategy[Portfolio])
assert_type(money(), st.SearchStrategy[Money])
assert_type(timestamps(min_value=LO), st.SearchStrategy[datetime])
assert_type(invalid_rows("orders"), st.SearchStrategy[tuple[dict[str, str], str, str]])


@given(orders(client_id="C1"))
def check_order(order: Order) -> None:
    """A property over typed orders."""
    assert order.client_id == "C1"
