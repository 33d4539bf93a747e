"""Time the portfolio report on the demo portfolio scaled to a million orders.

The portfolio is :func:`relcycle.simulate.simulate_portfolio` with ``--clients``
clients (100,000 by default: about a million orders). Measured, each on the
pure-Python path (no extra installed is used):

- ``build_report``: :func:`relcycle.report.build_report` on the in-memory
  portfolio (every client's lifecycle, ladder, segments, RFM figures and scores,
  cost-to-serve, risks, actions, evidence; the summary);
- ``render json``: :meth:`relcycle.report.Report.to_json` of that report;
- ``cli report`` (with ``--cli``): ``relcycle report DIR --format json --output F``
  as a subprocess on the history written as contract CSV: reading and
  validating the four tables, building the report and writing it;
- lifetimes: ``summary_data_from_transaction_data(df, "client_id", "placed_at",
  monetary_value_col="amount", observation_period_end=<as_of day>, freq="D")``
  on the same sales (``placed``/``delivered`` orders, which relcycle counts),
  run by another interpreter (``--lifetimes-python``, a virtual environment with
  lifetimes and pandas) on a CSV of those orders. Its time excludes reading the
  CSV (reported separately). lifetimes computes only the four RFM figures.

The four lifetimes figures of relcycle's report are checked against lifetimes'
for every client (frequency, recency, T exactly; monetary_value to 1e-9).

Usage::

    python bench/bench_report.py [--clients 100000] [--seed 0] [--repeat 1]
        [--lifetimes-python PATH] [--cli] [--workdir DIR] [--json PATH]

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
import tempfile
import time
from pathlib import Path
from typing import Any

LIFETIMES_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data
t1 = time.perf_counter()
df = pd.read_csv(sys.argv[1], dtype={"client_id": str, "amount": float}, parse_dates=["placed_at"])
t2 = time.perf_counter()
times = []
cpu = []
for _ in range(int(sys.argv[4])):
    s = time.perf_counter()
    c = time.process_time()
    summary = summary_data_from_transaction_data(
        df, "client_id", "placed_at", monetary_value_col="amount",
        observation_period_end=sys.argv[2], freq="D")
    cpu.append(time.process_time() - c)
    times.append(time.perf_counter() - s)
summary.to_csv(sys.argv[3])
import lifetimes, numpy
print(json.dumps({"import_s": t1 - t0, "read_csv_s": t2 - t1,
                  "summary_s": times, "summary_cpu_s": cpu,
                  "rows": len(df), "clients": len(summary),
                  "versions": {"lifetimes": lifetimes.__version__, "pandas": pd.__version__,
                               "numpy": numpy.__version__}}))
"""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--lifetimes-python", help="a Python with lifetimes and pandas")
    parser.add_argument("--cli", action="store_true", help="also time `relcycle report` on CSV")
    parser.add_argument("--workdir", help="where to write the CSV files (default: a temp dir)")
    parser.add_argument("--json", help="write the results here as JSON")
    args = parser.parse_args(argv)

    from relcycle.report import build_report
    from relcycle.simulate import simulate_portfolio

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "clients": args.clients,
        "seed": args.seed,
    }
    t = time.perf_counter()
    simulated = simulate_portfolio(args.clients, seed=args.seed)
    portfolio = simulated.portfolio()
    results["simulate_s"] = time.perf_counter() - t
    n_orders = sum(len(h.orders) for h in portfolio)
    n_records = portfolio.records_count()
    results["orders"] = n_orders
    results["records"] = n_records
    print(
        f"portfolio: {len(portfolio):,} clients, {n_orders:,} orders, {n_records:,} records "
        f"(simulated in {results['simulate_s']:.1f} s)",
        flush=True,
    )

    times = []
    cpu_times = []
    report = None
    for _ in range(args.repeat):
        report = None
        gc.collect()
        t = time.perf_counter()
        c = time.process_time()
        report = build_report(portfolio, as_of=simulated.as_of)
        cpu_times.append(time.process_time() - c)
        times.append(time.perf_counter() - t)
    assert report is not None
    results["build_report_s"] = times
    results["build_report_cpu_s"] = cpu_times
    print(
        f"build_report: median {statistics.median(times):.2f} s wall, "
        f"{statistics.median(cpu_times):.2f} s CPU "
        f"({n_orders / statistics.median(cpu_times):,.0f} orders per CPU second)",
        flush=True,
    )
    t = time.perf_counter()
    text = report.to_json()
    results["to_json_s"] = time.perf_counter() - t
    results["json_mb"] = len(text.encode()) / 1e6
    print(f"to_json: {results['to_json_s']:.2f} s ({results['json_mb']:.0f} MB)", flush=True)
    results["peak_rss_mb"] = _peak_mb()

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="relcycle-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    as_of_day = simulated.as_of.date().isoformat()

    if args.cli:
        from relcycle.io import write_history

        history_dir = work / "history"
        if not (history_dir / "orders.csv").exists():
            write_history(portfolio, history_dir)
        out = work / "report.json"
        t = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "relcycle",
                "report",
                str(history_dir),
                "--as-of",
                simulated.as_of.isoformat(),
                "--format",
                "json",
                "--output",
                str(out),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        results["cli_report_s"] = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        results["cli_report_cpu_s"] = (after.ru_utime + after.ru_stime) - (
            before.ru_utime + before.ru_stime
        )
        results["cli_report_peak_rss_mb"] = after.ru_maxrss / 1024
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        print(
            f"cli report (CSV in, JSON out): {results['cli_report_s']:.2f} s wall, "
            f"{results['cli_report_cpu_s']:.2f} s CPU",
            flush=True,
        )

    if args.lifetimes_python:
        sales_csv = work / "sales.csv"
        with sales_csv.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["client_id", "placed_at", "amount"])
            for history in portfolio:
                for order in history.orders:
                    if order.is_sale and order.placed_at <= simulated.as_of:
                        # the calendar day in UTC, as the report counts it (--tz UTC)
                        writer.writerow(
                            [
                                order.client_id,
                                order.placed_at.astimezone(simulated.as_of.tzinfo)
                                .replace(tzinfo=None)
                                .isoformat(),
                                str(order.amount),
                            ]
                        )
        script = work / "lifetimes_summary.py"
        script.write_text(LIFETIMES_SCRIPT, encoding="utf-8")
        summary_csv = work / "lifetimes_summary.csv"
        done = subprocess.run(
            [
                args.lifetimes_python,
                str(script),
                str(sales_csv),
                as_of_day,
                str(summary_csv),
                str(args.repeat),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        lt = json.loads(done.stdout.strip().splitlines()[-1])
        results["lifetimes"] = lt
        print(
            f"lifetimes summary_data_from_transaction_data: median "
            f"{statistics.median(lt['summary_s']):.2f} s wall, "
            f"{statistics.median(lt['summary_cpu_s']):.2f} s CPU on {lt['rows']:,} sales "
            f"(+ read_csv {lt['read_csv_s']:.2f} s) {lt['versions']}",
            flush=True,
        )
        mismatches = 0
        with summary_csv.open(encoding="utf-8") as fh:
            expected = {row["client_id"]: row for row in csv.DictReader(fh)}
        for client in report.clients:
            want = expected.get(client.client_id)
            if client.frequency is None:
                mismatches += want is not None
                continue
            assert client.monetary_value is not None
            if want is None or (
                (client.frequency, client.recency, client.T)
                != (float(want["frequency"]), float(want["recency"]), float(want["T"]))
                or abs(float(client.monetary_value) - float(want["monetary_value"]))
                > 1e-9 * max(1.0, float(want["monetary_value"]))
            ):
                mismatches += 1
        results["lifetimes_mismatches"] = mismatches
        print(f"figures differing from lifetimes: {mismatches}", flush=True)

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
