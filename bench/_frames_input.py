"""What the benchmarks over a history's frames share: the input and the timer.

``bench_fold.py`` and ``bench_decide.py`` take the same arguments (``--demo N``
simulated clients, or ``--folder DIR`` of contract tables; ``--as-of``;
``--reps``), read the tables once and time each way in process CPU seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from relcycle.columnar import Frames, read_tables


def cpu(fn: Any) -> tuple[float, Any]:
    """``(process CPU seconds, result)`` of ``fn()``."""
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def frames_input(description: str) -> tuple[argparse.Namespace, Frames, datetime]:
    """The parsed arguments, the frames they name and the moment."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--demo", type=int, help="simulate this many demo clients")
    parser.add_argument("--folder", type=Path, help="a folder of contract tables")
    parser.add_argument("--as-of", default="2026-06-30T00:00:00+00:00")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if args.folder is None:
        from relcycle.io import write_history
        from relcycle.simulate import simulate_portfolio

        folder = Path(tempfile.mkdtemp())
        write_history(simulate_portfolio(args.demo or 20_000, seed=3).portfolio(), folder)
    else:
        folder = args.folder
    return args, read_tables(folder), datetime.fromisoformat(args.as_of)
