"""Per-client decisions, each declared once and evaluated by two engines.

A **decision** is a first-match list of cases over a client's inputs — the
distinct days it bought on, the day of the moment — whose outputs are a
verdict, its figures and the evidence sentence. Like a record rule
(:mod:`relcycle.rules`), it is an expression tree, declared once::

    days = days_input("days")
    n = days.count()
    ONE_OFF = DecisionList.define(
        "buying",
        inputs=(days,),
        outputs={"verdict": "text", "evidence": "text"},
        cases=[
            Case(n == 0, verdict="none", evidence="no sale"),
            Case(n == 1, verdict="one_off", evidence=text("bought on ", days.first())),
            Case(None, verdict="repeat", evidence=text(plural(n, "purchase day"))),
        ],
    )

and evaluated two ways, neither holding a copy of it:

- ``decision(days=...)`` is the pure-Python evaluator: the tree is compiled
  once into one Python function (an ``if`` per case), so asking a decision
  costs a few microseconds, about what hand-written code costs (the built-in
  declarations: about 1 µs more per call than the code they replaced);
- :meth:`DecisionList.over` compiles the same tree for polars: each aggregate and
  named value becomes a column computed once, and each output one ``when/then``
  chain over the cases, so every client of a table is decided at once. An
  expression a helper reads more than once (its arguments, the steps of its
  arithmetic: the rounded quotient of :func:`ratio_text` is read for the sign,
  the units and the decimals) is a column computed once too
  (``_PlEnv.share``): a polars expression is a tree, and each read would copy
  the subtree, nested helpers multiplying the copies.

The values are integers (exact: Python's integers, polars' ``Int128``),
booleans, calendar days, texts and record ids (a tuple of texts in Python, a
``list[str]`` in polars: :meth:`Value.append`, :meth:`Value.append_new`,
:meth:`Value.merged`, :meth:`Value.sorted`, :meth:`Value.sorted_by`,
:meth:`Value.size`, :meth:`Value.head`, :meth:`Value.tail`,
:meth:`Value.joined`, :meth:`Value.contains`; the evidence a machine's event
cites). Figures that
are ratios are never computed as floats or decimals: a comparison of ratios is
written in integers (``a * d <= c * b``), and a ratio is printed by
:func:`ratio_text` (rounded half even to a number of places) or
:func:`sqrt_ratio_text` (the square root of an integer over another), both
exact, so the two engines print the same digits whatever the caller's decimal
context.

**Missing values** (``None`` in Python, null in polars: no first day, an input
given as ``None``) get one answer in both engines, polars' own:

- an operation with no answer is missing: one with a missing operand, an
  integer divided by zero, a day before year 1 or after 9999, a helper given a
  zero denominator, a negative radicand or an exponent or number of places out
  of its range; a text with a missing part is missing;
- a comparison is never missing: ``==`` is true of two missing values, false of
  a missing and a present one (``!=`` the opposite); an order (``<``, ...) with
  a missing side is false;
- ``&``, ``|`` and ``~`` of a missing *condition* (a boolean input or constant
  given as missing) are three-valued, as in SQL: false ``&`` missing is false,
  true ``|`` missing is true, the rest with a missing one is missing (a missing
  boolean is kept, not read as false); a case whose condition is missing is not
  taken.

A decision's Python function tests for a missing value only where one can
arise (an input, the first day of no days, a division), so figures that cannot
be missing cost what they did. It computes a value once however many places
read it: one a condition reads just before the first case that reads it, one
only outputs read inside the branch of a case that reads it twice or more
(``_Build``); since no operation raises, computing a value a condition
might have skipped changes no answer (one exception, far from any record: an
integer past Python's 4,300-digit limit for ``str`` cannot be printed).

A case's condition and outputs count only for the clients the cases before it
did not take (Python does not evaluate them for the others; polars computes
them for every row and keeps the matching case's), so a case may read the
first purchase day once an earlier case has handled clients without one. The
last case has no condition (``Case(None, ...)``): every client gets a verdict.

Limits of the polars side: integers are ``Int128``, which wraps silently past
about 1.7·10³⁸, and :func:`sqrt_ratio_text` is exact for a radicand times
``100**places`` below 2¹⁰⁰. A decision over figures that can grow that large
must be refused by its caller (:func:`relcycle.columnar.regularity_frame` refuses
a ``max_cv`` with more than 11 decimal places); an integer output past ``Int64``
is refused by polars (Python gives it).

Inputs are distinct days (:func:`days_input`, which :meth:`DaysInput.add`
extends by a day, :func:`day_in` giving the day of a moment in a zone), a day,
integers, texts, booleans and record ids. A decision asks another's named
values with :meth:`DecisionList.ask`. The regularity rules
(:func:`relcycle.segmentation.regularity.regularity_decision`), the motivation
rules (:func:`relcycle.segmentation.motivation.motivation_decision`) and the
client-base stage (:func:`relcycle.clientbase.client_stage_decision`) are
declared this way, and so are the decisions of a machine's
:class:`~relcycle.machine.DeclaredDecider`.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Final, Literal, cast

import attrs

from relcycle.errors import DefinitionError, UsageError

__all__ = [
    "BoolInput",
    "Case",
    "DayInput",
    "DaysInput",
    "DecisionList",
    "IdsInput",
    "IntInput",
    "Kind",
    "TextInput",
    "Value",
    "bool_input",
    "choose",
    "column_dtype",
    "day_in",
    "day_input",
    "days_input",
    "grouped",
    "ids_input",
    "int_input",
    "lit",
    "lookup",
    "plural",
    "pow10",
    "ratio_digits",
    "ratio_text",
    "round_half_up",
    "sqrt_ratio_text",
    "text",
    "text_input",
]

#: The kinds of value a decision computes.
Kind = Literal["int", "bool", "date", "text", "ids", "days"]

_KINDS: Final = ("int", "bool", "date", "text", "ids", "days")


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER: Final = re.compile(r"-?[0-9]+")
#: The calendar's first and last days as days since 1970-01-01 (Python's dates).
_FIRST_DAY: Final = (date.min - date(1970, 1, 1)).days
_LAST_DAY: Final = (date.max - date(1970, 1, 1)).days
#: The first and last moments of Python's calendar, in microseconds since 1970 (UTC).
_FIRST_US: Final = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_LAST_US: Final = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
#: The largest exponent of :func:`pow10` and number of places of :func:`ratio_text`.
_MAX_POW10: Final = 36
_MAX_PLACES: Final = 18


def _problem(problem: str) -> DefinitionError:
    return DefinitionError(machine="decisions", kind="decision list", problems=[problem])


class _Reads:
    """How a compilation reads one node (as a value or as a condition)."""

    __slots__ = ("by_case", "count", "in_condition", "node", "readers")

    def __init__(self, node: Value) -> None:
        #: The node itself, kept so that its id stays its own while counting.
        self.node = node
        self.count = 0
        #: Whether a case's condition reads it (directly or inside a node written there).
        self.in_condition = False
        #: The nodes whose source reads it (by node id and whether as a condition).
        self.readers: set[tuple[int, bool]] = set()
        #: How often each case's outputs read it.
        self.by_case: dict[int, int] = {}


class _Build:
    """The state of one Python compilation: constants, the aggregates' locals,
    and the values computed once because several places read them.

    A compilation runs twice over the same declaration. The first run
    (``sharing=None``) only counts how often each node is read (by identity,
    as a value or as a condition), in which cases, in a condition or not, and by
    which nodes. The second writes the source, where a node read more than
    once is a local (``_s0 = ...``) computed once:

    - a node a condition reads (or one such a local reads) is assigned just
      before the first case that reads it, and serves every later case;
    - a node only outputs read is assigned inside the branch of a case whose
      outputs read it twice or more, for that case alone (the cases before
      it do not pay for it).

    Every operation answers ``None`` rather than raising (missing values), so
    computing a shared value before a condition that might have skipped it
    changes no answer.
    """

    def __init__(self, sharing: frozenset[tuple[int, bool, int]] | None = None) -> None:
        self.consts: list[Any] = []
        #: ``{aggregate key: (local name, its Python source)}``, in first-use order.
        self.locals: dict[tuple[str, str], tuple[str, str]] = {}
        #: How many names the guards of missing values have bound (``_t0``, ...).
        self.bound = 0
        #: Where the compilation is: the case's position, and whether in its outputs.
        self.where: tuple[int, bool] = (0, True)
        #: Counting run: what was read, by node id and whether as a condition.
        self.reads: dict[tuple[int, bool], _Reads] = {}
        self._reader: list[tuple[int, bool]] = []
        #: Writing run: ``(node id, as condition, case)`` of the shared nodes,
        #: case -1 for those a condition reads (assigned before their first case).
        self.sharing = sharing
        self.shared: dict[tuple[int, bool], str] = {}
        self.in_case: dict[tuple[int, bool], str] = {}
        self.assigned_count = 0
        self._before: list[str] = []
        self._inside: list[str] = []

    def py(self, value: Value) -> str:
        """The Python source of ``value`` (a shared one's local)."""
        return self._read(value, False)

    def cond(self, value: Value) -> str:
        """The Python source of condition ``value``, true exactly when it holds."""
        return self._read(value, True)

    def _read(self, value: Value, cond: bool) -> str:
        key = (id(value), cond)
        case, in_outputs = self.where
        if self.sharing is None:
            found = self.reads.get(key)
            if found is None:
                found = self.reads[key] = _Reads(value)
                descend = True
            else:  # its parts are counted again in each case whose outputs read it
                descend = in_outputs and case not in found.by_case
            found.count += 1
            found.in_condition = found.in_condition or not in_outputs
            if in_outputs:
                found.by_case[case] = found.by_case.get(case, 0) + 1
            if self._reader:
                found.readers.add(self._reader[-1])
            if not descend:
                return "_"
            self._reader.append(key)
            try:
                return value._py_cond(self) if cond else value._py(self)
            finally:
                self._reader.pop()
        name = self.shared.get(key) or self.in_case.get(key)
        if name is not None:
            return name
        early = (*key, -1) in self.sharing
        here = not early and (*key, case) in self.sharing
        source = value._py_cond(self) if cond else value._py(self)
        if not (early or here):
            return source
        if source.isidentifier() or _NUMBER.fullmatch(source):
            name = source
        else:
            name = f"_s{self.assigned_count}"
            self.assigned_count += 1
            (self._before if early else self._inside).append(f"{name} = {source}")
        (self.shared if early else self.in_case)[key] = name
        return name

    def sharing_found(self) -> frozenset[tuple[int, bool, int]]:
        """After the counting run: the nodes to compute once, as ``(node id, as
        condition, case)``; case -1 for those assigned before the first case
        that reads them (the others, inside the branch of each case whose
        outputs read them twice or more)."""
        reads = self.reads
        early: dict[tuple[int, bool], bool] = {}

        def is_early(key: tuple[int, bool]) -> bool:
            # Whether the node's source is written before a case's condition:
            # a condition reads it, or a node written there does (a shared one
            # assigned early, or one written out in place inside such a node).
            found = early.get(key)
            if found is None:
                early[key] = False  # (the nodes form no cycle; a guard all the same)
                read = reads[key]
                found = early[key] = read.in_condition or any(is_early(r) for r in read.readers)
            return found

        shared: set[tuple[int, bool, int]] = set()
        for key, read in reads.items():
            if read.count > 1 and is_early(key):
                shared.add((*key, -1))
            elif read.count > 1:
                shared.update((*key, case) for case, n in read.by_case.items() if n > 1)
        return frozenset(shared)

    def assigned(self) -> tuple[list[str], list[str]]:
        """The shared values assigned since the last call (the end of a case):
        those to assign before the case's condition, and those inside its
        branch (read by that case alone)."""
        found = self._before, self._inside
        self._before, self._inside = [], []
        self.in_case = {}
        return found

    def const(self, value: object) -> str:
        self.consts.append(value)
        return f"_c{len(self.consts) - 1}"

    def local(self, key: tuple[str, str], source: str) -> str:
        found = self.locals.get(key)
        if found is None:
            found = (f"_a{len(self.locals)}", source)
            self.locals[key] = found
        return found[0]

    def bind(self, source: str) -> tuple[str, str]:
        """``source`` evaluated once: the expression that evaluates (and binds)
        it, and the name that reads it afterwards (the source itself when it is
        a name or a number already)."""
        if source.isidentifier() or _NUMBER.fullmatch(source):
            return source, source
        name = f"_t{self.bound}"
        self.bound += 1
        return f"({name} := {source})", name

    def guarded(
        self,
        values: Sequence[Value],
        make: Callable[[list[str]], str],
        *,
        nonzero: Sequence[int] = (),
        otherwise: str = "None",
    ) -> str:
        """``make`` of the values' sources, or ``otherwise`` when one of them is
        missing (or one at a position in ``nonzero`` is 0): polars' answer for an
        operation with no answer. A value that cannot be missing is not tested."""
        tests: list[str] = []
        names: list[str] = []
        for n, value in enumerate(values):
            source = self.py(value)
            zero = n in nonzero and not (
                isinstance(value, _Lit) and isinstance(value.value, int) and value.value
            )
            if not (value._may_miss() or zero):
                names.append(source)
                continue
            first, name = self.bind(source)
            if value._may_miss():
                tests.append(f"{first} is None")
                if zero:
                    tests.append(f"not {name}")
            else:
                tests.append(f"not {first}")
            names.append(name)
        if not tests:
            return make(names)
        tests = list(dict.fromkeys(tests))  # a shared value read twice is tested once
        return f"({otherwise} if {' or '.join(tests)} else {make(names)})"


class _PlEnv:
    """The state of one polars compilation: the inputs' expressions, and the
    intermediate columns (aggregates, named values) computed once before the
    outputs read them."""

    def __init__(self, inputs: Mapping[str, Any], prefix: str = "__decision_") -> None:
        self.inputs = dict(inputs)
        self.prefix = prefix
        #: ``{key: (column name, expression)}``, each reading only earlier ones.
        self.temps: dict[object, tuple[str, Any]] = {}
        #: The compilations of other decisions asked (:meth:`DecisionList.ask`),
        #: by decision and inputs given.
        self.asked: dict[object, _PlEnv] = {}

    def temp(self, pl: Any, key: object, build: Callable[[], Any]) -> Any:
        found = self.temps.get(key)
        if found is None:
            expr = build()  # may add the temps it reads first
            found = (f"{self.prefix}{len(self.temps)}", expr)
            self.temps[key] = found
        return pl.col(found[0])

    def share(self, pl: Any, key: object, expr: Any) -> Any:
        """``expr`` as an intermediate column under ``key``, for an expression a
        compilation reads several times (a helper's argument or a step of its
        arithmetic): a polars expression is a tree, so each read would copy
        the whole subtree (the declared ladder's sentences grew to tens of
        thousands of characters of expression that way). A bare column or a
        constant is read as it is."""
        meta = expr.meta
        if meta.is_column() or meta.is_literal(allow_aliasing=True):
            return expr
        return self.temp(pl, key, lambda: expr)


class Value:
    """A value of a decision (build them from inputs, :func:`lit` and the operators).

    Integers take ``+``, ``-``, ``*`` and ``//``; a day minus a day is the
    number of days between them, a day plus an integer the day that many days
    later. Comparisons (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``) of two
    integers or two days make booleans, which ``&``, ``|`` and ``~`` combine.
    A missing operand makes a missing result, a missing side makes an order
    false (see the module's notes on missing values).
    Record ids take the methods below (:meth:`append`, :meth:`size`, ...).
    """

    __slots__ = ("kind",)

    kind: Kind

    # operators ------------------------------------------------------------

    def __add__(self, other: object) -> Value:
        return _arith("+", self, other)

    def __radd__(self, other: object) -> Value:
        return _arith("+", _value(other), self)

    def __sub__(self, other: object) -> Value:
        return _arith("-", self, other)

    def __rsub__(self, other: object) -> Value:
        return _arith("-", _value(other), self)

    def __mul__(self, other: object) -> Value:
        return _arith("*", self, other)

    def __rmul__(self, other: object) -> Value:
        return _arith("*", _value(other), self)

    def __floordiv__(self, other: object) -> Value:
        return _arith("//", self, other)

    def __eq__(self, other: object) -> Value:  # type: ignore[override]
        return _compare("==", self, other)

    def __ne__(self, other: object) -> Value:  # type: ignore[override]
        return _compare("!=", self, other)

    def __lt__(self, other: object) -> Value:
        return _compare("<", self, other)

    def __le__(self, other: object) -> Value:
        return _compare("<=", self, other)

    def __gt__(self, other: object) -> Value:
        return _compare(">", self, other)

    def __ge__(self, other: object) -> Value:
        return _compare(">=", self, other)

    def __and__(self, other: object) -> Value:
        return _Logic("and", (_boolean(self), _boolean(_value(other))))

    def __or__(self, other: object) -> Value:
        return _Logic("or", (_boolean(self), _boolean(_value(other))))

    def __invert__(self) -> Value:
        return _Not(_boolean(self))

    def named(self, name: str) -> Value:
        """The same value, called ``name`` where a decision is described."""
        return _Named(self, name)

    # record ids ----------------------------------------------------------

    def append(self, item: object) -> Value:
        """These record ids with ``item`` (a text) after them; a missing text
        adds nothing."""
        return _Ids("append", self, _text_value(item, "append"))

    def append_new(self, item: object) -> Value:
        """These record ids with ``item`` after them unless it is one of them
        already (or missing): distinct ids, in the order first seen."""
        return _Ids("append_new", self, _text_value(item, "append_new"))

    def sorted(self) -> Value:
        """These record ids sorted (by code point, as Python sorts texts)."""
        return _Ids("sorted", self)

    def sorted_by(self, keys: object) -> Value:
        """These record ids in the order that sorts ``keys`` (one key each, paired
        in order; the shorter of the two says how many; equal keys keep their
        order): a map kept as two aligned registers, read in key order (each
        product's first order, by product)."""
        found = _value(keys)
        if found.kind != "ids":
            raise _problem(f"sorted_by(): {found._text()} is {found.kind}, not record ids")
        return _Ids("sorted_by", self, found)

    def size(self) -> Value:
        """How many record ids."""
        return _Ids("size", self)

    def head(self, n: int) -> Value:
        """The first ``n`` record ids (all when there are fewer)."""
        return _Ids("head", self, _count(n, "head"))

    def tail(self, n: int) -> Value:
        """The last ``n`` record ids (all when there are fewer)."""
        return _Ids("tail", self, _count(n, "tail"))

    def joined(self, separator: str = ", ") -> Value:
        """The record ids as one text, ``separator`` between them."""
        if not isinstance(separator, str):
            raise _problem(f"joined(): the separator must be a text, not {separator!r}")
        return _Ids("joined", self, _Lit(separator, "text"))

    def merged(self, more: object) -> Value:
        """These record ids, then those of ``more`` (record ids), each id once, in
        the order first seen: the evidence of several registers, without repeats."""
        found = _value(more)
        if found.kind != "ids":
            raise _problem(f"merged(): {found._text()} is {found.kind}, not record ids")
        return _Ids("merged", self, found)

    def contains(self, item: object) -> Value:
        """True when ``item`` (a text) is one of the record ids."""
        return _Ids("contains", self, _text_value(item, "contains"))

    def __bool__(self) -> bool:
        raise UsageError(
            "a decision's value has no truth value while it is declared: combine "
            "conditions with &, | and ~ (not and/or/not)"
        )

    __hash__ = None  # type: ignore[assignment]

    # the compilers --------------------------------------------------------

    def _py(self, b: _Build) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _pl(self, pl: Any, env: _PlEnv) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _text(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _inputs(self) -> Iterable[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _may_miss(self) -> bool:
        """False when the value is never missing, whatever the inputs (a
        comparison, a count): the Python compilation tests only the others."""
        return True

    def _py_cond(self, b: _Build) -> str:
        """The Python source of this condition where only whether it holds
        counts (a case's ``when``, a choice's condition): true exactly when the
        value is true, so a missing one is false without the three-valued
        helpers."""
        return self._py(b)


class _Named(Value):
    __slots__ = ("name", "value")

    def __init__(self, value: Value, name: str) -> None:
        self.value, self.name, self.kind = value, name, value.kind

    def __repr__(self) -> str:
        return f"{self.value!r}.named({self.name!r})"

    def _py(self, b: _Build) -> str:
        return b.py(self.value)

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        return env.temp(pl, ("named", id(self)), lambda: self.value._pl(pl, env))

    def _text(self) -> str:
        return self.name

    def _inputs(self) -> Iterable[str]:
        return self.value._inputs()

    def _may_miss(self) -> bool:
        return self.value._may_miss()

    def _py_cond(self, b: _Build) -> str:
        return b.cond(self.value)


def _value(value: object) -> Value:
    if isinstance(value, Value):
        return value
    if isinstance(value, DaysInput):
        return _DaysRef(value.name)
    return lit(value)


def _boolean(value: Value) -> Value:
    if value.kind != "bool":
        raise _problem(f"{value._text()} is {value.kind}, not a condition")
    return value


class _Lit(Value):
    __slots__ = ("value",)

    def __init__(self, value: object, kind: Kind) -> None:
        self.value = value
        self.kind = kind

    def __repr__(self) -> str:
        return f"lit({self.value!r})"

    def _py(self, b: _Build) -> str:
        if self.value is None or isinstance(self.value, bool | int):
            return repr(self.value)
        return b.const(self.value)

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        return _pl_lit(pl, self.value, self.kind)

    def _text(self) -> str:
        return repr(self.value)

    def _inputs(self) -> Iterable[str]:
        return ()

    def _may_miss(self) -> bool:
        return self.value is None


def lit(value: object, kind: Kind | None = None) -> Value:
    """A constant: an integer, a boolean, a day or a text (``None`` needs its ``kind``).

    Raises:
        DefinitionError: For a value of another type, or ``None`` without a kind.
    """
    if kind is not None:
        if kind not in _KINDS:
            raise _problem(f"unknown kind {kind!r}: one of {', '.join(_KINDS)}")
        if value is not None and not _fits(value, kind):
            raise _problem(f"{value!r} is not of kind {kind}")
        return _Lit(value, kind)
    if value is None:
        raise _problem("lit(None) needs its kind: lit(None, 'date')")
    return _Lit(value, _kind_of(value))


def _kind_of(value: object) -> Kind:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, date) and not hasattr(value, "hour"):
        return "date"
    if isinstance(value, str):
        return "text"
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return "ids"  # the empty tuple too: see _fits
    if isinstance(value, tuple) and all(
        isinstance(v, date) and not hasattr(v, "hour") for v in value
    ):
        return "days"
    raise _problem(
        f"{value!r} ({type(value).__name__}) is not an integer, boolean, day, text, "
        "tuple of record ids or tuple of days"
    )


def _fits(value: object, kind: str) -> bool:
    """True when the constant ``value`` is of ``kind`` (an empty tuple is empty ids
    and empty days alike)."""
    if value == () and kind in ("ids", "days"):
        return True
    return _kind_of(value) == kind


def _dtype(pl: Any, kind: Kind) -> Any:
    if kind == "ids":
        return pl.List(pl.String)
    if kind == "days":
        return pl.List(pl.Date)
    return {"int": pl.Int128, "bool": pl.Boolean, "date": pl.Date, "text": pl.String}[kind]


def column_dtype(kind: str) -> Any:
    """The polars dtype of a column of ``kind`` that a decision reads or gives:
    its outputs' (integers as ``Int64``; computations run in ``Int128``).

    Raises:
        UsageError: For an unknown kind.
    """
    from relcycle.columnar._source import import_polars

    if kind not in _KINDS:
        raise UsageError(f"column_dtype(): unknown kind {kind!r} (one of {', '.join(_KINDS)})")
    pl = import_polars()
    return pl.Int64 if kind == "int" else _dtype(pl, cast("Kind", kind))


def _pl_lit(pl: Any, value: object, kind: Kind) -> Any:
    """A constant as a polars literal of its kind (record ids as a list)."""
    if isinstance(value, tuple):
        return pl.lit(list(value), dtype=_dtype(pl, kind))
    return pl.lit(value, dtype=_dtype(pl, kind))


class _Input(Value):
    """An input of one value, read by its name (the compiled function's argument,
    the expression given for it in polars)."""

    __slots__ = ("name",)

    #: The kind of value the input holds.
    KIND: Kind = "int"

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = self.KIND

    def __repr__(self) -> str:
        return f"{self.KIND}_input({self.name!r})"

    def _py(self, b: _Build) -> str:
        return self.name

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        return env.inputs[self.name]

    def _text(self) -> str:
        return self.name

    def _inputs(self) -> Iterable[str]:
        return (self.name,)


class DayInput(_Input):
    """An input that is one calendar day, or missing (``None``)."""

    __slots__ = ()
    KIND = "date"

    def __repr__(self) -> str:
        return f"day_input({self.name!r})"


class IntInput(_Input):
    """An input that is an integer (a count, a sum of days)."""

    __slots__ = ()
    KIND = "int"

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        return env.inputs[self.name].cast(pl.Int128)


class BoolInput(_Input):
    """An input that is a boolean."""

    __slots__ = ()
    KIND = "bool"


class TextInput(_Input):
    """An input that is a text, or missing (``None``)."""

    __slots__ = ()
    KIND = "text"


class IdsInput(_Input):
    """An input that is record ids, in order (a tuple of texts; a polars ``list[str]``)."""

    __slots__ = ()
    KIND = "ids"

    def __repr__(self) -> str:
        return f"ids_input({self.name!r})"

    def _may_miss(self) -> bool:
        return False


class DaysInput:
    """An input that is distinct calendar days, oldest first (a tuple; a polars list).

    Its aggregates are values: :meth:`count`, :meth:`first`, :meth:`last`,
    :meth:`gap_squares`.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"days_input({self.name!r})"

    def count(self) -> Value:
        """How many days."""
        return _Agg(self.name, "count", "int")

    def add(self, day: object) -> Value:
        """These days with ``day`` among them (distinct, oldest first); a missing
        day adds nothing. Give it to a register of days."""
        found = _value(day)
        if found.kind != "date":
            raise _problem(f"add(): {found._text()} is {found.kind}, not a day")
        return _DaysAdd(self.name, found)

    def first(self) -> Value:
        """The oldest day (missing when there is none)."""
        return _Agg(self.name, "first", "date")

    def last(self) -> Value:
        """The latest day (missing when there is none)."""
        return _Agg(self.name, "last", "date")

    def gap_squares(self) -> Value:
        """The sum of the squares of the gaps (days between consecutive days); 0
        with fewer than two days. The gaps' sum is ``last() - first()``."""
        return _Agg(self.name, "gap_squares", "int")


def days_input(name: str) -> DaysInput:
    """Declare an input of distinct days, oldest first, named ``name``."""
    _check_name(name)
    return DaysInput(name)


def ids_input(name: str) -> IdsInput:
    """Declare an input of record ids (a tuple of texts) named ``name``."""
    _check_name(name)
    return IdsInput(name)


def int_input(name: str) -> IntInput:
    """Declare an integer input named ``name``."""
    _check_name(name)
    return IntInput(name)


def bool_input(name: str) -> BoolInput:
    """Declare a boolean input named ``name``."""
    _check_name(name)
    return BoolInput(name)


def text_input(name: str) -> TextInput:
    """Declare a text input (or ``None``) named ``name``."""
    _check_name(name)
    return TextInput(name)


def day_input(name: str) -> DayInput:
    """Declare an input of one day (or ``None``), named ``name``."""
    _check_name(name)
    return DayInput(name)


def _check_name(name: object) -> None:
    if (
        not isinstance(name, str)
        or not name.isidentifier()
        or name.startswith("_")
        or keyword.iskeyword(name)
        or hasattr(builtins, name)
    ):
        raise UsageError(
            f"{name!r}: an input's name is an identifier not starting with _, "
            "and not a Python keyword or built-in name"
        )


def _gap_squares(days: Sequence[date]) -> int:
    return sum([(b - a).days ** 2 for a, b in pairwise(days)])


class _DaysRef(_Input):
    """A days input as a value (to give it to :meth:`DecisionList.ask`)."""

    __slots__ = ()
    KIND = "days"

    def __repr__(self) -> str:
        return f"days_input({self.name!r})"

    def _may_miss(self) -> bool:
        return False


class _DaysAdd(Value):
    """A days input with one more day (:meth:`DaysInput.add`)."""

    __slots__ = ("day", "name")

    def __init__(self, name: str, day: Value) -> None:
        self.name, self.day, self.kind = name, day, "days"

    def __repr__(self) -> str:
        return f"days_input({self.name!r}).add({self.day!r})"

    def _py(self, b: _Build) -> str:
        return f"_add_day({self.name}, {b.py(self.day)})"

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        days = env.inputs[self.name]
        day = env.share(pl, ("add_day", id(self)), self.day._pl(pl, env))
        more = days.list.concat(pl.concat_list(day)).list.unique().list.sort()
        return pl.when(day.is_null()).then(days).otherwise(more)

    def _text(self) -> str:
        return f"{self.name}.add({self.day._text()})"

    def _inputs(self) -> Iterable[str]:
        return (self.name, *self.day._inputs())

    def _may_miss(self) -> bool:
        return False


def day_in(moment: object, zone: str | tzinfo) -> Value:
    """The calendar day in ``zone`` of a moment given as whole microseconds since
    1970-01-01T00:00Z (a machine's ``at``); missing stays missing, and so is a
    moment outside Python's calendar or one whose day in the zone is (a fixed
    offset is added to the moment first).

    ``zone`` is an IANA name, a :class:`zoneinfo.ZoneInfo`, UTC or a fixed UTC
    offset (:class:`datetime.timezone`): the zones a report takes. A fixed
    offset is exact arithmetic in both engines; for a named zone both read the
    IANA rules (Python's :mod:`zoneinfo`, polars its own copy): an older copy
    on one side could put a moment next to a changed rule on another day.

    Raises:
        DefinitionError: If ``moment`` is not an integer or ``zone`` not a known zone.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    found = _int(moment, "day_in")
    if isinstance(zone, timezone):
        shift = zone.utcoffset(None) // timedelta(microseconds=1)
        return _DayIn(found, "UTC", UTC, shift)
    if isinstance(zone, ZoneInfo):
        zone = zone.key
    try:
        tz = ZoneInfo(zone) if isinstance(zone, str) else None
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        tz = None
    if tz is None:
        raise _problem(f"day_in(): {zone!r} is not a known time zone")
    return _DayIn(found, cast(str, zone), tz, 0)


class _DayIn(Value):
    __slots__ = ("moment", "shift", "tz", "zone")

    def __init__(self, moment: Value, zone: str, tz: Any, shift: int) -> None:
        self.moment, self.zone, self.tz, self.shift, self.kind = moment, zone, tz, shift, "date"

    def __repr__(self) -> str:
        return f"day_in({self.moment!r}, {self._zone_text()})"

    def _zone_text(self) -> str:
        if self.shift:
            return f"UTC{'+' if self.shift > 0 else '-'}{timedelta(microseconds=abs(self.shift))}"
        return repr(self.zone)

    def _py(self, b: _Build) -> str:
        moment = b.py(self.moment)
        if self.shift:
            return f"_day_in(_shifted({moment}, {self.shift}), {b.const(self.tz)})"
        return f"_day_in({moment}, {b.const(self.tz)})"

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        moment = self.moment._pl(pl, env).cast(pl.Int128)
        if self.shift:
            moment = moment + self.shift
        moment = env.share(pl, ("day_in", id(self), "moment"), moment)
        # a moment or a day outside Python's calendar is missing, as in Python
        # (the moment is clipped first, so the conversion is always defined)
        inside = moment.is_between(_FIRST_US, _LAST_US)
        utc = pl.from_epoch(moment.clip(_FIRST_US, _LAST_US).cast(pl.Int64), time_unit="us")
        if self.zone == "UTC":
            day = utc.dt.date()
        else:
            day = utc.dt.replace_time_zone("UTC").dt.convert_time_zone(self.zone).dt.date()
        day = env.share(pl, ("day_in", id(self), "day"), day)
        return pl.when(inside & day.cast(pl.Int32).is_between(_FIRST_DAY, _LAST_DAY)).then(day)

    def _text(self) -> str:
        return f"day_in({self.moment._text()}, {self._zone_text()})"

    def _inputs(self) -> Iterable[str]:
        return self.moment._inputs()

    def _may_miss(self) -> bool:
        return True  # a missing moment, or one outside the calendar


class _Ask(Value):
    """Another decision's named value, for inputs given here (:meth:`DecisionList.ask`)."""

    __slots__ = ("decision", "given", "name")

    def __init__(self, decision: DecisionList, name: str, given: tuple[Value, ...]) -> None:
        self.decision, self.name, self.given = decision, name, given
        self.kind = decision.values[name].kind

    def __repr__(self) -> str:
        return f"{self.decision!r}.ask({self.name!r})"

    def _py(self, b: _Build) -> str:
        fn = b.const(self.decision.value(self.name))
        return f"{fn}({', '.join(b.py(v) for v in self.given)})"

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        # the other decision over the same inputs is one compilation, however many
        # of its values are asked: its aggregates are computed once
        asked = ("ask", id(self.decision), tuple(v._text() for v in self.given))
        inner = env.asked.get(asked)
        if inner is None:
            inner = _PlEnv(
                {n: v._pl(pl, env) for n, v in zip(self.decision.inputs, self.given, strict=True)},
                f"{env.prefix}ask{len(env.asked)}_",
            )
            env.asked[asked] = inner

        def build() -> Any:
            expr = self.decision.values[self.name]._pl(pl, inner)
            # the other decision's intermediate columns come before this value
            for key, found in inner.temps.items():
                env.temps.setdefault((*asked, key), found)
            return expr

        # one column, however many cases and outputs read it
        return env.temp(pl, (*asked, self.name), build)

    def _text(self) -> str:
        pairs = zip(self.decision.inputs, self.given, strict=True)
        given = ", ".join(f"{n}={v._text()}" for n, v in pairs)
        return f"{self.decision.name}.{self.name}({given})"

    def _inputs(self) -> Iterable[str]:
        return [name for v in self.given for name in v._inputs()]

    def _may_miss(self) -> bool:
        return self.kind not in ("ids", "days")


class _Agg(Value):
    __slots__ = ("name", "op")

    def __init__(self, name: str, op: str, kind: Kind) -> None:
        self.name = name
        self.op = op
        self.kind = kind

    def __repr__(self) -> str:
        return f"days_input({self.name!r}).{self.op}()"

    def _py(self, b: _Build) -> str:
        d = self.name
        source = {
            "count": f"len({d})",
            "first": f"({d}[0] if {d} else None)",
            "last": f"({d}[-1] if {d} else None)",
            "gap_squares": f"_gap_squares({d})",
        }[self.op]
        return b.local((d, self.op), source)

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        return env.temp(pl, (self.name, self.op), lambda: self._agg(pl, env.inputs[self.name]))

    def _agg(self, pl: Any, days: Any) -> Any:
        if self.op == "count":
            return days.list.len().fill_null(0).cast(pl.Int128)
        if self.op == "first":
            return days.list.first()
        if self.op == "last":
            return days.list.last()
        # the days as day numbers, their gaps squared with list arithmetic (3x
        # faster than list.eval); the sum of the squares is at most the square of
        # the days' span, far inside an Int64
        gaps = days.cast(pl.List(pl.Int32)).cast(pl.List(pl.Int64)).list.diff(null_behavior="drop")
        return (gaps * gaps).list.sum().fill_null(0).cast(pl.Int128)

    def _text(self) -> str:
        return f"{self.name}.{self.op}()"

    def _inputs(self) -> Iterable[str]:
        return (self.name,)

    def _may_miss(self) -> bool:
        return self.op in ("first", "last")


_ARITH_KINDS: Final[Mapping[tuple[str, str, str], Kind]] = {
    ("+", "int", "int"): "int",
    ("-", "int", "int"): "int",
    ("*", "int", "int"): "int",
    ("//", "int", "int"): "int",
    ("-", "date", "date"): "int",
    ("+", "date", "int"): "date",
}


def _arith(op: str, left: object, right: object) -> Value:
    a, b = _value(left), _value(right)
    kind = _ARITH_KINDS.get((op, a.kind, b.kind))
    if kind is None:
        raise _problem(f"{a._text()} {op} {b._text()}: {op} does not take {a.kind} and {b.kind}")
    return _Arith(op, a, b, kind)


class _Arith(Value):
    __slots__ = ("a", "b", "op")

    def __init__(self, op: str, a: Value, b: Value, kind: Kind) -> None:
        self.op, self.a, self.b, self.kind = op, a, b, kind

    def __repr__(self) -> str:
        return f"({self.a!r} {self.op} {self.b!r})"

    def _py(self, b: _Build) -> str:
        if self.a.kind == "date" and self.b.kind == "int":
            return f"_plus_days({b.py(self.a)}, {b.py(self.b)})"
        if self.a.kind == "date":
            return b.guarded((self.a, self.b), lambda xy: f"({xy[0]} - {xy[1]}).days")
        op = self.op
        nonzero = (1,) if op == "//" else ()
        return b.guarded((self.a, self.b), lambda xy: f"({xy[0]} {op} {xy[1]})", nonzero=nonzero)

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        x, y = self.a._pl(pl, env), self.b._pl(pl, env)
        if self.a.kind == "date" and self.b.kind == "date":
            return (x - y).dt.total_days().cast(pl.Int128)
        if self.a.kind == "date":
            # a day past the calendar (before year 1, after 9999) is missing, as
            # Python has no such day; the days are cut to what an Int64 holds
            days = y.clip(-(2**40), 2**40).cast(pl.Int64)
            found = env.share(pl, ("plus_days", id(self)), x.cast(pl.Int64) + days)
            day = found.clip(_FIRST_DAY, _LAST_DAY).cast(pl.Int32).cast(pl.Date)
            return pl.when(found.is_between(_FIRST_DAY, _LAST_DAY)).then(day)
        if self.op == "+":
            return x + y
        if self.op == "-":
            return x - y
        if self.op == "*":
            return x * y
        return x // y

    def _text(self) -> str:
        return f"({self.a._text()} {self.op} {self.b._text()})"

    def _inputs(self) -> Iterable[str]:
        return (*self.a._inputs(), *self.b._inputs())

    def _may_miss(self) -> bool:
        if self.op == "//" or self.kind == "date":  # by zero; past the calendar
            return True
        return self.a._may_miss() or self.b._may_miss()


def _compare(op: str, left: object, right: object) -> Value:
    a, b = _value(left), _value(right)
    if a.kind != b.kind or a.kind not in ("int", "date", "text"):
        raise _problem(f"{a._text()} {op} {b._text()}: cannot compare {a.kind} with {b.kind}")
    if a.kind == "text" and op not in ("==", "!="):
        raise _problem(f"{a._text()} {op} {b._text()}: texts are only compared for equality")
    return _Compare(op, a, b)


class _Compare(Value):
    __slots__ = ("a", "b", "op")

    def __init__(self, op: str, a: Value, b: Value) -> None:
        self.op, self.a, self.b, self.kind = op, a, b, "bool"

    def __repr__(self) -> str:
        return f"({self.a!r} {self.op} {self.b!r})"

    def _py(self, b: _Build) -> str:
        op = self.op
        if op in ("==", "!="):  # Python's answers with None are the ones wanted
            return f"({b.py(self.a)} {op} {b.py(self.b)})"
        return b.guarded((self.a, self.b), lambda xy: f"({xy[0]} {op} {xy[1]})", otherwise="False")

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        x, y = self.a._pl(pl, env), self.b._pl(pl, env)
        op = self.op
        # Python's answers with a missing value: None == x is False, None != x
        # True (and None == None True); an order with one is false
        if op == "==":
            return x.eq_missing(y)
        if op == "!=":
            return x.ne_missing(y)
        found = x < y if op == "<" else x <= y if op == "<=" else x > y if op == ">" else x >= y
        return found.fill_null(False)

    def _text(self) -> str:
        return f"{self.a._text()} {self.op} {self.b._text()}"

    def _inputs(self) -> Iterable[str]:
        return (*self.a._inputs(), *self.b._inputs())

    def _may_miss(self) -> bool:
        return False


class _Logic(Value):
    __slots__ = ("op", "parts")

    def __init__(self, op: str, parts: tuple[Value, ...]) -> None:
        self.op, self.parts, self.kind = op, parts, "bool"

    def __repr__(self) -> str:
        return f" {'&' if self.op == 'and' else '|'} ".join(map(repr, self.parts))

    def _py(self, b: _Build) -> str:
        if not self._may_miss():
            return "(" + f" {self.op} ".join(b.py(p) for p in self.parts) + ")"
        # three-valued, as polars: false and missing is false, true or missing
        # true, anything else with a missing condition is missing
        found = b.py(self.parts[0])
        for part in self.parts[1:]:
            found = f"_{self.op}3({found}, {b.py(part)})"
        return found

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        found = self.parts[0]._pl(pl, env)
        for part in self.parts[1:]:
            found = found & part._pl(pl, env) if self.op == "and" else found | part._pl(pl, env)
        return found

    def _text(self) -> str:
        return "(" + f" {self.op} ".join(p._text() for p in self.parts) + ")"

    def _inputs(self) -> Iterable[str]:
        return [name for p in self.parts for name in p._inputs()]

    def _may_miss(self) -> bool:
        return any(p._may_miss() for p in self.parts)

    def _py_cond(self, b: _Build) -> str:
        # three-valued and/or hold exactly when two-valued and/or of their parts'
        # holding do: Python's own, short-circuiting
        return "(" + f" {self.op} ".join(b.cond(p) for p in self.parts) + ")"


class _Not(Value):
    __slots__ = ("part",)

    def __init__(self, part: Value) -> None:
        self.part, self.kind = part, "bool"

    def __repr__(self) -> str:
        return f"~{self.part!r}"

    def _py(self, b: _Build) -> str:
        if self.part._may_miss():
            return b.guarded((self.part,), lambda x: f"(not {x[0]})")
        return f"(not {b.py(self.part)})"

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        return ~self.part._pl(pl, env)

    def _text(self) -> str:
        return f"not {self.part._text()}"

    def _inputs(self) -> Iterable[str]:
        return self.part._inputs()

    def _may_miss(self) -> bool:
        return self.part._may_miss()

    def _py_cond(self, b: _Build) -> str:
        # holds when the part is false, not when it is missing
        if self.part._may_miss():
            return b.guarded((self.part,), lambda x: f"(not {x[0]})", otherwise="False")
        return f"(not {b.cond(self.part)})"


# ----------------------------------------------------------------- exact figures


def _int(value: object, what: str) -> Value:
    found = _value(value)
    if found.kind != "int":
        raise _problem(f"{what}: {found._text()} is {found.kind}, not an integer")
    return found


def _places(places: object) -> int:
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 6:
        raise _problem(f"places must be an integer from 0 to 6, not {places!r}")
    return places


class _Call(Value):
    """A value computed by one named helper from integer arguments (both engines
    have the helper: Python's here, polars' in :func:`_pl_helper`)."""

    __slots__ = ("args", "fn", "places")

    def __init__(self, fn: str, args: tuple[Value, ...], kind: Kind, places: int = 0) -> None:
        self.fn, self.args, self.kind, self.places = fn, args, kind, places

    def __repr__(self) -> str:
        return f"{self.fn}({', '.join(map(repr, self.args))}, places={self.places})"

    def _py(self, b: _Build) -> str:
        if self.fn == "grouped":  # inline: one of the commonest parts of a sentence
            return b.guarded(self.args, lambda x: f"format({x[0]}, ',')")
        # the helpers answer None for a missing argument or one with no answer
        args = ", ".join(b.py(a) for a in self.args)
        if self.places < 0:  # the places are the last argument
            return f"_{self.fn}({args})"
        return f"_{self.fn}({args}, {self.places})"

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        def share(step: str, expr: Any) -> Any:
            return env.share(pl, ("call", id(self), step), expr)

        args = [share(f"arg{i}", a._pl(pl, env)) for i, a in enumerate(self.args)]
        if self.places < 0:
            return _pl_helper(pl, self.fn, args[:-1], args[-1], share)
        return _pl_helper(pl, self.fn, args, self.places, share)

    def _text(self) -> str:
        return f"{self.fn}({', '.join(a._text() for a in self.args)})"

    def _inputs(self) -> Iterable[str]:
        return [name for a in self.args for name in a._inputs()]

    def _may_miss(self) -> bool:
        # a zero denominator, a negative radicand, an exponent or places out of range
        return self.fn != "grouped" or self.args[0]._may_miss()


def round_half_up(numerator: object, denominator: object) -> Value:
    """``numerator / denominator`` rounded to an integer, halves up (toward the
    larger integer: 2.5 is 3, -2.5 is -2); missing for a zero denominator."""
    args = (_int(numerator, "round_half_up"), _int(denominator, "round_half_up"))
    return _Call("half_up", args, "int")


def ratio_text(numerator: object, denominator: object, places: int | Value) -> Value:
    """``numerator / denominator`` as a text with ``places`` decimal places, the
    magnitude rounded half even, then the sign: ``ratio_text(7, 2, 1)`` is
    ``"3.5"``, ``ratio_text(1, 8, 2)`` is ``"0.12"``, ``ratio_text(-1, 8, 2)``
    ``"-0.12"``, ``ratio_text(-1, 800, 2)`` ``"0.00"``; missing for a zero
    denominator.

    ``places`` may be a value (an integer from 0 to 18 per client, missing for
    another: a mean amount in the places of the amounts it is the mean of)."""
    args = (_int(numerator, "ratio_text"), _int(denominator, "ratio_text"))
    if isinstance(places, Value):
        return _Call("ratio_text", (*args, _int(places, "ratio_text")), "text", -1)
    return _Call("ratio_text", args, "text", _places(places))


def pow10(exponent: object) -> Value:
    """``10 ** exponent`` for an integer exponent from 0 to 36 (missing for
    another)."""
    return _Call("pow10", (_int(exponent, "pow10"),), "int")


def lookup(value: object, mapping: Mapping[str, str]) -> Value:
    """The text ``mapping`` gives for a text value (missing for one it does not name).

    Raises:
        DefinitionError: If ``value`` is not a text, or ``mapping`` maps
            anything but texts to texts.
    """
    found = _value(value)
    if found.kind != "text":
        raise _problem(f"lookup(): {found._text()} is {found.kind}, not a text")
    table = dict(mapping)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise _problem("lookup(): the mapping maps texts to texts")
    return _Lookup(found, table)


class _Lookup(Value):
    __slots__ = ("mapping", "value")

    def __init__(self, value: Value, mapping: dict[str, str]) -> None:
        self.value, self.mapping, self.kind = value, mapping, "text"

    def __repr__(self) -> str:
        return f"lookup({self.value!r}, {self.mapping!r})"

    def _py(self, b: _Build) -> str:
        return f"{b.const(self.mapping)}.get({b.py(self.value)})"

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        keys = list(self.mapping)
        return self.value._pl(pl, env).replace_strict(
            keys, [self.mapping[k] for k in keys], default=None, return_dtype=pl.String
        )

    def _text(self) -> str:
        return f"lookup({self.value._text()})"

    def _inputs(self) -> Iterable[str]:
        return self.value._inputs()


def sqrt_ratio_text(radicand: object, denominator: object, places: int) -> Value:
    """``sqrt(radicand) / denominator`` as a text with ``places`` decimal places,
    rounded half even, exactly (an integer square root, not a float's); missing
    for a negative radicand or a zero denominator."""
    args = (_int(radicand, "sqrt_ratio_text"), _int(denominator, "sqrt_ratio_text"))
    return _Call("sqrt_ratio_text", args, "text", _places(places))


def grouped(number: object) -> Value:
    """An integer as a text with thousands separators: ``2,345``, ``-1,000``."""
    return _Call("grouped", (_int(number, "grouped"),), "text")


def _decimal_text(scaled: int, places: int) -> str:
    if not places:
        return str(scaled)
    unit = 10**places
    return f"{scaled // unit}.{scaled % unit:0{places}d}"


def _pow10(exponent: int | None, places: int) -> int | None:
    if exponent is None or not 0 <= exponent <= _MAX_POW10:
        return None
    return int(10**exponent)


def _half_up(numerator: int | None, denominator: int | None, places: int) -> int | None:
    if numerator is None or not denominator:
        return None
    return (2 * numerator + denominator) // (2 * denominator)


def ratio_digits(numerator: int, denominator: int, places: int) -> str:
    """``numerator / denominator`` (a non-zero denominator) with ``places``
    decimal places, rounded half even, exactly: what :func:`ratio_text` prints
    (its Python side), for code that prints a figure outside a decision list.

    Raises:
        ZeroDivisionError: For a zero denominator.
    """
    if not denominator:
        raise ZeroDivisionError(f"ratio_digits({numerator}, 0, {places})")
    return _digits(numerator, denominator, places)


def _digits(numerator: int, denominator: int, places: int) -> str:
    # the magnitude rounded half even, then the sign: -1/8 is -0.12, as 1/8 is 0.12
    q, r = divmod(abs(numerator) * 10**places, abs(denominator))
    if 2 * r > abs(denominator) or (2 * r == abs(denominator) and q % 2):
        q += 1
    found = _decimal_text(q, places)
    return "-" + found if q and (numerator < 0) != (denominator < 0) else found


def _ratio_text(numerator: int | None, denominator: int | None, places: int | None) -> str | None:
    if numerator is None or not denominator or places is None or not 0 <= places <= _MAX_PLACES:
        return None
    return _digits(numerator, denominator, places)


def _sqrt_ratio_text(radicand: int | None, denominator: int | None, places: int) -> str | None:
    if radicand is None or radicand < 0 or not denominator:
        return None
    scaled = radicand * 100**places
    magnitude = abs(denominator)
    q = math.isqrt(scaled) // magnitude
    # q <= sqrt(scaled) / d < q + 1; the half is q + 1/2: compare squares
    twice = (2 * q + 1) ** 2 * magnitude * magnitude
    if twice < 4 * scaled or (twice == 4 * scaled and q % 2):
        q += 1
    found = _decimal_text(q, places)
    return "-" + found if q and denominator < 0 else found


def _grouped(number: int, places: int) -> str:
    return f"{number:,}"


def _plus_days(day: date | None, days: int | None) -> date | None:
    if day is None or days is None:
        return None
    try:
        return day + timedelta(days=days)
    except OverflowError:  # before year 1 or after 9999: no such day
        return None


def _and3(a: bool | None, b: bool | None) -> bool | None:
    if (a is not None and not a) or (b is not None and not b):
        return False
    return None if a is None or b is None else True


def _or3(a: bool | None, b: bool | None) -> bool | None:
    if a or b:
        return True
    return None if a is None or b is None else False


def _append(ids: tuple[str, ...], item: str | None) -> tuple[str, ...]:
    return ids if item is None else (*ids, item)


def _add_day(days: tuple[date, ...], day: date | None) -> tuple[date, ...]:
    if day is None or day in days:
        return days
    return tuple(sorted((*days, day)))


def _day_in(moment: int | None, tz: Any) -> date | None:
    if moment is None:
        return None
    try:
        return (_EPOCH + timedelta(microseconds=moment)).astimezone(tz).date()
    except OverflowError:  # the moment or its day is outside the calendar: no such day
        return None


def _shifted(moment: int | None, shift: int) -> int | None:
    return None if moment is None else moment + shift


def _merged(ids: tuple[str, ...], more: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*ids, *more)))


def _append_new(ids: tuple[str, ...], item: str | None) -> tuple[str, ...]:
    return ids if item is None or item in ids else (*ids, item)


def _sorted_by(ids: tuple[str, ...], keys: tuple[str, ...]) -> tuple[str, ...]:
    pairs = zip(keys, ids, strict=False)  # the shorter says how many
    return tuple(v for _, v in sorted(pairs, key=lambda kv: kv[0]))


def _tail(ids: tuple[str, ...], n: int) -> tuple[str, ...]:
    return ids[max(len(ids) - n, 0) :]


_HELPERS: Final[Mapping[str, Callable[..., Any]]] = {
    "_half_up": _half_up,
    "_shifted": _shifted,
    "_merged": _merged,
    "_pow10": _pow10,
    "_ratio_text": _ratio_text,
    "_sqrt_ratio_text": _sqrt_ratio_text,
    "_grouped": _grouped,
    "_gap_squares": _gap_squares,
    "_plus_days": _plus_days,
    "_and3": _and3,
    "_or3": _or3,
    "_append": _append,
    "_append_new": _append_new,
    "_sorted_by": _sorted_by,
    "_add_day": _add_day,
    "_day_in": _day_in,
    "_tail": _tail,
}


def _pl_decimal_text(pl: Any, scaled: Any, places: Any) -> Any:
    """``scaled / 10**places`` written with ``places`` decimals (``scaled`` a
    shared column: it is read twice)."""
    if isinstance(places, int):
        if not places:
            return scaled.cast(pl.String)
        unit = pl.lit(10**places, dtype=pl.Int128)
        return pl.concat_str(
            (scaled // unit).cast(pl.String),
            pl.lit("."),
            (scaled % unit).cast(pl.String).str.zfill(places),
        )
    unit = pl.lit(10, dtype=pl.Int128).pow(places)
    return (
        pl.when(places == 0)
        .then(scaled.cast(pl.String))
        .otherwise(
            pl.concat_str(
                (scaled // unit).cast(pl.String),
                pl.lit("."),
                (scaled % unit).cast(pl.String).str.zfill(places.cast(pl.Int64)),
            )
        )
    )


def _pl_isqrt(pl: Any, n: Any, share: _Share) -> Any:
    """The integer square root of an ``Int128`` expression below 2**100: a float
    root (off by less than one there) corrected by comparing squares."""
    s = share("root", n.cast(pl.Float64).sqrt().floor().cast(pl.Int128))
    s = share("root_down", pl.when(s * s > n).then(s - 1).otherwise(s))
    return pl.when((s + 1) * (s + 1) <= n).then(s + 1).otherwise(s)


#: ``share(step, expression)``: the expression as a column computed once
#: (:meth:`_PlEnv.share`), under a name for the step of one helper call.
_Share = Callable[[str, Any], Any]


def _pl_helper(pl: Any, fn: str, args: list[Any], places: Any, share: _Share) -> Any:
    """A helper's polars expression; ``args`` are shared columns (or constants),
    and ``share`` makes a column of each step read more than once."""
    one = pl.lit(1, dtype=pl.Int128)
    two = pl.lit(2, dtype=pl.Int128)
    if fn == "half_up":
        num, den = args
        return (two * num + den) // (two * den)
    if fn == "pow10":
        (exponent,) = args
        return pl.when(exponent.is_between(0, _MAX_POW10)).then(
            pl.lit(10, dtype=pl.Int128).pow(exponent.clip(0, _MAX_POW10))
        )
    if fn == "ratio_text":
        num, den = args
        if isinstance(places, int):
            unit = pl.lit(10**places, dtype=pl.Int128)
        else:  # places out of range: missing (the clip keeps the power defined)
            num = share("num", pl.when(places.is_between(0, _MAX_PLACES)).then(num))
            places = share("places", places.clip(0, _MAX_PLACES))
            unit = share("unit", pl.lit(10, dtype=pl.Int128).pow(places))
        # the magnitude rounded half even (a zero denominator: missing), then the sign
        size = share("size", den.abs())
        scaled = share("scaled", num.abs() * unit)
        q = share("q", scaled // size)
        r = scaled % size
        up = (two * r > size) | ((two * r == size) & (q % two == one))
        q = share("rounded", q + up.cast(pl.Int128))
        return _pl_signed(pl, q, (num < 0) != (den < 0), _pl_decimal_text(pl, q, places))
    if fn == "sqrt_ratio_text":
        radicand, den = args
        scaled = share(
            "scaled", pl.when(radicand >= 0).then(radicand) * pl.lit(100**places, dtype=pl.Int128)
        )
        size = share("size", den.abs())
        q = share("q", _pl_isqrt(pl, scaled, share) // size)
        twice = (two * q + one) * (two * q + one) * size * size
        four = pl.lit(4, dtype=pl.Int128) * scaled
        up = (twice < four) | ((twice == four) & (q % two == one))
        q = share("rounded", q + up.cast(pl.Int128))
        return _pl_signed(pl, q, den < 0, _pl_decimal_text(pl, q, places))
    assert fn == "grouped"
    (number,) = args
    # 1234567 -> "7654321" -> "765,432,1" -> "1,234,567"; the sign put back after
    digits = (
        number.abs()
        .cast(pl.String)
        .str.reverse()
        .str.replace_all(r"(\d{3})", "${1},")
        .str.strip_suffix(",")
        .str.reverse()
    )
    return _pl_signed(pl, number, number < 0, digits)


def _pl_signed(pl: Any, magnitude: Any, negative: Any, digits: Any) -> Any:
    """``digits`` with a minus sign where ``negative`` and the magnitude is not 0
    (missing where ``digits`` is; ``digits`` is read once)."""
    sign = pl.when(negative & (magnitude != 0)).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(sign, digits)


def _text_value(item: object, op: str) -> Value:
    value = _value(item)
    if value.kind != "text":
        raise _problem(f"{op}(): {value._text()} is {value.kind}, not a text (a record id)")
    return value


def _count(n: object, op: str) -> Value:
    if type(n) is not int or n < 0:
        raise _problem(f"{op}(): give a whole number of ids, 0 or more, not {n!r}")
    return _Lit(n, "int")


#: What each operation on record ids gives.
_IDS_KINDS: Final[Mapping[str, Kind]] = {
    "append": "ids",
    "append_new": "ids",
    "merged": "ids",
    "sorted": "ids",
    "sorted_by": "ids",
    "size": "int",
    "head": "ids",
    "tail": "ids",
    "joined": "text",
    "contains": "bool",
}


class _Ids(Value):
    """An operation on record ids (see :meth:`Value.append` and the others)."""

    __slots__ = ("arg", "ids", "op")

    def __init__(self, op: str, ids: Value, arg: Value | None = None) -> None:
        if ids.kind != "ids":
            raise _problem(f"{op}(): {ids._text()} is {ids.kind}, not record ids")
        self.op, self.ids, self.arg, self.kind = op, ids, arg, _IDS_KINDS[op]

    def __repr__(self) -> str:
        return f"{self.ids!r}.{self.op}({'' if self.arg is None else repr(self.arg)})"

    def _py(self, b: _Build) -> str:
        x = b.py(self.ids)
        y = None if self.arg is None else b.py(self.arg)
        op = self.op
        if op == "append":
            return f"_append({x}, {y})"
        if op == "append_new":
            return f"_append_new({x}, {y})"
        if op == "merged":
            return f"_merged({x}, {y})"
        if op == "sorted":
            return f"tuple(sorted({x}))"
        if op == "sorted_by":
            return f"_sorted_by({x}, {y})"
        if op == "size":
            return f"len({x})"
        if op == "head":
            return f"{x}[:{y}]"
        if op == "tail":
            return f"_tail({x}, {y})"
        if op == "joined":
            return f"{y}.join({x})"
        return f"({y} in {x})"

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        x = self.ids._pl(pl, env)
        op = self.op
        if op == "size":
            return x.list.len().cast(pl.Int128)
        if op == "sorted":
            return x.list.sort()
        assert self.arg is not None
        if op in ("head", "tail", "joined"):
            # a constant: the count or the separator
            assert isinstance(self.arg, _Lit)
            n = self.arg.value
            if op == "joined":
                return x.list.join(n)
            return x.list.head(n) if op == "head" else x.list.tail(n)
        y = self.arg._pl(pl, env)
        if op in ("append", "append_new", "sorted_by"):  # they read the ids twice
            x = env.share(pl, ("ids", id(self), "ids"), x)
        if op in ("append", "append_new"):  # and the id
            y = env.share(pl, ("ids", id(self), "arg"), y)
        if op == "sorted_by":
            paired = y.list.head(x.list.len())
            order = paired.list.eval(
                pl.int_range(pl.len()).sort_by(pl.element(), maintain_order=True)
            )
            return x.list.gather(order)
        if op == "merged":
            return x.list.concat(y).list.unique(maintain_order=True)
        if op == "append":
            return pl.when(y.is_null()).then(x).otherwise(x.list.concat(pl.concat_list(y)))
        if op == "append_new":
            known = y.is_null() | x.list.contains(y).fill_null(False)
            return pl.when(known).then(x).otherwise(x.list.concat(pl.concat_list(y)))
        return x.list.contains(y).fill_null(False)

    def _text(self) -> str:
        arg = "" if self.arg is None else self.arg._text()
        return f"{self.ids._text()}.{self.op}({arg})"

    def _inputs(self) -> Iterable[str]:
        return (*self.ids._inputs(), *(() if self.arg is None else self.arg._inputs()))

    def _may_miss(self) -> bool:
        return False


class _Text(Value):
    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Value, ...]) -> None:
        self.parts, self.kind = parts, "text"

    def __repr__(self) -> str:
        return f"text({', '.join(map(repr, self.parts))})"

    def _py(self, b: _Build) -> str:
        if not self.parts:
            return "''"

        def joined(sources: list[str]) -> str:
            pieces = []
            for part, source in zip(self.parts, sources, strict=True):
                if part.kind == "text":
                    pieces.append(source)
                elif part.kind == "date":
                    pieces.append(f"{source}.isoformat()")
                else:
                    pieces.append(f"str({source})")
            return "(" + " + ".join(pieces) + ")"

        # a missing part makes the text missing (as polars' concat_str)
        return b.guarded(self.parts, joined)

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        if not self.parts:
            return pl.lit("")
        return pl.concat_str([p._pl(pl, env).cast(pl.String) for p in self.parts])

    def _text(self) -> str:
        return f"text({', '.join(p._text() for p in self.parts)})"

    def _inputs(self) -> Iterable[str]:
        return [name for p in self.parts for name in p._inputs()]

    def _may_miss(self) -> bool:
        return any(p._may_miss() for p in self.parts)


def text(*parts: object) -> Value:
    """A text made of ``parts``: texts as they are, integers in digits (no
    separators: see :func:`grouped`), days as ``YYYY-MM-DD``; missing when a
    part is missing (a sentence never prints "None").

    Raises:
        DefinitionError: For a boolean part.
    """
    values = tuple(_value(p) for p in parts)
    for v in values:
        if v.kind == "bool":
            raise _problem(f"text(): {v._text()} is a condition, not a text")
        if v.kind == "ids":
            raise _problem(f"text(): {v._text()} is record ids: write {v._text()}.joined()")
        if v.kind == "days":
            raise _problem(f"text(): {v._text()} is days: print an aggregate of them")
    return _Text(values)


def choose(condition: object, then: object, otherwise: object) -> Value:
    """``then`` where ``condition`` holds, else ``otherwise`` (two values of one kind):
    an output that depends on a condition inside a case (a register that gains an id
    only when something is new, say).

    Raises:
        DefinitionError: If ``condition`` is not a condition or the two values differ
            in kind.
    """
    cond = _boolean(_value(condition))
    a, b = _value(then), _value(otherwise)
    if a.kind != b.kind:
        raise _problem(f"choose(): {a._text()} is {a.kind}, {b._text()} is {b.kind}")
    return _Choose(cond, a, b)


def plural(number: object, noun: str, plural_noun: str | None = None) -> Value:
    """``1 gap``, ``2,345 gaps``: a count with separators and its noun in the right number."""
    n = _int(number, "plural")
    many = plural_noun or noun + "s"
    return _Text((grouped(n), _Choose(n == 1, lit(f" {noun}"), lit(f" {many}"))))


class _Choose(Value):
    """``then`` where ``cond`` holds, else ``otherwise`` (:func:`choose`)."""

    __slots__ = ("cond", "otherwise", "then")

    def __init__(self, cond: Value, then: Value, otherwise: Value) -> None:
        self.cond, self.then, self.otherwise, self.kind = cond, then, otherwise, then.kind

    def __repr__(self) -> str:
        return f"({self.then!r} if {self.cond!r} else {self.otherwise!r})"

    def _py(self, b: _Build) -> str:
        return f"({b.py(self.then)} if {b.cond(self.cond)} else {b.py(self.otherwise)})"

    def _pl(self, pl: Any, env: _PlEnv) -> Any:
        return (
            pl.when(self.cond._pl(pl, env))
            .then(self.then._pl(pl, env))
            .otherwise(self.otherwise._pl(pl, env))
        )

    def _text(self) -> str:
        return f"({self.then._text()} if {self.cond._text()} else {self.otherwise._text()})"

    def _inputs(self) -> Iterable[str]:
        return (*self.cond._inputs(), *self.then._inputs(), *self.otherwise._inputs())

    def _may_miss(self) -> bool:
        return self.then._may_miss() or self.otherwise._may_miss()


# --------------------------------------------------------------------- decisions


class Case:
    """One case of a decision: its condition (None: always) and its outputs.

    ``Case(n == 1, verdict="one_off", evidence=text(...))``; an output may be a
    :class:`Value`, a days input (a register of days kept as it is) or a
    constant (``None`` for a missing value).

    Attributes:
        when: The condition, or None for the last case.
        then: The outputs by name.
    """

    __slots__ = ("_then", "_when")

    def __init__(self, when: Value | None, /, **then: object) -> None:
        self._when = None if when is None else _boolean(_value(when))
        outputs = {k: _output(v) for k, v in then.items()}
        self._then: Mapping[str, Value] = MappingProxyType(outputs)

    @property
    def when(self) -> Value | None:
        """The condition, or None for the last case."""
        return self._when

    @property
    def then(self) -> Mapping[str, Value]:
        """The outputs by name (read-only)."""
        return self._then

    def __repr__(self) -> str:
        outs = ", ".join(f"{k}={v._text()}" for k, v in self.then.items())
        return f"Case({'None' if self.when is None else self.when._text()}, {outs})"


def _output(value: object) -> Value:
    """A case's output as a value: a days input kept as it is, a constant raw."""
    if isinstance(value, Value):
        return value
    if isinstance(value, DaysInput):
        return _DaysRef(value.name)
    return _Raw(value)


class _Raw(Value):
    """An output constant whose kind is the output's (``None`` included)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value
        self.kind = "text"

    def _text(self) -> str:
        return repr(self.value)

    def _inputs(self) -> Iterable[str]:
        return ()

    def _may_miss(self) -> bool:
        return self.value is None


@attrs.frozen(eq=False, repr=False)
class DecisionList:
    """A first-match list of cases over a client's inputs (build one with :meth:`define`).

    Call it with the inputs by name: ``decision(days=(...), as_of_day=d)``
    returns the outputs as a tuple, in the order of ``outputs``.

    Attributes:
        name: The decision's name (in errors and documentation).
        inputs: The inputs' names, in the order the compiled function takes them.
        input_kinds: Each input's kind (``int``, ``bool``, ``date``, ``text``, or
            ``days`` for distinct days), by name.
        outputs: The outputs' names and kinds, in order.
        cases: The cases, in order.
        values: Named values the decision exposes on their own (:meth:`value`).
    """

    name: str
    inputs: tuple[str, ...]
    input_kinds: Mapping[str, str]
    outputs: Mapping[str, Kind]
    cases: tuple[Case, ...]
    values: Mapping[str, Value]
    _fn: Callable[..., tuple[Any, ...]]
    #: The compiled values, by the tuple of names asked for (filled on demand).
    _value_fns: dict[tuple[str, ...], Callable[..., Any]]

    @classmethod
    def define(
        cls,
        name: str,
        *,
        inputs: Sequence[DaysInput | DayInput | IntInput | TextInput | BoolInput | IdsInput],
        outputs: Mapping[str, Kind],
        cases: Sequence[Case],
        values: Mapping[str, Value] | None = None,
    ) -> DecisionList:
        """Declare a decision; its cases are checked and compiled to Python once.

        Args:
            name: The decision's name.
            inputs: Its inputs (:func:`days_input`, :func:`day_input`,
                :func:`int_input`, :func:`text_input`, :func:`bool_input`,
                :func:`ids_input`).
            outputs: Each output's name and kind, in order.
            cases: The cases, first match wins; the last has no condition.
            values: Named values to evaluate on their own (a verdict's
                condition another module asks, say).

        Raises:
            DefinitionError: If a case is unconditional before the last, the last
                has a condition, a case misses an output or gives an unknown one,
                an output has the wrong kind, or a value reads an undeclared input.
        """
        names = tuple(i.name for i in inputs)
        problems: list[str] = []
        if len(set(names)) != len(names):
            problems.append(f"inputs named twice: {', '.join(names)}")
        for out, kind in outputs.items():
            if kind not in _KINDS:
                problems.append(f"output {out!r}: unknown kind {kind!r}")
        if not cases:
            problems.append("no case")
        for n, case in enumerate(cases):
            last = n == len(cases) - 1
            if case.when is None and not last:
                problems.append(f"case {n + 1} has no condition but is not the last")
            if case.when is not None and last:
                problems.append("the last case has a condition: end with Case(None, ...)")
            missing = [o for o in outputs if o not in case.then]
            extra = [o for o in case.then if o not in outputs]
            if missing:
                problems.append(f"case {n + 1} does not give {', '.join(missing)}")
            if extra:
                problems.append(f"case {n + 1} gives unknown outputs {', '.join(extra)}")
            for out, value in case.then.items():
                if out in outputs and not isinstance(value, _Raw) and value.kind != outputs[out]:
                    problems.append(f"case {n + 1}: {out} is {value.kind}, declared {outputs[out]}")
                if out in outputs and isinstance(value, _Raw) and value.value is not None:
                    try:
                        if not _fits(value.value, outputs[out]):
                            problems.append(
                                f"case {n + 1}: {out} = {value.value!r} is not {outputs[out]}"
                            )
                    except DefinitionError as e:
                        problems.extend(e.problems)
        named = dict(values or {})
        read = [
            name
            for case in cases
            for v in (case.when, *case.then.values())
            if v is not None
            for name in v._inputs()
        ] + [name for v in named.values() for name in v._inputs()]
        unknown = sorted(set(read) - set(names))
        if unknown:
            problems.append(f"reads undeclared inputs {', '.join(unknown)}")
        if problems:
            raise DefinitionError(machine=name, kind="decision list", problems=problems)
        fn = _compile_cases(name, names, outputs, tuple(cases))
        value_fns: dict[tuple[str, ...], Callable[..., Any]] = {}
        return cls(
            name=name,
            inputs=names,
            input_kinds=MappingProxyType(
                {i.name: i.kind if isinstance(i, _Input) else "days" for i in inputs}
            ),
            outputs=dict(outputs),
            cases=tuple(cases),
            values=named,
            fn=fn,
            value_fns=value_fns,
        )

    def __call__(self, **inputs: Any) -> tuple[Any, ...]:
        """The outputs of the first case that matches ``inputs`` (pure Python)."""
        try:
            args = [inputs[n] for n in self.inputs]
        except KeyError as e:
            raise UsageError(f"decision {self.name!r}: input {e.args[0]!r} not given") from None
        return self._fn(*args)

    @property
    def function(self) -> Callable[..., tuple[Any, ...]]:
        """The compiled decision, taking the inputs positionally (for hot loops)."""
        return self._fn

    def value(self, *names: str) -> Callable[..., Any]:
        """The named values ``names`` compiled into one function of the inputs
        (taken positionally): it returns the value, or a tuple of them in the
        order asked for several. Compiled once per tuple of names."""
        found = self._value_fns.get(names)
        if found is None:
            unknown = [n for n in names if n not in self.values]
            if unknown or not names:
                raise UsageError(
                    f"decision {self.name!r} has no value named {', '.join(map(repr, unknown))}"
                    if unknown
                    else f"decision {self.name!r}: name a value"
                )
            found = _compile_values(self.name, names, self.inputs, self.values)
            self._value_fns[names] = found
        return found

    def over(self, frame: Any, columns: Mapping[str, Any]) -> Any:
        """Decide every row of a polars frame: the frame with the outputs added.

        The aggregates and named values are computed once each, as columns of
        their own (dropped at the end); each output is then one ``when/then``
        chain over the cases.

        Args:
            frame: A polars ``LazyFrame`` (or ``DataFrame``), one row per client.
            columns: A polars expression over ``frame`` for each input: a
                ``list[date]`` (sorted, distinct days) for a days input, a
                ``Date`` for a day, an integer for an integer, a ``String`` for a text,
                a ``Boolean`` for a boolean.

        Returns:
            A ``LazyFrame``: ``frame``'s columns, then the outputs in order
            (integers as ``Int64``, days as ``Date``).

        Raises:
            UsageError: If an input has no expression, or the frame has a column
                named like an output (it would be replaced).
        """
        lazy = frame.lazy()
        taken = [out for out in self.outputs if out in lazy.collect_schema().names()]
        if taken:
            raise UsageError(
                f"decision {self.name!r}: the frame already has columns named like its "
                f"outputs: {', '.join(taken)}; rename them first"
            )
        temps, outputs = self.expressions(columns)
        for name, expr in temps:
            lazy = lazy.with_columns(expr.alias(name))
        return lazy.with_columns(outputs).drop([name for name, _ in temps])

    def expressions(
        self, columns: Mapping[str, Any], *, prefix: str = "__decision_"
    ) -> tuple[list[tuple[str, Any]], list[Any]]:
        """The decision as polars expressions, to put in a query of one's own
        (:meth:`over` is this, applied to a frame).

        Args:
            columns: A polars expression for each input (as for :meth:`over`).
            prefix: The names of the intermediate columns start with it (give
                each decision of one query its own).

        Returns:
            The intermediate columns as ``(name, expression)``, in the order to
            add them (each reads only earlier ones), and each output's expression,
            aliased to the output's name, in order (integers as ``Int64``).

        Raises:
            UsageError: If an input has no expression.
        """
        from relcycle.columnar._source import import_polars

        pl = import_polars()
        temps, conditions, values = self.case_expressions(columns, prefix=prefix)
        outputs: list[Any] = []
        for out in self.outputs:
            chain: Any = None
            for cond, given in zip(conditions, values, strict=True):
                expr = given[out]
                if cond is None:
                    chain = expr if chain is None else chain.otherwise(expr)
                else:
                    chain = (pl.when if chain is None else chain.when)(cond).then(expr)
            outputs.append(chain.alias(out))
        return temps, outputs

    def case_expressions(
        self, columns: Mapping[str, Any], *, prefix: str = "__decision_"
    ) -> tuple[list[tuple[str, Any]], list[Any], list[dict[str, Any]]]:
        """The decision as polars expressions, case by case: the pieces
        :meth:`expressions` chains, for a query that combines the cases its own
        way (the columnar fold of a machine chains them into its registers'
        and timers' columns).

        Args:
            columns: A polars expression for each input (as for :meth:`over`).
            prefix: The names of the intermediate columns start with it.

        Returns:
            The intermediate columns as ``(name, expression)`` in order, each
            case's condition (a boolean expression, missing read as false; None
            for the last case) and each case's outputs by name (integers as
            ``Int64``). A row is the first case's whose condition holds.

        Raises:
            UsageError: If an input has no expression.
        """
        from relcycle.columnar._source import import_polars

        pl = import_polars()
        missing = [n for n in self.inputs if n not in columns]
        if missing:
            raise UsageError(f"decision {self.name!r}: no column for {', '.join(missing)}")
        env = _PlEnv(columns, prefix)
        conditions: list[Any] = []
        values: list[dict[str, Any]] = []
        for case in self.cases:
            when = case.when
            conditions.append(None if when is None else when._pl(pl, env).fill_null(False))
            given: dict[str, Any] = {}
            for out, kind in self.outputs.items():
                value = case.then[out]
                expr = (
                    _pl_lit(pl, value.value, kind)
                    if isinstance(value, _Raw)
                    else value._pl(pl, env)
                )
                given[out] = expr.cast(pl.Int64) if kind == "int" else expr
            values.append(given)
        return list(env.temps.values()), conditions, values

    def ask(self, name: str, **inputs: object) -> Value:
        """This decision's named value ``name`` as a value of another decision, for
        the inputs given (values of that decision: the regularity rule's verdict
        over a register of days, say). Python calls this decision's compiled value;
        polars compiles it into the other decision's query.

        Raises:
            DefinitionError: If there is no such value, an input is missing or
                extra, or of another kind than this decision reads.
        """
        if name not in self.values:
            raise _problem(f"ask(): decision {self.name!r} has no value named {name!r}")
        extra = sorted(set(inputs) - set(self.inputs))
        missing = [n for n in self.inputs if n not in inputs]
        if extra or missing:
            raise _problem(
                f"ask(): decision {self.name!r} takes {', '.join(self.inputs)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "")
            )
        given = []
        for n in self.inputs:
            value = _value(inputs[n])
            if value.kind != self.input_kinds[n]:
                raise _problem(
                    f"ask(): {self.name}'s input {n} is {self.input_kinds[n]}, "
                    f"not {value.kind} ({value._text()})"
                )
            given.append(value)
        return _Ask(self, name, tuple(given))

    def constants(self, output: str) -> tuple[object, ...]:
        """The constant values the cases give for ``output`` (``None`` included),
        in case order; a case that computes it is left out. A caller checks with
        them what it can before any input is known (a machine's event names)."""
        found: list[object] = []
        for case in self.cases:
            value = case.then[output]
            if isinstance(value, _Raw | _Lit):
                found.append(value.value)
        return tuple(found)

    def describe(self) -> str:
        """The cases in words, one per line (for documentation and explanations)."""
        lines = []
        for case in self.cases:
            cond = "otherwise" if case.when is None else f"when {case.when._text()}"
            outs = ", ".join(f"{k} = {v._text()}" for k, v in case.then.items())
            lines.append(f"{cond}: {outs}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<DecisionList {self.name!r}: {len(self.cases)} cases>"


def _compile_cases(
    name: str, inputs: tuple[str, ...], outputs: Mapping[str, Kind], cases: tuple[Case, ...]
) -> Callable[..., tuple[Any, ...]]:
    counting = _Build()
    _case_lines(counting, outputs, cases)
    b = _Build(counting.sharing_found())
    return _function(name, inputs, b, _case_lines(b, outputs, cases))  # type: ignore[no-any-return]


def _case_lines(b: _Build, outputs: Mapping[str, Kind], cases: tuple[Case, ...]) -> list[str]:
    """The body of a decision's function: per case, the shared values it is the
    first to read, its condition, and its outputs."""
    body: list[str] = []
    for i, case in enumerate(cases):
        b.where = (i, False)
        condition = None if case.when is None else b.cond(case.when)
        b.where = (i, True)
        values = []
        for out in outputs:
            value = case.then[out]
            values.append(
                (repr(value.value) if value.value is None else b.const(value.value))
                if isinstance(value, _Raw)
                else b.py(value)
            )
        result = "(" + ", ".join(values) + ",)"
        before, inside = b.assigned()
        body += [f"    {line}" for line in before]
        if condition is None:
            body += [f"    {line}" for line in inside]
            body.append(f"    return {result}")
        else:
            body.append(f"    if {condition}:")
            body += [f"        {line}" for line in inside]
            body.append(f"        return {result}")
    return body


def _compile_values(
    name: str, keys: tuple[str, ...], inputs: tuple[str, ...], values: Mapping[str, Value]
) -> Callable[..., Any]:
    def lines(b: _Build) -> list[str]:
        sources = [b.py(values[key]) for key in keys]
        result = sources[0] if len(sources) == 1 else "(" + ", ".join(sources) + ",)"
        before, inside = b.assigned()
        return [f"    {line}" for line in before + inside] + [f"    return {result}"]

    counting = _Build()
    lines(counting)
    b = _Build(counting.sharing_found())
    return _function(f"{name}.{'/'.join(keys)}", inputs, b, lines(b))  # type: ignore[no-any-return]


def _function(name: str, inputs: tuple[str, ...], b: _Build, body: list[str]) -> Any:
    # The aggregates are computed once, on entry: each is cheap (a length, an
    # item) or linear in the days (the gap squares), and every case may read it.
    head = [f"    {local} = {source}" for local, source in b.locals.values()]
    code = f"def _decide({', '.join(inputs)}):\n" + "\n".join(head + body) + "\n"
    namespace: dict[str, Any] = dict(_HELPERS)
    namespace.update({f"_c{i}": c for i, c in enumerate(b.consts)})
    exec(compile(code, f"<decision {name}>", "exec"), namespace)  # our own tree, checked
    return namespace["_decide"]
