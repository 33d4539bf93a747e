"""Decision lists over tables against the same decisions client by client, and pandas.

The regularity rules (``relcycle.segmentation.regularity.regularity_decision``,
one declaration) for every client of a history, three ways, in one process,
alternating, best of ``--reps``, process CPU seconds:

- ``regularity_frame``: the declaration compiled to polars, one query over the
  orders frame (``read_tables``, read once outside the timings);
- ``assess_regularity`` on each client's history (the object path; the
  histories are built once, outside the timings);
- a pandas ``groupby`` a user would write for the same verdict (distinct sale
  days, their gaps, population cv against 0.5, at least 3 gaps), in floats,
  without the sentences.

It checks that the first two give the same verdicts, sentences and record ids,
and counts the clients whose pandas verdict differs (a float cv on a tie).

Then the motivation rules (``motivation_decision``) the same way, without a
pandas peer (nobody writes these segments by hand): ``motivation_frame``
against ``classify_motivation`` per history, checked equal.

    python bench/bench_decide.py --demo 20000
    python bench/bench_decide.py --folder DIR --as-of 1998-06-30T23:59:59+00:00

``DIR`` holds contract tables (``orders.csv``, ...), for instance the CDNOW order
log of ``make_bench_data.py``. Needs the ``arrow`` extra and pandas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from _frames_input import cpu, frames_input

from relcycle.columnar import histories, motivation_frame, regularity_frame
from relcycle.segmentation.motivation import MotivationPolicy, classify_motivation
from relcycle.segmentation.regularity import RegularityPolicy, assess_regularity


def _pandas_verdicts(orders: Any, as_of: datetime) -> dict[str, str]:
    """What a pandas user would compute: the verdict only, in floats."""
    import pandas as pd

    o = orders[orders["status"].isin(["placed", "delivered"]) & (orders["placed_at"] <= as_of)]
    days = o.assign(day=o["placed_at"].dt.tz_convert("UTC").dt.normalize())[["client_id", "day"]]
    days = days.drop_duplicates().sort_values(["client_id", "day"])
    gaps = days.groupby("client_id")["day"].diff().dt.days
    stats = gaps.groupby(days["client_id"]).agg(["count", "mean", "std"])
    n = stats["count"]
    cv = (stats["std"] * ((n - 1) / n) ** 0.5) / stats["mean"]  # population sd
    verdict = pd.Series("irregular", index=stats.index)
    verdict[(n >= 3) & (cv <= 0.5)] = "regular"
    verdict[n == 0] = "one_off"
    return dict(verdict)


def main() -> None:
    """Time the three ways on the same input, side by side."""
    args, frames, as_of = frames_input(__doc__.splitlines()[0])
    policy = RegularityPolicy()
    stories = list(histories(frames))  # built once, outside the timings
    orders = frames.orders.select("client_id", "placed_at", "status").to_pandas()

    def frame() -> Any:
        return regularity_frame(frames, as_of=as_of, policy=policy)

    def objects() -> list[Any]:
        return [assess_regularity(h, as_of=as_of, policy=policy) for h in stories]

    def pandas() -> dict[str, str]:
        return _pandas_verdicts(orders, as_of)

    motivation = MotivationPolicy()

    def m_frame() -> Any:
        return motivation_frame(frames, as_of=as_of, policy=motivation)

    def m_objects() -> list[Any]:
        return [classify_motivation(h, as_of=as_of, policy=motivation) for h in stories]

    best: dict[str, float] = {}
    outputs: dict[str, Any] = {}
    for _ in range(args.reps):
        for name, fn in (
            ("frame", frame),
            ("objects", objects),
            ("pandas", pandas),
            ("motivation frame", m_frame),
            ("motivation objects", m_objects),
        ):
            seconds, out = cpu(fn)
            best[name] = min(best.get(name, seconds), seconds)
            outputs[name] = out
    rows = outputs["frame"].iter_rows(named=True)
    by_frame = {r["client_id"]: (r["regularity"], r["evidence"], r["record_ids"]) for r in rows}
    by_objects = {
        a.client_id: (a.regularity.value, a.evidence.reason, list(a.evidence.record_ids))
        for a in outputs["objects"]
    }
    assert by_frame == by_objects, "the compiled decision differs from the object path"
    by_pandas = outputs["pandas"]
    differ = sum(
        1
        for cid, (verdict, _, _) in by_frame.items()
        if verdict in ("regular", "irregular") and by_pandas.get(cid) != verdict
    )
    clients = len(by_frame)
    print(f"{clients:,} clients; the frame equals the object path; pandas differs on {differ}")
    for name in ("frame", "objects", "pandas"):
        per = best[name] / clients * 1e6
        print(f"{name:8} {best[name]:7.3f} s CPU  {per:6.2f} µs per client")
    print(f"objects / frame: {best['objects'] / best['frame']:.1f}x")
    print(f"pandas / frame:  {best['pandas'] / best['frame']:.2f}x")
    rows = outputs["motivation frame"].iter_rows(named=True)
    m_by_frame = {r["client_id"]: (r["rule"], r["evidence"], r["record_ids"]) for r in rows}
    m_by_objects = {
        a.client_id: (a.rule, a.evidence.reason, list(a.evidence.record_ids))
        for a in outputs["motivation objects"]
    }
    assert m_by_frame == m_by_objects, "the compiled motivation differs from the object path"
    print("motivation: the frame equals the object path")
    for name in ("motivation frame", "motivation objects"):
        per = best[name] / clients * 1e6
        print(f"{name:18} {best[name]:7.3f} s CPU  {per:6.2f} µs per client")
    ratio = best["motivation objects"] / best["motivation frame"]
    print(f"motivation objects / frame: {ratio:.1f}x")


if __name__ == "__main__":
    main()
