"""Bids that do not fit their market's format (a validation rule of the bids contract)."""

from __future__ import annotations

import polars as pl

from econonexus._core.formats import names
from econonexus._core.market_settings import DEFAULT_SETTINGS, MarketSettings
from econonexus.pipelines.io.accounts import POSITION as _POSITION
from econonexus.pipelines.io.item_rules import any_row, no_rule_broken


def format_rules(frame: pl.DataFrame, markets: dict[str, MarketSettings]) -> pl.DataFrame:
    """Bids that do not fit their market's format: wrong side, or a bundle in a single-item one."""
    if not markets and not any_row(frame, pl.col("side") != DEFAULT_SETTINGS.side):
        return no_rule_broken(frame)  # every market the default: only a sell bid breaks one
    return _format_rules(frame, markets)


def _format_rules(frame: pl.DataFrame, markets: dict[str, MarketSettings]) -> pl.DataFrame:
    settings = pl.DataFrame(
        {
            "market_id": list(markets),
            "_format": [m.format for m in markets.values()],
            "_side": [m.side for m in markets.values()],
        },
        schema={"market_id": pl.String, "_format": pl.String, "_side": pl.String},
    )
    typed = frame.join(settings, on="market_id", how="left").with_columns(
        pl.col("_format").fill_null(DEFAULT_SETTINGS.format),
        pl.col("_side").fill_null(DEFAULT_SETTINGS.side),
    )
    side = pl.col("side").fill_null("buy")
    single = pl.col("_format").is_in(names(bundles=False))
    rules = [
        (
            "side",
            side.is_in(["buy", "sell"]) & (side != pl.col("_side")),
            pl.format(
                "market '{}' is {}: expected side '{}', got '{}'",
                pl.col("market_id"),
                pl.col("_format"),
                pl.col("_side"),
                side,
            ),
        ),
        (
            "items",
            single
            & (
                (pl.col("items").list.len() != 1)
                | pl.col("quantities").list.eval(pl.element() != 1).list.any()
            ),
            pl.format(
                "market '{}' is {}: expected one item with quantity 1 per bid, got {} item(s)",
                pl.col("market_id"),
                pl.col("_format"),
                pl.col("items").list.len(),
            ),
        ),
    ]
    return pl.concat(
        typed.filter(broken.fill_null(False)).select(
            *_POSITION, "bid_id", pl.lit(field).alias("field"), reason.alias("reason")
        )
        for field, broken, reason in rules
    )
