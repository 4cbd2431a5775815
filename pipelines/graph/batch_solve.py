"""The solve stages of a batch's graph: a bucket's large components (``enx-solve``,
``enx-combine``) and its VCG re-solves and prices (``enx-vcg-plan``, ``enx-vcg``,
``enx-price``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from distributed import Client, Future

from econonexus._core.config import get_setting
from econonexus._core.formats import PIVOT_RULES
from econonexus.pipelines.clearing.bucket import (
    assemble_bucket,
    n_large_vcg,
    plan_bucket_vcg,
    price_bucket,
    solve_large,
    solve_large_vcg,
    solve_spare,
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
    field: tuple[str, ...] = (),
) -> Future[Any]:
    """Solve a bucket's ``count`` large components (``enx-solve``, or a race among the
    racers of ``field``: :mod:`.race_tasks`) and join them (``enx-combine``)."""
    solved = [
        submit_race(client, plan, j, lean, f"{tag}-{j}", field)
        if field
        else client.submit(
            solve_large, plan, j, lean, key=f"enx-solve-{tag}-{j}", retries=lean.retries
        )
        for j in range(count)
    ]
    return client.submit(assemble_bucket, plan, opts, *solved, key=f"enx-combine-{tag}")


def submit_spares(
    client: Client, plan: Future[Any], threads: int, opts: Any, lean: BatchOptions, tag: str
) -> Future[Any]:
    """Solve the large components of a batch's one bucket without counting them first:
    one spare ``enx-solve`` per thread (``None`` when the bucket has fewer components; the
    plan solved a lone one itself) and ``enx-combine``, which solves any left over."""
    spares = [
        client.submit(
            solve_spare, plan, j, lean, threads, key=f"enx-solve-{tag}-{j}", retries=lean.retries
        )
        for j in range(threads)
    ]
    return client.submit(assemble_bucket, plan, opts, *spares, key=f"enx-combine-{tag}")


def lean_options(options: BatchOptions) -> BatchOptions:
    """The options a solve task needs: a component carries its market's data already."""
    return replace(options, markets={}, policies={})


def price_vcg_buckets(
    client: Client, assembled: list[Future[Any]], options: BatchOptions, opts: Any, token: str
) -> list[Future[Any]]:
    """Add the VCG re-solves (``enx-vcg``) and pricing (``enx-price``) of buckets."""
    if not any(s.payment_rule in PIVOT_RULES and s.kind.mip for s in options.markets.values()):
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
            lean,
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
