"""Base classes for relcycle's vocabularies (string enums with contract values)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

__all__ = ["OrderedVocab", "Vocab"]


class Vocab(StrEnum):
    """A string enum whose values are the contract's lowercase words.

    Members compare and hash like their string values, so ``"email" == Channel.email``
    and a member finds the same dict slot as its value.
    """

    __hash__ = str.__hash__

    @classmethod
    def parse(cls, value: object) -> Self:
        """Return the member for ``value`` (a member or its string value).

        Raises:
            ValueError: If ``value`` is not one of the vocabulary's values.
        """
        if isinstance(value, cls):
            return value
        try:
            return cls(value)  # type: ignore[arg-type]
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise ValueError(f"not one of: {allowed}") from None


class OrderedVocab(Vocab):
    """A vocabulary whose members are ordered by definition order, not alphabetically.

    ``Stage.escalated < Stage.lost`` compares severity; plain string comparison
    would compare spelling, so ordering a member against a plain string (or a
    member of another vocabulary) raises :class:`TypeError` instead of quietly
    comparing spelling.
    """

    @property
    def rank(self) -> int:
        """The 0-based position of the member in definition order."""
        return _RANKS[type(self)][self]

    def _other_rank(self, other: Any, op: str) -> int:
        if type(other) is type(self):
            rank: int = other.rank
            return rank
        # Returning NotImplemented would let str's own operator answer by spelling.
        raise TypeError(
            f"'{op}' not supported between {type(self).__name__} and {type(other).__name__}; "
            f"compare members (use {type(self).__name__}.parse for strings)"
        )

    def __lt__(self, other: Any) -> bool:
        return self.rank < self._other_rank(other, "<")

    def __le__(self, other: Any) -> bool:
        return self.rank <= self._other_rank(other, "<=")

    def __gt__(self, other: Any) -> bool:
        return self.rank > self._other_rank(other, ">")

    def __ge__(self, other: Any) -> bool:
        return self.rank >= self._other_rank(other, ">=")

    @classmethod
    def ordered(cls) -> tuple[Self, ...]:
        """All members, lowest first."""
        return tuple(cls)


class _Ranks(dict[type, dict[Any, int]]):
    def __missing__(self, key: type) -> dict[Any, int]:
        ranks: dict[Any, int] = {member: i for i, member in enumerate(key)}  # type: ignore[arg-type,var-annotated]
        self[key] = ranks
        return ranks


_RANKS = _Ranks()
