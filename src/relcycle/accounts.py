"""Account management around the ladder: who takes which client, and which contacts count.

Two ways to organise account management (seed 002):

- **relay** (:func:`relay_plan`): specialists per band of rungs. The managers who
  sell fastest take the low rungs (adversary, doubter) and bring clients at least
  to buyer; a manager who builds long-term closeness takes buyers and customers up
  to advocate; the most experienced take advocates and experts. A client is
  handed off each time it climbs into the next band.
- **guide** (:func:`guide_plan`): one manager takes a client from its rung all the
  way to expert; no handoffs, but one person needs every competency on the way.

Both are pure and deterministic: the same clients and managers give the same
plan, whatever order they come in. Neither ever gives a manager more clients
than its capacity; clients that do not fit are listed as unassigned with the
reason. :func:`compare_plans` sets two plans side by side (handoffs, load
balance, competency match).

Every contact is a means of moving a client up a rung (seed 002), so
:func:`contact_value` attributes each promotion on the ladder to the contacts
that preceded it within the attribution window
(:attr:`~relcycle.ladder.LadderPolicy.attribution_window`) and tallies the credit
by channel, employee and purpose, including the contacts that moved nobody.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from relcycle._args import checked

from ._vocab import Vocab
from .errors import DuplicateIdError, RecordTypeError, UsageError, ValidationError
from .history import ClientHistory, Portfolio
from .ladder import (
    COMPETENCIES,
    Competency,
    LadderAssessment,
    LadderPolicy,
    LifecycleView,
    Rung,
    assess_portfolio,
)
from .lifecycle import PURPOSE_EVENTS
from .model import Channel, FrozenMap, Interaction, Purpose

__all__ = [
    "DEFAULT_BANDS",
    "DISTRESS_PURPOSES",
    "AccountModel",
    "Assignment",
    "AssignmentPlan",
    "Band",
    "ContactCredit",
    "ContactStatus",
    "ContactValue",
    "Manager",
    "PlanComparison",
    "Promotion",
    "Tally",
    "Unassigned",
    "compare_plans",
    "contact_value",
    "guide_plan",
    "relay_plan",
    "rungs_of",
]

_FOUR = Decimal("0.0001")


def _dec(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_FOUR)


# --------------------------------------------------------------------------- inputs


class AccountModel(Vocab):
    """How account management is organised around the ladder."""

    relay = "relay"
    guide = "guide"


def _competencies(value: Iterable[Competency | str]) -> frozenset[Competency]:
    if isinstance(value, str):
        raise RecordTypeError(
            record="Manager",
            field="competencies",
            value=value,
            expected="a collection of competencies, not one string",
        )
    try:
        return frozenset(Competency.parse(c) for c in value)
    except ValueError as exc:
        raise ValidationError(
            record="Manager", field="competencies", value=value, reason=str(exc)
        ) from None


@attrs.frozen
class Manager:
    """A member of the supplier's team who can manage clients.

    Args:
        manager_id: The employee's id.
        competencies: The steps up the ladder the manager is good at, as
            :class:`~relcycle.ladder.Competency` members or their values.
        capacity: The most clients the manager can take (``>= 0``).
    """

    manager_id: str
    competencies: frozenset[Competency] = attrs.field(converter=_competencies)
    capacity: int

    def __attrs_post_init__(self) -> None:
        if type(self.manager_id) is not str or not self.manager_id.strip():
            raise ValidationError(
                record="Manager",
                field="manager_id",
                value=self.manager_id,
                reason="must be a non-empty string",
            )
        if type(self.capacity) is not int or self.capacity < 0:
            raise ValidationError(
                record="Manager",
                field="capacity",
                value=self.capacity,
                record_id=self.manager_id,
                reason="must be an int >= 0",
            )


def _rungs(value: Iterable[Rung | str]) -> tuple[Rung, ...]:
    try:
        return tuple(Rung.parse(r) for r in value)
    except ValueError as exc:
        raise ValidationError(record="Band", field="rungs", value=value, reason=str(exc)) from None


@attrs.frozen
class Band:
    """A band of rungs served by the same specialists in the relay model.

    Attributes:
        name: The band's name.
        rungs: Its rungs, lowest first.
    """

    name: str
    rungs: tuple[Rung, ...] = attrs.field(converter=_rungs)

    @property
    def competencies(self) -> frozenset[Competency]:
        """The competencies of the steps up from the band's rungs."""
        return frozenset(COMPETENCIES[r] for r in self.rungs)


#: Seed 002's relay: fast sellers bring adversaries and doubters at least to buyer;
#: a long-term relationship manager takes buyers and customers up to advocate; the
#: most experienced member of the team takes advocates to expert (and keeps them).
DEFAULT_BANDS: tuple[Band, ...] = (
    Band("acquisition", (Rung.adversary, Rung.doubter)),
    Band("development", (Rung.buyer, Rung.customer)),
    Band("expertise", (Rung.advocate, Rung.expert)),
)


def rungs_of(
    assessments: Mapping[str, LadderAssessment] | Iterable[LadderAssessment],
    *,
    active_only: bool = True,
) -> dict[str, Rung]:
    """``{client_id: rung}`` from ladder assessments (lost clients left out by default).

    Args:
        assessments: Assessments, or a mapping of them by client id.
        active_only: Leave out clients that are not active (lost).
    """
    items = assessments.values() if isinstance(assessments, Mapping) else assessments
    return {a.client_id: a.rung for a in items if a.active or not active_only}


# --------------------------------------------------------------------------- plans


def _path(rung: Rung) -> tuple[Competency, ...]:
    """The competencies of the steps from ``rung`` up to expert (expert: holding it)."""
    return tuple(COMPETENCIES[r] for r in Rung.ordered()[rung.rank :])


@attrs.frozen
class Assignment:
    """One client and the manager a plan gives it.

    Attributes:
        client_id: The client's id.
        rung: Its rung.
        manager_id: The manager.
        band: The relay band the client is in (None in a guide plan).
        competency: The competency of the client's next step.
        matched: Whether the manager has that competency.
        path: The competencies of every step from the rung up to expert.
        covered: How many of them the plan covers (guide: the manager has them;
            relay: the manager responsible for that band has them, or for later
            bands, some manager of that band has them).
        handoffs_ahead: Manager changes the client goes through if it climbs to
            expert (0 for a guide).
    """

    client_id: str
    rung: Rung
    manager_id: str
    band: str | None
    competency: Competency
    matched: bool
    path: tuple[Competency, ...]
    covered: int
    handoffs_ahead: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "client_id": self.client_id,
            "rung": self.rung.value,
            "manager_id": self.manager_id,
            "band": self.band,
            "competency": self.competency.value,
            "matched": self.matched,
            "covered": self.covered,
            "path": len(self.path),
            "handoffs_ahead": self.handoffs_ahead,
        }


@attrs.frozen
class Unassigned:
    """A client a plan could not place.

    Attributes:
        client_id: The client's id.
        rung: Its rung.
        reason: Why.
    """

    client_id: str
    rung: Rung
    reason: str


@attrs.frozen
class AssignmentPlan:
    """Who manages which client under one model.

    Attributes:
        model: ``relay`` or ``guide``.
        assignments: One per placed client, sorted by client id.
        unassigned: Clients that did not fit, sorted by client id.
        managers: The managers, sorted by id.
        bands: In a relay plan, each manager's band (by name; managers without a
            band take no clients); empty for a guide plan.
    """

    model: AccountModel
    assignments: tuple[Assignment, ...]
    unassigned: tuple[Unassigned, ...]
    managers: tuple[Manager, ...]
    bands: FrozenMap[str, str]

    def manager_of(self, client_id: str) -> str | None:
        """The manager the plan gives ``client_id``, or None."""
        for a in self.assignments:
            if a.client_id == client_id:
                return a.manager_id
        return None

    @property
    def loads(self) -> dict[str, int]:
        """``{manager_id: number of clients}`` for every manager (sorted by id)."""
        loads = {m.manager_id: 0 for m in self.managers}
        for a in self.assignments:
            loads[a.manager_id] += 1
        return loads

    @property
    def handoffs(self) -> int:
        """Manager changes ahead if every placed client climbed to expert."""
        return sum(a.handoffs_ahead for a in self.assignments)

    @property
    def competency_match(self) -> Fraction:
        """The share of placed clients whose manager has their next step's competency."""
        if not self.assignments:
            return Fraction(0)
        return Fraction(sum(a.matched for a in self.assignments), len(self.assignments))

    @property
    def path_coverage(self) -> Fraction:
        """The share of the steps ahead of placed clients that the plan covers."""
        total = sum(len(a.path) for a in self.assignments)
        if not total:
            return Fraction(0)
        return Fraction(sum(a.covered for a in self.assignments), total)

    @property
    def load_spread(self) -> Fraction:
        """Highest minus lowest load (clients / capacity) among the managers in use.

        Managers in use: every manager with capacity in a guide plan; in a relay
        plan, those with a band. 0 is perfectly even.
        """
        ratios = [
            Fraction(self.loads[m.manager_id], m.capacity)
            for m in self.managers
            if m.capacity > 0 and (self.model is AccountModel.guide or m.manager_id in self.bands)
        ]
        return max(ratios) - min(ratios) if ratios else Fraction(0)

    def reassignments(self, current: Mapping[str, str]) -> int:
        """How many placed clients would change manager from ``current``."""
        return sum(
            1
            for a in self.assignments
            if a.client_id in current and current[a.client_id] != a.manager_id
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (shares as decimal strings)."""
        return {
            "model": self.model.value,
            "assignments": [a.to_dict() for a in self.assignments],
            "unassigned": [
                {"client_id": u.client_id, "rung": u.rung.value, "reason": u.reason}
                for u in self.unassigned
            ],
            "bands": dict(self.bands),
            "loads": self.loads,
            "handoffs": self.handoffs,
            "competency_match": str(_dec(self.competency_match)),
            "path_coverage": str(_dec(self.path_coverage)),
            "load_spread": str(_dec(self.load_spread)),
        }


def _check_inputs(
    clients: Mapping[str, Rung | str], managers: Sequence[Manager]
) -> tuple[dict[str, Rung], tuple[Manager, ...]]:
    rungs: dict[str, Rung] = {}
    for cid, rung in clients.items():
        try:
            rungs[cid] = Rung.parse(rung)
        except ValueError as exc:
            raise ValidationError(
                record="clients", field="rung", value=rung, record_id=cid, reason=str(exc)
            ) from None
    seen: set[str] = set()
    dups: list[str] = []
    for m in managers:
        if not isinstance(m, Manager):
            raise RecordTypeError(
                record="managers", field="(item)", value=m, expected="Manager objects"
            )
        if m.manager_id in seen:
            dups.append(m.manager_id)
        seen.add(m.manager_id)
    if dups:
        raise DuplicateIdError(record="Manager", field="manager_id", ids=dups)
    return rungs, tuple(sorted(managers, key=lambda m: m.manager_id))


def _client_order(rungs: Mapping[str, Rung], values: Mapping[str, Decimal] | None) -> list[str]:
    """Most valuable clients first, then higher rungs (they need the scarcest skills), then id."""
    vals: dict[str, Decimal] = {}
    for cid, raw in (values or {}).items():
        value: object = raw
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise RecordTypeError(
                record="values", field=cid, value=value, expected="a Decimal or an int"
            )
        vals[cid] = Decimal(value)
    zero = Decimal(0)
    return sorted(rungs, key=lambda cid: (-vals.get(cid, zero), -rungs[cid].rank, cid))


def _check_bands(bands: Sequence[Band]) -> dict[Rung, int]:
    where: dict[Rung, int] = {}
    names: set[str] = set()
    for i, band in enumerate(bands):
        if band.name in names:
            raise UsageError(f"two bands are named {band.name!r}")
        names.add(band.name)
        for rung in band.rungs:
            if rung in where:
                raise UsageError(f"rung {rung.value!r} is in two bands")
            where[rung] = i
    missing = [r.value for r in Rung if r not in where]
    if missing:
        raise UsageError(f"the bands leave out rung(s): {', '.join(missing)}")
    return where


def _place_managers(
    managers: Sequence[Manager],
    bands: Sequence[Band],
    band_of_rung: Mapping[Rung, int],
    rungs: Mapping[str, Rung],
) -> dict[str, int]:
    """Give each manager the band it covers best; among equals, the most understaffed.

    Specialists (fewest competencies) are placed first, so generalists fill the
    gaps they leave. A manager with none of any band's competencies gets no band.
    """
    demand = [0] * len(bands)
    for rung in rungs.values():
        demand[band_of_rung[rung]] += 1
    supply = [0] * len(bands)
    placed: dict[str, int] = {}
    for m in sorted(managers, key=lambda m: (len(m.competencies), m.manager_id)):
        if m.capacity == 0:
            continue
        scores = [
            Fraction(len(m.competencies & b.competencies), max(1, len(b.competencies)))
            for b in bands
        ]
        best = max(scores)
        if best == 0:
            continue
        choice = min(
            (i for i, s in enumerate(scores) if s == best),
            key=lambda i: (supply[i] - demand[i], i),
        )
        placed[m.manager_id] = choice
        supply[choice] += m.capacity
    return placed


def _load_key(load: int, capacity: int) -> Fraction:
    return Fraction(load, capacity)


@checked
def relay_plan(
    clients: Mapping[str, Rung | str],
    managers: Sequence[Manager],
    *,
    bands: Sequence[Band] = DEFAULT_BANDS,
    specialities: Mapping[str, str] | None = None,
    current: Mapping[str, str] | None = None,
    values: Mapping[str, Decimal] | None = None,
) -> AssignmentPlan:
    """Assign clients to specialists per band of rungs (the relay model).

    Each manager serves one band: the one named in ``specialities``, else the band
    whose competencies it covers best (among equal bands, the one with the most
    clients per unit of capacity so far; specialists are placed before
    generalists). Each client goes to a manager of its rung's band who has room,
    preferring, in order: the competency of the client's next step, its current
    manager, the lightest load (clients / capacity), the smaller manager id.

    Args:
        clients: ``{client_id: rung}``.
        managers: The team.
        bands: The bands of rungs; together they must hold every rung once.
        specialities: ``{manager_id: band name}`` to fix managers' bands.
        current: ``{client_id: manager_id}`` today, to keep clients where they are
            when all else is equal.
        values: ``{client_id: value}``; more valuable clients are placed first, then
            clients on higher rungs (they need the scarcest competencies), then by id.

    Returns:
        The plan; no manager has more clients than its capacity.

    Raises:
        ValidationError: A rung is unknown, or ``specialities`` names an unknown
            manager or band.
        RecordTypeError: A value is a float or not a number.
        DuplicateIdError: Two managers share an id.
        UsageError: The bands do not hold every rung exactly once.
    """
    rungs, team = _check_inputs(clients, managers)
    band_of_rung = _check_bands(bands)
    placed = _place_managers(team, bands, band_of_rung, rungs)
    if specialities:
        by_name = {b.name: i for i, b in enumerate(bands)}
        ids = {m.manager_id for m in team}
        for mid, name in specialities.items():
            if mid not in ids:
                raise ValidationError(
                    record="specialities",
                    field="manager_id",
                    value=mid,
                    reason="not one of the managers",
                )
            if name not in by_name:
                raise ValidationError(
                    record="specialities",
                    field="band",
                    value=name,
                    record_id=mid,
                    reason=f"not one of the bands: {', '.join(by_name)}",
                )
            placed[mid] = by_name[name]
    cur = current or {}
    load = {m.manager_id: 0 for m in team}
    top = band_of_rung[Rung.expert]
    assignments: list[Assignment] = []
    unassigned: list[Unassigned] = []
    for cid in _client_order(rungs, values):
        rung = rungs[cid]
        b = band_of_rung[rung]
        need = COMPETENCIES[rung]
        candidates = [
            m for m in team if placed.get(m.manager_id) == b and load[m.manager_id] < m.capacity
        ]
        if not candidates:
            unassigned.append(
                Unassigned(cid, rung, f"no manager of band {bands[b].name!r} has room")
            )
            continue
        chosen = min(
            candidates,
            key=lambda m: (
                need not in m.competencies,
                cur.get(cid) != m.manager_id,
                _load_key(load[m.manager_id], m.capacity),
                m.manager_id,
            ),
        )
        load[chosen.manager_id] += 1
        path = _path(rung)
        covered = 0
        for step_rung, comp in zip(Rung.ordered()[rung.rank :], path, strict=True):
            sb = band_of_rung[step_rung]
            if sb == b:
                covered += comp in chosen.competencies
            else:
                covered += any(
                    comp in m.competencies for m in team if placed.get(m.manager_id) == sb
                )
        ahead = len({band_of_rung[r] for r in Rung.ordered()[rung.rank :]}) - 1
        assignments.append(
            Assignment(
                client_id=cid,
                rung=rung,
                manager_id=chosen.manager_id,
                band=bands[b].name,
                competency=need,
                matched=need in chosen.competencies,
                path=path,
                covered=covered,
                handoffs_ahead=ahead if b != top else 0,
            )
        )
    return AssignmentPlan(
        model=AccountModel.relay,
        assignments=tuple(sorted(assignments, key=lambda a: a.client_id)),
        unassigned=tuple(sorted(unassigned, key=lambda u: u.client_id)),
        managers=team,
        bands=FrozenMap({mid: bands[i].name for mid, i in sorted(placed.items())}),
    )


@checked
def guide_plan(
    clients: Mapping[str, Rung | str],
    managers: Sequence[Manager],
    *,
    current: Mapping[str, str] | None = None,
    values: Mapping[str, Decimal] | None = None,
) -> AssignmentPlan:
    """Assign each client one manager for its whole way up (the guide model).

    Each client goes to a manager with room, preferring, in order: the most
    competencies of the steps from the client's rung up to expert, the competency
    of its next step, its current manager, the lightest load (clients /
    capacity), the smaller manager id.

    Args:
        clients: ``{client_id: rung}``.
        managers: The team.
        current: ``{client_id: manager_id}`` today.
        values: ``{client_id: value}``; more valuable clients are placed first, then
            clients on higher rungs (they need the scarcest competencies), then by id.

    Returns:
        The plan; no manager has more clients than its capacity.

    Raises:
        ValidationError: A rung is unknown.
        DuplicateIdError: Two managers share an id.
        RecordTypeError: A value is a float or not a number.
    """
    rungs, team = _check_inputs(clients, managers)
    cur = current or {}
    load = {m.manager_id: 0 for m in team}
    assignments: list[Assignment] = []
    unassigned: list[Unassigned] = []
    for cid in _client_order(rungs, values):
        rung = rungs[cid]
        need = COMPETENCIES[rung]
        path = _path(rung)
        candidates = [m for m in team if load[m.manager_id] < m.capacity]
        if not candidates:
            unassigned.append(Unassigned(cid, rung, "no manager has room"))
            continue
        chosen = min(
            candidates,
            key=lambda m: (
                -sum(c in m.competencies for c in path),
                need not in m.competencies,
                cur.get(cid) != m.manager_id,
                _load_key(load[m.manager_id], m.capacity),
                m.manager_id,
            ),
        )
        load[chosen.manager_id] += 1
        assignments.append(
            Assignment(
                client_id=cid,
                rung=rung,
                manager_id=chosen.manager_id,
                band=None,
                competency=need,
                matched=need in chosen.competencies,
                path=path,
                covered=sum(c in chosen.competencies for c in path),
                handoffs_ahead=0,
            )
        )
    return AssignmentPlan(
        model=AccountModel.guide,
        assignments=tuple(sorted(assignments, key=lambda a: a.client_id)),
        unassigned=tuple(sorted(unassigned, key=lambda u: u.client_id)),
        managers=team,
        bands=FrozenMap(),
    )


@attrs.frozen
class PlanComparison:
    """Two plans side by side.

    Attributes:
        plans: The plans compared, in the order given.
        rows: ``(measure, value per plan...)`` rows: clients placed, unassigned,
            handoffs ahead, reassignments (when ``current`` was given), competency
            match, path coverage, load spread.
    """

    plans: tuple[AssignmentPlan, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]

    def to_text(self) -> str:
        """A plain-text table, one row per measure, one column per plan."""
        heads = [p.model.value for p in self.plans]
        width = max(len(name) for name, _ in self.rows)
        cell = max(8, *(len(h) for h in heads))
        lines = [" " * width + "".join(h.rjust(cell + 2) for h in heads)]
        for name, values in self.rows:
            lines.append(name.ljust(width) + "".join(v.rjust(cell + 2) for v in values))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()

    def to_dict(self) -> dict[str, Any]:
        """Return ``{measure: {model: value}}`` (values as strings)."""
        return {
            name: {p.model.value: v for p, v in zip(self.plans, values, strict=True)}
            for name, values in self.rows
        }


@checked
def compare_plans(
    *plans: AssignmentPlan, current: Mapping[str, str] | None = None
) -> PlanComparison:
    """Compare plans: handoffs, load balance and matching of competencies.

    Args:
        plans: Two (or more) plans for the same clients and managers.
        current: ``{client_id: manager_id}`` today, to count reassignments.

    Raises:
        UsageError: If fewer than two plans are given.
    """
    if len(plans) < 2:
        raise UsageError("compare_plans needs at least two plans")
    rows: list[tuple[str, tuple[str, ...]]] = [
        ("clients placed", tuple(str(len(p.assignments)) for p in plans)),
        ("unassigned", tuple(str(len(p.unassigned)) for p in plans)),
        ("handoffs ahead", tuple(str(p.handoffs) for p in plans)),
    ]
    if current is not None:
        rows.append(("reassignments", tuple(str(p.reassignments(current)) for p in plans)))
    rows += [
        ("competency match", tuple(str(_dec(p.competency_match)) for p in plans)),
        ("path coverage", tuple(str(_dec(p.path_coverage)) for p in plans)),
        ("load spread", tuple(str(_dec(p.load_spread)) for p in plans)),
    ]
    return PlanComparison(plans=tuple(plans), rows=tuple(rows))


# --------------------------------------------------------------------------- contact value

#: Interaction purposes that are not contacts in the ladder's sense: the client's
#: management escalating, ultimatums, arbitration and terminations push clients
#: down, they never earn credit for moving one up. They are the purposes the
#: lifecycle reacts to (:data:`relcycle.lifecycle.PURPOSE_EVENTS`) except a
#: reactivation, which brings a client back.
DISTRESS_PURPOSES: frozenset[Purpose] = frozenset(PURPOSE_EVENTS) - {Purpose.reactivation}


class ContactStatus(Vocab):
    """What became of a contact: it ``moved`` a client up, ``moved_nobody`` (its
    attribution window has closed without a promotion), or is ``pending`` (its
    window is still open at ``as_of``)."""

    moved = "moved"
    moved_nobody = "moved_nobody"
    pending = "pending"


@attrs.frozen
class Promotion:
    """A step up the ladder and the contacts that share the credit for it.

    Attributes:
        client_id: The client's id.
        at: When it moved up.
        source: The rung before.
        target: The rung after.
        event: The ladder event (its value).
        contact_ids: The contacts in the attribution window, oldest first
            (empty: nobody gets the credit).
    """

    client_id: str
    at: datetime
    source: Rung
    target: Rung
    event: str
    contact_ids: tuple[str, ...]


@attrs.frozen
class ContactCredit:
    """One contact and the credit it earned.

    Attributes:
        interaction_id: The contact's id.
        client_id: The client's id.
        at: When it happened.
        channel: Its channel.
        purpose: Its purpose.
        handled_by: The supplier's employee (None when not recorded).
        credit: Its share of the promotions it preceded (each promotion is worth 1,
            split equally among the contacts in its window).
        moved_to: The rungs of the promotions it shares.
        status: ``moved``, ``moved_nobody`` or ``pending``.
    """

    interaction_id: str
    client_id: str
    at: datetime
    channel: Channel
    purpose: Purpose
    handled_by: str | None
    credit: Fraction
    moved_to: tuple[Rung, ...]
    status: ContactStatus


@attrs.frozen
class Tally:
    """Contacts grouped by one key (a channel, an employee or a purpose).

    Attributes:
        key: The group's key (``"(unknown)"`` for contacts without an employee).
        contacts: How many contacts.
        moved: How many moved a client up.
        moved_nobody: How many moved nobody (window closed).
        pending: How many still have an open window.
        credit: The promotions credited to the group (fractions of promotions).
    """

    key: str
    contacts: int
    moved: int
    moved_nobody: int
    pending: int
    credit: Fraction

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (credit as a decimal string)."""
        return {
            "key": self.key,
            "contacts": self.contacts,
            "moved": self.moved,
            "moved_nobody": self.moved_nobody,
            "pending": self.pending,
            "credit": str(_dec(self.credit)),
        }


@attrs.frozen
class ContactValue:
    """Which contacts, channels and employees moved clients up the ladder.

    Attributes:
        as_of: The moment of the analysis.
        window: The attribution window.
        contacts: Every contact, by client then time.
        promotions: Every promotion, by client then time.
        by_channel: Tallies per channel, most credit first.
        by_employee: Tallies per employee, most credit first.
        by_purpose: Tallies per purpose, most credit first.
    """

    as_of: datetime
    window: timedelta
    contacts: tuple[ContactCredit, ...]
    promotions: tuple[Promotion, ...]
    by_channel: tuple[Tally, ...]
    by_employee: tuple[Tally, ...]
    by_purpose: tuple[Tally, ...]

    @property
    def moved_nobody(self) -> tuple[ContactCredit, ...]:
        """Contacts whose window has closed without moving anyone."""
        return tuple(c for c in self.contacts if c.status is ContactStatus.moved_nobody)

    def skills_shown(self) -> dict[str, dict[Competency, Fraction]]:
        """Per employee, the credit its contacts earned for each step's competency.

        Seed 002: "people's abilities can be assessed against the steps they are
        good at". A promotion from a rung credits the competency of that step
        (:data:`~relcycle.ladder.COMPETENCIES`), shared like the promotion itself;
        contacts without ``handled_by`` count for ``"(unknown)"``. Employees and
        competencies are sorted.
        """
        who = {(c.client_id, c.interaction_id): c.handled_by for c in self.contacts}
        shown: dict[str, dict[Competency, Fraction]] = {}
        for p in self.promotions:
            if not p.contact_ids:
                continue
            share = Fraction(1, len(p.contact_ids))
            skill = COMPETENCIES[p.source]
            for iid in p.contact_ids:
                employee = who[(p.client_id, iid)] or "(unknown)"
                mine = shown.setdefault(employee, {})
                mine[skill] = mine.get(skill, Fraction(0)) + share
        return {e: {c: shown[e][c] for c in Competency if c in shown[e]} for e in sorted(shown)}

    @property
    def unattributed(self) -> tuple[Promotion, ...]:
        """Promotions with no contact in their window."""
        return tuple(p for p in self.promotions if not p.contact_ids)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "as_of": self.as_of.isoformat(),
            "window_days": self.window / timedelta(days=1),
            "promotions": [
                {
                    "client_id": p.client_id,
                    "at": p.at.isoformat(),
                    "source": p.source.value,
                    "target": p.target.value,
                    "event": p.event,
                    "contact_ids": list(p.contact_ids),
                }
                for p in self.promotions
            ],
            "contacts": [
                {
                    "interaction_id": c.interaction_id,
                    "client_id": c.client_id,
                    "at": c.at.isoformat(),
                    "channel": c.channel.value,
                    "purpose": c.purpose.value,
                    "handled_by": c.handled_by,
                    "credit": str(_dec(c.credit)),
                    "moved_to": [r.value for r in c.moved_to],
                    "status": c.status.value,
                }
                for c in self.contacts
            ],
            "by_channel": [t.to_dict() for t in self.by_channel],
            "by_employee": [t.to_dict() for t in self.by_employee],
            "by_purpose": [t.to_dict() for t in self.by_purpose],
        }


_DEFAULT_POLICY = LadderPolicy()


def _tallies(contacts: Sequence[ContactCredit], key: Any) -> tuple[Tally, ...]:
    groups: dict[str, list[ContactCredit]] = {}
    for c in contacts:
        groups.setdefault(key(c), []).append(c)
    tallies = [
        Tally(
            key=k,
            contacts=len(cs),
            moved=sum(c.status is ContactStatus.moved for c in cs),
            moved_nobody=sum(c.status is ContactStatus.moved_nobody for c in cs),
            pending=sum(c.status is ContactStatus.pending for c in cs),
            credit=sum((c.credit for c in cs), Fraction(0)),
        )
        for k, cs in groups.items()
    ]
    return tuple(sorted(tallies, key=lambda t: (-t.credit, t.key)))


@checked
def contact_value(
    portfolio: Portfolio | Iterable[ClientHistory],
    *,
    as_of: datetime,
    policy: LadderPolicy = _DEFAULT_POLICY,
    assessments: Mapping[str, LadderAssessment] | None = None,
    lifecycles: Mapping[str, LifecycleView] | None = None,
) -> ContactValue:
    """Attribute every promotion on the ladder to the contacts that preceded it.

    A contact is an interaction whose purpose is not in
    :data:`DISTRESS_PURPOSES`. A promotion (any step up, including a
    reconciliation and a won-back client's return) at moment ``p`` is credited to
    the client's contacts at ``p - policy.attribution_window <= at <= p``, one
    promotion's worth split equally among them. A contact whose window
    (``at + attribution_window``) has closed by ``as_of`` without a promotion
    moved nobody; one whose window is still open is pending.

    Args:
        portfolio: The histories.
        as_of: The moment of the analysis.
        policy: The ladder's rules and the attribution window.
        assessments: Ladder assessments as of ``as_of`` by client id, if already
            computed (clients missing from it are assessed).
        lifecycles: Lifecycle assessments by client id, for the assessing.

    Returns:
        The contacts with their credit, the promotions, and tallies by channel,
        employee and purpose.
    """
    window = policy.attribution_window
    histories = sorted(portfolio, key=lambda h: h.client_id)
    given = assessments or {}
    missing = [h for h in histories if h.client_id not in given]
    computed = assess_portfolio(missing, as_of=as_of, policy=policy, lifecycles=lifecycles)
    contacts: list[ContactCredit] = []
    promotions: list[Promotion] = []
    for history in histories:
        a = given.get(history.client_id) or computed[history.client_id]
        mine: list[Interaction] = [
            i for i in history.interactions if i.at <= as_of and i.purpose not in DISTRESS_PURPOSES
        ]
        credit: dict[str, Fraction] = {i.interaction_id: Fraction(0) for i in mine}
        moved_to: dict[str, list[Rung]] = {i.interaction_id: [] for i in mine}
        for step in a.trajectory.steps:
            if step.at > as_of or not step.target > step.source:
                continue
            shared = [i for i in mine if step.at - window <= i.at <= step.at]
            promotions.append(
                Promotion(
                    client_id=history.client_id,
                    at=step.at,
                    source=step.source,
                    target=step.target,
                    event=step.event.value,
                    contact_ids=tuple(i.interaction_id for i in shared),
                )
            )
            for i in shared:
                credit[i.interaction_id] += Fraction(1, len(shared))
                moved_to[i.interaction_id].append(step.target)
        for i in mine:
            if moved_to[i.interaction_id]:
                status = ContactStatus.moved
            elif i.at + window > as_of:
                status = ContactStatus.pending
            else:
                status = ContactStatus.moved_nobody
            contacts.append(
                ContactCredit(
                    interaction_id=i.interaction_id,
                    client_id=history.client_id,
                    at=i.at,
                    channel=i.channel,
                    purpose=i.purpose,
                    handled_by=i.handled_by,
                    credit=credit[i.interaction_id],
                    moved_to=tuple(moved_to[i.interaction_id]),
                    status=status,
                )
            )
    return ContactValue(
        as_of=as_of,
        window=window,
        contacts=tuple(contacts),
        promotions=tuple(promotions),
        by_channel=_tallies(contacts, lambda c: c.channel.value),
        by_employee=_tallies(
            contacts, lambda c: "(unknown)" if c.handled_by is None else c.handled_by
        ),
        by_purpose=_tallies(contacts, lambda c: c.purpose.value),
    )
