"""Base classes for relcycle's vocabularies (string enums with contract values)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import cached_property
from typing import Any, NoReturn, Self

__all__ = ["OrderedVocab", "Vocab", "refusal"]


def refusal(allowed: Iterable[Vocab], value: object) -> str:
    """Why ``value`` is refused where only the ``allowed`` members are accepted.

    The allowed values; and for a member of their vocabulary left out of them
    (a verdict relcycle derives, such as the loss reason ``lapsed``), that it is
    no input value.
    """
    members = tuple(allowed)
    text = f"not one of: {', '.join(m.value for m in members)}"
    if members and isinstance(value, str):
        word = value.strip().lower()
        if word not in members and any(word == m.value for m in type(members[0])):
            text += f" ({word} is a verdict relcycle derives, not an input value)"
    return text


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

    @cached_property
    def rank(self) -> int:
        """The 0-based position of the member in definition order."""
        # Cached in the member's own __dict__ on first use: ordering members is on
        # the hot path of every assessment, and a plain attribute read is several
        # times cheaper than a property that looks the rank up in a dict.
        return _RANKS[type(self)][self]

    def _refuse(self, other: Any, op: str) -> NoReturn:
        # Returning NotImplemented would let str's own operator answer by spelling.
        raise TypeError(
            f"'{op}' not supported between {type(self).__name__} and {type(other).__name__}; "
            f"compare members (use {type(self).__name__}.parse for strings)"
        )

    def __lt__(self, other: Any) -> bool:
        if type(other) is not type(self):
            self._refuse(other, "<")
        answer: bool = self.rank < other.rank
        return answer

    def __le__(self, other: Any) -> bool:
        if type(other) is not type(self):
            self._refuse(other, "<=")
        answer: bool = self.rank <= other.rank
        return answer

    def __gt__(self, other: Any) -> bool:
        if type(other) is not type(self):
            self._refuse(other, ">")
        answer: bool = self.rank > other.rank
        return answer

    def __ge__(self, other: Any) -> bool:
        if type(other) is not type(self):
            self._refuse(other, ">=")
        answer: bool = self.rank >= other.rank
        return answer

    @classmethod
    def ordered(cls) -> tuple[Self, ...]:
        """All members, lowest first."""
        found = _ORDERED.get(cls)
        if found is None:
            found = _ORDERED[cls] = tuple(cls)
        return found


class _Ranks(dict[type, dict[Any, int]]):
    def __missing__(self, key: type) -> dict[Any, int]:
        ranks: dict[Any, int] = {member: i for i, member in enumerate(key)}  # type: ignore[arg-type,var-annotated]
        self[key] = ranks
        return ranks


_RANKS = _Ranks()

_ORDERED: dict[type, tuple[Any, ...]] = {}
"""Each ordered vocabulary's members, lowest first (built once per class)."""
