"""The Python API: clear a batch, read and validate bids, read a stored run.

``clear`` itself lives in :mod:`econonexus.pipelines.graph.run` (the CLI calls it too).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from econonexus._core.errors import InputError
from econonexus._core.schemas import BIDS_SCHEMA
from econonexus.pipelines.graph.run import clear
from econonexus.pipelines.io.items import ItemsSource, load_items
from econonexus.pipelines.io.normalize import normalize
from econonexus.pipelines.io.readers import Format, read_any, read_source
from econonexus.pipelines.io.samples import sample_data
from econonexus.pipelines.io.validation import validate
from econonexus.pipelines.store.clearing_result import ClearingResult, load_run

__all__ = ["clear", "read_bids", "read_cats", "read_run", "sample_data", "validate_bids"]


def read_bids(
    source: str | pa.Table | pl.DataFrame | pl.LazyFrame, *, format: Format | None = None
) -> pa.Table:
    """Read one bid source as written: its records plus ``_source`` and ``_row``.

    CSV columns stay strings (``items`` ``;``-separated); CATS files are
    parsed into bids-schema columns. Use :func:`validate_bids` for the
    checked table.
    """
    raw = read_any(source, name="<table>", format=format)
    _raise_rejected(raw.name, raw.errors)
    return raw.records.to_arrow()


def read_cats(url: str, *, market_id: str | None = None) -> pa.Table:
    """Read a CATS file as a bids table (market: the file name's stem unless given).

    Dummy goods are hidden items ``~g`` of supply 1, so every well-formed line is a bid.

    Raises
    ------
    InputError
        Naming the file, the lines and the reasons, if any line is not a valid bid;
        :func:`validate_bids` returns such lines as rejected rows instead.
    """
    raw = read_source(url, format="cats", market_id=market_id)
    valid, rejected = validate(normalize(raw.records, url))
    _raise_rejected(url, pl.concat([raw.errors.drop("market_id"), rejected]))
    return valid.select(BIDS_SCHEMA.names).to_arrow().cast(BIDS_SCHEMA)


def _raise_rejected(source: str, rejected: pl.DataFrame) -> None:
    if rejected.height == 0:
        return
    first = rejected.head(5).iter_rows(named=True)
    shown = "; ".join(f"row {r['row']} `{r['field']}`: {r['reason']}" for r in first)
    more = f" (and {rejected.height - 5} more)" if rejected.height > 5 else ""
    raise InputError(
        f"{source!r}: {rejected.height} rows are not valid bids: {shown}{more}\n"
        "hint: validate_bids() returns (valid, rejected) and clear() keeps rejected rows"
    )


def validate_bids(
    source: str | pa.Table | pl.DataFrame | pl.LazyFrame,
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
    return load_run(url)
