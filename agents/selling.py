"""Agents that sell: who can do a task, and their offers on a table of tasks.

A task table has one row per task: ``task_id``, ``capability``, ``quantity``
(units, >= 1) and ``reserve`` (the most the buyer pays for the whole task).
An agent able to do a capability (:data:`~econonexus.agents.state.Capability`)
offers on tasks of it at ``unit_cost * quantity / factor``, where ``factor``
is its strategy's factor for the round (:func:`shading_factors`): ``truthful``
asks its cost, ``fixed`` marks it up by ``1 / shade``, ``random`` by a random
markup up to that, ``adaptive`` learns its markup by EXP3 from what its
offers earned.

Capacity: each agent offers on tasks of a capability picked at random
(counter-based, as buyers' draws are) until the units offered reach its
capacity, skipping tasks whose reserve is below its ask. Whatever subset of
its offers wins, the agent is never awarded more than its capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from econonexus._core.schemas import BIDS_SCHEMA
from econonexus.agents.state import AgentState
from econonexus.agents.strategies import agent_key, shading_factors, uniforms

OVERSAMPLE: Final = 2
"""Random picks per unit of capacity: more than one, as some picks repeat or ask too much."""
CAPABLE_SCHEMA: Final = {
    "agent_id": pl.String,
    "capability": pl.String,
    "cost": pl.Float64,
    "capacity": pl.Int64,
    "reputation": pl.Float64,
}
"""One row per (agent, capability) an agent can do."""
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def capability_index(states: Sequence[AgentState]) -> dict[str, list[int]]:
    """Capability to the positions in ``states`` of the agents (not banned) able to do it."""
    index: dict[str, list[int]] = {}
    for position, state in enumerate(states):
        if not state.banned:
            for name, _, _ in state.capabilities:
                index.setdefault(name, []).append(position)
    return index


def capable_rows(states: Sequence[AgentState], capability: str | None = None) -> pl.DataFrame:
    """The (agent, capability) rows of ``states``, of one ``capability`` if given."""
    rows = [
        (s.agent_id, name, cost, capacity, s.reputation)
        for s in states
        if not s.banned
        for name, cost, capacity in s.capabilities
        if capability is None or name == capability
    ]
    return pl.DataFrame(rows, schema=CAPABLE_SCHEMA, orient="row")


def sell_offers(
    states: Sequence[AgentState],
    tasks: pl.DataFrame,
    *,
    seed: int,
    round_no: int,
    presorted: bool = False,
) -> pa.Table:
    """The sell offers of ``states`` (capable agents) on ``tasks``, in :data:`BIDS_SCHEMA`.

    Offers are single-task bids in the market named by the task's capability,
    with bid ids ``<agent>-r<round>-<task_id>``. ``presorted``: ``tasks`` is
    sorted by capability and task id already (the pool sorts once for all shards).
    """
    sellers = capable_rows(states).join(
        tasks.group_by("capability").len("n_tasks"), on="capability"
    )
    if sellers.is_empty():
        return BIDS_SCHEMA.empty_table()
    by_id = {s.agent_id: s for s in states}
    chosen = [by_id[a] for a in sellers["agent_id"]]
    keys = np.fromiter((agent_key(a) for a in sellers["agent_id"]), np.uint64, len(chosen))
    factor = shading_factors(chosen, keys, seed=seed, round_no=round_no)
    picks = _picks(sellers, keys, seed=seed, round_no=round_no)
    ordered = (tasks if presorted else tasks.sort("capability", "task_id")).with_row_index("pick")
    starts = ordered.group_by("capability").agg(pl.col("pick").min().alias("start"))
    sellers = sellers.with_row_index("seller").with_columns(factor=pl.Series(factor))
    offers = (
        picks.join(sellers.join(starts, on="capability"), on="seller")
        .with_columns(pick=pl.col("start") + (pl.col("u") * pl.col("n_tasks")).cast(pl.UInt32))
        .join(ordered.select("pick", "task_id", "quantity", "reserve"), on="pick")
        .with_columns(ask=pl.col("cost") * pl.col("quantity") / pl.col("factor"))
        .filter(pl.col("ask") <= pl.col("reserve"))
        .sort("seller", "j")
        .unique(["seller", "pick"], keep="first", maintain_order=True)
        .filter(pl.col("quantity").cum_sum().over("seller") <= pl.col("capacity"))
    )
    return _as_offers(offers, round_no)


def _picks(
    sellers: pl.DataFrame, keys: npt.NDArray[np.uint64], *, seed: int, round_no: int
) -> pl.DataFrame:
    """``OVERSAMPLE * capacity`` random draws per seller row (``seller``, ``u`` in [0, 1))."""
    limit = np.minimum(sellers["capacity"].to_numpy(), sellers["n_tasks"].to_numpy())
    draws = (OVERSAMPLE * limit).astype(np.int64)
    seller = np.repeat(np.arange(len(draws)), draws)
    j = np.arange(len(seller)) - np.repeat(np.cumsum(draws) - draws, draws)
    salt = np.fromiter((agent_key(c) for c in sellers["capability"]), np.uint64, len(draws))
    with np.errstate(over="ignore"):
        mixed = (keys ^ salt)[seller] + (j.astype(np.uint64) + np.uint64(1)) * _GOLDEN
    u = uniforms(mixed, seed=seed, round_no=round_no)
    return pl.DataFrame({"seller": seller.astype(np.uint32), "u": u, "j": j})


def _as_offers(offers: pl.DataFrame, round_no: int) -> pa.Table:
    bids = offers.select(
        pl.format("{}-r{}-{}", "agent_id", pl.lit(round_no), "task_id").alias("bid_id"),
        "agent_id",
        pl.col("capability").alias("market_id"),
        pl.concat_list("task_id").alias("items"),
        pl.concat_list(pl.col("quantity").cast(pl.Int64)).alias("quantities"),
        pl.col("ask").alias("price"),
        pl.lit(None, dtype=pl.String).alias("xor_group"),
        pl.lit("sell").alias("side"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("submitted_at"),
        pl.lit(None, dtype=pl.String).alias("signature"),
    )
    return bids.sort("bid_id").to_arrow().cast(BIDS_SCHEMA)
