"""relcycle computes in its own decimal context, whatever context its caller has set.

A notebook that sets ``getcontext().prec = 6`` to show figures, or a truncating
rounding for some bookkeeping of its own, must not change a report: before, the
profits and mean repeat values of such a caller's report were rounded to six
digits, and the top-fifth share truncated.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, getcontext, localcontext
from pathlib import Path

import pytest

from relcycle import ladder, lifecycle
from relcycle.losses import assess_loss
from relcycle.report import build_report
from relcycle.segmentation import cost_to_serve, rfm_figures
from relcycle.simulate import simulate_portfolio

#: Callers' contexts: (precision, rounding).
ODD = [(6, ROUND_HALF_EVEN), (28, ROUND_DOWN), (9, ROUND_DOWN)]


@contextmanager
def callers_context(prec: int, rounding: str) -> Iterator[None]:
    with localcontext() as context:
        context.prec = prec
        context.rounding = rounding
        yield


SIM = simulate_portfolio(400, seed=2)


def test_the_report_and_its_explanations_are_the_same() -> None:
    portfolio = SIM.portfolio()
    usual = build_report(portfolio, as_of=SIM.as_of)
    shown = [c.client_id for c in usual.clients[:40]]
    explained = [usual[cid].explain() for cid in shown]
    for prec, rounding in ODD:
        with callers_context(prec, rounding):
            got = build_report(portfolio, as_of=SIM.as_of)
            assert got.to_json() == usual.to_json()
            # a line's assessments are computed again when asked, still in relcycle's context
            assert [got[cid].explain() for cid in shown] == explained
            # and the caller's context is given back as it was
            assert (getcontext().prec, getcontext().rounding) == (prec, rounding)


def test_the_columnar_report_is_the_same(tmp_path: Path) -> None:
    pytest.importorskip("polars")
    from relcycle.columnar import build_report as columnar_report
    from relcycle.columnar import read_tables
    from relcycle.io import write_history

    write_history(SIM.portfolio(), tmp_path)
    usual = columnar_report(read_tables(tmp_path), as_of=SIM.as_of).to_json()
    for prec, rounding in ODD:
        with callers_context(prec, rounding):
            assert columnar_report(read_tables(tmp_path), as_of=SIM.as_of).to_json() == usual


def test_assessments_and_segmentations_are_the_same() -> None:
    """The public functions a user calls client by client."""
    histories = list(SIM.portfolio())[:150]

    def verdicts() -> list[object]:
        out: list[object] = []
        for h in histories:
            lc = lifecycle.assess(h, as_of=SIM.as_of)
            out.append(lc)
            out.append(ladder.assess(h, as_of=SIM.as_of, lifecycle=lc))
            out.append(assess_loss(h, lifecycle=lc))
            out.append(cost_to_serve(h, as_of=SIM.as_of))
            out.append(rfm_figures(h, as_of=SIM.as_of))
        return out

    usual = verdicts()
    for prec, rounding in ODD:
        with callers_context(prec, rounding):
            assert verdicts() == usual


def test_a_changed_default_context_changes_no_ratio() -> None:
    """``decimal.DefaultContext`` is a program's to change (new threads start from
    it): relcycle's ratios do not read it. Before, the plan's attainment and the
    feedback share (and the key-person share, not observed here: it is shown as a
    percentage) were divided in a context made from it at each call, so a
    truncating default turned 2/3 into 0.666…6 and 7/180 into 0.0388…8."""
    from datetime import timedelta
    from decimal import Decimal, DefaultContext

    from relcycle.segmentation import PlanRow, service_stats

    row = PlanRow(
        key=None,
        period="2024",
        planned=Decimal(3),
        actual=Decimal(2),
        planned_orders=1,
        actual_orders=1,
        planned_ids=("p",),
        actual_ids=("a",),
    )
    portfolio = SIM.portfolio()
    since = SIM.as_of - timedelta(days=30)

    def ratios() -> tuple[object, ...]:
        stats = service_stats(portfolio, as_of=SIM.as_of, since=since)
        return (row.attainment, stats.feedback_share)

    usual = ratios()
    # both are rounded (half even) in their last digit under the default context
    assert usual == (
        Decimal("0.6666666666666666666666666667"),
        Decimal("0.03888888888888888888888888889"),
    )
    saved = DefaultContext.rounding
    DefaultContext.rounding = ROUND_DOWN
    try:
        assert ratios() == usual
    finally:
        DefaultContext.rounding = saved
