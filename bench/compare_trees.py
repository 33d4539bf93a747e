"""Per-client CPU of ``build_report`` for two source trees, side by side.

Run from the repository's root, with ``PYTHONPATH`` naming one tree's ``src``
per process, alternating the trees (the machine is shared and noisy, so only
the ratio of runs next to each other means anything)::

    python -c "from relcycle.simulate import simulate_portfolio; \\
        from relcycle.io import write_history; \\
        write_history(simulate_portfolio(3000, seed=3).portfolio(), 'h3000')"
    for tree in OLD NEW OLD NEW; do
        PYTHONPATH=$tree/src python bench/compare_trees.py h3000 2026-06-30T00:00:00+00:00
    done

It prints the best of three timings per client, in µs, for the default report
and for ``ReportPolicies(columns=())``. A third argument ``arrow`` times the
columnar engine instead (``relcycle.columnar.read_tables`` once, then
``relcycle.columnar.build_report``).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from relcycle.io import load_history
from relcycle.report import ReportPolicies, build_report


def per_client(
    folder: Path, as_of: datetime, policies: ReportPolicies | None, engine: str = "python"
) -> float:
    """The best of three ``build_report`` runs, process CPU µs per client."""
    if engine == "arrow":
        from relcycle.columnar import build_report as build
        from relcycle.columnar import read_tables

        source: Any = read_tables(folder)
    else:
        build = build_report
        loaded = load_history(folder)
        source = getattr(loaded, "portfolio", loaded)
    best = float("inf")
    clients = 1
    for _ in range(3):
        start = time.process_time()
        report = build(source, as_of=as_of, policies=policies)
        best = min(best, time.process_time() - start)
        clients = max(1, len(report.clients))
    return best / clients * 1e6


def main() -> None:
    """Time both variants of the report on the folder and moment given."""
    folder, moment = Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
    engine = sys.argv[3] if len(sys.argv) > 3 else "python"
    default = per_client(folder, moment, None, engine)
    bare = per_client(folder, moment, ReportPolicies(columns=()), engine)
    print(f"default {default:.0f} µs, columns=() {bare:.0f} µs per client")


if __name__ == "__main__":
    main()
