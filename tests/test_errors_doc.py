"""The errors page documents every error class and the fields a program can read."""

from __future__ import annotations

import builtins
import importlib
import pickle
import pkgutil
import re
from pathlib import Path

import attrs
import pytest

import relcycle
from relcycle import errors

PAGE = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def _sections() -> dict[str, str]:
    text = PAGE.read_text(encoding="utf-8")
    parts = re.split(r"^### `(\w+)`\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _documented_attributes(cls: type) -> list[str]:
    """The names listed under ``Attributes:`` in the class docstring (Google style)."""
    doc = cls.__doc__ or ""
    match = re.search(r"^\s*Attributes:\s*$(.*)", doc, flags=re.MULTILINE | re.DOTALL)
    if not match:
        return []
    return re.findall(r"^\s{8}(\w+):", match.group(1), flags=re.MULTILINE)


def _examples() -> dict[str, object]:
    """One real instance of every class in ``relcycle.errors.__all__``."""
    problem = errors.Problem("orders.csv", 3, "amount", "12,50", "not a plain decimal number")
    return {
        "RelcycleError": errors.RelcycleError("boom"),
        "Problem": problem,
        "InputError": errors.InputError([problem], truncated=True),
        "ValidationError": errors.ValidationError(
            record="Order", field="amount", value="-1", reason="must be >= 0", record_id="O1"
        ),
        "UnknownClientError": errors.UnknownClientError(
            record="Order", record_ids=["O1", "O2"], client_ids=["C9"]
        ),
        "DuplicateIdError": errors.DuplicateIdError(record="Order", field="order_id", ids=["O1"]),
        "RecordTypeError": errors.RecordTypeError(
            record="Order", field="amount", value=1.5, expected="a Decimal"
        ),
        "CurrencyMismatchError": errors.CurrencyMismatchError(currencies=["USD", "EUR"]),
        "ConflictError": errors.ConflictError(table="orders", ids=["O1"]),
        "DefinitionError": errors.DefinitionError(machine="m", problems=["x"], states=["a"]),
        "IllegalTransitionError": errors.IllegalTransitionError(
            machine="m", state="a", event="e", allowed=["f"]
        ),
        "BudgetError": errors.BudgetError(client_id="C1", budget=10, what="record ids"),
        "StoreError": errors.StoreError(path="store.db", reason="the store is damaged"),
        "OutputError": errors.OutputError(path="report.csv", reason="No space left on device"),
        "UsageError": errors.UsageError("bad option"),
    }


class TestErrorsPage:
    """docs/errors.md against relcycle.errors."""

    def test_every_exported_name_has_a_section(self) -> None:
        """Every name in relcycle.errors.__all__ has its own section on the page."""
        missing = sorted(set(errors.__all__) - set(_sections()))
        assert not missing, f"not on docs/errors.md: {missing}"

    def test_no_section_for_a_name_that_does_not_exist(self) -> None:
        """The page documents no class that relcycle.errors does not export."""
        assert set(_sections()) <= set(errors.__all__)

    @pytest.mark.parametrize("name", errors.__all__)
    def test_every_documented_attribute_is_on_the_page(self, name: str) -> None:
        """Each attribute the class docstring lists is in the class's table on the page."""
        cls = getattr(errors, name)
        section = _sections()[name]
        names = _documented_attributes(cls)
        if attrs.has(cls):
            names = [f.name for f in attrs.fields(cls)]
        for attribute in names:
            assert f"| `{attribute}` |" in section, f"{name}.{attribute} is not documented"

    @pytest.mark.parametrize("name", errors.__all__)
    def test_the_page_lists_only_attributes_that_exist(self, name: str) -> None:
        """Every attribute in a section's table is readable on a real instance."""
        example = _examples()[name]
        for attribute in re.findall(r"^\| `(\w+)` \|", _sections()[name], flags=re.MULTILINE):
            assert hasattr(example, attribute), f"{name} has no attribute {attribute}"

    @pytest.mark.parametrize(
        "name",
        [n for n in errors.__all__ if isinstance(getattr(errors, n), type)],
    )
    def test_the_stated_builtin_base_is_real(self, name: str) -> None:
        """'Subclass of X' on the page matches the class's real bases."""
        cls = getattr(errors, name)
        for base in re.findall(r"Subclass of `(\w+)`", _sections()[name]):
            real = getattr(errors, base, None) or getattr(builtins, base)
            assert issubclass(cls, real), f"{name} is not a {base}"

    def test_every_error_class_of_the_package_is_exported(self) -> None:
        """No module defines a public RelcycleError subclass the errors page cannot know."""
        for info in pkgutil.walk_packages(relcycle.__path__, "relcycle."):
            if info.name in {"relcycle.testing", "relcycle.__main__"}:
                continue
            try:
                importlib.import_module(info.name)
            except ImportError:  # an optional extra is missing
                continue
        found: set[type] = set()
        todo = [errors.RelcycleError]
        while todo:
            cls = todo.pop()
            found.add(cls)
            todo.extend(cls.__subclasses__())
        public = {c for c in found if not c.__name__.startswith("_")}
        assert {c.__name__ for c in public} <= set(errors.__all__)


class TestErrorsAsData:
    """The fields a program reads survive the trip through processes."""

    @pytest.mark.parametrize(
        "name", [n for n in errors.__all__ if n not in {"Problem", "RelcycleError"}]
    )
    def test_fields_survive_pickling(self, name: str) -> None:
        """An error pickled to a worker and back keeps its class, message and fields."""
        error = _examples()[name]
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert vars(copy) == vars(error)

    def test_problem_prints_file_line_column_value_reason(self) -> None:
        """A Problem reads FILE:LINE: column C: value 'V': reason."""
        problem = _examples()["Problem"]
        assert str(problem) == (
            "orders.csv:3: column amount: value '12,50': not a plain decimal number"
        )
