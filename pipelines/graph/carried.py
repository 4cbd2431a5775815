"""Bids a halted market carried over, less those the new batch resubmits unchanged.

A bid carried over from a halted market and sent again, unchanged, in the
next batch is one bid, not two with one ``bid_id`` (which the duplicate
rule would reject, both copies). A resubmitted bid that changed is kept
twice, and the duplicate rule names both rows.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from distributed import Client

from econonexus.pipelines.graph.transfer import release, watched_gather

BID_CONTENT = (
    "bid_id",
    "agent_id",
    "market_id",
    "xor_group",
    "side",
    "signature",
    "items",
    "quantities",
    "price",
    "submitted_at",
)


def content_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """``bid_id`` and a hash of each row's bid (its fields as read, not where it came from)."""
    fields = [c for c in BID_CONTENT if c in frame.columns]
    return frame.select("bid_id", pl.struct(fields).hash().alias("_content"))


def resubmitted(part: pl.DataFrame, carried: pl.DataFrame) -> pl.DataFrame:
    """``enx-carry-seen``: the ``carried`` keys that ``part`` holds unchanged."""
    return carried.join(content_keys(part), on=["bid_id", "_content"], how="semi")


def not_resubmitted(
    client: Client, carried: pl.DataFrame, parts: list[Any], token: str
) -> pl.DataFrame:
    """The ``carried`` bids that no part of the new batch repeats unchanged."""
    keys = content_keys(carried)
    futures = [
        client.submit(resubmitted, part, keys, key=f"enx-carry-seen-{token}-{k}")
        for k, part in enumerate(parts)
    ]
    try:
        found = watched_gather(client, futures)
    finally:
        release(futures)
    if not found:
        return carried
    seen = pl.concat(found).unique()
    kept = keys.with_row_index("_at").join(seen, on=["bid_id", "_content"], how="anti")
    return carried[kept["_at"].sort().to_list()]
