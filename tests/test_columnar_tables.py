"""Tests of the columnar reader: frames equal io's records, on the fast path and off it."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle.columnar import _tables
from relcycle.columnar._tables import (
    Frames,
    client_runs,
    frames_from_result,
    frames_from_tables,
    histories,
    read_tables,
    to_portfolio,
)
from relcycle.errors import InputError, UsageError
from relcycle.history import Portfolio
from relcycle.io import HistoryTables, load_arrow, load_history, write_history
from relcycle.testing import invalid_rows, portfolios, valid_rows, zones

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

DATA = Path(__file__).parent / "data"

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def exact(portfolio: Portfolio) -> list[dict[str, Any]]:
    """A portfolio as lossless dicts: offsets and Decimal digits show (== ignores them)."""
    return [h.to_dict() for h in portfolio]


def assert_same(got: Portfolio, expected: Portfolio) -> None:
    """Equal records, and equal offsets and digits of every value."""
    assert got == expected
    assert exact(got) == exact(expected)
    for a, b in zip(got, expected, strict=True):
        for ra, rb in zip(a.records(), b.records(), strict=True):
            assert ra.at.utcoffset() == rb.at.utcoffset()
            assert type(ra.at.tzinfo) is type(rb.at.tzinfo)
            if not ra.at.utcoffset():
                assert ra.at.tzinfo is rb.at.tzinfo


class TestFramesFromTables:
    """Domain objects -> frames -> domain objects."""

    @SETTINGS
    @given(portfolios(max_clients=6, max_records=8))
    def test_round_trip(self, portfolio: Portfolio) -> None:
        """Frames of a portfolio's tables give the same portfolio back, exactly."""
        frames = frames_from_tables(HistoryTables.from_portfolio(portfolio))
        assert frames.path == "objects"
        assert_same(to_portfolio(frames), portfolio)
        assert_same(frames.tables().portfolio(), portfolio)

    @SETTINGS
    @given(portfolios(max_clients=6, max_records=8))
    def test_histories_come_in_client_order(self, portfolio: Portfolio) -> None:
        """histories() yields one history per client, sorted by client id."""
        frames = frames_from_tables(HistoryTables.from_portfolio(portfolio))
        got = list(histories(frames))
        assert [h.client_id for h in got] == sorted(portfolio.client_ids)
        assert tuple(got) == portfolio.histories
        assert tuple(histories(frames, batch=2)) == portfolio.histories

    @SETTINGS
    @given(portfolios(max_clients=6, max_records=8), st.integers(1, 4))
    def test_runs_of_clients_partition_the_frames(self, portfolio: Portfolio, size: int) -> None:
        """client_runs() cuts the frames into ranges of client ids, in order, each run
        with every record of its clients and nothing else; histories() read in
        runs are those of one pass."""
        frames = frames_from_tables(HistoryTables.from_portfolio(portfolio))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_tables, "CLIENTS_PER_PASS", size)
            runs = list(client_runs(frames))
            in_runs = tuple(histories(frames, batch=2))
        ids = sorted(portfolio.client_ids)
        if ids:
            assert [r.clients.height for r in runs] == [
                len(ids[i : i + size]) for i in range(0, len(ids), size)
            ]
        else:
            assert len(runs) == 1  # the empty frames themselves
        assert [c for r in runs for c in r.clients.get_column("client_id").sort()] == ids
        for table in ("orders", "interactions", "complaints"):
            assert sum(r.frame(table).height for r in runs) == frames.frame(table).height
            for run in runs:
                mine = set(run.clients.get_column("client_id"))
                assert set(run.frame(table).get_column("client_id")) <= mine
        assert in_runs == portfolio.histories

    def test_unknown_client_between_runs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A record of a client missing from the clients table is refused even when
        its id falls between two runs of clients (it belongs to no run)."""
        from relcycle.columnar import build_report
        from relcycle.errors import UnknownClientError
        from relcycle.simulate import simulate_portfolio

        tables = HistoryTables.from_portfolio(simulate_portfolio(3, seed=2).portfolio())
        assert tables.clients is not None
        frames = frames_from_tables(
            HistoryTables(
                clients=tables.clients[:1] + tables.clients[2:],
                orders=tables.orders,
                interactions=tables.interactions,
                complaints=tables.complaints,
            )
        )
        missing = tables.clients[1].client_id
        theirs = sorted(
            r.id for r in (*tables.orders, *tables.interactions) if r.client_id == missing
        )
        assert theirs  # the missing client has records, between the other two's runs
        monkeypatch.setattr(_tables, "CLIENTS_PER_PASS", 1)
        for attempt in (lambda: list(histories(frames)), lambda: build_report(frames)):
            with pytest.raises(UnknownClientError) as refused:
                attempt()
            assert refused.value.client_ids == (missing,)
            assert set(refused.value.record_ids) <= set(theirs)

    def test_unknown_client(self) -> None:
        """A record of a client missing from a given clients table is refused."""
        from relcycle.errors import UnknownClientError
        from relcycle.simulate import simulate_portfolio

        tables = HistoryTables.from_portfolio(simulate_portfolio(3, seed=2).portfolio())
        assert tables.clients is not None
        frames = frames_from_tables(
            HistoryTables(
                clients=tables.clients[1:],
                orders=tables.orders,
                interactions=tables.interactions,
                complaints=tables.complaints,
            )
        )
        with pytest.raises(UnknownClientError):
            to_portfolio(frames)

    def test_schema(self) -> None:
        """Every frame has the normalized schema, even when empty."""
        import polars as pl

        frames = frames_from_tables(HistoryTables(clients=None))
        assert frames.orders.schema["placed_at"] == pl.Datetime("us", "UTC")
        assert frames.orders.schema["placed_at_offset"] == pl.Int32
        assert frames.orders.schema["amount"] == pl.String
        assert frames.orders.schema["discounted"] == pl.Boolean
        assert frames.complaints.schema["resolved_at_offset"] == pl.Int32
        assert frames.clients.height == 0
        assert not frames.clients_given

    def test_equals_ignores_row_order(self) -> None:
        """Frames.equals compares rows in any order."""
        from relcycle.simulate import simulate_portfolio

        tables = HistoryTables.from_portfolio(simulate_portfolio(5, seed=3).portfolio())
        a = frames_from_tables(tables)
        b = frames_from_tables(
            HistoryTables(
                clients=tables.clients,
                orders=tuple(reversed(tables.orders)),
                interactions=tables.interactions,
                complaints=tables.complaints,
            )
        )
        assert isinstance(a, Frames)
        assert a.equals(b)
        assert not a.equals(frames_from_tables(HistoryTables(clients=None)))


# ---------------------------------------------------------------------- read_tables


def _io(source: Any, **options: Any) -> Frames:
    return frames_from_result(load_history(source, **options))


def assert_reads_like_io(source: Any, *, fast: bool | None = None, **options: Any) -> Frames:
    """read_tables gives io's frames (and portfolio) on the same source."""
    got = read_tables(source, **options)
    expected = _io(source, **options)
    assert got.equals(expected)
    assert_same(to_portfolio(got), load_history(source, **options).portfolio)
    if fast is not None:
        assert (got.path == "fast") is fast
    return got


def _io_error(source: Any, **options: Any) -> InputError | None:
    try:
        load_history(source, **options)
    except InputError as exc:
        return exc
    return None


def assert_like_io(source: Any, **options: Any) -> None:
    """read_tables gives io's frames, or io's InputError; the same when skipping bad rows."""
    for skip in (False, True):
        error = _io_error(source, skip_bad_rows=skip, **options)
        if error is not None:
            with pytest.raises(InputError) as got:
                read_tables(source, skip_bad_rows=skip, **options)
            assert got.value.problems == error.problems
            continue
        result = load_history(source, skip_bad_rows=skip, **options)
        frames = read_tables(source, skip_bad_rows=skip, **options)
        assert frames.equals(frames_from_result(result))
        assert_same(to_portfolio(frames), result.portfolio)
        if skip:
            assert frames.rejects == result.rejects


def _write_rows(folder: Path, table: str, rows: list[dict[str, str]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with (folder / f"{table}.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, columns, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    """Orders as CSV text in the spellings files come in (quoting, line ends, blank
    lines, a spreadsheet's rows of empty cells and trailing columns without a name)."""
    rows = draw(st.lists(valid_rows("orders"), min_size=1, max_size=5))
    columns = list(rows[0])
    nameless = draw(st.integers(0, 2))  # trailing columns without a name
    buffer = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    writer = csv.writer(buffer, quoting=quoting, lineterminator=end)
    writer.writerow(columns + [""] * nameless)
    for row in rows:
        cells = [row[c] for c in columns] + [""] * nameless
        if nameless and draw(st.integers(0, 9)) == 0:
            cells[-1] = "x"  # a value under no name: a problem of the row
        if draw(st.integers(0, 9)) == 0:
            cells = cells[: draw(st.integers(0, len(cells) - 1))]  # a ragged row
        writer.writerow(cells)
        if draw(st.integers(0, 5)) == 0:
            buffer.write(end)  # a blank line
        if draw(st.integers(0, 5)) == 0:
            writer.writerow([""] * (len(columns) + nameless))  # a row of empty cells
    text = buffer.getvalue()
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return ("\ufeff" if draw(st.integers(0, 4)) == 0 else "") + text


class TestReadWritten:
    """What write_history writes is read on the fast path, equal to io."""

    @SETTINGS
    @given(portfolios(max_clients=6, max_records=8), st.sampled_from(["csv", "parquet", "jsonl"]))
    def test_written_history(self, portfolio: Portfolio, fmt: str) -> None:
        """CSV, Parquet, JSON Lines by write_history: fast path, io's frames and portfolio."""
        with tempfile.TemporaryDirectory() as tmp:
            write_history(portfolio, tmp, format=fmt)  # type: ignore[arg-type]
            contacts = any(h.client.contacts for h in portfolio)
            # JSON Lines hold contact persons as nested JSON: io reads those.
            assert_reads_like_io(tmp, fast=not (fmt == "jsonl" and contacts))

    @settings(max_examples=10, deadline=None)
    @given(portfolios(max_clients=4, max_records=6))
    def test_sqlite_through_io(self, portfolio: Portfolio) -> None:
        """SQLite stores are read by io and converted."""
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "store.db"
            write_history(portfolio, store, format="sqlite")
            assert_reads_like_io(store, fast=False)

    def test_simulated_portfolio(self, tmp_path: Path) -> None:
        """A simulated history (contacts, attributes, every kind of record) is read fast."""
        from relcycle.simulate import simulate_portfolio

        write_history(simulate_portfolio(60, seed=7), tmp_path)
        frames = assert_reads_like_io(tmp_path, fast=True)
        assert frames.clients_given
        assert frames.clients.get_column("record").is_not_null().any()


class TestReadRows:
    """Raw contract rows in every accepted spelling read like io."""

    @SETTINGS
    @given(
        st.lists(valid_rows("orders"), min_size=1, max_size=6),
        st.lists(valid_rows("interactions"), max_size=4),
        st.lists(valid_rows("complaints"), max_size=4),
        zones(),
        st.sampled_from(["csv", "parquet"]),
    )
    def test_valid_rows(
        self,
        orders: list[dict[str, str]],
        interactions: list[dict[str, str]],
        complaints: list[dict[str, str]],
        zone: Any,
        fmt: str,
    ) -> None:
        """Naive times, dates alone, Z, any bool spelling, generated ids: equal to io."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for table, rows in (
                ("orders", orders),
                ("interactions", interactions),
                ("complaints", complaints),
            ):
                if rows:
                    _write_rows(folder, table, rows)
            if fmt == "parquet":
                _to_parquet(folder)
            assert_like_io(folder, tz=zone)

    @pytest.mark.parametrize(
        "line",
        [
            '{"client_id": 7, "placed_at": "2024-01-02", "amount": 12.50}',
            '{"client_id": "7", "placed_at": "2024-01-02", "amount": "1", "discounted": true}',
            '{"client_id": true, "placed_at": "2024-01-02", "amount": "1"}',
            '{"client_id": "7", "placed_at": "2024-01-02", "amount": "1", "product": true}',
            '{"client_id": "7", "placed_at": "2024-01-02", "amount": "1", "zz": 1, "aa": null}',
            '{"client_id": "7", "placed_at": "2024-01-02", "amount": [1]}',
            '{"client_id": "7", "placed_at": "2024-01-02", "amount": NaN}',
            '["7", "2024-01-02", "1"]',
            "not json",
            '{"client_id": "7", "amount": "1"}',
            "{}",
            '{"client_id": "7", "placed_at": "2024-01-02", "amount": "1", "product": "true"}',
            '{"client_id": "7", "placed_at": "2024-01-02", "amount": "1", "zz": "z"}',
        ],
    )
    @pytest.mark.parametrize("extra_columns", ["error", "ignore"])
    def test_jsonl_lines(self, tmp_path: Path, line: str, extra_columns: str) -> None:
        """JSON Lines: numbers keep their text, booleans, unknown keys, bad lines: like io."""
        (tmp_path / "orders.jsonl").write_text(
            '{"client_id": "8", "placed_at": "2024-01-03", "amount": "2"}\n\n' + line + "\n",
            encoding="utf-8",
        )
        assert_like_io(tmp_path, extra_columns=extra_columns)

    def test_jsonl_of_empty_objects(self, tmp_path: Path) -> None:
        """Lines holding {} are rows without cells, as io reads them."""
        (tmp_path / "orders.jsonl").write_text("{}\n{}\n", encoding="utf-8")
        assert_like_io(tmp_path)

    @SETTINGS
    @given(csv_texts())
    def test_csv_spellings(self, text: str) -> None:
        """CSV with any quoting, line ends, blank lines, BOM or ragged rows reads like io."""
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "orders.csv").write_text(text, encoding="utf-8", newline="")
            assert_like_io(tmp)

    @SETTINGS
    @given(st.lists(valid_rows("orders"), min_size=1, max_size=5), st.data())
    def test_repeated_rows_get_io_ids(self, orders: list[dict[str, str]], data: Any) -> None:
        """Identical rows without ids are distinct orders with io's generated ids."""
        rows = [dict(r, order_id="") for r in orders]
        rows = rows + data.draw(st.lists(st.sampled_from(rows), max_size=4))
        with tempfile.TemporaryDirectory() as tmp:
            _write_rows(Path(tmp), "orders", rows)
            got = assert_reads_like_io(tmp, fast=True)
            ids = got.orders.get_column("order_id").to_list()
            assert len(set(ids)) == len(rows)
            assert all(i.startswith("o-") for i in ids)

    @pytest.mark.parametrize("per_slice", [200_000, 1000, 7])
    def test_cdnow_style_log(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_slice: int
    ) -> None:
        """A client_id,placed_at,amount log with ISO dates takes the fast path, its
        generated ids io's, however many rows are hashed at a time."""
        monkeypatch.setattr(_tables, "_HASHED_PER_SLICE", per_slice)
        shutil.copy(DATA / "cdnow_sample_orders.csv", tmp_path / "orders.csv")
        got = assert_reads_like_io(tmp_path, fast=True)
        assert not got.clients_given
        assert got.orders.height == 6919

    def test_header_only(self, tmp_path: Path) -> None:
        """A header without rows is an empty table, with or without a final newline."""
        (tmp_path / "orders.csv").write_text("client_id,placed_at,amount", encoding="utf-8")
        got = assert_reads_like_io(tmp_path, fast=True)
        assert got.orders.height == 0
        assert got.counts["orders"].read == 0

    def test_parquet_booleans_and_generated_ids(self, tmp_path: Path) -> None:
        """Boolean Parquet columns and rows without ids: io's values and generated ids."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "order_id": pa.array([None, "", None, "x"], pa.string()),
                "client_id": ["7", "7", "7", "8"],
                "placed_at": ["2024-01-02", "2024-01-02", "2024-01-02", "2024-01-03"],
                "amount": ["1", "1", "1", "2.5"],
                "discounted": pa.array([True, True, None, False]),
                "on_time": pa.array([None, None, None, True]),
            }
        )
        pq.write_table(table, tmp_path / "orders.parquet")
        got = assert_reads_like_io(tmp_path, fast=True)
        ids = got.orders.get_column("order_id").to_list()
        assert ids[3] == "x"
        assert ids[1] == f"{ids[0]}-2"
        assert ids[2] != ids[0]

    @pytest.mark.parametrize("column", ["order_id", "client_id", "product", "status", "amount"])
    def test_boolean_cells_in_other_columns(self, tmp_path: Path, column: str) -> None:
        """A Boolean Parquet column where io wants text or a word reads like io."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        data: dict[str, Any] = {
            "order_id": ["a", "b"],
            "client_id": ["7", "8"],
            "placed_at": ["2024-01-02", "2024-01-03"],
            "amount": ["1", "2"],
            "status": ["placed", "delivered"],
            "product": ["p", "q"],
        }
        data[column] = pa.array([True, False])
        pq.write_table(pa.table(data), tmp_path / "orders.parquet")
        assert_like_io(tmp_path)

    def test_single_file(self) -> None:
        """A single CSV file is the orders table, as for io."""
        assert_reads_like_io(DATA / "cdnow_sample_orders.csv", fast=True)

    def test_quoted_cells(self, tmp_path: Path) -> None:
        """Quoted cells with commas, quotes and newlines are split like the csv module."""
        (tmp_path / "orders.csv").write_text(
            "order_id,client_id,placed_at,amount,product\n"
            'o1,007,2024-01-02,12.50,"a, ""b""\nc"\n'
            "o2,007,2024-01-03T10:00:00+02:00,3,\n",
            encoding="utf-8",
        )
        got = assert_reads_like_io(tmp_path, fast=True)
        assert got.orders.get_column("client_id").to_list() == ["007", "007"]

    def test_crlf_and_bom(self, tmp_path: Path) -> None:
        """A BOM and CRLF line ends read like io."""
        (tmp_path / "orders.csv").write_bytes(
            b"\xef\xbb\xbfclient_id,placed_at,amount\r\n7,2024-01-02,1.5\r\n\r\n8,2024-01-03,2\r\n"
        )
        assert_reads_like_io(tmp_path, fast=True)

    def test_extra_columns_ignored(self, tmp_path: Path) -> None:
        """Unknown columns are listed as ignored, as io lists them."""
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount,colour\n1,2024-01-02,1,red\n", encoding="utf-8"
        )
        got = assert_reads_like_io(tmp_path, fast=True, extra_columns="ignore")
        assert got.ignored_columns == {"orders": ("colour",)}
        with pytest.raises(InputError):
            read_tables(tmp_path)

    @pytest.mark.parametrize(
        "amount",
        ["0.0000001", "007.50", "12.", ".5", "1e3", "0.000000", "00", " 3 ", "-0"],
    )
    def test_amount_spellings(self, tmp_path: Path, amount: str) -> None:
        """Every spelling io accepts gives io's Decimal, digits and all."""
        (tmp_path / "orders.csv").write_text(
            f"client_id,placed_at,amount\n1,2024-01-02,{amount}\n", encoding="utf-8"
        )
        got = assert_reads_like_io(tmp_path, fast=True)
        assert got.orders.get_column("amount").to_list() == [
            str(load_history(tmp_path).tables.orders[0].amount)
        ]

    @pytest.mark.parametrize(
        "moment",
        [
            "2024-03-31T02:30:00",
            "2024-10-27T03:30",
            "2024-10-27T03:30:00+02:00",
            "2024-01-01T24:00:00",
            "2024-01-02T10:00:00.5",
            "2024-01-02T10:00:00.123456Z",
            "2024-01-02T10:00:00+05:45",
            "2024-01-02T10",
            "20240102",
            "2024-01-02T10:00:00.1234560",
            "2024-01-02T10:00:00+02:00:30",
        ],
    )
    @pytest.mark.parametrize("zone", ["UTC", "Europe/Kyiv"])
    def test_datetime_spellings(self, tmp_path: Path, moment: str, zone: str) -> None:
        """Datetimes in any form io accepts (DST folds included) give io's instant and offset."""
        (tmp_path / "orders.csv").write_text(
            f"client_id,placed_at,amount\n1,{moment},1\n", encoding="utf-8"
        )
        assert_reads_like_io(tmp_path, fast=True, tz=zone)

    @SETTINGS
    @given(
        st.lists(valid_rows("orders"), min_size=1, max_size=5),
        st.lists(invalid_rows("orders"), max_size=1),
        st.data(),
    )
    def test_dataframe_rows(self, rows: list[dict[str, str]], bad: list[Any], data: Any) -> None:
        """Rows as a polars frame (empty cells as null or ""): load_arrow's frames and errors."""
        import polars as pl

        rows = rows + [b[0] for b in bad]
        columns = list(rows[0])
        cells = {
            c: [None if r[c] == "" and data.draw(st.booleans()) else r[c] for r in rows]
            for c in columns
        }
        frame = pl.DataFrame(cells, schema=dict.fromkeys(columns, pl.String))
        for skip in (False, True):
            error: InputError | None = None
            try:
                result = load_arrow(frame, skip_bad_rows=skip)
            except InputError as exc:
                error = exc
            if error is not None:
                with pytest.raises(InputError) as got:
                    read_tables({"orders": frame}, skip_bad_rows=skip)
                assert got.value.problems == error.problems
            else:
                got_frames = read_tables({"orders": frame}, skip_bad_rows=skip)
                assert got_frames.equals(frames_from_result(result))

    def test_dataframes(self) -> None:
        """A mapping of polars and pyarrow frames reads like io.load_arrow."""
        import polars as pl
        import pyarrow as pa

        orders = pl.DataFrame(
            {
                "client_id": ["007", "8"],
                "placed_at": ["2024-01-02", "2024-01-03T10:00:00+01:00"],
                "amount": ["1.50", "2"],
                "discounted": [True, None],
            }
        )
        clients = pa.table({"client_id": ["007", "8"], "segment": ["x", None]})
        got = read_tables({"orders": orders, "clients": clients})
        assert got.path == "fast"
        expected = frames_from_result(load_arrow(orders, clients=clients))
        assert got.equals(expected)
        typed = orders.with_columns(pl.col("placed_at").str.slice(0, 10).str.to_date())
        got = read_tables({"orders": typed})
        assert got.path == "objects"
        assert got.equals(frames_from_result(load_arrow(typed)))


def _to_parquet(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in folder.glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        header, body = rows[0], rows[1:]
        arrays = [pa.array([r[i] for r in body], pa.string()) for i in range(len(header))]
        pq.write_table(pa.Table.from_arrays(arrays, names=header), path.with_suffix(".parquet"))
        path.unlink()


class TestBadInput:
    """Bad input: io's errors and io's rejects, exactly."""

    @SETTINGS
    @given(
        st.sampled_from(["orders", "interactions", "complaints", "clients"]),
        st.data(),
    )
    def test_invalid_row(self, table: str, data: Any) -> None:
        """A row wrong in one cell gives io's InputError, and io's rejects when skipped."""
        bad, _, _ = data.draw(invalid_rows(table))
        good = data.draw(st.lists(valid_rows(table), max_size=3))
        rows = data.draw(st.permutations([*good, bad]))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _write_rows(folder, table, rows)
            if table != "orders":
                orders = data.draw(st.lists(valid_rows("orders"), min_size=1, max_size=2))
                _write_rows(folder, "orders", orders)
            with pytest.raises(InputError):
                load_history(folder)
            assert_like_io(folder)

    def test_unknown_client_and_duplicate_id(self, tmp_path: Path) -> None:
        """A reference to a missing client and a repeated id are io's problems."""
        (tmp_path / "clients.csv").write_text("client_id\nA\n", encoding="utf-8")
        (tmp_path / "orders.csv").write_text(
            "order_id,client_id,placed_at,amount\nx,A,2024-01-01,1\nx,B,2024-01-01,1\n",
            encoding="utf-8",
        )
        with pytest.raises(InputError) as got:
            read_tables(tmp_path)
        with pytest.raises(InputError) as expected:
            load_history(tmp_path)
        assert got.value.problems == expected.value.problems
        assert read_tables(tmp_path, skip_bad_rows=True).equals(_io(tmp_path, skip_bad_rows=True))

    @pytest.mark.parametrize(
        "text",
        [
            "client_id,placed_at,amount\n1,2024-01-01\n",
            "client_id,placed_at,amount\n1,2024-01-01,1,2\n",
            'client_id,placed_at,amount\n1,"2024-01-01"x,1\n',
            "client_id,placed_at\n1,2024-01-01\n",
            "client_id,client_id,placed_at,amount\n1,1,2024-01-01,1\n",
            "client_id,placed_at,amount\n   ,2024-01-01,1\n",
            "client_id,placed_at,amount\n1,2024-02-30,1\n",
            "client_id,placed_at,amount\n1,2024-01-01T24:00:00,1\n",
            "client_id,placed_at,amount\n1,1899-12-31,1\n",
            "client_id,placed_at,amount\n1,2024-01-01,1E-30\n",
            "",
        ],
    )
    def test_malformed_files(self, tmp_path: Path, text: str) -> None:
        """Ragged rows, bad quoting, missing columns, impossible dates: io's problems."""
        (tmp_path / "orders.csv").write_text(text, encoding="utf-8")
        assert_like_io(tmp_path)

    def test_lapsed_is_no_termination_reason(self, tmp_path: Path) -> None:
        """``reason=lapsed`` is refused as io refuses it (file, line, column, value)."""
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount\n1,2024-01-01,1\n", encoding="utf-8"
        )
        (tmp_path / "interactions.csv").write_text(
            "client_id,at,purpose,reason\n1,2024-01-02,termination,price\n"
            "1,2024-02-02,termination,lapsed\n",
            encoding="utf-8",
        )
        with pytest.raises(InputError) as got:
            read_tables(tmp_path)
        (problem,) = got.value.problems
        assert (problem.source, problem.line, problem.column, problem.value) == (
            "interactions.csv",
            3,
            "reason",
            "lapsed",
        )
        assert "not one of: competitor, price" in problem.reason
        assert_like_io(tmp_path)

    def test_daylight_saving_gap(self, tmp_path: Path) -> None:
        """A local time skipped by a DST change is io's error (and io's reject)."""
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount\n1,2024-03-31T03:30:00,1\n2,2024-03-31,1\n",
            encoding="utf-8",
        )
        assert_like_io(tmp_path, tz="Europe/Kyiv")

    def test_cell_longer_than_the_csv_limit(self, tmp_path: Path) -> None:
        """A cell longer than the csv module's field limit is io's error."""
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount,product\n1,2024-01-01,1," + "x" * 140_000 + "\n",
            encoding="utf-8",
        )
        assert_like_io(tmp_path)

    def test_empty_clients_table_with_a_bad_header(self, tmp_path: Path) -> None:
        """The header of an empty clients table is checked, as io checks it."""
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount\n1,2024-01-01,1\n", encoding="utf-8"
        )
        (tmp_path / "clients.csv").write_text("id\n", encoding="utf-8")
        assert_like_io(tmp_path)
        (tmp_path / "clients.csv").write_text("client_id\n", encoding="utf-8")
        got = assert_reads_like_io(tmp_path, fast=True)
        assert not got.clients_given
        assert got.counts["clients"].read == 0

    def test_usage_errors_are_io_s(self, tmp_path: Path) -> None:
        """Bad options and missing sources raise io's UsageError."""
        with pytest.raises(UsageError):
            read_tables(tmp_path / "nowhere")
        (tmp_path / "orders.csv").write_text("client_id,placed_at,amount\n", encoding="utf-8")
        with pytest.raises(UsageError):
            read_tables(tmp_path, tz="Mars/Olympus")
        with pytest.raises(UsageError):
            read_tables(tmp_path, currency="euro")
        with pytest.raises(UsageError):
            read_tables({"order": []})
        with pytest.raises(UsageError):
            read_tables(42)  # type: ignore[arg-type]
