"""Benchmark: ``relcycle report --engine python`` vs ``--engine arrow`` by input size.

The python engine runs twice: by default (its worker processes, one per CPU)
and with ``--workers 1`` (``python-1``, one process).

Dev tool, never run by the test suite. It times the whole command (start-up,
reading, the report, writing JSON Lines to a file) and reads its peak resident
memory, each run a fresh process, engines round-robin, and checks that both
engines write the same bytes. What ``--engine auto`` picks
(:func:`relcycle.cli.choose_engine`) follows these figures: the engine that is
faster *and* not heavier on memory for the kind and size of input.

Inputs: simulated demo histories (``relcycle.simulate``, all four tables) of
several sizes, and CDNOW x N order logs (orders only), written once into the
cache directory (``$RELCYCLE_BENCH_DATA`` or ``bench/.data/``).

Usage::

    python bench/bench_engines.py [--reps 3] [--demo 500,2000,8000] [--cdnow 1,10]
        [--tree OLD --tree NEW]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_bench_data  # noqa: E402

#: ``python`` is the default python engine (worker processes, one per CPU);
#: ``python-1`` the same with ``--workers 1`` (one process).
ENGINES = ("python", "arrow", "python-1")
_OPTIONS = {
    "python": ["--engine", "python"],
    "arrow": ["--engine", "arrow"],
    "python-1": ["--engine", "python", "--workers", "1"],
}


def demo_folder(cache: Path, clients: int) -> Path:
    """A simulated history of ``clients`` clients as contract CSV (made once)."""
    folder = cache / f"demo_{clients}"
    if not (folder / "orders.csv").exists():
        from relcycle.io import write_history
        from relcycle.simulate import simulate_portfolio

        write_history(simulate_portfolio(clients, seed=0).portfolio(), folder, format="csv")
    return folder


def cdnow_folder(cache: Path, copies: int, source: Path | None) -> Path:
    """CDNOW x ``copies`` as a folder holding ``orders.csv`` (a symbolic link)."""
    csv_path, _ = make_bench_data.paths(cache, copies)
    if not csv_path.exists():
        make_bench_data.generate(cache, copies, source or make_bench_data.default_source())
    folder = cache / f"cdnow_x{copies}_engines"
    folder.mkdir(exist_ok=True)
    link = folder / "orders.csv"
    if not link.exists():
        link.symlink_to(csv_path.resolve())
    return folder


def size_of(folder: Path) -> int:
    """Bytes of the folder's table files."""
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def run(
    python: str, folder: Path, engine: str, out: Path, tree: Path | None = None
) -> tuple[float, float, float]:
    """One ``relcycle report`` run: wall and CPU seconds and peak RSS (MiB) of the child.

    With ``tree``, the child imports relcycle from ``tree/src`` (``PYTHONPATH``).
    """
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree / "src")
    start = time.perf_counter()
    cmd = [python, "-m", "relcycle", "report", str(folder), "--format", "jsonl"]
    child = subprocess.Popen([*cmd, "--output", str(out), *_OPTIONS[engine]], env=env)
    _, status, usage = os.wait4(child.pid, 0)  # CPU: the child's and its workers'
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} {engine}: exit code {child.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--demo", default="500,2000,8000", help="demo history sizes (clients)")
    ap.add_argument("--cdnow", default="1,10", help="CDNOW copies")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--source", type=Path, default=None, help="CDNOW_master.txt")
    ap.add_argument("--python", default=sys.executable, help="interpreter with relcycle[arrow]")
    ap.add_argument(
        "--tree",
        action="append",
        type=Path,
        default=[],
        help="a checkout to run (its src first on PYTHONPATH); repeat to compare trees "
        "side by side (default: the installed relcycle)",
    )
    args = ap.parse_args(argv)
    cache = args.cache_dir or make_bench_data.default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    inputs = [(f"demo {n} clients", demo_folder(cache, int(n))) for n in args.demo.split(",") if n]
    inputs += [
        (f"CDNOW x{n}", cdnow_folder(cache, int(n), args.source))
        for n in args.cdnow.split(",")
        if n
    ]
    trees: list[Path | None] = list(args.tree) or [None]
    print(
        "| input | tree | MiB | python wall s | arrow wall s | arrow/python wall | CPU "
        "| python peak MiB | arrow peak MiB | arrow/python peak | python-1 wall s "
        "| python/python-1 wall | CPU | same output |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in inputs:
            runs = [(k, e) for k in range(len(trees)) for e in ENGINES]
            times: dict[tuple[int, str], list[tuple[float, float, float]]] = {r: [] for r in runs}
            for rep in range(args.reps):
                for k, engine in runs if rep % 2 == 0 else runs[::-1]:
                    out = Path(tmp) / f"{k}-{engine}.jsonl"
                    times[k, engine].append(run(args.python, folder, engine, out, trees[k]))
            first = Path(tmp) / "0-python.jsonl"
            same = all(
                filecmp.cmp(first, Path(tmp) / f"{k}-{e}.jsonl", shallow=False) for k, e in runs
            )
            for k, tree in enumerate(trees):
                wall = {e: statistics.median(t[0] for t in times[k, e]) for e in ENGINES}
                cpu = {e: statistics.median(t[1] for t in times[k, e]) for e in ENGINES}
                peak = {e: statistics.median(t[2] for t in times[k, e]) for e in ENGINES}
                print(
                    f"| {name} | {'installed' if tree is None else tree.name} "
                    f"| {size_of(folder) / 2**20:.1f} | {wall['python']:.2f} "
                    f"| {wall['arrow']:.2f} | {wall['arrow'] / wall['python']:.2f} "
                    f"| {cpu['arrow'] / cpu['python']:.2f} | {peak['python']:.0f} "
                    f"| {peak['arrow']:.0f} | {peak['arrow'] / peak['python']:.2f} "
                    f"| {wall['python-1']:.2f} | {wall['python'] / wall['python-1']:.2f} "
                    f"| {cpu['python'] / cpu['python-1']:.2f} "
                    f"| {'yes' if same else 'NO'} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
