"""Argument checks of the public functions: a wrong type is a RelcycleError naming the argument.

:func:`checked` wraps a public function so that an argument of the wrong kind
(``build_portfolio(orders=5)``, a string where records are expected, a list of
dicts where a portfolio is) raises :class:`~relcycle.errors.RecordTypeError`
naming the function and the argument, instead of an ``AttributeError`` or a
``TypeError`` from deep inside. The accepted types are read from the function's
own annotations (resolved on the first call), so the check and the signature
cannot disagree. Only the argument itself is checked (an iterable is checked to
be an iterable, not item by item: the functions check items as they read them).
The function then computes in relcycle's own decimal context
(:mod:`relcycle._decimal`), whatever context the caller has set.
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import inspect
import os
import types
import typing
from collections.abc import Callable
from decimal import localcontext
from typing import Any, TypeVar, cast

from relcycle._decimal import CONTEXT
from relcycle.errors import RecordTypeError

__all__ = ["checked", "item_error"]

F = TypeVar("F", bound=Callable[..., Any])

#: A check: True when the value fits.
_Check = Callable[[object], bool]

_ABCS: dict[object, type] = {
    cabc.Iterable: cabc.Iterable,
    cabc.Iterator: cabc.Iterator,
    cabc.Sequence: cabc.Sequence,
    cabc.Collection: cabc.Collection,
    cabc.Mapping: cabc.Mapping,
    cabc.Set: cabc.Set,
    list: list,
    tuple: tuple,
    dict: dict,
    set: set,
    frozenset: frozenset,
}

_TEXT = (str, bytes)

#: Containers whose items can be checked without consuming anything.
_SIZED = (list, tuple, set, frozenset, dict)


def _any(value: object) -> bool:
    return True


def _types(annotation: object) -> tuple[type, ...] | None:
    """The classes an annotation accepts when ``isinstance`` alone decides, else None."""
    if annotation is None or annotation is type(None):
        return (type(None),)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        out: tuple[type, ...] = ()
        for arg in typing.get_args(annotation):
            found = _types(arg)
            if found is None:
                return None
            out += found
        return out
    if origin is os.PathLike or annotation is os.PathLike:
        return (os.PathLike,)
    base = _ABCS.get(origin if origin is not None else annotation)
    if base is not None and base in (cabc.Mapping, dict, list, tuple):
        args = typing.get_args(annotation)
        return (base,) if not args or _item_class(args[-1]) is None else None
    if isinstance(annotation, type) and annotation is not float:
        if annotation is object or getattr(annotation, "_is_protocol", False):
            return None
        if annotation.__module__ == "typing":
            return None
        return (annotation,)
    return None


def _compile(annotation: object) -> _Check:
    """A check for one annotation; constructs it does not know accept anything."""
    if annotation is Any or annotation is object or isinstance(annotation, TypeVar | str):
        return _any
    exact = _types(annotation)
    if exact is not None:
        return lambda value: isinstance(value, exact)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        checks = [_compile(a) for a in typing.get_args(annotation)]
        if _any in checks:
            return _any
        return lambda value: any(check(value) for check in checks)
    if origin is typing.Literal:
        # the kind of value only: the function's own check names the choices
        kinds = tuple({type(a) for a in typing.get_args(annotation)})
        return lambda value: isinstance(value, kinds)
    if annotation is float:
        return lambda value: isinstance(value, int | float) and not isinstance(value, bool)
    if origin is cabc.Callable or annotation is cabc.Callable:
        return callable
    base = _ABCS.get(origin if origin is not None else annotation)
    if base is cabc.Mapping or base is dict:
        args = typing.get_args(annotation)
        kind = _item_class(args[1]) if len(args) == 2 else None
        if kind is None:
            return lambda value: isinstance(value, base)
        return lambda value: (
            isinstance(value, base)
            and (not isinstance(value, dict) or all(isinstance(v, kind) for v in value.values()))
        )
    if base is not None:  # text is iterable, but never a collection of records
        item = _item_class(annotation)
        if item is None:
            return lambda value: isinstance(value, base) and not isinstance(value, _TEXT)
        # a list or tuple is checked item by item (an iterator is left to the
        # function: checking it would consume it)
        return lambda value: (
            isinstance(value, base)
            and not isinstance(value, _TEXT)
            and (not isinstance(value, _SIZED) or all(isinstance(x, item) for x in value))
        )
    if isinstance(annotation, type) and getattr(annotation, "_is_protocol", False):
        members = _protocol_members(annotation)
        return lambda value: all(hasattr(value, m) for m in members)
    return _any


def _item_class(annotation: object) -> type | None:
    """The item class of ``Iterable[Order]`` (or the class itself), when it is concrete."""
    if isinstance(annotation, type):
        item = annotation
    else:
        args = typing.get_args(annotation)
        if len(args) != 1 or not isinstance(args[0], type):
            return None
        item = args[0]
    # relcycle's own classes only: a function may coerce others (an int for a Decimal)
    if not item.__module__.startswith("relcycle") or getattr(item, "_is_protocol", False):
        return None
    return item


def _protocol_members(protocol: type) -> tuple[str, ...]:
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass is object or not getattr(klass, "_is_protocol", False):
            continue
        names.update(getattr(klass, "__annotations__", {}))
        names.update(n for n in vars(klass) if not n.startswith("_"))
    return tuple(sorted(names))


def _shown(annotation: object) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    for prefix in ("typing.", "collections.abc.", "relcycle.model.", "relcycle.history."):
        text = text.replace(prefix, "")
    return text


def checked(func: F) -> F:
    """Check the arguments of ``func`` against its annotations on every call.

    The wrapped function raises :class:`~relcycle.errors.RecordTypeError` for an
    argument of the wrong kind (``record`` is the function's name, ``field`` the
    argument's) or a call that does not fit the signature.
    """
    signature = inspect.signature(func)
    parameters = signature.parameters
    positional = [
        name
        for name, p in parameters.items()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = [
        (name, positional.index(name) if name in positional else len(parameters))
        for name, p in parameters.items()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    plan: dict[str, tuple[_Check, str]] | None = None

    def build() -> dict[str, tuple[_Check, str]]:
        out = {}
        for name, parameter in parameters.items():
            annotation = parameter.annotation
            if isinstance(annotation, str):
                try:  # names imported only for type checkers stay unchecked
                    annotation = eval(annotation, func.__globals__)
                except Exception:
                    continue
            check = _compile(annotation)
            if check is not _any:
                out[name] = (check, _shown(annotation))
        return out

    def refuse(name: str, value: object, expected: str) -> RecordTypeError:
        return RecordTypeError(record=func.__name__, field=name, value=value, expected=expected)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal plan
        if plan is None:
            plan = build()
        fits = len(args) <= len(positional) and all(
            name in kwargs or index < len(args) for name, index in required
        )
        if fits:
            for name, value in zip(positional, args, strict=False):
                entry = plan.get(name)
                if entry is not None and not entry[0](value):
                    raise refuse(name, value, entry[1])
            for name, value in kwargs.items():
                entry = plan.get(name)
                if entry is not None:
                    if not entry[0](value):
                        raise refuse(name, value, entry[1])
                elif name not in parameters:
                    fits = False
        if not fits:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise refuse("(arguments)", kwargs, f"a call that fits: {exc}") from None
        with localcontext(CONTEXT):  # relcycle's arithmetic, whatever the caller's context
            return func(*args, **kwargs)

    return cast(F, wrapper)


def unchecked(func: F) -> F:
    """The function a :func:`checked` wrapper calls, without the checks.

    For hot loops whose arguments are the library's own values, built and
    checked already (the report calls the segmentations once per client).
    """
    return cast(F, getattr(func, "__wrapped__", func))


def item_error(function: str, argument: str, item: object, kind: str) -> RecordTypeError:
    """The error for an item of a collection argument that is not a ``kind``."""
    return RecordTypeError(
        record=function, field=argument, value=item, expected=f"an iterable of {kind} objects"
    )
