"""Tests for relcycle.errors: the hierarchy, the structured context and the messages."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import relcycle
from relcycle import errors
from relcycle.errors import (
    BudgetError,
    ConflictError,
    CurrencyMismatchError,
    DefinitionError,
    DuplicateIdError,
    IllegalTransitionError,
    InputError,
    OutputError,
    Problem,
    RecordTypeError,
    RelcycleError,
    StoreError,
    UnknownClientError,
    UsageError,
    ValidationError,
)

EXAMPLES: list[RelcycleError] = [
    ValidationError(
        record="Order", field="amount", value=-1, reason="must be >= 0", record_id="O1"
    ),
    UnknownClientError(record="Order", record_ids=["O1", "O2"], client_ids=["X", "X"]),
    DuplicateIdError(record="Order", field="order_id", ids=["O1", "O1"]),
    RecordTypeError(record="Order", field="amount", value=0.5, expected="a Decimal"),
    CurrencyMismatchError(currencies=["USD", "EUR"], context="revenue"),
    DefinitionError(machine="m", problems=["p1", "p2"], states=["b", "a"]),
    IllegalTransitionError(machine="m", state="s", event="e", allowed=["f", "g"]),
    InputError([Problem("orders.csv", 3, "amount", "-1", "must be >= 0")], truncated=True),
    ConflictError(table="orders", ids=["O2", "O1"]),
    BudgetError(client_id="C1", budget=10, what="record ids cited as evidence"),
    StoreError(path="store.db", reason="the store is damaged"),
    OutputError(path="stdout", reason="No space left on device"),
    UsageError("--as-of needs a time zone"),
]

BUILTINS: dict[type, type] = {
    ValidationError: ValueError,
    UnknownClientError: ValueError,
    DuplicateIdError: ValueError,
    RecordTypeError: TypeError,
    CurrencyMismatchError: ValueError,
    DefinitionError: ValueError,
    IllegalTransitionError: ValueError,
    InputError: ValueError,
    ConflictError: ValueError,
    BudgetError: ValueError,
    StoreError: OSError,
    OutputError: OSError,
    UsageError: ValueError,
}


class TestHierarchy:
    """Every error is a RelcycleError and the builtin it really is."""

    @pytest.mark.parametrize(("cls", "builtin"), BUILTINS.items(), ids=lambda x: x.__name__)
    def test_inherits_root_and_builtin(self, cls: type, builtin: type) -> None:
        """Each class derives from RelcycleError and its builtin."""
        assert issubclass(cls, RelcycleError)
        assert issubclass(cls, builtin)

    def test_every_public_exception_is_covered(self) -> None:
        """The table above lists every exception class errors exports."""
        exported = {
            obj
            for name in errors.__all__
            if isinstance(obj := getattr(errors, name), type) and issubclass(obj, Exception)
        }
        assert exported == set(BUILTINS) | {RelcycleError}

    def test_client_and_duplicate_errors_are_validation_errors(self) -> None:
        """Unknown clients and duplicate ids are validation errors with a field."""
        assert issubclass(UnknownClientError, ValidationError)
        assert issubclass(DuplicateIdError, ValidationError)

    def test_catching_the_builtin_works(self) -> None:
        """except ValueError catches a relcycle validation error."""
        with pytest.raises(ValueError, match="amount"):
            raise EXAMPLES[0]

    def test_exported_from_the_package(self) -> None:
        """The errors are importable from relcycle itself."""
        for cls in [*BUILTINS, RelcycleError, Problem]:
            assert getattr(relcycle, cls.__name__) is cls

    def test_module_docstring_draws_the_tree(self) -> None:
        """The module docstring shows every class in the hierarchy."""
        doc = errors.__doc__ or ""
        for cls in BUILTINS:
            assert cls.__name__ in doc


class TestContext:
    """Context is kept as attributes and written into the message."""

    def test_validation_error(self) -> None:
        """record, field, value, reason and record id are attributes and in the message."""
        err = ValidationError(
            record="Order", field="amount", value=-1, reason="must be >= 0", record_id="O1"
        )
        assert (err.record, err.field, err.value, err.reason, err.record_id) == (
            "Order",
            "amount",
            -1,
            "must be >= 0",
            "O1",
        )
        assert str(err) == "Order 'O1': field 'amount': value -1: must be >= 0"

    def test_validation_error_without_record_id(self) -> None:
        """Without an id the message starts with the record name."""
        err = ValidationError(record="Client", field="kind", value="bank", reason="bad")
        assert str(err) == "Client: field 'kind': value 'bank': bad"
        assert err.record_id is None

    def test_long_values_are_shortened_in_the_message(self) -> None:
        """A huge value is cut in the message but kept whole on the attribute."""
        value = "x" * 500
        err = ValidationError(record="Order", field="product", value=value, reason="too long")
        assert len(str(err)) < 200
        assert "..." in str(err)
        assert err.value == value

    def test_unknown_client_error(self) -> None:
        """All record ids are kept; client ids are sorted and unique."""
        err = UnknownClientError(
            record="Order", record_ids=["O1", "O2"], client_ids=["Y", "X", "Y"]
        )
        assert err.record_ids == ("O1", "O2")
        assert err.client_ids == ("X", "Y")
        assert err.field == "client_id"
        assert "2 record(s) refer to 2 client(s) missing from the clients table: X, Y" in str(err)

    def test_unknown_client_error_lists_at_most_ten(self) -> None:
        """Beyond ten unknown clients the message ends with an ellipsis."""
        ids = [f"C{i:02d}" for i in range(12)]
        err = UnknownClientError(record="Order", record_ids=ids, client_ids=ids)
        assert "C09 ..." in str(err)
        assert "C10" not in str(err)
        assert len(err.client_ids) == 12

    def test_duplicate_id_error(self) -> None:
        """The duplicated ids are sorted and unique."""
        err = DuplicateIdError(record="Order", field="order_id", ids=["b", "a", "b"])
        assert err.ids == ("a", "b")
        assert "2 id(s) occur more than once: a, b" in str(err)

    def test_record_type_error(self) -> None:
        """The message names the field, the value, its type and what was expected."""
        err = RecordTypeError(record="Order", field="amount", value=0.5, expected="a Decimal")
        assert str(err) == "Order: field 'amount': value 0.5 of type float: expected a Decimal"
        assert err.expected == "a Decimal"

    def test_currency_mismatch_error(self) -> None:
        """The currencies are sorted and the context is named."""
        err = CurrencyMismatchError(currencies=["USD", "EUR", "USD"], context="revenue")
        assert err.currencies == ("EUR", "USD")
        assert str(err).startswith("cannot mix currencies EUR, USD in revenue")

    def test_definition_error(self) -> None:
        """Every problem is in the message; offending states are sorted."""
        err = DefinitionError(machine="m", problems=["p1", "p2"], states=["b", "a"])
        assert err.states == ("a", "b")
        assert err.problems == ("p1", "p2")
        assert str(err) == "machine 'm' is badly defined: p1; p2"

    def test_illegal_transition_error(self) -> None:
        """Machine, state, event and the allowed events are kept and shown."""
        err = IllegalTransitionError(machine="m", state="s", event="e", allowed=[])
        assert err.allowed == ()
        assert "(allowed there: nothing)" in str(err)

    def test_problem_str(self) -> None:
        """A problem reads file:line: column: value: reason, skipping what is unknown."""
        assert str(Problem("orders.csv", 3, "amount", "-1", "must be >= 0")) == (
            "orders.csv:3: column amount: value '-1': must be >= 0"
        )
        assert str(Problem("db", None, None, None, "locked")) == "db: locked"

    def test_input_error(self) -> None:
        """Every problem is a line of the message; truncation shows as a plus."""
        problems = [Problem("a.csv", 2, "x", "1", "bad"), Problem("a.csv", 5, "y", None, "worse")]
        err = InputError(problems, truncated=True)
        assert err.problems == tuple(problems)
        assert err.truncated
        lines = str(err).splitlines()
        assert lines[0] == "2+ problem(s) in the input:"
        assert lines[1:] == ["a.csv:2: column x: value '1': bad", "a.csv:5: column y: worse"]
        assert str(InputError([])) == "0 problem(s) in the input"

    def test_conflict_error(self) -> None:
        """The conflicting ids are sorted and the table is named."""
        err = ConflictError(table="orders", ids=["O2", "O1"])
        assert err.ids == ("O1", "O2")
        assert "table 'orders': 2 id(s) already stored" in str(err)


class TestPickling:
    """Errors survive pickling, so they cross process and worker boundaries."""

    @pytest.mark.parametrize("err", EXAMPLES, ids=lambda e: type(e).__name__)
    def test_round_trip(self, err: RelcycleError) -> None:
        """Unpickling gives the same class, message, args and attributes."""
        back: Any = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert str(back) == str(err)
        assert back.args == err.args
        assert back.__dict__ == err.__dict__
