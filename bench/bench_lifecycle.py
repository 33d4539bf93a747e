"""Replay a million lifecycle events through relcycle, python-statemachine and transitions.

The same machine — relcycle's lifecycle table, 8 stages and 15 events — is
built three ways and fed the same event streams: 100,000 clients of about 10
events each (1,000,000 events in all), random walks over the table from
``satisfied`` with a fixed seed, weighted towards complaint facts as real
histories are. Each library keeps the full evidence of every event: its
moment, the stage before and after, the event, the ids of the records behind
it and a readable detail.

- relcycle: ``TABLE.fold(events)`` per client — the pure fold, one immutable
  ``Step`` per event, returned as a ``Trajectory``.
- python-statemachine: one machine class generated from ``TABLE.rows``; per
  client the machine's state is reset to ``satisfied`` (cheaper than a new
  instance; ``--fresh-instances`` times a new instance per client instead) and
  ``send(event, at=..., record_ids=..., detail=...)`` is called per event; an
  ``after_transition`` listener appends the evidence tuple.
- transitions: one ``Machine`` (``auto_transitions=False``, ``send_event=True``)
  with an ``after_state_change`` callback appending the evidence tuple;
  ``set_state("satisfied")`` per client and ``model.trigger(event, ...)`` per
  event.

Every run checks that the three give the same final stage for every client and
the same number of evidence records. Each library is timed ``--repeat`` times
(interleaved) and the median is reported, in events per second, with the ratios.

Usage (in an environment with relcycle installed and, for the peers,
``pip install python-statemachine transitions``)::

    python bench/bench_lifecycle.py [--clients 100000] [--events 1000000] [--repeat 3]
                                    [--fresh-instances] [--only relcycle] [--json PATH]

This is a benchmark, not a test: the test suite never times anything.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from relcycle.lifecycle import TABLE, LifecycleEvent, LifecycleEventRecord, Stage

Stream = list[LifecycleEventRecord]

#: Relative weights of the events in the random walks (complaint facts dominate).
WEIGHTS: dict[LifecycleEvent, float] = {
    LifecycleEvent.complaint_opened: 6,
    LifecycleEvent.complaint_resolved: 5,
    LifecycleEvent.complaint_rejected: 1,
    LifecycleEvent.service_failed: 3,
    LifecycleEvent.problem_recurred: 2,
    LifecycleEvent.loss_suffered: 1.5,
    LifecycleEvent.complaint_opened_while_unresolved: 1.5,
    LifecycleEvent.service_level_breached: 1.5,
    LifecycleEvent.escalation_received: 0.8,
    LifecycleEvent.ultimatum_received: 0.4,
    LifecycleEvent.arbitration_opened: 0.1,
    LifecycleEvent.arbitration_closed: 1,
    LifecycleEvent.trouble_free_period_elapsed: 2,
    LifecycleEvent.relationship_terminated: 0.3,
    LifecycleEvent.client_reactivated: 1,
}


def make_streams(clients: int, events: int, seed: int = 2026) -> list[Stream]:
    """Random walks over TABLE: ``clients`` streams with ``events`` events in all."""
    rnd = random.Random(seed)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    mean = events / clients
    lengths = [max(1, round(rnd.uniform(mean / 2, mean * 1.5))) for _ in range(clients)]
    # Make the total exact: spread the difference over the clients.
    diff = events - sum(lengths)
    k = 0
    while diff:
        step = 1 if diff > 0 else -1
        if lengths[k % clients] + step >= 1:
            lengths[k % clients] += step
            diff -= step
        k += 1
    choices = {s: (list(TABLE.allowed(s)), [WEIGHTS[e] for e in TABLE.allowed(s)]) for s in Stage}
    streams: list[Stream] = []
    n = 0
    for c, length in enumerate(lengths):
        stage = TABLE.initial
        at = t0 + timedelta(days=rnd.randrange(365))
        stream: Stream = []
        for _ in range(length):
            allowed, weights = choices[stage]
            event = rnd.choices(allowed, weights)[0]
            at += timedelta(days=rnd.randrange(0, 30))
            n += 1
            stream.append(LifecycleEventRecord(at, event, (f"r{n}",), f"client {c}: {event.value}"))
            stage = TABLE.step(stage, event)
        streams.append(stream)
    return streams


# --------------------------------------------------------------------------- the runners


def run_relcycle(streams: Sequence[Stream]) -> tuple[list[str], int]:
    """relcycle: the pure fold per client, full evidence kept as Steps."""
    fold = TABLE.fold
    finals: list[str] = []
    kept = 0
    for stream in streams:
        trajectory = fold(stream)
        finals.append(trajectory.state.value)
        kept += len(trajectory.steps)
    return finals, kept


def build_psm(fresh: bool) -> Callable[[Sequence[Stream]], tuple[list[str], int]]:
    """python-statemachine: the same table as a generated StateMachine class."""
    from statemachine import State, StateMachine

    namespace: dict[str, Any] = {}
    states = {s: State(s.value, value=s.value, initial=s is TABLE.initial) for s in Stage}
    for s in Stage:
        namespace[s.value] = states[s]
    for event in LifecycleEvent:
        transitions = None
        for source, ev, target in TABLE.rows:
            if ev is event:
                t = states[source].to(states[target])
                transitions = t if transitions is None else transitions | t
        if transitions is not None:
            namespace[event.value] = transitions
    machine_cls: Any = type(StateMachine)("LifecycleMachine", (StateMachine,), namespace)

    class Evidence:
        def __init__(self) -> None:
            self.log: list[tuple[Any, ...]] = []

        def after_transition(
            self, event: Any, source: Any, target: Any, at: Any, record_ids: Any, detail: Any
        ) -> None:
            self.log.append((at, source.value, target.value, str(event), record_ids, detail))

    def run(streams: Sequence[Stream]) -> tuple[list[str], int]:
        finals: list[str] = []
        kept = 0
        if fresh:
            for stream in streams:
                listener = Evidence()
                sm = machine_cls(listeners=[listener])
                send = sm.send
                for at, event, ids, detail in stream:
                    send(event.value, at=at, record_ids=ids, detail=detail)
                finals.append(sm.current_state_value)
                kept += len(listener.log)
            return finals, kept
        listener = Evidence()
        sm = machine_cls(listeners=[listener])
        send = sm.send
        start = TABLE.initial.value
        for stream in streams:
            sm.current_state_value = start
            listener.log = []
            for at, event, ids, detail in stream:
                send(event.value, at=at, record_ids=ids, detail=detail)
            finals.append(sm.current_state_value)
            kept += len(listener.log)
        return finals, kept

    return run


def build_transitions() -> Callable[[Sequence[Stream]], tuple[list[str], int]]:
    """transitions: the same table as a Machine with a callback keeping the evidence."""
    from transitions import Machine

    class Model:
        state: str

    model = Model()
    log: list[tuple[Any, ...]] = []

    def record(event_data: Any) -> None:
        kw = event_data.kwargs
        log.append(
            (
                kw["at"],
                event_data.transition.source,
                event_data.transition.dest,
                event_data.event.name,
                kw["record_ids"],
                kw["detail"],
            )
        )

    machine = Machine(
        model=model,
        states=[s.value for s in Stage],
        transitions=[
            {"trigger": e.value, "source": s.value, "dest": t.value} for s, e, t in TABLE.rows
        ],
        initial=TABLE.initial.value,
        auto_transitions=False,
        send_event=True,
        after_state_change=record,
    )

    def run(streams: Sequence[Stream]) -> tuple[list[str], int]:
        finals: list[str] = []
        kept = 0
        trigger = model.trigger  # type: ignore[attr-defined]
        start = TABLE.initial.value
        for stream in streams:
            machine.set_state(start)
            log.clear()
            for at, event, ids, detail in stream:
                trigger(event.value, at=at, record_ids=ids, detail=detail)
            finals.append(model.state)
            kept += len(log)
        return finals, kept

    return run


# --------------------------------------------------------------------------- main


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


Runner = Callable[[Sequence[Stream]], tuple[list[str], int]]


def _time(run: Runner, streams: Sequence[Stream]) -> tuple[float, tuple[list[str], int]]:
    gc.collect()
    t0 = time.perf_counter()
    result = run(streams)
    elapsed = time.perf_counter() - t0
    return elapsed, result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table of events/s and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--fresh-instances", action="store_true")
    parser.add_argument(
        "--only", action="append", choices=["relcycle", "python-statemachine", "transitions"]
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    streams = make_streams(args.clients, args.events, args.seed)
    total = sum(len(s) for s in streams)
    print(
        f"generated {total:,} events for {len(streams):,} clients "
        f"in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    gc.collect()
    gc.freeze()  # the input streams are not garbage; keep the collector off them

    runners: dict[str, Runner] = {"relcycle": run_relcycle}
    wanted = args.only or ["relcycle", "python-statemachine", "transitions"]
    if "python-statemachine" in wanted:
        runners["python-statemachine"] = build_psm(args.fresh_instances)
    if "transitions" in wanted:
        runners["transitions"] = build_transitions()
    runners = {k: v for k, v in runners.items() if k in wanted or k == "relcycle"}

    times: dict[str, list[float]] = {name: [] for name in runners}
    reference: tuple[list[str], int] | None = None
    for rep in range(args.repeat):
        for name, run in runners.items():
            elapsed, result = _time(run, streams)
            times[name].append(elapsed)
            if reference is None:
                reference = result
            elif result != reference:
                print(f"{name} disagrees with relcycle (final stages or evidence count)")
                return 1
            print(
                f"rep {rep + 1}: {name:20s} {elapsed:8.3f} s  {total / elapsed:>12,.0f} events/s",
                file=sys.stderr,
            )
            del result
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    rate = {name: total / m for name, m in medians.items()}
    print()
    print(f"events: {total:,} ({len(streams):,} clients), repetitions: {args.repeat} (median)")
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {platform.system()}; relcycle {_version('relcycle')}, "
        f"python-statemachine {_version('python-statemachine')}, "
        f"transitions {_version('transitions')}"
    )
    print()
    print("| library | median time (s) | events/s | relcycle is faster by |")
    print("|---|---:|---:|---:|")
    for name, m in medians.items():
        ratio = "—" if name == "relcycle" else f"{m / medians['relcycle']:.1f}x"
        print(f"| {name} | {m:.2f} | {rate[name]:,.0f} | {ratio} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "events": total,
                    "clients": len(streams),
                    "repeat": args.repeat,
                    "times": times,
                    "median_events_per_second": rate,
                    "fresh_instances": args.fresh_instances,
                },
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
