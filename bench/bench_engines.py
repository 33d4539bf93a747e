"""Benchmark: ``relcycle report --engine python`` vs ``--engine arrow`` by input size.

Dev tool, never run by the test suite. It times the whole command (start-up,
reading, the report, writing JSON Lines to a file), each run a fresh process,
engines round-robin, and checks that both engines write the same bytes. The
crossover is what ``--engine auto`` uses (``relcycle.cli.ARROW_FROM_BYTES``).

Inputs: simulated demo histories (``relcycle.simulate``, all four tables) of
several sizes, and CDNOW x N order logs (orders only), written once into the
cache directory (``$RELCYCLE_BENCH_DATA`` or ``bench/.data/``).

Usage::

    python bench/bench_engines.py [--reps 3] [--demo 500,2000,8000] [--cdnow 1,10]
"""

from __future__ import annotations

import argparse
import filecmp
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_bench_data  # noqa: E402

ENGINES = ("python", "arrow")


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


def run(python: str, folder: Path, engine: str, out: Path) -> tuple[float, float]:
    """One ``relcycle report`` run: wall and CPU seconds of the child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    cmd = [python, "-m", "relcycle", "report", str(folder), "--format", "jsonl"]
    subprocess.run([*cmd, "--output", str(out), "--engine", engine], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--demo", default="500,2000,8000", help="demo history sizes (clients)")
    ap.add_argument("--cdnow", default="1,10", help="CDNOW copies")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--source", type=Path, default=None, help="CDNOW_master.txt")
    ap.add_argument("--python", default=sys.executable, help="interpreter with relcycle[arrow]")
    args = ap.parse_args(argv)
    cache = args.cache_dir or make_bench_data.default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    inputs = [(f"demo {n} clients", demo_folder(cache, int(n))) for n in args.demo.split(",") if n]
    inputs += [
        (f"CDNOW x{n}", cdnow_folder(cache, int(n), args.source))
        for n in args.cdnow.split(",")
        if n
    ]
    print("| input | MiB | python wall s | arrow wall s | arrow/python wall | CPU | same output |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in inputs:
            times: dict[str, list[tuple[float, float]]] = {e: [] for e in ENGINES}
            for rep in range(args.reps):
                order = ENGINES if rep % 2 == 0 else ENGINES[::-1]
                for engine in order:
                    out = Path(tmp) / f"{engine}.jsonl"
                    times[engine].append(run(args.python, folder, engine, out))
            same = filecmp.cmp(Path(tmp) / "python.jsonl", Path(tmp) / "arrow.jsonl", shallow=False)
            wall = {e: statistics.median(t[0] for t in times[e]) for e in ENGINES}
            cpu = {e: statistics.median(t[1] for t in times[e]) for e in ENGINES}
            print(
                f"| {name} | {size_of(folder) / 2**20:.1f} | {wall['python']:.2f} "
                f"| {wall['arrow']:.2f} | {wall['arrow'] / wall['python']:.2f} "
                f"| {cpu['arrow'] / cpu['python']:.2f} | {'yes' if same else 'NO'} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
