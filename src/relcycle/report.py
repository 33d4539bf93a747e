"""The portfolio report: every client's verdicts as of a moment, and a summary.

:func:`build_report` composes the library's functional core — the lifecycle, the
ladder, motivation, value (ABC), regularity, RFM, cost-to-serve, risks and the
playbook — into one :class:`Report`: a frozen :class:`ClientReport` per client with
every field of the data contract, a summary, and (with ``compare_to``) migration
matrices between two moments. The report is a pure function of the portfolio and
the moments; rendering it (table, JSON, CSV, HTML) lives in :mod:`relcycle.render`.

Counting rules used by the report (documented in the "report" page):

- ``orders``: sales (``placed`` or ``delivered`` orders) placed by ``as_of``;
  cancelled, returned and planned orders do not count, nor does their value.
- ``contacts``: interactions by ``as_of``, whoever started them, except mass
  ``marketing`` touches (the rule :data:`relcycle.rules.CONTACT`).
- ``requests``: inbound (client-initiated) interactions whose purpose is a request
  to the supplier: :data:`REQUEST_PURPOSES` (``inquiry``, ``offer_change``,
  ``wish``), the same the motivation segmentation reads.
- ``complaints_open``: complaints opened by ``as_of`` and not resolved or rejected
  by then.
- ``revenue``: the sum of the sales' amounts by ``as_of``; ``value_class`` is the
  ABC class of that revenue across the portfolio.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar, overload, runtime_checkable

import attrs

from relcycle._args import checked, unchecked
from relcycle._decimal import in_own_context

from . import clientbase as _clientbase
from . import ladder as _ladder
from . import lifecycle as _lifecycle
from . import losses as _losses
from . import rules as _rules
from ._gc import collector_paused
from ._repr import count, html_card, short_repr
from ._spill import Spill
from .errors import CurrencyMismatchError, RecordTypeError, UsageError, ValidationError
from .evidence import Evidence
from .history import ClientHistory, Portfolio, check_as_of
from .machine import format_moment
from .migration import MigrationMatrix, migration_matrix
from .model import FrozenMap, LossReason, Money, Purpose
from .rules import CONTACT, OPEN_COMPLAINT, REQUEST
from .segmentation import cost as _cost
from .segmentation import motivation as _motivation
from .segmentation import playbook as _playbook
from .segmentation import regularity as _regularity
from .segmentation import rfm as _rfm
from .segmentation import risks as _risks
from .segmentation import value as _value
from .segmentation._util import sales as _sales
from .store import CHUNK as _STORE_CHUNK
from .store import StoredPart, StoredPortfolio

if TYPE_CHECKING:
    import polars

__all__ = [
    "CHANGES",
    "COMPARED",
    "COMPARE_FIELDS",
    "FIELDS",
    "FLAT_FIELDS",
    "FRAME_KINDS",
    "MONEY_FIELDS",
    "REQUEST_PURPOSES",
    "Assessor",
    "Cell",
    "ClientReport",
    "Column",
    "Previous",
    "RFMCell",
    "Report",
    "ReportPolicies",
    "TableAssessor",
    "build_report",
    "decimal_text",
    "exact_sum",
    "flat_record",
    "moved_actions",
    "portfolio_value",
    "priority_key",
]

Stage = _lifecycle.Stage
Rung = _ladder.Rung
MotivationSegment = _motivation.MotivationSegment
ValueClass = _value.ValueClass
Regularity = _regularity.Regularity
RiskFlag = _risks.RiskFlag
ClientStage = _clientbase.ClientStage

#: Inbound interactions with these purposes count as the client's ``requests`` (the
#: rule :data:`relcycle.rules.REQUEST`, which motivation segmentation reads too).
REQUEST_PURPOSES: frozenset[Purpose] = _rules.REQUEST_PURPOSES

#: Adds money exactly: enough precision for any sum the readers can produce.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)

#: The contract's per-client fields, in output order.
FIELDS: tuple[str, ...] = (
    "client_id",
    "name",
    "lifecycle_stage",
    "loss_reason",
    "lost_revenue",
    "loss_manager",
    "ladder_rung",
    "client_stage",
    "motivation_segment",
    "value_class",
    "regularity",
    "rfm",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "orders",
    "contacts",
    "requests",
    "complaints_open",
    "revenue",
    "cost_to_serve",
    "profit",
    "currency",
    "risks",
    "actions",
    "evidence",
    "previous_lifecycle_stage",
    "previous_ladder_rung",
    "previous_motivation_segment",
    "previous_value_class",
    "change",
    "changed",
)

#: The verdicts ``compare_to`` compares, by contract field name.
COMPARED: tuple[str, ...] = ("lifecycle_stage", "ladder_rung", "motivation_segment", "value_class")

#: The per-client fields a report with ``compare_to`` fills (null without it).
COMPARE_FIELDS: tuple[str, ...] = (*(f"previous_{name}" for name in COMPARED), "change", "changed")

#: The values of ``change``, the client's overall movement since ``compare_to``.
CHANGES: tuple[str, ...] = ("worsened", "improved", "changed", "unchanged", "new")

#: The keys of a client's ``evidence``: why its lifecycle stage, rung, motivation
#: segment and client-base stage; ``loss`` (lost clients only) its loss figures.
EVIDENCE_KEYS: tuple[str, ...] = ("stage", "rung", "segment", "client_stage", "loss")

#: The per-client columns of the flat form (CSV, data frames): :data:`FIELDS` with
#: ``rfm`` and ``evidence`` spread over columns of their own.
FLAT_FIELDS: tuple[str, ...] = tuple(
    part
    for name in FIELDS
    for part in (
        ("rfm_r", "rfm_f", "rfm_m", "rfm_segment")
        if name == "rfm"
        else tuple(f"evidence_{k}{s}" for k in EVIDENCE_KEYS for s in ("", "_records"))
        if name == "evidence"
        else (name,)
    )
)

#: Fields holding money (decimal strings in JSON, CSV and JSON Lines).
MONEY_FIELDS: tuple[str, ...] = ("lost_revenue", "revenue", "cost_to_serve", "profit")


_T = TypeVar("_T")

#: An extra column's name: a lowercase identifier.
_COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]*")

#: JSON scalars an extra column's value may be.
CellValue = str | int | float | bool | None


def _plain(value: Any) -> Any:
    """A string enum member as its plain string value (anything else as given)."""
    return str(value) if isinstance(value, str) and type(value) is not str else value


@attrs.frozen
class Cell:
    """One client's value in an extra report column, and why.

    Attributes:
        value: The value (a JSON scalar: text, number, true/false or None; a
            string enum member is kept as its string value).
        evidence: Why the client has this value: a reason and record ids.

    Raises:
        RecordTypeError: If the value is not a JSON scalar or the evidence not
            an :class:`~relcycle.evidence.Evidence`.
    """

    value: CellValue = attrs.field(converter=_plain)
    evidence: Evidence

    def __attrs_post_init__(self) -> None:
        if self.value is not None and not isinstance(self.value, str | int | float | bool):
            raise RecordTypeError(
                record="cell",
                field="value",
                value=self.value,
                expected="a str, int, float, bool or None",
            )
        if not isinstance(self.evidence, Evidence):
            raise RecordTypeError(
                record="cell", field="evidence", value=self.evidence, expected="an Evidence"
            )


class Assessor(Protocol):
    """What an extra column computes: one client's :class:`Cell` at a moment.

    It is called with the client's history cut at ``as_of`` (no record after
    it), the moment and the report's time zone, and must be pure: the same
    history and moment give the same cell. For ``--engine dask`` it must also
    pickle (a module-level function, or a frozen object with a ``__call__``).
    """

    def __call__(self, history: ClientHistory, *, as_of: datetime, tz: tzinfo) -> Cell:
        """The client's cell as of ``as_of``."""
        ...  # pragma: no cover - a protocol


@runtime_checkable
class TableAssessor(Assessor, Protocol):
    """An :class:`Assessor` that can also assess every client at once, over tables.

    The columnar engine (:func:`relcycle.columnar.build_report`) calls
    :meth:`over_tables` once per run of clients (a range of client ids with all
    their records: the whole portfolio up to 100,000 clients) instead of the
    assessor once per client; the python engine calls the assessor. Both must
    give the same cells (the funnel's column, :data:`relcycle.funnel.FUNNEL_COLUMN`,
    is one: it folds its machine over the tables with
    :func:`relcycle.columnar.machine_steps`).
    """

    def over_tables(
        self, frames: Any, *, as_of: datetime, tz: tzinfo
    ) -> tuple[Cell, Iterator[tuple[str, Cell]]]:
        """Every client's cell as of ``as_of``, from the columnar engine's frames
        (those of one run of clients).

        Returns:
            The cell of a client with no record by ``as_of``, and the cells of
            the other clients as ``(client_id, cell)`` pairs in client id order
            (a client left out gets the first).
        """
        ...  # pragma: no cover - a protocol


def _check_column_name(_: object, __: attrs.Attribute[str], name: str) -> None:
    if not isinstance(name, str) or not _COLUMN_NAME.fullmatch(name):
        raise UsageError(
            f"column name {name!r}: give a lowercase identifier such as 'funnel_stage'"
        )
    if name in FIELDS or name.endswith("_evidence"):
        raise UsageError(
            f"column name {name!r}: taken by the report (a contract field, or the "
            "'<name>_evidence' field of a column)"
        )


def _values(values: Iterable[str]) -> tuple[str, ...]:
    found = tuple(_plain(v) for v in values)
    if not all(isinstance(v, str) for v in found) or len(set(found)) != len(found):
        raise UsageError(f"column values {found!r}: give distinct strings")
    return found


@attrs.frozen
class Column:
    """An extra field of every report line: a named per-client assessor.

    The report calls ``assess`` for every client at the report's moment and
    writes the cell's value as the field ``name`` and its evidence as the field
    ``<name>_evidence`` in every format (JSON, JSON Lines, CSV, the table, the
    HTML page, where the evidence goes into the client's *why*). With
    ``values``, the summary counts the clients per value (``summary["columns"]``),
    the table's summary prints the counts and the HTML page draws them. Add
    columns with :attr:`ReportPolicies.columns`; the sales funnel
    (:mod:`relcycle.funnel`) is one, on by default.

    Attributes:
        name: The field's name: a lowercase identifier, not a contract field.
        assess: Computes a client's :class:`Cell` (see :class:`Assessor`).
        values: The values the column can take, in display order (optional).
            When given, a value outside them is an error.
        doc: One line saying what the column holds, for people reading the policies.

    Raises:
        UsageError: For a name that is not a lowercase identifier or is taken
            by the report, or values that are not distinct strings.
    """

    name: str = attrs.field(validator=_check_column_name)
    assess: Assessor
    values: tuple[str, ...] = attrs.field(default=(), converter=_values)
    doc: str = ""

    def cell(self, history: ClientHistory, *, as_of: datetime, tz: tzinfo) -> Cell:
        """The client's cell, checked.

        Raises:
            UsageError: If the assessor returns something else than a :class:`Cell`,
                or a value outside :attr:`values`.
        """
        return self.check(self.assess(history, as_of=as_of, tz=tz), history.client_id)

    def check(self, found: object, client_id: str) -> Cell:
        """``found``, if it is a :class:`Cell` this column can hold.

        Raises:
            UsageError: If ``found`` is not a :class:`Cell`, or its value is
                outside :attr:`values`.
        """
        if not isinstance(found, Cell):
            raise UsageError(
                f"column {self.name!r}: client {client_id!r}: the assessor "
                f"returned {found!r}, not a Cell"
            )
        if self.values and found.value not in self.values:
            raise UsageError(
                f"column {self.name!r}: client {client_id!r}: value "
                f"{found.value!r} is not one of {', '.join(self.values)}"
            )
        return found


def _default_columns() -> tuple[Column, ...]:
    from .funnel import FUNNEL_COLUMN  # the funnel builds on this module

    return (FUNNEL_COLUMN,)


def _columns(given: Iterable[Column]) -> tuple[Column, ...]:
    columns = tuple(given)
    names = []
    for column in columns:
        if not isinstance(column, Column):
            raise UsageError(f"ReportPolicies.columns: {column!r} is not a Column")
        names.append(column.name)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"ReportPolicies.columns: two columns named {', '.join(twice)}")
    return columns


def _basis(value: object) -> _value.ValueBasis:
    try:
        return _value.ValueBasis.parse(value)
    except ValueError as exc:
        raise ValidationError(
            record="ReportPolicies", field="value_basis", value=value, reason=str(exc)
        ) from None


@attrs.frozen(kw_only=True)
class ReportPolicies:
    """Every threshold the report uses, one immutable bundle.

    Each attribute is the policy object of the module that uses it, with that
    module's documented defaults.

    Attributes:
        lifecycle: Thresholds of the dissatisfaction-to-loss lifecycle.
        ladder: Thresholds of the relationship ladder. Its customer rung reads
            ``regularity`` (a ladder given with the default regularity thresholds
            takes the report's; two different ones are a usage error).
        motivation: Thresholds of the motivation segmentation.
        regularity: Thresholds of the order-regularity assessment (the
            lifecycle's lapse rule reads them too, as the ladder does).
        cost_rates: The rates that turn contacts and goods costs into cost-to-serve.
        risks: Thresholds of the risk flags.
        playbook: The recommended actions per motivation segment and lifecycle stage.
        losses: The window of a lost client's lost revenue and loss manager.
        abc_cutoffs: Cumulative value shares closing classes A and B (default 80%, 95%).
        value_basis: What the value classes rank on: ``revenue``, ``profit`` or
            ``auto`` (default: profit when every client's profit is known, else
            revenue; :mod:`relcycle.segmentation.value`).
        priority: How the value class moves the urgency of a client's actions
            (:class:`~relcycle.segmentation.playbook.PriorityPolicy`).
        top_fraction: The fraction of clients whose value share the summary gives (20%).
        columns: Extra per-client fields (:class:`Column`), in output order.
            Default: the sales funnel's ``funnel_stage``
            (:data:`relcycle.funnel.FUNNEL_COLUMN`); ``()`` for none.

    Raises:
        UsageError: If ``columns`` holds something else than a :class:`Column`,
            or two columns of one name.
    """

    lifecycle: _lifecycle.LifecyclePolicy = attrs.field(factory=_lifecycle.LifecyclePolicy)
    ladder: _ladder.LadderPolicy = attrs.field(factory=_ladder.LadderPolicy)
    motivation: _motivation.MotivationPolicy = attrs.field(factory=_motivation.MotivationPolicy)
    regularity: _regularity.RegularityPolicy = attrs.field(factory=_regularity.RegularityPolicy)
    cost_rates: _cost.CostRates = attrs.field(factory=_cost.CostRates)
    risks: _risks.RiskPolicy = attrs.field(factory=_risks.RiskPolicy)
    playbook: _playbook.Playbook = attrs.field(default=_playbook.DEFAULT_PLAYBOOK)
    losses: _losses.LossPolicy = attrs.field(factory=_losses.LossPolicy)
    abc_cutoffs: tuple[Decimal, Decimal] = (Decimal("0.8"), Decimal("0.95"))
    value_basis: _value.ValueBasis = attrs.field(default=_value.ValueBasis.auto, converter=_basis)
    priority: _playbook.PriorityPolicy = attrs.field(factory=_playbook.PriorityPolicy)
    top_fraction: Decimal = Decimal("0.2")
    columns: tuple[Column, ...] = attrs.field(factory=_default_columns, converter=_columns)

    def __attrs_post_init__(self) -> None:
        _check_policies(self)
        # One rule of "regular buying" per report: the ladder's customer rung and
        # the lifecycle's lapse rule read the report's regularity thresholds, so
        # the rung, the lapse and the regularity field of a row never disagree.
        mine = self.regularity
        for name in ("ladder", "lifecycle"):
            policy = getattr(self, name)
            theirs = policy.regularity
            if (mine.min_gaps, mine.max_cv) == (theirs.min_gaps, theirs.max_cv):
                continue
            if theirs != _regularity.RegularityPolicy():
                raise UsageError(
                    f"ReportPolicies: {name}.regularity and regularity set different rules "
                    f"of regular buying ({theirs} and {mine}); set regularity only, the "
                    f"{name} reads it"
                )
            object.__setattr__(self, name, attrs.evolve(policy, regularity=mine))


@attrs.frozen(kw_only=True)
class RFMCell:
    """A client's RFM scores (1-5) and the segment they name.

    Attributes:
        r: Recency score, 5 = most recent.
        f: Frequency score, 5 = most orders.
        m: Monetary score, 5 = most revenue.
        segment: The RFM segment's name (``None`` for clients without orders).
    """

    r: int | None
    f: int | None
    m: int | None
    segment: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"r": ..., "f": ..., "m": ..., "segment": ...}``."""
        return {"r": self.r, "f": self.f, "m": self.m, "segment": self.segment}


@attrs.frozen(kw_only=True)
class Previous:
    """A client's verdicts at the report's ``compare_to`` moment.

    A client without any record by then (it became a client later) is *new*: its
    four verdicts are None.

    Attributes:
        lifecycle_stage: The lifecycle stage at ``compare_to``.
        ladder_rung: The ladder rung at ``compare_to``.
        motivation_segment: The motivation segment at ``compare_to``.
        value_class: The ABC class of the revenue at ``compare_to`` (across the
            portfolio as it was then).
    """

    lifecycle_stage: _lifecycle.Stage | None = None
    ladder_rung: _ladder.Rung | None = None
    motivation_segment: _motivation.MotivationSegment | None = None
    value_class: _value.ValueClass | None = None

    @property
    def new(self) -> bool:
        """True when the client had no record at ``compare_to``."""
        return self.lifecycle_stage is None

    def moves(self, now: ClientReport) -> dict[str, str]:
        """How each compared verdict moved from here to ``now``; unchanged ones left out.

        A move is ``worsened`` or ``improved`` along the verdict's order (a more
        severe stage, a lower rung, a later value class is worse) and ``changed``
        for the motivation segment, which has no order. Empty for a new client.

        Args:
            now: The client's report line at the report's moment.

        Returns:
            ``{field: "worsened" | "improved" | "changed"}`` in :data:`COMPARED` order.
        """
        moves: dict[str, str] = {}
        if self.lifecycle_stage is not None and self.lifecycle_stage is not now.lifecycle_stage:
            worse = now.lifecycle_stage > self.lifecycle_stage  # more severe
            moves["lifecycle_stage"] = "worsened" if worse else "improved"
        if self.ladder_rung is not None and self.ladder_rung is not now.ladder_rung:
            worse = now.ladder_rung < self.ladder_rung  # a lower rung
            moves["ladder_rung"] = "worsened" if worse else "improved"
        seg = self.motivation_segment
        if seg is not None and seg is not now.motivation_segment:
            moves["motivation_segment"] = "changed"
        if self.value_class is not None and self.value_class is not now.value_class:
            worse = now.value_class > self.value_class  # A < B < C
            moves["value_class"] = "worsened" if worse else "improved"
        return moves


#: The verdicts of a client without any record at ``compare_to``.
_NEW = Previous()


@attrs.frozen(kw_only=True)
class ClientReport:
    """One client's line of the report: every field of the data contract.

    Attributes:
        client_id: The client's id.
        name: The client's name, when the clients table gives one.
        lifecycle_stage: The lifecycle stage as of the report's moment.
        stage_since: When the client entered that stage (None: from the start).
        loss_reason: For a lost client, why it left; else None.
        lost_revenue: For a lost client, its sales in the window before the loss
            (:attr:`ReportPolicies.losses`); else None.
        loss_manager: For a lost client, the manager who held it when it left
            (for ``manager_left``: the manager who left; see :mod:`relcycle.losses`),
            None when unknown or not lost.
        ladder_rung: The rung of the relationship ladder.
        client_stage: The client-base stage of seed 004 (:mod:`relcycle.clientbase`).
        active: False for a lost client (its rung is where it stood when it left).
        motivation_segment: The motivation segment (seed 003).
        value_class: The ABC class of the client's revenue.
        regularity: How regularly the client orders: for a lost client as it
            stood when it left (over its last episode up to the loss), for a
            won-back client over its current episode (since the win-back).
        rfm: The RFM scores and segment. For a lost client the RFM figures
            (this and the four below) count the sales of its active life, up to
            the loss, observed to the report's moment: trailing sales after a
            termination do not count.
        frequency: lifetimes' ``frequency`` (repeat order days).
        recency: lifetimes' ``recency`` (days between first and last order day).
        T: lifetimes' ``T`` (days between first order day and the report's day).
        monetary_value: lifetimes' ``monetary_value`` (mean of repeat days' sums).
        orders: Sales by the moment.
        contacts: Interactions by the moment, either direction, except marketing touches.
        requests: Inbound interactions with a request purpose (:data:`REQUEST_PURPOSES`).
        complaints_open: Complaints open at the moment.
        revenue: The sum of the sales.
        cost_to_serve: The cost of serving the client, or None without cost data.
        profit: Revenue minus cost of goods and cost-to-serve, or None without cost data.
        risks: The risk flags raised, each with its evidence. A lost client
            carries no live-client flag, only ``activity_after_loss``.
        actions: The playbook's actions for the client's stage, risks and segment,
            most urgent first; a lost client's are its stage's (win-back) and
            risks', not its segment's.
        evidence: Why the stage, the rung, the segment and the client-base stage:
            keys ``stage``, ``rung``, ``segment``, ``client_stage``; for a lost
            client also ``loss`` (its lost revenue and manager) (:data:`EVIDENCE_KEYS`).
        previous: With ``compare_to``: the client's verdicts then (see
            :attr:`change` and :attr:`changed`); None without a compare moment.
        columns: The extra columns' cells (:attr:`ReportPolicies.columns`), by
            column name, in column order.
        lifecycle: The full lifecycle assessment (trajectory, explanation).
        ladder: The full ladder assessment.
        motivation: The full motivation assessment.

    The three full assessments are kept when the report was built with
    ``keep_assessments=True`` (the default); otherwise they are computed again,
    from the same history, moment and policies, when first asked for.
    """

    client_id: str
    name: str | None
    lifecycle_stage: _lifecycle.Stage
    stage_since: datetime | None
    loss_reason: LossReason | None
    lost_revenue: Money | None
    loss_manager: str | None
    ladder_rung: _ladder.Rung
    client_stage: _clientbase.ClientStage
    active: bool
    motivation_segment: _motivation.MotivationSegment
    value_class: _value.ValueClass
    regularity: _regularity.Regularity
    rfm: RFMCell
    frequency: int | None
    recency: int | None
    T: int | None
    monetary_value: Decimal | None
    orders: int
    contacts: int
    requests: int
    complaints_open: int
    revenue: Money
    cost_to_serve: Money | None
    profit: Money | None
    risks: tuple[_risks.Risk, ...]
    actions: tuple[_playbook.Action, ...]
    evidence: FrozenMap[str, Evidence]
    previous: Previous | None = None
    columns: FrozenMap[str, Cell] = attrs.field(factory=FrozenMap)
    _lc: _lifecycle.LifecycleAssessment | None = attrs.field(
        default=None, eq=False, repr=False, alias="lifecycle"
    )
    _ld: _ladder.LadderAssessment | None = attrs.field(
        default=None, eq=False, repr=False, alias="ladder"
    )
    _mot: _motivation.MotivationAssessment | None = attrs.field(
        default=None, eq=False, repr=False, alias="motivation"
    )
    _history: ClientHistory | None = attrs.field(
        default=None, eq=False, repr=False, alias="history"
    )
    _context: _Context | None = attrs.field(default=None, eq=False, repr=False, alias="context")
    #: Where the history is found again when the line does not keep it: the
    #: portfolio's lookup by client id (a dict in memory, a query on a store).
    _lookup: Callable[[str], ClientHistory] | None = attrs.field(
        default=None, eq=False, repr=False, alias="lookup"
    )

    def _source(self) -> tuple[ClientHistory, _Context]:
        history = self.history
        if history is None or self._context is None:
            raise UsageError(
                f"client {self.client_id!r}: the report line was built without its "
                "assessments or the history to compute them from"
            )
        return history, self._context

    @property
    def lifecycle(self) -> _lifecycle.LifecycleAssessment:
        """The full lifecycle assessment (trajectory, explanation)."""
        if self._lc is None:
            history, ctx = self._source()
            found = _lifecycle.assess(
                history, as_of=ctx.as_of, policy=ctx.policies.lifecycle, tz=ctx.tz
            )
            object.__setattr__(self, "_lc", found)
            return found
        return self._lc

    @property
    def ladder(self) -> _ladder.LadderAssessment:
        """The full ladder assessment (trajectory, next step, explanation)."""
        if self._ld is None:
            history, ctx = self._source()
            found = _ladder.assess(
                history,
                as_of=ctx.as_of,
                policy=ctx.policies.ladder,
                lifecycle=self.lifecycle,
                tz=ctx.tz,
            )
            object.__setattr__(self, "_ld", found)
            return found
        return self._ld

    @property
    def motivation(self) -> _motivation.MotivationAssessment:
        """The full motivation assessment (rule, signals)."""
        if self._mot is None:
            history, ctx = self._source()
            found = _motivation.classify_motivation(
                history, as_of=ctx.as_of, policy=ctx.policies.motivation, tz=ctx.tz
            )
            object.__setattr__(self, "_mot", found)
            return found
        return self._mot

    @property
    def cost(self) -> _cost.CostToServe:
        """The client's cost-to-serve with its evidence (the rates missing, if any).

        Computed from the history, the moment and the report's cost rates.
        """
        history, ctx = self._source()
        return _cost.cost_to_serve(history, as_of=ctx.as_of, rates=ctx.policies.cost_rates)

    @property
    def history(self) -> ClientHistory | None:
        """The client's history cut at the report's moment (None if built without it).

        The records behind the evidence ids; the HTML report shows them. A
        report keeps a way to find the history again (the portfolio it was
        built from), not the history itself: it is looked up on each use.
        """
        if self._history is None and self._lookup is not None and self._context is not None:
            return self._lookup(self.client_id).as_of(self._context.as_of)
        return self._history

    @property
    def risk_flags(self) -> tuple[str, ...]:
        """The raised risk flags' values, in flag order."""
        return tuple(r.flag.value for r in self.risks)

    @property
    def changed(self) -> dict[str, str] | None:
        """Which compared verdicts moved since ``compare_to``, and which way.

        ``{field: "worsened" | "improved" | "changed"}`` for the fields of
        :data:`COMPARED` that differ (empty: none moved, or a new client); None
        without a compare moment. See :meth:`Previous.moves`.
        """
        return None if self.previous is None else self.previous.moves(self)

    @property
    def change(self) -> str | None:
        """The client's movement since ``compare_to`` in one word (:data:`CHANGES`).

        ``new`` (no record then), ``worsened`` (any verdict got worse, whatever
        else improved), ``improved`` (something got better, nothing worse),
        ``changed`` (only the motivation segment changed), ``unchanged``; None
        without a compare moment.
        """
        previous = self.previous
        if previous is None:
            return None
        if previous.new:
            return "new"
        moves = previous.moves(self).values()
        for word in ("worsened", "improved", "changed"):
            if word in moves:
                return word
        return "unchanged"

    def _repr_html_(self) -> str:
        record = self.to_record()
        rfm = record["rfm"]
        facts: list[tuple[str, object]] = [
            ("name", self.name),
            ("lifecycle stage", self.lifecycle_stage.value),
            ("since", None if self.stage_since is None else self.stage_since.isoformat()),
            ("loss reason", record["loss_reason"]),
            (
                "lost revenue",
                None if self.lost_revenue is None else str(self.lost_revenue),
            ),
            ("loss manager", self.loss_manager),
            ("ladder rung", self.ladder_rung.value + ("" if self.active else " (left)")),
            ("client stage", self.client_stage.value),
            ("motivation segment", self.motivation_segment.value),
            ("value class", self.value_class.value),
            ("regularity", self.regularity.value),
            (
                "rfm",
                None if rfm["r"] is None else f"{rfm['r']}{rfm['f']}{rfm['m']} {rfm['segment']}",
            ),
            ("orders", self.orders),
            ("revenue", f"{record['revenue']} {self.revenue.currency}"),
            ("profit", record["profit"]),
            ("open complaints", self.complaints_open),
            ("risks", ", ".join(self.risk_flags) or "none"),
        ]
        if self.previous is not None:
            facts.append(("change", self.change))
            facts.extend(
                (f"previous {name.replace('_', ' ')}", record[f"previous_{name}"])
                for name in COMPARED
            )
        facts.extend((f"why: {key}", str(why)) for key, why in self.evidence.items())
        return html_card(
            f"Client {self.client_id}",
            [(label, value) for label, value in facts if value is not None],
            headers=("urgency", "who", "action"),
            rows=((a.urgency, a.who, a.text) for a in self.actions),
            total=len(self.actions),
        )

    def explain(self) -> str:
        """Why the client stands where it stands: stage, rung, segment, cost, with record ids."""
        lines = [
            f"Client {self.client_id}"
            + (f" ({self.name})" if self.name else "")
            + f": {self.lifecycle_stage.value}, {self.ladder_rung.value}, "
            f"{self.motivation_segment.value}, class {self.value_class.value}",
            "Stage: " + self.lifecycle.explain(),
            "Rung: " + self.ladder.explain(),
            f"Segment: {self.evidence['segment']}",
            f"Cost: {self.cost.evidence}",
            f"Client-base stage: {self.client_stage.value}: {self.evidence['client_stage']}",
        ]
        window = _figures_window(self.lifecycle)
        if window is not None:
            lines.append(window)
        if "loss" in self.evidence:
            lines.append(f"Loss: {self.evidence['loss']}")
        lines.extend(f"Risk {r.flag.value}: {r.evidence}" for r in self.risks)
        return "\n".join(lines)

    def to_record(self) -> dict[str, Any]:
        """Return a JSON-ready dict with the contract's field names.

        Money is a decimal string (exact), the four lifetimes figures are numbers,
        vocabularies are their string values, absent values are ``None``. Each
        extra column adds its value as ``<name>`` and its evidence as
        ``<name>_evidence``, after the contract's fields.
        """
        record = {
            "client_id": self.client_id,
            "name": self.name,
            "lifecycle_stage": self.lifecycle_stage.value,
            "loss_reason": None if self.loss_reason is None else self.loss_reason.value,
            "lost_revenue": _amount(self.lost_revenue),
            "loss_manager": self.loss_manager,
            "ladder_rung": self.ladder_rung.value,
            "client_stage": self.client_stage.value,
            "motivation_segment": self.motivation_segment.value,
            "value_class": self.value_class.value,
            "regularity": self.regularity.value,
            "rfm": self.rfm.to_dict(),
            "frequency": self.frequency,
            "recency": self.recency,
            "T": self.T,
            "monetary_value": (None if self.monetary_value is None else float(self.monetary_value)),
            "orders": self.orders,
            "contacts": self.contacts,
            "requests": self.requests,
            "complaints_open": self.complaints_open,
            "revenue": decimal_text(self.revenue.amount),
            "cost_to_serve": _amount(self.cost_to_serve),
            "profit": _amount(self.profit),
            "currency": self.revenue.currency,
            "risks": [r.flag.value for r in self.risks],
            "actions": [a.to_dict() for a in self.actions],
            "evidence": {k: v.to_dict() for k, v in self.evidence.items()},
            **self._compared(),
        }
        for name, cell in self.columns.items():
            record[name] = cell.value
            record[f"{name}_evidence"] = cell.evidence.to_dict()
        return record

    def _compared(self) -> dict[str, Any]:
        """The :data:`COMPARE_FIELDS` of :meth:`to_record`."""
        previous = self.previous
        if previous is None:
            return dict.fromkeys(COMPARE_FIELDS)
        out: dict[str, Any] = {}
        for name in COMPARED:
            value = getattr(previous, name)
            out[f"previous_{name}"] = None if value is None else value.value
        out["change"] = self.change
        out["changed"] = previous.moves(self)
        return out


def priority_key(client: ClientReport) -> tuple[int, int, bool, Decimal, Decimal, str]:
    """The order of clients in the action-first views: who to serve first.

    Most urgent first (the client's most urgent action, its urgency moved by its
    value class: :class:`~relcycle.segmentation.playbook.PriorityPolicy`), then
    value class ``A`` before ``B`` before ``C``, then profit (largest first;
    unknown after known), then revenue (largest first), then client id.

    Args:
        client: A client's report line.

    Returns:
        A sort key; sort ascending.
    """
    urgency = max((a.urgency.rank for a in client.actions), default=-1)
    profit = client.profit
    return (
        -urgency,
        client.value_class.rank,
        profit is None,
        Decimal(0) if profit is None else -profit.amount,
        -client.revenue.amount,
        client.client_id,
    )


def flat_record(record: Mapping[str, Any], columns: Sequence[str] = ()) -> dict[str, Any]:
    """A :meth:`ClientReport.to_record` in the flat form, keyed by :data:`FLAT_FIELDS`.

    ``rfm`` becomes ``rfm_r``, ``rfm_f``, ``rfm_m``, ``rfm_segment``; each piece of
    evidence a reason (``evidence_stage``) and its record ids
    (``evidence_stage_records``, a list); ``actions`` the list of action ids;
    ``changed`` a list of ``field=direction``. Other values are as in the record.
    Each extra column named in ``columns`` adds ``<name>``, ``<name>_evidence``
    (the reason) and ``<name>_evidence_records`` (the ids), after those.
    """
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = record[name]
        if name == "rfm":
            for key in ("r", "f", "m", "segment"):
                out[f"rfm_{key}"] = value[key]
        elif name == "evidence":
            for key in EVIDENCE_KEYS:
                why = value.get(key)
                out[f"evidence_{key}"] = None if why is None else why["reason"]
                out[f"evidence_{key}_records"] = None if why is None else list(why["record_ids"])
        elif name == "actions":
            out[name] = [a["id"] for a in value]
        elif name == "changed":
            out[name] = None if value is None else [f"{k}={v}" for k, v in value.items()]
        else:
            out[name] = value
    for name in columns:
        out[name] = record[name]
        why = record[f"{name}_evidence"]
        out[f"{name}_evidence"] = why["reason"]
        out[f"{name}_evidence_records"] = list(why["record_ids"])
    return out


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount, currency)


def _amount(money: Money | None) -> str | None:
    return None if money is None else decimal_text(money.amount)


def decimal_text(value: Decimal) -> str:
    """A decimal as plain text with every digit and no exponent (``1E-7`` -> ``0.0000001``)."""
    return format(value, "f")


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """Add decimals exactly, however many digits the sum needs (no 28-digit rounding)."""
    total = Decimal(0)
    add = _EXACT.add
    for value in values:
        total = add(total, value)
    return total


#: The key of the clients whose loss manager is unknown in ``summary["losses"]["by_manager"]``.
UNKNOWN_MANAGER = "(unknown)"


class _Tally:
    """The summary's counts and sums, fed one client at a time (:meth:`add`).

    The one summary of every engine: :func:`assemble` feeds it each line as it
    is assessed (so the report need not hold its lines), and
    :func:`relcycle.dask.build_report` each partition's lines. The value classes
    and revenues are portfolio-wide and come in at :meth:`summary`.
    """

    def __init__(self, policies: ReportPolicies) -> None:
        self.policies = policies
        self.clients = 0
        self.stage: Counter[str] = Counter()
        self.rung: Counter[str] = Counter()
        self.segment: Counter[str] = Counter()
        self.regularity: Counter[str] = Counter()
        self.client_stage: Counter[str] = Counter()
        self.risks: Counter[str] = Counter()
        self.columns: dict[str, Counter[str]] = {
            column.name: Counter() for column in policies.columns if column.values
        }
        # the lost clients: how many and their lost revenue, per reason, segment, manager
        self.lost: list[Any] = [0, Decimal(0)]
        self.losses: dict[str, dict[str, list[Any]]] = {"reason": {}, "segment": {}, "manager": {}}

    def add(
        self,
        *,
        stage: _lifecycle.Stage,
        rung: _ladder.Rung,
        segment: _motivation.MotivationSegment,
        regularity: _regularity.Regularity,
        client_stage: _clientbase.ClientStage,
        loss_reason: LossReason | None,
        lost_revenue: Decimal | None,
        loss_manager: str | None,
        risks: Iterable[_risks.Risk],
        columns: Mapping[str, Cell],
    ) -> None:
        """Count one client."""
        self.clients += 1
        self.stage[stage.value] += 1
        self.rung[rung.value] += 1
        self.segment[segment.value] += 1
        self.regularity[regularity.value] += 1
        self.client_stage[client_stage.value] += 1
        for risk in risks:
            self.risks[risk.flag.value] += 1
        for name, counter in self.columns.items():
            counter[str(columns[name].value)] += 1
        if loss_reason is None:
            return
        amount = Decimal(0) if lost_revenue is None else lost_revenue
        add = _EXACT.add
        self.lost[0] += 1
        self.lost[1] = add(self.lost[1], amount)
        keys = {
            "reason": loss_reason.value,
            "segment": segment.value,
            "manager": UNKNOWN_MANAGER if loss_manager is None else loss_manager,
        }
        for group, key in keys.items():
            cell = self.losses[group].setdefault(key, [0, Decimal(0)])
            cell[0] += 1
            cell[1] = add(cell[1], amount)

    def merge(self, other: _Tally) -> None:
        """Count the clients ``other`` counted (a pass over other clients, with the same policies).

        The counts are those of counting every client here; the loss sums are
        exact, so they do not depend on how the clients were split.
        """
        self.clients += other.clients
        for mine, theirs in (
            (self.stage, other.stage),
            (self.rung, other.rung),
            (self.segment, other.segment),
            (self.regularity, other.regularity),
            (self.client_stage, other.client_stage),
            (self.risks, other.risks),
            *((self.columns[name], counter) for name, counter in other.columns.items()),
        ):
            for key, n in theirs.items():
                mine[key] += n
        add = _EXACT.add
        self.lost[0] += other.lost[0]
        self.lost[1] = add(self.lost[1], other.lost[1])
        for group, cells in other.losses.items():
            for key, (n, amount) in cells.items():
                cell = self.losses[group].setdefault(key, [0, Decimal(0)])
                cell[0] += n
                cell[1] = add(cell[1], amount)

    def add_line(self, line: _Line) -> None:
        """Count one client from its report line."""
        self.add(
            stage=line.stage,
            rung=line.rung,
            segment=line.segment,
            regularity=line.regularity,
            client_stage=line.client_stage,
            loss_reason=line.loss_reason,
            lost_revenue=None if line.loss is None else line.loss.lost_revenue,
            loss_manager=None if line.loss is None else line.loss.manager,
            risks=line.risks,
            columns=line.columns,
        )

    def _losses(self) -> dict[str, Any]:
        """``summary["losses"]``: the lost clients and their lost revenue, in total and
        per loss reason, per motivation segment and per loss manager.

        Every reason and segment is listed (zeros included); managers are those of
        the lost clients, the largest lost revenue first (then by id), an unknown
        manager as :data:`UNKNOWN_MANAGER`, last.
        """

        def cell(found: Sequence[Any]) -> dict[str, Any]:
            return {"clients": found[0], "lost_revenue": decimal_text(found[1])}

        def listed(group: str, order: Iterable[str]) -> dict[str, dict[str, Any]]:
            return {key: cell(self.losses[group].get(key, (0, Decimal(0)))) for key in order}

        managers = self.losses["manager"]
        ranked = sorted(managers, key=lambda m: (m == UNKNOWN_MANAGER, -managers[m][1], m))
        return {
            "window_days": self.policies.losses.window_days,
            **cell(self.lost),
            "by_reason": listed("reason", LossReason),
            "by_segment": listed("segment", MotivationSegment),
            "by_manager": listed("manager", ranked),
        }

    def summary(
        self,
        classes: Mapping[str, _value.ValueClass],
        values: Mapping[str, Decimal],
        currency: str,
        rejected_rows: int | None,
    ) -> dict[str, Any]:
        """The report's summary, given every client's value class and revenue."""
        policies = self.policies
        share = _value.top_share(values, fraction=policies.top_fraction)
        return {
            "clients": self.clients,
            "currency": currency,
            "revenue": decimal_text(exact_sum(values.values())),
            "lifecycle_stage": _counted(self.stage, Stage),
            "ladder_rung": _counted(self.rung, Rung),
            "motivation_segment": _counted(self.segment, MotivationSegment),
            "value_class": _counts((c.value for c in classes.values()), ValueClass),
            "regularity": _counted(self.regularity, Regularity),
            "top_share": float(round(share, 4)),
            "top_fraction": float(policies.top_fraction),
            "loss_reasons": {
                key: cell[0]
                for key, cell in ((k, self.losses["reason"].get(k, (0,))) for k in LossReason)
            },
            "losses": self._losses(),
            "client_stage": _counted(self.client_stage, ClientStage),
            "risks": {flag.value: self.risks.get(flag.value, 0) for flag in RiskFlag},
            "rejected_rows": rejected_rows,
            "columns": {
                column.name: _counted(self.columns[column.name], column.values)
                for column in policies.columns
                if column.values
            },
        }


def _counted(counter: Mapping[str, int], order: Iterable[str]) -> dict[str, int]:
    return {key: counter.get(key, 0) for key in order}


def _counts(values: Iterable[str], order: Iterable[str]) -> dict[str, int]:
    counter = Counter(values)
    return {key: counter.get(key, 0) for key in order}


@attrs.frozen(kw_only=True)
class Report:
    """A portfolio report as of a moment.

    Attributes:
        as_of: The moment every client is evaluated at.
        compare_to: The earlier moment of the migration matrices, or None.
        currency: The one currency of every money figure.
        clients: One :class:`ClientReport` per client, sorted by client id: a
            tuple, or with ``spill_dir`` a read-only sequence that reads them back
            from its file.
        summary: Counts per stage, rung, segment, value class, regularity, risk flag,
            loss reason and client-base stage; the loss analysis (``losses``: lost
            clients and lost revenue per reason, segment and manager); the top-20%
            value share; totals; rejected rows.
        migrations: With ``compare_to``: migration matrices of the stage, the rung,
            the motivation segment and the value class, by contract field name.
        rejected_rows: Rows skipped when the history was loaded with
            ``skip_bad_rows`` (None when nothing was skipped on purpose).
        warnings: What the reader should know before trusting the figures: what the
            moments mean (an ``as_of`` or ``compare_to`` before every record) and
            what loading assumed (:attr:`relcycle.io.LoadResult.warnings`, added by
            the command line); in :meth:`to_dict` as ``"warnings"`` when there are any.
        columns: The names of the extra columns (:attr:`ReportPolicies.columns`),
            in output order.
    """

    as_of: datetime
    compare_to: datetime | None
    currency: str
    clients: Sequence[ClientReport]
    summary: Mapping[str, Any]
    migrations: Mapping[str, MigrationMatrix[Any]] | None = None
    rejected_rows: int | None = None
    warnings: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    _index: Mapping[str, ClientReport] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        clients = self.clients
        index: Mapping[str, ClientReport] = (
            _StoredIndex(clients)
            if isinstance(clients, _StoredClients)
            else {c.client_id: c for c in clients}
        )
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        return len(self.clients)

    def __iter__(self) -> Iterator[ClientReport]:
        return iter(self.clients)

    def __getitem__(self, client_id: str) -> ClientReport:
        """The line of client ``client_id``.

        Raises:
            KeyError: If the report has no such client.
        """
        return self._index[client_id]

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._index

    @property
    def fields(self) -> tuple[str, ...]:
        """Every per-client field in output order: the contract's, then each column's two."""
        return FIELDS + tuple(f for name in self.columns for f in (name, f"{name}_evidence"))

    @property
    def flat_fields(self) -> tuple[str, ...]:
        """The flat form's columns (the CSV header): :data:`FLAT_FIELDS`, then each
        extra column's value, evidence reason and evidence record ids."""
        return FLAT_FIELDS + tuple(
            f for n in self.columns for f in (n, f"{n}_evidence", f"{n}_evidence_records")
        )

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per client, with the contract's field names."""
        return [c.to_record() for c in self.clients]

    def to_dict(self, *, clients: bool = True) -> dict[str, Any]:
        """Return ``{"as_of", "clients", "summary"}`` (+ ``"migrations"``), JSON-ready.

        Args:
            clients: Include the client records (False: only the portfolio-level parts).
        """
        out: dict[str, Any] = {"as_of": self.as_of.isoformat()}
        if clients:
            out["clients"] = self.to_records()
        out["summary"] = dict(self.summary)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.migrations is not None and self.compare_to is not None:
            out["migrations"] = {
                "compare_to": self.compare_to.isoformat(),
                **{name: m.to_dict() for name, m in self.migrations.items()},
            }
        return out

    def to_json(self, *, indent: int | None = None) -> str:
        """Return :meth:`to_dict` as JSON text (UTF-8 characters kept).

        Args:
            indent: Indent nested levels by this many spaces (compact by default;
                indenting a large report is much slower).
        """
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, default=_json_default)

    def _frame_columns(self, money: str) -> dict[str, list[Any]]:
        """The flat columns (:attr:`flat_fields`) as lists, money as ``money`` asks."""
        if money not in ("float", "decimal"):
            raise UsageError(f"money={money!r}: choose 'float' or 'decimal'")
        fields = self.flat_fields
        columns: dict[str, list[Any]] = {name: [] for name in fields}
        appends = [(name, columns[name].append) for name in fields]
        to_money: Callable[[str], Any] = float if money == "float" else Decimal
        for client in self.clients:
            flat = flat_record(client.to_record(), self.columns)
            for name in MONEY_FIELDS:
                value = flat[name]
                flat[name] = None if value is None else to_money(value)
            for name in _FIGURE_FIELDS:
                value = flat[name]
                flat[name] = None if value is None else float(value)
            for name, append in appends:
                append(flat[name])
        return columns

    def to_pandas(self, *, money: str = "float") -> Any:
        """The clients as a pandas DataFrame, one row per client.

        The columns are those of the flat CSV (:data:`FLAT_FIELDS`), typed:
        counts (``orders``, ``contacts``, ``requests``, ``complaints_open``) are
        ``int64``; the RFM scores ``Int64`` (nullable: a client without a sale has
        none); the lifetimes figures ``frequency``, ``recency``, ``T``,
        ``monetary_value`` ``float64`` as lifetimes gives them (NaN: no sale);
        lists (``risks``, ``actions`` by id, the evidence record ids, ``changed``)
        are lists; vocabularies and text are strings.

        Args:
            money: ``"float"`` (default): ``revenue``, ``cost_to_serve`` and
                ``profit`` as ``float64``, ready for arithmetic and plots (a
                float holds about 15 significant digits: cents are exact up to
                about 10^13). ``"decimal"``: :class:`~decimal.Decimal` objects,
                exact to the last digit (object columns). The exact text is in
                :meth:`to_records`, JSON and CSV either way.

        Raises:
            ImportError: If pandas is not installed.
            UsageError: If ``money`` is neither ``"float"`` nor ``"decimal"``.
        """
        try:
            pd = importlib.import_module("pandas")
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Report.to_pandas() needs pandas: pip install pandas") from exc
        columns = self._frame_columns(money)
        series: dict[str, Any] = {}
        for name, values in columns.items():
            kind = self._frame_kind(name, values)
            if kind == "money":
                kind = "figure" if money == "float" else "object"
            dtype = {
                "count": "Int64",
                "score": "Int64",
                "figure": "float64",
                "bool": "boolean",
                "list": "object",
                "object": "object",
            }.get(kind)
            if kind == "count" and name in FRAME_KINDS:
                dtype = "int64"  # the report's own counts are never missing
            series[name] = pd.Series(values, dtype=dtype, name=name)
        return pd.DataFrame(series, columns=list(columns))

    def _frame_kind(self, name: str, values: Sequence[Any]) -> str:
        """A frame column's kind: :data:`FRAME_KINDS`, or for an extra column the kind
        its values have (text, whole numbers, numbers or true/false), its evidence
        ids a list."""
        kind = FRAME_KINDS.get(name)
        if kind is not None:
            return kind
        if name.endswith("_evidence_records") and name[: -len("_evidence_records")] in self.columns:
            return "list"
        if name in self.columns:
            present = {type(v) for v in values if v is not None}
            if present == {bool}:
                return "bool"
            if present and present <= {int}:
                return "count"
            if present and present <= {int, float}:
                return "figure"
        return "text"

    def to_polars(self, *, money: str = "float") -> polars.DataFrame:
        """The clients as a polars DataFrame (columns and types as in :meth:`to_pandas`).

        Counts and RFM scores are ``Int64``, the lifetimes figures ``Float64``,
        lists ``List(String)``; money ``Float64``, or ``Decimal`` (exact) with
        ``money="decimal"``.

        Raises:
            ImportError: If polars is not installed.
            UsageError: If ``money`` is neither ``"float"`` nor ``"decimal"``.
        """
        try:
            import polars as pl
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Report.to_polars() needs polars: pip install polars") from exc
        columns = self._frame_columns(money)
        types: dict[str, Any] = {
            "text": pl.String,
            "count": pl.Int64,
            "score": pl.Int64,
            "figure": pl.Float64,
            "bool": pl.Boolean,
            "list": pl.List(pl.String),
        }
        schema: dict[str, Any] = {}
        for name, values in columns.items():
            kind = self._frame_kind(name, values)
            if kind == "money":
                schema[name] = pl.Float64 if money == "float" else pl.Decimal(scale=_scale(values))
            else:
                schema[name] = types[kind]
        return pl.DataFrame(columns, schema=schema)

    def to_arrow(self, *, money: str = "float") -> Any:
        """The clients as a pyarrow Table (columns and types as in :meth:`to_pandas`).

        Counts and RFM scores are ``int64``, the lifetimes figures ``float64``,
        lists ``list<string>``; money ``float64``, or ``decimal128`` (exact, with
        the largest scale of the column; ``decimal256`` beyond 38 digits) with
        ``money="decimal"``. ``pyarrow.table(report)`` and
        ``polars.DataFrame(report)`` read the report through
        :meth:`__arrow_c_stream__` (money as floats).

        Raises:
            ImportError: If pyarrow is not installed (the ``arrow`` extra).
            UsageError: If ``money`` is neither ``"float"`` nor ``"decimal"``.
        """
        try:
            pa = importlib.import_module("pyarrow")
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Report.to_arrow() needs pyarrow: pip install 'relcycle[arrow]'"
            ) from exc
        columns = self._frame_columns(money)
        types: dict[str, Any] = {
            "text": pa.string(),
            "count": pa.int64(),
            "score": pa.int64(),
            "figure": pa.float64(),
            "bool": pa.bool_(),
            "list": pa.list_(pa.string()),
        }
        arrays = {}
        for name, values in columns.items():
            kind = self._frame_kind(name, values)
            if kind == "money":
                arrays[name] = (
                    pa.array(values, type=pa.float64())
                    if money == "float"
                    else _decimal_array(pa, values)
                )
            else:
                arrays[name] = pa.array(values, type=types[kind])
        return pa.table(arrays)

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The Arrow C stream of :meth:`to_arrow` (the Arrow PyCapsule interface).

        Lets ``pyarrow.table(report)``, ``polars.DataFrame(report)`` and other
        Arrow-aware libraries read the report without a copy through pandas.
        """
        stream: object = self.to_arrow().__arrow_c_stream__(requested_schema)
        return stream

    def __repr__(self) -> str:
        return short_repr(
            "Report",
            f"as of {self.as_of.isoformat()}",
            count(len(self.clients), "client"),
            f"revenue {self.summary.get('revenue')} {self.currency}",
            "" if self.compare_to is None else f"compared with {self.compare_to.isoformat()}",
        )

    def _repr_html_(self) -> str:
        from .render.html import render_fragment

        return render_fragment(self)


#: The lifetimes figures: floats in data frames, as lifetimes gives them.
_FIGURE_FIELDS: tuple[str, ...] = ("frequency", "recency", "T", "monetary_value")

#: The kind of each flat column in data frames (absent: ``text``): ``count``,
#: ``score``, ``figure`` and ``money`` are numbers, ``list`` a list of strings.
FRAME_KINDS: Mapping[str, str] = {
    **dict.fromkeys(("orders", "contacts", "requests", "complaints_open"), "count"),
    **dict.fromkeys(("rfm_r", "rfm_f", "rfm_m"), "score"),
    **dict.fromkeys(_FIGURE_FIELDS, "figure"),
    **dict.fromkeys(MONEY_FIELDS, "money"),
    **dict.fromkeys(
        (
            "risks",
            "actions",
            "changed",
            *(f"evidence_{key}_records" for key in EVIDENCE_KEYS),
        ),
        "list",
    ),
}


def _scale(values: Sequence[Decimal | None]) -> int:
    """The largest number of decimal places among ``values`` (0 for none)."""
    places = [-int(v.as_tuple().exponent) for v in values if v is not None]
    return max([0, *places])


def _decimal_array(pa: Any, values: Sequence[Decimal | None]) -> Any:
    """An exact Arrow decimal array: one scale (the largest), enough precision."""
    scale = _scale(values)
    digits = [
        len(v.quantize(Decimal(1).scaleb(-scale), context=_EXACT).as_tuple().digits)
        for v in values
        if v is not None
    ]
    precision = max([1, scale, *digits])
    kind = pa.decimal128 if precision <= 38 else pa.decimal256
    return pa.array(values, type=kind(precision, scale))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --------------------------------------------------------------------------- building


def _report_currency(
    portfolio: Portfolio | StoredPortfolio, as_of: datetime, currency: str | None
) -> str:
    return report_currency(_currencies(portfolio, as_of), currency)


def _currencies(portfolio: Portfolio | StoredPortfolio, as_of: datetime) -> set[str]:
    """The currencies of the orders placed by ``as_of``."""
    if isinstance(portfolio, StoredPortfolio):
        return set(portfolio.currencies(as_of))
    seen: set[str] = set()
    for history in portfolio:
        for order in history.orders:
            if order.placed_at > as_of:
                break
            seen.add(order.currency)
    return seen


def report_currency(seen: Iterable[str], currency: str | None) -> str:
    """The report's currency, given the currencies of the orders by ``as_of``.

    Args:
        seen: The currencies of the orders placed by the report's moment.
        currency: The currency asked for, or None.

    Returns:
        ``currency`` when given, else the orders' one currency (``USD`` without orders).

    Raises:
        CurrencyMismatchError: If the orders hold several currencies, or another
            one than ``currency``.
    """
    seen = set(seen)
    if currency is not None:
        Money.zero(currency)  # validates the code
        if seen - {currency}:
            raise CurrencyMismatchError(
                currencies=seen | {currency},
                context=f"the report (asked for {currency}; the orders hold "
                f"{', '.join(sorted(seen))})",
            )
        return currency
    if len(seen) > 1:
        raise CurrencyMismatchError(currencies=seen, context="the report's orders")
    return next(iter(seen)) if seen else "USD"


@attrs.frozen
class _Context:
    """What a report line's assessments are computed from, besides the history."""

    as_of: datetime
    policies: ReportPolicies
    tz: tzinfo


@attrs.frozen(kw_only=True)
class Known:
    """A client's verdicts computed elsewhere (the columnar path), for :func:`assemble`.

    Each piece left None is computed from the history, exactly as
    :func:`build_report` computes it; ``counts`` is ``(orders, contacts,
    requests, complaints_open, revenue)``. ``figures`` is used only when
    ``figures_known`` is True (None is a valid answer: no sales). ``rest``, if
    given, decides the regularity, motivation and figures when the report needs
    them (not for a lost client, whose are decided as they stood when it left);
    it takes the place of those three fields. ``cells`` holds extra columns'
    cells by column name (see :class:`TableAssessor`).
    """

    lifecycle: _lifecycle.LifecycleAssessment | None = None
    regularity: _regularity.RegularityAssessment | None = None
    motivation: _motivation.MotivationAssessment | None = None
    cost: _cost.CostToServe | None = None
    figures: _rfm.RFMFigures | None = None
    figures_known: bool = False
    counts: tuple[int, int, int, int, Decimal] | None = None
    rest: (
        Callable[
            [],
            tuple[
                _regularity.RegularityAssessment,
                _motivation.MotivationAssessment,
                _rfm.RFMFigures | None,
            ],
        ]
        | None
    ) = None
    cells: Mapping[str, Cell] | None = None


class _Line(NamedTuple):
    """One client's verdicts at one moment, before the portfolio-wide steps.

    A named tuple: one is built per client and moment, and it is cheaper to
    build than a frozen attrs class.
    """

    history: ClientHistory | None
    stage: _lifecycle.Stage
    since: datetime | None
    loss_reason: LossReason | None
    loss: _losses.LossFigures | _LossCell | None
    rung: _ladder.Rung
    client_stage: _clientbase.ClientStage
    active: bool
    segment: _motivation.MotivationSegment
    regularity: _regularity.Regularity
    figures: _rfm.RFMFigures | _FiguresCell | None
    orders: int
    contacts: int
    requests: int
    complaints_open: int
    revenue: Decimal
    cost_to_serve: Decimal | None
    profit: Decimal | None
    risks: tuple[_risks.Risk, ...]
    actions: tuple[_playbook.Action, ...]
    evidence: FrozenMap[str, Evidence]
    columns: FrozenMap[str, Cell]
    assessments: (
        tuple[
            _lifecycle.LifecycleAssessment,
            _ladder.LadderAssessment,
            _motivation.MotivationAssessment,
        ]
        | None
    )
    #: None once the portfolio's value step has read it (:func:`_gather`).
    cost: _cost.CostToServe | None
    #: Set by :func:`_gather`, which lets go of ``history`` when the report
    #: can look it up again.
    client_id: str = ""
    name: str | None = None
    records: int = 0


class _FiguresCell(NamedTuple):
    """What a report line reads of its :class:`~relcycle.segmentation.rfm.RFMFigures`."""

    repeat_days: int
    span_days: int
    age_days: int
    mean_repeat_value: Decimal


class _LossCell(NamedTuple):
    """What a report line reads of its :class:`~relcycle.losses.LossFigures`."""

    lost_revenue: Decimal
    manager: str | None


def _slim(line: _Line, history: ClientHistory | None) -> _Line:
    """The line as the report keeps it: its client's id, name and record count, the
    history only if it cannot be looked up again, and of its figures, its loss and
    its cost only what the report's fields read (the portfolio-wide steps read the
    rest before)."""
    figures, loss = line.figures, line.loss
    return line._replace(
        history=history,
        figures=None if figures is None else _FiguresCell(*_figures(figures)),
        loss=None if loss is None else _LossCell(loss.lost_revenue, loss.manager),
        cost=None,
    )


def _figures(f: _rfm.RFMFigures | _FiguresCell) -> tuple[int, int, int, Decimal]:
    return f.repeat_days, f.span_days, f.age_days, f.mean_repeat_value


def _restored(cls: type[_T], **fields: Any) -> _T:
    """An instance of a frozen attrs class from the field values it was built with
    (already validated and converted then: a line read back from its spill)."""
    made = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(made, name, value)
    return made


def _action_numbers(playbook: _playbook.Playbook) -> dict[_playbook.Action, int]:
    """Every action of ``playbook``, numbered: by stage, then by risk, then by segment.

    A line's actions are the playbook's (:meth:`~relcycle.segmentation.playbook.Playbook.actions`),
    so :func:`_packed` keeps their numbers, and the numbering depends on the
    policies alone: every process of a report numbers them alike.
    """
    numbers: dict[_playbook.Action, int] = {}
    for table in (playbook.stages, playbook.risks, playbook.segments):
        for actions in table.values():
            for action in actions:
                numbers.setdefault(action, len(numbers))
    return numbers


def _packed(line: _Line, actions: Mapping[_playbook.Action, int]) -> tuple[Any, ...]:
    """A line as plain values (strings, numbers, moments), quick to pickle.

    ``actions`` numbers the playbook's actions (:func:`_action_numbers`): a line
    keeps their numbers, :func:`_unpacked` reads them from the same list.
    """
    loss_reason = line.loss_reason
    return (
        line.client_id,
        line.name,
        line.records,
        line.stage.value,
        line.since,
        None if loss_reason is None else loss_reason.value,
        None if line.loss is None else (line.loss.lost_revenue, line.loss.manager),
        line.rung.value,
        line.client_stage.value,
        line.active,
        line.segment.value,
        line.regularity.value,
        None if line.figures is None else _figures(line.figures),
        line.orders,
        line.contacts,
        line.requests,
        line.complaints_open,
        line.revenue,
        line.cost_to_serve,
        line.profit,
        line.risks or None,
        tuple([actions[a] for a in line.actions]),
        tuple((k, e.reason, e.record_ids) for k, e in line.evidence.items()),
        tuple(
            (k, c.value, c.evidence.reason, c.evidence.record_ids) for k, c in line.columns.items()
        )
        or None,
        line.assessments,
        line.history,
    )


_STAGES = {m.value: m for m in _lifecycle.Stage}
_RUNGS = {m.value: m for m in _ladder.Rung}
_CLIENT_STAGES = {m.value: m for m in _clientbase.ClientStage}
_SEGMENTS = {m.value: m for m in _motivation.MotivationSegment}
_REGULARITIES = {m.value: m for m in _regularity.Regularity}
_LOSS_REASONS = {m.value: m for m in LossReason}


def _unpacked(row: tuple[Any, ...], actions: Sequence[_playbook.Action]) -> _Line:
    """The line :func:`_packed` packed."""
    (
        client_id,
        name,
        records,
        stage,
        since,
        loss_reason,
        loss,
        rung,
        client_stage,
        active,
        segment,
        regularity,
        figures,
        orders,
        contacts,
        requests,
        complaints_open,
        revenue,
        cost_to_serve,
        profit,
        risks,
        action_numbers,
        evidence,
        columns,
        assessments,
        history,
    ) = row
    return _Line(
        history=history,
        stage=_STAGES[stage],
        since=since,
        loss_reason=None if loss_reason is None else _LOSS_REASONS[loss_reason],
        loss=None if loss is None else _LossCell(*loss),
        rung=_RUNGS[rung],
        client_stage=_CLIENT_STAGES[client_stage],
        active=active,
        segment=_SEGMENTS[segment],
        regularity=_REGULARITIES[regularity],
        figures=None if figures is None else _FiguresCell(*figures),
        orders=orders,
        contacts=contacts,
        requests=requests,
        complaints_open=complaints_open,
        revenue=revenue,
        cost_to_serve=cost_to_serve,
        profit=profit,
        risks=risks or (),
        actions=tuple(actions[n] for n in action_numbers),
        evidence=FrozenMap(
            {k: _restored(Evidence, reason=r, record_ids=ids) for k, r, ids in evidence}
        ),
        columns=_NO_CELLS
        if columns is None
        else FrozenMap(
            {
                k: _restored(Cell, value=v, evidence=_restored(Evidence, reason=r, record_ids=ids))
                for k, v, r, ids in columns
            }
        ),
        assessments=assessments,
        cost=None,
        client_id=client_id,
        name=name,
        records=records,
    )


_NOTHING_KNOWN = Known()


def _counts_of(history: ClientHistory, as_of: datetime) -> tuple[int, int, int, int, Decimal]:
    """``(orders, contacts, requests, complaints_open, revenue)`` of a cut history."""
    orders = 0
    revenue = Decimal(0)
    add = _EXACT.add
    for order in _sales(history, as_of):  # the sales the modules above already listed
        orders += 1
        revenue = add(revenue, order.amount)
    contacts = 0
    requests = 0
    contact, request = CONTACT.test, REQUEST.test
    for interaction in history.interactions:
        if contact(interaction):
            contacts += 1
            requests += request(interaction)
    is_open = OPEN_COMPLAINT.test
    complaints_open = sum(1 for c in history.complaints if is_open(c, as_of))
    return orders, contacts, requests, complaints_open, revenue


def _figures_window(lc: _lifecycle.LifecycleAssessment) -> str | None:
    """What a lost or won-back client's regularity and RFM figures count, or None."""
    start = lc.episode_start
    if lc.stage is Stage.lost and lc.since is not None:
        lost = format_moment(lc.since)
        scope = "its sales" if start is None else f"its sales since {format_moment(start)}"
        return (
            f"Figures: over the active life up to the loss on {lost}: regularity as it "
            f"stood then ({scope}), motivation segment as it stood when the client left "
            f"(its last sale, for a lapse), RFM from the sales up to the loss, observed "
            f"to {format_moment(lc.as_of)}"
        )
    if start is not None:
        return f"Figures: regularity over the current episode (sales since {format_moment(start)})"
    return None


def _episode(history: ClientHistory, start: datetime | None) -> ClientHistory:
    """The client's orders from ``start`` on (the current episode), or the history."""
    if start is None:
        return history
    return attrs.evolve(history, orders=tuple(o for o in history.orders if o.placed_at >= start))


#: The segmentations and assessments the report calls per client, without their
#: argument checks (the report passes its own, already checked values) and
#: without entering relcycle's decimal context again (the report's entry points
#: and its workers have entered it).
_classify_motivation = unchecked(_motivation.classify_motivation)
_assess_regularity = unchecked(_regularity.assess_regularity)
_rfm_figures = unchecked(_rfm.rfm_figures)
_cost_to_serve = unchecked(_cost.cost_to_serve)
_assess_risks = unchecked(_risks.assess_risks)
_assess_lifecycle = unchecked(_lifecycle.assess)
_assess_ladder = unchecked(_ladder.assess)
_client_stage = unchecked(_clientbase.client_stage)
_assess_loss = unchecked(_losses.assess_loss)

#: The policies of :class:`ReportPolicies` the segmentations above read, and their kinds.
_POLICY_KINDS: tuple[tuple[str, type], ...] = (
    ("lifecycle", _lifecycle.LifecyclePolicy),
    ("ladder", _ladder.LadderPolicy),
    ("motivation", _motivation.MotivationPolicy),
    ("regularity", _regularity.RegularityPolicy),
    ("cost_rates", _cost.CostRates),
    ("risks", _risks.RiskPolicy),
)


def _check_policies(policies: ReportPolicies) -> None:
    """Check, when the policies are made, what the segmentations' wrappers would check
    per client (the report calls them without their checks)."""
    for name, kind in _POLICY_KINDS:
        value = getattr(policies, name)
        if not isinstance(value, kind):
            raise RecordTypeError(
                record="ReportPolicies", field=name, value=value, expected=f"a {kind.__name__}"
            )


#: No extra column (the lines of a report's earlier moment need none).
_NO_CELLS: FrozenMap[str, Cell] = FrozenMap()


def _assess(
    history: ClientHistory,
    ctx: _Context,
    keep: bool,
    known: Known | None = None,
    columns: bool = True,
) -> _Line:
    as_of, policies, tz = ctx.as_of, ctx.policies, ctx.tz
    k = _NOTHING_KNOWN if known is None else known
    lc = k.lifecycle
    if lc is None:
        lc = _assess_lifecycle(history, as_of=as_of, policy=policies.lifecycle, tz=tz)
    ld = _assess_ladder(history, as_of=as_of, policy=policies.ladder, lifecycle=lc, tz=tz)
    lost = lc.stage is Stage.lost
    until = _losses.active_until(history, lc) if lost else None
    mot, reg, figures, figures_known = k.motivation, k.regularity, k.figures, k.figures_known
    if k.rest is not None and until is None:
        reg, mot, figures = k.rest()
        figures_known = True
    if until is not None:
        # A lost client's segment as it stood when its active life ended: at the
        # report's moment its window holds nothing (or its trailing orders), and
        # the loss analysis per segment would read "unclassified".
        mot = _classify_motivation(history, as_of=until, policy=policies.motivation, tz=tz)
    elif mot is None:
        mot = _classify_motivation(history, as_of=as_of, policy=policies.motivation, tz=tz)
    start = lc.episode_start
    if lost or start is not None:
        # A lost client's regularity as it stood when it left, a won-back client's
        # over its current episode: never over the gap while it was lost.
        end = until if until is not None else as_of
        reg = _assess_regularity(
            _episode(history, start), as_of=end, policy=policies.regularity, tz=tz
        )
    elif reg is None:
        reg = _assess_regularity(history, as_of=as_of, policy=policies.regularity, tz=tz)
    if until is not None:
        # A lost client's figures count the sales of its active life (up to the
        # loss), observed to the report's moment: trailing sales do not count.
        figures = _rfm_figures(history.as_of(until), as_of=as_of, tz=tz)
    else:
        figures = figures if figures_known else _rfm_figures(history, as_of=as_of, tz=tz)
    cost = k.cost
    if cost is None:
        cost = _cost_to_serve(history, as_of=as_of, rates=policies.cost_rates)
    risks = _assess_risks(
        history,
        as_of=as_of,
        lifecycle=lc,
        motivation=mot,
        regularity=reg,
        cost=cost,
        policy=policies.risks,
        tz=tz,
    )
    actions = policies.playbook.actions(
        stage=lc.stage.value, segment=mot.segment.value, risks=[r.flag.value for r in risks]
    )
    if k.counts is not None:
        orders, contacts, requests, complaints_open, revenue = k.counts
    else:
        orders, contacts, requests, complaints_open, revenue = _counts_of(history, as_of)
    base = _client_stage(ladder=ld, regularity=reg)
    loss = _assess_loss(history, lifecycle=lc, policy=policies.losses)
    evidence = {
        "stage": lc.evidence,
        "rung": ld.evidence,
        "segment": mot.evidence,
        "client_stage": base.evidence,
    }
    if loss is not None:
        evidence["loss"] = loss.evidence
    return _Line(
        history=history,
        stage=lc.stage,
        since=lc.since,
        loss_reason=lc.loss_reason,
        loss=loss,
        rung=ld.rung,
        client_stage=base.stage,
        active=ld.active,
        segment=mot.segment,
        regularity=reg.regularity,
        figures=figures,
        orders=orders,
        contacts=contacts,
        requests=requests,
        complaints_open=complaints_open,
        revenue=revenue,
        cost_to_serve=cost.cost_to_serve,
        profit=cost.profit,
        risks=tuple(risks),
        actions=tuple(actions),
        evidence=FrozenMap(evidence),
        columns=(_cells(history, ctx, k.cells) if columns and policies.columns else _NO_CELLS),
        assessments=(lc, ld, mot) if keep else None,
        cost=cost,
    )


def _cells(
    history: ClientHistory, ctx: _Context, known: Mapping[str, Cell] | None
) -> FrozenMap[str, Cell]:
    """The extra columns' cells: those known (checked), the others assessed."""
    as_of, tz, cid = ctx.as_of, ctx.tz, history.client_id
    return FrozenMap(
        {
            c.name: (
                c.cell(history, as_of=as_of, tz=tz)
                if known is None or c.name not in known
                else c.check(known[c.name], cid)
            )
            for c in ctx.policies.columns
        }
    )


@attrs.frozen
class _Moment:
    """The portfolio-wide verdicts at one moment, and what they were made from.

    The lines themselves went to the sink :func:`_gather` was given (a list,
    a :class:`~relcycle._spill.Spill`, or nowhere): only the figures of the
    portfolio-wide steps stay, a few per client.
    """

    context: _Context
    value_classes: Mapping[str, _value.ValueClass]
    scores: Mapping[str, tuple[int, int, int, str]]
    with_records: int
    value_basis: _value.ValueClasses
    #: What the report says about unknown costs and the value basis.
    economics: list[str]
    #: Every client's revenue, in client order.
    revenue: Mapping[str, Decimal]
    #: With ``verdicts=True``: every client's stage, rung and segment, and
    #: whether it had a record by then (for the migrations).
    verdicts: Mapping[str, _Verdicts] | None
    #: :func:`moved_actions` of the lines built so far, by their arguments (a
    #: pure function with few distinct arguments in a report; bounded).
    moved: dict[tuple[Any, ...], tuple[_playbook.Action, ...]] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )


class _Verdicts(NamedTuple):
    stage: _lifecycle.Stage
    rung: _ladder.Rung
    segment: _motivation.MotivationSegment
    records: bool


#: One client's cut history with what is already known of it (None: nothing).
Item = tuple[ClientHistory, Known | None]


@attrs.define
class _Gathered:
    """What one pass over the clients keeps for the portfolio-wide steps, by client
    id in client order: a few figures per client, not the lines."""

    revenue: dict[str, Decimal] = attrs.field(factory=dict)
    profits: dict[str, Decimal | None] = attrs.field(factory=dict)
    unrated: _MissingRates = attrs.field(factory=lambda: _MissingRates(0, set(), set()))
    # the RFM measures of the clients with sales (not their figures: every sale id)
    recency: dict[str, int] = attrs.field(factory=dict)
    frequency: dict[str, int] = attrs.field(factory=dict)
    monetary: dict[str, Decimal] = attrs.field(factory=dict)
    with_records: int = 0
    verdicts: dict[str, _Verdicts] | None = None

    @classmethod
    def merged(cls, parts: Iterable[_Gathered]) -> _Gathered:
        """The passes over disjoint sets of clients as one pass over them all, in
        client id order (the order one pass over the whole portfolio takes)."""
        parts = list(parts)
        whole = cls(verdicts={} if any(p.verdicts is not None for p in parts) else None)
        rates: set[str] = set()
        employees: set[str] = set()
        unrated = 0
        for part in parts:
            unrated += part.unrated.clients
            rates |= part.unrated.rates
            employees |= part.unrated.employees
            whole.with_records += part.with_records
            for name in ("revenue", "profits", "recency", "frequency", "monetary", "verdicts"):
                mine, theirs = getattr(whole, name), getattr(part, name)
                if mine is not None and theirs is not None:
                    for cid in theirs:
                        if cid in mine:  # pragma: no cover - parts hold disjoint clients
                            raise AssertionError(f"client {cid!r} was assessed in two parts")
                    mine.update(theirs)
        for name in ("revenue", "profits", "recency", "frequency", "monetary", "verdicts"):
            found = getattr(whole, name)
            if found is not None:
                setattr(whole, name, dict(sorted(found.items())))
        whole.unrated = _MissingRates(unrated, rates, employees)
        return whole


def _gather(
    items: Iterable[Item],
    total: int,
    ctx: _Context,
    keep: bool,
    progress: Callable[[int, int], None] | None,
    *,
    columns: bool = True,
    drop: bool = False,
    sink: Callable[[_Line], object] | None = None,
    tally: _Tally | None = None,
    verdicts: bool = False,
) -> _Gathered:
    """Assess every client at one moment; each line goes to ``sink`` and ``tally``."""
    gathered = _Gathered(verdicts={} if verdicts else None)
    revenue, profits = gathered.revenue, gathered.profits
    unrated = gathered.unrated
    recency, frequency, monetary = gathered.recency, gathered.frequency, gathered.monetary
    seen = gathered.verdicts
    with_records = 0
    step = max(1, total // 100)
    known_profit = _value.known_profit
    for i, (history, known) in enumerate(items):
        line = _assess(history, ctx, keep, known, columns)
        cid = history.client_id
        records = len(history)
        cost = line.cost
        assert cost is not None  # _assess always costs the client
        revenue[cid] = line.revenue
        profits[cid] = known_profit(cost)
        if cost.missing_rates:
            unrated = unrated._replace(clients=unrated.clients + 1)
            unrated.rates.update(cost.missing_rates)
            unrated.employees.update(cost.unrated_employees)
        found = line.figures
        if found is not None:
            assert isinstance(found, _rfm.RFMFigures)  # as _assess made it
            recency[cid], frequency[cid], monetary[cid] = found.rfm_measures()
        if records:
            with_records += 1
        if seen is not None:
            seen[cid] = _Verdicts(line.stage, line.rung, line.segment, bool(records))
        if tally is not None:
            tally.add_line(line)
        if sink is not None:
            # the line keeps what it needs of the history (dropped if it can be
            # looked up), not its cost (only the value step read it)
            sink(
                _slim(
                    line._replace(client_id=cid, name=history.client.name, records=records),
                    None if drop else history,
                )
            )
        if progress is not None and (i % step == 0 or i + 1 == total):
            progress(i + 1, total)
    gathered.unrated = unrated
    gathered.with_records = with_records
    return gathered


def _pool(workers: int) -> Any:
    """A pool of ``workers`` processes started with ``spawn`` (see :class:`_Workers`)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _stopped(exc: BaseException) -> UsageError:
    """The error of a worker process that stopped abruptly."""
    return UsageError(
        f"a worker process of the report stopped abruptly ({exc}). A program "
        "that starts workers needs an `if __name__ == '__main__':` guard and a "
        "file (not code read from stdin), since each worker starts it again "
        "(Python's spawn start method); a worker killed for lack of memory stops "
        "so too. Use workers=1 (--workers 1)"
    )


#: What a worker's pass sends back of each line (see :func:`_assess_part`).
_NO_LINES, _LINES, _PACKED_LINES = 0, 1, 2


@in_own_context
def _assess_part(
    part: StoredPart,
    moment: datetime,
    policies: ReportPolicies,
    tz: tzinfo,
    keep: bool,
    columns: bool,
    lines: int,
    verdicts: bool,
) -> tuple[list[Any], _Tally | None, _Gathered]:
    """One worker's pass (:class:`_Workers`): a run of a store's clients, as :func:`_gather`.

    ``lines`` says what comes back of the lines: nothing (``_NO_LINES``), the
    lines (``_LINES``: the driver counts and keeps them), or each line as its
    client id and the bytes a :class:`~relcycle._spill.Spill` keeps, with the
    run's tally (``_PACKED_LINES``: the driver only copies them).
    """
    with collector_paused():
        histories = part.read()
        found: list[Any] = []
        tally = None
        sink: Callable[[_Line], object] | None = None
        if lines == _LINES:
            sink = found.append
        elif lines == _PACKED_LINES:
            tally = _Tally(policies)
            numbers, encode, add = _action_numbers(policies.playbook), Spill.encode, found.append

            def sink(line: _Line) -> None:
                add((line.client_id, encode(_packed(line, numbers))))

        gathered = _gather(
            ((history.as_of(moment), None) for history in histories),
            len(histories),
            _Context(moment, policies, tz),
            keep,
            None,
            columns=columns,
            drop=True,
            sink=sink,
            tally=tally,
            verdicts=verdicts,
        )
    return found, tally, gathered


class _Workers:
    """Worker processes that make :func:`_gather`'s pass over a store's runs of clients.

    Each run (a :class:`~relcycle.store.StoredPart`) is read and assessed in a
    worker; the driver takes the runs back in client id order and feeds their
    lines to the tally and the sink exactly as one pass over the whole
    portfolio does, so the report is the same. Lines bound for a spill file
    come back as its rows with the run's tally, and are copied there. A few
    runs are in flight at a time, so the driver holds the lines of those runs
    only.
    """

    def __init__(
        self, parts: Sequence[StoredPart], workers: int, policies: ReportPolicies, tz: tzinfo
    ) -> None:
        import pickle

        for what, value in (("the policies", policies), ("the time zone", tz)):
            try:
                pickle.dumps(value)
            except Exception as exc:  # any pickling failure says the same
                raise UsageError(
                    f"workers={workers}: {what} cannot be sent to worker processes "
                    f"({type(exc).__name__}: {exc}); define columns, rules and zones at "
                    "module level, or use workers=1"
                ) from None
        self._parts = tuple(parts)
        self.size = min(workers, len(self._parts))
        self._pool = _pool(self.size)

    def close(self) -> None:
        """Stop the workers (runs not started are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def gather(
        self,
        moment: datetime,
        total: int,
        ctx: _Context,
        keep: bool,
        progress: Callable[[int, int], None] | None,
        *,
        columns: bool = True,
        sink: Callable[[_Line], object] | None = None,
        tally: _Tally | None = None,
        verdicts: bool = False,
        spill: Spill | None = None,
    ) -> _Gathered:
        """:func:`_gather` over every run, in client id order.

        With ``spill`` (``sink`` then only writes lines there) the runs' lines
        are copied to it as the workers encoded them.
        """
        from collections import deque
        from concurrent.futures.process import BrokenProcessPool

        mode = (
            _PACKED_LINES
            if spill is not None
            else _LINES
            if sink is not None or tally is not None
            else _NO_LINES
        )
        pending: deque[Any] = deque()
        todo = iter(self._parts)
        found: list[_Gathered] = []
        step = max(1, total // 100)
        done = 0

        def submit() -> None:
            part = next(todo, None)
            if part is not None:
                pending.append(
                    self._pool.submit(
                        _assess_part,
                        part,
                        moment,
                        ctx.policies,
                        ctx.tz,
                        keep,
                        columns,
                        mode,
                        verdicts,
                    )
                )

        for _ in range(2 * self.size):
            submit()
        while pending:
            try:
                part_lines, part_tally, gathered = pending.popleft().result()
            except BrokenProcessPool as exc:
                raise _stopped(exc) from None
            submit()
            found.append(gathered)
            count = len(gathered.revenue)
            if spill is not None:
                spill.extend(part_lines)
                if tally is not None and part_tally is not None:
                    tally.merge(part_tally)
            else:
                for line in part_lines:
                    if tally is not None:
                        tally.add_line(line)
                    if sink is not None:
                        sink(line)
            if progress is not None:
                # as often as one pass calls it: at every step-th client and the last
                for i in range(done, done + count):
                    if i % step == 0 or i + 1 == total:
                        progress(i + 1, total)
            done += count
        return _Gathered.merged(found)


def _finish(gathered: _Gathered, ctx: _Context) -> _Moment:
    """The portfolio-wide steps (value classes, RFM scores) over what a pass gathered.

    It empties the RFM measures of ``gathered`` as it scores them.
    """
    g = gathered
    basis, economics = _portfolio_value(
        g.revenue, g.profits, g.unrated, len(g.revenue), ctx.policies
    )
    scored = _rfm._rfm_cells(g.recency, g.frequency, g.monetary)
    g.recency, g.frequency, g.monetary = {}, {}, {}
    others = _rfm.OTHERS
    # one named cell per distinct cell (clients with the same scores share it)
    named: dict[int, tuple[int, int, int, str]] = {}
    scores: dict[str, tuple[int, int, int, str]] = {}
    for cid, cell in scored.items():
        shared = named.get(id(cell))
        if shared is None:
            r, f, m, rule = cell
            shared = named[id(cell)] = (r, f, m, others if rule is None else rule.name)
        scores[cid] = shared
    del scored, named
    return _Moment(
        ctx, basis.classes, scores, g.with_records, basis, economics, g.revenue, g.verdicts
    )


@checked
def build_report(
    portfolio: Portfolio | StoredPortfolio,
    *,
    as_of: datetime | None = None,
    compare_to: datetime | None = None,
    currency: str | None = None,
    policies: ReportPolicies | None = None,
    tz: tzinfo = UTC,
    rejected_rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep_assessments: bool = True,
    spill_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
) -> Report:
    """Evaluate every client of ``portfolio`` as of a moment.

    Args:
        portfolio: The client histories: a :class:`~relcycle.history.Portfolio`,
            or a :class:`~relcycle.store.StoredPortfolio` read client by client
            (the report then holds one history at a time).
        as_of: The moment (aware). Default: the latest moment in the portfolio
            (:attr:`~relcycle.history.Portfolio.last_moment`).
        compare_to: An earlier moment; when given, the report carries migration
            matrices of stage, rung, motivation segment and value class between
            ``compare_to`` and ``as_of``.
        currency: The report's currency. Default: the one currency of the orders
            (``USD`` when there are none).
        policies: Every threshold, as a :class:`ReportPolicies` (default: the
            modules' documented defaults).
        tz: The time zone whose calendar days the lifetimes figures count in.
        rejected_rows: How many input rows were skipped when loading (counted in
            the summary).
        progress: Called as ``progress(done, total)`` while clients are evaluated.
        keep_assessments: Keep each client's full lifecycle, ladder and motivation
            assessments in its :class:`ClientReport` (about 2 KB per client).
            False keeps only the contract's fields and evidence (a large portfolio
            then needs much less memory); the full assessments are computed again
            when asked for.
        spill_dir: An existing folder: each client's line is written to a
            temporary file there as it is assessed, and the report reads its
            clients back from it when they are asked for, so the report holds a
            few figures per client (its value class, RFM scores, revenue) instead
            of its lines. The file is removed when the report is let go. The
            report is the same, field for field; ``report.clients`` is then a
            read-only sequence rather than a tuple, and each access builds the
            client's line again (iterate it once where you can).
        workers: How many processes assess the clients (1: this one). With
            more, ``portfolio`` must be a
            :class:`~relcycle.store.StoredPortfolio`: its clients are split into
            runs of :data:`relcycle.store.CHUNK`, each run read and assessed in
            a worker process (started with ``spawn``), and the lines taken back
            in client id order, so the report is the same, byte for byte. A
            portfolio of one run is assessed here. ``policies``, ``tz`` and the
            policies' columns are sent to the workers, so they must pickle
            (module-level objects do). With ``spill_dir``, writing the report
            as JSON Lines, JSON or CSV encodes its lines in as many processes.

    Returns:
        The :class:`Report`.

    Raises:
        CurrencyMismatchError: If the orders by ``as_of`` hold several currencies,
            or another currency than ``currency``: one report never adds two
            currencies (convert first, or report each currency separately).
        UsageError: If the portfolio has no records and no ``as_of`` is given,
            ``compare_to`` is not before ``as_of``, ``workers`` is not a whole
            number of 1 or more, or workers are asked of an in-memory portfolio
            or of policies that cannot be pickled; or a worker process stopped
            abruptly.
        StoreError: With workers: if the store was written while they read it,
            or is damaged.
        ValidationError: If a moment is not timezone-aware.
        RecordTypeError: If a moment is not a datetime.
    """
    policies = ReportPolicies() if policies is None else policies
    if type(workers) is not int or workers < 1:
        raise UsageError(f"workers must be a whole number of 1 or more, not {workers!r}")
    if as_of is None:
        as_of = portfolio.last_moment
        if as_of is None:
            raise UsageError(
                "the portfolio has no records: give the moment with --as-of T (as_of= in Python)"
            )
    check_moments(as_of, compare_to)
    code = _report_currency(portfolio, as_of, currency)

    def items(moment: datetime) -> Iterator[Item]:
        for full in portfolio:
            yield full.as_of(moment), None

    pool = None
    if workers > 1:
        if not isinstance(portfolio, StoredPortfolio):
            raise UsageError(
                f"workers={workers} reads the portfolio in worker processes: give a "
                "StoredPortfolio (relcycle.store.read_store, or ingest the records into a "
                "store first), or use workers=1"
            )
        parts = portfolio.parts(_STORE_CHUNK)
        if len(parts) > 1:
            pool = _Workers(parts, workers, policies, tz)
    try:
        return assemble(
            items,
            len(portfolio),
            as_of=as_of,
            compare_to=compare_to,
            currency=code,
            policies=policies,
            tz=tz,
            rejected_rows=rejected_rows,
            progress=progress,
            keep_assessments=keep_assessments,
            lookup=portfolio.__getitem__,
            spill_dir=spill_dir,
            workers=pool,
        )
    finally:
        if pool is not None:
            pool.close()


def check_moments(as_of: datetime, compare_to: datetime | None) -> None:
    """Check the report's moments: aware datetimes, ``compare_to`` before ``as_of``.

    Raises:
        UsageError: If ``compare_to`` is not before ``as_of``.
        ValidationError: If a moment is not timezone-aware.
        RecordTypeError: If a moment is not a datetime.
    """
    check_as_of(as_of, "as_of")
    if compare_to is not None:
        check_as_of(compare_to, "compare_to")
        if compare_to >= as_of:
            raise UsageError(
                f"the compared moment ({compare_to.isoformat()}, --compare-to) must be before "
                f"the report's moment ({as_of.isoformat()}, --as-of) (compare_to= and as_of= in "
                "Python)"
            )


def assemble(
    items: Callable[[datetime], Iterable[Item]],
    total: int,
    *,
    as_of: datetime,
    compare_to: datetime | None,
    currency: str,
    policies: ReportPolicies,
    tz: tzinfo,
    rejected_rows: int | None,
    progress: Callable[[int, int], None] | None,
    keep_assessments: bool,
    lookup: Callable[[str], ClientHistory] | None = None,
    spill_dir: str | os.PathLike[str] | None = None,
    workers: _Workers | None = None,
) -> Report:
    """Build the report from every client's cut history and what is known of it.

    The one assembly of :func:`build_report` and of the columnar path
    (:func:`relcycle.columnar.build_report`): both give it the same histories,
    so both give the same report. ``items(moment)`` yields, in client id order,
    each of the ``total`` clients' histories cut at ``moment`` with the verdicts
    already computed elsewhere (a :class:`Known`, or None). With ``lookup``
    (the full history of a client id) no report line keeps its client's
    history: it looks it up again when asked (explanations, the HTML page), so
    the report holds one history at a time. With ``spill_dir`` the lines are
    kept in a file there, not in memory (see :func:`build_report`). With
    ``workers`` (which needs ``lookup``) the clients are assessed in worker
    processes, and ``items`` is not read.

    Raises:
        RecordTypeError: If a policy of ``policies`` is not of its kind (the
            segmentations run per client without their argument checks).
    """
    drop = lookup is not None

    def gather(
        moment: datetime,
        ctx: _Context,
        keep: bool,
        progress: Callable[[int, int], None] | None,
        **options: Any,
    ) -> _Gathered:
        """The pass over every client at ``moment``: :func:`_gather`'s options, and
        ``spill``, where the ``sink`` writes (workers then write there themselves)."""
        if workers is not None:
            assert drop  # a worker's lines cannot carry their histories back
            return workers.gather(moment, total, ctx, keep, progress, **options)
        options.pop("spill", None)
        return _gather(items(moment), total, ctx, keep, progress, drop=drop, **options)

    with collector_paused():
        warnings: list[str] = []
        before: dict[str, Previous] | None = None
        if compare_to is not None:
            then_ctx = _Context(compare_to, policies, tz)
            then = _finish(
                gather(compare_to, then_ctx, False, None, columns=False, verdicts=True), then_ctx
            )
            if total and not then.with_records:
                warnings.append(
                    f"compare_to {compare_to.isoformat()} is before every record: "
                    "every client is 'new' since then"
                )
            assert then.verdicts is not None
            before = {
                cid: Previous(
                    lifecycle_stage=v.stage,
                    ladder_rung=v.rung,
                    motivation_segment=v.segment,
                    value_class=then.value_classes[cid],
                )
                for cid, v in then.verdicts.items()
                if v.records
            }
            del then
        ctx = _Context(as_of, policies, tz)
        tally = _Tally(policies)
        lines: list[_Line | None] = []
        spill = None if spill_dir is None else Spill(spill_dir)
        sink: Callable[[_Line], object] = lines.append
        actions = _action_numbers(policies.playbook)
        if spill is not None:
            sink = lambda line: spill.append(line.client_id, _packed(line, actions))  # noqa: E731
        try:
            now = _finish(
                gather(
                    as_of,
                    ctx,
                    keep_assessments,
                    progress,
                    sink=sink,
                    tally=tally,
                    verdicts=before is not None,
                    spill=spill,
                ),
                ctx,
            )
        except BaseException:
            if spill is not None:
                spill.close()  # a half-written spill goes now, not when collected
            raise
        clients: Sequence[ClientReport]
        if spill is None:
            built = []
            for i, line in enumerate(lines):
                assert line is not None
                previous = None if before is None else before.get(line.client_id, _NEW)
                built.append(_client_report(line, now, currency, previous, lookup))
                lines[i] = None  # let the line's working data go
            clients = tuple(built)
            del built
        else:
            spill.seal()
            clients = _StoredClients(
                spill,
                tuple(actions),
                now,
                currency,
                before,
                lookup,
                workers=1 if workers is None else workers.size,
            )
        migrations = None
        if before is not None:
            assert now.verdicts is not None
            after = {
                cid: Previous(
                    lifecycle_stage=v.stage,
                    ladder_rung=v.rung,
                    motivation_segment=v.segment,
                    value_class=now.value_classes[cid],
                )
                for cid, v in now.verdicts.items()
            }
            migrations = _migrations(before, after, now.revenue)
        # still paused: the summary allocates, and a full collection now would
        # walk every object of the report (a tenth of a second per 5,000 clients)
        return _finished(
            now,
            tally,
            clients,
            total=total,
            compare_to=compare_to,
            currency=currency,
            rejected_rows=rejected_rows,
            warnings=warnings,
            migrations=migrations,
        )


def _finished(
    now: _Moment,
    tally: _Tally,
    clients: Sequence[ClientReport],
    *,
    total: int,
    compare_to: datetime | None,
    currency: str,
    rejected_rows: int | None,
    warnings: Sequence[str] = (),
    migrations: Mapping[str, MigrationMatrix[Any]] | None = None,
) -> Report:
    """The :class:`Report` of the clients assessed and scored at one moment.

    The last step of :func:`assemble` and of :func:`relcycle.dask.build_report`:
    the warnings about the portfolio-wide steps (unknown costs, the value basis,
    a moment before every record), the summary of ``tally``, and the report.

    Args:
        now: The portfolio-wide verdicts at the report's moment (:func:`_finish`).
        tally: The summary's counts, fed every client's line.
        clients: The clients' reports, in client id order.
        total: The number of clients.
        compare_to: The compared moment, or None.
        currency: The report's currency.
        rejected_rows: The rows the readers skipped, or None.
        warnings: The warnings said before (the compared moment's).
        migrations: The migrations since ``compare_to``, or None.
    """
    ctx = now.context
    said = [*warnings, *now.economics]
    if total and not now.with_records:
        said.insert(
            0,
            f"as_of {ctx.as_of.isoformat()} is before every record: no client has an order, "
            "interaction or complaint by then, so every verdict is that of an empty "
            "history and every count and sum is 0",
        )
    summary = tally.summary(now.value_classes, now.revenue, currency, rejected_rows)
    summary["value_basis"] = now.value_basis.basis.value
    return Report(
        warnings=tuple(said),
        as_of=ctx.as_of,
        compare_to=compare_to,
        currency=currency,
        clients=clients,
        summary=summary,
        migrations=migrations,
        rejected_rows=rejected_rows,
        columns=tuple(c.name for c in ctx.policies.columns),
    )


@in_own_context
def _encode_run(
    path: str,
    start: int,
    stop: int,
    actions: Sequence[_playbook.Action],
    moment: _Moment,
    currency: str,
    before: Mapping[str, Previous] | None,
    encode: Callable[[ClientReport], str],
) -> str:
    """A worker's run of :meth:`_StoredClients.encoded`: the lines ``start`` to ``stop``."""
    from ._spill import read_rows

    with collector_paused():
        return "".join(
            encode(_report_of(row, actions, moment, currency, before, None))
            for row in read_rows(path, start, stop)
        )


def _report_of(
    row: tuple[Any, ...],
    actions: Sequence[_playbook.Action],
    moment: _Moment,
    currency: str,
    before: Mapping[str, Previous] | None,
    lookup: Callable[[str], ClientHistory] | None,
) -> ClientReport:
    """The :class:`ClientReport` of a line read back from a spill (:func:`_packed`)."""
    line = _unpacked(row, actions)
    previous = None if before is None else before.get(line.client_id, _NEW)
    return _client_report(line, moment, currency, previous, lookup)


class _StoredClients(Sequence[ClientReport]):
    """A report's clients read back from the lines in a :class:`Spill`.

    Each access builds the client's :class:`ClientReport` from its line and the
    portfolio-wide verdicts, exactly as :func:`assemble` builds them in memory.
    """

    def __init__(
        self,
        spill: Spill,
        actions: Sequence[_playbook.Action],
        moment: _Moment,
        currency: str,
        before: Mapping[str, Previous] | None,
        lookup: Callable[[str], ClientHistory] | None,
        workers: int = 1,
    ) -> None:
        self._spill = spill
        self._workers = workers
        self._actions = actions
        self._moment = moment
        self._currency = currency
        self._before = before
        self._lookup = lookup

    def _build(self, row: tuple[Any, ...]) -> ClientReport:
        return _report_of(
            row, self._actions, self._moment, self._currency, self._before, self._lookup
        )

    def __len__(self) -> int:
        return len(self._spill)

    @overload
    def __getitem__(self, index: int) -> ClientReport: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[ClientReport, ...]: ...

    def __getitem__(self, index: int | slice) -> ClientReport | tuple[ClientReport, ...]:
        positions = range(len(self._spill))
        if isinstance(index, slice):
            chosen = positions[index]
            if chosen.step == 1:
                return tuple(map(self._build, self._spill.rows(chosen.start, chosen.stop)))
            return tuple(self._build(self._spill.at(pos)) for pos in chosen)
        return self._build(self._spill.at(positions[index]))  # IndexError out of range

    def __iter__(self) -> Iterator[ClientReport]:
        return map(self._build, self._spill.rows())

    def encoded(self, encode: Callable[[ClientReport], str]) -> Iterator[str]:
        """``encode`` of every client, in order: in worker processes when the report had them.

        A report built with ``workers`` encodes its lines (a writer's
        JSON of each client, say) in as many processes, a run of
        :data:`relcycle.store.CHUNK` lines each; each run's text comes back in
        order. ``encode`` must pickle then (a module-level function, or a
        :func:`functools.partial` of one).
        """
        runs = range(0, len(self), _STORE_CHUNK)
        if self._workers < 2 or len(runs) < 2:
            yield from map(encode, self)
            return
        from collections import deque
        from concurrent.futures.process import BrokenProcessPool

        moment, before, spill = self._moment, self._before, self._spill
        path = str(spill.path)
        size = min(self._workers, len(runs))
        pool = _pool(size)
        pending: deque[Any] = deque()
        todo = iter(runs)

        def submit() -> None:
            start = next(todo, None)
            if start is None:
                return
            stop = start + _STORE_CHUNK
            keys = list(spill.keys(start, stop))
            # the portfolio-wide verdicts of the run's clients only
            part = attrs.evolve(
                moment,
                value_classes={k: moment.value_classes[k] for k in keys},
                scores={k: moment.scores[k] for k in keys if k in moment.scores},
                revenue={},
                verdicts=None,
                value_basis=attrs.evolve(moment.value_basis, classes={}, unknown=()),
            )
            mine = None if before is None else {k: before[k] for k in keys if k in before}
            pending.append(
                pool.submit(
                    _encode_run,
                    path,
                    start,
                    stop,
                    tuple(self._actions),
                    part,
                    self._currency,
                    mine,
                    encode,
                )
            )

        try:
            for _ in range(2 * size):
                submit()
            while pending:
                try:
                    text = pending.popleft().result()
                except BrokenProcessPool as exc:
                    raise _stopped(exc) from None
                submit()
                yield text
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def find(self, client_id: str) -> ClientReport | None:
        """The line of ``client_id``, or None."""
        line = self._spill.find(client_id)
        return None if line is None else self._build(line)

    def client_ids(self) -> Iterator[str]:
        """Every client id, in order."""
        return self._spill.keys()

    def has(self, client_id: str) -> bool:
        """True if the spill holds the line of ``client_id`` (nothing built)."""
        return client_id in self._spill

    def __repr__(self) -> str:
        return f"<{len(self):,} client reports in {self._spill.path.name}>"


class _StoredIndex(Mapping[str, ClientReport]):
    """:class:`Report`'s lookup by client id over :class:`_StoredClients`."""

    def __init__(self, clients: _StoredClients) -> None:
        self._clients = clients

    def __getitem__(self, client_id: str) -> ClientReport:
        found = self._clients.find(client_id) if isinstance(client_id, str) else None
        if found is None:
            raise KeyError(client_id)
        return found

    def __contains__(self, client_id: object) -> bool:
        return isinstance(client_id, str) and self._clients.has(client_id)

    def __iter__(self) -> Iterator[str]:
        return self._clients.client_ids()

    def __len__(self) -> int:
        return len(self._clients)


def portfolio_value(
    revenue: Mapping[str, Decimal],
    costs: Sequence[_cost.CostToServe],
    policies: ReportPolicies,
) -> tuple[_value.ValueClasses, list[str]]:
    """The portfolio's value classes, and what the report says about costs and value.

    The portfolio-wide step of value every engine's report takes (:func:`assemble`
    runs it on the figures its pass gathers, for :func:`relcycle.dask.build_report`
    too), for callers with their own revenues and costs. A portfolio without any cost data gives
    no warning (the summary's ``value_basis`` says the classes rank revenue);
    rates missing for costs the history holds (minutes, marketing touches) give
    one naming them, and a ``profit`` basis that valued clients of unknown profit
    at 0 says so.

    Args:
        revenue: Every client's revenue.
        costs: Every client's cost-to-serve.
        policies: The report's policies (``value_basis``, ``abc_cutoffs``).

    Returns:
        The value classes and the warnings.
    """
    missing = [c for c in costs if c.missing_rates]
    return _portfolio_value(
        revenue,
        {c.client_id: _value.known_profit(c) for c in costs},
        _MissingRates(
            len(missing),
            {rate for c in missing for rate in c.missing_rates},
            {e for c in missing for e in c.unrated_employees},
        ),
        len(costs),
        policies,
    )


class _MissingRates(NamedTuple):
    """How many clients' costs lack a rate, which rates and whose minutes."""

    clients: int
    rates: set[str]
    employees: set[str]


def _portfolio_value(
    revenue: Mapping[str, Decimal],
    profits: Mapping[str, Decimal | None],
    missing: _MissingRates,
    total: int,
    policies: ReportPolicies,
) -> tuple[_value.ValueClasses, list[str]]:
    """:func:`portfolio_value` of every client's revenue and known profit."""
    basis = _value.value_classes(
        revenue, profits, basis=policies.value_basis, cutoffs=policies.abc_cutoffs
    )
    found: list[str] = []
    wanted = policies.value_basis
    if missing.clients:
        fallback = (
            "; value classes rank revenue (value_basis = auto)"
            if wanted is _value.ValueBasis.auto and basis.basis is _value.ValueBasis.revenue
            else ""
        )
        found.append(
            f"cost-to-serve and profit are unknown (null) for {missing.clients} of "
            f"{count(total, 'client')}: "
            f"{_cost.missing_rates_text(missing.rates, missing.employees)}; "
            f"no unprofitable flag can be raised for them{fallback}"
        )
    if basis.unknown and wanted is _value.ValueBasis.profit:
        found.append(
            f"value classes rank profit: {len(basis.unknown)} of {count(total, 'client')} "
            "of unknown profit are valued 0 (class C)"
        )
    return basis, found


def moved_actions(
    policies: ReportPolicies,
    actions: Iterable[_playbook.Action],
    value_class: _value.ValueClass,
    *,
    stage: str,
    segment: str,
    risks: Iterable[str],
) -> tuple[_playbook.Action, ...]:
    """A client's actions, their urgency moved by its value class (``policies.priority``).

    The actions answering the client's stage and risks move; the standing policies
    of its segment keep their urgency (see :mod:`relcycle.segmentation.playbook`).
    Every engine's report gives its clients' actions through this function.

    Args:
        policies: The report's policies (``priority``, ``playbook``).
        actions: The playbook's actions for the client.
        value_class: The client's value class.
        stage: The client's lifecycle stage name.
        segment: The client's motivation segment name.
        risks: The client's risk flags.

    Returns:
        The actions, most urgent first.
    """
    standing = policies.playbook.standing(stage=stage, segment=segment, risks=risks)
    return policies.priority.adjust(actions, value_class, standing=standing)


#: The most argument sets a report's memo of :func:`moved_actions` keeps.
_MOVED_KEPT = 4096


def _moved(moment: _Moment, line: _Line, value_class: _value.ValueClass) -> tuple[Any, ...]:
    """:func:`moved_actions` of a line, from the moment's memo when it was asked before."""
    flags = tuple([r.flag.value for r in line.risks])
    key = (line.actions, value_class, line.stage, line.segment, flags)
    memo = moment.moved
    found = memo.get(key)
    if found is None:
        found = moved_actions(
            moment.context.policies,
            line.actions,
            value_class,
            stage=line.stage.value,
            segment=line.segment.value,
            risks=flags,
        )
        if len(memo) >= _MOVED_KEPT:
            memo.clear()
        memo[key] = found
    return found


def _client_report(
    line: _Line,
    moment: _Moment,
    currency: str,
    previous: Previous | None,
    lookup: Callable[[str], ClientHistory] | None = None,
) -> ClientReport:
    cid = line.client_id
    value_class = moment.value_classes[cid]
    score = moment.scores.get(cid)
    rfm = (
        RFMCell(r=None, f=None, m=None, segment=None)
        if score is None
        else RFMCell(r=score[0], f=score[1], m=score[2], segment=score[3])
    )
    figures = line.figures
    kept = line.assessments
    return ClientReport(
        client_id=cid,
        name=line.name,
        lifecycle_stage=line.stage,
        stage_since=line.since,
        loss_reason=line.loss_reason,
        lost_revenue=None if line.loss is None else Money(line.loss.lost_revenue, currency),
        loss_manager=None if line.loss is None else line.loss.manager,
        ladder_rung=line.rung,
        client_stage=line.client_stage,
        active=line.active,
        motivation_segment=line.segment,
        value_class=value_class,
        regularity=line.regularity,
        rfm=rfm,
        frequency=None if figures is None else figures.repeat_days,
        recency=None if figures is None else figures.span_days,
        T=None if figures is None else figures.age_days,
        monetary_value=None if figures is None else figures.mean_repeat_value,
        orders=line.orders,
        contacts=line.contacts,
        requests=line.requests,
        complaints_open=line.complaints_open,
        revenue=Money(line.revenue, currency),
        cost_to_serve=_money(line.cost_to_serve, currency),
        profit=_money(line.profit, currency),
        risks=line.risks,
        actions=_moved(moment, line, value_class),
        evidence=line.evidence,
        previous=previous,
        columns=line.columns,
        lifecycle=None if kept is None else kept[0],
        ladder=None if kept is None else kept[1],
        motivation=None if kept is None else kept[2],
        history=line.history,
        lookup=lookup,
        context=moment.context,
    )


def _migrations(
    before: Mapping[str, Previous],
    after: Mapping[str, Previous],
    values: Mapping[str, Decimal],
) -> dict[str, MigrationMatrix[Any]]:
    # Each verdict's order and its direction: a later rung is better; a later
    # (more severe) stage and a later value class are worse; segments have none.
    orders: dict[str, tuple[tuple[Any, ...], bool | None]] = {
        "lifecycle_stage": (tuple(Stage), False),
        "ladder_rung": (tuple(Rung), True),
        "motivation_segment": (tuple(MotivationSegment), None),
        "value_class": (tuple(ValueClass), False),
    }
    return {
        name: migration_matrix(
            {k: getattr(v, name) for k, v in before.items()},
            {k: getattr(v, name) for k, v in after.items()},
            order=order,
            values=values,
            later_is_better=direction,
        )
        for name, (order, direction) in orders.items()
    }
