"""The sales funnel (AIDA): awareness, interest, desire, action — built on the public API only.

Seed 003's sales module keeps a **sales funnel** with a plan (a quota) per stage,
and names the AIDA rule of the sales process: awareness → interest → desire →
action. This module derives each client's funnel stage from its interactions and
orders, with the ids of the records behind every stage; measures a portfolio's
per-stage conversion and time in stage; and compares the clients entering each
stage with per-stage quotas, per period and per account manager.

It is written the way a user writes their own machine, with nothing but public
names of relcycle (a test checks its imports): the stages and events are enums,
the machine is a :class:`~relcycle.machine.TransitionTable`, each trigger is a
record rule of :mod:`relcycle.rules`, the state is replayed by a
:class:`~relcycle.machine.Machine`, and the report gets the ``funnel_stage``
field through :class:`~relcycle.report.Column`, as any user's column would.

**Stages** (:class:`FunnelStage`): ``unaware`` (no record yet), ``awareness``,
``interest``, ``desire``, ``action``, and two that end an episode: ``dormant``
(no activity for :attr:`FunnelPolicy.dormant_days`) and ``lost`` (the client
terminated the relationship).

**Triggers** (:data:`TRIGGERS`: each a record rule of :mod:`relcycle.rules`;
the rules are disjoint, so a record gives at most one occurrence, and at the
same moment they are taken in this order):

===============  =====================================================  ==============
trigger          records                                                event
===============  =====================================================  ==============
``touch``        any interaction not matched below (a marketing touch,  ``touched``
                 a first contact, a call, a complaint call)
``inquiry``      inbound ``inquiry``, ``wish`` or ``reactivation``      ``inquired``
``negotiation``  ``offer_change`` or ``joint_planning``                 ``considered``
                 (``rules.ENGAGEMENT``)
``quote``        a planned order (``rules.PLANNED_ORDER``): a quote     ``considered``
``sale``         sales: orders placed or delivered (``rules.SALE``)     ``bought``
``termination``  interactions with purpose ``termination``              ``terminated``
===============  =====================================================  ==============

Cancelled and returned orders and complaints give nothing. Every occurrence is
activity: the decider (:data:`DECIDER`, data) schedules the ``quiet`` timer
:attr:`FunnelPolicy.dormant_days` after it (a later activity replaces it); when
the timer falls due (before a record at the same moment), the client is
``dormant`` (``went_quiet``). A lost client has no timer.

**Transitions.** Within an episode a client only moves forward: an event of an
earlier stage (a marketing touch to a client already at ``desire``) keeps the
stage. ``dormant`` and ``lost`` end the episode: from ``dormant`` any event
starts a new one at its own stage; from ``lost`` only an inquiry (a
reactivation), a negotiation or a sale brings the client back — a marketing
touch to a lost client leaves it lost. See :data:`TABLE`, or run
``relcycle diagram funnel``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum
from statistics import median
from typing import Any, Literal

import attrs

from relcycle.errors import RecordTypeError, UsageError
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory, Portfolio
from relcycle.machine import (
    Decision,
    Inactivity,
    LastActivity,
    LookupDecider,
    Machine,
    MachineState,
    Occurrence,
    Step,
    Trajectory,
    TransitionTable,
    Trigger,
    format_moment,
)
from relcycle.model import FrozenMap, Purpose
from relcycle.report import Cell, Column
from relcycle.rules import ENGAGEMENT, INBOUND, PLANNED_ORDER, REQUEST, SALE, TERMINATION, Rule, f
from relcycle.segmentation.plan import period_label

__all__ = [
    "AIDA",
    "DECIDER",
    "FUNNEL",
    "FUNNEL_COLUMN",
    "TABLE",
    "TRIGGERS",
    "FunnelAssessment",
    "FunnelEvent",
    "FunnelMemory",
    "FunnelPlan",
    "FunnelPlanReport",
    "FunnelPolicy",
    "FunnelStage",
    "FunnelSummary",
    "Quota",
    "QuotaRow",
    "StageFigures",
    "assess_funnel",
    "decide",
    "funnel_column",
    "funnel_plan_vs_actual",
    "funnel_summary",
]


# --------------------------------------------------------------------------- vocabularies


class FunnelStage(StrEnum):
    """A client's stage in the sales funnel (AIDA, plus the two ends of an episode)."""

    unaware = "unaware"
    awareness = "awareness"
    interest = "interest"
    desire = "desire"
    action = "action"
    dormant = "dormant"
    lost = "lost"


class FunnelEvent(StrEnum):
    """What happened, as a past-tense fact (each fired by one trigger, or the timer)."""

    touched = "touched"
    inquired = "inquired"
    considered = "considered"
    bought = "bought"
    went_quiet = "went_quiet"
    terminated = "terminated"


#: The four AIDA stages, in funnel order.
AIDA: tuple[FunnelStage, ...] = (
    FunnelStage.awareness,
    FunnelStage.interest,
    FunnelStage.desire,
    FunnelStage.action,
)

#: The stage each event leads to when it moves a client forward.
_LEADS_TO: Mapping[FunnelEvent, FunnelStage] = {
    FunnelEvent.touched: FunnelStage.awareness,
    FunnelEvent.inquired: FunnelStage.interest,
    FunnelEvent.considered: FunnelStage.desire,
    FunnelEvent.bought: FunnelStage.action,
}


def _rows() -> Iterable[tuple[FunnelStage, FunnelEvent, FunnelStage]]:
    order = (FunnelStage.unaware, *AIDA)
    for source in (*order, FunnelStage.dormant, FunnelStage.lost):
        for event, target in _LEADS_TO.items():
            if source is FunnelStage.lost and event is FunnelEvent.touched:
                yield source, event, source  # marketing to a lost client changes nothing
            elif source in order and order.index(target) <= order.index(source):
                yield source, event, source  # within an episode, never backwards
            else:
                yield source, event, target
        if source not in (FunnelStage.unaware, FunnelStage.dormant, FunnelStage.lost):
            yield source, FunnelEvent.went_quiet, FunnelStage.dormant
        yield source, FunnelEvent.terminated, FunnelStage.lost


#: The funnel as data: every ``(stage, event) -> stage`` row.
TABLE: TransitionTable[FunnelStage, FunnelEvent] = TransitionTable.define(
    name="funnel",
    states=FunnelStage,
    events=FunnelEvent,
    initial=FunnelStage.unaware,
    rows=_rows(),
    terminal=(FunnelStage.lost,),
)


# --------------------------------------------------------------------------- triggers

#: A negotiation is the rule layer's deep engagement (joint planning or a request
#: to change the offer); an inquiry is a client's request other than that, or a
#: reactivation the client asked for.
_INQUIRY = Rule.define(
    "inquiry",
    "interactions",
    (REQUEST.expr & ~ENGAGEMENT.expr) | (INBOUND.expr & (f("purpose") == Purpose.reactivation)),
    doc="the client asks: an inbound inquiry, wish or reactivation",
)
_TOUCH = Rule.define(
    "touch",
    "interactions",
    ~(TERMINATION.expr | ENGAGEMENT.expr | _INQUIRY.expr),
    doc="any other interaction: a marketing touch, a first contact, a call",
)

#: The trigger table: which records give which occurrence. The rules are
#: disjoint, so a record gives at most one occurrence; at the same moment the
#: lower priority comes first (a termination last).
TRIGGERS: tuple[Trigger, ...] = (
    Trigger(_TOUCH, "touch", priority=1),
    Trigger(_INQUIRY, "inquiry", priority=2),
    Trigger(ENGAGEMENT, "negotiation", priority=3),
    Trigger(PLANNED_ORDER, "quote", priority=3),
    Trigger(SALE, "sale", priority=4),
    Trigger(TERMINATION, "termination", priority=5),
)

#: The event each occurrence kind gives.
_EVENT_OF: Mapping[str, FunnelEvent] = {
    "touch": FunnelEvent.touched,
    "inquiry": FunnelEvent.inquired,
    "negotiation": FunnelEvent.considered,
    "quote": FunnelEvent.considered,
    "sale": FunnelEvent.bought,
    "termination": FunnelEvent.terminated,
}

#: The stages that end an episode.
_ENDED = frozenset((FunnelStage.dormant, FunnelStage.lost))


#: Builds a named tuple without its Python-level ``__new__`` (the report's column
#: builds the steps of every client's episode).
_new = tuple.__new__


# --------------------------------------------------------------------------- policy


def _positive_days(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(
            f"FunnelPolicy.{attribute.name}: give a whole number of days >= 1, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class FunnelPolicy:
    """The funnel's one threshold.

    Attributes:
        dormant_days: Days without activity (any trigger) after which a client
            in the funnel is ``dormant`` (default 180).

    Raises:
        UsageError: If ``dormant_days`` is not a whole number of days >= 1.
    """

    dormant_days: int = attrs.field(default=180, validator=_positive_days)


# --------------------------------------------------------------------------- the decider

#: What the funnel's decider remembers: the client's latest activity.
FunnelMemory = LastActivity

#: The funnel's decider, as data: each occurrence gives its event
#: (:data:`TRIGGERS`); after every activity that leaves the client in an AIDA
#: stage the ``quiet`` timer is set :attr:`FunnelPolicy.dormant_days` later (a
#: later activity replaces it; a lost client has none); falling due, before a
#: record at the same moment, it gives ``went_quiet``.
DECIDER: LookupDecider[FunnelStage, FunnelEvent] = LookupDecider(
    TABLE,
    _EVENT_OF,
    Inactivity(
        kind="quiet", event=FunnelEvent.went_quiet, states=AIDA, days="dormant_days", priority=0
    ),
)


def decide(
    state: MachineState[FunnelStage, LastActivity], occurrence: Occurrence, policy: FunnelPolicy
) -> Decision[LastActivity]:
    """The funnel's pure decider: one occurrence in, its event with its evidence out.

    :data:`DECIDER` as a function: a record's occurrence gives its event
    (:data:`TRIGGERS`) and, unless the client is now lost, (re)schedules the
    dormancy timer ``dormant_days`` after it; the timer falling due gives
    ``went_quiet``.
    """
    return DECIDER(state, occurrence, policy)


#: The funnel machine: :data:`TABLE`, :data:`TRIGGERS` and :data:`DECIDER`.
FUNNEL: Machine[FunnelStage, FunnelEvent, LastActivity, FunnelPolicy] = Machine(
    table=TABLE,
    triggers=TRIGGERS,
    decide=DECIDER,
    initial_memory=LastActivity(),
    memory_from_dict=LastActivity.from_dict,
    timer_kinds=frozenset({"quiet"}),
)


# --------------------------------------------------------------------------- one client


@attrs.frozen(kw_only=True)
class FunnelAssessment:
    """A client's place in the funnel as of a moment, and why.

    Attributes:
        client_id: The client.
        as_of: The moment.
        stage: The stage.
        since: When the client entered it (None: never moved, ``unaware``).
        evidence: Why: the path of the current episode and the record ids that
            moved the client into each of its stages.
        episode: The step into each stage of the current episode, in the order
            entered; an episode that followed dormancy or a loss starts with the
            step into ``dormant`` or ``lost`` that ended the one before.
        trajectory: Every step of the replay (for time travel and time in stage).
        state: The machine's state, to save (``state.to_dict()``) and resume
            later with :meth:`relcycle.machine.Machine.resume` on :data:`FUNNEL`.
    """

    client_id: str
    as_of: datetime
    stage: FunnelStage
    since: datetime | None
    evidence: Evidence
    episode: FrozenMap[FunnelStage, Step[FunnelStage, FunnelEvent]]
    trajectory: Trajectory[FunnelStage, FunnelEvent]
    state: MachineState[FunnelStage, FunnelMemory]

    def stage_at(self, moment: datetime) -> FunnelStage:
        """The stage the client was in at ``moment`` (at or before :attr:`as_of`)."""
        return self.trajectory.state_at(moment)


def _episode(
    steps: Iterable[Step[FunnelStage, FunnelEvent]],
) -> dict[FunnelStage, Step[FunnelStage, FunnelEvent]]:
    episode: dict[FunnelStage, Step[FunnelStage, FunnelEvent]] = {}
    ended = _ENDED
    for step in steps:
        _, source, target, *_ = step
        if source is target:
            continue
        if target in ended:
            episode = {}
        episode[target] = step
    return episode


def _evidence(
    stage: FunnelStage, episode: Mapping[FunnelStage, Step[FunnelStage, FunnelEvent]]
) -> Evidence:
    if stage is FunnelStage.unaware:
        return Evidence("no interaction or order yet")
    entered = episode[stage]
    head = f"{stage.value} since {format_moment(entered.at)}: {entered.detail}"
    if stage in (FunnelStage.dormant, FunnelStage.lost):
        return Evidence(head, entered.record_ids)
    path = ", ".join(f"{s.value} {format_moment(step.at)}" for s, step in episode.items())
    ids = [i for step in episode.values() for i in step.record_ids]
    return Evidence(f"{head} (path: {path})", ids)


def assess_funnel(
    history: ClientHistory, *, as_of: datetime, policy: FunnelPolicy | None = None
) -> FunnelAssessment:
    """Where a client stands in the funnel as of ``as_of``, with the records behind it.

    Args:
        history: The client's history (records after ``as_of`` are ignored).
        as_of: The moment (aware).
        policy: The dormancy threshold (default :class:`FunnelPolicy`).

    Returns:
        The :class:`FunnelAssessment`.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
        RecordTypeError: If ``as_of`` is not a datetime.
    """
    if not isinstance(history, ClientHistory):
        raise RecordTypeError(
            record="assess_funnel", field="history", value=history, expected="a ClientHistory"
        )
    if policy is not None and not isinstance(policy, FunnelPolicy):
        raise RecordTypeError(
            record="assess_funnel", field="policy", value=policy, expected="a FunnelPolicy"
        )
    run = FUNNEL.run(history, as_of=as_of, policy=FunnelPolicy() if policy is None else policy)
    trajectory = run.trajectory
    episode = _episode(trajectory.steps)
    stage = trajectory.state
    return FunnelAssessment(
        client_id=history.client_id,
        as_of=as_of,
        stage=stage,
        since=trajectory.since(),
        evidence=_evidence(stage, episode),
        episode=FrozenMap(episode),
        trajectory=trajectory,
        state=run.state,
    )


# --------------------------------------------------------------------------- the report's column


@attrs.frozen
class _FunnelCell:
    """The report column's assessor: a client's stage and its evidence."""

    policy: FunnelPolicy

    def __call__(self, history: ClientHistory, *, as_of: datetime, tz: tzinfo) -> Cell:
        # What assess_funnel gives for the stage and its evidence, without the
        # assessment around them (the report keeps only the cell).
        trajectory = FUNNEL.run(history, as_of=as_of, policy=self.policy).trajectory
        stage = trajectory.state
        return Cell(stage.value, _evidence(stage, _episode(trajectory.steps)))

    def over_tables(
        self, frames: Any, *, as_of: datetime, tz: tzinfo
    ) -> tuple[Cell, Iterator[tuple[str, Cell]]]:
        """Every client's cell, the funnel folded over the tables (the columnar engine).

        The steps come from :func:`relcycle.columnar.machine_steps` (the same
        machine, folded over all clients at once); only each client's current
        episode (the steps that changed the stage, from the last one into
        ``dormant`` or ``lost``) becomes Python objects, for its evidence.
        """
        import polars as pl

        from relcycle.columnar import machine_steps

        steps = machine_steps(FUNNEL, frames, as_of=as_of, policy=self.policy)
        position = pl.int_range(pl.len()).over("client_id")
        entered_end = pl.when(pl.col("target").is_in([s.value for s in _ENDED])).then("n")
        episodes = (
            steps.lazy()
            .filter(pl.col("source") != pl.col("target"))
            .with_columns(position.alias("n"))
            .filter(pl.col("n") >= entered_end.max().over("client_id").fill_null(0))
            .select(
                "client_id", "at", "at_offset", "source", "target", "event", "record_ids", "detail"
            )
            .collect()
        )
        unaware = FunnelStage.unaware
        return Cell(unaware.value, _evidence(unaware, {})), _cells(episodes.iter_rows())


def _moment(instant: datetime, offset: int) -> datetime:
    """A UTC instant in the time zone of its UTC offset (seconds)."""
    return instant.astimezone(UTC if offset == 0 else timezone(timedelta(seconds=offset)))


_STAGE_OF = {s.value: s for s in FunnelStage}
_EVENT_NAMED = {e.value: e for e in FunnelEvent}


def _cells(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[str, Cell]]:
    """The cells of :meth:`_FunnelCell.over_tables` from the episodes' steps, client by client."""
    stage_of, event_of, new, step = _STAGE_OF, _EVENT_NAMED, _new, Step
    current: str | None = None
    episode: list[Step[FunnelStage, FunnelEvent]] = []
    for cid, at, off, src, tgt, ev, rids, text in rows:
        if cid != current:
            if current is not None:
                yield current, _cell(episode)
            current, episode = cid, []
        target = stage_of[tgt]
        episode.append(
            new(step, (_moment(at, off), stage_of[src], target, event_of[ev], tuple(rids), text))
        )
    if current is not None:
        yield current, _cell(episode)


def _cell(steps: list[Step[FunnelStage, FunnelEvent]]) -> Cell:
    stage = steps[-1].target
    return Cell(stage.value, _evidence(stage, _episode(steps)))


def funnel_column(policy: FunnelPolicy | None = None) -> Column:
    """The report's ``funnel_stage`` column, with ``policy``'s dormancy threshold.

    Put it in :attr:`relcycle.report.ReportPolicies.columns` in place of
    :data:`FUNNEL_COLUMN` to report the funnel with another threshold.
    """
    return Column(
        "funnel_stage",
        _FunnelCell(FunnelPolicy() if policy is None else policy),
        values=tuple(s.value for s in FunnelStage),
        doc="the client's stage in the sales funnel (AIDA), with the records behind it",
    )


#: The report's ``funnel_stage`` column with the default policy (on by default).
FUNNEL_COLUMN: Column = funnel_column()


# --------------------------------------------------------------------------- a portfolio


#: The arithmetic of the funnel's ratios: fixed, not the caller's decimal context.
_CTX = Context(prec=28, rounding=ROUND_HALF_EVEN)


def _ratio(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return _CTX.quantize(_CTX.divide(Decimal(part), Decimal(whole)), Decimal("0.0001"))


@attrs.frozen(kw_only=True)
class StageFigures:
    """One AIDA stage's figures over a portfolio.

    Attributes:
        stage: The stage.
        clients: Clients in the stage at the moment.
        entered: Clients that ever entered the stage.
        reached: Clients that ever got at least this far (entered this stage or
            a later one, possibly skipping it: an order out of the blue reaches
            every stage up to ``action``).
        conversion: ``reached`` of the next stage / ``reached`` of this one
            (None for ``action``, or when no client reached the stage).
        mean_days: Mean days spent in the stage, over the clients that spent time
            in it (every visit of a client added up); None when none did.
        median_days: The median of the same.
    """

    stage: FunnelStage
    clients: int
    entered: int
    reached: int
    conversion: Decimal | None
    mean_days: float | None
    median_days: float | None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (the conversion as a decimal string)."""
        return {
            "stage": self.stage.value,
            "clients": self.clients,
            "entered": self.entered,
            "reached": self.reached,
            "conversion": None if self.conversion is None else str(self.conversion),
            "mean_days": self.mean_days,
            "median_days": self.median_days,
        }


@attrs.frozen(kw_only=True)
class FunnelSummary:
    """The funnel of a portfolio as of a moment.

    Attributes:
        as_of: The moment.
        stages: The figures of the four AIDA stages, in funnel order.
        counts: Clients per stage (all seven) at the moment.
    """

    as_of: datetime
    stages: tuple[StageFigures, ...]
    counts: FrozenMap[FunnelStage, int]

    def __getitem__(self, stage: FunnelStage) -> StageFigures:
        """The figures of an AIDA stage.

        Raises:
            KeyError: For a stage outside :data:`AIDA`.
        """
        for row in self.stages:
            if row.stage is stage:
                return row
        raise KeyError(stage)


def _assessments(
    portfolio: Portfolio | Iterable[ClientHistory], as_of: datetime, policy: FunnelPolicy | None
) -> list[tuple[ClientHistory, FunnelAssessment]]:
    if not isinstance(portfolio, Iterable):
        raise RecordTypeError(
            record="funnel",
            field="portfolio",
            value=portfolio,
            expected="a Portfolio or an iterable of ClientHistory",
        )
    return [(h, assess_funnel(h, as_of=as_of, policy=policy)) for h in portfolio]


def funnel_summary(
    portfolio: Portfolio | Iterable[ClientHistory],
    *,
    as_of: datetime,
    policy: FunnelPolicy | None = None,
) -> FunnelSummary:
    """Per-stage conversion and time in stage over a portfolio, as of ``as_of``.

    Args:
        portfolio: The clients.
        as_of: The moment (aware).
        policy: The dormancy threshold.

    Returns:
        The :class:`FunnelSummary`.
    """
    found = _assessments(portfolio, as_of, policy)
    counts = dict.fromkeys(FunnelStage, 0)
    entered = dict.fromkeys(AIDA, 0)
    reached = dict.fromkeys(AIDA, 0)
    spent: dict[FunnelStage, list[float]] = {stage: [] for stage in AIDA}
    for _, assessment in found:
        counts[assessment.stage] += 1
        trajectory = assessment.trajectory
        visited = {step.target for step in trajectory.transitions}
        furthest = max((AIDA.index(s) for s in visited if s in AIDA), default=-1)
        for i, stage in enumerate(AIDA):
            entered[stage] += stage in visited
            reached[stage] += i <= furthest
        for stage, time in trajectory.time_in_states(as_of).items():
            if stage in spent and time > timedelta(0):
                spent[stage].append(time / timedelta(days=1))
    rows = []
    for i, stage in enumerate(AIDA):
        days = spent[stage]
        rows.append(
            StageFigures(
                stage=stage,
                clients=counts[stage],
                entered=entered[stage],
                reached=reached[stage],
                conversion=(
                    None if i + 1 == len(AIDA) else _ratio(reached[AIDA[i + 1]], reached[stage])
                ),
                mean_days=round(sum(days) / len(days), 2) if days else None,
                median_days=round(median(days), 2) if days else None,
            )
        )
    return FunnelSummary(as_of=as_of, stages=tuple(rows), counts=FrozenMap(counts))


# --------------------------------------------------------------------------- plan vs actual

PlanPeriod = Literal["month", "quarter"]

_PERIOD_FORMS: Mapping[str, str] = {"month": "2024-03", "quarter": "2024-Q1"}


def _aida_stage(value: FunnelStage | str) -> FunnelStage:
    stage = FunnelStage(value) if value in set(FunnelStage) else None
    if stage not in AIDA:
        raise UsageError(
            f"Quota.stage {value!r}: a quota is set on an AIDA stage "
            f"({', '.join(s.value for s in AIDA)})"
        )
    assert stage is not None
    return stage


def _check_target(_: object, __: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"Quota.target {value!r}: give a whole number of clients >= 0")


def _check_manager(_: object, __: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise UsageError(f"Quota.manager {value!r}: give a manager id, or None for the portfolio")


@attrs.frozen(kw_only=True)
class Quota:
    """How many clients should enter a stage in a period (for one manager, or all).

    Attributes:
        stage: An AIDA stage (a value such as ``"interest"`` is accepted).
        period: The period's label: ``2024-03`` for a month plan, ``2024-Q1``
            for a quarter plan.
        target: The number of clients that should enter the stage in the period.
        manager: The account manager whose clients count (None: every client).

    Raises:
        UsageError: For a stage outside AIDA, a negative or non-integer target,
            or an empty manager id.
    """

    stage: FunnelStage = attrs.field(converter=_aida_stage)
    period: str
    target: int = attrs.field(validator=_check_target)
    manager: str | None = attrs.field(default=None, validator=_check_manager)


def _period_ok(period: str, label: str) -> bool:
    year, sep, rest = label.partition("-")
    if not (sep and len(year) == 4 and year.isdigit()):
        return False
    if period == "month":
        return len(rest) == 2 and rest.isdigit() and 1 <= int(rest) <= 12
    return rest in ("Q1", "Q2", "Q3", "Q4")


def _check_quotas(plan: FunnelPlan, _: object, quotas: tuple[Quota, ...]) -> None:
    if not quotas:
        raise UsageError("FunnelPlan: give at least one Quota")
    seen: set[tuple[FunnelStage, str, str | None]] = set()
    for quota in quotas:
        if not isinstance(quota, Quota):
            raise UsageError(f"FunnelPlan.quotas: {quota!r} is not a Quota")
        if not isinstance(quota.period, str) or not _period_ok(plan.period, quota.period):
            raise UsageError(
                f"FunnelPlan: quota {quota.stage.value} {quota.period!r}: a {plan.period} "
                f"plan's periods look like {_PERIOD_FORMS[plan.period]!r}"
            )
        key = (quota.stage, quota.period, quota.manager)
        if key in seen:
            who = "the portfolio" if quota.manager is None else f"manager {quota.manager!r}"
            raise UsageError(
                f"FunnelPlan: two quotas for {quota.stage.value} in {quota.period} for {who}"
            )
        seen.add(key)


def _check_period(_: object, __: attrs.Attribute[str], value: str) -> None:
    if value not in _PERIOD_FORMS:
        raise UsageError(f"FunnelPlan.period {value!r}: give 'month' or 'quarter'")


def _check_tz(_: object, __: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tzinfo):
        raise UsageError(f"FunnelPlan.tz {value!r}: give a tzinfo (such as datetime.UTC)")


@attrs.frozen(kw_only=True)
class FunnelPlan:
    """Per-stage quotas per period, for the portfolio or per account manager.

    Attributes:
        period: ``"month"`` or ``"quarter"``: the calendar periods of the quotas.
        quotas: The quotas (at least one; one per stage, period and manager).
        tz: The time zone whose calendar the periods follow (UTC).

    Raises:
        UsageError: For an unknown period, no quotas, a quota whose period label
            does not fit the plan's period, or two quotas for the same stage,
            period and manager.
    """

    period: PlanPeriod = attrs.field(default="month", validator=_check_period)
    quotas: tuple[Quota, ...] = attrs.field(converter=tuple, validator=_check_quotas)
    tz: tzinfo = attrs.field(default=UTC, validator=_check_tz)


@attrs.frozen(kw_only=True)
class QuotaRow:
    """A quota and the clients that actually entered the stage in its period.

    Attributes:
        stage: The stage.
        period: The period's label.
        manager: The account manager (None: the whole portfolio).
        target: The quota.
        actual: Clients that entered the stage in the period (each once).
        client_ids: Those clients, sorted.
    """

    stage: FunnelStage
    period: str
    manager: str | None
    target: int
    actual: int
    client_ids: tuple[str, ...]

    @property
    def attainment(self) -> Decimal | None:
        """``actual / target`` (4 places); None for a zero target."""
        return _ratio(self.actual, self.target)

    @property
    def gap(self) -> int:
        """``actual - target`` (negative when behind the plan)."""
        return self.actual - self.target


@attrs.frozen(kw_only=True)
class FunnelPlanReport:
    """Per-stage plan versus actual.

    Attributes:
        as_of: Entries after this moment do not count.
        plan: The plan.
        rows: One row per quota, sorted by period, manager (portfolio first) and stage.
    """

    as_of: datetime
    plan: FunnelPlan
    rows: tuple[QuotaRow, ...]


def funnel_plan_vs_actual(
    portfolio: Portfolio | Iterable[ClientHistory],
    plan: FunnelPlan,
    *,
    as_of: datetime,
    policy: FunnelPolicy | None = None,
) -> FunnelPlanReport:
    """Compare the clients entering each stage with the plan's quotas.

    A client counts for a quota when its trajectory enters the quota's stage at
    a moment inside the quota's period (in the plan's time zone) and by
    ``as_of``, and — for a manager's quota — its account manager is that
    manager. A client that skips a stage (an order out of the blue) enters only
    the stage it lands in; one that enters a stage twice in a period counts once.

    Args:
        portfolio: The clients.
        plan: The quotas.
        as_of: The moment (aware).
        policy: The dormancy threshold.

    Returns:
        The :class:`FunnelPlanReport`, a row per quota.

    Raises:
        UsageError: If ``plan`` is not a :class:`FunnelPlan`.
    """
    if not isinstance(plan, FunnelPlan):
        raise UsageError(f"funnel_plan_vs_actual: plan must be a FunnelPlan, got {plan!r}")
    entries: dict[tuple[FunnelStage, str], dict[str, str | None]] = {}
    for history, assessment in _assessments(portfolio, as_of, policy):
        manager = history.client.account_manager
        for step in assessment.trajectory.transitions:
            key = (step.target, period_label(step.at, plan.period, plan.tz))
            entries.setdefault(key, {})[history.client_id] = manager
    rows = []
    for quota in plan.quotas:
        clients = entries.get((quota.stage, quota.period), {})
        ids = sorted(cid for cid, manager in clients.items() if quota.manager in (None, manager))
        rows.append(
            QuotaRow(
                stage=quota.stage,
                period=quota.period,
                manager=quota.manager,
                target=quota.target,
                actual=len(ids),
                client_ids=tuple(ids),
            )
        )
    rows.sort(key=lambda r: (r.period, r.manager is not None, r.manager or "", AIDA.index(r.stage)))
    return FunnelPlanReport(as_of=as_of, plan=plan, rows=tuple(rows))
