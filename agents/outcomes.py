"""Clearing results back to agents: ``bid_won`` or ``bid_lost`` per bid, ``stake_locked``
per staked win."""

from __future__ import annotations

import polars as pl


def outcome_events(allocations: pl.DataFrame, *, run_id: str) -> pl.DataFrame:
    """Events (without ``seq``) for every bid of ``allocations``, in ``bid_id`` order.

    A win carries the payment as ``amount``; both carry the bid's ``price``,
    ``items`` and market, which the adaptive strategy learns from. A win whose
    bid needed stake (``allocations.stake`` > 0) is followed by a
    ``stake_locked`` event: the stake stays locked until settlement.
    """
    won = pl.col("won")
    stake = pl.col("stake") if "stake" in allocations.columns else pl.lit(0.0)
    base = allocations.sort("market_id", "bid_id").with_columns(
        stake.fill_null(0.0).alias("_stake")
    )
    common: list[pl.Expr] = [
        pl.lit(run_id).alias("run_id"),
        *(pl.col(c) for c in ("agent_id", "market_id", "bid_id", "items")),
    ]
    outcomes = base.select(
        *common,
        pl.when(won).then(pl.lit("bid_won")).otherwise(pl.lit("bid_lost")).alias("kind"),
        pl.when(won).then(pl.col("payment")).otherwise(None).alias("amount"),
        "price",
        pl.lit(0).alias("_order"),
    )
    locks = base.filter(won & (pl.col("_stake") > 0)).select(
        *common,
        pl.lit("stake_locked").alias("kind"),
        pl.col("_stake").alias("amount"),
        pl.lit(None, dtype=pl.Float64).alias("price"),
        pl.lit(1).alias("_order"),
    )
    return pl.concat([outcomes, locks]).sort("market_id", "bid_id", "_order").drop("_order")
