"""Seeded synthetic agent populations for simulations and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import polars as pl

from econonexus._core.errors import InputError
from econonexus.agents.state import STRATEGIES

STRATEGY_MIX: Final = (0.4, 0.2, 0.2, 0.2)
"""Shares of truthful, fixed, adaptive and random agents."""


SELLER_SHARE: Final = 0.3
"""The share of agents able to do each capability of a population's ``sells``."""


def population(
    n_agents: int,
    offer: pl.DataFrame,
    *,
    seed: int,
    interests: int = 3,
    sells: Sequence[str] = (),
) -> pl.DataFrame:
    """``n_agents`` agents valuing up to ``interests`` items of ``offer`` each.

    Values are uniform in [10, 100); balances in [500, 2000); fixed and
    random shading factors in [0.6, 0.95); bundle synergy in [0, 0.3). Each
    capability of ``sells`` is given to about :data:`SELLER_SHARE` of the
    agents, with a unit cost uniform in [10, 50) and a capacity of 1 to 3
    units (from their own random stream: ``sells`` leaves the buyers as they
    were). The same arguments give the same table.
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
    agents = agents.join(_valuations(ids, offer, rng, interests), on="agent_id", how="left")
    if not sells:
        return agents
    return agents.join(_capabilities(ids, sells, seed), on="agent_id", how="left")


def _capabilities(ids: list[str], sells: Sequence[str], seed: int) -> pl.DataFrame:
    """Each agent's capabilities (a list of ``{capability, cost, capacity}``; may be empty)."""
    rng = np.random.default_rng([seed, len(sells)])
    n, k = len(ids), len(sells)
    able = rng.random((n, k)) < SELLER_SHARE
    cost = rng.uniform(10, 50, (n, k)).round(2)
    capacity = rng.integers(1, 4, (n, k))
    rows = [
        [
            {
                "capability": sells[int(j)],
                "cost": float(cost[i, j]),
                "capacity": int(capacity[i, j]),
            }
            for j in np.flatnonzero(able[i])
        ]
        for i in range(n)
    ]
    kind = pl.List(pl.Struct({"capability": pl.String, "cost": pl.Float64, "capacity": pl.Int64}))
    return pl.DataFrame({"agent_id": ids, "capabilities": pl.Series(rows, dtype=kind)})


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
