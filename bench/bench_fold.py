"""A machine folded over tables against the same machine run client by client.

The funnel (``relcycle.funnel.FUNNEL``, a decider declared as data) over every
client of a history: ``relcycle.columnar.machine_steps`` (one fold over the
tables) against ``Machine.run`` on each client's history (the runner, what the
python engine does), in one process, alternating, best of ``--reps``. It checks
that both give the same steps, then prints process CPU seconds and their ratio.
It also times the report column built on the fold (``over_tables``: the fold
and each client's current episode as Python objects) against the column's
per-client assessor, and the same funnel declared with decision lists (a
``DeclaredDecider``: the general form, which the fold takes round by round)
folded and run, checking that it takes the lookup decider's steps.

    python bench/bench_fold.py --demo 20000
    python bench/bench_fold.py --folder DIR --as-of 1998-06-30T23:59:59+00:00

``DIR`` holds contract tables (``orders.csv``, ...), for instance the CDNOW order
log of ``make_bench_data.py``. Needs the ``arrow`` extra.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from _frames_input import cpu, frames_input

from relcycle.columnar import histories, machine_steps
from relcycle.decisions import Case, DecisionList, int_input, lookup, text, text_input
from relcycle.funnel import DECIDER, FUNNEL, FUNNEL_COLUMN, FunnelPolicy
from relcycle.machine import DeclaredDecider, Machine

_DAY = 86_400_000_000  # microseconds


def declared_funnel() -> Machine[Any, Any, Any, Any]:
    """The funnel with its lookup decider written as decision lists: each record kind
    gives its event and sets the dormancy timer where the event leads into one of the
    timer's states (else cancels it); the timer gives ``went_quiet``. The same steps
    as :data:`relcycle.funnel.FUNNEL` (the timer's sentence names no moment)."""
    table, timer = FUNNEL.table, DECIDER.timer
    assert timer is not None
    state, at, days = text_input("state"), int_input("at"), int_input("dormant_days")
    decisions = {}
    for kind, event in DECIDER.events.items():
        arms = {str(s.value): str((s, event) in DECIDER.armed) for s in table.states}
        decisions[kind] = DecisionList.define(
            f"funnel {kind}",
            inputs=(state, at, days),
            outputs={"event": "text", "detail": "text", timer.kind: "int"},
            cases=[
                Case(
                    lookup(state, arms) == "True",
                    event=str(event.value),
                    detail=kind,
                    **{timer.kind: at + days * _DAY},
                ),
                Case(None, event=str(event.value), detail=kind, **{timer.kind: None}),
            ],
        )
    decisions[timer.kind] = DecisionList.define(
        "funnel quiet",
        inputs=(days,),
        outputs={"event": "text", "detail": "text"},
        cases=[
            Case(None, event=str(timer.event.value), detail=text("no activity for ", days, " days"))
        ],
    )
    decider = DeclaredDecider(
        table,
        registers={},
        decisions=decisions,
        timers={timer.kind: timer.priority},
        parameters={"dormant_days": "int"},
    )
    return decider.machine(FUNNEL.triggers)


def main() -> None:
    """Time the fold and the runner on the same frames, side by side."""
    args, frames, as_of = frames_input(__doc__.splitlines()[0])
    policy = FunnelPolicy()
    stories = list(histories(frames))  # built once, outside the timings

    def fold() -> Any:
        return machine_steps(FUNNEL, frames, as_of=as_of, policy=policy)

    def run() -> list[Any]:
        return [FUNNEL.run(h, as_of=as_of, policy=policy).trajectory.steps for h in stories]

    declared = declared_funnel()

    def declared_fold() -> Any:
        return machine_steps(declared, frames, as_of=as_of, policy=policy)

    def declared_run() -> list[Any]:
        return [declared.run(h, as_of=as_of, policy=policy).trajectory.steps for h in stories]

    assessor: Any = FUNNEL_COLUMN.assess

    def cells_folded() -> tuple[Any, list[Any]]:
        empty, cells = assessor.over_tables(frames, as_of=as_of, tz=UTC)
        return empty, list(cells)

    def cells_run() -> list[Any]:
        return [assessor(h.as_of(as_of), as_of=as_of, tz=UTC) for h in stories]

    best: dict[str, float] = {}
    outputs: dict[str, Any] = {}
    for _ in range(args.reps):
        for name, fn in (
            ("fold", fold),
            ("runner", run),
            ("column over tables", cells_folded),
            ("column per client", cells_run),
            ("declared fold", declared_fold),
            ("declared runner", declared_run),
        ):
            spent, outputs[name] = cpu(fn)
            best[name] = min(best.get(name, float("inf")), spent)
    steps = outputs["fold"]
    want = [
        (h.client_id, s.at, s.source.value, s.target.value, s.event.value, list(s.record_ids))
        for h, run_steps in zip(stories, outputs["runner"], strict=True)
        for s in run_steps
    ]
    got = [(c, at, src, tgt, ev, rid) for c, at, _, src, tgt, ev, rid, _ in steps.iter_rows()]
    assert got == want, "the fold and the runner disagree"
    same = [
        (c, at, src, tgt, ev, rid)
        for c, at, _, src, tgt, ev, rid, _ in outputs["declared fold"].iter_rows()
    ]
    assert same == got, "the declared funnel's fold and the lookup funnel's disagree"
    declared_want = [
        (h.client_id, s.at, s.source.value, s.target.value, s.event.value, s.detail)
        for h, run_steps in zip(stories, outputs["declared runner"], strict=True)
        for s in run_steps
    ]
    declared_got = [
        (c, at, src, tgt, ev, detail)
        for c, at, _, src, tgt, ev, _, detail in outputs["declared fold"].iter_rows()
    ]
    assert declared_got == declared_want, "the declared funnel's fold and runner disagree"
    empty, folded = outputs["column over tables"]
    found = dict(folded)
    cells = [found.get(h.client_id, empty) for h in stories]
    assert cells == outputs["column per client"], "the column's two ways disagree"
    print(f"{len(stories):,} clients, {steps.height:,} steps, as of {as_of.isoformat()}")
    print(
        f"fold   {best['fold']:8.3f} s CPU   runner {best['runner']:8.3f} s CPU   "
        f"runner / fold {best['runner'] / best['fold']:.1f}x"
    )
    print(
        f"column over tables {best['column over tables']:8.3f} s   per client "
        f"{best['column per client']:8.3f} s   ratio "
        f"{best['column per client'] / best['column over tables']:.1f}x   "
        f"({best['column over tables'] / len(stories) * 1e6:.0f} vs "
        f"{best['column per client'] / len(stories) * 1e6:.0f} µs per client)"
    )
    rounds = 1 + max(len(r) for r in outputs["declared runner"]) if stories else 0
    print(
        f"declared fold {best['declared fold']:8.3f} s   declared runner "
        f"{best['declared runner']:8.3f} s   runner / fold "
        f"{best['declared runner'] / best['declared fold']:.1f}x   "
        f"(lookup fold / declared fold {best['fold'] / best['declared fold']:.2f}x; "
        f"declared runner / lookup runner {best['declared runner'] / best['runner']:.2f}x; "
        f"the busiest client takes at least {rounds:,} rounds)"
    )


if __name__ == "__main__":
    main()
