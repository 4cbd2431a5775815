"""The Python API: clear a batch, read bids, read a stored run."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pyarrow as pa
from distributed import Client

from econonexus.pipelines.cats import parse_cats
from econonexus.pipelines.items import ItemsSource, load_items
from econonexus.pipelines.normalize import normalize
from econonexus.pipelines.outputs import read_run as _read_stored
from econonexus.pipelines.readers import Format, read_bytes, read_source, table_source
from econonexus.pipelines.result import ClearingResult
from econonexus.pipelines.run import BidSource, clear_batch
from econonexus.pipelines.validate import validate
from econonexus.solvers.schemas import BIDS_SCHEMA, SolverName


def clear(
    source: BidSource | Sequence[BidSource],
    *,
    items: ItemsSource | None = None,
    client: Client | str | None = None,
    solver: SolverName | None = None,
    time_limit: float | None = None,
    gap: float | None = None,
    run_id: str | None = None,
    out: str | None = None,
    format: Format | None = None,
    workers: int | None = None,
) -> ClearingResult:
    """Clear a batch of bids on a Dask cluster and return the result.

    Parameters
    ----------
    source
        A path or fsspec URL (Parquet, CSV, Arrow IPC or CATS), a
        ``pyarrow.Table``, a Polars DataFrame, or a list of them.
    items
        Optional items table (URL or table): supply and reserve price per
        item and market. Without one every item has supply 1 and reserve 0.
    client
        A ``distributed.Client``, a scheduler address, or ``None`` (the
        current client, else a new multi-process ``LocalCluster``).
    solver
        MIP backend, ``"cbc"`` or ``"highs"`` (default: setting
        ``econonexus.solver.backend``).
    time_limit
        Seconds per component before the solver stops with its best
        allocation (status ``time_limit``); ``None`` for no limit.
    gap
        Relative MIP gap at which to stop; 0 (default) proves optimality.
    run_id
        The run's id; default: UTC time plus a hash of inputs and settings.
        With ``out``, a stored run of that id and the same inputs is returned
        without recomputing; with other inputs it is refused.
    out
        Where to write ``<out>/<run_id>/``; ``None`` writes nothing.
    format
        Override the format implied by the extensions.
    workers
        Workers of the ``LocalCluster`` started when no cluster is given.

    Returns
    -------
    ClearingResult
        ``allocations``, ``summary``, ``rejected`` and ``events`` as Polars
        DataFrames, the ``manifest``, and ``write(url)``.

    Examples
    --------
    >>> result = econonexus.clear("data/bids.csv", items="data/items.csv")  # doctest: +SKIP
    >>> result.summary.select("market_id", "status", "welfare")  # doctest: +SKIP
    """
    return clear_batch(
        source,
        items=items,
        client=client,
        solver=solver,
        time_limit=time_limit,
        gap=gap,
        run_id=run_id,
        out=out,
        format=format,
        workers=workers,
    )


def read_bids(source: str | pa.Table | pl.DataFrame, *, format: Format | None = None) -> pa.Table:
    """Read one bid source as written: its records plus ``_source`` and ``_row``.

    CSV columns stay strings (``items`` ``;``-separated); CATS files are
    parsed into bids-schema columns. Use :func:`validate_bids` for the
    checked table.
    """
    raw = (
        read_source(source, format=format)
        if isinstance(source, str)
        else table_source(source, "<table>")
    )
    return raw.records.to_arrow()


def read_cats(url: str, *, market_id: str | None = None) -> pa.Table:
    """Read a CATS file as a bids table (market: the file name's stem unless given).

    Bad bid lines are dropped here; :func:`clear` keeps them as rejected rows.
    """
    text = read_bytes(url).decode("utf-8")
    stem = url.rstrip("/").rsplit("/", 1)[-1].split(".")[0]
    bids, _ = parse_cats(text, source=url, market_id=market_id or stem)
    valid, _ = validate(normalize(bids, url))
    return valid.select(BIDS_SCHEMA.names).to_arrow().cast(BIDS_SCHEMA)


def validate_bids(
    source: str | pa.Table | pl.DataFrame,
    *,
    items: ItemsSource | None = None,
    format: Format | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate one source; return ``(valid, rejected)`` without clearing."""
    raw = (
        read_source(source, format=format)
        if isinstance(source, str)
        else table_source(source, "<table>")
    )
    item_table = None if items is None else load_items(items)
    valid, rejected = validate(normalize(raw.records, raw.name), item_table)
    errors = raw.errors.drop("market_id")
    return valid.select(BIDS_SCHEMA.names), pl.concat([rejected, errors]).sort("source", "row")


def read_run(url: str) -> ClearingResult:
    """Read a completed run back from ``url`` (a ``<out>/<run_id>`` location)."""
    return ClearingResult.from_stored(_read_stored(url))
