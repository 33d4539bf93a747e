"""The columnar reader: a history as four normalized polars DataFrames ("frames").

Private; the columnar report engine reads its input through :func:`read_tables`
and turns frames back into domain objects with :func:`to_portfolio` or, one
client at a time, :func:`histories`.

The frames hold exactly what the domain records hold, one column per field:

- ids, text and vocabulary values as strings (a vocabulary's contract value);
- each datetime as the instant (``Datetime("us", "UTC")``) plus ``<column>_offset``
  (``Int32``, seconds east of UTC of the fixed offset the record holds);
- money and minutes as the exact text of the :class:`~decimal.Decimal`
  (``str(value)``: scale and digits kept);
- booleans as booleans; "not known" as null;
- clients with contact persons or attributes carry the whole client as
  :meth:`~relcycle.model.Client.to_json` text in ``record``.

:func:`read_tables` reads a source on a vectorized fast path when every row is
provably valid and canonical, and otherwise through :mod:`relcycle.io`'s exact
object path, so values, generated ids, errors and rejected rows are always
exactly io's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import attrs

from relcycle._gc import collector_paused
from relcycle._repr import count, short_repr
from relcycle.columnar._source import import_polars
from relcycle.errors import UnknownClientError
from relcycle.history import ClientHistory, Portfolio
from relcycle.io import DEFAULT_MAX_PROBLEMS, HistoryTables, RejectedRow, TableCount
from relcycle.io._load import ExtraColumns, Rename, currency_warning
from relcycle.io._parse import ParseOptions
from relcycle.io._schema import spec as _spec
from relcycle.model import (
    _CLOSED,  # the statuses of a closed complaint
    EARLIEST_YEAR,
    LATEST_YEAR,
    Client,
    ClientKind,
    Complaint,
    FrozenMap,
    Interaction,
    Order,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "FRAME_COLUMNS",
    "Frames",
    "frame_schema",
    "frames_from_result",
    "frames_from_tables",
    "histories",
    "read_tables",
    "to_portfolio",
]

#: The columns of each frame, in order, with their kind: ``id``/``text``/``vocab``
#: (String), ``datetime`` (Datetime plus ``_offset``), ``decimal`` (String),
#: ``bool`` (Boolean), ``record`` (String, clients only).
#: The frame kind of each kind of contract column (io's schema, the one source).
_FRAME_KIND: Mapping[str, str] = {
    "id": "id",
    "text": "text",
    "currency": "text",
    "vocab": "vocab",
    "datetime": "datetime",
    "money": "decimal",
    "number": "decimal",
    "bool": "bool",
}


def _frame_columns(table: str) -> tuple[tuple[str, str], ...]:
    """A frame's columns, derived from the contract table's schema (contact persons
    travel in the client's ``record`` column)."""
    from relcycle.io._schema import spec

    columns = [(c.name, _FRAME_KIND[c.kind]) for c in spec(table).columns if c.kind != "contacts"]
    if table == "clients":
        columns.append(("record", "record"))
    return tuple(columns)


FRAME_COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = {
    table: _frame_columns(table) for table in ("clients", "orders", "interactions", "complaints")
}


def _keys(table: str) -> tuple[str, str]:
    s = _spec(table)
    assert s.time_column is not None  # every record table has one
    return s.id_column, s.time_column


#: The id column and the time column of each record frame (the contract's schema).
_KEYS: Mapping[str, tuple[str, str]] = {
    table: _keys(table) for table in ("orders", "interactions", "complaints")
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def frame_schema(table: str) -> dict[str, Any]:
    """The polars schema (column -> dtype) of one frame, in column order."""
    pl = import_polars()
    out: dict[str, Any] = {}
    for name, kind in FRAME_COLUMNS[table]:
        if kind == "datetime":
            out[name] = pl.Datetime("us", "UTC")
            out[f"{name}_offset"] = pl.Int32
        elif kind == "bool":
            out[name] = pl.Boolean
        else:
            out[name] = pl.String
    return out


@attrs.frozen(eq=False)
class Frames:
    """A history as four normalized polars DataFrames, with what its load reported.

    Row order inside a frame is not meaningful; sort explicitly (the model's
    order is moment, then id, per kind).

    Attributes:
        clients: One row per client (inferred clients too, with default values).
        orders: One row per order.
        interactions: One row per interaction.
        complaints: One row per complaint.
        clients_given: True when the clients came from a clients table, False when
            they were inferred from the records' ``client_id``.
        rejects: Rows left out by a load with ``skip_bad_rows=True``.
        counts: Rows read, loaded and rejected per table present in the source.
        ignored_columns: Unknown columns left out per table (``extra_columns="ignore"``).
        sources: The source name of each table that was present.
        warnings: What the load assumed (see :attr:`relcycle.io.LoadResult.warnings`).
        path: ``"fast"`` when the vectorized reader produced the frames,
            ``"objects"`` when they were built from domain records (io's exact
            path, or :func:`frames_from_tables`).
    """

    clients: pl.DataFrame
    orders: pl.DataFrame
    interactions: pl.DataFrame
    complaints: pl.DataFrame
    clients_given: bool
    rejects: tuple[RejectedRow, ...] = ()
    counts: FrozenMap[str, TableCount] = attrs.field(factory=FrozenMap)
    ignored_columns: FrozenMap[str, tuple[str, ...]] = attrs.field(factory=FrozenMap)
    sources: FrozenMap[str, str] = attrs.field(factory=FrozenMap)
    warnings: tuple[str, ...] = ()
    path: str = "objects"

    @property
    def rejected(self) -> int:
        """The number of rows rejected (what a report counts as skipped)."""
        return len(self.rejects)

    def __repr__(self) -> str:
        return short_repr(
            "Frames",
            count(self.clients.height, "client"),
            count(self.orders.height, "order"),
            count(self.interactions.height, "interaction"),
            count(self.complaints.height, "complaint"),
            count(self.rejected, "rejected row"),
            f"path {self.path!r}",
        )

    def frame(self, table: str) -> pl.DataFrame:
        """The frame of ``table`` (``clients``, ``orders``, ``interactions``, ``complaints``)."""
        if table not in FRAME_COLUMNS:
            raise KeyError(table)
        frame: pl.DataFrame = getattr(self, table)
        return frame

    def only(self, keep: Any) -> Frames:
        """The same frames with only the rows of the clients ``keep`` selects (a
        polars boolean expression over ``client_id``)."""
        return attrs.evolve(
            self,
            clients=self.clients.filter(keep),
            orders=self.orders.filter(keep),
            interactions=self.interactions.filter(keep),
            complaints=self.complaints.filter(keep),
        )

    def sorted(self) -> Frames:
        """The same frames, each sorted by its id (a canonical order for comparisons)."""
        return attrs.evolve(
            self,
            clients=self.clients.sort("client_id"),
            orders=self.orders.sort("order_id"),
            interactions=self.interactions.sort("interaction_id"),
            complaints=self.complaints.sort("complaint_id"),
        )

    def equals(self, other: Frames) -> bool:
        """True if both hold the same rows (in any order) and the same load report.

        ``path`` is not compared: the fast path and the object path must agree.
        """
        a, b = self.sorted(), other.sorted()
        return (
            all(
                a.frame(t).schema == b.frame(t).schema and a.frame(t).equals(b.frame(t))
                for t in FRAME_COLUMNS
            )
            and self.clients_given == other.clients_given
            and self.rejects == other.rejects
            and self.counts == other.counts
            and self.ignored_columns == other.ignored_columns
            and self.sources == other.sources
            and self.warnings == other.warnings
        )

    def tables(self) -> HistoryTables:
        """The records as :class:`~relcycle.io.HistoryTables` (clients None when inferred).

        Records come client by client, each client's in the model's order.
        """
        hs = list(histories(self))
        return HistoryTables(
            clients=tuple(h.client for h in hs) if self.clients_given else None,
            orders=tuple(o for h in hs for o in h.orders),
            interactions=tuple(i for h in hs for i in h.interactions),
            complaints=tuple(c for h in hs for c in h.complaints),
        )


# ---------------------------------------------------------------------- objects -> frames


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def _offset(moment: datetime) -> int:
    off = moment.utcoffset()
    assert off is not None  # the model holds aware datetimes only
    return off.days * 86400 + off.seconds


def _frame(table: str, columns: dict[str, list[Any]]) -> pl.DataFrame:
    polars = import_polars()
    schema = frame_schema(table)
    data: dict[str, Any] = {}
    for name, dtype in schema.items():
        values = columns[name]
        if dtype == polars.Datetime("us", "UTC"):
            data[name] = polars.Series(name, values, dtype=polars.Int64).cast(dtype)
        else:
            data[name] = polars.Series(name, values, dtype=dtype)
    frame: pl.DataFrame = polars.DataFrame(data)
    return frame


def _moment_columns(values: list[Any]) -> tuple[list[Any], list[Any]]:
    """Microseconds since the epoch and offsets (seconds) of aware datetimes (or None)."""
    zones: dict[Any, int] = {}

    def offset(zone: Any, moment: datetime) -> int:
        found = zones.get(zone)
        if found is None:
            found = zones[zone] = _offset(moment)
        return found

    epoch, unit = _EPOCH, _US
    if None in values:
        micros = [None if v is None else (v - epoch) // unit for v in values]
        offsets = [None if v is None else offset(v.tzinfo, v) for v in values]
    else:
        micros = [(v - epoch) // unit for v in values]
        offsets = [offset(v.tzinfo, v) for v in values]
    return micros, offsets


def _record_columns(table: str, records: Any) -> dict[str, list[Any]]:
    records = list(records)
    columns: dict[str, list[Any]] = {}
    for name, kind in FRAME_COLUMNS[table]:
        values = list(map(attrgetter(name), records))
        if kind == "datetime":
            columns[name], columns[f"{name}_offset"] = _moment_columns(values)
        elif kind == "decimal":
            columns[name] = [None if v is None else str(v) for v in values]
        else:
            # Vocabulary members are str subclasses holding their value: polars
            # stores the value itself.
            columns[name] = values
    return columns


def _client_columns(clients: Any) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {
        name: [] for name in frame_schema("clients") if name != "record"
    }
    records: list[str | None] = []
    for client in clients:
        columns["client_id"].append(client.client_id)
        columns["name"].append(client.name)
        columns["kind"].append(client.kind.value)
        columns["industry"].append(client.industry)
        columns["region"].append(client.region)
        columns["account_manager"].append(client.account_manager)
        since = client.since
        columns["since"].append(None if since is None else _micros(since))
        columns["since_offset"].append(None if since is None else _offset(since))
        records.append(client.to_json() if client.contacts or client.attributes else None)
    columns["record"] = records
    return columns


def _inferred_columns(client_ids: list[str]) -> dict[str, list[Any]]:
    """The clients columns of clients known by id only (the model's defaults)."""
    n = len(client_ids)
    columns: dict[str, list[Any]] = {name: [None] * n for name in frame_schema("clients")}
    columns["client_id"] = client_ids
    columns["kind"] = [ClientKind.company.value] * n
    return columns


def frames_from_tables(
    tables: HistoryTables,
    *,
    rejects: tuple[RejectedRow, ...] = (),
    counts: Mapping[str, TableCount] | None = None,
    ignored_columns: Mapping[str, tuple[str, ...]] | None = None,
    sources: Mapping[str, str] | None = None,
) -> Frames:
    """The frames of a history's flat tables of records (lossless).

    Args:
        tables: The records (``relcycle.io.load_history(...).tables``, or
            :meth:`HistoryTables.from_portfolio`).
        rejects: What the load left out, kept in the result.
        counts: Rows read, loaded and rejected per table, kept in the result.
        ignored_columns: Unknown columns left out per table, kept in the result.
        sources: The source name of each table, kept in the result.

    Returns:
        The frames; clients inferred from the records when ``tables.clients`` is
        None (``clients_given`` is then False).
    """
    given = tables.clients is not None
    if tables.clients is not None:
        clients: Any = tables.clients
    else:
        ids = set(map(attrgetter("client_id"), tables.orders))
        ids.update(map(attrgetter("client_id"), tables.interactions))
        ids.update(map(attrgetter("client_id"), tables.complaints))
        clients = sorted(ids)
    return Frames(
        clients=_frame(
            "clients", _client_columns(clients) if given else _inferred_columns(clients)
        ),
        orders=_frame("orders", _record_columns("orders", tables.orders)),
        interactions=_frame("interactions", _record_columns("interactions", tables.interactions)),
        complaints=_frame("complaints", _record_columns("complaints", tables.complaints)),
        clients_given=given,
        rejects=tuple(rejects),
        counts=FrozenMap(counts or {}),
        ignored_columns=FrozenMap(ignored_columns or {}),
        sources=FrozenMap(sources or {}),
        path="objects",
    )


def frames_from_result(result: Any, *, path: str = "objects") -> Frames:
    """The frames of a :class:`relcycle.io.LoadResult`, with its load report."""
    frames = frames_from_tables(
        result.tables,
        rejects=result.rejects,
        counts=result.counts,
        ignored_columns=result.ignored_columns,
        sources=result.sources,
    )
    return attrs.evolve(frames, path=path, warnings=result.warnings)


# ---------------------------------------------------------------------- frames -> objects


class _Moments:
    """Datetimes from instants and offsets, one fixed-offset tzinfo object per offset.

    Offset 0 is :data:`datetime.UTC` itself, what the model holds for UTC.
    """

    def __init__(self) -> None:
        self.zones: dict[int, tzinfo] = {0: UTC}

    def zone(self, offset: int) -> tzinfo:
        found = self.zones.get(offset)
        if found is None:
            found = self.zones[offset] = timezone(timedelta(seconds=offset))
        return found

    def column(self, instants: Any, offsets: Any) -> list[Any]:
        """The aware datetimes of a ``Datetime("us", "UTC")`` and an offset Series."""
        pl = import_polars()
        local = (
            (instants.dt.epoch("us") + offsets.cast(pl.Int64) * 1_000_000)
            .cast(pl.Datetime("us"))
            .to_list()
        )
        distinct = offsets.drop_nulls().unique().to_list()
        if len(distinct) == 1 and not offsets.null_count():
            tz = self.zone(distinct[0])
            return [d.replace(tzinfo=tz) for d in local]
        zone = self.zone
        return [
            None if d is None else d.replace(tzinfo=zone(off))
            for d, off in zip(local, offsets.to_list(), strict=True)
        ]


def _decimals(values: list[str | None]) -> list[Decimal | None]:
    if None not in values:
        return list(map(Decimal, values))  # type: ignore[arg-type]
    return [None if text is None else Decimal(text) for text in values]


def _members(values: list[str | None], vocab: Any) -> list[Any]:
    table = {m.value: m for m in vocab}
    return [None if v is None else table[v] for v in values]


def _sort_records(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """A record frame in the order histories hold: client id, moment, id."""
    id_col, time_col = _KEYS[table]
    return frame.sort(["client_id", time_col, id_col])


def _lists(frame: pl.DataFrame, table: str, moments: _Moments) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, kind in FRAME_COLUMNS[table]:
        series = frame.get_column(name)
        if kind == "datetime":
            out[name] = moments.column(series, frame.get_column(f"{name}_offset"))
        elif kind == "decimal":
            out[name] = _decimals(series.to_list())
        else:
            out[name] = series.to_list()
    return out


#: The vocabulary of each vocabulary column of a record frame (the contract's schema).
_VOCABS: Mapping[str, Mapping[str, Any]] = {
    table: {c.name: c.vocab for c in _spec(table).columns if c.kind == "vocab"}
    for table in ("orders", "interactions", "complaints")
}


def _records(frame: pl.DataFrame, table: str, moments: _Moments) -> tuple[list[Any], list[str]]:
    """The records of a frame (in its row order) and their client ids."""
    c = _lists(frame, table, moments)
    for name, vocab in _VOCABS[table].items():
        c[name] = _members(c[name], vocab)
    records: list[Any]
    if table == "orders":
        records = [
            Order(
                order_id=a,
                client_id=b,
                placed_at=d,
                amount=e,
                currency=f,
                discounted=g,
                status=h,
                on_time=i,
                product=j,
                cost=k,
            )
            for a, b, d, e, f, g, h, i, j, k in zip(
                c["order_id"],
                c["client_id"],
                c["placed_at"],
                c["amount"],
                c["currency"],
                c["discounted"],
                c["status"],
                c["on_time"],
                c["product"],
                c["cost"],
                strict=True,
            )
        ]
    elif table == "interactions":
        records = [
            Interaction(
                interaction_id=a,
                client_id=b,
                at=d,
                channel=e,
                direction=f,
                purpose=g,
                handled_by=h,
                minutes=i,
                reason=j,
                note=k,
            )
            for a, b, d, e, f, g, h, i, j, k in zip(
                c["interaction_id"],
                c["client_id"],
                c["at"],
                c["channel"],
                c["direction"],
                c["purpose"],
                c["handled_by"],
                c["minutes"],
                c["reason"],
                c["note"],
                strict=True,
            )
        ]
    else:
        records = [
            Complaint(
                complaint_id=a,
                client_id=b,
                opened_at=d,
                category=e,
                severity=f,
                client_loss=g,
                currency=h,
                status=i,
                resolved_at=j,
                escalated_to=k,
            )
            for a, b, d, e, f, g, h, i, j, k in zip(
                c["complaint_id"],
                c["client_id"],
                c["opened_at"],
                c["category"],
                c["severity"],
                c["client_loss"],
                c["currency"],
                c["status"],
                c["resolved_at"],
                c["escalated_to"],
                strict=True,
            )
        ]
    return records, c["client_id"]


def clients_by_id(frames: Frames) -> dict[str, Client]:
    """Every client of the clients frame as a :class:`~relcycle.model.Client`, by id."""
    return {c.client_id: c for c in _clients(frames.clients, _Moments())}


def _clients(frame: pl.DataFrame, moments: _Moments) -> list[Client]:
    frame = frame.sort("client_id")
    sinces = moments.column(frame.get_column("since"), frame.get_column("since_offset"))
    kinds = {m.value: m for m in ClientKind}
    out: list[Client] = []
    for cid, name, kind, industry, region, manager, since, record in zip(
        frame.get_column("client_id").to_list(),
        frame.get_column("name").to_list(),
        frame.get_column("kind").to_list(),
        frame.get_column("industry").to_list(),
        frame.get_column("region").to_list(),
        frame.get_column("account_manager").to_list(),
        sinces,
        frame.get_column("record").to_list(),
        strict=True,
    ):
        if record is not None:
            out.append(Client.from_json(record))
            continue
        out.append(
            Client(
                client_id=cid,
                name=name,
                kind=kinds[kind],
                industry=industry,
                region=region,
                account_manager=manager,
                since=since,
            )
        )
    return out


def _slices(client_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Start and end of each client's run in a list sorted by client id."""
    out: dict[str, tuple[int, int]] = {}
    start = 0
    n = len(client_ids)
    while start < n:
        cid = client_ids[start]
        end = start + 1
        while end < n and client_ids[end] == cid:
            end += 1
        out[cid] = (start, end)
        start = end
    return out


#: How many clients :func:`histories` builds at a time (bounds the memory it holds).
HISTORIES_BATCH = 10_000

#: The most clients the columnar engine's table work covers at once: a larger
#: portfolio is read in runs of client ids (:func:`client_runs`), so its sorted
#: copies, per-client tables and folds cost one run's memory, not the portfolio's.
CLIENTS_PER_PASS = 100_000


def client_runs(frames: Frames) -> Iterator[Frames]:
    """``frames`` in runs of at most :data:`CLIENTS_PER_PASS` clients, in client id order.

    Each run holds the clients of a range of ids and every record of theirs (a
    record of a client missing from the clients frame belongs to no run: callers
    that must refuse those check the whole frames first). A portfolio of at most
    that many clients is one run: ``frames`` itself, not a copy.
    """
    size = max(1, CLIENTS_PER_PASS)
    n = frames.clients.height
    if n <= size:
        yield frames
        return
    pl = import_polars()
    ids = frames.clients.get_column("client_id").sort()
    for start in range(0, n, size):
        lo, hi = ids[start], ids[min(start + size, n) - 1]
        inside = pl.col("client_id").is_between(pl.lit(lo), pl.lit(hi), closed="both")
        yield frames.only(inside)


def histories(frames: Frames, *, batch: int = HISTORIES_BATCH) -> Iterator[ClientHistory]:
    """Every client's history, in client id order, built from client-sorted slices.

    Each kind of record is sorted by (client id, moment, id), one run of clients
    at a time (:func:`client_runs`), so each client's records come in the model's
    order. Records are built with the model's constructors (which validate them),
    ``batch`` clients at a time: a caller that does not keep the histories holds
    one run's sorted records and one batch of records at most.

    Args:
        frames: The frames.
        batch: How many clients to build at a time.

    Raises:
        UnknownClientError: A record refers to a client missing from the clients
            frame while ``clients_given`` is True (before any history is given).
    """
    check_clients(frames)
    moments = _Moments()
    for run in client_runs(frames):
        yield from run_histories(run, moments, batch=batch)


def check_clients(frames: Frames) -> None:
    """Refuse records of clients missing from the clients frame.

    Raises:
        UnknownClientError: Naming the records and their client ids.
    """
    pl = import_polars()
    ids = frames.clients.get_column("client_id").implode()
    for table in _RECORD_TABLES:
        frame = frames.frame(table)
        strays = frame.filter(~pl.col("client_id").is_in(ids))
        if strays.height:
            id_col = _KEYS[table][0]
            raise UnknownClientError(
                record=table[:-1].capitalize(),
                record_ids=strays.get_column(id_col).to_list(),
                client_ids=strays.get_column("client_id").to_list(),
            )


#: The record tables, in the order :func:`histories` builds them.
_RECORD_TABLES = ("interactions", "orders", "complaints")


def run_histories(
    frames: Frames, moments: _Moments, *, batch: int = HISTORIES_BATCH
) -> Iterator[ClientHistory]:
    """The histories of one run of clients (:func:`histories` without its check of
    the clients, for a caller that checked the whole frames and made the run)."""
    step = max(1, batch)
    clients = _clients(frames.clients, moments)
    ordered = {table: _sort_records(frames.frame(table), table) for table in _RECORD_TABLES}
    inferred = not frames.clients_given
    starts = dict.fromkeys(_RECORD_TABLES, 0)
    none = (0, 0)
    for first in range(0, len(clients), step):
        chunk = clients[first : first + step]
        last = chunk[-1].client_id
        built: list[tuple[list[Any], dict[str, tuple[int, int]]]] = []
        with collector_paused():
            for table in _RECORD_TABLES:
                frame = ordered[table]
                start = starts[table]
                end = int(frame.get_column("client_id").search_sorted(last, side="right"))
                starts[table] = end
                records, cids = _records(frame.slice(start, end - start), table, moments)
                built.append((records, _slices(cids)))
        (ints, int_at), (ords, ord_at), (comps, comp_at) = built
        for client in chunk:
            cid = client.client_id
            i0, i1 = int_at.get(cid, none)
            o0, o1 = ord_at.get(cid, none)
            c0, c1 = comp_at.get(cid, none)
            yield ClientHistory(
                client=client,
                interactions=tuple(ints[i0:i1]),
                orders=tuple(ords[o0:o1]),
                complaints=tuple(comps[c0:c1]),
                client_inferred=inferred,
            )


def to_portfolio(frames: Frames) -> Portfolio:
    """The :class:`~relcycle.history.Portfolio` of frames (what ``build_portfolio`` builds).

    Raises:
        UnknownClientError: A record refers to a client missing from the clients
            frame while ``clients_given`` is True.
    """
    with collector_paused():
        return Portfolio(tuple(histories(frames)))


# ---------------------------------------------------------------------- reading sources


class _NotFast(Exception):
    """The fast path cannot prove the input valid and canonical: use io's object path."""


#: Datetimes the fast path parses itself: ISO 8601 as :meth:`datetime.isoformat`
#: writes it (``T`` or a space, seconds and 1-6 fraction digits optional, ``Z`` or
#: ``+HH:MM`` optional). Other forms go through io's parser, one distinct text each.
_ISO_TIME = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
_ISO_DATE = r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$"
#: Money and minutes the fast path reads itself (io reads these as Decimal(text)).
_PLAIN_NUMBER = r"^[0-9]+(\.[0-9]+)?$"
_BLANK = r"^[\s\x1c-\x1f]+$"  # a superset of what str.isspace() accepts
_DAY_US = 86_400_000_000


@attrs.frozen
class _Raw:
    """One table as read: its cells (strings; booleans in typed sources), in source order."""

    table: str
    source: str
    columns: tuple[str, ...]
    frame: Any  # pl.DataFrame
    headerless: bool = False  # JSON Lines: io checks cells per row, never a header


class _Context:
    def __init__(self, zone: tzinfo, currency: str | None, extra_columns: str) -> None:
        from relcycle.io._load import DEFAULT_CURRENCY
        from relcycle.io._parse import make_parsers

        self.zone = zone
        self.zone_is_utc = zone is UTC
        self.currency = currency or DEFAULT_CURRENCY
        self.currency_given = currency is not None
        self.defaulted = 0  # rows read in the default currency (io's warning)
        self.extra_columns = extra_columns
        self.parsers = make_parsers(zone)


def _unique_map(series: Any, fn: Any) -> tuple[list[Any], list[Any]]:
    """The distinct non-null values of ``series`` and ``fn`` of each (a BadCell: not fast)."""
    from relcycle.io._parse import BadCell

    keys = series.drop_nulls().unique().to_list()
    try:
        return keys, [fn(k) for k in keys]
    except BadCell:
        raise _NotFast from None


def _mapped(pl: Any, series: Any, keys: list[Any], values: list[Any], dtype: Any) -> Any:
    if not keys:
        return pl.Series(series.name, [None] * len(series), dtype=dtype)
    return series.replace_strict(keys, values, default=None, return_dtype=dtype)


def _where(mask: Any, yes: Any, no: Any) -> Any:
    """``yes`` where ``mask`` holds, else ``no`` (Series of one length; mask without nulls)."""
    return yes.zip_with(mask, no)


def _check_header(ctx: _Context, raw: _Raw) -> tuple[list[str], list[str]]:
    """Known columns present, and unknown ones (attributes of clients, or ignored)."""
    from relcycle.io._schema import spec

    s = spec(raw.table)
    names = set(s.names)
    if len(set(raw.columns)) != len(raw.columns) or any(not c for c in raw.columns):
        raise _NotFast
    if not raw.headerless and any(r not in raw.columns for r in s.required):
        raise _NotFast
    unknown = [c for c in raw.columns if c not in names]
    if unknown and raw.table != "clients" and ctx.extra_columns == "error":
        raise _NotFast
    return [c for c in raw.columns if c in names], unknown


def _texts(pl: Any, frame: Any, name: str) -> Any:
    """A column as strings with empty cells as null (booleans as true/false)."""
    series = frame.get_column(name)
    if series.dtype == pl.Boolean:
        return series.replace_strict([True, False], ["true", "false"], return_dtype=pl.String)
    if series.dtype != pl.String:
        raise _NotFast
    return series.replace("", None)


def _check_text(series: Any, *, is_id: bool) -> None:
    if series.str.contains("\x00", literal=True).any():
        raise _NotFast
    if is_id and series.str.contains(_BLANK).any():
        raise _NotFast


def _moments(pl: Any, ctx: _Context, series: Any) -> tuple[Any, Any]:
    """Instants (Int64 microseconds) and offsets (Int32 seconds) of ISO 8601 texts.

    Texts of the shapes :data:`_ISO_TIME` and :data:`_ISO_DATE` naming a real
    moment are computed here; every other text (and, outside UTC, every text
    without an offset) is parsed by io's own parser, once per distinct text.
    """
    n = len(series)
    if series.null_count() == n:
        return pl.Series([None] * n, dtype=pl.Int64), pl.Series([None] * n, dtype=pl.Int32)
    t = pl.col("t")

    def part(start: int, length: int) -> Any:
        return t.str.slice(start, length).cast(pl.Int64, strict=False)

    full = t.str.contains(_ISO_TIME).fill_null(False)
    day = t.str.contains(_ISO_DATE).fill_null(False)
    has_offset = full & t.str.slice(-6, 1).is_in(["+", "-"])
    sign = pl.when(t.str.slice(-6, 1) == "-").then(-1).otherwise(1)
    parts = (
        pl.DataFrame({"t": series})
        .lazy()
        .select(
            matched=full | day,
            full=full,
            y=part(0, 4),
            mo=part(5, 2),
            d=part(8, 2),
            h=pl.when(full).then(part(11, 2)).otherwise(0),
            mi=pl.when(full).then(part(14, 2)).otherwise(0),
            s=pl.when(full & (t.str.slice(16, 1) == ":")).then(part(17, 2)).otherwise(0),
            f=pl.when(full & (t.str.slice(19, 1) == "."))
            .then(t.str.extract(r"\.([0-9]{1,6})", 1).str.pad_end(6, "0").cast(pl.Int64))
            .otherwise(0),
            zh=pl.when(has_offset).then(part(-5, 2)).otherwise(0),
            zm=pl.when(has_offset).then(part(-2, 2)).otherwise(0),
            aware=has_offset | (full & t.str.ends_with("Z")),
            sign=sign,
        )
        .with_columns(
            # A text of the right shape naming no real moment (2021-02-30, 24:00,
            # +24:00, year 1800) is left to io's parser (an error, or dateutil's
            # reading of it).
            matched=pl.col("matched")
            & pl.col("y").is_between(EARLIEST_YEAR, LATEST_YEAR)
            & pl.col("mo").is_between(1, 12)
            & pl.col("d").is_between(1, 31)
            & (pl.col("h") <= 23)
            & (pl.col("mi") <= 59)
            & (pl.col("s") <= 59)
            & (pl.col("zh") <= 23)
            & (pl.col("zm") <= 59)
        )
        .with_columns(
            matched=pl.col("matched")
            & (
                pl.date(
                    pl.when(pl.col("matched")).then(pl.col("y")).otherwise(2000),
                    pl.when(pl.col("matched")).then(pl.col("mo")).otherwise(1),
                    1,
                )
                .dt.month_end()
                .dt.day()
                >= pl.col("d").fill_null(1)
            ),
            zoff=(pl.col("sign") * (pl.col("zh") * 3600 + pl.col("zm") * 60)).cast(pl.Int32),
        )
        .with_columns(
            local=pl.when(pl.col("matched"))
            .then(
                pl.date(
                    pl.when(pl.col("matched")).then(pl.col("y")).otherwise(2000),
                    pl.when(pl.col("matched")).then(pl.col("mo")).otherwise(1),
                    pl.when(pl.col("matched")).then(pl.col("d")).otherwise(1),
                ).cast(pl.Int64)
                * _DAY_US
                + pl.col("h") * 3_600_000_000
                + pl.col("mi") * 60_000_000
                + pl.col("s") * 1_000_000
                + pl.col("f")
            )
            .otherwise(None),
        )
        .with_columns(aware=pl.col("aware") & pl.col("matched"))
        .select(
            "matched",
            "aware",
            micros=pl.when(pl.col("aware"))
            .then(pl.col("local") - pl.col("zoff").cast(pl.Int64) * 1_000_000)
            .when(pl.col("matched") & ctx.zone_is_utc)
            .then(pl.col("local"))
            .otherwise(None),
            offsets=pl.when(pl.col("aware"))
            .then(pl.col("zoff"))
            .when(pl.col("matched") & ctx.zone_is_utc)
            .then(pl.lit(0, dtype=pl.Int32))
            .otherwise(None),
        )
        .collect()
    )
    micros = parts.get_column("micros")
    offsets = parts.get_column("offsets")
    done = parts.get_column("matched") if ctx.zone_is_utc else parts.get_column("aware")
    rest = series.is_not_null() & ~done
    if rest.any():
        parse = ctx.parsers.parse_datetime

        def moment(text: str) -> tuple[int, int]:
            dt = parse(text)
            off = dt.utcoffset()
            assert off is not None
            if off.microseconds:
                raise _NotFast
            return (dt - _EPOCH) // _US, off.days * 86400 + off.seconds

        texts = _where(rest, series, pl.Series([None] * n, dtype=pl.String))
        keys, values = _unique_map(texts, moment)
        micros = _where(rest, _mapped(pl, texts, keys, [v[0] for v in values], pl.Int64), micros)
        offsets = _where(rest, _mapped(pl, texts, keys, [v[1] for v in values], pl.Int32), offsets)
    return micros, offsets


def _decimal_texts(pl: Any, ctx: _Context, series: Any, money: bool) -> Any:
    """``str(Decimal)`` of each money (or minutes) text, exactly as io reads it.

    Plain digits with at most one point and no leading zero are their own
    ``str(Decimal(text))``; every other text (``007``, ``0.5``, ``1e3``, ``12.``)
    is read by io's parser, once per distinct text.
    """
    t = pl.col("t")
    easy = (
        pl.DataFrame({"t": series})
        .select(
            (
                t.str.contains(_PLAIN_NUMBER)
                & (t.str.len_bytes() <= 19)
                & (~t.str.starts_with("0") | (t == "0"))
            ).fill_null(False)
        )
        .to_series()
    )
    out = _where(easy, series, pl.Series([None] * len(series), dtype=pl.String))
    rest = series.is_not_null() & ~easy
    if rest.any():
        parse = ctx.parsers.money if money else ctx.parsers.number
        texts = _where(rest, series, pl.Series([None] * len(series), dtype=pl.String))
        keys, values = _unique_map(texts, lambda v: _plain(parse(v)))
        out = _where(rest, _mapped(pl, texts, keys, values, pl.String), out)
    return out


def _plain(value: object) -> str:
    """The text of a parsed number; an amount with a currency marker is io's to check."""
    if not isinstance(value, Decimal):
        raise _NotFast
    return str(value)


def _normalize(pl: Any, ctx: _Context, raw: _Raw) -> tuple[Any, list[str]]:
    """The normalized frame of one table read by the fast path, and its unknown columns.

    Raises:
        _NotFast: A cell, a column or a row is not provably what io would load.
    """
    from relcycle.io._parse import parse_bool, parse_currency, vocab_parser
    from relcycle.io._schema import spec

    s = spec(raw.table)
    present, unknown = _check_header(ctx, raw)
    frame = raw.frame
    n = frame.height
    nulls = pl.Series([None] * n, dtype=pl.String)
    out: dict[str, Any] = {}
    for col in s.columns:
        name = col.name
        if col.kind == "contacts":
            continue
        if name in present:
            series = frame.get_column(name)
            if series.dtype == pl.Boolean and col.kind not in ("bool", "text"):
                raise _NotFast  # io refuses a boolean id, number, time, word or code
            if not (col.kind == "bool" and series.dtype == pl.Boolean):
                series = _texts(pl, frame, name)
        else:
            series = nulls
        if col.required and series.null_count():
            raise _NotFast
        default = None if name == s.id_column else s.default(name)
        if col.kind in ("id", "text"):
            _check_text(series, is_id=col.kind == "id")
            out[name] = series.alias(name)
        elif col.kind == "vocab":
            parse = vocab_parser(col.vocab, col.values)
            keys, values = _unique_map(series, lambda v, p=parse: p(v).value)
            mapped = _mapped(pl, series, keys, values, pl.String)
            out[name] = mapped if default is None else mapped.fill_null(default)
        elif col.kind == "bool":
            if series.dtype != pl.Boolean:
                keys, values = _unique_map(series, parse_bool)
                series = _mapped(pl, series, keys, values, pl.Boolean)
            out[name] = series.fill_null(default) if default is not None else series
        elif col.kind == "currency":
            keys, values = _unique_map(series, parse_currency)
            mapped = _mapped(pl, series, keys, values, pl.String)
            if mapped.null_count():  # amounts read in the default currency (io's warning)
                amounts = [c.name for c in s.columns if c.kind == "money" and c.name in present]
                if amounts:
                    has_amount = _texts(pl, frame, amounts[0]).is_not_null()
                    for other in amounts[1:]:
                        has_amount = has_amount | _texts(pl, frame, other).is_not_null()
                    ctx.defaulted += int((mapped.is_null() & has_amount).sum())
            out[name] = mapped.fill_null(ctx.currency)
        elif col.kind in ("money", "number"):
            out[name] = _decimal_texts(pl, ctx, series, col.kind == "money")
        elif col.kind == "datetime":
            micros, offsets = _moments(pl, ctx, series)
            out[name] = micros.cast(pl.Datetime("us", "UTC"))
            out[f"{name}_offset"] = offsets
        else:  # pragma: no cover - every kind is handled above
            raise _NotFast
    if raw.table != "clients":
        out[s.id_column] = _ids(pl, raw, present, out[s.id_column])
    schema = frame_schema(raw.table)
    columns = [
        pl.Series(name, out[name], dtype=dtype) if name in out else pl.Series(name, nulls)
        for name, dtype in schema.items()
        if name != "record"
    ]
    return pl.DataFrame(columns), unknown


#: Rows whose generated ids are hashed at a time (:func:`_ids`).
_HASHED_PER_SLICE = 200_000


def _ids(pl: Any, raw: _Raw, present: list[str], given: Any) -> Any:
    """The ids: given ones, and io's generated ones (blake2b of the row) for the others."""
    import hashlib

    from relcycle.io._schema import spec

    missing = given.is_null()
    if not missing.any():
        return given
    s = spec(raw.table)
    frame = raw.frame
    parts = []
    for name in s.names:
        if name == s.id_column:
            continue
        if name not in present:
            parts.append(pl.lit(""))
        elif frame.schema[name] == pl.Boolean:
            parts.append(
                pl.col(name)
                .replace_strict([True, False], ["true", "false"], return_dtype=pl.String)
                .fill_null("")
            )
        else:
            parts.append(pl.col(name).fill_null(""))
    texts = (
        frame.lazy()
        .filter(missing)
        .select(pl.concat_str(parts, separator="\x1f"))
        .collect()
        .to_series()
    )
    blake2b = hashlib.blake2b
    # Hashed in slices: the texts as Python strings cost about 100 bytes a row,
    # a whole large table's at once set the read's peak (CDNOW x100: +0.5 GB).
    digests = pl.concat(
        [
            pl.Series(
                "d",
                [
                    blake2b(t.encode(), digest_size=6).hexdigest()
                    for t in texts.slice(start, _HASHED_PER_SLICE).to_list()
                ],
                dtype=pl.String,
            )
            for start in range(0, texts.len(), _HASHED_PER_SLICE)
        ]
    )
    del texts
    prefix = f"{s.id_prefix}-"
    made = prefix + digests
    repeated = digests.is_duplicated()
    if repeated.any():
        # The n-th row with one digest gets "-n" (n > 1), counted in source order.
        at = repeated.arg_true().to_list()
        seen: dict[str, int] = {}
        names: list[str] = []
        for digest in digests.gather(at).to_list():
            count = seen[digest] = seen.get(digest, 0) + 1
            names.append(f"{prefix}{digest}" if count == 1 else f"{prefix}{digest}-{count}")
        made = made.scatter(at, pl.Series(names, dtype=pl.String))
    return given.clone().scatter(missing.arg_true(), made)


def _client_records(pl: Any, raw: _Raw, frame: Any, unknown: list[str]) -> Any:
    """The ``record`` column: the client's JSON where it has contacts or attributes."""
    from relcycle.errors import RecordTypeError, ValidationError
    from relcycle.io._parse import BadCell, parse_contacts

    n = frame.height
    need = pl.Series([False] * n)
    contacts = None
    if "contact_persons" in raw.columns:
        contacts = _texts(pl, raw.frame, "contact_persons")
        need = need | contacts.is_not_null()
    extras = {name: _texts(pl, raw.frame, name) for name in unknown}
    for series in extras.values():
        _check_text(series, is_id=False)
        need = need | series.is_not_null()
    if not need.any():
        return pl.Series("record", [None] * n, dtype=pl.String)
    rows = need.arg_true().to_list()
    moments = _Moments()
    picked = frame[rows]
    sinces = moments.column(picked.get_column("since"), picked.get_column("since_offset"))
    records: list[str | None] = [None] * n
    base = picked.select(
        "client_id", "name", "kind", "industry", "region", "account_manager"
    ).to_dicts()
    for index, kw, since in zip(rows, base, sinces, strict=True):
        kw["since"] = since
        if contacts is not None and (text := contacts[index]) is not None:
            try:
                kw["contacts"] = parse_contacts(text)
            except BadCell:
                raise _NotFast from None
        attributes = {k: v[index] for k, v in extras.items() if v[index] is not None}
        if attributes:
            kw["attributes"] = attributes
        try:
            client = Client(**kw)
        except (ValidationError, RecordTypeError):
            raise _NotFast from None
        if client.contacts or client.attributes:
            records[index] = client.to_json()
    return pl.Series("record", records, dtype=pl.String)


def _inferred_clients(pl: Any, record_frames: list[Any]) -> Any:
    ids = pl.concat([f.get_column("client_id") for f in record_frames]).unique().sort()
    schema = frame_schema("clients")
    n = len(ids)
    columns = {name: pl.Series(name, [None] * n, dtype=dtype) for name, dtype in schema.items()}
    columns["client_id"] = ids.alias("client_id")
    columns["kind"] = pl.Series("kind", [_spec("clients").default("kind")] * n, dtype=pl.String)
    return pl.DataFrame(columns)


def _fast(pl: Any, ctx: _Context, raws: Mapping[str, _Raw]) -> Frames:
    """The frames of the tables read, or :class:`_NotFast`."""
    frames: dict[str, Any] = {}
    ignored: dict[str, tuple[str, ...]] = {}
    for table in ("orders", "interactions", "complaints"):
        raw = raws.get(table)
        if raw is None:
            frames[table] = _frame(table, _record_columns(table, ()))
            continue
        frame, unknown = _normalize(pl, ctx, raw)
        if unknown:
            ignored[table] = tuple(unknown)
        id_column = _KEYS[table][0]
        if frame.get_column(id_column).is_duplicated().any():
            raise _NotFast
        frames[table] = frame
    complaints = frames["complaints"]
    if complaints.height:
        closed = complaints.get_column("status").is_in([m.value for m in _CLOSED])
        resolved = complaints.get_column("resolved_at")
        if (closed & resolved.is_null()).any() or (~closed & resolved.is_not_null()).any():
            raise _NotFast
        if (resolved < complaints.get_column("opened_at")).fill_null(False).any():
            raise _NotFast
    clients_raw = raws.get("clients")
    if clients_raw is not None:
        _check_header(ctx, clients_raw)  # io checks the header of an empty table too
    given = clients_raw is not None and clients_raw.frame.height > 0
    if given:
        assert clients_raw is not None
        clients, unknown = _normalize(pl, ctx, clients_raw)
        ids = clients.get_column("client_id")
        if ids.is_duplicated().any():
            raise _NotFast
        for table in ("orders", "interactions", "complaints"):
            if not frames[table].get_column("client_id").is_in(ids.implode()).all():
                raise _NotFast
        clients = clients.with_columns(_client_records(pl, clients_raw, clients, unknown))
    else:
        clients = _inferred_clients(
            pl, [frames[t] for t in ("orders", "interactions", "complaints")]
        )
    counts = {
        name: TableCount(read=raw.frame.height, loaded=raw.frame.height, rejected=0)
        for name, raw in raws.items()
    }
    return Frames(
        clients=clients,
        orders=frames["orders"],
        interactions=frames["interactions"],
        complaints=frames["complaints"],
        clients_given=given,
        counts=FrozenMap(counts),
        ignored_columns=FrozenMap(ignored),
        sources=FrozenMap({name: raw.source for name, raw in raws.items()}),
        warnings=(
            (currency_warning(ctx.defaulted, ctx.currency),)
            if ctx.defaulted and not ctx.currency_given
            else ()
        ),
        path="fast",
    )


# ---------------------------------------------------------------------- readers


def _read_csv(pl: Any, table: str, path: Any) -> _Raw:
    """A CSV file's cells as strings, split exactly as :mod:`csv` splits them for io."""
    import codecs
    import csv
    import io

    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if not data:
        raise _NotFast
    if b'"' in data or b"\r" in data or b"\x00" in data:
        # Quoting or old line ends: split with the csv module itself (exact).
        try:
            text = data.decode("utf-8")
            reader = csv.reader(io.StringIO(text, newline=""), strict=True)
            header = next(reader)
            columns = tuple(name.strip() for name in header)
            width = len(columns)
            cells: list[list[str]] = [[] for _ in columns]
            for row in reader:
                if len(row) != width:
                    if not row:
                        continue
                    raise _NotFast
                for values, value in zip(cells, row, strict=True):
                    values.append(value)
        except (UnicodeDecodeError, csv.Error, StopIteration):
            raise _NotFast from None
        if len(set(columns)) != width:
            raise _NotFast
        frame = pl.DataFrame(
            {
                name: pl.Series(name, values, dtype=pl.String)
                for name, values in zip(columns, cells, strict=True)
            }
        )
        return _Raw(table, path.name, columns, frame)
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.csv as pacsv  # type: ignore[import-untyped]

    end = data.find(b"\n")
    try:
        header_text = (data if end < 0 else data[:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise _NotFast from None
    columns = tuple(name.strip() for name in header_text.split(","))
    if len(set(columns)) != len(columns) or "" in columns:  # io reads nameless columns
        raise _NotFast
    if end < 0 or end == len(data) - 1:  # a header without rows
        frame = pl.DataFrame({name: pl.Series(name, [], dtype=pl.String) for name in columns})
        return _Raw(table, path.name, columns, frame)
    names = [f"c{i}" for i in range(len(columns))]
    try:
        arrow = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=names),
            parse_options=pacsv.ParseOptions(
                delimiter=",",
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        raise _NotFast from None
    frame = pl.from_arrow(arrow).rename(dict(zip(names, columns, strict=True)))
    if frame.height:
        longest = frame.select(pl.all().str.len_bytes().max()).row(0)
        if max(v or 0 for v in longest) > _FIELD_LIMIT:
            raise _NotFast
    return _Raw(table, path.name, columns, frame)


#: The csv module's default field size limit: io fails on a longer cell.
_FIELD_LIMIT = 131_072


def _typed_ok(pl: Any, frame: Any) -> None:
    for dtype in frame.schema.values():
        if dtype not in (pl.String, pl.Boolean):
            raise _NotFast


def _read_parquet(pl: Any, table: str, path: Any) -> _Raw:
    try:
        frame = pl.read_parquet(path)
    except Exception:  # a bad file: io names the problem
        raise _NotFast from None
    _typed_ok(pl, frame)
    return _Raw(table, path.name, tuple(frame.columns), frame)


#: A JSON true or false as a value (or text looking like one: the careful reader runs).
_BOOLEAN_LITERAL = re.compile(r":\s*(?:true|false)\b")


def _no_constants(name: str) -> Any:
    raise _NotFast


#: A JSON escape of a UTF-16 surrogate (``\\ud800``): a lone one is not text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _read_jsonl(pl: Any, table: str, path: Any) -> _Raw:
    """A JSON Lines file's cells, read line by line exactly as io reads them.

    Numbers keep their text, ``true``/``false`` become ``"true"``/``"false"``
    where io reads them as text or booleans; a line io would refuse (not JSON,
    not an object, a nested value, a boolean where io wants an id, a number, a
    time or a word) sends the whole source to io. Unknown keys come last, in the
    order io meets them (sorted within a line).
    """
    import io

    from relcycle.io._schema import spec

    kinds = {c.name: c.kind for c in spec(table).columns}
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _NotFast from None
    from relcycle.io._csv import json_lines_decoder

    if _SURROGATE_ESCAPE.search(text):
        raise _NotFast  # maybe a lone surrogate: io names the cell
    loads = json_lines_decoder(_no_constants)
    datas: list[Any] = []
    for line in io.StringIO(text, newline=""):
        if not line.strip():
            continue
        try:
            data = loads(line)
        except (ValueError, RecursionError):  # also a key twice: io names it
            raise _NotFast from None
        if type(data) is not dict:
            raise _NotFast
        datas.append(data)
    if not _BOOLEAN_LITERAL.search(text):
        # No true/false anywhere: every value is a string (numbers keep their
        # text), null or nested (refused below), column by column.
        found: set[str] = set()
        for data in datas:
            found.update(data)
        names = sorted(found)
        if datas and not names:
            raise _NotFast  # rows without cells: io reports them
        if all(name in kinds for name in names):
            try:
                series = [
                    pl.Series(name, [d.get(name) for d in datas], dtype=pl.String, strict=True)
                    for name in names
                ]
            except TypeError:  # a nested value: io refuses or reads it (contact persons)
                raise _NotFast from None
            frame = pl.DataFrame(series, schema=dict.fromkeys(names, pl.String))
            return _Raw(table, path.name, tuple(names), frame, headerless=True)
    cells: dict[str, list[Any]] = {}
    known: list[str] = []
    unknown: list[str] = []
    booleans: set[str] = set()
    for rows, data in enumerate(datas):
        fresh = [key for key in data if key not in cells]
        for key in fresh:
            cells[key] = [None] * rows
        for key in sorted(k for k in fresh if k not in kinds):
            unknown.append(key)
        known.extend(k for k in fresh if k in kinds)
        for key, values in cells.items():
            value = data.get(key)
            if value is True or value is False:
                booleans.add(key)
                value = "true" if value else "false"
            elif value is not None and not isinstance(value, str):
                raise _NotFast  # a nested value
            values.append(value)
    for key in booleans:
        if kinds.get(key, "text") not in ("bool", "text"):
            raise _NotFast
    columns = (*known, *unknown)
    frame = pl.DataFrame(
        [pl.Series(name, cells[name], dtype=pl.String) for name in columns],
        schema=dict.fromkeys(columns, pl.String),
    )
    return _Raw(table, path.name, columns, frame, headerless=True)


def _folder(path: Any) -> dict[str, Any] | None:
    """The file of each table in a folder (io's), or None when io must judge the folder."""
    from relcycle.errors import UsageError
    from relcycle.io import table_files

    try:
        found = table_files(path)
    except UsageError:
        return None  # io's path raises the same error
    return found if "orders" in found else None


def _read_files(pl: Any, files: Mapping[str, Any]) -> dict[str, _Raw]:
    raws: dict[str, _Raw] = {}
    for table, file in files.items():
        if file.suffix.lower() == ".csv":
            raws[table] = _read_csv(pl, table, file)
        elif file.suffix.lower() == ".jsonl":
            raws[table] = _read_jsonl(pl, table, file)
        else:
            raws[table] = _read_parquet(pl, table, file)
    return raws


def read_tables(
    source: str | os.PathLike[str] | Mapping[str, object],
    *,
    tz: str | tzinfo = "UTC",
    currency: str | None = None,
    skip_bad_rows: bool = False,
    extra_columns: ExtraColumns = "error",
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    rename: Rename | None = None,
    parse: ParseOptions | None = None,
) -> Frames:
    """Read a history into normalized frames: what :func:`relcycle.io.load_history` loads.

    The fast path reads the tables with polars/pyarrow and checks and parses every
    cell vectorized. It is taken only when every row is provably valid and
    canonical, that is when io would load exactly these values with exactly these
    (generated) ids; otherwise the whole source is read by io's object path and
    converted, so errors (:class:`~relcycle.errors.InputError`) and rejected rows
    are always exactly io's. :attr:`Frames.path` tells which path was taken.

    Args:
        source: A folder of ``clients``/``orders``/``interactions``/``complaints``
            files (CSV, JSON Lines or Parquet), a single orders file, an SQLite
            store file (always read by io), or a mapping of table name to a polars
            DataFrame or any object exposing ``__arrow_c_stream__``.
        tz: The zone of datetimes written without an offset.
        currency: The currency of rows without one; None for io's default (USD,
            with a warning in :attr:`Frames.warnings`).
        skip_bad_rows: Leave bad rows out (see :attr:`Frames.rejects`) instead of
            failing.
        extra_columns: ``"error"`` or ``"ignore"`` unknown columns of orders,
            interactions and complaints (see :func:`relcycle.io.load_history`).
        max_problems: Stop collecting problems after this many.
        rename: The source's headers of contract columns (see
            :func:`relcycle.io.load_history`).
        parse: How cells are written (see :class:`relcycle.io.ParseOptions`).

    The fast path reads the contract's plain forms only: with a ``rename`` or
    non-default ``parse`` options the source is read by io's path.

    Returns:
        The frames with the load's report (counts, rejects, ignored columns).

    Raises:
        InputError: The data holds problems (exactly io's).
        UsageError: A bad source or option (exactly io's), an unknown table name
            in a mapping, or a source of another type.
    """
    options: dict[str, Any] = {
        "tz": tz,
        "currency": currency,
        "skip_bad_rows": skip_bad_rows,
        "extra_columns": extra_columns,
        "max_problems": max_problems,
        "rename": rename,
        "parse": parse,
    }
    if isinstance(source, Mapping):
        return _read_mapping(source, options)
    given: object = source  # callers without type checking pass anything
    if not isinstance(given, str | os.PathLike):
        from relcycle.errors import UsageError

        raise UsageError(
            f"cannot read a {type(given).__name__}: give a folder, a file, or a mapping of "
            "table name to dataframe ({'orders': ...})"
        )
    from pathlib import Path

    from relcycle.io import load_history

    path = Path(source)
    fast = _try_fast(lambda pl: _path_raws(pl, path), options)
    if fast is not None:
        return fast
    return frames_from_result(load_history(path, **options))


def _path_raws(pl: Any, path: Any) -> dict[str, _Raw]:
    if path.is_dir():
        files = _folder(path)
        if files is None:
            raise _NotFast
        return _read_files(pl, files)
    if not path.is_file():
        raise _NotFast
    from relcycle.io._sqlite import is_sqlite

    stem = path.name.split(".")[0].lower()
    if (
        is_sqlite(path)
        or stem in {"clients", "interactions", "complaints"}
        or path.suffix.lower() not in (".csv", ".jsonl", ".parquet")
    ):
        raise _NotFast
    return _read_files(pl, {"orders": path})


def _try_fast(read: Any, options: Mapping[str, Any]) -> Frames | None:
    """The fast path's frames, or None when io's path must read the source."""
    from relcycle.errors import UsageError
    from relcycle.io._parse import check_currency, resolve_zone

    if options["rename"] or (options["parse"] is not None and options["parse"] != ParseOptions()):
        return None  # the fast path reads the contract's plain forms only
    try:
        zone = resolve_zone(options["tz"])
        currency = options["currency"]
        if currency is not None:
            check_currency(currency)
    except UsageError:
        return None
    if options["extra_columns"] not in ("error", "ignore") or options["max_problems"] < 1:
        return None
    pl = import_polars()
    ctx = _Context(zone, currency, options["extra_columns"])
    try:
        return _fast(pl, ctx, read(pl))
    except _NotFast:
        return None


_TABLE_NAMES = ("clients", "orders", "interactions", "complaints")


def _read_mapping(source: Mapping[str, object], options: Mapping[str, Any]) -> Frames:
    from relcycle.errors import UsageError
    from relcycle.io import load_arrow

    unknown = sorted(set(source) - set(_TABLE_NAMES))
    if unknown:
        raise UsageError(f"unknown table(s): {', '.join(map(str, unknown))}")
    pl = import_polars()
    # A stream can be read once: take each table in (as io does) before trying.
    tables: dict[str, object] = {}
    for name, obj in source.items():
        if obj is None:
            continue
        if isinstance(obj, pl.DataFrame) or not hasattr(obj, "__arrow_c_stream__"):
            tables[name] = obj
            continue
        try:
            import pyarrow as pa

            tables[name] = pa.table(obj)
        except Exception:
            tables[name] = obj

    def raws(pl: Any) -> dict[str, _Raw]:
        if "orders" not in tables:
            raise _NotFast
        out: dict[str, _Raw] = {}
        for name in _TABLE_NAMES:
            obj = tables.get(name)
            if obj is None:
                continue
            if isinstance(obj, pl.DataFrame):
                frame = obj
            elif hasattr(obj, "__arrow_c_stream__"):
                try:
                    frame = pl.from_arrow(obj)
                except Exception:
                    raise _NotFast from None
            else:
                raise _NotFast
            _typed_ok(pl, frame)
            out[name] = _Raw(name, name, tuple(frame.columns), frame)
        return out

    fast = _try_fast(raws, options)
    if fast is not None:
        return fast
    result = load_arrow(
        tables.get("orders"),
        interactions=tables.get("interactions"),
        complaints=tables.get("complaints"),
        clients=tables.get("clients"),
        **options,
    )
    return frames_from_result(result)
