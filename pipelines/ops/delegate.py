"""Task delegation: tasks in, offers from the capable agents, a procurement market, awards out.

``delegate(tasks, pool)`` asks the pool's capable agents for offers
(:meth:`AgentPool.offers`), clears one procurement market per capability
(named after it: each task is an item whose supply is its quantity and whose
reserve is the buyer's value), delivers every offer's outcome to its agent
(a win is money due to it) and returns the awards. Settle them as any run:
``settle(delegation.result, outcomes, pool=pool)`` pays each winning agent.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Literal

import polars as pl
from distributed import Client

from econonexus._core.errors import InputError
from econonexus._core.formats import names
from econonexus.agents.outcomes import outcome_events
from econonexus.agents.pool import AgentPool
from econonexus.agents.pool_results import Delivery
from econonexus.agents.tasks import UNASSIGNED_SCHEMA, checked_tasks
from econonexus.pipelines.graph.run import clear
from econonexus.pipelines.io.readers import table_of
from econonexus.pipelines.store.clearing_result import ClearingResult

DelegationRule = Literal["pay-as-bid", "vcg", "core"]


@dataclass(frozen=True)
class Delegation:
    """Awards (one row per delegated task), tasks not delegated with the reason, the clearing
    result (settle it with :func:`econonexus.settle`), the offers, the agents left out of
    them (their shard did not answer: ``shard_id``, ``reason``) and the delivery of their
    outcomes to the agents."""

    awards: pl.DataFrame
    unassigned: pl.DataFrame
    result: ClearingResult
    offers: pl.DataFrame
    left_out: pl.DataFrame
    delivery: Delivery
    seconds: dict[str, float]

    def __repr__(self) -> str:
        return (
            f"<Delegation {self.awards.height} tasks awarded, {self.unassigned.height} not; "
            f"{self.offers.height} offers, {self.left_out.height} agents left out; "
            f"paid {self.awards['payment'].sum():.2f}; "
            f"run {self.result.run_id}>"
        )


def delegate(
    tasks: pl.DataFrame | str,
    pool: AgentPool,
    *,
    seed: int = 0,
    round_no: int = 0,
    payment_rule: DelegationRule = "pay-as-bid",
    client: Client | str | None = None,
    out: str | None = None,
    run_id: str | None = None,
    now: dt.datetime | None = None,
) -> Delegation:
    """Delegate ``tasks`` to the agents of ``pool`` able to do them.

    Parameters
    ----------
    tasks
        A table or URL: ``task_id``, ``capability``, ``quantity`` (units),
        ``reserve`` (the most the buyer pays for the whole task), optional
        ``deadline``. Bad rows and tasks past their deadline are not offered
        and are listed in ``unassigned`` with the reason.
    pool
        The agents; each offers within its capacity at its strategy's ask.
    seed, round_no
        The offers' random stream (same arguments, same offers).
    payment_rule
        What a winning agent is paid: its ask, its VCG payment, or the core
        payment (never less than its ask).
    client, out, run_id
        As for :func:`econonexus.clear`.
    """
    if payment_rule not in ("pay-as-bid", "vcg", "core"):
        raise InputError(
            f"`payment_rule`: expected 'pay-as-bid', 'vcg' or 'core', got {payment_rule!r}"
        )
    started = time.perf_counter()
    good, rejected = checked_tasks(table_of(tasks), now=now)
    asked = pool.offers(good, seed=seed, round_no=round_no)
    offers = pl.DataFrame(asked.bids)
    offered = time.perf_counter()
    capabilities = sorted(set(good["capability"].to_list()))
    selling = names(side="sell")[0]  # the procurement format
    markets = {c: {"format": selling, "payment_rule": payment_rule} for c in capabilities}
    result = clear(
        offers, items=delegated_items(good), markets=markets, client=client, out=out, run_id=run_id
    )
    cleared = time.perf_counter()
    events = outcome_events(
        result.allocations, run_id=result.run_id, sell_markets=capabilities, bids=offers
    )
    delivery = pool.deliver(events)
    awards = _awards(good, result.allocations)
    seconds = {
        "offers": offered - started,
        "clearing": cleared - offered,
        "delivery": time.perf_counter() - cleared,
    }
    unassigned = _unassigned(good, rejected, awards, offers)
    return Delegation(awards, unassigned, result, offers, asked.left_out, delivery, seconds)


def delegated_items(tasks: pl.DataFrame) -> pl.DataFrame:
    """Each task as an item of its capability's market: supply its quantity, the buyer's
    value per unit as reserve."""
    return tasks.select(
        pl.col("capability").alias("market_id"),
        pl.col("task_id").alias("item_id"),
        pl.col("quantity").alias("supply"),
        (pl.col("reserve") / pl.col("quantity")).alias("reserve_price"),
    )


def _awards(tasks: pl.DataFrame, allocations: pl.DataFrame) -> pl.DataFrame:
    """One row per awarded task: who does it, its ask and what it is paid."""
    won = allocations.filter(pl.col("won")).select(
        pl.col("items").list.first().alias("task_id"),
        "agent_id",
        "bid_id",
        pl.col("price").alias("ask"),
        "payment",
    )
    columns = ["task_id", "capability", "quantity", "agent_id", "bid_id", "ask", "payment"]
    return tasks.join(won, on="task_id").select(*columns, "reserve", "deadline").sort("task_id")


def _unassigned(
    tasks: pl.DataFrame, rejected: pl.DataFrame, awards: pl.DataFrame, offers: pl.DataFrame
) -> pl.DataFrame:
    """Rejected task rows and good tasks that no offer won, with the reason."""
    offered = offers.select(pl.col("items").list.first().alias("task_id")).unique()
    unserved = tasks.join(awards.select("task_id"), on="task_id", how="anti").select(
        "task_id",
        pl.lit(None, dtype=pl.Int64).alias("row"),
        pl.lit(None, dtype=pl.String).alias("field"),
        pl.when(pl.col("task_id").is_in(offered["task_id"].implode()))
        .then(pl.format("its market {} did not award it", "capability"))
        .otherwise(pl.format("no agent able to do {} offered within the reserve", "capability"))
        .alias("reason"),
    )
    return pl.concat([rejected, unserved]).cast(pl.Schema(UNASSIGNED_SCHEMA)).sort("task_id")
