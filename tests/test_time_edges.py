"""Time edge cases: DST gaps and folds in --tz, offsets, leap days, as_of, ties.

Expected instants are computed with the standard library's :mod:`zoneinfo`, never
with dateutil, so these tests say the same thing whichever python-dateutil
version relcycle runs on (CI runs them on 2.9 and on the newest release).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from relcycle.cli import main
from relcycle.errors import InputError
from relcycle.io import load_history, load_records
from relcycle.report import build_report

#: Zones with DST in both hemispheres, a 30-minute shift (Lord Howe), a
#: two-hour one (Troll), a change at midnight (Santiago), a -03:30 zone (St
#: John's) and one without DST.
ZONES = (
    "Europe/Kyiv",
    "America/New_York",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "America/Santiago",
    "America/St_Johns",
    "Asia/Kolkata",
)

ORDERS = "order_id,client_id,placed_at,amount\n"


def _exists(naive: datetime, zone: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def _transitions(zone: ZoneInfo, year: int) -> list[datetime]:
    """The UTC hours in ``year`` just after which the zone's offset changes."""
    out = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    previous = moment.astimezone(zone).utcoffset()
    while moment.year == year:
        moment += timedelta(minutes=30)
        offset = moment.astimezone(zone).utcoffset()
        if offset != previous:
            out.append(moment)
            previous = offset
    return out


def _cli(folder: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(["report", str(folder), "--format", "json", *args])
    return code, out.getvalue(), err.getvalue()


def _folder(tmp_path: Path, text: str, name: str = "orders.csv") -> Path:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


class TestDaylightSavingGaps:
    """A local time that does not exist in --tz is an error naming the cell."""

    @pytest.mark.parametrize(
        ("zone", "local"),
        [
            ("Europe/Kyiv", "2024-03-31T03:30:00"),
            ("America/New_York", "2024-03-10T02:30"),
            ("Australia/Lord_Howe", "2024-10-06T02:15"),
            ("America/Santiago", "2024-09-08"),  # a date alone: midnight does not exist
        ],
    )
    def test_a_local_time_in_a_gap_names_the_cell(
        self, tmp_path: Path, zone: str, local: str
    ) -> None:
        """File, line, column and value of the missing local time are reported; exit 1."""
        assert not _exists(datetime.fromisoformat(local), ZoneInfo(zone))
        folder = _folder(tmp_path, ORDERS + f"1,C,2024-01-01T00:00:00Z,1\n2,C,{local},1\n")
        with pytest.raises(InputError) as caught:
            load_history(folder, tz=zone)
        (problem,) = caught.value.problems
        assert (problem.source, problem.line, problem.column, problem.value) == (
            "orders.csv",
            3,
            "placed_at",
            local,
        )
        assert "does not exist" in problem.reason
        code, out, err = _cli(folder, "--tz", zone)
        assert code == 1
        assert out == ""
        assert "orders.csv:3" in err
        assert "placed_at" in err

    def test_the_same_time_with_an_offset_is_fine(self, tmp_path: Path) -> None:
        """A gap time written with an explicit offset is a real instant and loads."""
        folder = _folder(tmp_path, ORDERS + "1,C,2024-03-31T03:30:00+02:00,1\n")
        (order,) = load_history(folder, tz="Europe/Kyiv").tables.orders
        assert order.placed_at == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)

    def test_as_of_in_a_gap_is_a_usage_error(self, tmp_path: Path) -> None:
        """--as-of naming a local time that does not exist exits 2 and writes nothing."""
        folder = _folder(tmp_path, ORDERS + "1,C,2024-03-30T12:00:00Z,1\n")
        code, out, err = _cli(folder, "--tz", "Europe/Kyiv", "--as-of", "2024-03-31T03:30")
        assert code == 2, out[:200]
        assert out == ""
        assert "as-of" in err


@st.composite
def local_times_near_changes(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and a naive local time within two hours of one of its offset changes."""
    name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(name)
    year = draw(st.integers(2000, 2030))
    changes = _transitions(zone, year)
    if not changes:
        moment = datetime(year, 6, 1, tzinfo=UTC)
    else:
        moment = draw(st.sampled_from(changes))
    shift = timedelta(minutes=draw(st.integers(-120, 120)))
    wall = (moment + shift).astimezone(zone).replace(tzinfo=None)
    wall += timedelta(minutes=draw(st.sampled_from([0, 0, 15, 30, 45, 60, -30, -60])))
    return name, wall


class TestLocalTimesNearChanges:
    """Every local time near a DST change is an error (gap) or the documented instant."""

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=local_times_near_changes())
    def test_gap_is_an_error_fold_is_the_earlier_instant(self, case: tuple[str, datetime]) -> None:
        """Gap: a problem naming the cell. Fold: the earlier instant (fold=0). Else exact."""
        name, wall = case
        zone = ZoneInfo(name)
        text = wall.isoformat()
        row = {"order_id": "1", "client_id": "C", "placed_at": text, "amount": "1"}
        if not _exists(wall, zone):
            with pytest.raises(InputError) as caught:
                load_records([row], tz=name)
            (problem,) = caught.value.problems
            assert (problem.column, problem.value) == ("placed_at", text)
            return
        (order,) = load_records([row], tz=name).tables.orders
        earlier = wall.replace(tzinfo=zone, fold=0)
        # compare in UTC: PEP 495 makes a fold time unequal to every other zone's datetimes
        assert order.placed_at.astimezone(UTC) == earlier.astimezone(UTC)  # fold=0: earlier
        assert order.placed_at.utcoffset() == earlier.utcoffset()
        assert order.placed_at.replace(tzinfo=None) == wall  # the wall time as written

    def test_the_repeated_hour_resolves_to_the_earlier_instant(self) -> None:
        """Kyiv 2024-10-27 03:30 happens twice; relcycle takes the first (+03:00)."""
        (order,) = load_records(
            [{"client_id": "C", "placed_at": "2024-10-27T03:30", "amount": "1"}],
            tz="Europe/Kyiv",
        ).tables.orders
        assert order.placed_at.utcoffset() == timedelta(hours=3)
        assert order.placed_at == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


class TestColumnarRFMReadsLocalTimesAsTheReaders:
    """``rfm_summary`` reads a local time near a DST change as the readers do: a
    skipped one is refused with the readers' reason, any other is cut at ``as_of``
    at its instant to the microsecond (in every form of zone and of column)."""

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=local_times_near_changes(), form=st.sampled_from(["text", "datetime"]))
    def test_gap_refused_else_cut_at_the_instant(
        self, case: tuple[str, datetime], form: str
    ) -> None:
        pl = pytest.importorskip("polars")
        from dateutil import tz as dtz

        from relcycle.columnar import rfm_summary

        name, wall = case
        zone = ZoneInfo(name)
        cell: object = wall.isoformat() if form == "text" else wall
        frame = pl.DataFrame({"client_id": ["C"], "placed_at": [cell], "amount": ["1"]})
        # a zone polars knows by name, and one it does not (asked in Python)
        for tz in (name, dtz.gettz(name)):
            if not _exists(wall, zone):
                with pytest.raises(InputError) as caught:
                    rfm_summary(frame, as_of=datetime(2031, 1, 1, tzinfo=UTC), tz=tz)
                (problem,) = caught.value.problems
                with pytest.raises(InputError) as read:
                    load_records(
                        [{"client_id": "C", "placed_at": wall.isoformat(), "amount": "1"}],
                        tz=tz,
                    )
                assert (problem.column, problem.reason) == (
                    "placed_at",
                    read.value.problems[0].reason,
                )
                continue
            instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
            at = rfm_summary(frame, as_of=instant, tz=tz)
            before = rfm_summary(frame, as_of=instant - timedelta(microseconds=1), tz=tz)
            assert (at.num_rows, before.num_rows) == (1, 0), (name, wall, tz)

    def test_thirty_minute_and_two_hour_gaps(self) -> None:
        """Lord Howe skips 02:00-02:30 and Troll 01:00-03:00: both refused, by cell."""
        pl = pytest.importorskip("polars")
        from relcycle.columnar import rfm_summary

        for zone, wall in (
            ("Australia/Lord_Howe", "2023-10-01T02:15:00"),
            ("Antarctica/Troll", "2023-03-26T01:30:00"),
            ("Antarctica/Troll", "2023-03-26T02:30:00"),
        ):
            frame = pl.DataFrame(
                {"client_id": ["C", "C"], "placed_at": ["2023-01-02", wall], "amount": ["1", "2"]}
            )
            with pytest.raises(InputError) as caught:
                rfm_summary(frame, as_of=datetime(2024, 1, 1, tzinfo=UTC), tz=zone)
            (problem,) = caught.value.problems
            assert (problem.line, problem.column, problem.value) == (2, "placed_at", wall)
            assert f"does not exist in time zone {zone}" in problem.reason

    def test_mixed_forms_and_a_bad_amount_name_only_the_amount(self) -> None:
        """A valid time in another form than the first row's is not called 'not ISO
        8601' because another row has a bad amount."""
        pl = pytest.importorskip("polars")
        from relcycle.columnar import rfm_summary

        frame = pl.DataFrame(
            {
                "client_id": ["C", "C", "D"],
                "placed_at": ["2024-01-01T10:00:00", "2024-03-31T02:30:00+01:00", "2024-02-01"],
                "amount": ["1", "2", "-3"],
            }
        )
        with pytest.raises(InputError) as caught:
            rfm_summary(frame, as_of=datetime(2024, 6, 1, tzinfo=UTC), tz="Europe/Berlin")
        assert [(p.line, p.column, p.value) for p in caught.value.problems] == [(3, "amount", "-3")]


class TestOffsets:
    """Offsets other than UTC keep the instant and the offset they were written with."""

    @pytest.mark.parametrize(
        "text",
        [
            "2024-05-01T09:00:00+05:45",
            "2024-05-01T09:00:00-03:30",
            "2024-05-01T09:00:00+14:00",
            "2024-05-01T09:00:00-12:00",
            "2024-05-01T09:00:00.123456+01:00",
            "2024-05-01 09:00:00+02:00",
            "2024-05-01T09:00:00Z",
        ],
    )
    def test_explicit_offsets_win_over_tz(self, tmp_path: Path, text: str) -> None:
        """A value with an offset ignores --tz and keeps its offset."""
        folder = _folder(tmp_path, ORDERS + f"1,C,{text},1\n")
        expected = datetime.fromisoformat(text.replace("Z", "+00:00"))
        for zone in ("UTC", "America/New_York"):
            (order,) = load_history(folder, tz=zone).tables.orders
            assert order.placed_at == expected
            assert order.placed_at.utcoffset() == expected.utcoffset()

    def test_as_of_in_another_offset_is_the_same_instant(self, tmp_path: Path) -> None:
        """--as-of 12:00+02:00 includes an order at 10:00Z (the same instant)."""
        folder = _folder(tmp_path, ORDERS + "1,C,2024-01-01T00:00Z,5\n2,C,2024-06-01T10:00Z,7\n")
        code, out, err = _cli(folder, "--as-of", "2024-06-01T12:00+02:00")
        assert code == 0, err
        (client,) = json.loads(out)["clients"]
        assert client["orders"] == 2
        assert client["revenue"] == "12"


class TestLeapDays:
    """February 29 exists in leap years only, and day counts cross it correctly."""

    def test_leap_day_loads_and_a_false_one_is_named(self, tmp_path: Path) -> None:
        """2024-02-29 loads; 2023-02-29 is a problem naming line and column."""
        folder = _folder(tmp_path, ORDERS + "1,C,2024-02-29,1\n2,C,2023-02-29,1\n")
        with pytest.raises(InputError) as caught:
            load_history(folder)
        (problem,) = caught.value.problems
        assert (problem.line, problem.column, problem.value) == (3, "placed_at", "2023-02-29")

    def test_day_counts_cross_february_29(self, tmp_path: Path) -> None:
        """Orders on Feb 28 and Mar 1 2024 are 2 days apart; a year later T is 368."""
        folder = _folder(tmp_path, ORDERS + "1,C,2024-02-28,1\n2,C,2024-03-01,1\n")
        code, out, err = _cli(folder, "--as-of", "2025-03-02")
        assert code == 0, err
        (client,) = json.loads(out)["clients"]
        assert client["recency"] == 2
        assert client["T"] == 368
        assert client["frequency"] == 1


class TestAsOfBoundary:
    """Records exactly at as_of are included; a microsecond earlier they are not."""

    @pytest.mark.parametrize("kind", ["orders", "interactions", "complaints"])
    def test_records_at_as_of_are_counted(self, kind: str) -> None:
        """orders/contacts/complaints_open count a record placed exactly at as_of."""
        at = datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=3)))
        base = {"client_id": "C", "placed_at": "2024-01-01T00:00Z", "amount": "1"}
        orders = [base]
        interactions = []
        complaints = []
        if kind == "orders":
            orders.append({"client_id": "C", "placed_at": at.isoformat(), "amount": "2"})
        elif kind == "interactions":
            interactions.append({"client_id": "C", "at": at.isoformat(), "channel": "phone"})
        else:
            complaints.append({"client_id": "C", "opened_at": at.isoformat()})
        loaded = load_records(orders, interactions=interactions, complaints=complaints)
        field = {"orders": "orders", "interactions": "contacts", "complaints": "complaints_open"}
        at_it = build_report(loaded.portfolio, as_of=at.astimezone(UTC))["C"]
        before = build_report(loaded.portfolio, as_of=at - timedelta(microseconds=1))["C"]
        expected = 2 if kind == "orders" else 1
        assert getattr(at_it, field[kind]) == expected
        assert getattr(before, field[kind]) == expected - 1

    def test_default_as_of_is_the_last_record_and_includes_it(self, tmp_path: Path) -> None:
        """Without --as-of the report is as of the last record, which is counted."""
        folder = _folder(
            tmp_path, ORDERS + "1,C,2024-01-01T00:00Z,1\n2,C,2024-02-01T08:00+08:00,2\n"
        )
        code, out, err = _cli(folder)
        assert code == 0, err
        report = json.loads(out)
        assert datetime.fromisoformat(report["as_of"]) == datetime(2024, 2, 1, tzinfo=UTC)
        assert report["clients"][0]["orders"] == 2


@st.composite
def tied_rows(draw: st.DrawFn) -> dict[str, list[dict[str, str]]]:
    """Orders, interactions and complaints sharing a few instants, written in several offsets."""
    instants = draw(
        st.lists(
            st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2024, 1, 1)).map(
                lambda d: d.replace(microsecond=0, tzinfo=UTC)
            ),
            min_size=1,
            max_size=3,
        )
    )
    offsets = [timezone(timedelta(minutes=m)) for m in (0, 120, -210, 345)]

    def moment() -> str:
        return (
            draw(st.sampled_from(instants)).astimezone(draw(st.sampled_from(offsets))).isoformat()
        )

    clients = ["007", "00123"]
    with_ids = draw(st.booleans())
    orders = [
        {
            "order_id": f"O{n}" if with_ids else "",
            "client_id": draw(st.sampled_from(clients)),
            "placed_at": moment(),
            "amount": draw(st.sampled_from(["1", "2.50", "100"])),
            "status": draw(st.sampled_from(["placed", "delivered", "cancelled"])),
        }
        for n in range(draw(st.integers(1, 6)))
    ]
    interactions = [
        {
            "interaction_id": f"I{n}" if with_ids else "",
            "client_id": draw(st.sampled_from(clients)),
            "at": moment(),
            "purpose": draw(
                st.sampled_from(
                    ["inquiry", "escalation", "termination", "reactivation", "referral"]
                )
            ),
            "reason": "",
        }
        for n in range(draw(st.integers(0, 5)))
    ]
    for row in interactions:
        if row["purpose"] == "termination":
            row["reason"] = "price"
    complaints = [
        {
            "complaint_id": f"K{n}" if with_ids else "",
            "client_id": draw(st.sampled_from(clients)),
            "opened_at": moment(),
            "severity": draw(st.sampled_from(["low", "critical"])),
        }
        for n in range(draw(st.integers(0, 4)))
    ]
    return {"orders": orders, "interactions": interactions, "complaints": complaints}


def _write(folder: Path, tables: dict[str, list[dict[str, str]]]) -> None:
    folder.mkdir(parents=True)
    for name, rows in tables.items():
        if not rows and name != "orders":
            continue
        columns = sorted({k for r in rows for k in r}) or ["client_id", "placed_at", "amount"]
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


class TestTies:
    """Records at the same instant give the same report in any input order."""

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(tables=tied_rows(), seed=st.integers(0, 2**16))
    def test_input_order_does_not_matter(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        tables: dict[str, list[dict[str, str]]],
        seed: int,
    ) -> None:
        """Shuffling the rows of every file leaves the JSON report byte for byte the same."""
        root = tmp_path_factory.mktemp("ties")
        shuffled = {name: list(rows) for name, rows in tables.items()}
        rng = random.Random(seed)
        for rows in shuffled.values():
            rng.shuffle(rows)
        _write(root / "a", tables)
        _write(root / "b", shuffled)
        code_a, out_a, err_a = _cli(root / "a")
        code_b, out_b, err_b = _cli(root / "b")
        assert (code_a, err_a) == (code_b, err_b)
        assert out_a == out_b


class TestCalendarEnds:
    """Dates at the ends of the calendar give a clean error, never a traceback."""

    @pytest.mark.parametrize(
        ("value", "zone"),
        [
            ("0001-01-01T00:00", "UTC"),
            ("0001-01-01T00:00", "Europe/Kyiv"),
            ("9999-12-31T23:59:59", "UTC"),
            ("9999-12-31T23:59:59", "America/New_York"),
            ("9999-12-31T23:59:59-05:00", "UTC"),
        ],
    )
    def test_extreme_years_are_a_clean_error_or_a_report(
        self, tmp_path: Path, value: str, zone: str
    ) -> None:
        """The CLI exits 0 or 1 with a message naming the cell; no OverflowError escapes."""
        folder = _folder(tmp_path, ORDERS + f"1,C,{value},1\n")
        code, _, err = _cli(folder, "--tz", zone)
        assert code in (0, 1)
        if code == 1:
            assert "orders.csv:2" in err
            assert "placed_at" in err
