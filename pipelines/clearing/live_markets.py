"""A batch's live markets, cleared on the client: each asks the agents' shards.

English and Dutch clocks ask the shards round by round
(:mod:`econonexus.pipelines.clearing.single_item`); a CCA asks them in its
supplementary round (:mod:`econonexus.pipelines.clearing.cca_live`).
"""

from __future__ import annotations

import polars as pl

from econonexus.pipelines.clearing.bucket import BucketRows, rows_of
from econonexus.pipelines.clearing.cca_live import PackageBidders, clear_cca_live
from econonexus.pipelines.clearing.market_rows import market_items
from econonexus.pipelines.clearing.single_item import BiddersFor, clear_single_item
from econonexus.pipelines.graph.options import BatchOptions


def clear_live(
    markets: list[str],
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    options: BatchOptions,
    live: BiddersFor,
) -> BucketRows:
    """The rows of the live ``markets`` of a batch, whose valid ``bids`` came back here."""
    rows = []
    for m in markets:
        mine, settings = bids.filter(pl.col("market_id") == m), options.settings(m)
        if settings.kind.supplementary and isinstance(live, PackageBidders):
            rows.append(clear_cca_live(m, mine, items, options, live))
        else:
            lots = market_items(items, m)
            rows.append(BucketRows(*clear_single_item(m, mine, lots, settings, live)))
    return rows_of(rows)
