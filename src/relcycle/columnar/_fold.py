"""A machine folded over whole tables: every client's steps at once.

:func:`machine_steps` takes a :class:`~relcycle.machine.Machine` whose decider
is data and the columnar engine's frames, and gives the steps
:meth:`Machine.run <relcycle.machine.Machine.run>` gives client by client, as
one table. Two forms of decider fold:

**A lookup decider** (:class:`~relcycle.machine.LookupDecider`: one event per
occurrence kind, at most one inactivity timer) folds with no per-client Python
and in ``log2`` rounds:

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

**A declared decider** (:class:`~relcycle.machine.DeclaredDecider`: registers,
timers and a decision list per occurrence kind) folds round by round: the
occurrences are the same rows; the state, the registers and the timers are
columns, one row per client; in each round every client still going takes its
next occurrence (its earliest timer where that sorts first), and each decision
list of a kind the round holds, compiled to polars from its one declaration,
decides the rows of its kind (one branch of the round's query per kind). A
round costs a few milliseconds whatever its number of clients (tens for a
machine with the ladder's memory), so the clients with many occurrences (more than
:data:`ROUNDS`, or the last ones still going once the rounds they need cost
more than running them, timed as the fold goes: :data:`SAMPLE`) are run
by the runner, which evaluates the same declarations in Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from time import perf_counter
from typing import TYPE_CHECKING, Any, cast

import attrs

from relcycle.decisions import column_dtype
from relcycle.errors import UsageError
from relcycle.machine import (
    TIMER_RANGE,
    DeclaredDecider,
    LookupDecider,
    Machine,
    Occurrence,
    TransitionTable,
    format_moment,
    micros,
    not_settled,
    timer_out_of_range,
)
from relcycle.rules import ID_FIELD, MOMENT_FIELD, Rule, known_at

from ._source import import_polars
from ._tables import _Moments

if TYPE_CHECKING:
    import polars as pl
    from polars import DataFrame

    from ._tables import Frames

__all__ = [
    "INPUT_COLUMNS",
    "MAX_MAPS",
    "STEP_COLUMNS",
    "machine_steps",
    "steps_as_inputs",
    "steps_table",
]

#: The most distinct state maps a machine's events may compose into.
MAX_MAPS = 512

#: The columns of a declared machine's ``inputs`` (:func:`machine_steps`), in
#: order: the occurrence's client, moment (UTC) and its UTC offset in seconds,
#: kind, priority, key and ``sub`` (see :class:`~relcycle.machine.Occurrence`).
INPUT_COLUMNS = ("client_id", "at", "at_offset", "kind", "priority", "key", "sub")

#: The columns of :func:`machine_steps`' table, in order.
STEP_COLUMNS = (
    "client_id",
    "at",
    "at_offset",
    "source",
    "target",
    "event",
    "record_ids",
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


def _field(pl: Any, name: str, kind: Any, present: set[str], table: str | None) -> Any:
    """A declared decider's field ``name`` of ``kind`` over the rows of ``table``
    (None: an input's step): a text, a moment in microseconds since 1970, record
    ids, or a rule's verdict (null where the rows do not have it)."""
    if isinstance(kind, Rule):
        if kind.table == table:
            return kind.to_polars()
        return pl.lit(None, pl.Boolean)
    dtype = {"moment": pl.Int64, "ids": pl.List(pl.String)}.get(kind, pl.String)
    if name not in present:
        return pl.lit(None, dtype)
    if kind == "moment":
        return pl.col(name).dt.epoch("us")
    return pl.col(name).cast(dtype)


def _occurrences(
    pl: Any,
    machine: Machine[Any, Any, Any, Any],
    frames: Frames,
    as_of: datetime,
    fields: Mapping[str, Any] | None = None,
) -> Any:
    """Every record occurrence by ``as_of``, in no particular order, with the
    record ``fields`` a declared decider reads (as ``_fld_<name>``: a text, a
    moment in microseconds since 1970, or a rule's verdict; null for a table
    without the field)."""
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
        present = set(frame.collect_schema().names())
        extra = [
            _field(pl, f, kind, present, table).alias(f"_fld_{f}")
            for f, kind in (fields or {}).items()
        ]
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
            at: Any,
            offset: Any,
            priority: Any,
            trig: Any,
            key: str = ID_FIELD[table],
            extra: list[Any] = extra,
        ) -> list[Any]:
            return [
                pl.col("client_id"),
                at.alias("at"),
                offset.alias("at_offset"),
                priority.cast(pl.Int64).alias("priority"),
                pl.col(key).alias("key"),
                trig.cast(pl.UInt32).alias("trig"),
                *extra,
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
    inputs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every client's steps through ``machine`` up to ``as_of``, folded over the tables.

    The steps :meth:`Machine.run <relcycle.machine.Machine.run>` takes for each
    client's history (its trajectory's steps), for all clients at once.

    Args:
        machine: A machine whose decider is a :class:`~relcycle.machine.LookupDecider`
            (its triggers :class:`~relcycle.rules.Rule`\\ s without state guards)
            or a :class:`~relcycle.machine.DeclaredDecider` (its triggers rules;
            guards allowed; no inputs from another machine).
        frames: The tables (:func:`relcycle.columnar.read_tables`).
        as_of: The moment (aware); later records are left out.
        policy: The decider's policy (it names a lookup decider's timer days,
            a declared decider's parameters).
        inputs: A declared machine's occurrences from outside its records, as
            :func:`steps_as_inputs` gives them from another machine's steps
            (the runner's ``inputs``): the columns :data:`INPUT_COLUMNS`, and
            the fields its decisions read of them. Those after ``as_of`` are
            left out.

    Returns:
        A polars DataFrame with the columns :data:`STEP_COLUMNS`: the client,
        the step's moment (UTC) and its UTC offset in seconds, the states before
        and after and the event (their values, as ``polars.Enum`` columns of the
        table's states and events), the ids of the records it cites (a list),
        and the detail (the trigger's kind or the timer's sentence for a lookup
        decider, the decision's sentence for a declared one), sorted by client
        id and then in the order the steps were taken. A client with no step
        has no row (it is in the machine's initial state).

    Raises:
        UsageError: If the machine's decider is neither a lookup nor a declared
            decider, a trigger reads its records with something else than a
            rule, a lookup decider's trigger is guarded by states or its events
            compose into more than :data:`MAX_MAPS` maps, the policy does not
            give the timer's days or a declared decider's parameters, a
            declared machine takes inputs, or a decision gives an event the
            table does not have.
        IllegalTransitionError: If a declared decision gives an event its state
            does not allow (what the runner raises).
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    from relcycle.history import check_as_of

    moment = check_as_of(as_of)
    decider = machine.decide
    if isinstance(decider, DeclaredDecider):
        return _declared_steps(machine, decider, frames, moment, policy, inputs)
    if inputs is not None:
        raise UsageError(
            f"machine {machine.name!r}: only a declared decider's machine takes inputs over tables"
        )
    if not isinstance(decider, LookupDecider):
        raise UsageError(
            f"machine {machine.name!r}: its decider is neither a LookupDecider nor a "
            "DeclaredDecider; only a decider declared as data can be folded over tables"
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
    occ = _occurrences(pl, machine, frames, moment)
    schema = _schema(pl, machine.table)
    states, events = schema["source"], schema["event"]
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
            "record_ids": occ.select(pl.concat_list("key")).to_series(),
            "detail": detail,
        }
    )
    return cast("DataFrame", steps)


def _schema(pl: Any, table: TransitionTable[Any, Any]) -> dict[str, Any]:
    """The dtypes of :data:`STEP_COLUMNS` for a machine of ``table``."""
    states = pl.Enum([str(s.value) for s in table.states])
    return {
        "client_id": pl.String,
        "at": pl.Datetime("us", "UTC"),
        "at_offset": pl.Int32,
        "source": states,
        "target": states,
        "event": pl.Enum([str(e.value) for e in table.events]),
        "record_ids": pl.List(pl.String),
        "detail": pl.String,
    }


def _text(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def steps_table(table: TransitionTable[Any, Any], runs: Iterable[tuple[str, Any]]) -> pl.DataFrame:
    """Steps a machine took client by client, as a steps table (:data:`STEP_COLUMNS`).

    How a machine the columnar engine does not fold (the lifecycle) feeds one it
    folds: run it per client, give its steps here, and the table to
    :func:`steps_as_inputs` for the other machine's :func:`machine_steps`.

    Args:
        table: The machine's transition table (its states and events are the
            ``polars.Enum`` categories of the state and event columns).
        runs: ``(client id, trajectory)`` pairs: a :class:`~relcycle.machine.MachineRun`'s
            ``trajectory``, an assessment's, or anything whose steps have ``at``,
            ``source``, ``target``, ``event``, ``record_ids`` and ``detail``.

    Returns:
        A polars DataFrame with the columns :data:`STEP_COLUMNS`, one row per
        step in the order given (each moment in UTC beside its UTC offset in
        seconds), with :func:`machine_steps`' dtypes.

    Raises:
        UsageError: If a step's state or event is not one of ``table``'s.
    """
    pl = import_polars()
    rows = []
    for client_id, trajectory in runs:
        for step in trajectory.steps:
            offset = step.at.utcoffset()
            rows.append(
                (
                    client_id,
                    step.at.astimezone(UTC),
                    0 if offset is None else int(offset.total_seconds()),
                    _text(step.source),
                    _text(step.target),
                    _text(step.event),
                    list(step.record_ids),
                    step.detail,
                )
            )
    schema = _schema(pl, table)
    plain = {k: pl.String if isinstance(v, pl.Enum) else v for k, v in schema.items()}
    frame = pl.DataFrame(rows, schema=plain, orient="row")
    for column in ("source", "target", "event"):
        known = set(schema[column].categories.to_list())
        strangers = frame.filter(~pl.col(column).is_in(list(known)))
        if strangers.height:
            raise UsageError(
                f"steps_table: client {strangers.get_column('client_id')[0]!r} has a step "
                f"whose {column} {strangers.get_column(column)[0]!r} is not one of machine "
                f"{table.name!r}'s"
            )
    return cast("DataFrame", frame.with_columns(pl.col(c).cast(t) for c, t in schema.items()))


def _lit(pl: Any, value: object, dtype: Any) -> Any:
    """A register's or parameter's value as a literal (record ids as a list)."""
    return pl.lit(list(value) if isinstance(value, tuple) else value, dtype=dtype)


#: The most occurrences a client may have for the fold to take it round by round;
#: a busier client (and one still going after twice as many rounds, its timers
#: falling due again and again) is run by the runner instead: a round costs a
#: few queries whatever the number of clients in it.
ROUNDS = 256

#: About how many occurrences the runner takes first, from the first clients,
#: to time them; their steps are the runner's. The fold then times each round,
#: and hands the clients still going to the runner, which takes them from their
#: first occurrence, once that costs less than the rounds they need
#: (:func:`_runner_cheaper`): measured in each fold, since a round costs a few
#: milliseconds for a small machine and tens for one with the ladder's memory.
#: A portfolio with no more occurrences is run by the runner; 0 times nothing
#: and folds every client round by round (what the tests of the fold set).
SAMPLE = 1_000


def _declared_steps(
    machine: Machine[Any, Any, Any, Any],
    decider: DeclaredDecider[Any, Any],
    frames: Frames,
    moment: datetime,
    policy: object,
    inputs: Any = None,
) -> pl.DataFrame:
    """:func:`machine_steps` of a machine whose decider is a :class:`DeclaredDecider`.

    The fold goes round by round: in each round every client that has something
    left takes its next occurrence, as the runner would (its earliest timer when
    that sorts before its next record, or falls due by the moment after the
    last one), and each decision list of a kind the round holds, compiled to
    polars, decides the rows of its kind (one branch of the round's query per
    kind). Registers and timers are columns.
    A client with more than :data:`ROUNDS` occurrences, or still going after
    twice as many rounds, is run by the runner (the same declarations, in
    Python), and so are the last clients still going once running them costs
    less than the rounds they need (:data:`SAMPLE`: measured from the runner's
    time on the first clients, which it then runs, and each round's time).
    Which clients take which way changes only the time: both take the same
    steps.
    """
    pl = import_polars()
    schema = _schema(pl, machine.table)
    params = dict(zip(decider.parameters, decider.parameter_values(policy), strict=True))
    dtype = {k: column_dtype(kind) for k, kind in decider.parameters.items()}
    dtype.update({k: column_dtype(kind) for k, (kind, _) in decider.registers.items()})
    fields = {f: kind for reads in decider.fields.values() for f, kind in reads.items()}
    occ = _occurrences(pl, machine, frames, moment, fields)
    kinds = [t.kind for t in machine.triggers]
    taken = None
    if inputs is not None:
        taken = _inputs(pl, machine, inputs, moment, fields, kinds)
        occ = taken if occ is None else pl.concat([occ, taken], how="diagonal_relaxed")
    if occ is None or occ.height == 0:
        return cast("DataFrame", pl.DataFrame(schema=schema))
    rows = occ.sort("client_id", "at", "priority", "key", "sub")
    counts = rows.group_by("client_id", maintain_order=True).agg(
        pl.len().cast(pl.Int64).alias("_n")
    )
    busy = counts.filter(pl.col("_n") > ROUNDS).get_column("client_id")
    if busy.len():
        rows = rows.filter(~pl.col("client_id").is_in(busy.implode()))
        counts = counts.filter(pl.col("_n") <= ROUNDS)
    found = []
    per_occurrence = None
    if SAMPLE and rows.height:
        # the runner's time per occurrence, on the first clients
        first = counts.filter((pl.col("_n").cum_sum() - pl.col("_n")) < SAMPLE)
        began = perf_counter()
        found.append(
            _run_by_runner(
                pl, machine, frames, moment, policy, first.get_column("client_id"), taken
            )
        )
        held = first.get_column("_n").sum()
        per_occurrence = (perf_counter() - began) / max(1, held)
        # the rows are sorted by client, in the order of the counts
        counts, rows = counts.slice(first.height), rows.slice(held)
    if rows.height:
        folded, late = _fold_rounds(
            pl, machine, decider, rows, counts, moment, params, dtype, kinds, per_occurrence
        )
        if folded is not None:
            found.append(folded)
        busy = pl.concat([busy, late])
    found.append(_run_by_runner(pl, machine, frames, moment, policy, busy, taken))
    parts = [f for f in found if f.height]
    if not parts:
        return cast("DataFrame", pl.DataFrame(schema=schema))
    every = pl.concat(parts, how="vertical_relaxed")
    return cast(
        "DataFrame",
        every.sort("client_id", maintain_order=True).with_columns(
            pl.col(c).cast(t) for c, t in schema.items()
        ),
    )


def _fold_rounds(
    pl: Any,
    machine: Machine[Any, Any, Any, Any],
    decider: DeclaredDecider[Any, Any],
    rows: Any,
    counts: Any,
    moment: datetime,
    params: Mapping[str, Any],
    dtype: Mapping[str, Any],
    kinds: list[str],
    per_occurrence: float | None,
) -> tuple[Any, Any]:
    """The fold of :func:`_declared_steps` over ``rows`` (sorted, every client's):
    the steps, and the clients still going after ``2 * ROUNDS`` rounds or once
    the rounds they need cost more than running them (their steps left out).

    ``per_occurrence`` is the runner's measured time per occurrence, in seconds
    (None: no clients were timed, and none are handed over): each round is
    timed against it.
    """
    triggers = machine.triggers
    timers = sorted(decider.timers)
    starts = counts.with_columns((pl.col("_n").cum_sum() - pl.col("_n")).alias("_start"))
    state = starts.select(
        pl.col("client_id").alias("_cid"),
        pl.col("_start"),
        pl.col("_n"),
        pl.lit(0, pl.Int64).alias("_i"),
        pl.lit(str(machine.table.initial.value), pl.String).alias("_state"),
        *(_lit(pl, spec[1], dtype[k]).alias(f"_r_{k}") for k, spec in decider.registers.items()),
        *(pl.lit(None, pl.Int64).alias(f"_t_{t}") for t in timers),
        *(pl.lit(None, pl.String).alias(f"_tk_{t}") for t in timers),
    )
    kept = state.columns
    records = {
        "_at": rows.get_column("at"),
        "_at_us": rows.get_column("at").dt.epoch("us"),
        "_off": rows.get_column("at_offset"),
        "_prio": rows.get_column("priority"),
        "_key": rows.get_column("key"),
        "_trig": rows.get_column("trig"),
        **{f"_fld_{f}": rows.get_column(f"_fld_{f}") for r in decider.fields.values() for f in r},
    }
    # a trigger's code gives its kind; the inputs' codes come after the triggers'
    kind_of_trigger = pl.col("_trig").replace_strict(
        list(range(len(kinds))), kinds, default=None, return_dtype=pl.String
    )
    allowed: Any = pl.lit(True)
    for code, trigger in enumerate(triggers):
        if trigger.states is not None:
            inside = pl.col("_state").is_in([str(s.value) for s in trigger.states])
            allowed = allowed & ((pl.col("_trig") != code) | inside)
    # the earliest timer, in the runner's order: moment, priority, key, kind
    due: Any = pl.lit(None, pl.Int64)
    prio: Any = pl.lit(None, pl.Int64)
    tkey: Any = pl.lit(None, pl.String)
    tkind: Any = pl.lit(None, pl.String)
    for t in timers:
        t_due, t_key, t_prio = pl.col(f"_t_{t}"), pl.col(f"_tk_{t}"), pl.lit(decider.timers[t])
        better = t_due.is_not_null() & (
            due.is_null()
            | (t_due < due)
            | ((t_due == due) & ((t_prio < prio) | ((t_prio == prio) & (t_key < tkey))))
        )
        due = pl.when(better).then(t_due).otherwise(due)
        prio = pl.when(better).then(t_prio).otherwise(prio)
        tkey = pl.when(better).then(t_key).otherwise(tkey)
        tkind = pl.when(better).then(pl.lit(t)).otherwise(tkind)
    has_row = pl.col("_at_us").is_not_null()
    first = pl.col("_due") < pl.col("_at_us")
    tied = (pl.col("_due") == pl.col("_at_us")) & (
        (pl.col("_tprio") < pl.col("_prio"))
        | ((pl.col("_tprio") == pl.col("_prio")) & (pl.col("_tkey") <= pl.col("_key")))
    )
    fire = pl.col("_due").is_not_null() & (
        pl.when(has_row).then(first | tied).otherwise(pl.col("_due") <= micros(moment))
    )
    fired = pl.col("_fire")
    occurrence = [
        pl.when(fired).then(pl.col("_tkind")).otherwise(kind_of_trigger).alias("_kind"),
        pl.when(fired).then(pl.col("_due")).otherwise(pl.col("_at_us")).alias("_o_us"),
        pl.when(fired).then(pl.col("_tkey")).otherwise(pl.col("_key")).alias("_o_key"),
        pl.when(fired)
        .then(pl.from_epoch(pl.col("_due"), time_unit="us").dt.replace_time_zone("UTC"))
        .otherwise(pl.col("_at"))
        .alias("_o_at"),
        pl.when(fired).then(pl.lit(0, pl.Int32)).otherwise(pl.col("_off")).alias("_o_off"),
        (fired | allowed).alias("_decide"),
        (pl.col("_i") + (~fired).cast(pl.Int64)).alias("_i"),
        *(
            pl.when(fired & (pl.col("_tkind") == t)).then(None).otherwise(pl.col(c)).alias(c)
            for t in timers
            for c in (f"_t_{t}", f"_tk_{t}")
        ),
    ]
    columns: dict[str, Any] = {
        "state": pl.col("_state"),
        "at": pl.col("_o_us"),
        "key": pl.col("_o_key"),
        "offset": pl.col("_o_off").cast(pl.Int64),
    }
    columns.update({k: pl.col(f"_r_{k}") for k in decider.registers})
    columns.update({t: pl.col(f"_t_{t}") for t in timers})
    columns.update({k: _lit(pl, v, dtype[k]) for k, v in params.items()})
    columns.update({f: pl.col(f"_fld_{f}") for r in decider.fields.values() for f in r})
    # Each decision is asked only about the rows of its kind (one query holding
    # every decision would compute each decision's outputs over every row of
    # the round). Evaluating each case's outputs only over the rows that case
    # takes was measured too: no faster on the ladder, slower on small machines.
    out_dtype: dict[str, Any] = {
        "_event": pl.String,
        "_detail": pl.String,
        "_cites": pl.List(pl.String),
        **{f"_r_{k}": dtype[k] for k in decider.registers},
        **{f"_t_{t}": pl.Int64 for t in timers},
        **{f"_tk_{t}": pl.String for t in timers},
    }
    no_event = [pl.lit(None, out_dtype[c]).alias(c) for c in ("_event", "_detail", "_cites")]

    def compile_decision(decision: Any, prefix: str) -> tuple[list[Any], list[Any]]:
        """A decision's intermediate columns, and the columns it gives: its event,
        detail and cited records (its own, else the occurrence's), and the
        registers and timers it gives (a timer it sets is keyed by the occurrence
        that set it), each one when/then chain over the cases."""
        temps, conditions, values = decision.case_expressions(columns, prefix=prefix)
        given_columns: list[tuple[str, Any]] = [
            ("_event", lambda g: g["event"].cast(pl.String)),
            ("_detail", lambda g: g["detail"].cast(pl.String)),
            (
                "_cites",
                lambda g: (g["cites"] if "cites" in g else pl.concat_list("_o_key")).cast(
                    pl.List(pl.String)
                ),
            ),
        ]
        for k in decider.registers:
            if k in decision.outputs:
                given_columns.append((f"_r_{k}", lambda g, k=k: g[k].cast(dtype[k])))
        for t in timers:
            if t in decision.outputs:
                given_columns.append((f"_t_{t}", lambda g, t=t: g[t].cast(pl.Int64)))
                given_columns.append(
                    (
                        f"_tk_{t}",
                        lambda g, t=t: pl.when(g[t].is_not_null()).then(pl.col("_o_key")),
                    )
                )
        chained = []
        for name, column in given_columns:
            chain: Any = None
            for cond, given in zip(conditions, values, strict=True):
                value = column(given)
                if cond is None:
                    chain = value if chain is None else chain.otherwise(value)
                else:
                    chain = (pl.when if chain is None else chain.when)(cond).then(value)
            chained.append(chain.alias(name))
        return [e.alias(n) for n, e in temps], chained

    def decide(lazy: Any, asked: list[tuple[Any, Any]], shape: list[str]) -> Any:
        """``lazy`` with each row decided by the decision ``asked`` for it (a mask
        and a compiled decision), the rows no decision was asked for keeping
        theirs with no event; ``shape`` is the columns to keep, in order."""
        wanted: Any = pl.lit(False)
        for mask, _ in asked:
            wanted = wanted | mask
        parts = [lazy.filter(~wanted).with_columns(no_event).select(shape)]
        for mask, (temps, chained) in asked:
            mine = lazy.filter(mask)
            for temp in temps:
                mine = mine.with_columns(temp)
            parts.append(mine.with_columns(chained).select(shape))
        return pl.concat(parts, how="vertical")

    compiled = [
        (
            kind,
            pl.col("_decide") & (pl.col("_kind") == kind),
            compile_decision(d, f"__decision_{j}_"),
        )
        for j, (kind, d) in enumerate(decider.decisions.items())
    ]
    follow = decider.then
    then_compiled = None if follow is None else compile_decision(follow, "__decision_then_")
    limit = len(machine.table.states)
    moves = {
        f"{s.value}\x1f{e.value}": str(t.value)
        for s in machine.table.states
        for e, t in machine.table._next[s].items()
    }
    event = pl.col("_event")
    target = (
        pl.concat_str(pl.col("_state"), pl.lit("\x1f"), event)
        .replace_strict(moves, default=None, return_dtype=pl.String)
        .alias("_target")
    )
    low, high = TIMER_RANGE

    def settle(cur: Any, done: int, sub: int, kind: Any) -> Any:
        """Check the decided rows, keep their steps and move their state."""
        for t in timers:
            column = pl.col(f"_t_{t}")
            outside = cur.filter(column.is_not_null() & ((column < low) | (column > high)))
            if outside.height:
                found, due = outside.select(kind, f"_t_{t}").row(0)
                raise timer_out_of_range(machine.name, found, t, due)
        bad = cur.filter(event.is_not_null() & pl.col("_target").is_null())
        if bad.height:
            _refuse(machine, *bad.select("_state", "_event", kind).row(0))
        stepped = cur.filter(event.is_not_null())
        if stepped.height:
            steps.append(
                stepped.select(
                    pl.col("_cid").alias("client_id"),
                    pl.col("_o_at").alias("at"),
                    pl.col("_o_off").cast(pl.Int32).alias("at_offset"),
                    pl.col("_state").alias("source"),
                    pl.col("_target").alias("target"),
                    event.alias("event"),
                    pl.col("_cites").alias("record_ids"),
                    pl.col("_detail").fill_null("").alias("detail"),
                    pl.lit(done, pl.Int64).alias("_round"),
                    pl.lit(sub, pl.Int64).alias("_sub"),
                )
            )
        return cur.with_columns(
            pl.when(event.is_not_null())
            .then(pl.col("_target"))
            .otherwise(pl.col("_state"))
            .alias("_state")
        )

    steps: list[Any] = []
    done = 0
    spent = 0.0  # the last round's time, and its rows
    round_rows = 0
    while state.height and done < 2 * ROUNDS:
        if per_occurrence is not None and round_rows:
            # the clients still going go to the runner when the rounds they need
            # cost more than running them (from their first occurrence)
            total, rest = state.select(
                pl.col("_n").sum().alias("total"),
                (pl.col("_n") - pl.col("_i")).sum().alias("rest"),
            ).row(0)
            if _runner_cheaper(total * per_occurrence, spent, round_rows, rest):
                break
        began = perf_counter()
        at = pl.when(pl.col("_i") < pl.col("_n")).then(pl.col("_start") + pl.col("_i"))
        index = state.select(at.cast(pl.Int64)).to_series()
        lazy = (
            state.with_columns(v.gather(index).alias(k) for k, v in records.items())
            .lazy()
            .with_columns(
                due.alias("_due"), prio.alias("_tprio"), tkey.alias("_tkey"), tkind.alias("_tkind")
            )
            .with_columns(fire.fill_null(False).alias("_fire"))
            .filter(fired | has_row)
            .with_columns(occurrence)
        )
        base = lazy.collect(engine="in-memory")
        round_rows = base.height
        shape = [*base.columns, "_event", "_detail", "_cites"]
        # only the decisions of the kinds this round holds
        present = set(base.filter(pl.col("_decide")).get_column("_kind").unique().to_list())
        asked = [(mask, found) for kind, mask, found in compiled if kind in present]
        cur = decide(base.lazy(), asked, shape).with_columns(target).collect(engine="in-memory")
        cur = settle(cur, done, 0, "_kind")
        if then_compiled is not None:
            # the follow-up decision, after every decided occurrence, again while
            # it gives an event
            cur = cur.with_columns(pl.col("_decide").alias("_asked")).drop("_target")
            for sub in range(1, limit + 2):
                if not cur.select(pl.col("_asked").any()).item():
                    break
                lazy = cur.drop("_event", "_detail", "_cites", "_target", strict=False).lazy()
                cur = (
                    decide(
                        lazy,
                        [(pl.col("_asked"), then_compiled)],
                        [*lazy.collect_schema().names(), "_event", "_detail", "_cites"],
                    )
                    .with_columns(target, pl.lit("then").alias("_then"))
                    .collect(engine="in-memory")
                )
                cur = settle(cur, done, sub, "_then").with_columns(
                    (pl.col("_asked") & event.is_not_null()).alias("_asked")
                )
                if sub > limit and cur.select(pl.col("_asked").any()).item():
                    stuck = cur.filter(pl.col("_asked")).select("_cid", "_o_key").row(0)
                    raise not_settled(machine.name, limit, *stuck)
        state = cur.select(kept)
        done += 1
        # a client whose last occurrence was this round's and that has no timer
        # left is done
        going = pl.col("_i") < pl.col("_n")
        for t in timers:
            going = going | pl.col(f"_t_{t}").is_not_null()
        state = state.filter(going)
        spent = perf_counter() - began
    late = state.get_column("_cid")
    if not steps:
        return None, late
    folded = (
        pl.concat(steps, how="vertical_relaxed")
        .sort("client_id", "_round", "_sub")
        .drop("_round", "_sub")
    )
    if late.len():
        folded = folded.filter(~pl.col("client_id").is_in(late.implode()))
    return folded, late


def _runner_cheaper(runner: float, spent: float, rows: int, rest: int) -> bool:
    """Whether running the clients still going costs less than folding them on.

    ``runner`` is their time by the runner (all their occurrences, at its
    measured time per occurrence); the rounds they still need would take their
    ``rest`` occurrences left at the last round's cost per row (``spent``
    seconds for ``rows`` rows). That underestimates the rounds, whose cost is
    mostly fixed once they are small, so the fold goes on while a round holds
    many clients and hands over the few busy ones left: rounds that shrink as
    clients finish (most clients have few occurrences) are not taken for
    rounds as large as the last one.
    """
    return runner < spent * rest / rows


def _run_by_runner(
    pl: Any,
    machine: Machine[Any, Any, Any, Any],
    frames: Frames,
    moment: datetime,
    policy: object,
    ids: Any,
    inputs: Any = None,
) -> Any:
    """The steps of the clients ``ids`` (a polars Series), each run by the runner
    (with its rows of ``inputs``, :func:`_inputs`' occurrences, if given)."""
    from ._tables import histories

    given: dict[str, list[Occurrence]] = {}
    if ids.len() and inputs is not None:
        mine = inputs.filter(pl.col("client_id").is_in(ids.implode()))
        names = [c for c in mine.columns if c.startswith("_fld_")]
        moments = _Moments().column(mine.get_column("at"), mine.get_column("at_offset"))
        for row, at in zip(mine.iter_rows(named=True), moments, strict=True):
            record = _InputRecord({n[5:]: row[n] for n in names})
            key, sub, kind = row["key"], row["sub"], row["kind"]
            occurrence = Occurrence(at, row["priority"], key, sub, kind, record)
            given.setdefault(row["client_id"], []).append(occurrence)
    runs = []
    if ids.len():
        for history in histories(frames.only(pl.col("client_id").is_in(ids.implode()))):
            found = given.get(history.client_id, ())
            run = machine.run(history, as_of=moment, policy=policy, inputs=found)
            runs.append((history.client_id, run.trajectory))
    return steps_table(machine.table, runs)


def _refuse(
    machine: Machine[Any, Any, Any, Any],
    state: str,
    event: str,
    kind: str,
) -> None:
    """Raise what the runner raises for ``event`` in ``state``: an unknown event, or
    one the state does not allow."""
    table = machine.table
    events = {str(e.value): e for e in table.events}
    if event not in events:
        raise UsageError(
            f"machine {table.name!r}: the decision of {kind!r} gave the event "
            f"{event!r}, not an event of the table"
        )
    states = {str(s.value): s for s in table.states}
    table.step(states[state], events[event])
    raise AssertionError("unreachable: the step above raises")  # pragma: no cover


class _InputRecord:
    """An input occurrence's record over tables: the fields its decisions read."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)


def _inputs(
    pl: Any,
    machine: Machine[Any, Any, Any, Any],
    inputs: Any,
    moment: datetime,
    fields: Mapping[str, Any],
    kinds: list[str],
) -> Any:
    """A declared machine's ``inputs`` by the moment, as occurrence rows (their
    codes after the triggers', which ``kinds`` gains)."""
    name = machine.name
    missing = [c for c in INPUT_COLUMNS if c not in inputs.columns]
    if missing:
        raise UsageError(f"machine {name!r}: the inputs have no column {', '.join(missing)}")
    known = sorted(machine.input_kinds)
    strangers = inputs.filter(~pl.col("kind").is_in(known))
    if strangers.height:
        raise UsageError(
            f"machine {name!r}: input kind {strangers.get_column('kind')[0]!r} is not one of "
            f"its input kinds ({', '.join(known) or 'none'})"
        )
    codes = {k: len(kinds) + i for i, k in enumerate(known)}
    kinds.extend(known)
    return (
        inputs.lazy()
        .filter(pl.col("at") <= moment)
        .select(
            pl.col("client_id").cast(pl.String),
            pl.col("at").cast(pl.Datetime("us", "UTC")),
            pl.col("at_offset").cast(pl.Int32),
            pl.col("priority").cast(pl.Int64),
            pl.col("key").cast(pl.String),
            pl.col("kind").replace_strict(codes, return_dtype=pl.UInt32).alias("trig"),
            pl.col("sub").cast(pl.Int64),
            pl.col("kind").cast(pl.String),
            *(
                _field(pl, f, kind, set(inputs.columns), None).alias(f"_fld_{f}")
                for f, kind in fields.items()
            ),
        )
        .collect()
    )


def steps_as_inputs(steps: pl.DataFrame, *, kind: str, priority: int) -> pl.DataFrame:
    """Another machine's steps as inputs of a declared machine, over tables.

    :func:`relcycle.machine.transitions_as_occurrences` for every client at
    once: each step of ``steps`` (:func:`machine_steps`' table) that changed
    the state becomes an input of ``kind`` at the step's moment, keyed by
    ``kind``, its ``sub`` the step's position among the client's steps, with
    the step's ``source``, ``target``, ``event`` and ``detail`` as texts and its
    ``record_ids`` (the fields a decision may read). Give them to :func:`machine_steps` as
    ``inputs``.

    Args:
        steps: The other machine's steps (:data:`STEP_COLUMNS`).
        kind: The occurrence kind, one of the receiving machine's ``input_kinds``.
        priority: Their order among the receiving machine's occurrences at one moment.
    """
    pl = import_polars()
    return (
        steps.lazy()
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("client_id").alias("sub"))
        .filter(pl.col("source") != pl.col("target"))
        .select(
            "client_id",
            "at",
            "at_offset",
            pl.lit(kind, pl.String).alias("kind"),
            pl.lit(priority, pl.Int64).alias("priority"),
            pl.lit(kind, pl.String).alias("key"),
            "sub",
            *(pl.col(c).cast(pl.String) for c in ("source", "target", "event", "detail")),
            pl.col("record_ids").cast(pl.List(pl.String)),
        )
        .collect()
    )
