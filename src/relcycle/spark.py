"""A PySpark recipe: the columnar RFM kernel per client group, through Arrow.

Needs pyspark 4 (for ``GroupedData.applyInArrow``), Java 17+, and relcycle with
the ``arrow`` extra installed on every executor. The orders are grouped by
client (``groupBy("client_id").applyInArrow(...)``) and each group, a pyarrow
Table holding all of one client's orders, goes through the kernel of
:func:`relcycle.columnar.rfm_summary`. ``applyInPandas`` is deliberately not
used: it is slower and it turns timestamps into naive pandas values.

Spark hands timestamps to Arrow in the session time zone, so the session must
run in UTC (``spark.sql.session.timeZone=UTC``); :func:`rfm_summary` checks it.
Calendar days are still those of ``tz``: the kernel converts each instant.

With millions of clients, one Python call per client costs more than the work
itself; pass ``buckets`` to group by a hash of the client id instead: each group
then holds many whole clients and the result is the same.
"""

from __future__ import annotations

import importlib
from datetime import datetime, tzinfo
from typing import Any

from relcycle._zones import resolve_zone
from relcycle.columnar import rfm_frame
from relcycle.columnar._rfm import result_schema, spark_ddl
from relcycle.columnar._source import check_as_of, import_polars
from relcycle.errors import RecordTypeError, UsageError

__all__ = ["RFM_DECIMAL_SCALE", "RFM_SPARK_SCHEMA", "rfm_group", "rfm_summary"]

#: The scale of ``total_value`` and ``repeat_value`` in the Spark result.
RFM_DECIMAL_SCALE = 9

#: The result schema, as a Spark DDL string (from the columns :func:`rfm_summary`
#: declares).
RFM_SPARK_SCHEMA = spark_ddl(scale=RFM_DECIMAL_SCALE)

_BUCKET = "__relcycle_bucket"


def _arrow_schema(pa: Any) -> Any:
    """The Arrow schema of one group's result."""
    return result_schema(pa, scale=RFM_DECIMAL_SCALE, large_strings=False)


def rfm_group(
    table: Any, *, as_of: datetime, tz: tzinfo | str = "UTC", currency: str = "USD"
) -> Any:
    """The RFM figures of the clients in one group (a pyarrow Table of whole clients).

    Args:
        table: A pyarrow Table holding every order of its clients.
        as_of: The moment of observation (aware).
        tz: The time zone whose calendar days are the periods.
        currency: The currency of orders without a ``currency`` column.

    Returns:
        A pyarrow Table in the schema :data:`RFM_SPARK_SCHEMA`.
    """
    pa = importlib.import_module("pyarrow")
    schema = _arrow_schema(pa)
    if _BUCKET in table.column_names:
        table = table.drop_columns([_BUCKET])
    if table.num_rows == 0:
        return schema.empty_table()
    frame = rfm_frame(table, as_of=as_of, tz=tz, currency=currency, sort=True)
    return frame.to_arrow().cast(schema)


def rfm_summary(
    orders: Any,
    *,
    as_of: datetime,
    tz: tzinfo | str = "UTC",
    currency: str = "USD",
    buckets: int | None = None,
) -> Any:
    """lifetimes' RFM summary of every client, computed by Spark.

    Args:
        orders: A Spark DataFrame of orders with the data contract's columns
            (``client_id``, ``placed_at`` as timestamp, date or ISO text,
            ``amount`` as decimal or text; optional ``status``, ``currency``).
        as_of: The moment of observation (aware).
        tz: The time zone whose calendar days are the periods.
        currency: The currency of orders without a ``currency`` column.
        buckets: None to call the kernel once per client
            (``groupBy("client_id")``); a number of hash buckets of the client id
            to call it once per bucket of whole clients (much faster with many
            clients; the same result).

    Returns:
        A lazy Spark DataFrame in the schema :data:`RFM_SPARK_SCHEMA`.

    Raises:
        UsageError: If the session time zone is not UTC, ``tz`` is unknown or
            ``buckets`` is not a positive int.
        RecordTypeError: If ``orders`` is not a Spark DataFrame.
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    check_as_of(as_of)
    resolve_zone(tz)
    import_polars()
    try:
        sql = importlib.import_module("pyspark.sql")
        functions = importlib.import_module("pyspark.sql.functions")
    except ImportError:  # pragma: no cover - exercised only without pyspark
        raise UsageError("relcycle.spark needs pyspark 4 or later: pip install pyspark") from None
    if not isinstance(orders, sql.DataFrame):
        raise RecordTypeError(
            record="orders", field="orders", value=orders, expected="a Spark DataFrame"
        )
    session_tz = orders.sparkSession.conf.get("spark.sql.session.timeZone")
    if session_tz not in ("UTC", "Etc/UTC", "GMT", "Z", "+00:00"):
        raise UsageError(
            f"the Spark session time zone is {session_tz!r}: set "
            "spark.sql.session.timeZone to UTC (the kernel converts to tz itself)"
        )
    if buckets is not None and (type(buckets) is not int or buckets < 1):
        raise UsageError(f"buckets must be a positive int, got {buckets!r}")

    def kernel(table: Any) -> Any:
        return rfm_group(table, as_of=as_of, tz=tz, currency=currency)

    if buckets is None:
        grouped = orders.groupBy("client_id")
    else:
        keyed = orders.withColumn(
            _BUCKET, functions.pmod(functions.xxhash64("client_id"), functions.lit(buckets))
        )
        grouped = keyed.groupBy(_BUCKET)
    return grouped.applyInArrow(kernel, RFM_SPARK_SCHEMA)
