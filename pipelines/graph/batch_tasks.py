"""The pure functions a batch's graph runs on the workers (see :mod:`.batch`).

Each takes what its task's dependencies hold and returns what the next
needs: a validated batch, its buckets, a bucket's plan (or, without MIP
markets, its rows), the rejected rows with their markets, the flags.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from econonexus.agents.detection import detection_bids
from econonexus.agents.detection import flag_bids as run_detection
from econonexus.pipelines.clearing.bucket import (
    BucketPlan,
    BucketRows,
    assemble_bucket,
    plan_bucket,
    solve_alone,
)
from econonexus.pipelines.clearing.bucket_split import Part, named_markets, split_batch
from econonexus.pipelines.clearing.market_rows import ALLOCATION_COLUMNS
from econonexus.pipelines.graph import market_tasks as tasks
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.io.market_policy import detected_markets
from econonexus.pipelines.io.validation import validate


def flag_markets(
    accounts: pl.DataFrame | None,
    options: BatchOptions,
    sellers: pl.DataFrame | None,
    *rows: BucketRows,
) -> pl.DataFrame:
    """Manipulation flags (rings, shills, sybils) over the batch's markets with detection on."""
    return flag_bids(accounts, *(detection_rows(options, sellers, r) for r in rows))


def detection_rows(
    options: BatchOptions, sellers: pl.DataFrame | None, rows: BucketRows
) -> pl.DataFrame:
    """``enx-detect-rows``: what detection reads of a bucket's markets with detection on
    (with the auctions' sellers, when the items table names them, and the sell side of
    procurement markets, whose party served is their buyer)."""
    on = detected_markets(options.policies, options.detection)
    sell = frozenset(m for m, s in options.markets.items() if s.kind.side == "sell")
    return detection_bids(rows.allocations.filter(on), sellers, sell)


def flag_bids(accounts: pl.DataFrame | None, *bids: pl.DataFrame) -> pl.DataFrame:
    """``enx-detect``: manipulation flags over every bucket's :func:`detection_rows`."""
    found = pl.concat(bids) if bids else detection_bids(pl.DataFrame(schema=ALLOCATION_COLUMNS))
    return run_detection(found, accounts)


def validate_batch(
    frame: pl.DataFrame,
    items: pl.DataFrame | None,
    options: BatchOptions,
    accounts: pl.DataFrame | None,
    keys: dict[str, bytes] | None,
    seen: pl.DataFrame | None,
) -> tasks.Validated:
    """``enx-validate``: the valid bids and the rejected rows of the normalized batch.

    The options travel once, placed with the inputs, not their market tables
    in each task's arguments.
    """
    return validate(
        frame, items, options.markets, accounts, keys, seen, options.policies, options.sanctions
    )


def plan_part(part: Part, *terms: Any) -> BucketPlan | BucketRows:
    """``enx-plan``: plan a bucket (``terms``: those of :func:`plan_bucket`, then ``direct``
    and ``alone``); ``direct`` (no MIP market, no live clock) clears it too and returns its
    rows; ``alone`` (the cluster's threads, for a batch of one bucket; else 0) solves its
    one large component here (:func:`solve_alone`)."""
    *plan_terms, direct, alone = terms
    plan = plan_bucket(part, *plan_terms)
    if direct:
        return assemble_bucket(plan, plan_terms[1])
    return solve_alone(plan, plan_terms[1], alone) if alone else plan


Names = list[str] | tuple[pl.DataFrame, pl.DataFrame]
"""The batch's markets: their list, or the normalized batch and source errors naming them."""


def market_names(names: Names) -> list[str]:
    """Every market of the batch, from its list or from the frames naming them."""
    return names if isinstance(names, list) else batch_markets(*names)


def split_validated(validated: tasks.Validated, names: Names, n: int) -> list[Part]:
    """``enx-split``: the valid bids and the markets in ``n`` buckets."""
    return split_batch(validated[0], market_names(names), n)


def plan_whole(validated: tasks.Validated, names: Names, *terms: Any) -> BucketPlan | BucketRows:
    """``enx-plan`` of a batch of one bucket, straight from the validated batch."""
    return plan_part((validated[0], market_names(names)), *terms)


def live_bids(plan: BucketPlan) -> pl.DataFrame:
    """``enx-live-bids``: the bids of a bucket's live clock markets, for the client."""
    return plan.live


def batch_markets(frame: pl.DataFrame, source_errors: pl.DataFrame) -> list[str]:
    """Return every market named in the batch, valid or not, sorted."""
    return named_markets(frame["market_id"], source_errors["market_id"])


def rejected_rows(
    raw: pl.DataFrame, validated: tuple[pl.DataFrame, pl.DataFrame], source_errors: pl.DataFrame
) -> pl.DataFrame:
    """Return every rejected row of the batch with its market."""
    positions = raw.select("_source", "_row", "market_id")
    rejected = validated[1].join(
        positions, left_on=["source", "row"], right_on=["_source", "_row"], how="left"
    )
    return pl.concat([rejected, source_errors.select(rejected.columns)])


def rejected_digest(rejected: pl.DataFrame) -> tuple[dict[str, int], int]:
    """``enx-rejected-count``: rejected rows per market, and in all (rows, not reasons)."""
    rows = rejected.unique(["source", "row"])
    counts = rows.group_by("market_id").len()
    return {m: n for m, n in counts.iter_rows() if m is not None}, rows.height
