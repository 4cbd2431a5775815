"""The Dask graph of one batch: validate, partition, solve, assemble.

The normalized batch is scattered once (to every worker, so losing a worker
never loses the only copy); every later stage is a task with a readable key
prefix (``enx-validate``, ``enx-plan``, ``enx-solve``, ``enx-combine``,
``enx-vcg``, ``enx-price``), and every task is pure, so the scheduler can
rerun any of them on a live worker when a worker dies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import polars as pl
from distributed import Client, Future

from econonexus._core.config import get_setting
from econonexus.pipelines.clearing.market_rows import (
    ALLOCATION_COLUMNS,
    PRICE_COLUMNS,
    SUMMARY_COLUMNS,
)
from econonexus.pipelines.clearing.single_item import BiddersFor, clear_single_item
from econonexus.pipelines.graph import market_tasks as tasks
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.graph.progress import track
from econonexus.pipelines.graph.transfer import gather_counts, place_inputs, release, watched_gather
from econonexus.pipelines.io.validation import validate


@dataclass(frozen=True)
class BatchOutput:
    """The gathered results of a batch, before run ids are stamped and files written."""

    allocations: pl.DataFrame
    summary: pl.DataFrame
    rejected: pl.DataFrame
    prices: pl.DataFrame


def run_batch(
    client: Client,
    frame: pl.DataFrame,
    items: pl.DataFrame | None,
    options: BatchOptions,
    source_errors: pl.DataFrame,
    *,
    accounts: pl.DataFrame | None = None,
    keys: dict[str, bytes] | None = None,
    seen: pl.DataFrame | None = None,
    progress: bool = False,
    live: BiddersFor | None = None,
    halted: frozenset[str] = frozenset(),
) -> BatchOutput:
    """Clear the normalized batch ``frame`` on ``client``'s cluster.

    ``source_errors`` are rows the readers already rejected (CATS line errors),
    in :data:`econonexus.pipelines.io.cats.ERRORS_SCHEMA`; ``accounts`` are the
    agents' accounts that stake and reputation rules check; ``keys`` and
    ``seen`` check signed markets (signing keys, bids accepted before);
    ``halted`` markets (halted by an earlier run) are validated but never
    solved; ``progress`` shows a progress bar while the tasks run; ``live`` makes the
    bidders of ``english`` and ``dutch`` markets, whose clocks then run here,
    on the client, asking the live agents each round.
    """
    token = _token()
    markets = batch_markets(frame, source_errors)
    scattered, threads = place_inputs(client, [frame, items, accounts, keys, seen])
    raw, lots, books, secrets, before = scattered
    validated = client.submit(
        validate,
        *(raw, lots, options.markets, books, secrets, before, options.policies),
        key=f"enx-validate-{token}",
    )
    rejected = client.submit(_rejected, raw, validated, source_errors, key=f"enx-rejected-{token}")
    # Only MIP-format markets have components to plan and solve; the others
    # (single-item, clock) clear in their combine task, with no round trip.
    mip = [i for i, m in enumerate(markets) if options.settings(m).kind.mip and m not in halted]
    plans: dict[int, Future[Any]] = {
        i: client.submit(
            tasks.plan, validated, lots, markets[i], options, key=f"enx-plan-{token}-{i}"
        )
        for i in mip
    }
    # The largest component (k=0) starts as soon as its plan exists; the count
    # of the others needs one round trip to the client.
    largest = _with_thread_share(options, threads, len(markets))
    first = {i: _submit_solve(client, plans[i], 0, largest, f"{token}-{i}") for i in mip}
    counts = gather_counts(client, tasks.n_pending, list(plans.values()), f"enx-size-{token}")
    sizes = dict(zip(mip, counts, strict=True))
    clocks = {
        i
        for i, m in enumerate(markets)
        if live is not None and m not in halted and _live_clock(m, options)
    }
    assembled: list[Future[Any]] = []
    for i, m in enumerate(markets):
        if m in halted:
            key = f"enx-held-{token}-{i}"
            assembled.append(client.submit(tasks.held, validated, m, options, key=key))
            continue
        if i in clocks:  # a live clock runs on the client: only the market's bids go there
            key = f"enx-live-bids-{token}-{i}"
            assembled.append(client.submit(tasks.market_bids, validated, m, key=key))
            continue
        size, plan = sizes.get(i, 0), plans.get(i)
        solved = [
            _submit_solve(client, plans[i], k, options, f"{token}-{i}") for k in range(1, size)
        ]
        assembled.append(
            client.submit(
                tasks.assemble,
                *(validated, lots, m, options, plan),
                *([first[i]] if size else []),
                *solved,
                key=f"enx-combine-{token}-{i}",
            )
        )
    final = _price_vcg_markets(client, markets, assembled, options, token)
    if progress:
        track(client, [*final, rejected])
    results, rejected_rows = watched_gather(client, [final, rejected])
    for i in clocks:
        m = markets[i]
        rows = clear_single_item(
            m, results[i], tasks.market_items(items, m), options.settings(m), live
        )
        results[i] = tasks.MarketResult(*rows)
    release(
        [
            *(raw, lots, books, secrets, before, validated, rejected),
            *plans.values(),
            *first.values(),
            *assembled,
            *final,
        ]
    )
    n_rejected = rejected_counts(rejected_rows)
    summary = _concat([r.summary for r in results], SUMMARY_COLUMNS).with_columns(
        n_rejected=pl.col("market_id").replace_strict(n_rejected, default=0, return_dtype=pl.Int64)
    )
    return BatchOutput(
        allocations=_concat([r.allocations for r in results], ALLOCATION_COLUMNS),
        summary=summary,
        rejected=rejected_rows,
        prices=_concat([r.prices for r in results], PRICE_COLUMNS),
    )


def _price_vcg_markets(
    client: Client,
    markets: list[str],
    assembled: list[Future[Any]],
    options: BatchOptions,
    token: str,
) -> list[Future[Any]]:
    """Add the VCG re-solves (``enx-vcg``) and pricing (``enx-price``) of VCG markets."""
    vcg = [
        i
        for i, m in enumerate(markets)
        if options.settings(m).payment_rule == "vcg" and options.settings(m).kind.mip
    ]
    if not vcg:
        return assembled
    jobs = {
        i: client.submit(tasks.plan_vcg, assembled[i], options, key=f"enx-vcg-plan-{token}-{i}")
        for i in vcg
    }
    counts = gather_counts(client, tasks.n_jobs, [jobs[i] for i in vcg], f"enx-vcg-size-{token}")
    final = list(assembled)
    for i, count in zip(vcg, counts, strict=True):
        gains = [
            client.submit(
                tasks.solve_vcg,
                jobs[i],
                k,
                options,
                key=f"enx-vcg-{token}-{i}-{k}",
                retries=options.retries,
            )
            for k in range(count)
        ]
        final[i] = client.submit(
            tasks.price, assembled[i], jobs[i], *gains, key=f"enx-price-{token}-{i}"
        )
    return final


def _with_thread_share(options: BatchOptions, threads: int, n_markets: int) -> BatchOptions:
    """Options for each market's largest component: the cluster's threads shared among markets.

    A batch of one hard market would otherwise keep one core busy and the
    rest idle; CBC's parallel branch and bound on the idle cores measured up
    to 2.5x faster on 2 cores (``benchmarks/pipeline_vs_direct.py``). The
    other components keep ``solver.threads``. Setting ``solver.share-threads``
    false turns this off.
    """
    if not get_setting("solver.share-threads") or n_markets == 0:
        return options
    share = threads // n_markets
    if share <= options.limits.threads:
        return options
    return replace(options, limits=replace(options.limits, threads=share))


def _live_clock(market_id: str, options: BatchOptions) -> bool:
    return options.settings(market_id).kind.live


def batch_markets(frame: pl.DataFrame, source_errors: pl.DataFrame) -> list[str]:
    """Return every market named in the batch, valid or not, sorted."""
    names = pl.concat([frame["market_id"], source_errors["market_id"]]).drop_nulls().unique()
    return sorted(m for m in names.to_list() if m.strip())


def _rejected(
    raw: pl.DataFrame, validated: tuple[pl.DataFrame, pl.DataFrame], source_errors: pl.DataFrame
) -> pl.DataFrame:
    """Return every rejected row of the batch with its market."""
    positions = raw.select("_source", "_row", "market_id")
    rejected = validated[1].join(
        positions, left_on=["source", "row"], right_on=["_source", "_row"], how="left"
    )
    return pl.concat([rejected, source_errors.select(rejected.columns)])


def rejected_counts(rejected: pl.DataFrame) -> dict[str, int]:
    """Return the number of rejected rows (not reasons) per market."""
    counts = rejected.unique(["source", "row"]).group_by("market_id").len()
    return {m: n for m, n in counts.iter_rows() if m is not None}


def _token() -> str:
    """A batch's key token: decimal digits, so that Dask's ``key_split`` (the task stream's
    prefix) always stops before it; a hex token can be all letters and join the prefix."""
    return f"{uuid.uuid4().int % 10**12:012d}"


def _submit_solve(
    client: Client, plan: Future[Any], k: int, options: BatchOptions, tag: str
) -> Future[Any]:
    return client.submit(
        tasks.solve, plan, k, options, key=f"enx-solve-{tag}-{k}", retries=options.retries
    )


def _concat(frames: list[pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)
