"""Benchmark: one client with N complaints (and a noisy client with N of everything).

Dev tool, never run by the test suite. It writes contract CSV folders holding ONE
client and runs ``python -m relcycle report DIR --engine E --format jsonl --output
FILE`` in a child process per run, reporting wall seconds and the child's peak
resident memory (``ru_maxrss`` from ``os.wait4``), as ``tests/test_scale_edges.py``
does for one client with N orders.

Two cases per N:

- ``complaints``: one client, a few dozen orders and N complaints of every
  category and severity, opened over 20 years, most resolved or rejected within
  days, the latest still open or acknowledged, some escalated. From a few
  tens of thousands on, the lifecycle's evidence (each recurrence cites every
  problem of its window, each complaint every other one unresolved) passes
  ``relcycle.lifecycle.EVIDENCE_BUDGET``: the expected outcome is exit 1 with
  the ``BudgetError`` naming the client, and what is measured is how fast and in
  how much memory it comes;
- ``noisy``: one client with N orders (one in a thousand cancelled, returned or
  late: more would again be quadratic evidence, each failure recurring with all
  the others of its window), N
  interactions of varied purposes (inquiries, offer changes, planning, service,
  wishes, feedback, referrals, marketing, escalations; no termination) and N/100
  complaints as above: a history whose evidence stays linear, which the report
  must finish.

Several source trees can be compared side by side in one run (``--tree``, each
a checkout whose ``src`` is put first on the child's ``PYTHONPATH``); the trees
and engines are run round-robin and the outputs of all runs of one input must be
byte-identical (a difference is reported). A run that fails prints its exit code
and the last line of its standard error; ``--limit-mb`` caps the child's address
space (``RLIMIT_AS``) to see how a run fails when memory runs out.

Usage::

    python bench/bench_big_client.py [--n 10000,100000,1000000] [--cases complaints,noisy]
        [--engines python,arrow] [--tree OLD --tree NEW] [--limit-mb 5000] [--keep DIR]
        [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent

_CATEGORIES = ("delivery", "quality", "billing", "service", "other")
_SEVERITIES = ("low", "medium", "high", "critical", "low", "medium", "low")
_PURPOSES = (
    "inquiry",
    "offer_change",
    "joint_planning",
    "service_exchange",
    "wish",
    "feedback",
    "referral",
    "marketing",
    "inquiry",
    "escalation",
    "other",
)
_CHANNELS = ("phone", "email", "meeting", "web", "chat", "letter")
_SPAN_DAYS = 20 * 365


_START = datetime(2005, 1, 1, tzinfo=UTC)


def _moment(day: int, second: int) -> str:
    """An ISO instant ``day`` days after 2005-01-01, ``second`` seconds into it."""
    return (_START + timedelta(days=day, seconds=second)).isoformat()


def _day(i: int, n: int) -> int:
    """Spread record ``i`` of ``n`` evenly over the span (sorted by ``i``)."""
    return i * _SPAN_DAYS // max(n, 1)


def write_complaints(folder: Path, n: int) -> None:
    """``n`` complaints of one client, varied; of the latest 2%, one in six still open."""
    with (folder / "complaints.csv").open("w", encoding="utf-8") as fh:
        fh.write(
            "complaint_id,client_id,opened_at,category,severity,client_loss,"
            "currency,status,resolved_at,escalated_to\n"
        )
        for i in range(n):
            day = _day(i, n)
            opened = _moment(day, (i * 37) % 86_000)
            category = _CATEGORIES[i % len(_CATEGORIES)]
            severity = _SEVERITIES[(i // 5) % len(_SEVERITIES)]
            loss = f"{(i % 50) * 10}.00" if i % 4 == 0 else ""
            escalated = ("staff", "management")[i % 2] if i % 23 == 0 else ""
            if i % 6 == 5 and i >= n - n // 50:
                status, resolved = ("open", "acknowledged")[i % 2], ""
            else:
                status = "rejected" if i % 9 == 0 else "resolved"
                resolved = _moment(day + 1 + i % 20, (i * 37) % 86_000)
            fh.write(
                f"K{i:08d},C1,{opened},{category},{severity},{loss},USD,"
                f"{status},{resolved},{escalated}\n"
            )


def write_orders(folder: Path, n: int) -> None:
    """``n`` orders of one client over the span, one in a thousand failed."""
    with (folder / "orders.csv").open("w", encoding="utf-8") as fh:
        fh.write("order_id,client_id,placed_at,amount,currency,status,on_time,cost\n")
        for i in range(n):
            # one in a thousand late, cancelled or returned: each such failure is a
            # problem that recurs with every other one in the recurrence window
            status = ("delivered", "placed", "cancelled", "returned")[0 if i % 997 else i % 4]
            cents = 5_000 + (i * 7919) % 500_000
            cost = cents * 7 // 10
            on_time = "" if i % 5 else ("false" if i % 1000 == 5 else "true")
            fh.write(
                f"O{i:08d},C1,{_moment(_day(i, n), (i * 53) % 86_000)},"
                f"{cents // 100}.{cents % 100:02d},USD,{status},{on_time},"
                f"{cost // 100}.{cost % 100:02d}\n"
            )


def write_interactions(folder: Path, n: int) -> None:
    """``n`` interactions of one client of varied purposes, channels and directions."""
    with (folder / "interactions.csv").open("w", encoding="utf-8") as fh:
        fh.write("interaction_id,client_id,at,channel,direction,purpose,handled_by,minutes\n")
        for i in range(n):
            purpose = _PURPOSES[i % len(_PURPOSES)]
            direction = "outbound" if purpose == "marketing" or i % 3 == 0 else "inbound"
            fh.write(
                f"I{i:08d},C1,{_moment(_day(i, n), (i * 71) % 86_000)},"
                f"{_CHANNELS[i % len(_CHANNELS)]},{direction},{purpose},"
                f"M{i % 4},{5 + i % 40}\n"
            )


def generate(folder: Path, case: str, n: int) -> Path:
    """Write the input of ``case`` with ``n`` records per table (made once)."""
    if (folder / "complaints.csv").exists():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "clients.csv").write_text(
        "client_id,name,kind,since\nC1,Noisy Ltd,company,2004-06-01\n", encoding="utf-8"
    )
    if case == "complaints":
        write_complaints(tmp, n)
        write_orders(tmp, 60)
    else:
        write_complaints(tmp, max(n // 100, 1))
        write_orders(tmp, n)
        write_interactions(tmp, n)
    tmp.rename(folder)
    return folder


def run(
    folder: Path, engine: str, tree: Path, out: Path, limit_mb: int | None, timeout: float | None
) -> tuple[int, float, int, str]:
    """Run the report in a child: exit code, wall seconds, peak RSS bytes, stderr tail.

    A child still running after ``timeout`` seconds is killed (its tail says so).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree / "src")

    def limit() -> None:  # pragma: no cover - runs in the child
        if limit_mb is not None:
            cap = limit_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    command = [sys.executable, "-m", "relcycle", "report", str(folder)]
    command += ["--engine", engine, "--format", "jsonl", "--output", str(out)]
    start = time.monotonic()
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, env=env, preexec_fn=limit)
    killer = threading.Timer(timeout, proc.kill) if timeout else None
    if killer is not None:
        killer.start()
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    if killer is not None:
        killer.cancel()
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            err += f"\nkilled after {timeout:.0f} s"
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    tail = err.strip().splitlines()[-1] if err.strip() else ""
    return proc.returncode, time.monotonic() - start, rss, tail


def main() -> None:
    """Parse the arguments, generate the inputs, run every combination and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="10000,100000,1000000")
    parser.add_argument("--cases", default="complaints,noisy")
    parser.add_argument("--engines", default="python,arrow")
    parser.add_argument("--tree", action="append", type=Path, default=[])
    parser.add_argument("--limit-mb", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="cache the inputs here")
    parser.add_argument("--timeout", type=float, default=None, help="kill a run after this")
    args = parser.parse_args()
    trees = args.tree or [HERE.parent]
    sizes = [int(s) for s in args.n.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.keep or Path(scratch)
        print("case        N          engine  tree            exit  seconds  peak MiB  B/record")
        for case in args.cases.split(","):
            for n in sizes:
                folder = generate(cache / f"big_{case}_{n}", case, n)
                records = n if case == "complaints" else 2 * n + max(n // 100, 1)
                outs: list[Path] = []
                for engine in args.engines.split(","):
                    for k, tree in enumerate(trees):
                        out = Path(scratch) / f"out_{case}_{n}_{engine}_{k}.jsonl"
                        code, seconds, rss, tail = run(
                            folder, engine, tree, out, args.limit_mb, args.timeout
                        )
                        label = tree.name[:14]
                        print(
                            f"{case:<11} {n:<10,} {engine:<7} {label:<15} {code:>4}  "
                            f"{seconds:7.1f}  {rss / 2**20:8.0f}  {rss / records:8.0f}"
                            + (f"  {tail}" if code else ""),
                            flush=True,
                        )
                        if code == 0:
                            outs.append(out)
                same = all(filecmp.cmp(outs[0], o, shallow=False) for o in outs[1:])
                if not same:
                    print(f"  ** outputs differ for {case} N={n}", flush=True)


if __name__ == "__main__":
    main()
