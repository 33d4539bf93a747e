"""Tests for relcycle.evidence: the reason and record ids behind every verdict."""

from __future__ import annotations

import attrs
import pytest

from relcycle.evidence import Evidence


class TestEvidence:
    """Evidence keeps a readable reason and the deciding record ids."""

    def test_ids_are_deduplicated_in_the_given_order(self) -> None:
        """Repeated ids are kept once, first occurrence first."""
        e = Evidence("3 complaints", ["K3", "K1", "K3", "K2", "K1"])
        assert e.record_ids == ("K3", "K1", "K2")

    def test_str_shows_reason_and_ids(self) -> None:
        """str() is the reason followed by the ids in brackets, or the reason alone."""
        assert str(Evidence("lost to a competitor", ("I9",))) == "lost to a competitor [I9]"
        assert str(Evidence("no orders yet")) == "no orders yet"

    def test_to_dict(self) -> None:
        """to_dict gives the reason and a list of ids (JSON-ready)."""
        assert Evidence("r", ("a", "b")).to_dict() == {"reason": "r", "record_ids": ["a", "b"]}

    def test_adding_joins_reasons_and_ids(self) -> None:
        """a + b joins the reasons with a semicolon and the ids without duplicates."""
        joined = Evidence("late delivery", ("O1", "K1")) + Evidence("complaint", ("K1", "K2"))
        assert joined == Evidence("late delivery; complaint", ("O1", "K1", "K2"))

    def test_adding_something_else_is_a_type_error(self) -> None:
        """Only Evidence adds to Evidence."""
        with pytest.raises(TypeError):
            _ = Evidence("r") + "more"  # type: ignore[operator]

    def test_frozen_and_hashable(self) -> None:
        """Evidence cannot be changed and can be used in sets."""
        e = Evidence("r", ("a",))
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            e.reason = "other"  # type: ignore[misc]
        assert len({e, Evidence("r", ["a"])}) == 1
