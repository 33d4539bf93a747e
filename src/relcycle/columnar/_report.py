"""The portfolio report on the columnar path: the same report, from Arrow tables.

:func:`build_report` takes the four tables as normalized polars frames
(:func:`relcycle.columnar.read_tables`) and returns the very
:class:`relcycle.report.Report` that :func:`relcycle.report.build_report` gives
for the same records. The work is split the way each part runs fastest while
keeping one implementation of every rule:

- per-record work — filtering by the moment, grouping by client, sorting inside
  each client by the model's total order, counting, summing, collecting ids and
  purchase days — runs in polars (:mod:`relcycle.columnar._signals`);
- the per-client decisions (regularity, motivation, cost-to-serve, RFM figures)
  run the object path's own decision code on those small per-client values
  (the regularity, motivation and figures only when the report reads them:
  not for a lost client, whose are decided as they stood when it left);
- the two state machines and the risk flags run per client over the client's
  records, rebuilt from its sorted slices; a client with nothing the lifecycle
  reacts to (no complaint, no lifecycle contact, no failed order by the moment)
  skips the lifecycle replay, whose answer is then known ("satisfied");
- a portfolio larger than 100,000 clients is read in runs of client ids
  (:func:`relcycle.columnar._tables.client_runs`): the sorted records,
  per-client tables and folds of one run are held at a time;
- the portfolio-wide steps (ABC classes, RFM quintiles, the summary, migration
  matrices) and the assembly are :func:`relcycle.report.assemble`, shared with
  the object path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any

import attrs

from relcycle import lifecycle as _lifecycle
from relcycle._args import checked
from relcycle.errors import UsageError
from relcycle.history import ClientHistory
from relcycle.report import (
    Cell,
    Item,
    Known,
    Report,
    ReportPolicies,
    TableAssessor,
    assemble,
    check_moments,
    report_currency,
)
from relcycle.rules import ID_FIELD, MOMENT_FIELD, Rule, known_at

from ._source import import_polars

if TYPE_CHECKING:
    from ._tables import Frames

__all__ = ["build_report"]

#: Each record table's moment and id columns, in the order
#: ``Portfolio.last_moment`` looks at the tables (interactions, orders, complaints).
_MOMENTS = tuple(
    (table, MOMENT_FIELD[table], ID_FIELD[table])
    for table in ("interactions", "orders", "complaints")
)


@checked
def build_report(
    frames: Frames,
    *,
    as_of: datetime | None = None,
    compare_to: datetime | None = None,
    currency: str | None = None,
    policies: ReportPolicies | None = None,
    tz: tzinfo = UTC,
    rejected_rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep_assessments: bool = False,
    spill_dir: str | os.PathLike[str] | None = None,
) -> Report:
    """Evaluate every client of ``frames`` as of a moment: the portfolio report.

    Takes the same arguments as :func:`relcycle.report.build_report` (with the
    frames in place of the portfolio) and returns an equal report.

    Args:
        frames: The four tables, from :func:`relcycle.columnar.read_tables`.
        as_of: The moment (aware); default: the latest moment in the tables.
        compare_to: An earlier moment, for migration matrices.
        currency: The report's currency (default: the orders' one currency).
        policies: Every threshold (default: the documented defaults).
        tz: The time zone whose calendar days the figures count in.
        rejected_rows: Rows skipped when reading (counted in the summary).
        progress: Called as ``progress(done, total)`` while clients are evaluated.
        keep_assessments: Keep each client's full assessments in its line
            (default False here: they are computed again when asked for).
        spill_dir: An existing folder for the report's lines (see
            :func:`relcycle.report.build_report`): the report then holds a few
            figures per client, not its lines.

    Returns:
        The :class:`~relcycle.report.Report`.

    Raises:
        CurrencyMismatchError: If the orders by ``as_of`` hold several currencies,
            or another currency than ``currency``.
        UsageError: If there are no records and no ``as_of``, or ``compare_to`` is
            not before ``as_of``.
        ValidationError: If a moment is not timezone-aware.
        RecordTypeError: If a moment is not a datetime.
    """
    from ._signals import iter_client_rows
    from ._tables import _Moments, check_clients, client_runs, run_histories

    policies = ReportPolicies() if policies is None else policies
    if as_of is None:
        as_of = last_moment(frames)
        if as_of is None:
            raise UsageError(
                "the tables hold no records: give the moment with --as-of T (as_of= in Python)"
            )
    check_moments(as_of, compare_to)
    pl = import_polars()
    seen = (
        frames.orders.lazy()
        .filter(known_at("orders", as_of))
        .select(pl.col("currency").unique())
        .collect()
        .to_series()
        .to_list()
    )
    code = report_currency(seen, currency)
    total = frames.clients.height
    # Once for the whole frames: a record of a client missing from the clients
    # frame belongs to no run of clients.
    check_clients(frames)
    moments = _Moments()  # the UTC offsets' zones, shared by every run

    def items(moment: datetime) -> Iterator[Item]:
        # The calm clients' assessment, field by field (None: not needed yet).
        calm: dict[str, Any] | None = None
        # The portfolio in runs of client ids: a run's sorted records, per-client
        # tables, folds and client sets are held while its clients are assessed.
        for run in client_runs(frames):
            signals = iter_client_rows(run, as_of=moment, tz=tz, policies=policies)
            stirred = _lifecycle_clients(run, moment, policies.lifecycle)
            # The extra columns that assess a run's clients at once, over its
            # tables (only the report's moment has extra columns).
            tabled = (
                [
                    _Tabled(c.name, *c.assess.over_tables(run, as_of=moment, tz=tz))
                    for c in policies.columns
                    if isinstance(c.assess, TableAssessor)
                ]
                if moment == as_of
                else []
            )
            for history, found in zip(run_histories(run, moments), signals, strict=True):
                cid = history.client_id
                if found.client_id != cid:  # pragma: no cover - both sort the clients frame
                    raise AssertionError(f"signals of {found.client_id!r} met history of {cid!r}")
                cut = history.as_of(moment)
                lifecycle = None
                if cid not in stirred:
                    # Nothing the lifecycle reacts to: its assessment of the empty
                    # history, which differs between such clients by client id only.
                    if calm is None:
                        calm = attrs.asdict(
                            _lifecycle.assess(
                                ClientHistory(client=history.client),
                                as_of=moment,
                                policy=policies.lifecycle,
                                tz=tz,
                            ),
                            recurse=False,
                        )
                    # attrs.evolve, without looking the fields up again for every client
                    calm["client_id"] = cid
                    lifecycle = _lifecycle.LifecycleAssessment(**calm)
                yield (
                    cut,
                    Known(
                        lifecycle=lifecycle,
                        cost=found.cost,
                        counts=found.counts,
                        rest=found.rest,
                        cells={t.name: t.cell(cid) for t in tabled} if tabled else None,
                    ),
                )
            for t in tabled:
                t.finish()

    return assemble(
        items,
        total,
        as_of=as_of,
        compare_to=compare_to,
        currency=code,
        policies=policies,
        tz=tz,
        rejected_rows=rejected_rows,
        progress=progress,
        keep_assessments=keep_assessments,
        # a spilled line keeps no history: it is found again in the frames
        lookup=None if spill_dir is None else _lookup(frames),
        spill_dir=spill_dir,
    )


class _Tabled:
    """An extra column assessed over the tables, read client by client in id order."""

    __slots__ = ("empty", "name", "pending", "rest")

    def __init__(self, name: str, empty: Cell, cells: Iterator[tuple[str, Cell]]) -> None:
        self.name, self.empty, self.rest = name, empty, cells
        self.pending = next(cells, None)

    def cell(self, client_id: str) -> Cell:
        """The client's cell (the clients are asked for in client id order)."""
        pending = self.pending
        if pending is None or pending[0] != client_id:
            if pending is not None and pending[0] < client_id:
                raise UsageError(
                    f"column {self.name!r}: over_tables gave client {pending[0]!r} out of "
                    "client id order, or a client the tables do not hold"
                )
            return self.empty
        self.pending = next(self.rest, None)
        return pending[1]

    def finish(self) -> None:
        """Check that every cell given was taken (none out of order or of a stranger)."""
        if self.pending is not None:
            raise UsageError(
                f"column {self.name!r}: over_tables gave client {self.pending[0]!r} out of "
                "client id order, or a client the tables do not hold"
            )


def _lookup(frames: Frames) -> Callable[[str], ClientHistory]:
    """One client's full history, built from the frames' rows of that client."""
    from ._tables import histories

    pl = import_polars()

    def lookup(client_id: str) -> ClientHistory:
        for history in histories(frames.only(pl.col("client_id") == client_id)):
            return history
        raise KeyError(client_id)

    return lookup


def _lifecycle_clients(
    frames: Frames, moment: datetime, policy: _lifecycle.LifecyclePolicy
) -> frozenset[str]:
    """The clients with something the lifecycle reacts to by ``moment``.

    Those are the clients with a record one of
    :func:`relcycle.lifecycle.moving_triggers` matches by ``moment`` (its rule
    compiled to polars, at the trigger's moment field). Every other client's
    lifecycle has no event: it stays ``satisfied`` with no trajectory, no anomaly
    and no stage-1 signature, which :func:`relcycle.lifecycle.assess` gives for
    its empty history.
    """
    pl = import_polars()
    # one filter per table and moment field: the triggers' rules or'ed together
    wanted: dict[tuple[str, str], Any] = {}
    for trigger in _lifecycle.moving_triggers(policy):
        rule = trigger.rule
        if not isinstance(rule, Rule):  # pragma: no cover - the lifecycle's are rules
            raise AssertionError(f"the lifecycle's trigger {trigger.kind!r} is not a Rule")
        key = (rule.table, trigger.at or MOMENT_FIELD[rule.table])
        test = rule.to_polars(as_of=moment)
        wanted[key] = test if key not in wanted else wanted[key] | test
    parts = [
        getattr(frames, table).lazy().filter((pl.col(field) <= moment) & test).select("client_id")
        for (table, field), test in wanted.items()
    ]
    if not parts:
        return frozenset()
    found = pl.concat(parts).unique().collect().to_series().to_list()
    return frozenset(found)


def last_moment(frames: Frames) -> datetime | None:
    """The latest moment of any record, as :attr:`relcycle.history.Portfolio.last_moment`.

    The object path answers with a record's own datetime (its UTC offset included),
    the first of the latest ones in client order — per client: the last
    interaction, the last order, the last complaint opened, then the
    complaints' resolutions in complaint order. This finds the same one.
    """
    pl = import_polars()
    frames_by_kind: list[Any] = []
    for rank, (table, column, id_column) in enumerate(_MOMENTS):
        frame: Any = getattr(frames, table)
        frames_by_kind.append(
            frame.lazy().select(
                pl.col("client_id"),
                pl.lit(rank).alias("rank"),
                pl.col(column).alias("instant"),
                pl.col(f"{column}_offset").alias("offset"),
                # the last of a kind at one instant is the greatest id; order by -id later
                pl.col(id_column).alias("id"),
                pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("opened"),
            )
        )
    complaints: Any = frames.complaints
    frames_by_kind.append(
        complaints.lazy()
        .filter(pl.col("resolved_at").is_not_null())
        .select(
            pl.col("client_id"),
            pl.lit(len(_MOMENTS)).alias("rank"),
            pl.col("resolved_at").alias("instant"),
            pl.col("resolved_at_offset").alias("offset"),
            pl.col("complaint_id").alias("id"),
            pl.col("opened_at").alias("opened"),
        )
    )
    every = pl.concat(frames_by_kind, how="vertical_relaxed")
    latest = every.select(pl.col("instant").max()).collect().item()
    if latest is None:
        return None
    tied = every.filter(pl.col("instant") == latest).collect().rows(named=True)
    # The object path's choice among records at the latest instant: the first
    # client; within it the kinds in order; within a kind the last record
    # (greatest id), except resolutions: the first complaint (opened, id) order.
    tied.sort(
        key=lambda r: (
            r["client_id"],
            r["rank"],
            (r["opened"], r["id"]) if r["rank"] == len(_MOMENTS) else (0, _Reversed(r["id"])),
        )
    )
    first = tied[0]
    return _aware(first["instant"], first["offset"])


class _Reversed:
    """Sorts strings in reverse order (the greatest id first)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __lt__(self, other: _Reversed) -> bool:
        return self.text > other.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.text == other.text

    __hash__ = None  # type: ignore[assignment]


def _aware(instant: datetime, offset: int) -> datetime:
    zone: Any = UTC if offset == 0 else timezone(timedelta(seconds=offset))
    return instant.astimezone(zone)
