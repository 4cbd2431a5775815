"""The Python API: clear a batch, read and validate bids, read a stored run.

``clear`` itself lives in :mod:`econonexus.pipelines.run` (the CLI calls it too).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from econonexus.pipelines.items import ItemsSource, load_items
from econonexus.pipelines.normalize import normalize
from econonexus.pipelines.outputs import read_run as _read_stored
from econonexus.pipelines.readers import Format, read_any, read_source
from econonexus.pipelines.result import ClearingResult
from econonexus.pipelines.run import clear
from econonexus.pipelines.validate import validate
from econonexus.solvers.schemas import BIDS_SCHEMA

__all__ = ["clear", "read_bids", "read_cats", "read_run", "validate_bids"]


def read_bids(source: str | pa.Table | pl.DataFrame, *, format: Format | None = None) -> pa.Table:
    """Read one bid source as written: its records plus ``_source`` and ``_row``.

    CSV columns stay strings (``items`` ``;``-separated); CATS files are
    parsed into bids-schema columns. Use :func:`validate_bids` for the
    checked table.
    """
    raw = read_any(source, name="<table>", format=format)
    return raw.records.to_arrow()


def read_cats(url: str, *, market_id: str | None = None) -> pa.Table:
    """Read a CATS file as a bids table (market: the file name's stem unless given).

    Bad bid lines are dropped here; :func:`clear` keeps them as rejected rows.
    """
    raw = read_source(url, format="cats", market_id=market_id)
    valid, _ = validate(normalize(raw.records, url))
    return valid.select(BIDS_SCHEMA.names).to_arrow().cast(BIDS_SCHEMA)


def validate_bids(
    source: str | pa.Table | pl.DataFrame,
    *,
    items: ItemsSource | None = None,
    format: Format | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate one source; return ``(valid, rejected)`` without clearing."""
    raw = read_any(source, name="<table>", format=format)
    item_table = None if items is None else load_items(items)
    valid, rejected = validate(normalize(raw.records, raw.name), item_table)
    errors = raw.errors.drop("market_id")
    return valid.select(BIDS_SCHEMA.names), pl.concat([rejected, errors]).sort("source", "row")


def read_run(url: str) -> ClearingResult:
    """Read a completed run back from ``url`` (a ``<out>/<run_id>`` location)."""
    return ClearingResult.from_stored(_read_stored(url))
