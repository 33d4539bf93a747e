"""Tests for relcycle.spark: the applyInArrow recipe on a local Spark session.

Marked ``spark``: they need pyspark 4+ and Java 17+, and skip cleanly without them.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from relcycle.errors import UsageError

pytestmark = [
    pytest.mark.spark,
    # pyspark 4.x warns about pandas 3 on import of its Arrow helpers; nothing here uses pandas.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

pa = pytest.importorskip("pyarrow")
pacsv = pytest.importorskip("pyarrow.csv")
pytest.importorskip("polars")
pyspark_sql = pytest.importorskip("pyspark.sql")

import relcycle.spark as rspark  # noqa: E402
from relcycle.columnar import RFM_COLUMNS, rfm_summary  # noqa: E402

DATA = Path(__file__).parent / "data"
CDNOW = DATA / "cdnow_sample_orders.csv"
END = datetime(1998, 6, 30, 23, 59, 59, tzinfo=UTC)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A local one-core Spark session in UTC (skipped without Java)."""
    if shutil.which("java") is None:
        pytest.skip("Java 17+ is not installed")
    # The Python workers must import relcycle: run them with this interpreter.
    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("relcycle-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.pyspark.python", sys.executable)
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()
        if saved is None:
            os.environ.pop("PYSPARK_PYTHON", None)
        else:
            os.environ["PYSPARK_PYTHON"] = saved


@pytest.fixture(scope="module")
def orders() -> Any:
    """The first 600 CDNOW sample orders as a pyarrow table (text columns)."""
    table = pacsv.read_csv(
        CDNOW,
        convert_options=pacsv.ConvertOptions(
            column_types={"client_id": pa.string(), "placed_at": pa.string(), "amount": pa.string()}
        ),
    )
    return table.slice(0, 600)


def rows(table: Any) -> dict[str, tuple[Any, ...]]:
    """A result as {client_id: (every column)}."""
    return {r["client_id"]: tuple(r[c] for c in RFM_COLUMNS) for r in table.to_pylist()}


class TestRfmSummary:
    """The Spark result equals the single-process columnar result."""

    @pytest.mark.parametrize("buckets", [None, 3])
    def test_equals_single_process(self, spark: Any, orders: Any, buckets: int | None) -> None:
        """Per client or per hash bucket, every figure equals rfm_summary's."""
        frame = spark.createDataFrame(orders)
        typed = frame.selectExpr(
            "client_id",
            "to_timestamp(placed_at) AS placed_at",
            "CAST(amount AS DECIMAL(10,2)) AS amount",
        )
        got = rspark.rfm_summary(typed, as_of=END, buckets=buckets).toArrow()
        expected = rfm_summary(orders, as_of=END)
        assert len(got) == len(expected) > 100
        assert rows(got) == rows(expected)

    def test_session_must_be_utc(self, spark: Any, orders: Any) -> None:
        """Another session time zone is refused before anything runs."""
        frame = spark.createDataFrame(orders)
        spark.conf.set("spark.sql.session.timeZone", "Europe/Kyiv")
        try:
            with pytest.raises(UsageError, match="UTC"):
                rspark.rfm_summary(frame, as_of=END)
        finally:
            spark.conf.set("spark.sql.session.timeZone", "UTC")
