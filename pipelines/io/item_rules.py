"""Bids naming items their market does not have, or more units than its supply (a
validation rule of the bids contract)."""

from __future__ import annotations

import polars as pl

from econonexus._core.schemas import HIDDEN_ITEM_PREFIX
from econonexus.pipelines.io.accounts import POSITION as _POSITION


def item_rules(frame: pl.DataFrame, items: pl.DataFrame | None) -> pl.DataFrame:
    """Unknown items and quantities above supply.

    An items table governs the markets it lists: their bids may name only
    listed items. Markets it does not list have supply 1 and reserve 0 for
    every item.
    """
    if items is None and not any_row(frame, pl.col("quantities").list.max() > 1):
        return no_rule_broken(frame)  # no catalogue: only a quantity above 1 breaks a rule
    return _item_rules(frame, items)


def any_row(frame: pl.DataFrame, condition: pl.Expr) -> bool:
    """Whether any row of ``frame`` meets ``condition`` (a null does not)."""
    return bool(frame.select(condition.fill_null(False).any()).item())


def no_rule_broken(frame: pl.DataFrame) -> pl.DataFrame:
    """A rule's result when no row of ``frame`` breaks it: no rows, the columns of one."""
    return (
        frame.select(*_POSITION, "bid_id")
        .clear()
        .with_columns(field=pl.lit(None, pl.String), reason=pl.lit(None, pl.String))
    )


def _item_rules(frame: pl.DataFrame, items: pl.DataFrame | None) -> pl.DataFrame:
    units = (
        frame.filter(pl.col("items").list.len() > 0)
        .select(
            *_POSITION,
            "bid_id",
            "market_id",
            "items",
            pl.when(pl.col("quantities").list.len() == pl.col("items").list.len())
            .then(pl.col("quantities"))
            .otherwise(pl.col("items").list.eval(pl.lit(1, pl.Int64))),
        )
        .explode(["items", "quantities"])
        .rename({"items": "item_id", "quantities": "qty"})
    )
    catalogue = (
        items
        if items is not None
        else pl.DataFrame(schema={"market_id": pl.String, "item_id": pl.String, "supply": pl.Int64})
    )
    joined = units.join(
        catalogue.select("market_id", "item_id", "supply"), on=["market_id", "item_id"], how="left"
    )
    listed = catalogue["market_id"].unique().implode()
    hidden = pl.col("item_id").str.starts_with(HIDDEN_ITEM_PREFIX)
    unknown_here = pl.col("supply").is_null() & pl.col("market_id").is_in(listed) & ~hidden
    unknown = joined.filter(unknown_here).select(
        *_POSITION,
        "bid_id",
        pl.lit("items").alias("field"),
        pl.format(
            "unknown item '{}' in market '{}': not in the items table",
            pl.col("item_id"),
            pl.col("market_id"),
        ).alias("reason"),
    )
    in_listed = pl.col("market_id").is_in(listed)
    supply = pl.col("supply").fill_null(1)
    note = (
        pl.when(in_listed)
        .then(pl.lit(""))
        .otherwise(pl.lit(" (market not in an items table: supply 1)"))
    )
    above = joined.filter((pl.col("qty") > supply) & ~unknown_here).select(
        *_POSITION,
        "bid_id",
        pl.lit("quantities").alias("field"),
        pl.format(
            "{} units of '{}' asked, its supply is {}{}",
            pl.col("qty"),
            pl.col("item_id"),
            supply,
            note,
        ).alias("reason"),
    )
    return pl.concat([unknown, above])
