"""Record rules and per-client signals, each declared once and evaluated by two engines.

A **record rule** says which records of one table count as something: "a sale",
"a failed order", "a contact", "a request", "a complaint open at a moment". It
is a small expression tree over the record's fields (the fields of the data
contract, :mod:`relcycle.io._schema`), built with :func:`f`::

    SALE = Rule.define("sale", "orders", f("status").isin(SALE_STATUSES))
    LATE_ORDER = Rule.define("late_order", "orders", (f("on_time") == False) & ...)

The same declaration is evaluated two ways, and neither engine holds a copy of it:

- ``rule(record)`` is the pure-Python evaluator. The tree is compiled once into
  one Python function (no tree walk per record), so asking a rule costs about as
  much as the inline test it replaces.
- ``rule.to_polars()`` compiles the tree into a polars expression over the
  columnar engine's frames (polars is imported only then).

Both follow two-valued logic: a comparison with a missing value (``on_time``
not known) is false, so ``~rule`` is exactly the records the rule does not
match, on both engines.

A **signal** (:class:`Signal`) is a per-client aggregate of the records a rule
matches, optionally inside a window of days ending at the moment: a count, the
ids, a sum, the first or last moment, the distinct calendar days. Segmentation
declares its inputs as signals; the report evaluates them per client in Python
or compiles them into one polars ``group_by().agg()``.

The rules the library itself uses are declared in this module (see
:data:`BUILT_IN`); users declare their own the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from enum import Enum
from operator import attrgetter
from typing import Any, Final, Literal

import attrs

from relcycle._zones import resolve_zone
from relcycle.errors import DefinitionError, UsageError
from relcycle.model import (
    ComplaintStatus,
    Direction,
    Escalation,
    FrozenMap,
    OrderStatus,
    Purpose,
)

__all__ = [
    "ADVOCACY",
    "ADVOCACY_PURPOSES",
    "AS_OF",
    "BUILT_IN",
    "CANCELLED_ORDER",
    "CLOSED_COMPLAINT",
    "COMPLAINT",
    "CONTACT",
    "DISCOUNTED_SALE",
    "ENGAGEMENT",
    "ENGAGEMENT_PURPOSES",
    "FAILED_ORDER",
    "FEEDBACK",
    "HANDLED_CONTACT",
    "ID_FIELD",
    "INBOUND",
    "LATE_ORDER",
    "MANAGEMENT_COMPLAINT",
    "MARKETING_TOUCH",
    "MOMENT_FIELD",
    "OFFER_CHANGE",
    "OPEN_COMPLAINT",
    "PARTNERSHIP",
    "PARTNERSHIP_PURPOSES",
    "PLANNED_ORDER",
    "RECORD_CLASS",
    "REFERRAL",
    "REJECTED_COMPLAINT",
    "REQUEST",
    "REQUEST_PURPOSES",
    "SALE",
    "SALE_STATUSES",
    "STAFF_COMPLAINT",
    "TERMINATION",
    "WISH",
    "Expr",
    "Rule",
    "Signal",
    "SignalSet",
    "TableName",
    "f",
    "known_at",
    "purpose_rule",
    "resolve_zone",
]

TableName = Literal["orders", "interactions", "complaints"]


def _record_tables() -> dict[str, tuple[type[Any], str, str]]:
    """``{table: (record class, id field, moment field)}`` of the record tables, from
    the contract's one schema."""
    from relcycle.io._schema import spec

    found: dict[str, tuple[type[Any], str, str]] = {}
    for table in ("orders", "interactions", "complaints"):
        s = spec(table)
        assert s.time_column is not None  # every record table has one
        found[table] = (s.record, s.id_column, s.time_column)
    return found


#: The record class of each table a rule can read (from the contract's schema).
RECORD_CLASS: Final[Mapping[str, type[Any]]] = FrozenMap(
    {t: cls for t, (cls, _, _) in _record_tables().items()}
)

#: The field that holds the id of each table's records (its id column in the schema).
ID_FIELD: Final[Mapping[str, str]] = FrozenMap(
    {t: field for t, (_, field, _) in _record_tables().items()}
)

#: The field that holds the moment of each table's records (its time column in the
#: schema): the moment signals count from and a trigger reads unless it names another.
MOMENT_FIELD: Final[Mapping[str, str]] = FrozenMap(
    {t: field for t, (_, _, field) in _record_tables().items()}
)


def _kinds(table: str) -> Mapping[str, tuple[str, Any]]:
    """``{field: (kind, vocab)}`` of a contract table, from the one schema."""
    from relcycle.io._schema import spec

    return {c.name: (c.kind, c.vocab) for c in spec(table).columns}


# --------------------------------------------------------------------------- expressions


class Expr:
    """A node of a rule's expression tree (build them with :func:`f` and the operators).

    ``&``, ``|`` and ``~`` combine boolean expressions; a field's comparisons
    (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``) and :meth:`isin` make them.
    """

    __slots__ = ()

    def __and__(self, other: Expr) -> Expr:
        return _Bool("and", (self, _expr(other)))

    def __or__(self, other: Expr) -> Expr:
        return _Bool("or", (self, _expr(other)))

    def __invert__(self) -> Expr:
        return _Not(self)

    def __bool__(self) -> bool:
        raise UsageError(
            "a rule expression has no truth value: combine expressions with &, | and ~ "
            "(not and/or/not)"
        )

    # the compilers --------------------------------------------------------

    def _py(self, consts: list[Any], table: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _pl(self, pl: Any, env: _Env) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fields(self) -> Iterable[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _text(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def _expr(value: object) -> Expr:
    if not isinstance(value, Expr):
        raise UsageError(f"{value!r} is not a rule expression (build one with relcycle.rules.f)")
    return value


@attrs.frozen
class _Env:
    """What the polars compiler needs besides the tree: the moment, and column overrides."""

    as_of: datetime | None
    columns: Mapping[str, Any] = attrs.field(factory=dict)

    def col(self, pl: Any, name: str) -> Any:
        found = self.columns.get(name)
        return pl.col(name) if found is None else found


class _AsOf:
    """The moment a rule is evaluated at (see :data:`AS_OF`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "AS_OF"


#: The moment of evaluation, for rules that depend on it (a complaint open *at* a moment):
#: ``f("opened_at") <= AS_OF``. Such a rule is called as ``rule(record, as_of=moment)``.
AS_OF: Final = _AsOf()

_OPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class f(Expr):
    """A field of the record: ``f("status")``. Compare it or test membership to build a rule."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise UsageError(f"f({name!r}): a field name is an identifier such as 'status'")
        self.name = name

    def __repr__(self) -> str:
        return f"f({self.name!r})"

    def isin(self, values: Iterable[object]) -> Expr:
        """True when the field's value is one of ``values`` (a missing value is not)."""
        return _In(self, tuple(values))

    def is_null(self) -> Expr:
        """True when the field has no value (not known)."""
        return _Null(self, True)

    def not_null(self) -> Expr:
        """True when the field has a value."""
        return _Null(self, False)

    def _cmp(self, op: str, value: object) -> Expr:
        return _Cmp(self, op, value)

    def __eq__(self, value: object) -> Expr:  # type: ignore[override]
        return self._cmp("==", value)

    def __ne__(self, value: object) -> Expr:  # type: ignore[override]
        return self._cmp("!=", value)

    def __lt__(self, value: object) -> Expr:
        return self._cmp("<", value)

    def __le__(self, value: object) -> Expr:
        return self._cmp("<=", value)

    def __gt__(self, value: object) -> Expr:
        return self._cmp(">", value)

    def __ge__(self, value: object) -> Expr:
        return self._cmp(">=", value)

    __hash__ = None  # type: ignore[assignment]

    def _fields(self) -> Iterable[str]:
        return (self.name,)

    def _text(self) -> str:
        return self.name

    def _py(self, consts: list[Any], table: str) -> str:  # pragma: no cover - not boolean
        raise DefinitionError(
            machine="rules",
            kind="rule set",
            problems=[f"field {self.name!r} alone is not a condition"],
        )


def _const(consts: list[Any], value: object) -> str:
    consts.append(value)
    return f"_c{len(consts) - 1}"


def _plain(value: object) -> object:
    """A constant as polars sees it: an enum's value, a moment in UTC."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


class _Cmp(Expr):
    __slots__ = ("field", "kind", "op", "value")

    def __init__(self, field: f, op: str, value: object, kind: str | None = None) -> None:
        self.field = field
        self.op = op
        self.value = value
        self.kind = kind  # the field's schema kind, once checked against a table

    def __repr__(self) -> str:
        return f"({self.field!r} {self.op} {self.value!r})"

    def _fields(self) -> Iterable[str]:
        return self.field._fields()

    def _text(self) -> str:
        value = self.value
        shown = "the moment" if value is AS_OF else getattr(value, "value", value)
        return f"{self.field.name} {self.op} {shown}"

    def _py(self, consts: list[Any], table: str) -> str:
        left = f"r.{self.field.name}"
        right = "as_of" if self.value is AS_OF else _const(consts, self.value)
        if self.value is None:
            return f"({left} is {'' if self.op == '==' else 'not '}None)"
        if self.op == "==":
            return f"({left} == {right})"
        if self.op == "!=":
            # two-valued logic: a missing value differs from every value
            return f"({left} != {right})"
        # a missing value is neither smaller nor larger than anything
        return f"({left} is not None and {left} {self.op} {right})"

    def _pl(self, pl: Any, env: _Env) -> Any:
        col = env.col(pl, self.field.name)
        value: object
        if self.value is AS_OF:
            if env.as_of is None:
                raise UsageError("this rule reads the moment: compile it with as_of=")
            value = env.as_of.astimezone(UTC)
        else:
            value = _plain(self.value)
        if self.kind == "money" and isinstance(value, Decimal | int):
            # amounts are decimal texts in the frames; a sign test is exact in float
            if value != 0:
                raise DefinitionError(
                    machine="rules",
                    kind="rule set",
                    problems=[
                        f"{self.field.name} {self.op} {value}: the columnar compiler "
                        "compares amounts with 0 only"
                    ],
                )
            col = col.cast(pl.Float64)
            value = 0.0
        if value is None:
            return col.is_null() if self.op == "==" else col.is_not_null()
        lit = pl.lit(value)
        result = {
            "==": col == lit,
            "!=": col != lit,
            "<": col < lit,
            "<=": col <= lit,
            ">": col > lit,
            ">=": col >= lit,
        }[self.op]
        if self.op == "!=":
            return result.fill_null(True)
        return result.fill_null(False)


class _In(Expr):
    __slots__ = ("field", "values")

    def __init__(self, field: f, values: tuple[object, ...]) -> None:
        self.field = field
        self.values = values

    def __repr__(self) -> str:
        return f"{self.field!r}.isin({list(self.values)!r})"

    def _fields(self) -> Iterable[str]:
        return self.field._fields()

    def _text(self) -> str:
        shown = ", ".join(sorted(str(getattr(v, "value", v)) for v in self.values))
        return f"{self.field.name} in {{{shown}}}"

    def _py(self, consts: list[Any], table: str) -> str:
        return f"(r.{self.field.name} in {_const(consts, frozenset(self.values))})"

    def _pl(self, pl: Any, env: _Env) -> Any:
        values = sorted({str(_plain(v)) for v in self.values})
        return env.col(pl, self.field.name).is_in(values).fill_null(False)


class _Null(Expr):
    __slots__ = ("field", "null")

    def __init__(self, field: f, null: bool) -> None:
        self.field = field
        self.null = null

    def __repr__(self) -> str:
        return f"{self.field!r}.{'is_null' if self.null else 'not_null'}()"

    def _fields(self) -> Iterable[str]:
        return self.field._fields()

    def _text(self) -> str:
        return f"{self.field.name} {'not known' if self.null else 'known'}"

    def _py(self, consts: list[Any], table: str) -> str:
        return f"(r.{self.field.name} is {'' if self.null else 'not '}None)"

    def _pl(self, pl: Any, env: _Env) -> Any:
        col = env.col(pl, self.field.name)
        return col.is_null() if self.null else col.is_not_null()


class _Bool(Expr):
    __slots__ = ("op", "parts")
    parts: tuple[Expr, ...]

    def __init__(self, op: str, parts: tuple[Expr, ...]) -> None:
        self.op = op
        flat: list[Expr] = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, _Bool) and part.op == op else (part,))
        self.parts = tuple(flat)

    def __repr__(self) -> str:
        return "(" + f" {'&' if self.op == 'and' else '|'} ".join(map(repr, self.parts)) + ")"

    def _fields(self) -> Iterable[str]:
        return itertools.chain.from_iterable(p._fields() for p in self.parts)

    def _text(self) -> str:
        return "(" + f" {self.op} ".join(p._text() for p in self.parts) + ")"

    def _py(self, consts: list[Any], table: str) -> str:
        return "(" + f" {self.op} ".join(p._py(consts, table) for p in self.parts) + ")"

    def _pl(self, pl: Any, env: _Env) -> Any:
        compiled = [p._pl(pl, env) for p in self.parts]
        out = compiled[0]
        for part in compiled[1:]:
            out = (out & part) if self.op == "and" else (out | part)
        return out


class _Not(Expr):
    __slots__ = ("part",)

    def __init__(self, part: Expr) -> None:
        self.part = part

    def __repr__(self) -> str:
        return f"~{self.part!r}"

    def _fields(self) -> Iterable[str]:
        return self.part._fields()

    def _text(self) -> str:
        return f"not {self.part._text()}"

    def _py(self, consts: list[Any], table: str) -> str:
        return f"(not {self.part._py(consts, table)})"

    def _pl(self, pl: Any, env: _Env) -> Any:
        return ~self.part._pl(pl, env)


class _Const(Expr):
    """A rule that matches every record (or none)."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"ALL({self.value})"

    def _fields(self) -> Iterable[str]:
        return ()

    def _text(self) -> str:
        return "every record" if self.value else "no record"

    def _py(self, consts: list[Any], table: str) -> str:
        return repr(self.value)

    def _pl(self, pl: Any, env: _Env) -> Any:
        return pl.lit(self.value)


# --------------------------------------------------------------------------- rules


def _check_value(table: str, field: str, kind: str, vocab: Any, value: object) -> object:
    """A constant compared with ``field``, checked against the schema (a vocabulary
    value given as text becomes its member)."""
    if value is None or value is AS_OF:
        return value
    if kind == "vocab":
        try:
            return vocab(value)
        except ValueError:
            known = ", ".join(m.value for m in vocab)
            raise DefinitionError(
                machine="rules",
                kind="rule set",
                problems=[f"{table}.{field}: {value!r} is not one of {known}"],
            ) from None
    if kind == "bool" and not isinstance(value, bool):
        raise DefinitionError(
            machine="rules",
            kind="rule set",
            problems=[f"{table}.{field} is true/false, not {value!r}"],
        )
    if kind == "datetime" and not isinstance(value, datetime):
        raise DefinitionError(
            machine="rules",
            kind="rule set",
            problems=[f"{table}.{field} is a moment, not {value!r}"],
        )
    return value


def _checked(table: str, expr: Expr) -> Expr:
    """``expr`` with every field known to ``table`` and every constant of the field's type."""
    kinds = _kinds(table)
    if isinstance(expr, _Bool):
        return _Bool(expr.op, tuple(_checked(table, p) for p in expr.parts))
    if isinstance(expr, _Not):
        return _Not(_checked(table, expr.part))
    if isinstance(expr, _Const):
        return expr
    field: f = expr.field  # type: ignore[attr-defined]
    if field.name not in kinds:
        raise DefinitionError(
            machine="rules",
            kind="rule set",
            problems=[
                f"{table} has no field {field.name!r} (its fields: {', '.join(sorted(kinds))})"
            ],
        )
    kind, vocab = kinds[field.name]
    if isinstance(expr, _In):
        return _In(
            field, tuple(_check_value(table, field.name, kind, vocab, v) for v in expr.values)
        )
    if isinstance(expr, _Cmp):
        value = _check_value(table, field.name, kind, vocab, expr.value)
        return _Cmp(field, expr.op, value, kind)
    if isinstance(expr, _Null):
        return expr
    raise DefinitionError(
        machine="rules", kind="rule set", problems=[f"{expr!r} is not a condition"]
    )


def _uses_as_of(expr: Expr) -> bool:
    if isinstance(expr, _Bool):
        return any(_uses_as_of(p) for p in expr.parts)
    if isinstance(expr, _Not):
        return _uses_as_of(expr.part)
    return isinstance(expr, _Cmp) and expr.value is AS_OF


@attrs.frozen(eq=False, repr=False, kw_only=True)
class Rule:
    """A named condition on the records of one table (build one with :meth:`define`).

    Call it on a record: ``SALE(order)``. A rule that reads the moment
    (:data:`AS_OF`) is called as ``rule(record, as_of=moment)``.

    Attributes:
        name: A short name, used in evidence and documentation.
        table: ``orders``, ``interactions`` or ``complaints``.
        expr: The expression tree (the single declaration both engines compile).
        doc: What the rule means, in a sentence.
    """

    name: str
    table: TableName
    expr: Expr
    doc: str = ""
    reads_as_of: bool = False
    _fn: Callable[..., bool] = attrs.field(alias="fn")

    @classmethod
    def define(cls, name: str, table: TableName, expr: Expr | bool, *, doc: str = "") -> Rule:
        """Declare a rule; the tree is checked against the table's schema and compiled.

        Args:
            name: The rule's name.
            table: The table whose records it tests.
            expr: The condition (``True`` matches every record of the table).
            doc: What the rule means.

        Raises:
            DefinitionError: For an unknown table or field, or a constant that is not
                of the field's type (an unknown vocabulary value, say).
        """
        if table not in RECORD_CLASS:
            raise DefinitionError(
                machine="rules",
                kind="rule set",
                problems=[
                    f"rule {name!r}: table {table!r} is not one of orders, interactions, complaints"
                ],
            )
        tree = _Const(expr) if isinstance(expr, bool) else _checked(table, _expr(expr))
        consts: list[Any] = []
        source = tree._py(consts, table)
        namespace = {f"_c{i}": c for i, c in enumerate(consts)}
        reads = _uses_as_of(tree)
        code = f"lambda r, as_of=None: {source}"
        fn = eval(compile(code, f"<rule {name}>", "eval"), namespace)  # our own tree, checked
        return cls(name=name, table=table, expr=tree, doc=doc, fn=fn, reads_as_of=reads)

    def __call__(self, record: Any, as_of: datetime | None = None) -> bool:
        """True if ``record`` matches (``as_of``: the moment, for rules that read it)."""
        if self.reads_as_of and as_of is None:
            raise UsageError(f"rule {self.name!r} reads the moment: call it with as_of=")
        return self._fn(record, as_of)

    def __and__(self, other: Rule) -> Rule:
        return self._combine(other, "and")

    def __or__(self, other: Rule) -> Rule:
        return self._combine(other, "or")

    def __invert__(self) -> Rule:
        return Rule.define(f"not {self.name}", self.table, _Not(self.expr), doc=f"not: {self.doc}")

    def _combine(self, other: Rule, op: str) -> Rule:
        if not isinstance(other, Rule):
            raise UsageError(f"{other!r} is not a Rule")
        if other.table != self.table:
            raise UsageError(
                f"rules {self.name!r} ({self.table}) and {other.name!r} ({other.table}) "
                "test different tables"
            )
        expr = _Bool(op, (self.expr, other.expr))
        return Rule.define(f"{self.name} {op} {other.name}", self.table, expr)

    @property
    def test(self) -> Callable[..., bool]:
        """The compiled test itself, ``test(record, as_of=None) -> bool``, for hot loops.

        It skips the check that a rule reading the moment was given one.
        """
        return self._fn

    def python_source(self, consts: list[Any]) -> str:
        """The rule's condition as one Python expression, for inlining in generated code.

        This is the source :meth:`define` compiles into the rule's test; code that
        scans records with several rules at once (a signal set's scanner, a
        machine's trigger table) writes it inline instead of calling the rule.
        The expression reads the record as ``r`` and, for a rule that reads the
        moment, the moment as ``as_of``. Its constants are appended to
        ``consts`` and named by their position there, ``_c0``, ``_c1``, ...: the
        caller compiles the source in a namespace holding
        ``{f"_c{i}": c for i, c in enumerate(consts)}``, and several rules (and
        the caller's own constants, named the same way) can share one list.

        Args:
            consts: The constants of the code being generated; extended in place.

        Returns:
            The condition, a self-contained expression (safe to combine with
            ``and``/``or``/``not``).
        """
        return self.expr._py(consts, self.table)

    def select(self, records: Iterable[Any], as_of: datetime | None = None) -> tuple[Any, ...]:
        """The records that match, in their order."""
        fn = self._fn
        return tuple(r for r in records if fn(r, as_of))

    def describe(self) -> str:
        """The rule in words: its name and condition (for documentation and evidence)."""
        return f"{self.name}: {self.expr._text()}"

    def to_polars(
        self, *, as_of: datetime | None = None, columns: Mapping[str, Any] | None = None
    ) -> Any:
        """The rule as a polars boolean expression over the table's frame (never null).

        Args:
            as_of: The moment, for a rule that reads it.
            columns: Expressions to read instead of a field's column (a raw column
                cast to its type, say), by field name.

        Raises:
            UsageError: If the rule reads the moment and ``as_of`` is not given.
        """
        from relcycle.columnar._source import import_polars

        if as_of is not None and as_of.tzinfo is None:
            raise UsageError("as_of must be timezone-aware")
        return self.expr._pl(import_polars(), _Env(as_of, dict(columns or {})))

    def __repr__(self) -> str:
        return f"Rule({self.name!r}, {self.table!r}, {self.expr!r})"


# --------------------------------------------------------------------------- signals

SignalKind = Literal["count", "ids", "sum", "first", "last", "days"]

_MOMENTS = {table: attrgetter(name) for table, name in MOMENT_FIELD.items()}
_IDS = {table: attrgetter(name) for table, name in ID_FIELD.items()}


def known_at(table: str, as_of: datetime, field: str | None = None, *, instant: Any = None) -> Any:
    """A record of ``table`` counts at ``as_of`` when its moment is at or before it
    (:meth:`relcycle.history.ClientHistory.as_of`, :meth:`Signal.evaluate`): that
    cut as a polars boolean expression over a frame of the table (UTC instants).

    Args:
        table: The record table (``orders``, ``interactions``, ``complaints``).
        as_of: The moment (aware).
        field: Another moment field of the record to cut on (a complaint's
            ``resolved_at``); default the table's moment (:data:`MOMENT_FIELD`).
        instant: The moment as an expression of UTC instants, when the frame
            holds it in another form (``rfm_summary`` reads it from text).
    """
    from relcycle.columnar._source import import_polars

    pl = import_polars()
    if instant is None:
        instant = pl.col(MOMENT_FIELD[table] if field is None else field)
    return instant <= pl.lit(as_of.astimezone(UTC)).dt.cast_time_unit("us")


@attrs.frozen
class Signal:
    """A per-client aggregate of the records a rule matches, as of a moment.

    Only records whose moment is at or before ``as_of`` count, and with a
    ``window`` of N days only those after ``as_of - N days``.

    Attributes:
        kind: ``count``, ``ids`` (in the model's order: moment, then id), ``sum``
            (of ``field``; an empty sum is 0), ``first``/``last`` (the moment of the
            first/last match, None if none), ``days`` (the distinct calendar days
            of the matches in ``tz``, oldest first).
        rule: The record rule.
        window: Days before ``as_of`` (None: the whole history).
        field: The field summed (``sum`` only).
    """

    kind: SignalKind
    rule: Rule
    window: int | None = None
    field: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind not in ("count", "ids", "sum", "first", "last", "days"):
            raise DefinitionError(
                machine="rules", kind="rule set", problems=[f"unknown signal kind {self.kind!r}"]
            )
        if (self.kind == "sum") != (self.field is not None):
            raise DefinitionError(
                machine="rules",
                kind="rule set",
                problems=["a sum signal names the field it sums; others do not"],
            )
        if self.window is not None and (type(self.window) is not int or self.window <= 0):
            raise DefinitionError(
                machine="rules",
                kind="rule set",
                problems=[f"signal window {self.window!r}: a positive whole number of days"],
            )

    @classmethod
    def count(cls, rule: Rule, window: int | None = None) -> Signal:
        """How many records match."""
        return cls("count", rule, window)

    @classmethod
    def ids(cls, rule: Rule, window: int | None = None) -> Signal:
        """The ids of the records that match, in the model's order."""
        return cls("ids", rule, window)

    @classmethod
    def sum(cls, rule: Rule, field: str, window: int | None = None) -> Signal:
        """The exact sum of ``field`` over the records that match (missing values skipped;
        no digit is rounded away, however many the sum needs)."""
        return cls("sum", rule, window, field)

    @classmethod
    def first(cls, rule: Rule, window: int | None = None) -> Signal:
        """The moment of the first match."""
        return cls("first", rule, window)

    @classmethod
    def last(cls, rule: Rule, window: int | None = None) -> Signal:
        """The moment of the last match."""
        return cls("last", rule, window)

    @classmethod
    def days(cls, rule: Rule, window: int | None = None) -> Signal:
        """The distinct calendar days of the matches (in the evaluation's time zone)."""
        return cls("days", rule, window)

    def evaluate(self, records: Iterable[Any], *, as_of: datetime, tz: tzinfo = UTC) -> Any:
        """The signal over one client's records of the rule's table (pure Python).

        Args:
            records: The client's records of ``rule.table``, in the model's order
                (a :class:`~relcycle.history.ClientHistory`'s tuples are).
            as_of: The moment (aware).
            tz: The zone whose calendar days ``days`` counts.
        """
        getter = _MOMENTS[self.rule.table]
        start = None if self.window is None else as_of - timedelta(days=self.window)
        fn = self.rule._fn
        matched = [
            r
            for r in records
            if getter(r) <= as_of and (start is None or getter(r) > start) and fn(r, as_of)
        ]
        return self._result(matched, tz)

    def _result(self, matched: list[Any], tz: tzinfo) -> Any:
        """The signal's value over the records it matched, in their order."""
        kind = self.kind
        table = self.rule.table
        if kind == "ids":
            return list(map(_IDS[table], matched))
        if kind == "count":
            return len(matched)
        if kind == "sum":
            field = self.field
            assert field is not None
            values = [getattr(r, field) for r in matched]
            total = Decimal(0)
            for v in values:
                if v is not None:
                    total = _EXACT.add(total, v)
            return total
        getter = _MOMENTS[table]
        if kind == "first":
            return getter(matched[0]) if matched else None
        if kind == "last":
            return getter(matched[-1]) if matched else None
        seen: dict[date, None] = {}
        for r in matched:
            seen[getter(r).astimezone(tz).date()] = None
        return sorted(seen)

    def to_polars(self, *, as_of: datetime) -> Any:
        """The signal's filter as a polars boolean expression (moment, window and rule).

        The caller aggregates the filtered column it needs inside a
        ``group_by("client_id").agg(...)`` (counts, ids, sums, days).
        """
        from relcycle.columnar._source import import_polars

        pl = import_polars()
        moment = pl.col(MOMENT_FIELD[self.rule.table])
        cond = known_at(self.rule.table, as_of) & self.rule.to_polars(as_of=as_of)
        if self.window is not None:
            start = (as_of - timedelta(days=self.window)).astimezone(UTC)
            cond = cond & (moment > pl.lit(start))
        return cond


@attrs.frozen
class SignalSet:
    """Named signals evaluated together: one pass per table in Python, one
    ``group_by("client_id").agg(...)`` per table in polars.

    A module declares its inputs once as a signal set (motivation segmentation's
    are :func:`relcycle.segmentation.motivation.motivation_signal_set`); the
    object path calls :meth:`evaluate`, the columnar path :meth:`aggregations`.

    Attributes:
        signals: The signals by name.
    """

    signals: Mapping[str, Signal]
    _by_table: Mapping[str, tuple[tuple[str, Signal], ...]] = attrs.field(
        init=False, repr=False, eq=False
    )
    _scanners: Mapping[str, Callable[..., None]] = attrs.field(init=False, repr=False, eq=False)
    _spans: Mapping[str, tuple[timedelta | None, ...]] = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        by_table = {
            table: tuple((n, s) for n, s in self.signals.items() if s.rule.table == table)
            for table in MOMENT_FIELD
        }
        object.__setattr__(self, "_by_table", by_table)
        scanners = {table: _scanner(table, mine) for table, mine in by_table.items() if mine}
        object.__setattr__(self, "_scanners", scanners)
        spans = {table: _windows(mine) for table, mine in by_table.items()}
        object.__setattr__(self, "_spans", spans)

    def evaluate(
        self,
        tables: Mapping[str, Iterable[Any]],
        *,
        as_of: datetime,
        tz: tzinfo = UTC,
    ) -> dict[str, Any]:
        """Every signal over one client's records, one pass per table (pure Python).

        The rules of one table are compiled into one scanning function, so each
        record is read once whatever the number of signals.

        Args:
            tables: The client's records by table name (``orders``, ``interactions``,
                ``complaints``), each in the model's order; a missing table has none.
            as_of: The moment (aware).
            tz: The zone whose calendar days ``days`` signals count.
        """
        out: dict[str, Any] = {}
        for table, scan in self._scanners.items():
            mine = self._by_table[table]
            starts = [None if span is None else as_of - span for span in self._spans[table]]
            matched: list[list[Any]] = [[] for _ in mine]
            scan(tables.get(table, ()), as_of, starts, matched)
            for (name, signal), found in zip(mine, matched, strict=True):
                out[name] = found if signal.kind == "ids" else signal._result(found, tz)
        return out

    def aggregations(self, table: TableName, *, as_of: datetime, prefix: str = "") -> list[Any]:
        """The polars aggregations of the set's ``count`` and ``ids`` signals over ``table``.

        Use them in ``frame.sort(moment, id).group_by("client_id").agg(...)``:
        ``ids`` lists keep the frame's row order inside each group, so sort the
        frame in the model's order (moment, then id) first. Signals of other
        kinds (sums, days) are compiled by the caller over :meth:`Signal.to_polars`.
        Each aggregation is named ``prefix + name``.
        """
        from relcycle.columnar._source import import_polars

        pl = import_polars()
        found: list[Any] = []
        for name, signal in self.signals.items():
            if signal.rule.table != table:
                continue
            where = signal.to_polars(as_of=as_of)
            if signal.kind == "ids":
                found.append(pl.col(ID_FIELD[table]).filter(where).alias(prefix + name))
            elif signal.kind == "count":
                found.append(where.sum().alias(prefix + name))
        return found


#: Adds amounts exactly, however many digits the sum needs (no 28-digit rounding).
_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _scanner(table: str, signals: Sequence[tuple[str, Signal]]) -> Callable[..., None]:
    """One function that reads a table's records once and files each in the match
    list of every signal whose window and rule it meets (the rules' own compiled
    conditions, inlined): the record's id for an ``ids`` signal, else the record.

    Signals with the same window share one window test per record (the moment
    comparisons are the costly part of a scan).
    """
    consts: list[Any] = []
    moment = MOMENT_FIELD[table]
    windows: dict[int | None, int] = {}
    for _, signal in signals:
        windows.setdefault(signal.window, len(windows))
    body = ["def scan(records, as_of, starts, matched):"]
    for k in windows.values():
        body.append(f"    s{k} = starts[{k}]")
    for j in range(len(signals)):
        body.append(f"    a{j} = matched[{j}].append")
    body += [
        "    for r in records:",
        f"        m = r.{moment}",
        "        if m > as_of:",
        "            continue",
    ]
    for window, k in windows.items():
        body.append(f"        w{k} = True" if window is None else f"        w{k} = m > s{k}")
    for j, (_, signal) in enumerate(signals):
        condition = signal.rule.python_source(consts)
        body.append(f"        if w{windows[signal.window]} and {condition}:")
        # an ids signal files the id itself; the others file the record
        item = f"r.{ID_FIELD[table]}" if signal.kind == "ids" else "r"
        body.append(f"            a{j}({item})")
    namespace: dict[str, Any] = {f"_c{i}": c for i, c in enumerate(consts)}
    exec(compile("\n".join(body), f"<signals of {table}>", "exec"), namespace)  # our own trees
    scan: Callable[..., None] = namespace["scan"]
    return scan


def _windows(signals: Sequence[tuple[str, Signal]]) -> tuple[timedelta | None, ...]:
    """The distinct windows of ``signals`` as spans, in first-seen order (the scanner's)."""
    seen: dict[int | None, None] = {}
    for _, signal in signals:
        seen.setdefault(signal.window, None)
    return tuple(None if w is None else timedelta(days=w) for w in seen)


# --------------------------------------------------------------------------- the library's rules

#: The order statuses that make a sale.
SALE_STATUSES: Final = frozenset({OrderStatus.placed, OrderStatus.delivered})

#: The inbound purposes that count as requests (motivation segmentation).
REQUEST_PURPOSES: Final = frozenset({Purpose.inquiry, Purpose.offer_change, Purpose.wish})

#: The purposes of a partnership: joint planning, an exchange of services.
PARTNERSHIP_PURPOSES: Final = frozenset({Purpose.joint_planning, Purpose.service_exchange})

#: The purposes of contacts that show advocacy (the ladder's advocate rung): a
#: referral, joint planning, an exchange of services.
ADVOCACY_PURPOSES: Final = frozenset({Purpose.referral, *PARTNERSHIP_PURPOSES})

#: The purposes of contacts that show deep engagement (the ladder's expert rung):
#: joint planning and offer co-design.
ENGAGEMENT_PURPOSES: Final = frozenset({Purpose.joint_planning, Purpose.offer_change})

SALE = Rule.define(
    "sale",
    "orders",
    f("status").isin(SALE_STATUSES),
    doc="an order placed or delivered (not planned, cancelled or returned)",
)
CANCELLED_ORDER = Rule.define(
    "cancelled_order",
    "orders",
    f("status") == OrderStatus.cancelled,
    doc="an order the supplier did not fulfil",
)
LATE_ORDER = Rule.define(
    "late_order",
    "orders",
    (f("on_time") == False) & (f("status") != OrderStatus.planned),  # noqa: E712
    doc="an order delivered late (a returned order delivered late was late all the same)",
)
FAILED_ORDER = Rule.define(
    "failed_order",
    "orders",
    CANCELLED_ORDER.expr | LATE_ORDER.expr,
    doc="a service failure: an order cancelled or delivered late",
)
DISCOUNTED_SALE = Rule.define(
    "discounted_sale",
    "orders",
    SALE.expr & (f("discounted") == True),  # noqa: E712
    doc="a sale placed at a discount or in a discount season",
)
MARKETING_TOUCH = Rule.define(
    "marketing_touch",
    "interactions",
    f("purpose") == Purpose.marketing,
    doc="a marketing touch (a mailing, a campaign): not a contact",
)
CONTACT = Rule.define(
    "contact",
    "interactions",
    f("purpose") != Purpose.marketing,
    doc="an interaction in either direction, except a marketing touch",
)
INBOUND = Rule.define(
    "inbound",
    "interactions",
    CONTACT.expr & (f("direction") == Direction.inbound),
    doc="a contact the client initiated",
)
REQUEST = Rule.define(
    "request",
    "interactions",
    INBOUND.expr & f("purpose").isin(REQUEST_PURPOSES),
    doc="a client-initiated inquiry, request to change the offer, or wish",
)
OFFER_CHANGE = Rule.define(
    "offer_change",
    "interactions",
    f("purpose") == Purpose.offer_change,
    doc="a request to change the offer",
)
PARTNERSHIP = Rule.define(
    "partnership",
    "interactions",
    f("purpose").isin(PARTNERSHIP_PURPOSES),
    doc="a proposal of joint planning or of exchanging services",
)
REFERRAL = Rule.define(
    "referral",
    "interactions",
    f("purpose") == Purpose.referral,
    doc="the client recommended the supplier",
)
WISH = Rule.define(
    "wish",
    "interactions",
    INBOUND.expr & (f("purpose") == Purpose.wish),
    doc="a wish the client voiced",
)
FEEDBACK = Rule.define(
    "feedback",
    "interactions",
    INBOUND.expr & (f("purpose") == Purpose.feedback),
    doc="feedback the client gave",
)
ADVOCACY = Rule.define(
    "advocacy",
    "interactions",
    f("purpose").isin(ADVOCACY_PURPOSES),
    doc="a contact that shows advocacy: a referral, joint planning, an exchange of services",
)
ENGAGEMENT = Rule.define(
    "engagement",
    "interactions",
    f("purpose").isin(ENGAGEMENT_PURPOSES),
    doc="a contact that shows deep engagement: joint planning or a request to change the offer",
)
_BY_PURPOSE: dict[Purpose, Rule] = {}


def purpose_rule(purpose: Purpose) -> Rule:
    """The rule "an interaction of purpose ``purpose``", one per purpose.

    Named ``<purpose>_interaction``; the lifecycle's interaction triggers and
    :data:`TERMINATION` are these rules.

    Raises:
        UsageError: If ``purpose`` is not a :class:`~relcycle.model.Purpose`.
    """
    if not isinstance(purpose, Purpose):
        raise UsageError(f"purpose_rule: {purpose!r} is not a Purpose")
    found = _BY_PURPOSE.get(purpose)
    if found is None:
        found = _BY_PURPOSE[purpose] = Rule.define(
            f"{purpose.value}_interaction",
            "interactions",
            f("purpose") == purpose,
            doc=f"an interaction of purpose {purpose.value}",
        )
    return found


#: The client ends the relationship (an interaction of purpose ``termination``).
TERMINATION = purpose_rule(Purpose.termination)
HANDLED_CONTACT = Rule.define(
    "handled_contact",
    "interactions",
    CONTACT.expr & f("handled_by").not_null(),
    doc="a contact an employee of the supplier handled (``handled_by`` known): who holds "
    "the client (the key person, the loss manager, a lapse's only manager)",
)
PLANNED_ORDER = Rule.define(
    "planned_order",
    "orders",
    f("status") == OrderStatus.planned,
    doc="an order planned but not placed (plan vs actual)",
)
COMPLAINT = Rule.define("complaint", "complaints", True, doc="any complaint")
OPEN_COMPLAINT = Rule.define(
    "open_complaint",
    "complaints",
    (f("opened_at") <= AS_OF) & (f("resolved_at").is_null() | (f("resolved_at") > AS_OF)),
    doc="a complaint opened by the moment and not closed by then",
)
CLOSED_COMPLAINT = Rule.define(
    "closed_complaint",
    "complaints",
    f("resolved_at").not_null() & (f("resolved_at") <= AS_OF),
    doc="a complaint resolved or rejected by the moment",
)
REJECTED_COMPLAINT = Rule.define(
    "rejected_complaint",
    "complaints",
    f("status") == ComplaintStatus.rejected,
    doc="a complaint the supplier rejected: closed without a fix",
)
STAFF_COMPLAINT = Rule.define(
    "staff_complaint",
    "complaints",
    f("escalated_to") == Escalation.staff,
    doc="a complaint the client's staff took up: its staff record the supplier's failures",
)
MANAGEMENT_COMPLAINT = Rule.define(
    "management_complaint",
    "complaints",
    f("escalated_to") == Escalation.management,
    doc="a complaint the client raised to its management",
)

#: Every rule the library declares, by name.
BUILT_IN: Final[Mapping[str, Rule]] = {
    r.name: r
    for r in (
        SALE,
        CANCELLED_ORDER,
        LATE_ORDER,
        FAILED_ORDER,
        PLANNED_ORDER,
        DISCOUNTED_SALE,
        MARKETING_TOUCH,
        CONTACT,
        INBOUND,
        REQUEST,
        OFFER_CHANGE,
        PARTNERSHIP,
        REFERRAL,
        WISH,
        FEEDBACK,
        ADVOCACY,
        ENGAGEMENT,
        COMPLAINT,
        OPEN_COMPLAINT,
        CLOSED_COMPLAINT,
        REJECTED_COMPLAINT,
        STAFF_COMPLAINT,
        MANAGEMENT_COMPLAINT,
        HANDLED_CONTACT,
        TERMINATION,
    )
}
