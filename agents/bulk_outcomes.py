"""Outcome events applied in bulk: one state update per agent for a run of them.

A delivery of a large round is mostly ``bid_won`` and ``bid_lost`` events.
Apart from the adaptive strategy's learning they only add up: bids, wins,
losses, what the agent owes (buys) or is due (sells). So a run of
consecutive outcome events is applied per agent at once, which equals
applying them one by one (:func:`econonexus.agents.state.apply`). An
adaptive agent learns from each of its outcomes in turn
(:func:`~econonexus.agents.state.learned_weights`) before its one update.
Unknown agents, and agents with an event whose ``amount`` is not a finite
number >= 0, take the one-by-one path, where they are rejected with the same
reason as ever.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import polars as pl

from econonexus.agents.events import Event, events_from_table
from econonexus.agents.learning import arm_update, arm_updates, initial_weights, nearest_arms
from econonexus.agents.state import AgentState, learned_weights

OUTCOME_KINDS = ("bid_won", "bid_lost")

ApplyOne = Callable[[list[Event]], tuple[int, list[tuple[int, str]]]]
"""Applies events one by one: how many applied, and the rejected ones with reasons."""


def outcome_runs(frame: pl.DataFrame) -> list[tuple[bool, pl.DataFrame]]:
    """``frame`` (sorted by ``seq``) cut into runs: ``(True, outcome events)`` or
    ``(False, other events)``, in order."""
    outcome = pl.col("kind").is_in(OUTCOME_KINDS)
    marked = frame.with_columns(_run=(outcome != outcome.shift(1)).fill_null(True).cum_sum())
    return [
        (bool(part["kind"][0] in OUTCOME_KINDS), part.drop("_run"))
        for part in marked.partition_by("_run", maintain_order=True)
    ]


def apply_outcomes(
    agents: dict[str, AgentState], run: pl.DataFrame, one_by_one: ApplyOne
) -> tuple[int, list[tuple[int, str]]]:
    """Apply a run of outcome events to ``agents`` in place; return (applied, rejected)."""
    amount_ok = (pl.col("amount").is_finite() & (pl.col("amount") >= 0)).fill_null(False)
    fit = run.group_by("agent_id").agg(((pl.col("kind") == "bid_lost") | amount_ok).all())
    bulk = [a for a, ok in fit.iter_rows() if ok and a in agents]
    chosen = pl.col("agent_id").is_in(pl.Series(bulk, dtype=pl.String).implode())
    applied, rejected = one_by_one(events_from_table(run.filter(~chosen)))
    mine = run.filter(chosen)
    learners = [a for a in bulk if agents[a].strategy == "adaptive"]
    weights = _learned(agents, mine.filter(pl.col("agent_id").is_in(pl.Series(learners).implode())))
    sells = pl.col("payload").str.json_path_match("$.side").fill_null("") == "sell"
    won = pl.col("kind") == "bid_won"
    totals = mine.group_by("agent_id").agg(
        pl.len().alias("bids"),
        won.sum().alias("wins"),
        pl.col("amount").filter(won & ~sells).sum().alias("owed"),
        pl.col("amount").filter(won & sells).sum().alias("due"),
        pl.col("seq").max().alias("last_seq"),
    )
    for agent_id, bids, wins, owed, due, last in totals.iter_rows():
        s = agents[agent_id]
        agents[agent_id] = dataclasses.replace(
            s,
            weights=weights.get(agent_id, s.weights),
            bids=s.bids + bids,
            wins=s.wins + wins,
            losses=s.losses + bids - wins,
            owed=s.owed + owed,
            due=s.due + due,
            last_seq=last,
        )
    return applied + mine.height, rejected


def _learned(agents: dict[str, AgentState], rows: pl.DataFrame) -> dict[str, tuple[float, ...]]:
    """Each adaptive agent's weights after its outcome events (``seq`` order), one by one.

    A sell offer's play and reward are computed for all rows at once
    (:func:`_sell_plays`), and agents that only sold learn side by side, one step per
    event of each (:func:`_learned_together`); a buy bid's play needs the agent's
    valuations, so an agent that bought learns event by event.
    """
    ordered = rows.sort("seq")
    arms, rewards = _sell_plays(agents, ordered)
    bought = ordered.filter(pl.Series(arms < -1))["agent_id"].unique().implode()
    alone = ordered.select(pl.col("agent_id").is_in(bought))["agent_id"].to_numpy()
    together = _learned_together(
        agents, ordered.filter(~pl.Series(alone)), *(x[~alone] for x in (arms, rewards))
    )
    return together | _learned_one_by_one(
        agents, ordered.filter(pl.Series(alone)), arms[alone], rewards[alone]
    )


def _learned_together(
    agents: dict[str, AgentState], rows: pl.DataFrame, arms: np.ndarray, rewards: np.ndarray
) -> dict[str, tuple[float, ...]]:
    """Weights of agents that only sold: step ``k`` updates every agent's ``k``-th play."""
    played = arms >= 0
    ids, arms, rewards = rows["agent_id"].to_numpy()[played], arms[played], rewards[played]
    if not len(ids):
        return {}
    names, index = np.unique(ids, return_inverse=True)
    weights = np.array([agents[n].weights or initial_weights() for n in names], dtype=np.float64)
    order = np.argsort(index, kind="stable")  # each agent's plays in seq order
    first = np.searchsorted(index[order], np.arange(len(names)))
    step = np.empty(len(order), dtype=np.int64)
    step[order] = np.arange(len(order)) - first[index[order]]
    for k in range(int(step.max()) + 1):
        now = np.flatnonzero(step == k)
        who = index[now]
        weights[who] = arm_updates(weights[who], arms[now], rewards[now])
    return {str(n): tuple(weights[i].tolist()) for i, n in enumerate(names)}


def _learned_one_by_one(
    agents: dict[str, AgentState], rows: pl.DataFrame, arms: np.ndarray, rewards: np.ndarray
) -> dict[str, tuple[float, ...]]:
    """Weights of agents with a buy outcome, event by event in ``seq`` order."""
    buys = iter(events_from_table(rows.filter(pl.Series(arms < -1))))
    weights: dict[str, tuple[float, ...]] = {}
    for agent_id, arm, reward in zip(
        rows["agent_id"], arms.tolist(), rewards.tolist(), strict=True
    ):
        before = weights.get(agent_id, agents[agent_id].weights)
        if arm >= 0:
            weights[agent_id] = arm_update(before, arm, reward)
        elif arm < -1:  # a buy bid: learned_weights reads the agent's value of it
            event = next(buys)
            payment = event.amount if event.kind == "bid_won" else None
            weights[agent_id] = learned_weights(agents[agent_id], event, payment, before)
    return weights


def _sell_plays(agents: dict[str, AgentState], rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the grid arm a sell offer played and its reward, as
    :func:`~econonexus.agents.state.learned_weights` takes them (``cost / ask``, and
    ``(payment - cost) / payment`` on a win); arm -1 for an offer it learns nothing from
    (no cost for the capability, no ask), -2 for a buy bid."""
    sides = rows.select(
        pl.col("payload").str.json_path_match("$.side").fill_null("").alias("side"),
        pl.col("payload")
        .str.json_path_match("$.units")
        .cast(pl.Float64)
        .fill_null(1.0)
        .alias("units"),
    )
    pairs = rows.select("agent_id", "market_id").unique()
    costs = pairs.with_columns(
        cost=pl.Series([_unit_cost(agents[a], m) for a, m in pairs.iter_rows()], dtype=pl.Float64)
    )
    unit = rows.join(
        costs, on=["agent_id", "market_id"], how="left", nulls_equal=True, maintain_order="left"
    )
    cost = unit["cost"].to_numpy() * sides["units"].to_numpy()
    price = rows["price"].fill_null(0.0).to_numpy()
    paid = rows["amount"].fill_null(0.0).to_numpy() * (rows["kind"] == "bid_won").to_numpy()
    usable = (cost > 0) & (price != 0) & rows["market_id"].is_not_null().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(usable, cost / np.where(price != 0, price, 1.0), 0.0)
        reward = np.where(
            paid != 0, np.maximum(0.0, (paid - cost) / np.where(paid != 0, paid, 1.0)), 0.0
        )
    arms = np.where(usable, nearest_arms(factor), -1)
    arms = np.where(sides["side"].to_numpy() == "sell", arms, -2)
    return arms, reward


def _unit_cost(agent: AgentState, capability: str | None) -> float:
    cost = None if capability is None else agent.unit_cost(capability)
    return float("nan") if cost is None else cost
