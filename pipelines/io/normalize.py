"""Coerce one raw bid source to the bids-schema column types, keeping what failed.

CSV cells arrive as strings (``items`` and ``quantities`` ``;``-separated);
Parquet and IPC columns arrive typed. Cells that cannot be coerced become
null, and a ``_raw_<field>`` value remembers what was there, so validation
can say "expected a number, got 'abc'" instead of "missing". A column whose
type cannot mean the field at all (a timestamp or boolean price, a list of
lists of items, a struct anywhere) is never cast: its rows get a
``_type_<field>`` reason and are rejected.
"""

from __future__ import annotations

import polars as pl
from polars.datatypes import DataTypeClass

from econonexus._core.errors import SourceReadError
from econonexus._core.schemas import DEFAULT_MARKET

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
TYPED = (*_STRINGS, "items", "quantities", "price", "submitted_at")
"""Fields whose column type is checked: ``_type_<field>`` holds the reason a type is refused."""


def _text_type(dtype: pl.DataType | DataTypeClass) -> bool:
    return isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null) or dtype.is_integer()


def _accepts(field: str, dtype: pl.DataType) -> bool:
    """Whether a column of type ``dtype`` can hold ``field`` (after coercion)."""
    if field in _STRINGS:
        return _text_type(dtype)
    if field == "price":
        return dtype.is_numeric() or isinstance(dtype, pl.String | pl.Null)
    if field == "submitted_at":
        return isinstance(dtype, pl.Datetime | pl.Date | pl.String | pl.Null)
    inner = dtype.inner if isinstance(dtype, pl.List | pl.Array) else dtype
    if field == "quantities":
        return _text_type(inner) or inner.is_float()
    return _text_type(inner)  # items


_EXPECTED = {
    "price": "a number",
    "submitted_at": "a timestamp",
    "items": "a list of item ids (text)",
    "quantities": "a list of whole numbers",
}


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
    refused = {f: d for f in TYPED if not _accepts(f, d := frame.schema[f])}
    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(f) for f in refused)
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
            *[_type_reason(f, refused.get(f)) for f in TYPED],
        )
        .with_columns(pl.col("market_id_filled").alias("market_id"))
        .drop("market_id_filled")
    )


def _type_reason(field: str, dtype: pl.DataType | None) -> pl.Expr:
    reason = None
    if dtype is not None:
        expected = _EXPECTED.get(field, "text")
        reason = f"expected {expected}, got a column of type {dtype}"
    return pl.lit(reason, dtype=pl.String).alias(f"_type_{field}")


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
    element = pl.element()
    if inner is pl.Int64:  # a float quantity is whole or it is refused, never truncated
        element = pl.when(element.cast(pl.Float64, strict=False) % 1 == 0).then(element)
    return listed.list.eval(element.cast(inner, strict=False))


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
