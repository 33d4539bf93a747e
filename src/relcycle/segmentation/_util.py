"""Helpers shared by the segmentation modules (private)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal

from relcycle.errors import CurrencyMismatchError, RecordTypeError, ValidationError
from relcycle.history import ClientHistory
from relcycle.history import check_as_of as check_as_of
from relcycle.model import Order
from relcycle.rules import SALE

__all__: list[str] = []


def day_of(moment: datetime, tz: tzinfo) -> date:
    """The calendar day of ``moment`` in ``tz``."""
    return moment.astimezone(tz).date()


# The last answer of sales(): the report asks for one client's sales several
# times in a row (regularity twice, cost-to-serve, risks). Holding the history
# itself keeps the identity check sound; histories are immutable, so the same
# object and moment always give the same sales.
_last_sales: tuple[ClientHistory | None, datetime | None, tuple[Order, ...]] = (None, None, ())


def sales(history: ClientHistory, as_of: datetime) -> tuple[Order, ...]:
    """The sales (``placed``/``delivered`` orders) placed up to and including ``as_of``."""
    global _last_sales
    last = _last_sales
    if last[0] is history and last[1] == as_of:
        return last[2]
    found = SALE.select(history.as_of(as_of).orders)
    _last_sales = (history, as_of, found)
    return found


def one_currency(orders: Iterable[Order], context: str) -> str | None:
    """The single currency of ``orders`` (None when there are none).

    Raises:
        CurrencyMismatchError: If the orders hold two currencies or more.
    """
    currencies = {o.currency for o in orders}
    if len(currencies) > 1:
        raise CurrencyMismatchError(currencies=currencies, context=context)
    return next(iter(currencies)) if currencies else None


def window_start(as_of: datetime, days: int | None) -> datetime | None:
    """The start (exclusive) of a window of ``days`` days ending at ``as_of``; None = no window."""
    return None if days is None else as_of - timedelta(days=days)


def in_window(moment: datetime, start: datetime | None, as_of: datetime) -> bool:
    """True if ``start < moment <= as_of`` (no lower bound when ``start`` is None)."""
    return moment <= as_of and (start is None or moment > start)


def to_decimal(value: object, *, name: str) -> Decimal:
    """Return a share/threshold as an exact Decimal (floats via their shortest repr)."""
    if isinstance(value, bool):
        raise RecordTypeError(record="policy", field=name, value=value, expected="a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value)
        except ArithmeticError:
            raise ValidationError(
                record="policy", field=name, value=value, reason="not a decimal number"
            ) from None
    else:
        raise RecordTypeError(record="policy", field=name, value=value, expected="a number")
    if not result.is_finite():
        raise ValidationError(record="policy", field=name, value=value, reason="must be finite")
    return result


def positive_int(obj: object, field: str, value: object, *, allow_zero: bool = False) -> None:
    """Check a policy field holds a positive (or non-negative) int."""
    cls = type(obj).__name__
    if type(value) is not int:
        raise RecordTypeError(record=cls, field=field, value=value, expected="an int")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValidationError(
            record=cls,
            field=field,
            value=value,
            reason="must be >= 0" if allow_zero else "must be > 0",
        )


def opt_days(obj: object, field: str, value: object) -> None:
    """Check a window field: None or a positive int of days."""
    if value is not None:
        positive_int(obj, field, value)


def share_field(obj: object, field: str, value: object) -> Decimal:
    """Check and convert a share in [0, 1]."""
    number = to_decimal(value, name=field)
    if not Decimal(0) <= number <= Decimal(1):
        raise ValidationError(
            record=type(obj).__name__, field=field, value=value, reason="must be in [0, 1]"
        )
    return number


def nonneg_field(obj: object, field: str, value: object) -> Decimal:
    """Check and convert a non-negative number."""
    number = to_decimal(value, name=field)
    if number < 0:
        raise ValidationError(
            record=type(obj).__name__, field=field, value=value, reason="must be >= 0"
        )
    return number


UTC_ZONE: tzinfo = UTC


def money_field(cls: type, field: str, value: object) -> Decimal:
    """Check and convert a non-negative amount of money (floats are refused)."""
    if isinstance(value, float):
        raise RecordTypeError(
            record=cls.__name__,
            field=field,
            value=value,
            expected="a Decimal, an int or a decimal string (never a float)",
        )
    number = to_decimal(value, name=field)
    if number < 0:
        raise ValidationError(record=cls.__name__, field=field, value=value, reason="must be >= 0")
    return number
