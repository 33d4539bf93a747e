"""Regenerate the CDNOW RFM fixture in tests/data/ from lifetimes' bundled CDNOW sample.

Dev-only script: it needs ``lifetimes`` (0.11.3) and pandas installed; the test suite
never imports it and never needs lifetimes. See tests/data/README.md.

Usage:
    python bench/make_cdnow_fixture.py [--source PATH/TO/CDNOW_sample.txt] [--out-dir DIR]

--source defaults to ``lifetimes/datasets/CDNOW_sample.txt`` inside the installed
lifetimes package; --out-dir defaults to ``tests/data`` next to this script's parent.

Writes:
    cdnow_sample_orders.csv     client_id,placed_at,amount   (every source row, source order)
    cdnow_sample_lifetimes.csv  client_id,frequency,recency,T,monetary_value
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

OBSERVATION_PERIOD_END = "1998-06-30"  # = the last transaction date in CDNOW_sample.txt


def default_source() -> Path:
    import lifetimes

    return Path(lifetimes.__file__).resolve().parent / "datasets" / "CDNOW_sample.txt"


def read_sample(path: Path) -> list[tuple[str, str, str]]:
    """Rows of CDNOW_sample.txt as (client_id, iso_date, amount_text).

    Each line is whitespace separated: master customer id (e.g. ``00004``), the
    sample's customer id (``0001``..``2357``), date ``YYYYMMDD``, number of CDs,
    dollar value. The sample id is used as client_id (the id lifetimes'
    cdnow_customers_summary.csv and the BTYD literature use), kept as text.
    """
    rows = []
    with open(path, encoding="ascii", newline="") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 5:
                raise ValueError(f"{path}:{lineno}: expected 5 fields, got {parts!r}")
            _master_id, sample_id, yyyymmdd, _cds, dollars = parts
            day = dt.datetime.strptime(yyyymmdd, "%Y%m%d").date()
            rows.append((sample_id, day.isoformat(), dollars))
    return rows


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=None)
    ap.add_argument("--out-dir", type=Path, default=here.parent / "tests" / "data")
    args = ap.parse_args(argv)

    import lifetimes
    import numpy
    import pandas as pd
    import scipy
    from lifetimes.utils import summary_data_from_transaction_data

    source = args.source or default_source()
    rows = read_sample(source)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    orders_path = args.out_dir / "cdnow_sample_orders.csv"
    with open(orders_path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["client_id", "placed_at", "amount"])
        w.writerows(rows)

    df = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
    df["amount"] = df["amount"].astype(float)
    summary = summary_data_from_transaction_data(
        df,
        "customer_id",
        "date",
        monetary_value_col="amount",
        observation_period_end=OBSERVATION_PERIOD_END,
        freq="D",
    )

    summary_path = args.out_dir / "cdnow_sample_lifetimes.csv"
    with open(summary_path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["client_id", "frequency", "recency", "T", "monetary_value"])
        for cid in sorted(summary.index, key=str):
            r = summary.loc[cid]
            vals = [float(r[col]) for col in ("frequency", "recency", "T", "monetary_value")]
            assert all(v == int(v) for v in vals[:3]), (cid, vals)
            w.writerow([str(cid)] + [repr(v) for v in vals])

    print(
        f"wrote {orders_path.name} ({len(rows)} orders) and {summary_path.name} "
        f"({len(summary)} clients) to {args.out_dir}; lifetimes {lifetimes.__version__}, "
        f"pandas {pd.__version__}, numpy {numpy.__version__}, scipy {scipy.__version__}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
