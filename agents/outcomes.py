"""Clearing results back to agents: ``bid_won`` or ``bid_lost`` per bid, ``stake_locked``
per staked win, ``flagged`` per manipulation flag."""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from econonexus._core.config import get_setting


def outcome_events(
    allocations: pl.DataFrame,
    *,
    run_id: str,
    flagged: pl.DataFrame | None = None,
    sell_markets: Collection[str] = (),
    bids: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Events (without ``seq``) for every bid of ``allocations``, in ``bid_id`` order.

    A win carries the payment as ``amount``; both carry the bid's ``price``,
    ``items`` and market, which the adaptive strategy learns from. A win whose
    bid needed stake (``allocations.stake`` > 0) is followed by a
    ``stake_locked`` event: the stake stays locked until settlement. Each row of
    ``flagged`` (a run's ``flagged`` table) becomes a ``flagged`` event after the bids,
    carrying ``economics.flag-evidence`` of negative reputation evidence. Bids of
    ``sell_markets`` are sell offers: their outcomes carry ``{"side": "sell", "units": n}``
    (``n`` from the ``quantities`` of ``bids``, else 1), so a win is money due to the agent.
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
        _sell_payload(base, sell_markets, bids).alias("payload"),
        pl.lit(0).alias("_order"),
    )
    locks = base.filter(won & (pl.col("_stake") > 0)).select(
        *common,
        pl.lit("stake_locked").alias("kind"),
        pl.col("_stake").alias("amount"),
        pl.lit(None, dtype=pl.Float64).alias("price"),
        pl.lit(None, dtype=pl.String).alias("payload"),
        pl.lit(1).alias("_order"),
    )
    events = pl.concat([outcomes, locks]).sort("market_id", "bid_id", "_order").drop("_order")
    if flagged is None or flagged.height == 0:
        return events
    return pl.concat([events, flag_events(flagged, run_id)], how="diagonal_relaxed")


def _sell_payload(
    base: pl.DataFrame, sell_markets: Collection[str], bids: pl.DataFrame | None
) -> pl.Series:
    """The payload of each bid's outcome: ``{"side": "sell", "units": n}`` for sell offers."""
    sells = pl.col("market_id").is_in(sorted(sell_markets))
    units = pl.lit(1, dtype=pl.Int64)
    frame = base.select("bid_id", "market_id")
    if bids is not None and "quantities" in bids.columns:
        sizes = bids.select("bid_id", pl.col("quantities").list.sum().alias("_units"))
        frame = frame.join(sizes, on="bid_id", how="left")
        units = pl.col("_units").fill_null(1)
    return frame.select(
        pl.when(sells)
        .then(
            pl.concat_str(pl.lit('{"side": "sell", "units": '), units.cast(pl.String), pl.lit("}"))
        )
        .otherwise(None)
        .alias("payload")
    ).to_series()


def flag_events(flagged: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """One ``flagged`` event per row of ``flagged`` (``agent_id``, ``kind``, ``score``,
    ``reason``): the detector's finding and the evidence ``weight`` it carries."""
    weight = float(get_setting("economics.flag-evidence"))
    return flagged.sort("agent_id", "kind").select(
        pl.lit(run_id).alias("run_id"),
        "agent_id",
        pl.lit(None, dtype=pl.String).alias("market_id"),
        pl.lit(None, dtype=pl.String).alias("bid_id"),
        pl.lit(None, dtype=pl.List(pl.String)).alias("items"),
        pl.lit("flagged").alias("kind"),
        pl.lit(None, dtype=pl.Float64).alias("amount"),
        pl.lit(None, dtype=pl.Float64).alias("price"),
        pl.struct("kind", "score", "reason", weight=pl.lit(weight))
        .struct.json_encode()
        .alias("payload"),
    )
