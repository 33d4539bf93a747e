"""A machine folded over whole tables: every client's steps at once.

:func:`machine_steps` takes a :class:`~relcycle.machine.Machine` whose decider
is data (a :class:`~relcycle.machine.LookupDecider`) and the columnar engine's
frames, and gives the steps :meth:`Machine.run <relcycle.machine.Machine.run>`
gives client by client, as one table, with no per-client Python:

1. **Occurrences.** Each trigger's rule is compiled to polars by the rule layer
   (the same declaration the runner compiles to Python); the records it matches
   by the moment become rows of ``(client, at, priority, key, sub)``, ordered
   as the runner orders them (see :class:`~relcycle.machine.Occurrence`,
   including a record's later triggers at the same moment).
2. **Timers.** The decider's :class:`~relcycle.machine.Inactivity` timer is set
   after every record occurrence and falls due when the client's next
   occurrence sorts after it (or, after the last one, by the moment): those
   rows get a timer row right after them. Whether the timer was really set
   (the client was left in one of its states) is decided by the fold.
3. **The fold.** Each row is a map of states to states (its event's column of
   the transition table; a timer row moves only the states it runs in). The
   maps of all clients are composed at once by a prefix scan (Hillis and
   Steele: ``log2`` of the busiest client's occurrence count rounds, each a
   shift and one lookup in the composition table of the maps the machine can
   form), which gives every row's state after it.

The maps are finite: the fold enumerates every composition of the machine's
event maps once per machine (a machine whose events compose into more than
:data:`MAX_MAPS` distinct maps is refused with a clear error).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import attrs

from relcycle.errors import UsageError
from relcycle.machine import LookupDecider, Machine, format_moment
from relcycle.rules import ID_FIELD, MOMENT_FIELD, Rule, known_at

from ._source import import_polars
from ._tables import _Moments

if TYPE_CHECKING:
    import polars as pl
    from polars import DataFrame

    from ._tables import Frames

__all__ = ["MAX_MAPS", "STEP_COLUMNS", "machine_steps"]

#: The most distinct state maps a machine's events may compose into.
MAX_MAPS = 512

#: The columns of :func:`machine_steps`' table, in order.
STEP_COLUMNS = (
    "client_id",
    "at",
    "at_offset",
    "source",
    "target",
    "event",
    "record_id",
    "detail",
)


@attrs.frozen
class _Compiled:
    """A lookup machine as arrays: the maps its events compose into."""

    states: tuple[Any, ...]
    events: tuple[Any, ...]
    #: Map id of each record occurrence kind, and of the timer (None: no timer).
    kind_map: Mapping[str, int]
    timer_map: int | None
    #: ``comp[first * size + second]``: the map "first, then second".
    comp: list[int]
    size: int
    #: The state each map sends the initial state to.
    from_initial: list[int]


_COMPILED: dict[int, tuple[Machine[Any, Any, Any, Any], _Compiled]] = {}


def _compile(machine: Machine[Any, Any, Any, Any], decider: LookupDecider[Any, Any]) -> _Compiled:
    found = _COMPILED.get(id(machine))
    if found is not None and found[0] is machine:
        return found[1]
    table = machine.table
    states = tuple(table.states)
    code = {s: i for i, s in enumerate(states)}
    nxt = table._next
    n = len(states)

    def event_map(event: Any, only: frozenset[Any] | None = None) -> tuple[int, ...]:
        return tuple(code[nxt[s][event]] if only is None or s in only else code[s] for s in states)

    generators: list[tuple[int, ...]] = []
    kind_gen: dict[str, int] = {}
    for kind, event in decider.events.items():
        m = event_map(event)
        if m not in generators:
            generators.append(m)
        kind_gen[kind] = generators.index(m)
    timer_gen = None
    if decider.timer is not None:
        m = event_map(decider.timer.event, decider.timer.states)
        if m not in generators:
            generators.append(m)
        timer_gen = generators.index(m)
    identity = tuple(range(n))
    index: dict[tuple[int, ...], int] = {identity: 0}
    elements = [identity]
    k = 0
    while k < len(elements):
        first = elements[k]
        k += 1
        for g in generators:
            composed = tuple(g[x] for x in first)
            if composed not in index:
                if len(elements) >= MAX_MAPS:
                    raise UsageError(
                        f"machine {machine.name!r}: its events compose into more than "
                        f"{MAX_MAPS} state maps; it cannot be folded over tables "
                        "(run it client by client with Machine.run)"
                    )
                index[composed] = len(elements)
                elements.append(composed)
    size = len(elements)
    comp = [index[tuple(second[x] for x in first)] for first in elements for second in elements]
    compiled = _Compiled(
        states=states,
        events=tuple(table.events),
        kind_map={kind: index[generators[g]] for kind, g in kind_gen.items()},
        timer_map=None if timer_gen is None else index[generators[timer_gen]],
        comp=comp,
        size=size,
        from_initial=[m[code[table.initial]] for m in elements],
    )
    _COMPILED[id(machine)] = (machine, compiled)
    return compiled


def _occurrences(
    pl: Any,
    machine: Machine[Any, Any, Any, Any],
    compiled: _Compiled,
    frames: Frames,
    as_of: datetime,
) -> Any:
    """Every record occurrence by ``as_of``, with its map, in no particular order."""
    by_table: dict[str, list[Any]] = {}
    for trigger in machine.triggers:
        if not isinstance(trigger.rule, Rule):
            raise UsageError(
                f"machine {machine.name!r}: trigger {trigger.kind!r} reads its records with "
                f"{trigger.rule!r}, not a relcycle.rules.Rule: it cannot be evaluated over tables"
            )
        by_table.setdefault(trigger.rule.table, []).append(trigger)
    codes = {id(t): i for i, t in enumerate(machine.triggers)}
    parts = []
    for table, triggers in by_table.items():
        frame = frames.frame(table).lazy()
        moments = [MOMENT_FIELD[table] if t.at is None else t.at for t in triggers]
        matched = [
            (t.rule.to_polars() & pl.col(m).is_not_null() & known_at(table, as_of, m)).alias(
                f"_m{i}"
            )
            for i, (t, m) in enumerate(zip(triggers, moments, strict=True))
        ]
        marks = [pl.col(f"_m{i}") for i in range(len(triggers))]
        marked = frame.with_columns(matched).with_columns(pl.sum_horizontal(marks).alias("_n"))

        def first_of(values: list[Any], marks: list[Any] = marks) -> Any:
            """The value of the first trigger that matched (a when/then chain)."""
            chain = pl.when(marks[0]).then(values[0])
            for mark, value in zip(marks[1:], values[1:], strict=True):
                chain = chain.when(mark).then(value)
            return chain

        def columns(
            at: Any, offset: Any, priority: Any, trig: Any, key: str = ID_FIELD[table]
        ) -> list[Any]:
            return [
                pl.col("client_id"),
                at.alias("at"),
                offset.alias("at_offset"),
                priority.cast(pl.Int64).alias("priority"),
                pl.col(key).alias("key"),
                trig.cast(pl.UInt32).alias("trig"),
            ]

        # The common case: a record that one trigger matches gives one occurrence.
        single = marked.filter(pl.col("_n") == 1).select(
            *columns(
                first_of([pl.col(m) for m in moments]),
                first_of([pl.col(f"{m}_offset") for m in moments]),
                first_of([pl.lit(t.priority) for t in triggers]),
                first_of([pl.lit(codes[id(t)]) for t in triggers]),
            ),
            pl.lit(0, pl.Int64).alias("sub"),
        )
        parts.append(single)
        if len(triggers) == 1:
            continue
        # A record several triggers match gives one occurrence per trigger; a later
        # trigger at the moment of an earlier one comes right after it: it takes
        # the first one's priority (see Occurrence.sub).
        several = marked.filter(pl.col("_n") > 1)
        pieces = [
            several.filter(mark).select(
                *columns(
                    pl.col(m),
                    pl.col(f"{m}_offset"),
                    pl.lit(t.priority),
                    pl.lit(codes[id(t)]),
                ),
                pl.lit(order, pl.Int32).alias("order"),
            )
            for order, (t, m, mark) in enumerate(zip(triggers, moments, marks, strict=True))
        ]
        same = ("client_id", "key", "at")
        parts.append(
            pl.concat(pieces)
            .sort("client_id", "key", "order")
            .with_columns(
                pl.col("priority").first().over(same),
                pl.int_range(pl.len(), dtype=pl.Int64).over(same).alias("sub"),
            )
            .drop("order")
        )
    if not parts:
        return None
    return pl.concat(parts).collect()


def machine_steps(
    machine: Machine[Any, Any, Any, Any],
    frames: Frames,
    *,
    as_of: datetime,
    policy: object,
) -> pl.DataFrame:
    """Every client's steps through ``machine`` up to ``as_of``, folded over the tables.

    The steps :meth:`Machine.run <relcycle.machine.Machine.run>` takes for each
    client's history (its trajectory's steps), for all clients at once.

    Args:
        machine: A machine whose decider is a :class:`~relcycle.machine.LookupDecider`
            and whose triggers are :class:`~relcycle.rules.Rule`\\ s without
            state guards.
        frames: The tables (:func:`relcycle.columnar.read_tables`).
        as_of: The moment (aware); later records are left out.
        policy: The decider's policy (it names the timer's number of days).

    Returns:
        A polars DataFrame with the columns :data:`STEP_COLUMNS`: the client,
        the step's moment (UTC) and its UTC offset in seconds, the states before
        and after and the event (their values, as ``polars.Enum`` columns of the
        table's states and events), the record id it cites, and
        the detail (the trigger's kind, or the timer's sentence), sorted by
        client id and then in the order the steps were taken. A client with no
        step has no row (it is in the machine's initial state).

    Raises:
        UsageError: If the machine's decider is not a lookup decider, a trigger
            is guarded by states or reads its records with something else than
            a rule, its events compose into more than :data:`MAX_MAPS` maps, or
            the policy does not give the timer's days.
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    from relcycle.history import check_as_of

    moment = check_as_of(as_of)
    decider = machine.decide
    if not isinstance(decider, LookupDecider):
        raise UsageError(
            f"machine {machine.name!r}: its decider is not a LookupDecider; only a decider "
            "declared as data can be folded over tables"
        )
    guarded = [t.kind for t in machine.triggers if t.states is not None]
    if guarded:
        raise UsageError(
            f"machine {machine.name!r}: the triggers {', '.join(guarded)} are guarded by "
            "states; a guarded machine cannot be folded over tables"
        )
    pl = import_polars()
    compiled = _compile(machine, decider)
    timer = decider.timer
    days = 0 if timer is None else timer.delay(policy)[0]
    occ = _occurrences(pl, machine, compiled, frames, moment)
    states = pl.Enum([str(s.value) for s in machine.table.states])
    events = pl.Enum([str(e.value) for e in machine.table.events])
    schema = {
        "client_id": pl.String,
        "at": pl.Datetime("us", "UTC"),
        "at_offset": pl.Int32,
        "source": states,
        "target": states,
        "event": events,
        "record_id": pl.String,
        "detail": pl.String,
    }
    if occ is None or occ.height == 0:
        return cast("DataFrame", pl.DataFrame(schema=schema))
    triggers = machine.triggers
    # per trigger code (the timer's is the last): its map, event and detail
    map_of = [compiled.kind_map[t.kind] for t in triggers]
    event_of = [str(decider.events[t.kind].value) for t in triggers]
    detail_of = [t.kind for t in triggers]
    if timer is not None:
        assert compiled.timer_map is not None
        map_of.append(compiled.timer_map)
        event_of.append(str(timer.event.value))
        detail_of.append(timer.kind)
    occ = occ.sort("client_id", "at", "priority", "key", "sub").with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) * 2).alias("pos")
    )
    if timer is not None:
        tp = timer.priority
        due = pl.col("at") + pl.duration(days=days)
        same_next = (pl.col("client_id").shift(-1) == pl.col("client_id")).fill_null(False)
        nat, npr, nkey = (pl.col(c).shift(-1) for c in ("at", "priority", "key"))
        before_next = (due < nat) | (
            (due == nat) & ((pl.lit(tp) < npr) | ((pl.lit(tp) == npr) & (pl.col("key") <= nkey)))
        )
        fires = (
            pl.when(same_next).then(before_next).otherwise(due <= pl.lit(moment.astimezone(UTC)))
        )
        timers = occ.filter(fires).select(
            pl.col("client_id"),
            due.alias("at"),
            pl.col("at_offset"),
            pl.lit(tp, pl.Int64).alias("priority"),
            pl.col("key"),
            pl.lit(len(triggers), pl.UInt32).alias("trig"),
            pl.lit(-1, pl.Int64).alias("sub"),
            (pl.col("pos") + 1).alias("pos"),
        )
        occ = pl.concat([occ, timers]).sort("pos")
    cid = (
        (occ.get_column("client_id") != occ.get_column("client_id").shift(1))
        .fill_null(True)
        .cum_sum()
        .cast(pl.UInt32)
    )
    trig = occ.get_column("trig")
    maps = pl.Series(map_of, dtype=pl.UInt32).gather(trig)
    longest = int(cid.unique_counts().max())
    comp = pl.Series("comp", compiled.comp, dtype=pl.UInt32)
    size = compiled.size
    d = 1
    while d < longest:
        same = (cid.shift(d) == cid).fill_null(False)
        prior = maps.shift(d).fill_null(0).cast(pl.Int64)
        composed = comp.gather(prior * size + maps.cast(pl.Int64))
        maps = composed.zip_with(same, maps)
        d *= 2
    initial = compiled.states.index(machine.table.initial)
    after = pl.Series("after", compiled.from_initial, dtype=pl.UInt32).gather(maps)
    first = (cid != cid.shift(1)).fill_null(True)
    before = pl.Series([initial], dtype=pl.UInt32).extend_constant(initial, len(after) - 1)
    before = before.zip_with(first, after.shift(1).fill_null(initial))
    occ = occ.with_columns(after, before.alias("before"))
    if timer is not None:
        # a timer row is a step only where the timer was set: in one of its states
        armed = [i for i, s in enumerate(compiled.states) if s in timer.states]
        occ = occ.filter((pl.col("trig") != len(triggers)) | pl.col("before").is_in(armed))
    names = pl.Series([str(s.value) for s in compiled.states], dtype=states)
    trig = occ.get_column("trig")
    detail = pl.Series(detail_of, dtype=pl.String).gather(trig)
    if timer is not None:
        # the timer's sentence names the activity it followed (the row before it)
        where = (trig == len(triggers)).arg_true()
        activity = where - 1
        # one sentence per distinct moment (and offset) of the activity it followed
        since = occ.select(
            pl.col("at").gather(activity), pl.col("at_offset").gather(activity).alias("offset")
        )
        sentences = since.unique()
        moments = _Moments().column(sentences.get_column("at"), sentences.get_column("offset"))
        texts = [timer.detail.format(days=days, since=format_moment(moment)) for moment in moments]
        detail_of_since = sentences.with_columns(pl.Series("text", texts, dtype=pl.String))
        texts = since.join(
            detail_of_since, on=["at", "offset"], how="left", maintain_order="left"
        ).get_column("text")
        detail = detail.scatter(where, texts)
    steps = pl.DataFrame(
        {
            "client_id": occ.get_column("client_id"),
            "at": occ.get_column("at"),
            "at_offset": occ.get_column("at_offset"),
            "source": names.gather(occ.get_column("before")),
            "target": names.gather(occ.get_column("after")),
            "event": pl.Series(event_of, dtype=events).gather(trig),
            "record_id": occ.get_column("key"),
            "detail": detail,
        }
    )
    return cast("DataFrame", steps)
