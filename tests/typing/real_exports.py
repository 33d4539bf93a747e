"""Type-checking example: reading a CRM export's own layout (``mypy --strict``).

Not collected by pytest: it is checked by ``mypy --strict src tests/typing`` and
runs as a plain script.
"""

from __future__ import annotations

from decimal import Decimal
from typing import assert_type

import relcycle as rc
from relcycle.io import Rename, suggest_mapping

rename: Rename = {"orders": {"client_id": "Customer ID", "placed_at": "Order Date"}}
parse = rc.ParseOptions(day_first=True, decimal_comma=True)
assert_type(parse.is_default, bool)

result = rc.load_records(
    [{"Customer ID": "ACME", "Order Date": "03/02/2026", "amount": "€1.200,50"}],
    rename=rename,
    parse=parse,
    currency="EUR",
)
assert_type(result, rc.LoadResult)
assert_type(result.warnings, tuple[str, ...])
assert result.tables.orders[0].amount == Decimal("1200.50")


def proposed(folder: str) -> dict[str, dict[str, str]]:
    """What ``relcycle check`` would propose for ``folder``."""
    return suggest_mapping(folder)
