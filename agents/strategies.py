"""Bid strategies, vectorised over the agents of a shard.

Every agent draws one shading factor per round and bids ``factor * value``
(capped at its balance less what it owes for unsettled wins) on what it
values among the items on offer:

- ``truthful``: factor 1;
- ``fixed``: factor ``shade``;
- ``random``: factor uniform in ``[shade, 1)``;
- ``adaptive``: factor drawn by EXP3 (:mod:`econonexus.agents.learning`).

Single-item formats get one bid per valued item. Combinatorial and clock
markets get a bundle bid on every valued item of the market plus one bid per
item, all in one XOR group. Procurement markets are for sellers; these buying
agents do not bid there. Banned agents and agents with no balance do not bid.

Randomness comes from a counter-based hash of ``(seed, round, agent_id)``,
so an agent's bids do not depend on which shard hosts it or on its neighbours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from econonexus._core.formats import names
from econonexus._core.schemas import BIDS_SCHEMA
from econonexus.agents.learning import SHADING_GRID, draw_factors
from econonexus.agents.state import AgentState

BUNDLE_FORMATS = frozenset(names(bundles=True, side="buy"))
"""Formats an agent bids one bundle in; in the other buy formats it bids item by item."""
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def agent_key(agent_id: str) -> int:
    """A stable 64-bit key of an agent id (BLAKE2b): its shard and its random stream."""
    return int.from_bytes(hashlib.blake2b(agent_id.encode(), digest_size=8).digest(), "little")


def uniforms(keys: npt.NDArray[np.uint64], *, seed: int, round_no: int) -> npt.NDArray[np.float64]:
    """One uniform in [0, 1) per key for ``(seed, round_no)`` (SplitMix64 finaliser)."""
    with np.errstate(over="ignore"):
        x = keys ^ (np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN)
        x = x + np.uint64(round_no + 1) * _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    result: npt.NDArray[np.float64] = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return result


def shading_factors(
    states: Sequence[AgentState], keys: npt.NDArray[np.uint64], *, seed: int, round_no: int
) -> npt.NDArray[np.float64]:
    """Each agent's shading factor for this round."""
    u = uniforms(keys, seed=seed, round_no=round_no)
    shade = np.fromiter((s.shade for s in states), np.float64, len(states))
    kind = np.array([s.strategy for s in states], dtype=object)
    factor = np.ones(len(states))
    factor = np.where(kind == "fixed", shade, factor)
    factor = np.where(kind == "random", shade + (1.0 - shade) * u, factor)
    adaptive = np.flatnonzero(kind == "adaptive")
    if len(adaptive):
        grid = len(SHADING_GRID)
        weights = np.array(
            [states[int(i)].weights or (1.0,) * grid for i in adaptive], dtype=np.float64
        )
        factor[adaptive] = draw_factors(weights, u[adaptive])
    return factor


def round_bids(
    states: Sequence[AgentState],
    keys: npt.NDArray[np.uint64],
    offer: pl.DataFrame,
    *,
    seed: int,
    round_no: int,
) -> pa.Table:
    """The bids of ``states`` for one round, in :data:`BIDS_SCHEMA`.

    ``offer`` lists ``market_id``, ``item_id`` and ``format`` of every item on
    offer. Bid ids are ``<agent>-r<round>-<market>-<item>`` (``*`` for the bundle).
    """
    values = _valued_offer(states, keys, offer, seed=seed, round_no=round_no)
    singles = values.filter(pl.col("format").is_in(names(side="buy")))
    single = singles.select(
        "agent_id",
        "market_id",
        pl.concat_list("item_id").alias("items"),
        pl.col("item_id").alias("slot"),
        (pl.col("value") * pl.col("factor")).alias("price"),
        pl.col("balance"),
        xor=pl.when(pl.col("format").is_in(sorted(BUNDLE_FORMATS)))
        .then(pl.format("{}-r{}-{}", "agent_id", pl.lit(round_no), "market_id"))
        .otherwise(None),
    )
    return _as_bids(pl.concat([single, _bundles(values, round_no)]), round_no)


def _valued_offer(
    states: Sequence[AgentState],
    keys: npt.NDArray[np.uint64],
    offer: pl.DataFrame,
    *,
    seed: int,
    round_no: int,
) -> pl.DataFrame:
    """One row per (bidding agent, valued item on offer) with value, factor and balance."""
    factor = shading_factors(states, keys, seed=seed, round_no=round_no)
    agents = pl.DataFrame(
        {
            "idx": np.arange(len(states)),
            "agent_id": [s.agent_id for s in states],
            "factor": factor,
            "balance": [s.balance - s.owed for s in states],
            "synergy": [s.synergy for s in states],
            "active": [not s.banned and s.balance - s.owed > 0 for s in states],
        },
        schema={  # explicit, so that a shard with no agents still has typed columns
            "idx": pl.Int64,
            "agent_id": pl.String,
            "factor": pl.Float64,
            "balance": pl.Float64,
            "synergy": pl.Float64,
            "active": pl.Boolean,
        },
    ).filter(pl.col("active"))
    rows = [(i, m, item, v) for i, s in enumerate(states) for m, item, v in s.valuations if v > 0]
    valuations = pl.DataFrame(
        rows,
        schema={"idx": pl.Int64, "market_id": pl.String, "item_id": pl.String, "value": pl.Float64},
        orient="row",
    )
    return (
        valuations.join(offer.select("market_id", "item_id", "format"), on=["market_id", "item_id"])
        .join(agents, on="idx")
        .sort("idx", "market_id", "item_id")
    )


def _bundles(values: pl.DataFrame, round_no: int) -> pl.DataFrame:
    """One bundle bid per agent and bundle market with two or more valued items."""
    bundled = values.filter(pl.col("format").is_in(sorted(BUNDLE_FORMATS)))
    return (
        bundled.group_by("agent_id", "market_id", maintain_order=True)
        .agg(
            pl.col("item_id").alias("items"),
            (
                pl.col("value").sum() * (1.0 + pl.col("synergy").first()) * pl.col("factor").first()
            ).alias("price"),
            pl.col("balance").first(),
        )
        .filter(pl.col("items").list.len() > 1)
        .select(
            "agent_id",
            "market_id",
            "items",
            pl.lit("*").alias("slot"),
            "price",
            "balance",
            pl.format("{}-r{}-{}", "agent_id", pl.lit(round_no), "market_id").alias("xor"),
        )
    )


def _as_bids(frame: pl.DataFrame, round_no: int) -> pa.Table:
    price = pl.min_horizontal("price", "balance")
    bids = frame.filter(price > 0).select(
        pl.format("{}-r{}-{}-{}", "agent_id", pl.lit(round_no), "market_id", "slot").alias(
            "bid_id"
        ),
        "agent_id",
        "market_id",
        "items",
        pl.col("items").list.eval(pl.lit(1, dtype=pl.Int64)).alias("quantities"),
        price.alias("price"),
        pl.col("xor").alias("xor_group"),
        pl.lit("buy").alias("side"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("submitted_at"),
        pl.lit(None, dtype=pl.String).alias("signature"),
    )
    return bids.sort("bid_id").to_arrow().cast(BIDS_SCHEMA)


def clock_answers(
    states: Sequence[AgentState],
    keys: npt.NDArray[np.uint64],
    asks: pl.DataFrame,
    *,
    seed: int,
    round_no: int,
) -> npt.NDArray[np.bool_]:
    """Each asked agent's answer to a clock price: yes while ``price`` is within its limit.

    ``asks`` has ``agent_id``, ``market_id``, ``item_id`` and ``price``. An
    agent's limit on an item is what it would bid in round ``round_no``
    (``factor * value``, capped at balance less what it owes), so the clock
    with live answers ends where the proxy bids of :func:`round_bids` end it.
    Agents this shard does not host, banned or broke agents and items they
    do not value answer no.
    """
    offer = asks.select("market_id", "item_id").unique().with_columns(format=pl.lit(""))
    limits = _valued_offer(states, keys, offer, seed=seed, round_no=round_no).select(
        "agent_id",
        "market_id",
        "item_id",
        limit=pl.min_horizontal(pl.col("value") * pl.col("factor"), "balance"),
    )
    answered = (
        asks.with_row_index("_ask")
        .join(limits, on=["agent_id", "market_id", "item_id"], how="left")
        .unique("_ask", keep="last")
        .sort("_ask")
        .select((pl.col("price") <= pl.col("limit")).fill_null(False))
    )
    return answered.to_series().to_numpy().astype(np.bool_)
