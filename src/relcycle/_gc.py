"""One helper: pause Python's cyclic garbage collector while many objects are built."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the ``with`` block.

    Building a report or a million records allocates many small objects that
    live on, and every collection of the oldest generation walks all of them
    again: about a quarter of the CPU time of a 20,000-client report. These
    objects form no reference cycles worth collecting (they are freed by
    reference counting), so nothing piles up meanwhile. The collector is
    switched back on afterwards, even on an error, and left alone when the
    caller had already switched it off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
