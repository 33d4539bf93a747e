"""What an output shows: which clients, in which order, which columns, how CSV is written.

A :class:`View` is given to :func:`relcycle.render.iter_render`; the command line
builds one from ``--columns``, ``--top``, ``--sort``, ``--desc``, ``--csv-nested``
and ``--csv-raw-formulas``. The default view is the whole report, in client id
order, with every column.

Column names are the report's field names (:data:`~relcycle.report.FIELDS`) or
those of its flat form (:data:`~relcycle.report.FLAT_FIELDS`, the CSV header):
``rfm`` stands for ``rfm_r``, ``rfm_f``, ``rfm_m``, ``rfm_segment`` and
``evidence`` for its flat columns, and a flat name picks its field in JSON.
``--sort priority`` orders the clients as the action-first views do: most urgent
first, by value (:func:`relcycle.report.priority_key`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, overload

import attrs

from relcycle.errors import UsageError

if TYPE_CHECKING:
    from relcycle.report import ClientReport, Report

__all__ = ["PRIORITY_SORT", "View", "inert", "neutralise"]

#: The ``--sort`` name of the action-first order (not a column).
PRIORITY_SORT = "priority"


def _parent(name: str) -> str:
    """The record field a flat column belongs to."""
    if name.startswith("rfm_"):
        return "rfm"
    if name.startswith("evidence_"):
        return "evidence"
    if name.endswith("_evidence_records"):  # an extra column's evidence ids
        return name.removesuffix("_records")
    return name


def _default_extra() -> tuple[str, ...]:
    """The names of the extra columns a report has by default (the sales funnel's)."""
    from relcycle.report import ReportPolicies

    return tuple(c.name for c in ReportPolicies().columns)


def _known(extra: Sequence[str]) -> tuple[str, ...]:
    from relcycle.report import FIELDS, FLAT_FIELDS

    columns = tuple(f for n in extra for f in (n, f"{n}_evidence", f"{n}_evidence_records"))
    return (*FIELDS, *(f for f in FLAT_FIELDS if f not in FIELDS), *columns)


def _check(names: Sequence[str], what: str, extra: Sequence[str]) -> None:
    known = _known(extra)
    for name in names:
        if name not in known:
            raise UsageError(
                f"{what}: unknown column {name!r}; the columns are: {', '.join(known)}"
            )


@attrs.frozen(kw_only=True)
class View:
    """Which clients and columns an output shows, and how CSV cells are written.

    Attributes:
        columns: The columns to show, in this order (None: the format's default).
        top: Show only the first ``top`` clients (after sorting).
        sort: Order the clients by this column (None: by client id), or by
            ``priority``: the most urgent action (its urgency moved by the value
            class), then value class, profit and revenue, as
            :func:`relcycle.report.priority_key` (``descending`` reverses it). Vocabularies
            sort in their own order (stage by severity, rung from ``adversary``
            up, value class ``A`` < ``B`` < ``C``, ``change`` from ``worsened``),
            money by amount, lists by length; missing values come last.
        descending: Sort from the largest down.
        csv_nested: CSV keeps the nested fields as JSON text in one cell each
            (the flat form otherwise).
        csv_raw_formulas: CSV writes cells that a spreadsheet would run as a
            formula as they are (they get a leading ``'`` otherwise).
        extra: The names of the report's extra columns
            (:attr:`relcycle.report.ReportPolicies.columns`) the view may name;
            by default those a report has by default (``funnel_stage``).

    Raises:
        UsageError: For an unknown column, or ``top`` below 1.
    """

    columns: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )
    top: int | None = None
    sort: str | None = None
    descending: bool = False
    csv_nested: bool = False
    csv_raw_formulas: bool = False
    extra: tuple[str, ...] = attrs.field(factory=_default_extra, converter=tuple)

    def __attrs_post_init__(self) -> None:
        if self.columns is not None:
            if not self.columns:
                raise UsageError("--columns: name at least one column")
            _check(self.columns, "--columns", self.extra)
        if self.sort is not None and self.sort != PRIORITY_SORT:
            _check([self.sort], "--sort", self.extra)
            if self.sort in ("rfm", "evidence"):
                raise UsageError(
                    f"--sort {self.sort}: sort by one of its parts, such as "
                    f"{'rfm_r' if self.sort == 'rfm' else 'evidence_stage'}"
                )
        if self.top is not None and (isinstance(self.top, bool) or self.top < 1):
            raise UsageError(f"--top {self.top!r}: give a number of clients, at least 1")

    @property
    def is_default(self) -> bool:
        """True when the view changes nothing (the whole report, every column)."""
        return self == View()

    def clients(self, report: Report) -> Sequence[ClientReport]:
        """The report's clients this view shows, in its order.

        Sorting keeps each client's sort key and position, not the client: the
        clients are read from the report as they are shown (a report whose lines
        are in a file holds one at a time).
        """
        clients: Sequence[ClientReport] = report.clients
        positions: list[int] | None = None
        if self.sort == PRIORITY_SORT:
            from relcycle.report import priority_key

            keys = [priority_key(c) for c in clients]
            positions = sorted(range(len(keys)), key=keys.__getitem__, reverse=self.descending)
        elif self.sort is not None:
            key = _sort_key(self.sort, report.columns)
            keyed = [key(c) for c in clients]
            present = [i for i, k in enumerate(keyed) if k is not None]
            present.sort(key=keyed.__getitem__, reverse=self.descending)  # stable
            positions = present + [i for i, k in enumerate(keyed) if k is None]
        if positions is None:
            return clients if self.top is None else clients[: self.top]
        return _Picked(clients, positions if self.top is None else positions[: self.top])

    def fields(self, report: Report) -> tuple[str, ...]:
        """The record fields (:attr:`~relcycle.report.Report.fields`) shown in JSON and
        nested CSV."""
        if self.columns is None:
            return report.fields
        return tuple(dict.fromkeys(_parent(name) for name in self.columns))

    def flat_fields(self, report: Report) -> tuple[str, ...]:
        """The flat columns (:attr:`~relcycle.report.Report.flat_fields`) shown in flat CSV."""
        every = report.flat_fields
        if self.columns is None:
            return every
        return tuple(
            dict.fromkeys(
                part
                for name in self.columns
                for part in ([f for f in every if _parent(f) == name and f != name] or [name])
            )
        )


class _Picked(Sequence["ClientReport"]):
    """The clients at ``positions`` of ``clients``, read when asked for."""

    def __init__(self, clients: Sequence[ClientReport], positions: Sequence[int]) -> None:
        self._clients = clients
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, index: int) -> ClientReport: ...

    @overload
    def __getitem__(self, index: slice) -> _Picked: ...

    def __getitem__(self, index: int | slice) -> ClientReport | _Picked:
        if isinstance(index, slice):
            return _Picked(self._clients, self._positions[index])
        return self._clients[self._positions[index]]

    def __iter__(self) -> Iterator[ClientReport]:
        clients = self._clients
        return (clients[i] for i in self._positions)


def _sort_key(name: str, columns: Sequence[str] = ()) -> Callable[[ClientReport], Any]:
    """The value a client sorts by on column ``name`` (None: missing, sorts last)."""
    from relcycle.clientbase import ClientStage
    from relcycle.ladder import Rung
    from relcycle.lifecycle import Stage
    from relcycle.report import CHANGES, MONEY_FIELDS, flat_record
    from relcycle.segmentation.regularity import Regularity
    from relcycle.segmentation.value import ValueClass

    orders: dict[str, Sequence[str]] = {
        "lifecycle_stage": [s.value for s in Stage],
        "ladder_rung": [r.value for r in Rung],
        "value_class": [v.value for v in ValueClass],
        "regularity": [r.value for r in Regularity],
        "client_stage": [s.value for s in ClientStage],
        "change": CHANGES,
    }
    for base in ("lifecycle_stage", "ladder_rung", "value_class"):
        orders[f"previous_{base}"] = orders[base]
    rank = {k: {v: i for i, v in enumerate(vs)} for k, vs in orders.items()}.get(name)
    money = name in MONEY_FIELDS

    def key(client: ClientReport) -> Any:
        record = client.to_record()
        value = record[name] if name in record else flat_record(record, columns)[name]
        if value is None:
            return None
        if rank is not None:
            return rank[value]
        if money:
            return Decimal(value)
        if isinstance(value, list | dict):
            return len(value)
        return value

    return key


#: A cell that is a plain number: never read as a formula, so left as it is.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """``cell`` with a ``'`` in front when a spreadsheet would run it as a formula.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
    prefixed with ``'`` (OWASP's advice against CSV injection); a plain number
    such as ``-120.50`` cannot be a formula and is left as it is.
    """
    if cell.startswith(FORMULA_STARTS) and _NUMBER.fullmatch(cell) is None:
        return "'" + cell
    return cell


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: Characters a terminal may act on: C0 and C1 controls, DEL, bidirectional
#: overrides and isolates, line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def inert(text: str) -> str:
    r"""``text`` with every control character written as an escape (``\x1b``).

    Terminal escape sequences, line breaks and bidirectional overrides in ids and
    names are printed as text, not acted on.
    """
    return _CONTROL.sub(_escape, text)
