"""A small batch in one task (``enx-clear``): validate, plan and solve together.

A batch of a few hundred bids clears in tens of milliseconds, while each
stage of the full graph (``enx-validate``, ``enx-plan``, ``enx-solve``,
``enx-combine``) adds a scheduler round trip of 3-15 ms. A batch of one
in-memory part with at most ``cluster.small-batch-bids`` rows, no live
clock, no race and no VCG or core market runs these same pure functions in
one task instead. Its hard components share the cluster's threads as in the
full graph: a lone one gets them all in the task, several become
``enx-solve`` tasks of their own. VCG and core markets keep the full graph,
whose re-solves (one per winner) run as tasks across the workers.
"""

from __future__ import annotations

from operator import getitem
from typing import Any

import polars as pl
from distributed import Client, Future, worker_client

from econonexus._core.config import get_setting
from econonexus._core.formats import PIVOT_RULES
from econonexus.pipelines.clearing.bucket import (
    BucketPlan,
    BucketRows,
    assemble_bucket,
    solve_spare,
)
from econonexus.pipelines.graph import batch_tasks as bt
from econonexus.pipelines.graph.options import BatchOptions


def is_small(
    part: Any, markets: list[str], options: BatchOptions, *, split: bool, live: bool, racing: bool
) -> bool:
    """Whether a batch clears in one task: one in-memory part of at most
    ``cluster.small-batch-bids`` rows, with no live clock, no race and no VCG or core
    market solved by MIP."""
    if split or live or racing or not isinstance(part, pl.DataFrame):
        return False
    if part.height > int(get_setting("cluster.small-batch-bids")):
        return False
    settings = (options.settings(m) for m in markets)
    return not any(s.payment_rule in PIVOT_RULES and s.kind.mip for s in settings)


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
        clear_small, raw, placed, terms, source_errors, markets, token, key=f"enx-clear-{token}"
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
    token: str,
) -> tuple[BucketRows, pl.DataFrame]:
    """``enx-clear``: the rows and the rejected rows of a small batch (``placed``: its
    items, options, accounts, keys and signed bids seen; ``terms``: those of
    :func:`~econonexus.pipelines.graph.batch_tasks.plan_part` after the part)."""
    lots, options, books, secrets, before = placed
    validated = bt.validate_batch(raw, lots, options, books, secrets, before)
    rejected = bt.rejected_rows(raw, validated, source_errors)
    planned = bt.plan_whole(validated, markets, *terms)
    if isinstance(planned, BucketRows):
        return planned, rejected
    return _solved(planned, options, threads=terms[-1], tag=f"{token}-0"), rejected


def _solved(plan: BucketPlan, options: BatchOptions, *, threads: int, tag: str) -> BucketRows:
    """The plan's rows. A lone hard component was solved in the plan; several are solved
    side by side as ``enx-solve`` tasks of their own (each with its share of the threads,
    as in the full graph), which this task waits for outside the worker's thread pool:
    solvers that run in this process (HiGHS without a limit, the LP relaxations) must not
    run in two threads of one process at once."""
    n = len(plan.large)
    if n < 2 or threads < 2:
        return assemble_bucket(plan, options)
    with worker_client() as client:
        solving = [
            client.submit(
                solve_spare,
                *(plan, j, options, threads),
                key=f"enx-solve-{tag}-{j}",
                retries=options.retries,
            )
            for j in range(n)
        ]
        large = client.gather(solving)
    return assemble_bucket(plan, options, *large)
