"""Read and check an items table (one row per item per market)."""

from __future__ import annotations

from typing import TypeAlias

import polars as pl
import pyarrow as pa

from econonexus._core.errors import InputError
from econonexus._core.schemas import DEFAULT_MARKET, HIDDEN_ITEM_PREFIX, ITEMS_SCHEMA, MAX_PRICE
from econonexus.pipelines.io.readers import Format, table_of

ItemsSource: TypeAlias = str | pa.Table | pl.DataFrame


def load_items(source: ItemsSource, *, format: Format | None = None) -> pl.DataFrame:
    """Return the items table of ``source`` (a URL or a table), checked.

    Raises
    ------
    InputError
        Naming the source, the first bad row and the field, if ``item_id`` is
        missing, ``supply`` is not a whole number >= 1, ``reserve_price`` is
        not a finite number >= 0, or an item appears twice in a market.
    """
    name = source if isinstance(source, str) else "<items table>"
    frame = table_of(source, format=format)
    if "item_id" not in frame.columns:
        raise InputError(f"items {name!r}: missing required column `item_id`")
    typed = frame.with_row_index("_row", offset=1).select(
        "_row",
        _column(frame, "market_id", pl.String).fill_null(DEFAULT_MARKET).alias("market_id"),
        pl.col("item_id").cast(pl.String),
        _column(frame, "supply", pl.Int64).alias("supply"),
        _column(frame, "reserve_price", pl.Float64).alias("reserve_price"),
        _column(frame, "seller", pl.String).alias("seller"),
        _column(frame, "supply", pl.String).alias("_raw_supply"),
        _column(frame, "reserve_price", pl.String).alias("_raw_reserve"),
    )
    _check(typed, name)
    return typed.with_columns(
        pl.col("supply").fill_null(1), pl.col("reserve_price").fill_null(0.0)
    ).select(ITEMS_SCHEMA.names)


def _column(frame: pl.DataFrame, name: str, dtype: type[pl.DataType]) -> pl.Expr:
    if name not in frame.columns:
        return pl.lit(None, dtype=dtype)
    return pl.col(name).cast(dtype, strict=False)


def _check(typed: pl.DataFrame, name: str) -> None:
    rules = [
        (
            "item_id",
            pl.col("item_id").is_null() | (pl.col("item_id") == ""),
            "required: expected a non-empty string",
        ),
        (
            "item_id",
            pl.col("item_id").str.starts_with(HIDDEN_ITEM_PREFIX),
            f"expected an id not starting with {HIDDEN_ITEM_PREFIX!r} (hidden goods)",
        ),
        (
            "supply",
            pl.col("_raw_supply").is_not_null() & pl.col("supply").is_null(),
            "expected a whole number >= 1",
        ),
        ("supply", pl.col("supply") < 1, "expected a whole number >= 1"),
        (
            "reserve_price",
            pl.col("_raw_reserve").is_not_null()
            & ~pl.col("reserve_price").is_finite().fill_null(False),
            "expected a finite number >= 0",
        ),
        ("reserve_price", pl.col("reserve_price") < 0, "expected a finite number >= 0"),
        (
            "reserve_price",
            pl.col("reserve_price") > MAX_PRICE,
            f"expected a number <= {MAX_PRICE:g} (the price range)",
        ),
        (
            "item_id",
            pl.struct("market_id", "item_id").is_duplicated(),
            "duplicate item: expected each item once per market",
        ),
    ]
    for field, broken, expected in rules:
        bad = typed.filter(broken.fill_null(False))
        if bad.height:
            row = bad.row(0, named=True)
            raw = row.get(f"_raw_{field.split('_')[0]}", row.get(field))
            raise InputError(
                f"items {name!r} row {row['_row']}: `{field}` {expected}, got {raw!r}"
                + (f" ({bad.height} rows like it)" if bad.height > 1 else "")
            )
