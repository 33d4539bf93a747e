"""Scale edges: one client with a million records, a million clients with one each.

Each case writes a contract CSV, runs ``python -m relcycle report DIR --format jsonl
--output FILE`` in a subprocess and reads the child's peak resident memory
(``ru_maxrss`` from ``os.wait4``). "Bounded" means: at most
:data:`BASE_BYTES` plus :data:`BYTES_PER_RECORD` per input record — the history is
held in memory by design, so memory may grow with the input, but by a small
constant per record, never faster.

Slow (minutes; marked ``slow``)::

    pytest -m slow tests/test_scale_edges.py -s            # N = 1,000,000 (about 10 minutes)
    RELCYCLE_SCALE_N=200000 pytest -m slow tests/test_scale_edges.py -s

The million-clients case is measured as a slope between N/50 and N/10 clients by
default; ``RELCYCLE_SCALE_FULL=1`` also runs it at N (about 5 more minutes).
Figures are printed (``-s``) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

N = int(os.environ.get("RELCYCLE_SCALE_N", "1000000"))
FULL = os.environ.get("RELCYCLE_SCALE_FULL") == "1"

#: Memory any run may use whatever its size (interpreter, modules, buffers).
BASE_BYTES = 250 * 2**20
#: Memory per input record on top of that: a million records in under 4.2 GiB, which
#: fits a common 8 GB machine beside other work. (Before bug R7 was fixed the report
#: took about 10.8 KB per client, 10 GiB for a million.)
BYTES_PER_RECORD = 4 * 1024

SRC = str(Path(__file__).resolve().parent.parent / "src")


def _generate(folder: Path, n: int, *, one_client: bool) -> Decimal:
    """Write orders.csv with ``n`` orders; return the exact revenue."""
    folder.mkdir(parents=True)
    total = 0
    with (folder / "orders.csv").open("w", encoding="utf-8") as fh:
        fh.write("order_id,client_id,placed_at,amount\n")
        for i in range(n):
            cid = "C1" if one_client else f"C{i:07d}"
            cents = (i % 1000) * 100 + i % 100
            total += cents
            fh.write(
                f"O{i:07d},{cid},{2000 + i % 25}-{1 + i % 12:02d}-{1 + i % 28:02d}T"
                f"{i % 24:02d}:00:00Z,{cents // 100}.{cents % 100:02d}\n"
            )
    return Decimal(total).scaleb(-2)


def _report(folder: Path) -> tuple[int, float, int, str]:
    """Run the report in a child process: exit code, seconds, peak RSS in bytes, stderr."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    out = folder.with_suffix(".jsonl")
    start = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "relcycle",
            "report",
            str(folder),
            "--format",
            "jsonl",
            "--output",
            str(out),
        ],
        stderr=subprocess.PIPE,
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return proc.returncode, time.monotonic() - start, rss, err


def _budget(records: int) -> int:
    return BASE_BYTES + BYTES_PER_RECORD * records


class TestOneClientManyRecords:
    """One client with N orders."""

    def test_one_client_with_n_orders(self, tmp_path: Path) -> None:
        """Finishes with memory within budget; the one line counts every order exactly."""
        folder = tmp_path / "one"
        revenue = _generate(folder, N, one_client=True)
        code, seconds, rss, err = _report(folder)
        print(f"\none client, {N:,} orders: {seconds:.0f} s, peak RSS {rss / 2**20:.0f} MiB")
        assert code == 0, err
        (line,) = folder.with_suffix(".jsonl").read_text(encoding="utf-8").splitlines()
        client = json.loads(line)
        assert client["orders"] == N
        assert Decimal(client["revenue"]) == revenue
        assert rss <= _budget(N), f"{rss / 2**20:.0f} MiB for {N:,} records"


class TestManyClientsOneRecord:
    """N clients with one order each."""

    def test_memory_per_client_is_bounded(self, tmp_path: Path) -> None:
        """Peak memory grows by at most BYTES_PER_RECORD per extra client."""
        small, large = max(N // 50, 2_000), max(N // 10, 10_000)
        peaks = []
        for n in (small, large):
            folder = tmp_path / f"many{n}"
            _generate(folder, n, one_client=False)
            code, seconds, rss, err = _report(folder)
            assert code == 0, err
            lines = folder.with_suffix(".jsonl").read_text(encoding="utf-8").count("\n")
            assert lines == n
            print(f"\n{n:,} clients: {seconds:.0f} s, peak RSS {rss / 2**20:.0f} MiB")
            peaks.append(rss)
        slope = (peaks[1] - peaks[0]) / (large - small)
        print(f"memory per extra client: {slope:.0f} bytes")
        assert slope <= BYTES_PER_RECORD

    @pytest.mark.skipif(not FULL, reason="set RELCYCLE_SCALE_FULL=1 for the full run")
    def test_n_clients_with_one_order_each(self, tmp_path: Path) -> None:
        """The full run: finishes, one line per client, memory within budget."""
        folder = tmp_path / "many"
        revenue = _generate(folder, N, one_client=False)
        code, seconds, rss, err = _report(folder)
        print(f"\n{N:,} clients: {seconds:.0f} s, peak RSS {rss / 2**20:.0f} MiB")
        assert code == 0, err
        total = Decimal(0)
        count = 0
        with folder.with_suffix(".jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                total += Decimal(json.loads(line)["revenue"])
                count += 1
        assert count == N
        assert total == revenue
        assert rss <= _budget(N), f"{rss / 2**20:.0f} MiB for {N:,} records"
