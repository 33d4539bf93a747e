"""The ladder three ways: its decider, the same rules declared as data (the tests'
``declared_ladder.py``) run client by client, and the declared ladder folded over tables.

Over every client of a history, with the lifecycle's moves as inputs (computed
once, outside the timings): ``relcycle.ladder.MACHINE.run`` per client (the
decider the report runs), ``declared_machine().run`` per client (the runner over
the declarations) and ``relcycle.columnar.machine_steps`` of the declared
machine over the tables (the lifecycle's steps given with ``steps_table`` and
``steps_as_inputs``).
One process, alternating, best of ``--reps``, process CPU
seconds. It checks that all three take the same steps (moments, moves, cited
records, sentences), then prints the times and their ratios.

    python bench/bench_ladder.py --demo 20000
    python bench/bench_ladder.py --folder DIR --as-of 1998-06-30T23:59:59+00:00

``DIR`` holds contract tables (``orders.csv``, ...), for instance the CDNOW order
log of ``make_bench_data.py``. Needs the ``arrow`` extra.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _frames_input import cpu, frames_input

from relcycle import lifecycle
from relcycle.columnar import histories, machine_steps, steps_as_inputs, steps_table
from relcycle.ladder import MACHINE, LadderSettings, lifecycle_inputs

# the declared ladder lives beside the tests that check it (it is not part of the package)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from declared_ladder import declared_machine


def main() -> None:
    """Time the three ways on the same frames, side by side."""
    args, frames, as_of = frames_input(__doc__.splitlines()[0])
    stories = [h.as_of(as_of) for h in histories(frames)]  # outside the timings
    inputs, lives = [], []
    for h in stories:
        lc = lifecycle.assess(h, as_of=as_of)
        inputs.append(lifecycle_inputs(lc))
        lives.append((h.client_id, lc.trajectory))
    life = steps_as_inputs(
        steps_table(lifecycle.MACHINE.table, lives), kind="lifecycle_stage", priority=0
    )
    settings = LadderSettings()
    declared = declared_machine()

    def hand_written() -> list[Any]:
        return [
            MACHINE.run(h, as_of=as_of, policy=settings, inputs=i).trajectory.steps
            for h, i in zip(stories, inputs, strict=True)
        ]

    def declared_runner() -> list[Any]:
        return [
            declared.run(h, as_of=as_of, policy=None, inputs=i).trajectory.steps
            for h, i in zip(stories, inputs, strict=True)
        ]

    def declared_fold() -> Any:
        return machine_steps(declared, frames, as_of=as_of, policy=None, inputs=life)

    best: dict[str, float] = {}
    outputs: dict[str, Any] = {}
    for _ in range(args.reps):
        for name, fn in (
            ("hand-written runner", hand_written),
            ("declared runner", declared_runner),
            ("declared fold", declared_fold),
        ):
            spent, outputs[name] = cpu(fn)
            best[name] = min(best.get(name, float("inf")), spent)

    def rows(runs: list[Any]) -> list[tuple[Any, ...]]:
        return [
            (h.client_id, s.at, s.target.value, s.event.value, list(s.record_ids), s.detail)
            for h, steps in zip(stories, runs, strict=True)
            for s in steps
        ]

    want = rows(outputs["hand-written runner"])
    assert rows(outputs["declared runner"]) == want, "the declared runner disagrees"
    got = [(r[0], r[1], r[4], r[5], r[6], r[7]) for r in outputs["declared fold"].iter_rows()]
    assert got == want, "the declared fold disagrees"
    n = len(stories)
    hand, runner, fold = (
        best["hand-written runner"],
        best["declared runner"],
        best["declared fold"],
    )
    print(f"{n:,} clients, {len(want):,} steps, {life.height:,} lifecycle moves, as of {as_of}")
    print(
        f"hand-written runner {hand:8.3f} s ({hand / n * 1e6:.0f} µs per client)   "
        f"declared runner {runner:8.3f} s ({runner / n * 1e6:.0f} µs)   "
        f"declared fold {fold:8.3f} s ({fold / n * 1e6:.0f} µs)"
    )
    print(
        f"declared runner / hand-written {runner / hand:.2f}x   "
        f"declared fold / hand-written {fold / hand:.2f}x   "
        f"declared runner / declared fold {runner / fold:.2f}x"
    )


if __name__ == "__main__":
    main()
