"""Build the problems of many markets at once.

:func:`econonexus.solvers.problem.build_problem` builds one market's
problem with a dozen Polars passes, about a millisecond; a bucket of 10,000
small combinatorial markets would spend seconds there. :func:`build_problems`
makes the same problems (same bid order, tie weights and arrays) with a few
passes over all the markets' bids and NumPy slices per market.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from econonexus.solvers.problem import (
    MarketProblem,
    group_index,
    item_terms,
    key_numbers,
    key_weights,
    tie_budget,
)


def build_problems(
    bids: pl.DataFrame,
    items: Mapping[str, pl.DataFrame | None],
    *,
    tie_epsilon: float,
    default_reserve: Mapping[str, float],
) -> dict[str, MarketProblem]:
    """The problem of every market in ``bids`` (validated bids, bids schema).

    ``items`` holds each market's item rows (or ``None``) and
    ``default_reserve`` each market's reserve for unlisted items; both as for
    :func:`econonexus.solvers.problem.build_problem`, whose problems these equal.
    """
    if bids.height == 0:
        return {}
    numbers = key_numbers(bids["market_id"].to_list(), bids["bid_id"].to_list())
    market_rank = bids["market_id"].rank("dense").to_numpy()
    order = np.lexsort((numbers, market_rank)).astype(np.int64)  # by market, then key
    weights = key_weights(numbers[order])
    ordered = bids[order]
    markets = ordered["market_id"].to_numpy().astype(object)
    starts = np.flatnonzero(np.r_[True, markets[1:] != markets[:-1]])
    ends = np.r_[starts[1:], len(markets)]
    ptr = np.concatenate([[0], np.cumsum(ordered["items"].list.len().to_numpy())]).astype(np.int64)
    flat_items = ordered["items"].explode().to_numpy().astype(object)
    flat_qty = ordered["quantities"].explode().to_numpy().astype(np.int64)
    xor_keys = ordered.select(
        pl.when(pl.col("xor_group").is_not_null())
        .then(pl.concat_str([pl.col("agent_id"), pl.col("xor_group")], separator="\x1f"))
        .alias("k")
    )["k"].to_list()
    price = ordered["price"].to_numpy().astype(np.float64)
    bid_ids = ordered["bid_id"].to_numpy().astype(object)
    agent_ids = ordered["agent_id"].to_numpy().astype(object)
    problems = {}
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        market = str(markets[s])
        lo, hi = int(ptr[s]), int(ptr[e])
        item_ids, item = np.unique(flat_items[lo:hi], return_inverse=True)
        supply, reserve = item_terms(item_ids, items.get(market), default_reserve[market])
        n = e - s
        problems[market] = MarketProblem(
            market_id=market,
            bid_ids=bid_ids[s:e],
            agent_ids=agent_ids[s:e],
            price=price[s:e],
            tie=tie_budget(price[s:e], tie_epsilon) * weights[s:e] / max(n, 1),
            ptr=ptr[s : e + 1] - lo,
            item=item.astype(np.int64),
            qty=flat_qty[lo:hi],
            xor=group_index(xor_keys[s:e]),
            item_ids=item_ids,
            supply=supply,
            reserve=reserve,
            index=np.arange(n, dtype=np.int64),
        )
    return problems
