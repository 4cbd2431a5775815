"""The solve stages of a batch's graph: a bucket's large components (``enx-solve``,
``enx-combine``) and its VCG re-solves and prices (``enx-vcg-plan``, ``enx-vcg``,
``enx-price``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from distributed import Client, Future

from econonexus._core.config import get_setting
from econonexus.pipelines.clearing.bucket import (
    assemble_bucket,
    n_large_vcg,
    plan_bucket_vcg,
    price_bucket,
    solve_large,
    solve_large_vcg,
)
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.graph.race_tasks import submit_race
from econonexus.pipelines.graph.transfer import gather_counts


def submit_assembly(
    client: Client,
    plan: Future[Any],
    count: int,
    opts: Any,
    lean: BatchOptions,
    tag: str,
    *,
    race: bool = False,
) -> Future[Any]:
    """Solve a bucket's ``count`` large components (``enx-solve``, or a ``race`` of the
    backends: :mod:`.race_tasks`) and join them (``enx-combine``)."""
    solved = [
        submit_race(client, plan, j, lean, f"{tag}-{j}")
        if race
        else client.submit(
            solve_large, plan, j, lean, key=f"enx-solve-{tag}-{j}", retries=lean.retries
        )
        for j in range(count)
    ]
    return client.submit(assemble_bucket, plan, opts, *solved, key=f"enx-combine-{tag}")


def lean_options(options: BatchOptions) -> BatchOptions:
    """The options a solve task needs: a component carries its market's data already."""
    return replace(options, markets={}, policies={})


def price_vcg_buckets(
    client: Client, assembled: list[Future[Any]], options: BatchOptions, opts: Any, token: str
) -> list[Future[Any]]:
    """Add the VCG re-solves (``enx-vcg``) and pricing (``enx-price``) of buckets."""
    if not any(s.payment_rule == "vcg" and s.kind.mip for s in options.markets.values()):
        return assembled
    inline = int(get_setting("solver.inline-max-bids"))
    planned = [
        client.submit(plan_bucket_vcg, rows, opts, inline, key=f"enx-vcg-plan-{token}-{b}")
        for b, rows in enumerate(assembled)
    ]
    counts = gather_counts(client, n_large_vcg, planned, f"enx-vcg-size-{token}")
    lean = lean_options(options)
    return [
        client.submit(
            price_bucket,
            planned[b],
            *[
                client.submit(
                    solve_large_vcg,
                    *(planned[b], j, lean),
                    key=f"enx-vcg-{token}-{b}-{j}",
                    retries=options.retries,
                )
                for j in range(count)
            ],
            key=f"enx-price-{token}-{b}",
        )
        for b, count in enumerate(counts)
    ]


def with_thread_share(options: BatchOptions, threads: int, n_large: int) -> BatchOptions:
    """Options for the large components: the cluster's threads shared among them.

    A batch of one hard component would otherwise keep one core busy and the
    rest idle; CBC's parallel branch and bound on the idle cores measured up
    to 2.5x faster on 2 cores (``benchmarks/pipeline_vs_direct.py``). Setting
    ``solver.share-threads`` false turns this off.
    """
    if not get_setting("solver.share-threads") or n_large == 0:
        return options
    share = threads // n_large
    if share <= options.limits.threads:
        return options
    return replace(options, limits=replace(options.limits, threads=share))
