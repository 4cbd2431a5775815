"""A small batch in one task (``enx-clear``): validate, plan, solve and price together.

A batch of a few hundred bids clears in tens of milliseconds, while each
stage of the full graph (``enx-validate``, ``enx-plan``, ``enx-solve``,
``enx-combine``, ``enx-vcg-plan``, ``enx-price``) adds a scheduler round
trip of 3-15 ms and the VCG stage one more to the client. A batch of one
in-memory part with at most ``cluster.small-batch-bids`` rows, no live clock
and no race runs these same pure functions in one task instead: its lone hard
component gets the cluster's threads as in the full graph, and its other hard
components and VCG re-solves run in the task, one after another.
"""

from __future__ import annotations

from operator import getitem
from typing import Any

import polars as pl
from distributed import Client, Future

from econonexus._core.config import get_setting
from econonexus._core.formats import PIVOT_RULES
from econonexus.pipelines.clearing.bucket import (
    BucketPlan,
    BucketRows,
    assemble_bucket,
    plan_bucket_vcg,
    price_bucket,
)
from econonexus.pipelines.graph import batch_tasks as bt
from econonexus.pipelines.graph.options import BatchOptions


def is_small(part: Any, split: bool, live: bool, racing: bool) -> bool:
    """Whether a batch clears in one task: one in-memory part of at most
    ``cluster.small-batch-bids`` rows, with no live clock and no race."""
    if split or live or racing or not isinstance(part, pl.DataFrame):
        return False
    return part.height <= int(get_setting("cluster.small-batch-bids"))


def submit_small(
    client: Client,
    raw: Any,
    placed: tuple[Any, ...],
    terms: tuple[Any, ...],
    source_errors: pl.DataFrame,
    markets: list[str],
    token: str,
) -> tuple[Future[Any], Future[Any], Future[Any]]:
    """Submit ``enx-clear`` and its two parts (``enx-rows``, ``enx-rejected``): the
    task, the bucket's rows and the rejected rows."""
    whole = client.submit(
        clear_small, raw, placed, terms, source_errors, markets, key=f"enx-clear-{token}"
    )
    rows = client.submit(getitem, whole, 0, key=f"enx-rows-{token}")
    rejected = client.submit(getitem, whole, 1, key=f"enx-rejected-{token}")
    return whole, rows, rejected


def clear_small(
    raw: pl.DataFrame,
    placed: tuple[Any, ...],
    terms: tuple[Any, ...],
    source_errors: pl.DataFrame,
    markets: list[str],
) -> tuple[BucketRows, pl.DataFrame]:
    """``enx-clear``: the rows and the rejected rows of a small batch (``placed``: its
    items, options, accounts, keys and signed bids seen; ``terms``: those of
    :func:`~econonexus.pipelines.graph.batch_tasks.plan_part` after the part)."""
    lots, options, books, secrets, before = placed
    validated = bt.validate_batch(raw, lots, options, books, secrets, before)
    rejected = bt.rejected_rows(raw, validated, source_errors)
    planned = bt.plan_whole(validated, markets, *terms)
    rows = planned if isinstance(planned, BucketRows) else _solved(planned, options)
    return rows, rejected


def _solved(plan: BucketPlan, options: BatchOptions) -> BucketRows:
    """The plan's rows, every hard component solved here and VCG prices set."""
    rows = assemble_bucket(plan, options)
    if not any(s.payment_rule in PIVOT_RULES and s.kind.mip for s in options.markets.values()):
        return rows
    # every re-solve inline: a bound no component reaches
    return price_bucket(plan_bucket_vcg(rows, options, inline_max=1 << 62), options)
