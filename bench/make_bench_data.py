"""Generate the CDNOW x N benchmark data (dev tool; never imported by the tests).

Reads ``CDNOW_master.txt`` (the full CDNOW log shipped inside the ``lifetimes``
package: 69,659 orders of 23,570 customers, 1997-01-01 .. 1998-06-30) and writes it
with every customer replicated ``--copies`` times (default 100: 6,965,900 orders of
2,357,000 clients) in the data contract's ``orders`` format:

    client_id,placed_at,amount
    00001-07,1997-01-01,11.77

``client_id`` is the source customer id, a dash and the copy number (zero-padded); ``placed_at`` is
the ISO date; ``amount`` the dollar value exactly as written in the source. Copies are
written one after another, each in source order.

Two files are written into the cache directory (created if missing):

- ``cdnow_x{N}.csv``: the CSV above;
- ``cdnow_x{N}.parquet``: the same rows, typed: ``client_id`` string,
  ``placed_at`` timestamp[us, tz=UTC] (midnight), ``amount`` decimal128(10, 2).

Usage::

    python bench/make_bench_data.py [--copies 100] [--cache-dir DIR] [--source PATH]

The cache directory defaults to ``$RELCYCLE_BENCH_DATA`` or ``bench/.data/`` (kept out
of git). Existing files are kept unless ``--force`` is given. Needs pyarrow.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def default_cache_dir() -> Path:
    """``$RELCYCLE_BENCH_DATA`` if set, else ``bench/.data``."""
    env = os.environ.get("RELCYCLE_BENCH_DATA")
    return Path(env) if env else HERE / ".data"


def default_source() -> Path:
    """``CDNOW_master.txt`` inside the installed lifetimes package."""
    try:
        import lifetimes
    except ImportError:
        sys.exit("lifetimes is not installed here: pass --source PATH/TO/CDNOW_master.txt")
    return Path(lifetimes.__file__).resolve().parent / "datasets" / "CDNOW_master.txt"


def read_master(path: Path) -> tuple[list[str], list[str], list[str]]:
    """The rows of CDNOW_master.txt as three columns: ids, ISO dates, amounts (text)."""
    ids: list[str] = []
    days: list[str] = []
    amounts: list[str] = []
    with open(path, encoding="ascii") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or not parts[0].isdigit():
                continue  # blank lines and the header line
            if len(parts) != 4:
                raise ValueError(f"{path}:{lineno}: expected 4 fields, got {parts!r}")
            cid, yyyymmdd, _cds, dollars = parts
            ids.append(cid)
            days.append(f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}")
            amounts.append(dollars)
    return ids, days, amounts


def paths(cache_dir: Path, copies: int) -> tuple[Path, Path]:
    """The CSV and Parquet paths for ``copies`` copies."""
    return cache_dir / f"cdnow_x{copies}.csv", cache_dir / f"cdnow_x{copies}.parquet"


def generate(cache_dir: Path, copies: int, source: Path, *, force: bool = False) -> None:
    """Write the CSV and Parquet files (skip those that exist unless ``force``)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    csv_path, parquet_path = paths(cache_dir, copies)
    if not force and csv_path.exists() and parquet_path.exists():
        print(f"kept {csv_path} and {parquet_path}")
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    ids, days, amounts = read_master(source)
    base_ids = pa.array(ids, pa.string())
    base_days = pa.array(days, pa.string())
    base_amounts = pa.array(amounts, pa.string())
    width = len(str(copies - 1))
    schema_csv = pa.schema(
        [("client_id", pa.string()), ("placed_at", pa.string()), ("amount", pa.string())]
    )
    schema_pq = pa.schema(
        [
            ("client_id", pa.string()),
            ("placed_at", pa.timestamp("us", tz="UTC")),
            ("amount", pa.decimal128(10, 2)),
        ]
    )
    ts = pc.strptime(base_days, format="%Y-%m-%d", unit="us").cast(pa.timestamp("us", tz="UTC"))
    dec = base_amounts.cast(pa.decimal128(10, 2))
    tmp_csv = csv_path.with_suffix(".csv.tmp")
    tmp_pq = parquet_path.with_suffix(".parquet.tmp")
    with open(tmp_csv, "wb") as fh:
        fh.write(b"client_id,placed_at,amount\n")
    with (
        open(tmp_csv, "ab") as fh,
        pacsv.CSVWriter(
            fh,
            schema_csv,
            write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
        ) as wcsv,
        pq.ParquetWriter(tmp_pq, schema_pq) as wpq,
    ):
        for copy in range(copies):
            cids = pc.binary_join_element_wise(base_ids, f"{copy:0{width}d}", "-")
            wcsv.write_table(pa.table([cids, base_days, base_amounts], schema=schema_csv))
            wpq.write_table(pa.table([cids, ts, dec], schema=schema_pq))
    tmp_csv.replace(csv_path)
    tmp_pq.replace(parquet_path)
    n = len(ids) * copies
    print(f"wrote {n:,} orders of {len(set(ids)) * copies:,} clients: {csv_path}, {parquet_path}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--source", type=Path, default=None)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    generate(
        args.cache_dir or default_cache_dir(),
        args.copies,
        args.source or default_source(),
        force=args.force,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
