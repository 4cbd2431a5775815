"""Seeded synthetic agent populations for simulations and benchmarks."""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from econonexus._core.errors import InputError
from econonexus.agents.state import STRATEGIES

STRATEGY_MIX: Final = (0.4, 0.2, 0.2, 0.2)
"""Shares of truthful, fixed, adaptive and random agents."""


def population(
    n_agents: int, offer: pl.DataFrame, *, seed: int, interests: int = 3
) -> pl.DataFrame:
    """``n_agents`` agents valuing up to ``interests`` items of ``offer`` each.

    Values are uniform in [10, 100); balances in [500, 2000); fixed and
    random shading factors in [0.6, 0.95); bundle synergy in [0, 0.3). The
    same arguments give the same table.
    """
    if n_agents < 1:
        raise InputError(f"`agents`: expected a whole number >= 1, got {n_agents}")
    if offer.is_empty():
        raise InputError("`markets`: expected at least one market with items on offer, got none")
    rng = np.random.default_rng(seed)
    ids = [f"agent-{i:06d}" for i in range(n_agents)]
    strategy = rng.choice(np.array(STRATEGIES), size=n_agents, p=STRATEGY_MIX)
    agents = pl.DataFrame(
        {
            "agent_id": ids,
            "balance": rng.uniform(500, 2000, n_agents).round(2),
            "strategy": strategy,
            "shade": rng.uniform(0.6, 0.95, n_agents).round(3),
            "synergy": rng.uniform(0, 0.3, n_agents).round(3),
        }
    )
    return agents.join(_valuations(ids, offer, rng, interests), on="agent_id", how="left")


def _valuations(
    ids: list[str], offer: pl.DataFrame, rng: np.random.Generator, interests: int
) -> pl.DataFrame:
    """Each agent's valued items, all in one market drawn per agent, so bundles form."""
    n = len(ids)
    items = (
        offer.sort("market_id", "item_id")
        .with_row_index("pick")
        .with_columns(pl.col("pick").cast(pl.Int64))
    )
    counts = (
        items.group_by("market_id", maintain_order=True).len()["len"].to_numpy().astype(np.int64)
    )
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    market = rng.integers(0, len(counts), size=n)
    picks = starts[market, None] + (rng.random((n, interests)) * counts[market, None]).astype(
        np.int64
    )
    values = rng.uniform(10, 100, size=(n, interests)).round(2)
    long = pl.DataFrame(
        {"agent_id": np.repeat(ids, interests), "pick": picks.ravel(), "value": values.ravel()}
    ).unique(["agent_id", "pick"], keep="first", maintain_order=True)
    return (
        long.join(items, on="pick")
        .sort("agent_id", "market_id", "item_id")
        .group_by("agent_id", maintain_order=True)
        .agg(pl.struct("market_id", "item_id", "value").alias("valuations"))
    )
