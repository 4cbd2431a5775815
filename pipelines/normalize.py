"""Coerce one raw bid source to the bids-schema column types, keeping what failed.

CSV cells arrive as strings (``items`` and ``quantities`` ``;``-separated);
Parquet and IPC columns arrive typed. Cells that cannot be coerced become
null, and a ``_bad_<field>`` flag remembers that the raw value was present,
so validation can say "expected a number, got 'abc'" instead of "missing".
"""

from __future__ import annotations

import polars as pl

from econonexus._errors import SourceReadError
from econonexus.solvers.schemas import DEFAULT_MARKET

REQUIRED = ("bid_id", "agent_id", "items", "price")
OPTIONAL = ("market_id", "quantities", "xor_group", "side", "submitted_at", "signature")
_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d",
)
"""ISO 8601 forms accepted for ``submitted_at`` text; no offset means UTC."""
_STRINGS = ("bid_id", "agent_id", "market_id", "xor_group", "side", "signature")


def normalize(records: pl.DataFrame, source: str) -> pl.DataFrame:
    """Return ``records`` with typed bid columns, ``_raw_*`` strings and ``_bad_*`` flags.

    Raises
    ------
    SourceReadError
        If a required column is missing from the source.
    """
    missing = [c for c in REQUIRED if c not in records.columns]
    if missing:
        raise SourceReadError(
            f"source {source!r}: missing required column(s) {', '.join(f'`{c}`' for c in missing)};"
            f" found {', '.join(c for c in records.columns if not c.startswith('_'))}"
        )
    frame = records.with_columns(
        pl.lit(None, dtype=pl.String).alias(c) for c in OPTIONAL if c not in records.columns
    )
    return (
        frame.select(
            *[_as_string(c) for c in _STRINGS],
            pl.col("market_id").cast(pl.String).fill_null(DEFAULT_MARKET).alias("market_id_filled"),
            _as_list(frame, "items", pl.String).alias("items"),
            _as_list(frame, "quantities", pl.Int64).alias("quantities"),
            _raw_list_len(frame, "quantities").alias("_raw_quantities_len"),
            pl.col("price").cast(pl.Float64, strict=False).alias("price"),
            pl.col("price").cast(pl.String).alias("_raw_price"),
            _as_timestamp(frame).alias("submitted_at"),
            pl.col("submitted_at").cast(pl.String).alias("_raw_submitted_at"),
            pl.col("_source").cast(pl.String),
            pl.col("_row").cast(pl.Int64),
        )
        .with_columns(pl.col("market_id_filled").alias("market_id"))
        .drop("market_id_filled")
    )


def _as_string(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String, strict=False).alias(name)


def _split(expr: pl.Expr) -> pl.Expr:
    """Split a ``;``-separated string into a list; ``""`` gives an empty list."""
    parts = expr.str.split(";").list.eval(pl.element().str.strip_chars())
    return (
        pl.when(expr.str.strip_chars() == "")
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(parts)
    )


def _as_list(frame: pl.DataFrame, name: str, inner: type[pl.DataType]) -> pl.Expr:
    dtype = frame.schema[name]
    col = pl.col(name)
    if isinstance(dtype, pl.List | pl.Array):
        listed = (
            col.cast(pl.List(dtype.inner), strict=False) if isinstance(dtype, pl.Array) else col
        )
    elif dtype in (pl.String, pl.Null):
        listed = _split(col.cast(pl.String))
    else:  # a scalar column: one element per row
        listed = pl.concat_list(col)
    return listed.list.eval(pl.element().cast(inner, strict=False))


def _raw_list_len(frame: pl.DataFrame, name: str) -> pl.Expr:
    """Number of non-null raw entries, to tell unparseable entries from missing ones."""
    dtype = frame.schema[name]
    col = pl.col(name)
    if isinstance(dtype, pl.List | pl.Array):
        return col.list.eval(pl.element().is_not_null()).list.sum().cast(pl.Int64)
    if dtype in (pl.String, pl.Null):
        return _split(col.cast(pl.String)).list.eval(pl.element() != "").list.sum().cast(pl.Int64)
    return col.is_not_null().cast(pl.Int64)


def _as_timestamp(frame: pl.DataFrame) -> pl.Expr:
    dtype = frame.schema["submitted_at"]
    col = pl.col("submitted_at")
    if isinstance(dtype, pl.Datetime):
        zoned = col.dt.replace_time_zone("UTC") if dtype.time_zone is None else col
        return zoned.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    text = col.cast(pl.String)
    parsed = []
    for fmt in _TIME_FORMATS:
        value = text.str.to_datetime(format=fmt, time_unit="us", strict=False)
        zoned = (
            value.dt.convert_time_zone("UTC") if "%#z" in fmt else value.dt.replace_time_zone("UTC")
        )
        parsed.append(zoned)
    return pl.coalesce(parsed)
