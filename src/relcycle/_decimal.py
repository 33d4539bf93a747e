"""relcycle's own decimal context: the arithmetic of its public functions.

Python's decimal arithmetic reads a context that is global to the thread: its
precision and rounding. A caller who sets ``getcontext().prec = 6`` to show
figures, or a truncating rounding for some bookkeeping of their own, would
otherwise change relcycle's sums of money, its profits, ratios and the figures
of its evidence, silently. So the public functions (every :func:`~relcycle._args.checked`
one, the assessments, and the worker processes of a report) compute in
:data:`CONTEXT`, a copy of Python's default (28 significant digits, rounding
half even, the usual traps), whatever the caller's is; the caller's own
context is given back unchanged when they return.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any, TypeVar, cast

__all__ = ["CONTEXT", "in_own_context"]

F = TypeVar("F", bound=Callable[..., Any])

#: Python's default decimal context, spelled out (``decimal.DefaultContext`` can
#: itself be changed by a program).
CONTEXT = Context(
    prec=28,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    capitals=1,
    clamp=0,
    flags=[],
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


def in_own_context(func: F) -> F:
    """``func`` computing in :data:`CONTEXT` (a fresh copy per call, so no flag
    set inside leaks out), the caller's context restored on return."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with localcontext(CONTEXT):
            return func(*args, **kwargs)

    return cast(F, wrapper)
