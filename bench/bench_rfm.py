"""Benchmark: lifetimes' RFM summary on CDNOW x N, relcycle columnar vs the usual tools.

Dev tool, never run by the test suite. Each measurement runs in a fresh
subprocess (so peak memory, ``ru_maxrss``, is that tool's alone); tools run
round-robin, repetition after repetition, so machine noise hits them alike.
Times cover reading the file and computing the summary, materialized in memory.

Tools (each computes frequency, recency, T and monetary_value with daily periods,
observation end 1998-06-30):

- ``relcycle``: :func:`relcycle.columnar.rfm_frame` (exact decimal money,
  validation of every row, status filter, time zones);
- ``polars``: a hand-written polars query (float money, no validation), lazy and
  streaming;
- ``duckdb``: the same in DuckDB SQL (decimal money);
- ``lifetimes``: ``lifetimes.utils.summary_data_from_transaction_data`` on a pandas
  frame read from the same file.

And, asked for by name (``--tools``), the full portfolio report — every verdict of
every client, not only the RFM figures — on the same orders:

- ``report``: the columnar path, :func:`relcycle.columnar.read_tables` then
  :func:`relcycle.columnar.build_report`;
- ``report-python``: the object path, :func:`relcycle.io.load_history` then
  :func:`relcycle.report.build_report` (no extra needed);
- ``command``: the main job as a user runs it, ``relcycle report DIR --format
  jsonl --output FILE`` (the default engine, which assesses the clients in one
  worker process per CPU) in a child process: its wall time, the CPU time of
  it and its workers, and the peak RSS of the largest;
- ``command-one-process``: the same with ``--workers 1``.

The first repetition's results are checked against each other: frequency, recency
and T must be equal for every client, monetary_value within 1e-9 relative.

Usage::

    python bench/bench_rfm.py [--copies 100] [--format csv|parquet] [--reps 5]
        [--lifetimes-reps 1] [--tools relcycle,polars,duckdb,lifetimes]
        [--cache-dir DIR] [--json PATH]
    python bench/bench_rfm.py --dask [--copies 144] [--workers 2]

Data is generated on first use by ``bench/make_bench_data.py`` into the cache
directory (``$RELCYCLE_BENCH_DATA`` or ``bench/.data/``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_bench_data  # noqa: E402

END_DAY = date(1998, 6, 30)
AS_OF = datetime(1998, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
TOOLS = ("relcycle", "polars", "duckdb", "lifetimes")
REPORTS = ("report", "report-python")
#: The main job as a user runs it: ``relcycle report`` (default engine), a child process.
COMMAND = "command"
#: The same in one process (``--workers 1``): the python engine before it used the CPUs.
COMMAND_ONE = "command-one-process"
COMMANDS = (COMMAND, COMMAND_ONE)


# --------------------------------------------------------------------------- the tools


def run_relcycle(path: Path) -> Any:
    from relcycle.columnar import rfm_frame

    return rfm_frame(path, as_of=AS_OF)


def run_polars(path: Path) -> Any:
    import polars as pl

    if path.suffix == ".csv":
        lf = pl.scan_csv(
            path,
            schema_overrides={
                "client_id": pl.String,
                "placed_at": pl.String,
                "amount": pl.Float64,
            },
        )
        day = pl.col("placed_at").str.to_date("%Y-%m-%d")
    else:
        lf = pl.scan_parquet(path)
        day = pl.col("placed_at").dt.date()
    per_day = (
        lf.select("client_id", day.alias("day"), pl.col("amount").cast(pl.Float64))
        .group_by("client_id", "day")
        .agg(pl.col("amount").sum())
    )
    n = pl.len() - 1
    query = per_day.group_by("client_id").agg(
        n.alias("frequency"),
        (pl.col("day").max() - pl.col("day").min()).dt.total_days().alias("recency"),
        (pl.lit(END_DAY) - pl.col("day").min()).dt.total_days().alias("T"),
        pl.when(n > 0)
        .then((pl.col("amount").sum() - pl.col("amount").sort_by("day").first()) / n)
        .otherwise(0.0)
        .alias("monetary_value"),
    )
    return query.collect(engine="streaming")


def run_duckdb(path: Path) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if path.suffix == ".csv":
        source = (
            f"read_csv('{path}', header = true, columns = "
            "{'client_id': 'VARCHAR', 'placed_at': 'DATE', 'amount': 'DECIMAL(18,2)'})"
        )
    else:
        source = f"read_parquet('{path}')"
    sql = f"""
        WITH days AS (
            SELECT client_id, CAST(placed_at AS DATE) AS day, SUM(amount) AS amount
            FROM {source} GROUP BY 1, 2
        ), c AS (
            SELECT client_id, COUNT(*) - 1 AS frequency, MIN(day) AS first_day,
                   MAX(day) AS last_day, SUM(amount) - arg_min(amount, day) AS repeat_value
            FROM days GROUP BY 1
        )
        SELECT client_id, frequency, date_diff('day', first_day, last_day) AS recency,
               date_diff('day', first_day, DATE '{END_DAY.isoformat()}') AS T,
               CASE WHEN frequency > 0 THEN CAST(repeat_value AS DOUBLE) / frequency
                    ELSE 0 END AS monetary_value
        FROM c
    """
    return con.execute(sql).to_arrow_table()


def run_lifetimes(path: Path) -> Any:
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    if path.suffix == ".csv":
        df = pd.read_csv(path, dtype={"client_id": str, "placed_at": str, "amount": float})
        df["placed_at"] = pd.to_datetime(df["placed_at"], format="%Y-%m-%d")
    else:
        df = pd.read_parquet(path)
        df["placed_at"] = df["placed_at"].dt.tz_convert(None)
        df["amount"] = df["amount"].astype(float)
    return summary_data_from_transaction_data(
        df,
        "client_id",
        "placed_at",
        monetary_value_col="amount",
        observation_period_end=END_DAY.isoformat(),
        freq="D",
    )


def history_folder(path: Path) -> Path:
    """A folder holding ``path`` as the contract's ``orders`` table (a symbolic link)."""
    folder = path.with_name(path.name.replace(".", "_") + "_history")
    folder.mkdir(exist_ok=True)
    link = folder / ("orders" + path.suffix)
    if not link.exists():
        link.symlink_to(path.resolve())
    return folder


def run_report(path: Path) -> Any:
    from relcycle.columnar import build_report, read_tables

    return build_report(read_tables(history_folder(path)), as_of=AS_OF)


class _Command:
    """What ``relcycle report DIR --format jsonl`` wrote, and the child's own usage."""

    def __init__(
        self, records: list[dict[str, Any]], seconds: float, cpu: float, peak_mb: float
    ) -> None:
        self.records = records
        self.seconds = seconds
        self.cpu = cpu
        self.peak_mb = peak_mb

    def __len__(self) -> int:
        return len(self.records)


def run_command(path: Path, *options: str) -> _Command:
    """``relcycle report`` as a user types it (the default engine), JSON Lines to a file;
    CPU and peak RSS are the child's and its worker processes' (``os.wait4``: CPU
    summed, the peak of the largest)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.jsonl"
        command = [sys.executable, "-m", "relcycle", "report", str(history_folder(path))]
        command += ["--format", "jsonl", "--output", str(out), "--as-of", AS_OF.isoformat()]
        command += options
        start = time.perf_counter()
        child = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"relcycle report: exit code {os.waitstatus_to_exitcode(status)}")
        keep = ("client_id", "frequency", "recency", "T", "monetary_value")
        with out.open(encoding="utf-8") as fh:
            records = [{k: r[k] for k in keep} for r in map(json.loads, fh)]
    return _Command(records, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def run_report_python(path: Path) -> Any:
    from relcycle.io import load_history
    from relcycle.report import build_report

    return build_report(load_history(history_folder(path)).portfolio, as_of=AS_OF)


def to_polars(tool: str, result: Any) -> Any:
    """Any tool's result as a polars frame of the four figures (floats)."""
    import polars as pl

    if tool in REPORTS:
        result = {
            "client_id": [c.client_id for c in result if c.frequency is not None],
            **{
                name: [float(getattr(c, name)) for c in result if c.frequency is not None]
                for name in ("frequency", "recency", "T", "monetary_value")
            },
        }
    if tool in COMMANDS:
        kept = [r for r in result.records if r["frequency"] is not None]
        result = {
            "client_id": [r["client_id"] for r in kept],
            **{
                name: [float(r[name]) for r in kept]
                for name in ("frequency", "recency", "T", "monetary_value")
            },
        }
    if tool == "lifetimes":
        result = result.reset_index()
    frame = pl.DataFrame(result) if not isinstance(result, pl.DataFrame) else result
    return frame.select(
        pl.col("client_id").cast(pl.String),
        *[pl.col(c).cast(pl.Float64) for c in ("frequency", "recency", "T", "monetary_value")],
    )


def worker(tool: str, path: Path, out: Path | None) -> None:
    """Run one tool once; print its figures as JSON on stdout."""
    fn = {
        "relcycle": run_relcycle,
        "polars": run_polars,
        "duckdb": run_duckdb,
        "lifetimes": run_lifetimes,
        "report": run_report,
        "report-python": run_report_python,
        COMMAND: run_command,
        COMMAND_ONE: lambda path: run_command(path, "--workers", "1"),
    }[tool]
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result = fn(path)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = len(result)
    peak_mb = after.ru_maxrss / 1024  # Linux: KiB
    if isinstance(result, _Command):  # the work was the child's
        seconds, cpu, peak_mb = result.seconds, result.cpu, result.peak_mb
    if out is not None:
        to_polars(tool, result).write_parquet(out)
    figures: dict[str, Any] = {
        "tool": tool,
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": peak_mb,
        "rows": rows,
    }
    if tool in REPORTS and out is not None:
        # the whole report, every field of every client, as a digest of its JSON
        figures["digest"] = hashlib.sha256(result.to_json().encode()).hexdigest()
    print(json.dumps(figures))


# --------------------------------------------------------------------------- the driver


def versions() -> dict[str, str]:
    """Versions of Python and of every library involved (those importable)."""
    found = {"python": platform.python_version()}
    for name in ("relcycle", "polars", "pyarrow", "duckdb", "pandas", "numpy", "lifetimes"):
        try:
            module = __import__(name)
            found[name] = str(getattr(module, "__version__", "?"))
        except ImportError:
            found[name] = "not installed"
    try:
        sha = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        found["relcycle"] += f" (git {sha})"
    except (OSError, subprocess.CalledProcessError):
        pass
    return found


def machine() -> dict[str, str]:
    """CPU model, cores and memory of this machine."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": platform.platform(),
    }


def check_equal(results: dict[str, Path]) -> list[str]:
    """Compare every tool's first result with relcycle's (or polars')."""
    import polars as pl

    lines = []
    frames = {t: pl.read_parquet(p) for t, p in results.items()}
    base_tool = "relcycle" if "relcycle" in frames else next(iter(frames))
    base = frames[base_tool]
    for tool, frame in frames.items():
        if tool == base_tool:
            continue
        joined = base.join(frame, on="client_id", how="full", suffix="_other", coalesce=True)
        missing = joined.filter(
            pl.col("frequency").is_null() | pl.col("frequency_other").is_null()
        ).height
        exact = all(
            joined.filter(pl.col(c) != pl.col(f"{c}_other")).height == 0
            for c in ("frequency", "recency", "T")
        )
        rel = (
            joined.select(
                (
                    (pl.col("monetary_value") - pl.col("monetary_value_other")).abs()
                    / pl.max_horizontal(pl.col("monetary_value").abs(), pl.lit(1e-300))
                ).max()
            ).item()
            or 0.0
        )
        ok = missing == 0 and exact and rel <= 1e-9
        lines.append(
            f"{base_tool} vs {tool}: {len(base)} vs {len(frame)} clients, "
            f"{missing} unmatched, frequency/recency/T {'equal' if exact else 'DIFFER'}, "
            f"monetary_value max relative difference {rel:.2e} -> {'OK' if ok else 'MISMATCH'}"
        )
    return lines


def bench(args: argparse.Namespace) -> int:
    """Run the tools round-robin and print the table of medians and ratios."""
    cache = args.cache_dir or make_bench_data.default_cache_dir()
    csv_path, parquet_path = make_bench_data.paths(cache, args.copies)
    if not (csv_path.exists() and parquet_path.exists()):
        make_bench_data.generate(
            cache, args.copies, args.source or make_bench_data.default_source()
        )
    path = csv_path if args.format == "csv" else parquet_path
    tools = [t for t in args.tools.split(",") if t]
    times: dict[str, list[dict[str, float]]] = {t: [] for t in tools}
    outputs: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
            for tool in order:
                if tool == "lifetimes" and rep >= args.lifetimes_reps:
                    continue
                cmd = [args.python, __file__, "--worker", tool, "--input", str(path)]
                if rep == 0:
                    outputs[tool] = Path(tmp) / f"{tool}.parquet"
                    cmd += ["--out", str(outputs[tool])]
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    return 1
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                times[tool].append(figures)
                print(
                    f"rep {rep + 1} {tool:9s} {figures['seconds']:7.2f} s wall "
                    f"{figures['cpu']:7.2f} s cpu {figures['peak_mb']:8.0f} MB "
                    f"{figures['rows']} rows",
                    flush=True,
                )
        checks = check_equal(outputs)
        digests = {t: r[0]["digest"] for t, r in times.items() if r and "digest" in r[0]}
        if len(digests) == 2:
            same = len(set(digests.values())) == 1
            checks.append(
                "report vs report-python: the whole JSON reports are "
                + ("identical" if same else "DIFFERENT")
                + f" (sha256 {digests['report'][:16]}...)"
            )
    base = "polars" if "polars" in times else tools[0]
    med = {
        t: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "cpu", "peak_mb")}
        for t, runs in times.items()
        if runs
    }
    print()
    print(f"CDNOW x{args.copies} ({args.format}): {path}")
    print("machine:", json.dumps(machine()))
    print("versions:", json.dumps(versions()))
    print()
    ref = "lifetimes" if "lifetimes" in med and base != "lifetimes" else None
    extra = " wall x lifetimes | cpu x lifetimes |" if ref else ""
    print(
        f"| tool | runs | wall s (median) | x {base} | cpu s (median) | x {base} "
        f"| peak MB | x {base} |{extra}"
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|---|" if ref else ""))
    for t, m in med.items():
        b = med[base]
        line = (
            f"| {t} | {len(times[t])} | {m['seconds']:.2f} | {m['seconds'] / b['seconds']:.2f} "
            f"| {m['cpu']:.2f} | {m['cpu'] / b['cpu']:.2f} | {m['peak_mb']:.0f} "
            f"| {m['peak_mb'] / b['peak_mb']:.2f} |"
        )
        if ref:
            r = med[ref]
            line += f" {m['seconds'] / r['seconds']:.2f} | {m['cpu'] / r['cpu']:.2f} |"
        print(line)
    print()
    for line in checks:
        print(line)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "copies": args.copies,
                    "format": args.format,
                    "machine": machine(),
                    "versions": versions(),
                    "runs": times,
                    "medians": med,
                    "checks": checks,
                },
                indent=2,
            )
        )
    return 0


def bench_dask(args: argparse.Namespace) -> int:
    """relcycle.dask on a LocalCluster vs the single-process kernel, on CDNOW x N Parquet."""
    import dask.dataframe as dd
    import distributed
    import polars as pl

    import relcycle.dask as rdask
    from relcycle.columnar import rfm_frame

    cache = args.cache_dir or make_bench_data.default_cache_dir()
    _, parquet_path = make_bench_data.paths(cache, args.copies)
    if not parquet_path.exists():
        make_bench_data.generate(
            cache, args.copies, args.source or make_bench_data.default_source()
        )
    start = time.perf_counter()
    single = rfm_frame(parquet_path, as_of=AS_OF, sort=True)
    single_s = time.perf_counter() - start
    with (
        distributed.LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        orders = dd.read_parquet(parquet_path, split_row_groups=True)
        start = time.perf_counter()
        result = rdask.rfm_summary(orders, as_of=AS_OF).compute()
        dask_s = time.perf_counter() - start
    got = pl.from_pandas(result).sort("client_id")
    same = got.select(single.columns).cast(single.schema).equals(single)
    print(f"CDNOW x{args.copies} Parquet: {single.height} clients")
    print(f"orders partitions: {orders.npartitions}; workers: {args.workers} x 1 thread")
    print(f"single process relcycle.columnar: {single_s:.2f} s")
    print(f"relcycle.dask on LocalCluster:    {dask_s:.2f} s")
    print(f"results equal: {same}")
    print("machine:", json.dumps(machine()))
    print("versions:", json.dumps(versions()))
    return 0 if same else 1


def bench_dask_report(args: argparse.Namespace) -> int:
    """relcycle.dask.build_report on a LocalCluster vs the columnar report in one process."""
    import dask.dataframe as dd
    import distributed

    import relcycle.dask as rdask

    cache = args.cache_dir or make_bench_data.default_cache_dir()
    _, parquet_path = make_bench_data.paths(cache, args.copies)
    if not parquet_path.exists():
        make_bench_data.generate(
            cache, args.copies, args.source or make_bench_data.default_source()
        )
    start = time.perf_counter()
    single = run_report(parquet_path)
    single_s = time.perf_counter() - start
    with (
        distributed.LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        orders = dd.read_parquet(parquet_path, split_row_groups=True)
        start = time.perf_counter()
        parts = max(orders.npartitions, 4 * args.workers)
        result = rdask.build_report(orders, as_of=AS_OF, npartitions=parts)
        dask_s = time.perf_counter() - start
    same = result.to_json() == single.to_json()
    print(f"CDNOW x{args.copies} Parquet: {len(single)} clients, full report")
    print(
        f"orders partitions: {orders.npartitions}; client partitions: {parts}; "
        f"workers: {args.workers} x 1 thread"
    )
    print(f"single process relcycle.columnar.build_report: {single_s:.2f} s")
    print(f"relcycle.dask.build_report on LocalCluster:    {dask_s:.2f} s")
    print(f"reports identical (JSON): {same}")
    print("machine:", json.dumps(machine()))
    print("versions:", json.dumps(versions()))
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=None, help="100 (bench) or 144 (--dask)")
    ap.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--lifetimes-reps", type=int, default=1)
    ap.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"comma-separated, from {', '.join((*TOOLS, *REPORTS, *COMMANDS))} "
        "(default: the first four)",
    )
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--source", type=Path, default=None, help="CDNOW_master.txt")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the workers")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--dask", action="store_true", help="run the Dask LocalCluster check")
    ap.add_argument(
        "--dask-report", action="store_true", help="the full report on a Dask LocalCluster"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker", choices=(*TOOLS, *REPORTS, *COMMANDS), help=argparse.SUPPRESS)
    ap.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.input, args.out)
        return 0
    if args.dask:
        args.copies = args.copies or 144
        return bench_dask(args)
    if args.dask_report:
        args.copies = args.copies or 10
        return bench_dask_report(args)
    args.copies = args.copies or 100
    return bench(args)


if __name__ == "__main__":
    raise SystemExit(main())
