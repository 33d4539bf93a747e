"""Evidence: which records put a client where the library says it is.

Every state, rung, segment and flag relcycle assigns carries an
:class:`Evidence`: a short reason a person can read and the ids of the records
that decided it. Reports show them; programs can follow the ids back to the
records.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["Evidence"]


def _ids(value: Iterable[str]) -> tuple[str, ...]:
    if (type(value) is tuple or type(value) is list) and len(value) < 2:
        return tuple(value)  # nothing to drop (a verdict often rests on one record, or none)
    return tuple(dict.fromkeys(value))


@attrs.frozen
class Evidence:
    """Why a verdict was given.

    Attributes:
        reason: One sentence a person can read ("3 delivery complaints within 60 days").
        record_ids: The ids of the records that decided it, without duplicates,
            in the order they were given.
    """

    reason: str
    record_ids: tuple[str, ...] = attrs.field(default=(), converter=_ids)

    def __str__(self) -> str:
        if not self.record_ids:
            return self.reason
        return f"{self.reason} [{', '.join(self.record_ids)}]"

    def to_dict(self) -> dict[str, object]:
        """Return ``{"reason": ..., "record_ids": [...]}``."""
        return {"reason": self.reason, "record_ids": list(self.record_ids)}

    def __add__(self, other: Evidence) -> Evidence:
        if not isinstance(other, Evidence):
            return NotImplemented
        return Evidence(f"{self.reason}; {other.reason}", self.record_ids + other.record_ids)
