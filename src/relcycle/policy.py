"""The report's policies as a TOML file: read, write, print the defaults.

A policy file sets any threshold, service level, cost rate, playbook entry and
extra column of :class:`~relcycle.report.ReportPolicies`; what it leaves out
keeps its default. Its keys are not written down twice: they are read from the
attrs classes themselves (their fields, types and defaults), so a new policy
field is in the file format the moment it is in its class. Values convert by
the field's type:

* ``int``, ``bool``, ``str``: as TOML has them;
* :class:`~decimal.Decimal`: a string (``"0.75"``), so no float rounding creeps in;
* :class:`~datetime.timedelta`: whole days, an int (``recurrence_window = 60``);
* vocabularies (enums): their string value (``failures_recur_as = "delivery"``);
* an optional field: ``"none"`` for None;
* sets and tuples: arrays; mappings (service levels per severity, per client,
  cost rates per employee, playbook actions per stage): tables, which replace
  the default mapping whole;
* extra report columns: ``"MODULE:NAME"`` strings, as ``relcycle report --column``.

Errors name the key path and the value (``lifecycle.recurrence_count: value
'three': expected an int``); an unknown key is a :class:`~relcycle.errors.UsageError`
naming the keys known there.
"""

from __future__ import annotations

import enum
import importlib
import os
import re
import sys
import textwrap
import tomllib
import types
import typing
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs

from .errors import RelcycleError, UsageError, ValidationError
from .model import FrozenMap

if typing.TYPE_CHECKING:
    from .report import Column, ReportPolicies

__all__ = ["column_from_spec", "load_policies", "policies_from_mapping", "policies_to_toml"]

#: The TOML spelling of None for an optional field.
NONE = "none"


# ----------------------------------------------------------------------- reading


def load_policies(path: str | Path) -> ReportPolicies:
    """Read a policy file into :class:`~relcycle.report.ReportPolicies`.

    Args:
        path: The TOML file.

    Returns:
        The policies: the file's values over the defaults.

    Raises:
        UsageError: If ``path`` is not a path, the file cannot be read or is not
            TOML, or it holds a key no policy has (the message names it and the
            known keys).
        ValidationError: If a value has the wrong type or a policy refuses it
            (the message names the key path and the value).
    """
    if not isinstance(path, (str, os.PathLike)):  # an int would open a file descriptor
        raise UsageError(f"load_policies: path must be a str or a path, not {path!r:.40}")
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:  # a ValueError: before the next clause
        raise UsageError(f"policy file {str(path)!r}: not TOML: {exc}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path, text not UTF-8
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise UsageError(f"policy file {str(path)!r}: cannot read it: {reason}") from None
    return policies_from_mapping(data, source=str(path))


def policies_from_mapping(data: Mapping[str, Any], *, source: str = "policies") -> ReportPolicies:
    """Build :class:`~relcycle.report.ReportPolicies` from a parsed policy file.

    Args:
        data: The TOML document as :func:`tomllib.loads` returns it.
        source: Names the document in error messages (the file's path).

    Returns:
        The policies: the document's values over the defaults.

    Raises:
        UsageError: For a ``data`` that is not a mapping, or a key no policy has.
        ValidationError: For a value of the wrong type or one a policy refuses.
    """
    from .report import ReportPolicies

    if not isinstance(data, Mapping):
        raise UsageError(f"policies: expected a mapping (a TOML document), got {data!r:.40}")
    result: ReportPolicies = _read(ReportPolicies, dict(data), (), source, ReportPolicies())
    return result


def _where(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(top)"


def _bad(source: str, path: tuple[str, ...], value: object, reason: str) -> ValidationError:
    return ValidationError(record=source, field=_where(path), value=value, reason=reason)


def _read(tp: Any, value: Any, path: tuple[str, ...], source: str, base: Any = None) -> Any:
    """Convert the TOML ``value`` at ``path`` to the type ``tp``.

    ``base`` is the value the file changes (the default's), for a table of an
    attrs class: the keys the table leaves out keep the base's values.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = (a for a in args if a is not type(None))
        return None if value == NONE else _read(inner, value, path, source, base)
    if tp is _column_type():
        if not isinstance(value, str):
            raise _bad(source, path, value, "expected a 'MODULE:NAME' string")
        try:
            return column_from_spec(value)
        except UsageError as exc:
            raise _bad(source, path, value, str(exc)) from None
    if attrs.has(tp):
        return _read_attrs(tp, value, path, source, base)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        if not isinstance(value, dict):
            raise _bad(source, path, value, "expected a table")
        key_type, item_type = args
        return FrozenMap(
            {
                _read(key_type, k, path, source): _read(item_type, v, (*path, k), source)
                for k, v in value.items()
            }
        )
    if origin in (tuple, frozenset):
        if not isinstance(value, list):
            raise _bad(source, path, value, "expected an array")
        if origin is frozenset or (len(args) == 2 and args[1] is Ellipsis):
            items = [_read(args[0], v, (*path, str(i)), source) for i, v in enumerate(value)]
            return frozenset(items) if origin is frozenset else tuple(items)
        if len(value) != len(args):
            raise _bad(source, path, value, f"expected an array of {len(args)} items")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_read(a, v, (*path, str(i)), source) for i, (a, v) in pairs)
    return _read_scalar(tp, value, path, source)


def _read_attrs(cls: Any, value: Any, path: tuple[str, ...], source: str, base: Any) -> Any:
    if not isinstance(value, dict):
        raise _bad(source, path, value, f"expected a table ({cls.__name__})")
    fields = {f.alias: f for f in attrs.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        key = _where((*path, unknown[0]))
        raise UsageError(
            f"{source}: unknown key {key!r} (known{' in ' + _where(path) if path else ''}: "
            f"{', '.join(fields)})"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, item in value.items():
        field = fields[name]
        below = None if base is None else getattr(base, field.name)
        kwargs[name] = _read(hints[field.name], item, (*path, name), source, below)
    try:
        return cls(**kwargs) if base is None else attrs.evolve(base, **kwargs)
    except (RelcycleError, ValueError, TypeError) as exc:
        # a policy refused a value: name its key (``risks.sla[low]``) when it says which
        field = getattr(exc, "field", None)
        if isinstance(field, str) and hasattr(exc, "value"):
            reason = getattr(exc, "reason", None) or f"expected {getattr(exc, 'expected', '')}"
            raise _bad(source, (*path, field), exc.value, reason) from None
        raise _bad(source, path, value, str(exc)) from None


#: The types TOML holds as they are, and what a wrong value is told it should be.
_PLAIN: dict[type, str] = {bool: "true or false", int: "an int", str: "a string"}


def _read_scalar(tp: Any, value: Any, path: tuple[str, ...], source: str) -> Any:
    if tp in _PLAIN:
        if type(value) is not tp:  # exact: a bool is no int here
            raise _bad(source, path, value, f"expected {_PLAIN[tp]}")
        return value
    if tp is Decimal:
        if type(value) is not str:
            raise _bad(source, path, value, 'expected a decimal number as a string ("0.5")')
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _bad(source, path, value, "expected a decimal number") from None
        if not number.is_finite():
            raise _bad(source, path, value, "expected a finite decimal number")
        return number
    if tp is timedelta:
        if type(value) is not int:
            raise _bad(source, path, value, "expected whole days, an int")
        return timedelta(days=value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        known = [str(m.value) for m in tp]
        if not isinstance(value, str) or value not in known:
            raise _bad(source, path, value, f"expected one of {', '.join(known)}")
        return tp(value)
    # a policy field of a type the file format does not know: a programming error
    raise TypeError(f"{_where(path)}: no TOML form for {tp!r}")  # pragma: no cover


# ----------------------------------------------------------------------- columns


def _column_type() -> type[Column]:
    from .report import Column

    return Column


def column_from_spec(spec: str) -> Column:
    """Import the :class:`~relcycle.report.Column` named ``MODULE:NAME``.

    Args:
        spec: ``"mypackage.columns:SCORE"``.

    Returns:
        The column object.

    Raises:
        UsageError: If ``spec`` is not ``MODULE:NAME``, the module cannot be
            imported, or the name is not a column.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"column {spec!r}: give MODULE:NAME (e.g. mypackage.columns:SCORE)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"column {spec!r}: cannot import {module_name}: {exc}") from None
    column = getattr(module, attr, None)
    if not isinstance(column, _column_type()):
        raise UsageError(f"column {spec!r}: {module_name}.{attr} is not a relcycle.report.Column")
    return column


def _column_spec(column: Column) -> str:
    """The ``MODULE:NAME`` of a column: the module of its assessor must export it."""
    module_name = getattr(column.assess, "__module__", None)
    module = sys.modules.get(module_name or "")
    for name, value in (vars(module) if module is not None else {}).items():
        if value is column and not name.startswith("_"):
            return f"{module_name}:{name}"
    raise UsageError(
        f"column {column.name!r}: a policy file names a column as MODULE:NAME, and the "
        f"module of its assessor ({module_name}) does not export it"
    )


# ----------------------------------------------------------------------- writing


def policies_to_toml(policies: ReportPolicies) -> str:
    """Write policies as a commented TOML policy file.

    Every key is written, each under a comment line: its doc line from the
    class docstring (or the field's ``doc`` metadata). ``load_policies`` of the
    text gives ``policies`` back.

    Args:
        policies: The policies (``ReportPolicies()`` for the defaults).

    Returns:
        The TOML text.

    Raises:
        UsageError: If ``policies`` is not ``ReportPolicies``, or a value has no
            TOML spelling: a timedelta of part days, a column its module does
            not export.
    """
    from .report import ReportPolicies

    if not isinstance(policies, ReportPolicies):
        raise UsageError(f"policies_to_toml: expected ReportPolicies, got {policies!r:.40}")
    lines = [
        "# relcycle report policies (relcycle report --policy FILE).",
        "# Keys left out keep their defaults; a table of a mapping replaces it whole.",
        '# Days are ints, decimals strings ("0.5"), "none" is None for an optional key.',
    ]
    _write_table(policies, (), lines, set())
    return "\n".join(lines).rstrip("\n") + "\n"


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(name: str) -> str:
    return name if _BARE.fullmatch(name) else _string(name)


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _docs(cls: Any) -> dict[str, str]:
    """The first line of each attribute's doc in a Napoleon ``Attributes:`` section."""
    docs: dict[str, str] = {}
    lines = (cls.__doc__ or "").splitlines()
    inside, indent, current = False, 0, ""
    for line in lines:
        stripped = line.strip()
        if stripped == "Attributes:":
            inside, indent = True, len(line) - len(line.lstrip()) + 4
            continue
        if not inside:
            continue
        if stripped and len(line) - len(line.lstrip()) < indent:
            break
        text = line[indent:]
        match = None if text.startswith(" ") else re.match(r"(\w+):\s*(.*)", text)
        if match:
            current = match.group(1)
            docs[current] = match.group(2)
        elif stripped and current:
            docs[current] += " " + stripped
    for f in attrs.fields(cls):
        if "doc" in f.metadata:
            docs[f.alias] = str(f.metadata["doc"])
    return {name: " ".join(text.split()) for name, text in docs.items()}


def _is_record(value: Any) -> bool:
    return attrs.has(type(value)) and not isinstance(value, _column_type())


def _is_table(value: Any) -> bool:
    return _is_record(value) or isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, tuple) and bool(value) and all(_is_record(v) for v in value)


def _comment(text: str, lines: list[str]) -> None:
    lines.extend(textwrap.wrap(text, 88, initial_indent="# ", subsequent_indent="# "))


def _write_table(obj: Any, path: tuple[str, ...], lines: list[str], seen: set[type]) -> None:
    # The fields of a class in arrays of tables (playbook actions) are documented once.
    if attrs.has(type(obj)):
        docs = {} if type(obj) in seen else _docs(type(obj))
        items = [(f.alias, getattr(obj, f.name)) for f in attrs.fields(type(obj)) if f.init]
    else:
        docs = {}
        items = [(_scalar_key(k), v) for k, v in obj.items()]
    tables = []
    for name, value in items:
        if _is_table(value) or _is_table_array(value):
            tables.append((name, value))
            continue
        if name in docs:
            _comment(docs[name], lines)
        lines.append(f"{_key(name)} = {_value(value, (*path, name))}")
    for name, value in tables:
        sub = (*path, name)
        header = ".".join(_key(p) for p in sub)
        lines.append("")
        if name in docs:
            _comment(docs[name], lines)
        if _is_table_array(value):
            for item in value:
                lines.append(f"[[{header}]]")
                _write_table(item, sub, lines, seen)
                seen.add(type(item))
        else:
            lines.append(f"[{header}]")
            _write_table(value, sub, lines, seen)


def _scalar_key(key: Any) -> str:
    return str(key.value) if isinstance(key, enum.Enum) else str(key)


def _value(value: Any, path: tuple[str, ...]) -> str:
    if value is None:
        return _string(NONE)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _string(str(value.value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Decimal):
        return _string(str(value))
    if isinstance(value, timedelta):
        if value % timedelta(days=1):
            raise UsageError(f"{_where(path)}: {value} is not whole days; a policy file holds days")
        return str(value.days)
    if isinstance(value, _column_type()):
        return _string(_column_spec(value))
    if isinstance(value, (tuple, frozenset)):
        items = [_value(v, path) for v in value]
        return "[" + ", ".join(sorted(items) if isinstance(value, frozenset) else items) + "]"
    raise TypeError(f"{_where(path)}: no TOML form for {value!r}")  # pragma: no cover
