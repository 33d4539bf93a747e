"""Tests for relcycle.columnar: the columnar RFM summary agrees with the object path."""

from __future__ import annotations

import csv
import gzip
import math
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle.errors import (
    CurrencyMismatchError,
    InputError,
    RecordTypeError,
    UsageError,
    ValidationError,
)
from relcycle.history import build_portfolio
from relcycle.io import load_history, load_records
from relcycle.model import Order
from relcycle.segmentation.rfm import (
    R_VIGNETTE_RFM_SEGMENTS,
    RFMFigures,
    rfm_figures,
    rfm_figures_by_client,
)
from relcycle.segmentation.rfm import rfm_scores as object_rfm_scores

pa = pytest.importorskip("pyarrow")
pl = pytest.importorskip("polars")
pq = pytest.importorskip("pyarrow.parquet")
pacsv = pytest.importorskip("pyarrow.csv")
pc = pytest.importorskip("pyarrow.compute")

from relcycle.columnar import (  # noqa: E402
    RFM_COLUMNS,
    mean_repeat_value,
    rfm_frame,
    rfm_scores,
    rfm_summary,
)

DATA = Path(__file__).parent / "data"
CDNOW = DATA / "cdnow_sample_orders.csv"
END = datetime(1998, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def cdnow_orders() -> list[Order]:
    """The CDNOW sample as Order objects (ids from line numbers)."""
    with CDNOW.open(newline="") as fh:
        return [
            Order(
                order_id=f"row{line}",
                client_id=row["client_id"],
                placed_at=datetime.fromisoformat(row["placed_at"]).replace(tzinfo=UTC),
                amount=row["amount"],
            )
            for line, row in enumerate(csv.DictReader(fh), start=2)
        ]


def rows_of(table: Any) -> dict[str, dict[str, Any]]:
    """A result table as {client_id: row}."""
    return {row["client_id"]: row for row in table.to_pylist()}


def assert_same_as_objects(table: Any, figures: dict[str, RFMFigures]) -> None:
    """Every field of every client equals the object path's figures."""
    got = rows_of(table)
    assert sorted(got) == sorted(figures)
    for cid, fig in figures.items():
        row = got[cid]
        assert row["frequency"] == fig.repeat_days, cid
        assert row["recency"] == fig.span_days, cid
        assert row["T"] == fig.age_days, cid
        assert row["monetary_value"] == float(fig.mean_repeat_value), cid
        assert mean_repeat_value(row["repeat_value"], row["frequency"]) == fig.mean_repeat_value
        assert row["purchase_days"] == fig.purchase_days, cid
        assert row["total_value"] == fig.total_value, cid
        assert row["first_day"] == fig.first_day, cid
        assert row["last_day"] == fig.last_day, cid
        assert row["currency"] == fig.currency, cid


def table_of(orders: list[Order], *, amount: str = "text", status: bool = True) -> Any:
    """Orders as a pyarrow Table (placed_at a UTC timestamp)."""
    cols: dict[str, Any] = {
        "client_id": pa.array([o.client_id for o in orders], pa.string()),
        "placed_at": pa.array(
            [o.placed_at.astimezone(UTC) for o in orders], pa.timestamp("us", tz="UTC")
        ),
    }
    if amount == "text":
        cols["amount"] = pa.array([str(o.amount) for o in orders], pa.string())
    else:
        cols["amount"] = pa.array([o.amount for o in orders], pa.decimal128(20, 4))
    if status:
        cols["status"] = pa.array([o.status.value for o in orders], pa.string())
    cols["currency"] = pa.array([o.currency for o in orders], pa.string())
    return pa.table(cols)


def at(days: float, hours: float = 12) -> datetime:
    """T0 plus days and hours."""
    return T0 + timedelta(days=days, hours=hours)


def o(oid: str, cid: str, moment: datetime, amount: str, **kw: Any) -> Order:
    """A short Order constructor."""
    return Order(order_id=oid, client_id=cid, placed_at=moment, amount=amount, **kw)


@pytest.fixture(scope="module")
def summary() -> Any:
    """The columnar summary of the CDNOW CSV file, sorted by client id."""
    return rfm_summary(CDNOW, as_of=END, sort=True)


class TestCdnow:
    """The CDNOW sample: lifetimes' figures, and the object path's, for every client."""

    def test_matches_lifetimes(self, summary: Any) -> None:
        """frequency, recency and T equal lifetimes' exactly; monetary_value to 1e-9."""
        got = rows_of(summary)
        with (DATA / "cdnow_sample_lifetimes.csv").open(newline="") as fh:
            expected = list(csv.DictReader(fh))
        assert len(got) == len(expected) == 2357
        for row in expected:
            mine = got[row["client_id"]]
            assert mine["frequency"] == float(row["frequency"]), row
            assert mine["recency"] == float(row["recency"]), row
            assert mine["T"] == float(row["T"]), row
            assert math.isclose(
                mine["monetary_value"], float(row["monetary_value"]), rel_tol=1e-9, abs_tol=0
            ), row

    def test_equals_object_path(self, summary: Any) -> None:
        """Every field of every client equals rfm_figures on the same orders."""
        portfolio = build_portfolio(orders=cdnow_orders())
        assert_same_as_objects(summary, rfm_figures_by_client(portfolio, as_of=END))

    def test_columns_and_order(self, summary: Any) -> None:
        """The result has the documented columns and is sorted by client id."""
        assert tuple(summary.column_names) == RFM_COLUMNS
        ids = summary.column("client_id").to_pylist()
        assert ids == sorted(ids)
        assert summary.schema.field("frequency").type == pa.int64()
        assert summary.schema.field("monetary_value").type == pa.float64()

    def test_every_input_form_gives_the_same(self, summary: Any, tmp_path: Path) -> None:
        """CSV, Parquet, pyarrow Table, polars and pandas frames give one result."""
        text = pacsv.read_csv(
            CDNOW,
            convert_options=pacsv.ConvertOptions(
                column_types={"client_id": pa.string(), "placed_at": pa.string()},
                strings_can_be_null=False,
            ),
        )
        typed = pa.table(
            {
                "client_id": text.column("client_id"),
                "placed_at": pc.strptime(
                    text.column("placed_at"), format="%Y-%m-%d", unit="us"
                ).cast(pa.timestamp("us", tz="UTC")),
                "amount": text.column("amount").cast(pa.decimal128(10, 2)),
            }
        )
        pq.write_table(typed, tmp_path / "orders.parquet")
        (tmp_path / "orders.csv.gz").write_bytes(gzip.compress(CDNOW.read_bytes()))
        pandas = pytest.importorskip("pandas")
        inputs = [
            tmp_path / "orders.csv.gz",
            tmp_path / "orders.parquet",
            str(tmp_path / "orders.parquet"),
            typed,
            pl.from_arrow(typed),
            pl.from_arrow(typed).lazy(),
            typed.to_reader(),
            pandas.DataFrame(
                {
                    "client_id": text.column("client_id").to_pylist(),
                    "placed_at": text.column("placed_at").to_pylist(),
                    "amount": [str(x) for x in text.column("amount").to_pylist()],
                }
            ),
        ]
        for source in inputs:
            got = rfm_summary(source, as_of=END, sort=True)
            assert got.select(list(RFM_COLUMNS[:5])).equals(
                summary.select(list(RFM_COLUMNS[:5]))
            ), type(source)

    def test_unsorted_result_has_the_same_rows(self, summary: Any) -> None:
        """By default (sort=False) the rows are the same, in any order."""
        got = rfm_frame(CDNOW, as_of=END).sort("client_id")
        assert got.to_arrow().equals(summary)


class _Nameless(tzinfo):
    """A tz-database zone's rules under no name (polars cannot convert to it)."""

    def __init__(self, key: str) -> None:
        self._zone = ZoneInfo(key)

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return self._zone.utcoffset(None if dt is None else dt.replace(tzinfo=None))

    def dst(self, dt: datetime | None) -> timedelta | None:
        return self._zone.dst(None if dt is None else dt.replace(tzinfo=None))

    def tzname(self, dt: datetime | None) -> str | None:
        return self._zone.tzname(None if dt is None else dt.replace(tzinfo=None))

    def fromutc(self, dt: datetime) -> datetime:
        return self._zone.fromutc(dt.replace(tzinfo=self._zone)).replace(tzinfo=self)

    def __repr__(self) -> str:
        return f"_Nameless({self._zone.key!r})"


class TestRules:
    """The lifetimes rules, as the object path applies them."""

    def test_only_sales_count(self) -> None:
        """Planned, cancelled and returned orders are ignored; delivered ones count."""
        orders = [
            o("a", "c1", at(0), "10"),
            o("b", "c1", at(1), "20", status="delivered"),
            o("c", "c1", at(2), "30", status="planned"),
            o("d", "c1", at(3), "40", status="cancelled"),
            o("e", "c1", at(4), "50", status="returned"),
            o("f", "c2", at(4), "50", status="returned"),
        ]
        got = rows_of(rfm_summary(table_of(orders), as_of=at(10)))
        assert list(got) == ["c1"]
        assert (got["c1"]["frequency"], got["c1"]["monetary_value"]) == (1, 20.0)

    def test_orders_after_as_of_are_dropped_even_on_its_day(self) -> None:
        """An order later on the as_of day than as_of itself does not count."""
        orders = [o("a", "c1", at(0), "10"), o("b", "c1", at(5, 9), "5")]
        orders.append(o("c", "c1", at(5, 15), "7"))
        got = rows_of(rfm_summary(table_of(orders), as_of=at(5, 12)))["c1"]
        assert (got["frequency"], got["T"], got["total_value"]) == (1, 5, Decimal(15))

    def test_days_are_calendar_days_in_tz(self) -> None:
        """23:30 UTC is already the next day in Kyiv: two days there, one in UTC."""
        orders = [o("a", "c1", at(0, 1), "10"), o("b", "c1", at(0, 23.5), "5")]
        utc = rows_of(rfm_summary(table_of(orders), as_of=at(3)))["c1"]
        kyiv = rows_of(rfm_summary(table_of(orders), as_of=at(3), tz="Europe/Kyiv"))["c1"]
        assert (utc["frequency"], utc["purchase_days"]) == (0, 1)
        assert (kyiv["frequency"], kyiv["recency"], kyiv["monetary_value"]) == (1, 1, 5.0)
        fixed = rfm_summary(table_of(orders), as_of=at(3), tz=timezone(timedelta(hours=3)))
        assert rows_of(fixed)["c1"]["frequency"] == 1

    def test_text_times_naive_offset_and_mixed(self) -> None:
        """Naive texts are wall-clock times in tz; offsets are honoured; formats may mix."""
        frame = pl.DataFrame(
            {
                "client_id": ["c1", "c1", "c1", "c2", "c2"],
                "placed_at": [
                    "2024-03-01 23:30:00",
                    "2024-03-02T00:30:00+02:00",
                    "2024-03-04",
                    "2024-03-01T22:00:00Z",
                    "2024-03-02T10:00",
                ],
                "amount": ["1", "2.5", "3.25", "4", "5"],
            }
        )
        got = rows_of(rfm_summary(frame, as_of=at(5), tz="Europe/Kyiv"))
        # c1: Mar 1 (naive, read in Kyiv), Mar 2 (00:30 at +02:00, Kyiv's winter offset), Mar 4.
        assert (got["c1"]["first_day"], got["c1"]["last_day"]) == (
            date(2024, 3, 1),
            date(2024, 3, 4),
        )
        assert got["c1"]["purchase_days"] == 3
        # c2: 22:00 UTC is midnight in Kyiv (UTC+2): Mar 2, the same day as the second.
        assert (got["c2"]["purchase_days"], got["c2"]["total_value"]) == (1, Decimal(9))

    @pytest.mark.parametrize(
        "kyiv",
        [
            ZoneInfo("Europe/Kyiv"),
            _Nameless("Europe/Kyiv"),  # no name polars knows: asked in Python
            timezone(timedelta(hours=5, minutes=45)),  # not a whole hour
        ],
        ids=["zoneinfo", "nameless", "offset"],
    )
    def test_naive_timestamps_are_wall_clock_times_in_tz(self, kyiv: tzinfo) -> None:
        """Naive times read in tz as the readers read them: an ambiguous one is the
        earlier instant (fold=0), one the zone skips is refused, naming the cell."""
        gap = datetime(2024, 3, 31, 3, 30)  # does not exist in Kyiv (03:00 -> 04:00)
        skipped = pl.DataFrame({"client_id": ["c1"], "placed_at": [gap], "amount": ["1"]})
        if isinstance(kyiv, timezone):  # a fixed offset skips no time
            assert rfm_summary(skipped, as_of=at(1000), tz=kyiv).num_rows == 1
        else:
            with pytest.raises(InputError) as caught:
                rfm_summary(skipped, as_of=at(1000), tz=kyiv)
            (problem,) = caught.value.problems
            assert (problem.line, problem.column, problem.value) == (
                1,
                "placed_at",
                "2024-03-31 03:30:00.000000",
            )
            assert "does not exist in time zone" in problem.reason
        walls = [
            datetime(2024, 3, 30, 12, 0),
            datetime(2024, 3, 31, 4, 30),  # just after Kyiv's clocks went forward
            datetime(2024, 10, 27, 3, 30),  # happens twice in Kyiv (04:00 -> 03:00)
            datetime(2024, 10, 28, 0, 10),
        ]
        frame = pl.DataFrame(
            {"client_id": ["c1"] * 4, "placed_at": walls, "amount": ["1", "2", "3", "4"]}
        )
        orders = [
            o(f"o{i}", "c1", wall.replace(tzinfo=kyiv), str(i + 1)) for i, wall in enumerate(walls)
        ]
        for wall in walls:
            for delta in (timedelta(0), timedelta(microseconds=-1)):
                as_of = wall.replace(tzinfo=kyiv) + delta
                expected = rfm_figures_by_client(
                    build_portfolio(orders=orders), as_of=as_of, tz=kyiv
                )
                got = rfm_summary(frame, as_of=as_of, tz=kyiv)
                assert_same_as_objects(got, expected)

    def test_a_client_is_in_one_currency(self) -> None:
        """Two currencies in one client's sales raise; different clients may differ."""
        ok = [o("a", "c1", at(0), "1", currency="EUR"), o("b", "c2", at(0), "1")]
        got = rows_of(rfm_summary(table_of(ok), as_of=at(1)))
        assert (got["c1"]["currency"], got["c2"]["currency"]) == ("EUR", "USD")
        bad = [*ok, o("c", "c1", at(0.5), "1", currency="USD")]
        with pytest.raises(CurrencyMismatchError, match="c1"):
            rfm_summary(table_of(bad), as_of=at(1))

    def test_no_status_column_means_placed(self) -> None:
        """Without a status column every order is a sale."""
        orders = [o("a", "c1", at(0), "1"), o("b", "c1", at(2), "2")]
        got = rows_of(rfm_summary(table_of(orders, status=False), as_of=at(3)))
        assert got["c1"]["frequency"] == 1

    def test_an_empty_status_is_the_record_default(self, tmp_path: Path) -> None:
        """An empty status cell is the Order default (placed: a sale), as io reads it."""
        path = tmp_path / "orders.csv"
        path.write_text(
            "client_id,placed_at,amount,status\n"
            "c1,2024-01-01,1,\nc1,2024-01-03,2,cancelled\nc1,2024-01-05,4,\n",
            encoding="utf-8",
        )
        as_of = datetime(2024, 2, 1, tzinfo=UTC)
        got = rows_of(rfm_summary(path, as_of=as_of))["c1"]
        history = load_history(tmp_path).portfolio["c1"]
        want = rfm_figures(history, as_of=as_of)
        assert want is not None
        assert [o.status.value for o in history.orders] == ["placed", "cancelled", "placed"]
        assert (got["frequency"], got["recency"], got["T"]) == (1, 4, 31)
        assert (got["frequency"], got["recency"], got["T"]) == (
            want.repeat_days,
            want.span_days,
            want.age_days,
        )

    def test_more_decimal_places_than_the_sample_are_kept_exactly(self) -> None:
        """An amount with more decimals than the first rows' is summed exactly."""
        n = 1500
        frame = pl.DataFrame(
            {
                "client_id": ["c1"] * n + ["c2", "c2"],
                "placed_at": [f"2024-01-{1 + i % 28:02d}" for i in range(n)]
                + ["2024-01-01", "2024-01-05"],
                "amount": ["1.25"] * n + ["0.10", "0.0000001"],
            }
        )
        got = rows_of(rfm_summary(frame, as_of=at(0)))
        assert got["c2"]["repeat_value"] == Decimal("0.0000001")
        assert got["c2"]["monetary_value"] == 1e-7

    def test_huge_sums_are_still_correctly_rounded(self) -> None:
        """Beyond 2**53 the mean is recomputed exactly."""
        orders = [
            o("a", "c1", at(0), "1"),
            o("b", "c1", at(1), "123456789012345678.91"),
            o("c", "c1", at(2), "987654321098765432.17"),
        ]
        got = rows_of(rfm_summary(table_of(orders), as_of=at(3)))["c1"]
        exact = Decimal("123456789012345678.91") + Decimal("987654321098765432.17")
        assert got["monetary_value"] == float(exact / 2)


class TestScores:
    """RFM scores and segments: the same as the object path's, portfolio-wide."""

    def test_cdnow_scores_equal_object_path(self, summary: Any) -> None:
        """Every CDNOW client's r, f, m and segment equal rfm_scores on the figures."""
        figures = rfm_figures_by_client(build_portfolio(orders=cdnow_orders()), as_of=END)
        for segments in (None, R_VIGNETTE_RFM_SEGMENTS):
            got = {
                row["client_id"]: (row["r"], row["f"], row["m"], row["segment"])
                for row in rfm_scores(summary, segments=segments).to_pylist()
            }
            kw = {} if segments is None else {"segments": segments}
            expected = {
                cid: (s.r, s.f, s.m, s.segment)
                for cid, s in object_rfm_scores(figures, **kw).items()
            }
            assert got == expected
            assert len({v[3] for v in got.values()}) >= 5

    def test_two_currencies_and_bad_bins_are_refused(self) -> None:
        """Scores never compare money of two currencies; bins must be positive."""
        orders = [o("a", "c1", at(0), "1", currency="EUR"), o("b", "c2", at(0), "1")]
        table = rfm_summary(table_of(orders), as_of=at(1))
        with pytest.raises(CurrencyMismatchError):
            rfm_scores(table)
        with pytest.raises(UsageError, match="bins"):
            rfm_scores(table.filter(pc.equal(table.column("currency"), "USD")), bins=0)


class TestErrors:
    """Bad input is refused with the row, column and value named."""

    def write(self, tmp_path: Path, body: str) -> Path:
        """A CSV file with the contract's header."""
        path = tmp_path / "orders.csv"
        path.write_text("client_id,placed_at,amount,status\n" + body, encoding="utf-8")
        return path

    def test_bad_cells_are_named_with_their_lines(self, tmp_path: Path) -> None:
        """Each bad cell is reported with file, line, column and value, and the reason
        ``load_history`` gives for it (a bad time, amount or status, a missing cell, a
        year out of range); nothing returns."""
        path = self.write(
            tmp_path,
            "c1,2024-01-01,10,placed\n"
            "c1,2024-01-02,-5,placed\n"
            "c2,yesterday,3,placed\n"
            "c3,2024-02-30,abc,placed\n"
            "c4,2024-01-02,1,shipped\n"
            ",2024-01-02,1,placed\n"
            "c5,1850-01-02,,delivered\n",
        )
        with pytest.raises(InputError) as info:
            rfm_summary(path, as_of=at(0))
        found = {(p.line, p.column, p.value) for p in info.value.problems}
        assert found == {
            (3, "amount", "-5"),
            (4, "placed_at", "yesterday"),
            (5, "placed_at", "2024-02-30"),
            (5, "amount", "abc"),
            (6, "status", "shipped"),
            (7, "client_id", None),
            (8, "placed_at", "1850-01-02"),
            (8, "amount", None),
        }
        assert all(p.source == "orders.csv" for p in info.value.problems)
        with pytest.raises(InputError) as loaded:
            load_history(tmp_path, currency="USD")
        assert len(info.value.problems) == len(loaded.value.problems)
        for got, read in zip(info.value.problems, loaded.value.problems, strict=True):
            assert (got.line, got.column, got.value) == (read.line, read.column, read.value)
            # the readers' status reason ends with a hint at --map-value, which
            # rfm_summary does not take
            assert read.reason.startswith(got.reason), (got, read)
            assert got.reason == read.reason or got.column == "status"

    def test_forms_the_readers_accept_are_read(self, tmp_path: Path) -> None:
        """A status in capitals or with blanks and an amount with thousands separators
        are what the readers read them as (they used to be refused here): the same
        figures as the object path on the loaded history."""
        path = self.write(
            tmp_path,
            'c1,2024-01-01,"1,227.78",Delivered\n'
            "c1,2024-01-05,10, PLACED \n"
            "c1,2024-01-09,7,Cancelled\n"
            'c2,2024-01-03,"12,000.50",delivered\n',
        )
        loaded = load_history(tmp_path, currency="USD").portfolio
        expected = rfm_figures_by_client(loaded, as_of=at(30))
        assert_same_as_objects(rfm_summary(path, as_of=at(30)), expected)
        assert rows_of(rfm_summary(path, as_of=at(30)))["c1"]["total_value"] == Decimal("1237.78")

    def test_currency_markers_and_codes_as_the_readers_read_them(self, tmp_path: Path) -> None:
        """A marked amount counts when its marker is the row's currency (the row's
        code, else the default); otherwise it is refused, as is a currency that is
        not a code, each with the readers' reason."""
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount,currency\n"
            "c1,2024-01-01,12.50 EUR, eur\n"
            "c2,2024-01-01,$7,\n",
            encoding="utf-8",
        )
        loaded = load_history(tmp_path, currency="USD").portfolio
        got = rfm_summary(tmp_path / "orders.csv", as_of=at(30), currency="USD")
        assert_same_as_objects(got, rfm_figures_by_client(loaded, as_of=at(30)))
        rows = rows_of(got)
        assert (rows["c1"]["currency"], rows["c1"]["total_value"]) == ("EUR", Decimal("12.50"))
        assert (rows["c2"]["currency"], rows["c2"]["total_value"]) == ("USD", Decimal(7))
        (tmp_path / "orders.csv").write_text(
            "client_id,placed_at,amount,currency\n"
            "c1,2024-01-01,12 EUR,USD\n"
            "c2,2024-01-01,€3,\n"
            "c3,2024-01-01,4,euro\n",
            encoding="utf-8",
        )
        with pytest.raises(InputError) as summary:
            rfm_summary(tmp_path / "orders.csv", as_of=at(30), currency="USD")
        with pytest.raises(InputError) as read:
            load_history(tmp_path, currency="USD")
        assert summary.value.problems == read.value.problems
        assert len(read.value.problems) == 3

    def test_more_bad_cells_than_the_cap_are_the_readers_first(self, tmp_path: Path) -> None:
        """The first problems the readers name (their cap, 100), and that there are more."""
        self.write(tmp_path, "".join(f"c{i},2024-01-01,-{i + 1},placed\n" for i in range(150)))
        with pytest.raises(InputError) as summary:
            rfm_summary(tmp_path / "orders.csv", as_of=at(0))
        with pytest.raises(InputError) as read:
            load_history(tmp_path, currency="USD")
        assert summary.value.problems == read.value.problems
        assert len(summary.value.problems) == 100
        assert summary.value.truncated
        assert read.value.truncated

    @pytest.mark.parametrize(
        "written",
        [
            "2199-12-31T23:00:00-05:00",  # 2200 in UTC: the readers take the year as written
            "1900-01-01T00:30:00+01:00",  # 1899 in UTC
            "2200-01-01T01:00:00+05:00",
            "1899-12-31T23:00:00",
        ],
    )
    def test_the_supported_years_are_those_of_the_time_as_written(self, written: str) -> None:
        """A time at the edge of the supported years is accepted or refused as the
        readers do it: by its year as written, not its year in UTC."""
        frame = pl.DataFrame({"client_id": ["c1"], "placed_at": [written], "amount": ["1"]})
        as_of = datetime(2199, 12, 31, tzinfo=UTC)
        refused: list[str] = []
        try:
            load_records([{"client_id": "c1", "placed_at": written, "amount": "1"}])
        except InputError as read:
            refused = [p.reason for p in read.problems]
        if refused:
            with pytest.raises(InputError) as summary:
                rfm_summary(frame, as_of=as_of)
            assert [p.reason for p in summary.value.problems] == refused
        else:
            rfm_summary(frame, as_of=as_of)  # read (the order may lie after as_of)

    def test_blank_client_ids_are_refused(self) -> None:
        """An id of spaces is no id, as in the object path."""
        frame = pl.DataFrame(
            {"client_id": ["c1", "  "], "placed_at": ["2024-01-01"] * 2, "amount": ["1", "2"]}
        )
        with pytest.raises(InputError) as info:
            rfm_summary(frame, as_of=at(0))
        assert [(p.line, p.column, p.value) for p in info.value.problems] == [
            (2, "client_id", "  ")
        ]
        with pytest.raises(ValidationError):
            Order(order_id="x", client_id="  ", placed_at=T0, amount="1")

    def test_a_bad_row_after_as_of_is_still_refused(self, tmp_path: Path) -> None:
        """Rows the summary would drop are checked too: bad data never passes silently."""
        path = self.write(tmp_path, "c1,2024-01-01,10,placed\nc1,2030-01-02,-1,planned\n")
        with pytest.raises(InputError, match=r"orders\.csv:3"):
            rfm_summary(path, as_of=at(0))

    def test_missing_column(self, tmp_path: Path) -> None:
        """A missing required column is an InputError naming it."""
        path = tmp_path / "orders.csv"
        path.write_text("client_id,amount\nc1,1\n", encoding="utf-8")
        with pytest.raises(InputError, match="placed_at"):
            rfm_summary(path, as_of=at(0))

    def test_float_amounts_are_refused(self) -> None:
        """Money is never a float."""
        frame = pl.DataFrame({"client_id": ["c1"], "placed_at": [T0], "amount": [1.5]})
        with pytest.raises(RecordTypeError, match="amount"):
            rfm_summary(frame, as_of=at(0))

    def test_bad_arguments(self, tmp_path: Path) -> None:
        """A naive as_of, an unknown zone, a missing file and a non-table are refused."""
        with pytest.raises(ValidationError, match="as_of"):
            rfm_summary(CDNOW, as_of=datetime(2024, 1, 1))
        with pytest.raises(UsageError, match="Mars/Olympus"):
            rfm_summary(CDNOW, as_of=END, tz="Mars/Olympus")
        with pytest.raises(UsageError, match="no such file"):
            rfm_summary(tmp_path / "nope.csv", as_of=END)
        with pytest.raises(UsageError, match=r"\.csv"):
            rfm_summary(DATA / "README.md", as_of=END)
        with pytest.raises(RecordTypeError):
            rfm_summary([1, 2, 3], as_of=END)


# --------------------------------------------------------------------------- property

#: Names, fixed offsets of any minutes, and a zone polars has no name for:
#: every zone the object path takes.
ZONES: tuple[tzinfo | str, ...] = (
    "UTC",
    "Europe/Kyiv",
    "America/New_York",
    "Asia/Kolkata",
    timezone(timedelta(hours=5, minutes=45)),
    timezone(-timedelta(hours=3, minutes=30)),
    _Nameless("America/New_York"),
)
STATUSES = ("placed", "delivered", "cancelled", "returned", "planned")


@st.composite
def order_sets(draw: st.DrawFn) -> tuple[list[Order], datetime, tzinfo | str]:
    """Random orders of a few clients over a few weeks, an as_of and a zone."""
    n = draw(st.integers(min_value=0, max_value=40))
    orders = []
    for i in range(n):
        minutes = draw(st.integers(min_value=0, max_value=30 * 24 * 60))
        cents = draw(st.integers(min_value=0, max_value=10**9))
        places = draw(st.integers(min_value=0, max_value=4))
        orders.append(
            Order(
                order_id=f"o{i}",
                client_id=draw(st.sampled_from(("c1", "c2", "c3", "007"))),
                placed_at=T0 + timedelta(minutes=minutes),
                amount=Decimal(cents).scaleb(-places),
                status=draw(st.sampled_from(STATUSES)),
            )
        )
    as_of = T0 + timedelta(minutes=draw(st.integers(min_value=0, max_value=31 * 24 * 60)))
    return orders, as_of, draw(st.sampled_from(ZONES))


class TestAgreesWithObjectPath:
    """A property: for any orders, as_of and zone, both paths give the same figures."""

    @settings(max_examples=60, deadline=None)
    @given(order_sets(), st.sampled_from(("text", "decimal")))
    def test_random_order_sets(
        self, case: tuple[list[Order], datetime, tzinfo | str], amount: str
    ) -> None:
        """Every field of every client equals rfm_figures_by_client."""
        orders, as_of, tz = case
        expected = rfm_figures_by_client(build_portfolio(orders=orders), as_of=as_of, tz=tz)
        if amount == "decimal" and any(x.amount.as_tuple().exponent < -4 for x in orders):
            return  # pragma: no cover - the strategy draws at most 4 places
        got = rfm_summary(table_of(orders, amount=amount), as_of=as_of, tz=tz)
        assert_same_as_objects(got, expected)
        scores = {r["client_id"]: r for r in rfm_scores(got, bins=3).to_pylist()}
        for cid, s in object_rfm_scores(expected, bins=3).items():
            assert (scores[cid]["r"], scores[cid]["f"], scores[cid]["m"]) == (s.r, s.f, s.m)
            assert scores[cid]["segment"] == s.segment


@st.composite
def spelled_cells(draw: st.DrawFn) -> tuple[str, str, str]:
    """An order's time, amount and status as an export may spell them: forms the
    readers accept and forms they refuse."""
    day = date(2024, 3, 1) + timedelta(days=draw(st.integers(-40, 40)))
    hour, minute = draw(st.integers(0, 23)), draw(st.sampled_from((0, 15, 30, 59)))
    when = draw(
        st.sampled_from(
            (
                day.isoformat(),
                f"{day}T{hour:02d}:{minute:02d}:00",
                f"{day} {hour:02d}:{minute:02d}",
                f"{day}T{hour:02d}:{minute:02d}:00Z",
                f"{day}T{hour:02d}:{minute:02d}:00+05:30",
                f"{day}T{hour:02d}:{minute:02d}:00.250000",
                "2024-02-30",
                "yesterday",
            )
        )
    )
    units = draw(st.integers(0, 3_000_000))
    cents = draw(st.integers(0, 99))
    amount = draw(
        st.sampled_from(
            (
                f"{units}.{cents:02d}",
                str(units),
                f"{units:,}.{cents:02d}",
                f"{units}.{cents:02d}5",
                f" {units} ",
                f"-{units + 1}",
                "abc",
                f"{units} EUR",
            )
        )
    )
    word = draw(st.sampled_from((*STATUSES, "shipped")))
    status = draw(st.sampled_from((word, word.upper(), f" {word.title()} ", "")))
    return when, amount, status


class TestReadsAsTheReaders:
    """A property: ``rfm_summary`` on a CSV export accepts what ``load_history``
    accepts, refuses the same cells with the same reasons, and gives the object
    path's figures (its own fast forms only speed up what the readers define)."""

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        rows=st.lists(
            st.tuples(
                st.sampled_from(("c1", "c2", "007", "ACME Corp", "Müller", " ", "\x1c", "")),
                spelled_cells(),
            ),
            min_size=1,
            max_size=12,
        ),
        tz=st.sampled_from(("UTC", "Europe/Kyiv", "America/New_York")),
    )
    def test_random_spellings(
        self, tmp_path_factory: pytest.TempPathFactory, rows: list[Any], tz: str
    ) -> None:
        folder = tmp_path_factory.mktemp("export")
        with (folder / "orders.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(("client_id", "placed_at", "amount", "status"))
            writer.writerows((cid, *cells) for cid, cells in rows)
        as_of = datetime(2024, 3, 20, tzinfo=UTC)
        refused: list[Any] = []
        try:
            loaded = load_history(folder, tz=tz, currency="USD").portfolio
        except InputError as error:
            refused = list(error.problems)
        if refused:
            with pytest.raises(InputError) as summary:
                rfm_summary(folder / "orders.csv", as_of=as_of, tz=tz)
            got = [(p.line, p.column, p.value) for p in summary.value.problems]
            assert got == [(p.line, p.column, p.value) for p in refused]
            for mine, theirs in zip(summary.value.problems, refused, strict=True):
                # the readers' status reason ends with a hint at --map-value
                assert theirs.reason.startswith(mine.reason)
            return
        expected = rfm_figures_by_client(loaded, as_of=as_of, tz=tz)
        assert_same_as_objects(rfm_summary(folder / "orders.csv", as_of=as_of, tz=tz), expected)


class TestResultSchema:
    """The RFM result's columns are declared once: the Arrow schema and the Spark
    recipe's DDL list the same columns, in the order rfm_summary returns them."""

    def test_arrow_schema_and_spark_ddl_agree_with_the_result(self) -> None:
        from relcycle.columnar._rfm import result_schema
        from relcycle.spark import RFM_DECIMAL_SCALE, RFM_SPARK_SCHEMA

        schema = result_schema(pa, scale=RFM_DECIMAL_SCALE)
        got = rfm_summary(table_of([o("a", "c1", at(0), "1")]), as_of=at(1))
        assert got.column_names == list(RFM_COLUMNS) == schema.names
        ddl = dict(part.split(" ") for part in RFM_SPARK_SCHEMA.split(", "))
        assert list(ddl) == schema.names
        spark = {
            pa.string(): "string",
            pa.int64(): "long",
            pa.float64(): "double",
            pa.date32(): "date",
            pa.decimal128(38, RFM_DECIMAL_SCALE): f"decimal(38,{RFM_DECIMAL_SCALE})",
        }
        assert ddl == {field.name: spark[field.type] for field in schema}
        scale = got.schema.field("total_value").type.scale
        assert got.cast(result_schema(pa, scale=scale)).schema == result_schema(pa, scale=scale)
