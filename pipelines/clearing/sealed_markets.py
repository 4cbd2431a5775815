"""Clear many sealed single-item markets at once: one vectorised pass per payment rule.

``clear_single_item`` clears one market; a bucket of a batch can hold tens of
thousands of ``sealed-first-price`` and ``vickrey`` markets, whose auctions
are independent, so they clear together through
:func:`econonexus.solvers.sealed.clear_sealed` (auctions keyed by market and
item) and their summary rows are built by one group-by.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import polars as pl

from econonexus._core.market_settings import MarketSettings
from econonexus.pipelines.clearing.market_rows import (
    ALLOCATION_COLUMNS,
    SUMMARY_COLUMNS,
    allocation_frame,
)
from econonexus.solvers.sealed import clear_sealed


def clear_sealed_markets(
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    markets: list[str],
    settings_of: Callable[[str], MarketSettings],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clear the sealed single-item ``markets`` (bids: every valid bid of them).

    Returns the allocations and one summary row per market, also for a market
    without valid bids (status ``empty``).
    """
    start = time.perf_counter()
    terms = _terms(markets, settings_of)
    lots = _lots(bids, items, terms)
    results = [
        clear_sealed(
            lots.filter(pl.col("rule") == rule).select(
                "market_id", "item_id", "bid_id", "price", "units", "reserve"
            ),
            rule=rule,
        ).select("bid_id", "won", "payment")
        for rule in ("first-price", "second-price")
    ]
    allocations = (
        allocation_frame(bids, pl.concat(results))
        if bids.height
        else pl.DataFrame(schema=ALLOCATION_COLUMNS)
    )
    seconds = (time.perf_counter() - start) / max(1, len(markets))
    return allocations, _summaries(allocations, lots, terms, seconds)


def _terms(markets: list[str], settings_of: Callable[[str], MarketSettings]) -> pl.DataFrame:
    """One row per market: format, summary rule, sealed rule and default units and reserve."""
    rows = []
    for market_id in markets:
        settings = settings_of(market_id)
        rows.append(
            (
                market_id,
                settings.format,
                settings.summary_rule,
                settings.kind.sealed_rule,
                settings.units,
                float(settings.reserve),
            )
        )
    schema = {
        "market_id": pl.String,
        "format": pl.String,
        "payment_rule": pl.String,
        "rule": pl.String,
        "default_units": pl.Int64,
        "default_reserve": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _lots(bids: pl.DataFrame, items: pl.DataFrame | None, terms: pl.DataFrame) -> pl.DataFrame:
    """One row per bid: its auction (market, item), units on sale, reserve and sealed rule."""
    lots = bids.select(
        "market_id", pl.col("items").list.first().alias("item_id"), "bid_id", "price"
    ).join(terms.select("market_id", "rule", "default_units", "default_reserve"), on="market_id")
    if items is None or items.height == 0:
        listed = lots.with_columns(units=pl.lit(None, pl.Int64), reserve=pl.lit(None, pl.Float64))
    else:
        catalogue = items.select(
            "market_id", "item_id", units="supply", reserve=pl.col("reserve_price").cast(pl.Float64)
        )
        listed = lots.join(catalogue, on=["market_id", "item_id"], how="left")
    return listed.with_columns(
        pl.col("units").fill_null(pl.col("default_units")),
        pl.col("reserve").fill_null(pl.col("default_reserve")),
    )


def _summaries(
    allocations: pl.DataFrame, lots: pl.DataFrame, terms: pl.DataFrame, seconds: float
) -> pl.DataFrame:
    figures = allocations.group_by("market_id").agg(
        pl.len().alias("n_bids"),
        pl.col("won").sum().cast(pl.Int64).alias("n_winners"),
        pl.col("price").filter(pl.col("won")).sum().alias("welfare"),
        pl.col("payment").sum().alias("revenue"),
    )
    auctions = lots.group_by("market_id").agg(pl.col("item_id").n_unique().alias("components"))
    rows = (
        terms.join(figures, on="market_id", how="left")
        .join(auctions, on="market_id", how="left")
        .with_columns(
            pl.col("n_bids", "n_winners", "components").fill_null(0).cast(pl.Int64),
            pl.col("welfare", "revenue").fill_null(0.0),
        )
    )
    return rows.select(
        "market_id",
        "format",
        "payment_rule",
        status=pl.when(pl.col("n_bids") > 0).then(pl.lit("optimal")).otherwise(pl.lit("empty")),
        n_bids="n_bids",
        n_rejected=pl.lit(0, pl.Int64),
        n_winners="n_winners",
        welfare="welfare",
        revenue="revenue",
        bound="welfare",
        gap=pl.lit(0.0),
        solver="format",
        solve_seconds=pl.lit(seconds),
        components="components",
        rounds=pl.lit(None, pl.Int64),
        efficiency=pl.lit(None, pl.Float64),
    ).cast(SUMMARY_COLUMNS)  # type: ignore[arg-type]
