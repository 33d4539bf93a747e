"""Scale-out on Dask: the columnar kernel run per client partition of a Dask DataFrame.

Needs the ``dask`` extra (``dask[dataframe,distributed]``, pyarrow, polars),
imported only when a function here runs. The orders are shuffled on
``client_id`` so that every partition holds whole clients; the kernel of
:func:`relcycle.columnar.rfm_summary` then runs on each partition independently
(no data moves after the shuffle), and the results form a Dask DataFrame with
one row per client. Because a client never spans two partitions, the figures
are exactly those of the single-process run.

On a cluster, relcycle (with the ``arrow`` extra) must be installed on every
worker, in the same version as on the client: the kernel is shipped by
reference (module and function name), not by value. See the "scale" page.
"""

from __future__ import annotations

import importlib
from datetime import datetime, tzinfo
from typing import Any

from relcycle.columnar import RFM_COLUMNS, rfm_frame
from relcycle.columnar._source import check_as_of, import_polars, zone_name
from relcycle.errors import RecordTypeError, UsageError

__all__ = ["RFM_DECIMAL_SCALE", "rfm_partition", "rfm_summary"]

#: The scale of ``total_value`` and ``repeat_value`` in the Dask result: every
#: partition must return the same dtype, whatever scale its amounts were read at.
RFM_DECIMAL_SCALE = 9


def _import() -> tuple[Any, Any, Any]:
    try:
        dd = importlib.import_module("dask.dataframe")
        pd = importlib.import_module("pandas")
        pa = importlib.import_module("pyarrow")
    except ImportError:  # pragma: no cover - the extra is installed in the test env
        raise UsageError(
            "relcycle.dask needs dask, pandas and pyarrow: pip install 'relcycle[dask]'"
        ) from None
    return dd, pd, pa


def _schema(pa: Any) -> Any:
    """The Arrow schema of one partition's result."""
    dec = pa.decimal128(38, RFM_DECIMAL_SCALE)
    types = {
        "client_id": pa.large_string(),
        "frequency": pa.int64(),
        "recency": pa.int64(),
        "T": pa.int64(),
        "monetary_value": pa.float64(),
        "purchase_days": pa.int64(),
        "total_value": dec,
        "repeat_value": dec,
        "first_day": pa.date32(),
        "last_day": pa.date32(),
        "currency": pa.large_string(),
    }
    return pa.schema([(name, types[name]) for name in RFM_COLUMNS])


def rfm_partition(
    part: Any, *, as_of: datetime, tz: tzinfo | str = "UTC", currency: str = "USD"
) -> Any:
    """The RFM figures of the clients of one pandas partition (all of their orders).

    This is the function :func:`rfm_summary` maps over the partitions; it is
    public so that other engines (a process pool, Ray, ...) can run it the same way.

    Args:
        part: A pandas DataFrame holding every order of its clients.
        as_of: The moment of observation (aware).
        tz: The time zone whose calendar days are the periods.
        currency: The currency of orders without a ``currency`` column.

    Returns:
        A pandas DataFrame with the columns of
        :func:`relcycle.columnar.rfm_summary` (Arrow-backed dtypes, decimals at
        scale :data:`RFM_DECIMAL_SCALE`), sorted by client id.

    Raises:
        InputError: Bad rows in the partition (see :func:`relcycle.columnar.rfm_summary`).
    """
    _, pd, pa = _import()
    schema = _schema(pa)
    if len(part) == 0:
        return schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    table = pa.Table.from_pandas(part, preserve_index=False)
    frame = rfm_frame(table, as_of=as_of, tz=tz, currency=currency, sort=True)
    return frame.to_arrow().cast(schema).to_pandas(types_mapper=pd.ArrowDtype)


def rfm_summary(
    orders: Any,
    *,
    as_of: datetime,
    tz: tzinfo | str = "UTC",
    currency: str = "USD",
    npartitions: int | None = None,
) -> Any:
    """lifetimes' RFM summary of every client, computed on a Dask cluster.

    Args:
        orders: A Dask DataFrame of orders with the data contract's columns
            (``client_id``, ``placed_at``, ``amount``; optional ``status`` and
            ``currency``); ``amount`` as text or decimal (Arrow-backed), never float.
        as_of: The moment of observation (aware).
        tz: The time zone whose calendar days are the periods.
        currency: The currency of orders without a ``currency`` column.
        npartitions: The number of client partitions after the shuffle (default:
            as many as ``orders`` has).

    Returns:
        A lazy Dask DataFrame with one row per client and the columns of
        :func:`relcycle.columnar.rfm_summary`; each partition is sorted by
        client id. Call ``.compute()`` for a pandas DataFrame.

    Raises:
        RecordTypeError: If ``orders`` is not a Dask DataFrame.
        UsageError: If ``tz`` is unknown.
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    dd, pd, pa = _import()
    check_as_of(as_of)
    zone_name(tz)
    import_polars()
    if not isinstance(orders, dd.DataFrame):
        raise RecordTypeError(
            record="orders", field="orders", value=orders, expected="a dask DataFrame"
        )
    by_client = orders.shuffle(on="client_id", npartitions=npartitions)
    meta = _schema(pa).empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    return by_client.map_partitions(
        rfm_partition, as_of=as_of, tz=tz, currency=currency, meta=meta, align_dataframes=False
    )
