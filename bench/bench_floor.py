"""The floor of the report's per-client machines, against lifetimes' RFM summary.

Issue 13 asks for the whole report within 2.0x lifetimes'
``summary_data_from_transaction_data`` on the same orders. The report runs
three machines per client (the lifecycle, the ladder, the funnel), each a
decider in Python taking one occurrence at a time; the decisions taken for the
project keep them so (a machine is table + triggers + decider, and a user builds
one with the same API). This script measures what those three runs alone cost,
with everything else taken as free: the clients' records are built before the
timings, and nothing of the report is assembled or written. It also times one
round of the declared ladder folded over tables (the other way a machine runs,
round by round over every client's next occurrence) on a handful of clients,
and what the rounds would cost to fold half, 90%, 99% and all of the clients
(one round per order at least).

Side by side in one process, alternating, best of ``--reps``, process CPU
seconds. lifetimes reads the same orders table (Parquet) with pandas inside its
timing: ``bench_rfm.py``'s ``run_lifetimes``, whose observation period ends on
1998-06-30 (the moment given must fall on that day).

    python bench/bench_floor.py --orders DIR/orders.parquet --as-of 1998-06-30T23:59:59+00:00

``DIR/orders.parquet`` is a contract orders table in a folder read as the
history: for instance ``cdnow_x20_parquet_history/``, which ``bench_rfm.py``
makes beside ``make_bench_data.py``'s ``cdnow_x20.parquet``.

Needs the ``arrow`` extra, pandas and lifetimes (the ``bench`` group).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def timed(fn: Any) -> tuple[float, float]:
    """``(process CPU seconds, wall seconds)`` of ``fn()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    """Time the three machines per client and lifetimes' summary, side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=Path, required=True, help="an orders Parquet file")
    parser.add_argument("--as-of", default="1998-06-30T23:59:59+00:00")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="CPUs the report may use")
    args = parser.parse_args()

    import lifetimes.utils  # noqa: F401  (imported outside the timings, as the records are built)
    import polars as pl
    from bench_rfm import END_DAY, run_lifetimes

    from relcycle import lifecycle
    from relcycle.columnar import _fold as fold
    from relcycle.columnar import histories, machine_steps, read_tables
    from relcycle.funnel import FUNNEL, FunnelPolicy
    from relcycle.ladder import MACHINE as LADDER
    from relcycle.ladder import LadderSettings, lifecycle_inputs

    as_of = datetime.fromisoformat(args.as_of)
    if as_of.astimezone(UTC).date() != END_DAY:
        parser.error(f"lifetimes' summary ends on {END_DAY} (bench_rfm.py): give that day's end")
    folder = args.orders.parent
    frames = read_tables(folder)
    stories = [h.as_of(as_of) for h in histories(frames)]  # outside the timings
    life_policy = lifecycle.LifecyclePolicy().in_zone(UTC)
    settings, funnel_policy = LadderSettings(), FunnelPolicy()

    def lifetimes_summary() -> Any:
        return run_lifetimes(args.orders)

    def machines() -> int:
        steps = 0
        for h in stories:
            # the runs the report makes: the lifecycle as `lifecycle.assess` runs
            # it (the client's own service levels once it has a complaint; the
            # histories end at the moment), the ladder given its moves, the funnel
            policy = life_policy
            if h.complaints:
                policy = policy.for_client(h.client)
            run = lifecycle.MACHINE.run(
                h, as_of=as_of, policy=policy, evidence_budget=lifecycle.EVIDENCE_BUDGET
            )
            ladder = LADDER.run(h, as_of=as_of, policy=settings, inputs=lifecycle_inputs(run))
            funnel = FUNNEL.run(h, as_of=as_of, policy=funnel_policy)
            steps += (
                len(run.trajectory.steps)
                + len(ladder.trajectory.steps)
                + len(funnel.trajectory.steps)
            )
        return steps

    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.reps):
        for name, fn in (("lifetimes", lifetimes_summary), ("machines", machines)):
            spent = timed(fn)
            best[name] = min(best.get(name, spent), spent)

    # The round fold's fixed cost: the declared ladder folded over a few
    # clients, every client folded (none handed to the runner), per round.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from declared_ladder import declared_machine

    declared = declared_machine()
    few = frames.only(pl.col("client_id").is_in(frames.clients.get_column("client_id").head(50)))
    per_client = frames.orders.group_by("client_id").len()
    saved = fold.SAMPLE
    marks: list[float] = []
    clock = fold.perf_counter

    def marking() -> float:
        marks.append(clock())
        return marks[-1]

    fold.SAMPLE = 0  # every client folded, none handed to the runner
    fold.perf_counter = marking  # the fold reads the clock as a round begins and ends
    try:
        for _ in range(args.reps):
            machine_steps(declared, few, as_of=as_of, policy=None)
    finally:
        fold.SAMPLE, fold.perf_counter = saved, clock
    rounds = sorted(b - a for a, b in zip(marks[::2], marks[1::2], strict=True))
    n = len(stories)
    (life, life_wall), (mach, _) = best["lifetimes"], best["machines"]
    per_round = rounds[len(rounds) // 2]  # the median round (wall seconds)
    counts = sorted(per_client.get_column("len").to_list())
    print(f"{n:,} clients, {frames.orders.height:,} orders, as of {as_of}")
    print(f"lifetimes' summary (pandas read included): {life:8.3f} s CPU, {life_wall:.3f} s wall")
    print(
        f"the three machines per client alone:       {mach:8.3f} s CPU "
        f"({mach / n * 1e6:.0f} µs per client) = {mach / life:.1f}x lifetimes' CPU; "
        f"on {args.workers} CPUs at best {mach / args.workers / life_wall:.1f}x its wall time"
    )
    print(
        f"the declared ladder folded over tables: {per_round * 1e3:.1f} ms a round "
        f"(wall, the median of {len(rounds)} rounds over 50 clients)"
    )
    for share in (0.5, 0.9, 0.99, 1.0):
        k = counts[min(len(counts) - 1, int(share * len(counts)))]
        print(
            f"  {share:4.0%} of the clients have at most {k} orders: folding them takes "
            f"{k} rounds or more, {k * per_round:.2f} s = {k * per_round / life_wall:.1f}x "
            "lifetimes' wall time (the ladder alone, at that round's cost)"
        )


if __name__ == "__main__":
    main()
