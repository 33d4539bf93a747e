"""Time reading a million-order CSV into a portfolio (the report's hot input path).

The orders are those of :func:`relcycle.simulate.simulate_portfolio` with
``--clients`` clients (82,000 by default: about a million orders), written once as
a contract ``orders.csv`` (one row per order, all ten contract columns) into the
cache directory. Measured, on the pure-Python path (no extra is used):

- ``csv.reader``: one pass of the standard library's CSV reader over the file
  (the floor: any reader has to split the rows);
- ``load_history``: :func:`relcycle.io.load_history` on the folder, that is
  reading, validating every cell, generating nothing (the rows have ids),
  building the :class:`~relcycle.model.Order` objects and grouping them with
  :func:`relcycle.history.build_portfolio`;
- ``build_portfolio``: the grouping step alone, on the loaded orders;
- with ``--lifetimes-python PATH`` (an interpreter with pandas and lifetimes):
  ``pandas.read_csv`` of the same file and lifetimes'
  ``summary_data_from_transaction_data`` on it (daily periods), which computes
  only the four RFM figures.

Times are medians of ``--repeat`` runs, wall clock and CPU; the peak resident
memory of a fresh process running ``load_history`` once is reported too.

Usage::

    python bench/bench_read.py [--clients 82000] [--repeat 3] [--cache-dir DIR]
        [--lifetimes-python PATH] [--json PATH]

This is a benchmark, not a test: the test suite never times anything.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

LIFETIMES_SCRIPT = r"""
import json, sys, time
import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data
path, end, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
reads, summaries, read_cpu, summary_cpu = [], [], [], []
for _ in range(repeat):
    t, c = time.perf_counter(), time.process_time()
    df = pd.read_csv(path, usecols=["client_id", "placed_at", "amount", "status"],
                     dtype={"client_id": str, "amount": float, "status": str})
    df["placed_at"] = pd.to_datetime(df["placed_at"], utc=True, format="ISO8601")
    df = df[df["status"].isin(["placed", "delivered"])]
    reads.append(time.perf_counter() - t)
    read_cpu.append(time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    summary_data_from_transaction_data(df, "client_id", "placed_at",
        monetary_value_col="amount", observation_period_end=pd.Timestamp(end), freq="D")
    summaries.append(time.perf_counter() - t)
    summary_cpu.append(time.process_time() - c)
print(json.dumps({"read": reads, "summary": summaries, "read_cpu": read_cpu,
                  "summary_cpu": summary_cpu, "rows": int(len(df))}))
"""

PEAK_SCRIPT = r"""
import resource, sys, time
from relcycle.io import load_history
t = time.perf_counter()
result = load_history(sys.argv[1])
result.portfolio
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      len(result.tables.orders))
"""


def _cache_dir() -> Path:
    env = os.environ.get("RELCYCLE_BENCH_DATA")
    return Path(env) if env else HERE / ".data"


def _orders_folder(clients: int, cache: Path) -> tuple[Path, str]:
    """Write (once) the simulated orders as contract CSV; return the folder and as_of."""
    from relcycle.io import HistoryTables, write_history
    from relcycle.simulate import DEFAULT_END, simulate_portfolio

    folder = cache / f"read_orders_{clients}"
    if not (folder / "orders.csv").exists():
        started = time.perf_counter()
        sim = simulate_portfolio(clients)
        took = time.perf_counter() - started
        print(
            f"simulated {clients:,} clients, {len(sim.orders):,} orders in {took:.1f} s",
            file=sys.stderr,
        )
        write_history(HistoryTables(clients=None, orders=sim.orders), folder, overwrite=True)
    return folder, DEFAULT_END.isoformat()


def _timed(fn: Any, repeat: int) -> tuple[float, float, Any]:
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        result = None
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=82_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=_cache_dir())
    parser.add_argument("--lifetimes-python", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from relcycle.history import build_portfolio
    from relcycle.io import load_history

    args.cache_dir.mkdir(parents=True, exist_ok=True)
    folder, as_of = _orders_folder(args.clients, args.cache_dir)
    path = folder / "orders.csv"

    def split() -> int:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return sum(1 for _ in csv.reader(fh)) - 1

    rows: dict[str, Any] = {}
    wall, cpu, count = _timed(split, args.repeat)
    rows["csv.reader"] = (wall, cpu)

    def read_and_build() -> Any:
        result = load_history(folder)
        result.portfolio  # noqa: B018 - the portfolio is built on first use
        return result

    wall, cpu, loaded = _timed(read_and_build, args.repeat)
    rows["load_history + portfolio (read, validate, build)"] = (wall, cpu)
    orders = loaded.tables.orders
    wall, cpu, _ = _timed(lambda: build_portfolio(orders=orders), args.repeat)
    rows["  of which build_portfolio"] = (wall, cpu)
    del loaded

    try:
        from relcycle.columnar import read_tables, to_portfolio
    except ImportError:  # the arrow extra is not installed
        read_tables = None
    if read_tables is not None:
        wall, cpu, frames = _timed(lambda: read_tables(folder), args.repeat)
        rows[f"columnar read_tables ({frames.path} path)"] = (wall, cpu)
        wall, cpu, _ = _timed(lambda: to_portfolio(frames), args.repeat)
        rows["  then to_portfolio (the domain objects)"] = (wall, cpu)
        del frames

    peak = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    peak_mib = int(peak[1]) / 1024

    if args.lifetimes_python is not None:
        out = subprocess.run(
            [
                str(args.lifetimes_python),
                "-c",
                LIFETIMES_SCRIPT,
                str(path),
                as_of,
                str(args.repeat),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        lt = json.loads(out)
        rows["pandas.read_csv (for lifetimes)"] = (
            statistics.median(lt["read"]),
            statistics.median(lt["read_cpu"]),
        )
        rows["lifetimes summary_data_from_transaction_data"] = (
            statistics.median(lt["summary"]),
            statistics.median(lt["summary_cpu"]),
        )

    print(f"orders: {count:,} rows ({path.stat().st_size / 2**20:.0f} MiB)")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print()
    load_cpu = rows["load_history + portfolio (read, validate, build)"][1]
    print("| step | wall s | CPU s | rows/s (CPU) | CPU vs load_history |")
    print("|---|---:|---:|---:|---:|")
    for name, (w, c) in rows.items():
        print(f"| {name} | {w:.2f} | {c:.2f} | {count / c:,.0f} | {c / load_cpu:.2f}x |")
    print(f"\npeak RSS of a process running load_history once: {peak_mib:,.0f} MiB")
    if args.json is not None:
        args.json.write_text(
            json.dumps({"rows": count, "steps": rows, "peak_mib": peak_mib}, indent=2),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
