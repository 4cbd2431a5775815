"""Clearing results back to agents: one ``bid_won`` or ``bid_lost`` event per bid."""

from __future__ import annotations

import polars as pl


def outcome_events(allocations: pl.DataFrame, *, run_id: str) -> pl.DataFrame:
    """Events (without ``seq``) for every bid of ``allocations``, in ``bid_id`` order.

    A win carries the payment as ``amount``; both carry the bid's ``price``,
    ``items`` and market, which the adaptive strategy learns from.
    """
    return allocations.sort("market_id", "bid_id").select(
        pl.lit(run_id).alias("run_id"),
        pl.when("won").then(pl.lit("bid_won")).otherwise(pl.lit("bid_lost")).alias("kind"),
        "agent_id",
        "market_id",
        "bid_id",
        "items",
        pl.when("won").then(pl.col("payment")).otherwise(None).alias("amount"),
        "price",
    )
