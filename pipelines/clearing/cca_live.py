"""A CCA market with live bidders, cleared on the client: its supplementary round asks the
agents' shards.

With ``clear(..., bidders=LiveBidders(pool))`` a ``cca`` market's valid bids
come back to the client (as a live clock's do). Its clock phase runs on those
bids as proxies; in the supplementary round each live agent bids on its
packages from its own state (:meth:`econonexus.agents.live.LiveBidders.package_values`),
and the activity rule caps those bids (:mod:`econonexus.solvers.cca`); an
agent no shard answers for keeps its submitted bid. Winner determination and
the payment rule then run here, with the same functions the workers run.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl

from econonexus._core.formats import PIVOT_RULES
from econonexus.pipelines.clearing.bucket import (
    BucketPlan,
    BucketRows,
    assemble_bucket,
    plan_bucket_vcg,
    price_bucket,
    rows_of,
)
from econonexus.pipelines.clearing.market_rows import market_items
from econonexus.pipelines.graph import market_tasks as tasks
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.solvers.problem import FloatArray, MarketProblem


@runtime_checkable
class PackageBidders(Protocol):
    """Live agents that bid on packages (:class:`econonexus.agents.live.LiveBidders`)."""

    def package_values(self, packages: pl.DataFrame) -> np.ndarray: ...


def clear_cca_live(
    market_id: str,
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    options: BatchOptions,
    bidders: PackageBidders,
) -> BucketRows:
    """The rows of one ``cca`` market whose live agents answer its supplementary round."""
    lots = market_items(items, market_id)

    def values_for(problem: MarketProblem) -> FloatArray:
        answered: FloatArray = bidders.package_values(packages(problem))
        return answered

    plan = tasks.plan(bids, lots, market_id, options, values_for=values_for)
    assert plan is not None  # a cca market is a MIP market
    bucket = BucketPlan(
        done=rows_of([]),
        bids={market_id: bids},
        items={market_id: lots},
        plans={market_id: plan},
        solved={},
        large=[(market_id, k) for k in range(len(plan.pending))],
        live=bids.clear(),
    )
    rows = assemble_bucket(bucket, options)
    if options.settings(market_id).payment_rule not in PIVOT_RULES:
        return rows
    # every re-solve here, one after another: a bound no component reaches
    return price_bucket(plan_bucket_vcg(rows, options, inline_max=1 << 62), options)


def packages(problem: MarketProblem) -> pl.DataFrame:
    """The problem's packages as live agents are asked them: ``agent_id``, ``market_id``,
    ``items`` (problem order)."""
    bundles = [
        problem.item_ids[problem.item[problem.ptr[i] : problem.ptr[i + 1]]].tolist()
        for i in range(problem.n_bids)
    ]
    return pl.DataFrame(
        {
            "agent_id": problem.agent_ids.tolist(),
            "market_id": problem.market_id,
            "items": bundles,
        },
        schema={"agent_id": pl.String, "market_id": pl.String, "items": pl.List(pl.String)},
    )
