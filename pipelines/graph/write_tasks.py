"""The functions a run's workers call to publish it (see :mod:`.run_publish`).

A bucket's rows never travel to the client: the client gathers each bucket's
digest (its summary and what halts need), decides the halts, and each
bucket then writes its part of ``allocations`` and ``prices``
(``enx-write``); the rejected rows and the normalized bids are written where
they are held too. Every write returns its listing for the manifest.
"""

from __future__ import annotations

import polars as pl

from econonexus.agents.lease import Lease
from econonexus.pipelines.clearing.bucket import BucketRows
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.io.accounts import with_stake
from econonexus.pipelines.store.halts import won_units
from econonexus.pipelines.store.run_files import Listing, part_path, to_arrow, write_part


def with_run_id(frame: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """``frame`` with the ``run_id`` column first, as every published table has it."""
    return frame.select(pl.lit(run_id).alias("run_id"), pl.all())


def stamp_allocations(
    allocations: pl.DataFrame, run_id: str, options: BatchOptions
) -> pl.DataFrame:
    """Allocations as published: the run id first, each bid's stake, by market and bid."""
    staked = with_stake(allocations, options.policies)
    return with_run_id(staked, run_id).sort("market_id", "bid_id")


def stamp_summary(summary: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """The summary as published: the run id first, by market."""
    return with_run_id(summary, run_id).sort("market_id")


def stamp_prices(prices: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """Clock price paths as published: the run id first, by market, item and round."""
    return with_run_id(prices, run_id).sort("market_id", "item_id", "round")


def stamp_rejected(rejected: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """Rejected rows as published: the run id first, by source, row and field."""
    return with_run_id(rejected.drop("market_id").sort("source", "row", "field"), run_id)


def bucket_digest(rows: BucketRows, shares: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``enx-digest``: what the client needs of a bucket: its summary and the units won per
    market (per agent in the markets whose winner share a rule watches: ``shares``)."""
    return rows.summary, won_units(rows.allocations, shares)


def write_bucket(
    rows: BucketRows,
    index: int,
    location: str,
    run_id: str,
    halted: list[str],
    options: BatchOptions,
    *,
    fence: Lease | None = None,
) -> Listing:
    """``enx-write``: part ``index`` of ``allocations`` and ``prices``, halted markets left
    out (their bids wait in the carry-over); written only while ``fence`` (the run's
    publish lease) is current."""
    kept = ~pl.col("market_id").is_in(pl.Series(halted, dtype=pl.String).implode())
    allocations = stamp_allocations(rows.allocations.filter(kept), run_id, options)
    prices = stamp_prices(rows.prices.filter(kept), run_id)
    parts = {"allocations": allocations, "prices": prices}
    listing: Listing = {}
    for name, frame in parts.items():
        listing |= write_part(location, part_path(name, index), to_arrow(name, frame), fence=fence)
    return listing


def write_rejected(
    rejected: pl.DataFrame, location: str, run_id: str, *, fence: Lease | None = None
) -> Listing:
    """``enx-write-rejected``: the run's rejected rows."""
    rows = stamp_rejected(rejected, run_id)
    return write_part(location, part_path("rejected", 0), to_arrow("rejected", rows), fence=fence)


def write_input(
    frame: pl.DataFrame,
    location: str,
    name: str,
    index: int = 0,
    *,
    fence: Lease | None = None,
) -> Listing:
    """``enx-write-input``: part ``index`` of input ``name`` (``inputs/<name>/``)."""
    relative = part_path(f"inputs/{name}", index)
    return write_part(location, relative, frame, fence=fence)


def signed_bids(
    options: BatchOptions, halted: list[str], run_id: str, *rows: BucketRows
) -> pl.DataFrame:
    """``enx-signed``: the bids accepted in signed markets (``market_id``, ``bid_id``,
    ``run_id``)."""
    signed = [m for m, p in options.policies.items() if p.signed and m not in halted]
    mine = pl.col("market_id").is_in(pl.Series(signed, dtype=pl.String).implode())
    ids = [r.allocations.filter(mine).select("market_id", "bid_id") for r in rows]
    found = (
        pl.concat(ids)
        if ids
        else pl.DataFrame(schema={"market_id": pl.String, "bid_id": pl.String})
    )
    return found.with_columns(run_id=pl.lit(run_id))
