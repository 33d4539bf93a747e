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

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from relcycle.columnar._source import import_polars
from relcycle.errors import UnknownClientError
from relcycle.history import ClientHistory, Portfolio
from relcycle.io import HistoryTables, RejectedRow, TableCount
from relcycle.model import (
    Channel,
    Client,
    ClientKind,
    Complaint,
    ComplaintCategory,
    ComplaintStatus,
    Direction,
    Escalation,
    FrozenMap,
    Interaction,
    LossReason,
    Order,
    OrderStatus,
    Purpose,
    Severity,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["FRAME_COLUMNS", "Frames", "frames_from_tables", "histories", "to_portfolio"]

#: The columns of each frame, in order, with their kind: ``id``/``text``/``vocab``
#: (String), ``datetime`` (Datetime plus ``_offset``), ``decimal`` (String),
#: ``bool`` (Boolean), ``record`` (String, clients only).
FRAME_COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "clients": (
        ("client_id", "id"),
        ("name", "text"),
        ("kind", "vocab"),
        ("industry", "text"),
        ("region", "text"),
        ("account_manager", "id"),
        ("since", "datetime"),
        ("record", "record"),
    ),
    "orders": (
        ("order_id", "id"),
        ("client_id", "id"),
        ("placed_at", "datetime"),
        ("amount", "decimal"),
        ("currency", "text"),
        ("discounted", "bool"),
        ("status", "vocab"),
        ("on_time", "bool"),
        ("product", "text"),
        ("cost", "decimal"),
    ),
    "interactions": (
        ("interaction_id", "id"),
        ("client_id", "id"),
        ("at", "datetime"),
        ("channel", "vocab"),
        ("direction", "vocab"),
        ("purpose", "vocab"),
        ("handled_by", "id"),
        ("minutes", "decimal"),
        ("reason", "vocab"),
        ("note", "text"),
    ),
    "complaints": (
        ("complaint_id", "id"),
        ("client_id", "id"),
        ("opened_at", "datetime"),
        ("category", "vocab"),
        ("severity", "vocab"),
        ("client_loss", "decimal"),
        ("currency", "text"),
        ("status", "vocab"),
        ("resolved_at", "datetime"),
        ("escalated_to", "vocab"),
    ),
}

#: The id column and the time column of each record frame.
_KEYS: Mapping[str, tuple[str, str]] = {
    "orders": ("order_id", "placed_at"),
    "interactions": ("interaction_id", "at"),
    "complaints": ("complaint_id", "opened_at"),
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
    path: str = "objects"

    @property
    def rejected(self) -> int:
        """The number of rows rejected (what a report counts as skipped)."""
        return len(self.rejects)

    def frame(self, table: str) -> pl.DataFrame:
        """The frame of ``table`` (``clients``, ``orders``, ``interactions``, ``complaints``)."""
        if table not in FRAME_COLUMNS:
            raise KeyError(table)
        frame: pl.DataFrame = getattr(self, table)
        return frame

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
            all(a.frame(t).equals(b.frame(t)) for t in FRAME_COLUMNS)
            and a.frame("clients").schema == b.frame("clients").schema
            and self.clients_given == other.clients_given
            and self.rejects == other.rejects
            and self.counts == other.counts
            and self.ignored_columns == other.ignored_columns
            and self.sources == other.sources
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


def _record_columns(table: str, records: Any) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {}
    getters: list[tuple[str, str, list[Any], list[Any] | None]] = []
    for name, kind in FRAME_COLUMNS[table]:
        values: list[Any] = []
        columns[name] = values
        offsets: list[Any] | None = None
        if kind == "datetime":
            offsets = []
            columns[f"{name}_offset"] = offsets
        getters.append((name, kind, values, offsets))
    for record in records:
        for name, kind, values, offsets in getters:
            value = getattr(record, name)
            if value is None:
                values.append(None)
                if offsets is not None:
                    offsets.append(None)
            elif kind == "datetime":
                values.append(_micros(value))
                assert offsets is not None
                offsets.append(_offset(value))
            elif kind == "decimal":
                values.append(str(value))
            elif kind == "vocab":
                values.append(value.value)
            else:
                values.append(value)
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
        ids = {r.client_id for r in tables.orders}
        ids.update(r.client_id for r in tables.interactions)
        ids.update(r.client_id for r in tables.complaints)
        clients = [Client(client_id=cid) for cid in sorted(ids)]
    return Frames(
        clients=_frame("clients", _client_columns(clients)),
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
    return attrs.evolve(frames, path=path)


# ---------------------------------------------------------------------- frames -> objects


class _Moments:
    """Datetimes from (microseconds, offset), one fixed-offset tzinfo per offset."""

    def __init__(self) -> None:
        self.epochs: dict[int, datetime] = {0: _EPOCH}

    def epoch(self, offset: int) -> datetime:
        found = self.epochs.get(offset)
        if found is None:
            zone: tzinfo = timezone(timedelta(seconds=offset))
            found = self.epochs[offset] = _EPOCH.astimezone(zone)
        return found

    def column(self, micros: list[int | None], offsets: list[int | None]) -> list[Any]:
        out: list[Any] = []
        append = out.append
        epochs = self.epochs
        cache: dict[tuple[int, int], datetime] = {}
        for us, off in zip(micros, offsets, strict=True):
            if us is None or off is None:
                append(None)
                continue
            key = (us, off)
            dt = cache.get(key)
            if dt is None:
                base = epochs.get(off)
                if base is None:
                    base = self.epoch(off)
                dt = cache[key] = base + timedelta(microseconds=us)
            append(dt)
        return out


def _decimals(values: list[str | None]) -> list[Decimal | None]:
    cache: dict[str, Decimal] = {}
    out: list[Decimal | None] = []
    for text in values:
        if text is None:
            out.append(None)
            continue
        d = cache.get(text)
        if d is None:
            d = cache[text] = Decimal(text)
        out.append(d)
    return out


def _members(values: list[str | None], vocab: Any) -> list[Any]:
    table = {m.value: m for m in vocab}
    return [None if v is None else table[v] for v in values]


def _sorted_lists(frame: pl.DataFrame, table: str, moments: _Moments) -> dict[str, list[Any]]:
    id_col, time_col = _KEYS[table]
    frame = frame.sort(["client_id", time_col, id_col])
    out: dict[str, list[Any]] = {}
    for name, kind in FRAME_COLUMNS[table]:
        series = frame.get_column(name)
        if kind == "datetime":
            micros = series.dt.epoch("us").to_list()
            offsets = frame.get_column(f"{name}_offset").to_list()
            out[name] = moments.column(micros, offsets)
        elif kind == "decimal":
            out[name] = _decimals(series.to_list())
        else:
            out[name] = series.to_list()
    return out


_VOCABS: Mapping[str, Mapping[str, Any]] = {
    "orders": {"status": OrderStatus},
    "interactions": {
        "channel": Channel,
        "direction": Direction,
        "purpose": Purpose,
        "reason": LossReason,
    },
    "complaints": {
        "category": ComplaintCategory,
        "severity": Severity,
        "status": ComplaintStatus,
        "escalated_to": Escalation,
    },
}


def _records(frame: pl.DataFrame, table: str, moments: _Moments) -> tuple[list[Any], list[str]]:
    """The records of a frame, sorted by (client_id, moment, id), and their client ids."""
    c = _sorted_lists(frame, table, moments)
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


def _clients(frame: pl.DataFrame, moments: _Moments) -> list[Client]:
    frame = frame.sort("client_id")
    sinces = moments.column(
        frame.get_column("since").dt.epoch("us").to_list(),
        frame.get_column("since_offset").to_list(),
    )
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


def histories(frames: Frames) -> Iterator[ClientHistory]:
    """Every client's history, in client id order, built from client-sorted slices.

    Each kind of record is sorted once by (client id, moment, id), so each
    client's records come in the model's order; records are built with the model's
    constructors (which validate them).

    Raises:
        UnknownClientError: A record refers to a client missing from the clients
            frame while ``clients_given`` is True.
    """
    moments = _Moments()
    clients = _clients(frames.clients, moments)
    known = {c.client_id for c in clients}
    kinds: list[tuple[list[Any], dict[str, tuple[int, int]]]] = []
    for table, name in (
        ("interactions", "Interaction"),
        ("orders", "Order"),
        ("complaints", "Complaint"),
    ):
        records, cids = _records(frames.frame(table), table, moments)
        slices = _slices(cids)
        unknown = [cid for cid in slices if cid not in known]
        if unknown:
            bad = [r for r in records if r.client_id not in known]
            raise UnknownClientError(
                record=name,
                record_ids=[r.id for r in bad],
                client_ids=[r.client_id for r in bad],
            )
        kinds.append((records, slices))
    (ints, int_at), (ords, ord_at), (comps, comp_at) = kinds
    inferred = not frames.clients_given
    none = (0, 0)
    for client in clients:
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
    return Portfolio(tuple(histories(frames)))
