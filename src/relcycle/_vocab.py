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
    would compare spelling.
    """

    @property
    def rank(self) -> int:
        """The 0-based position of the member in definition order."""
        return _RANKS[type(self)][self]

    def __lt__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.rank >= other.rank

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
