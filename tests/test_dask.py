"""Tests for relcycle.dask: the per-partition kernel on a 2-process LocalCluster."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relcycle.errors import InputError, RecordTypeError, UsageError, ValidationError
from relcycle.io import load_arrow, load_history, write_history
from relcycle.report import build_report
from relcycle.simulate import simulate_portfolio
from relcycle.testing import portfolios

pa = pytest.importorskip("pyarrow")
pacsv = pytest.importorskip("pyarrow.csv")
pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import relcycle.dask as rdask  # noqa: E402
from relcycle.columnar import RFM_COLUMNS, rfm_summary  # noqa: E402
from test_columnar_report import report_policies  # noqa: E402

DATA = Path(__file__).parent / "data"
CDNOW = DATA / "cdnow_sample_orders.csv"
END = datetime(1998, 6, 30, 23, 59, 59, tzinfo=UTC)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A LocalCluster of two worker processes with one thread each (started once)."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",  # a free port, whatever else runs here
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(scope="module")
def orders() -> Any:
    """The CDNOW sample as a pandas frame, rows shuffled so clients span partitions."""
    table = pacsv.read_csv(
        CDNOW,
        convert_options=pacsv.ConvertOptions(
            column_types={"client_id": pa.string(), "placed_at": pa.string(), "amount": pa.string()}
        ),
    )
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    order = list(range(len(frame)))
    random.Random(7).shuffle(order)
    return frame.iloc[order].reset_index(drop=True)


def as_rows(frame: Any) -> dict[str, tuple[Any, ...]]:
    """A pandas result as {client_id: (every column)} with plain Python values."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return {r["client_id"]: tuple(r[c] for c in RFM_COLUMNS) for r in table.to_pylist()}


class TestRfmSummary:
    """The Dask result equals the single-process columnar result."""

    def test_equals_single_process(self, client: Any, orders: Any) -> None:
        """Every client's figures equal rfm_summary's, with clients spread over 4 partitions."""
        ddf = dd.from_pandas(orders, npartitions=4)
        result = rdask.rfm_summary(ddf, as_of=END)
        assert list(result.columns) == list(RFM_COLUMNS)
        got = result.compute()
        expected = rfm_summary(CDNOW, as_of=END).to_pylist()
        assert len(got) == len(expected) == 2357
        assert as_rows(got) == {r["client_id"]: tuple(r[c] for c in RFM_COLUMNS) for r in expected}

    def test_partitions_hold_whole_clients(self, client: Any, orders: Any) -> None:
        """After the shuffle no client appears in two partitions (one row per client)."""
        ddf = dd.from_pandas(orders, npartitions=3)
        result = rdask.rfm_summary(ddf, as_of=END, npartitions=5)
        assert result.npartitions == 5
        ids = result["client_id"].compute()
        assert ids.is_unique
        assert len(ids) == 2357

    def test_decimal_sums_are_exact(self, client: Any) -> None:
        """Amounts of 0.1 add up exactly, whatever partition they land in."""
        frame = pd.DataFrame(
            {
                "client_id": ["a"] * 30 + ["b"] * 3,
                "placed_at": [f"2024-01-{d:02d}" for d in range(1, 31)]
                + ["2024-01-01", "2024-01-02", "2024-01-02"],
                "amount": ["0.1"] * 30 + ["1", "0.1", "0.2"],
            }
        ).astype(pd.ArrowDtype(pa.string()))
        got = rdask.rfm_summary(
            dd.from_pandas(frame, npartitions=3), as_of=datetime(2024, 2, 1, tzinfo=UTC)
        ).compute()
        rows = as_rows(got)
        total = RFM_COLUMNS.index("total_value")
        assert rows["a"][total] == Decimal("3.0")
        assert rows["b"][RFM_COLUMNS.index("repeat_value")] == Decimal("0.3")
        assert rows["b"][RFM_COLUMNS.index("monetary_value")] == 0.3

    def test_bad_rows_fail_the_computation(self, client: Any) -> None:
        """A bad row on a worker surfaces as the same InputError on the client."""
        frame = pd.DataFrame(
            {
                "client_id": ["a", "b"],
                "placed_at": ["2024-01-01", "2024-01-02"],
                "amount": ["1", "-1"],
            }
        ).astype(pd.ArrowDtype(pa.string()))
        result = rdask.rfm_summary(
            dd.from_pandas(frame, npartitions=2), as_of=datetime(2024, 2, 1, tzinfo=UTC)
        )
        with pytest.raises(InputError, match="must be >= 0"):
            result.compute()

    def test_arguments_are_checked_before_anything_runs(self, orders: Any) -> None:
        """A naive as_of or a pandas frame is refused at once, not on the cluster."""
        ddf = dd.from_pandas(orders, npartitions=2)
        with pytest.raises(ValidationError):
            rdask.rfm_summary(ddf, as_of=datetime(2024, 1, 1))
        with pytest.raises(RecordTypeError):
            rdask.rfm_summary(orders, as_of=END)


@pytest.fixture(scope="module")
def history_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated portfolio of 60 clients (every segment and story) as Parquet tables."""
    folder = tmp_path_factory.mktemp("history")
    write_history(simulate_portfolio(60, seed=3), folder, format="parquet")
    return folder


class TestBuildReport:
    """The Dask report equals the single-process report, portfolio-wide parts included."""

    def test_equals_single_process(self, client: Any, history_folder: Path) -> None:
        """Every client record (value class and RFM scores too) and the summary are equal."""
        as_of = datetime(2025, 1, 15, tzinfo=UTC)  # records after it exist
        expected = build_report(load_history(history_folder).portfolio, as_of=as_of)
        tables = {
            name: dd.read_parquet(history_folder / f"{name}.parquet").repartition(npartitions=3)
            for name in ("orders", "interactions", "complaints", "clients")
        }
        got = rdask.build_report(tables.pop("orders"), as_of=as_of, npartitions=4, **tables)
        assert len(got.clients) == len(expected.clients) == 60
        assert got.clients == expected.clients
        assert got.summary == expected.summary
        assert got == expected
        # The portfolio-wide parts really are portfolio-wide: several classes and scores.
        assert len({c.value_class for c in got.clients}) == 3
        assert len({c.rfm.r for c in got.clients if c.rfm.r is not None}) >= 4

    def test_a_lost_client_scored_on_its_active_life(self, client: Any, tmp_path: Path) -> None:
        """A client that ended the relationship and then placed one big order (a
        trailing order, not a win-back) is scored on its sales up to the loss, as
        every engine scores it; every other client's quantile scores depend on it.

        The partitions used to score sales up to the moment, with a rule of their
        own: the client was r=5, m=5 here and every other client's r and m moved.
        """
        from relcycle.history import ClientHistory, Portfolio
        from relcycle.model import Client, Interaction, Order

        start = datetime(2023, 1, 1, tzinfo=UTC)
        histories = []
        for k in range(6):
            cid = f"c{k}"
            records: list[Any] = [
                Order(
                    order_id=f"{cid}-o{j}",
                    client_id=cid,
                    placed_at=start + timedelta(days=30 * j + k),
                    amount=Decimal(100 + 10 * k),
                )
                for j in range(k + 1)
            ]
            if k == 0:
                records.append(
                    Interaction(
                        interaction_id="end",
                        client_id=cid,
                        at=start + timedelta(days=10),
                        purpose="termination",
                    )
                )
                records.append(
                    Order(
                        order_id="c0-late",
                        client_id=cid,
                        placed_at=start + timedelta(days=300),
                        amount=Decimal(100000),
                    )
                )
            histories.append(ClientHistory.of(Client(client_id=cid), records))
        portfolio = Portfolio(tuple(histories))
        as_of = start + timedelta(days=400)
        expected = build_report(portfolio, as_of=as_of)
        write_history(portfolio, tmp_path, format="parquet")
        tables = {
            name: dd.read_parquet(tmp_path / f"{name}.parquet")
            for name in ("orders", "interactions", "clients")
        }
        got = rdask.build_report(tables.pop("orders"), as_of=as_of, npartitions=2, **tables)
        lost = expected.clients[0]
        assert lost.lifecycle_stage.value == "lost"
        assert (lost.rfm.r, lost.rfm.m, lost.rfm.segment) == (1, 1, "Lost")
        assert [c.rfm for c in got.clients] == [c.rfm for c in expected.clients]
        assert got == expected

    def test_a_moment_before_every_record_is_said(self, client: Any, history_folder: Path) -> None:
        """The report's warnings are assemble's own: a moment before every record."""
        as_of = datetime(1990, 1, 1, tzinfo=UTC)
        expected = build_report(load_history(history_folder).portfolio, as_of=as_of)
        orders = dd.read_parquet(history_folder / "orders.parquet")
        clients = dd.read_parquet(history_folder / "clients.parquet")
        got = rdask.build_report(orders, as_of=as_of, clients=clients, npartitions=3)
        assert "is before every record" in got.warnings[0]
        assert got.warnings == expected.warnings
        assert got == expected

    def test_orders_alone(self, client: Any, history_folder: Path) -> None:
        """A plain transaction log works too (clients inferred)."""
        as_of = datetime(2025, 6, 1, tzinfo=UTC)
        orders = dd.read_parquet(history_folder / "orders.parquet")
        expected = build_report(load_arrow(orders.compute()).portfolio, as_of=as_of)
        got = rdask.build_report(orders, as_of=as_of, npartitions=2)
        assert got == expected


class TestProblemsNameTheInputRow:
    """A bad row is named by its place in the input, not in a shuffled partition."""

    def test_a_csv_file_read_in_blocks(self, client: Any, orders: Any, tmp_path: Path) -> None:
        """The CDNOW sample, rows shuffled, read in many blocks: one client's bad
        rows, spread over the file, are named by their lines, exactly as the
        object path names them, and the message is the object path's."""
        frame = orders.astype(str)
        target = frame["client_id"].value_counts().index[0]  # the busiest client
        rows = frame.index[frame["client_id"] == target]
        assert len(rows) >= 5
        frame.loc[rows[::2], "amount"] = "-1"  # every other one of its orders
        folder = tmp_path / "bad"
        folder.mkdir()
        frame.to_csv(folder / "orders.csv", index=False)
        with pytest.raises(InputError) as single:
            load_history(folder)
        lines = {f"orders.csv:{row + 2}:" for row in rows[::2]}
        assert {line.split(" ")[0] for line in str(single.value).splitlines()[1:]} == lines
        table = dd.read_csv(
            folder / "orders.csv", dtype=str, blocksize=20_000, keep_default_na=False
        )
        assert table.npartitions >= 5
        with pytest.raises(InputError) as got:
            rdask.build_report(
                table, as_of=END, npartitions=3, sources={"orders": ("orders.csv", 1)}
            )
        assert str(got.value) == str(single.value)

    def test_a_frame_names_its_rows(self, client: Any) -> None:
        """Without ``sources``, a row is named by its 1-based place in the frame
        (as :func:`relcycle.io.load_arrow` names a frame's rows)."""
        frame = pd.DataFrame(
            {
                "client_id": [f"c{i % 5}" for i in range(40)],
                "placed_at": ["2024-01-01"] * 40,
                "amount": ["1"] * 39 + ["x"],
            }
        )
        with pytest.raises(InputError, match=r"(?m)^orders:40: column amount: value 'x'"):
            rdask.build_report(
                dd.from_pandas(frame, npartitions=4, sort=False), as_of=END, npartitions=3
            )

    def test_the_default_currency_is_said_once_for_all_partitions(self, client: Any) -> None:
        """Orders without a currency, over several partitions: one warning counting
        every row read in USD, as load_history says it."""
        frame = pd.DataFrame(
            {
                "client_id": [f"c{i % 7}" for i in range(40)],
                "placed_at": ["2024-01-01"] * 40,
                "amount": ["1"] * 40,
            }
        )
        got = rdask.build_report(
            dd.from_pandas(frame, npartitions=4, sort=False), as_of=END, npartitions=3
        )
        loaded = load_arrow(frame)
        assert loaded.defaulted_currency == 40
        assert got.warnings == (
            *loaded.warnings,
            *build_report(loaded.portfolio, as_of=END).warnings,
        )
        assert got.warnings[0].startswith("40 row(s) have no currency")
        named = rdask.build_report(dd.from_pandas(frame, npartitions=2), as_of=END, currency="USD")
        assert not any("no currency" in w for w in named.warnings)

    def test_every_partitions_problems_are_said(self, client: Any) -> None:
        """Bad rows of clients put in different partitions: every one is named, in
        the input's order, as one process's load names them (the first partition
        to fail used to hide the others'); a table's own problem is said once."""
        frame = pd.DataFrame(
            {
                "client_id": [f"c{i % 10}" for i in range(40)],
                "placed_at": ["2024-01-01"] * 40,
                "amount": ["x" if i in (4, 16, 32, 35) else "1" for i in range(40)],
            }
        )
        # not a column of the contract: a problem of the table, in every partition
        unknown = frame.assign(note="?")
        for table, problems in ((frame, 4), (unknown, 1)):
            with pytest.raises(InputError) as single:
                load_arrow(table)
            assert len(single.value.problems) == problems
            with pytest.raises(InputError) as got:
                rdask.build_report(
                    dd.from_pandas(table, npartitions=4, sort=False), as_of=END, npartitions=5
                )
            assert str(got.value) == str(single.value)

    def test_more_problems_than_the_cap_are_the_loaders_first(self, client: Any) -> None:
        """More bad rows than the loader names (its cap) spread over partitions: the
        problems said are the first ones of the input, as one process says them,
        and the error says there are more. (Each partition stops at the cap, but the
        input's first problems are among each partition's first ones.)"""
        n = 400
        bad = set(random.Random(7).sample(range(n), 260))
        frame = pd.DataFrame(
            {
                "client_id": [f"c{i % 37}" for i in range(n)],
                "placed_at": ["2024-01-01"] * n,
                "amount": ["x" if i in bad else "1" for i in range(n)],
            }
        )
        with pytest.raises(InputError) as single:
            load_arrow(frame)
        assert single.value.truncated
        with pytest.raises(InputError) as got:
            rdask.build_report(
                dd.from_pandas(frame, npartitions=3, sort=False), as_of=END, npartitions=6
            )
        assert got.value.truncated
        assert str(got.value) == str(single.value)

    def test_a_duplicate_id_of_different_clients_is_refused(self, client: Any) -> None:
        """An id that rows of different clients share is refused whichever partitions
        the clients land in, with the problems the single-process loader names (it
        used to pass when the clients were put in different partitions, and the
        report counted the order once for each client)."""
        ids = [f"O{i}" for i in range(30)]
        ids[11] = ids[25] = ids[3]  # three clients' rows
        frame = pd.DataFrame(
            {
                "order_id": ids,
                "client_id": [f"c{i}" for i in range(30)],
                "placed_at": ["2024-01-01"] * 30,
                "amount": ["1"] * 30,
            }
        )
        interactions = pd.DataFrame(
            {
                "interaction_id": [17, 4, 17],  # integer ids, read as their digits
                "client_id": ["c1", "c2", "c3"],
                "at": ["2024-01-02"] * 3,
                "channel": ["email"] * 3,
                "purpose": ["inquiry"] * 3,
                "direction": ["inbound"] * 3,
            }
        )
        with pytest.raises(InputError) as single:
            load_arrow(frame, interactions=interactions)
        assert len(single.value.problems) == 5
        for npartitions in (1, 4, 7):
            with pytest.raises(InputError) as got:
                rdask.build_report(
                    dd.from_pandas(frame, npartitions=3, sort=False),
                    interactions=dd.from_pandas(interactions, npartitions=2, sort=False),
                    as_of=END,
                    npartitions=npartitions,
                )
            assert str(got.value) == str(single.value)
        with pytest.raises(InputError, match=r"(?m)^orders.csv:5: .*\(also at orders.csv:13\)$"):
            rdask.build_report(
                dd.from_pandas(frame, npartitions=3, sort=False),
                as_of=END,
                npartitions=7,
                sources={"orders": ("orders.csv", 1)},
            )

    def test_rows_without_an_id_are_not_duplicates(self, client: Any) -> None:
        """Empty and missing id cells name no id (the loader's ``names_id``): the
        loader generates each row's id, on every partition as in one process."""
        frame = pd.DataFrame(
            {
                "order_id": ["", None, "", None, "O1", ""],
                "client_id": ["c1", "c2", "c3", "c4", "c5", "c1"],
                "placed_at": [f"2024-0{1 + i // 5}-0{1 + i % 3}" for i in range(6)],
                "amount": ["1", "2", "3", "4", "5", "6"],
            }
        )
        as_of = END.replace(year=2024)
        loaded = load_arrow(frame, currency="USD").portfolio
        expected = build_report(loaded, as_of=as_of, currency="USD")
        for npartitions in (1, 3):
            got = rdask.build_report(
                dd.from_pandas(frame, npartitions=2, sort=False),
                as_of=as_of,
                currency="USD",
                npartitions=npartitions,
            )
            assert got == expected

    def test_an_export_read_with_its_own_headers_and_forms(self, client: Any) -> None:
        """``rename``, ``parse`` and ``extra_columns`` read a CRM's frame as
        :func:`load_arrow` reads it: the partitions follow the mapped client
        column, the report equals one process's, and a duplicate of the mapped
        id column is named by the frame's header."""
        from relcycle.io import ParseOptions

        frame = pd.DataFrame(
            {
                "Nr": [f"N{i}" for i in range(40)],
                "Kunde": [f"k{i % 9}" for i in range(40)],
                "Datum": [f"{1 + i % 28:02d}.03.2024" for i in range(40)],
                "Betrag": [f"{i},50" for i in range(40)],
                "Status": ["erledigt" if i % 5 else "storniert" for i in range(40)],
                "Region": ["Nord"] * 40,
            }
        )
        options: dict[str, Any] = {
            "rename": {"orders": {"order_id": "Nr", "client_id": "Kunde", "status": "Status"}}
        }
        options["rename"]["*"] = {"placed_at": "Datum", "amount": "Betrag"}
        options["parse"] = ParseOptions(
            day_first=True,
            decimal_comma=True,
            values={"orders": {"status": {"erledigt": "delivered", "storniert": "cancelled"}}},
        )
        options["extra_columns"] = "ignore"
        moment = datetime(2024, 6, 30, tzinfo=UTC)
        single = build_report(load_arrow(frame, currency="EUR", **options).portfolio, as_of=moment)
        got = rdask.build_report(
            dd.from_pandas(frame, npartitions=3, sort=False),
            as_of=moment,
            currency="EUR",
            npartitions=4,
            **options,
        )
        assert got.to_json() == single.to_json()
        assert {c.client_id for c in got.clients} == {f"k{i}" for i in range(9)}
        frame.loc[33, "Nr"] = "N2"  # clients k6 and k2
        with pytest.raises(InputError) as one:
            load_arrow(frame, currency="EUR", **options)
        with pytest.raises(InputError) as dask:
            rdask.build_report(
                dd.from_pandas(frame, npartitions=3, sort=False),
                as_of=moment,
                currency="EUR",
                npartitions=4,
                **options,
            )
        assert str(dask.value) == str(one.value)
        assert "orders:3: column Nr: value 'N2': duplicate id (also at orders:34)" in str(one.value)

    def test_sources_are_checked(self, orders: Any) -> None:
        """A sources entry that is not (name, lines before the first row) is refused."""
        table = dd.from_pandas(orders, npartitions=2)
        for bad in ({"order": ("orders.csv", 1)}, {"orders": ("orders.csv", -1)}):
            with pytest.raises(UsageError, match="sources"):
                rdask.build_report(table, as_of=END, sources=bad)


class TestRandomPortfolios:
    """Random histories, moments and policies: the Dask report equals the object path's.

    Run on the synchronous scheduler (the partitions and the driver's steps are
    the same code; the LocalCluster tests above cover the cluster)."""

    # dask's parquet reader calls reset_index(inplace=True) on an empty table, which
    # pandas 3.1 deprecates: dask's warning, not relcycle's
    @pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        portfolio=portfolios(min_clients=1, max_clients=6, max_records=10, currency="USD"),
        policies=report_policies(),
        data=st.data(),
    )
    def test_equals_object_path(self, portfolio: Any, policies: Any, data: st.DataObject) -> None:
        import tempfile

        import dask

        last = portfolio.last_moment or datetime(2020, 1, 1, tzinfo=UTC)
        as_of = last + timedelta(days=data.draw(st.integers(-500, 400)))
        npartitions = data.draw(st.integers(1, 3))
        kwargs: dict[str, Any] = {} if policies is None else {"policies": policies}
        want = build_report(portfolio, as_of=as_of, **kwargs)
        with tempfile.TemporaryDirectory() as folder:
            written = {p.stem: p for p in write_history(portfolio, folder, format="parquet")}
            tables = {name: dd.read_parquet(path) for name, path in written.items()}
            # the tasks shuffle: with the module's LocalCluster client alive, dask
            # would pick the p2p shuffle, which needs the cluster's workers
            with dask.config.set({"scheduler": "synchronous", "dataframe.shuffle.method": "tasks"}):
                got = rdask.build_report(
                    tables.pop("orders"), as_of=as_of, npartitions=npartitions, **kwargs, **tables
                )
        assert [c.client_id for c in got.clients] == [c.client_id for c in want.clients]
        for mine, theirs in zip(got.clients, want.clients, strict=True):
            assert mine.to_record() == theirs.to_record(), mine.client_id
        assert got.warnings == want.warnings
        assert got.summary == want.summary
        assert got == want
