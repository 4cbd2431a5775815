"""The Dask graph of one batch: validate, split into buckets, plan, solve, assemble.

A batch of one part (a small batch, one file) is validated whole; its
normalized rows go into the graph, or are placed on the workers when large.
A batch of several parts is validated part by part
(:mod:`econonexus.pipelines.graph.validate_graph`). The valid bids are
hash-partitioned by market (a sealed market's by auction) into buckets sized
to the cluster (:mod:`econonexus.pipelines.clearing.bucket`), so the number
of tasks grows with the cluster and the hard components, not with the number
of markets. Every stage is a task with a readable key prefix
(``enx-validate``, ``enx-split``, ``enx-part``, ``enx-plan``, ``enx-solve``,
``enx-combine``, ``enx-vcg-plan``, ``enx-vcg``, ``enx-price``,
``enx-detect``), and every task is pure, so the scheduler can rerun any of
them on a live worker when a worker dies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from operator import getitem
from typing import Any

import polars as pl
from distributed import Client, Future

from econonexus._core.config import get_setting
from econonexus.agents.detection import FLAGGED_COLUMNS, item_sellers
from econonexus.pipelines.clearing.bucket import (
    n_large,
    rows_of,
)
from econonexus.pipelines.clearing.bucket_split import merge_partials
from econonexus.pipelines.clearing.live_markets import clear_live
from econonexus.pipelines.clearing.single_item import BiddersFor
from econonexus.pipelines.graph import batch_tasks as bt
from econonexus.pipelines.graph.batch_solve import (
    lean_options,
    price_vcg_buckets,
    submit_assembly,
    submit_spares,
)
from econonexus.pipelines.graph.options import BatchOptions, with_thread_share
from econonexus.pipelines.graph.progress import track
from econonexus.pipelines.graph.race_tasks import racers, racing, submit_race_spares
from econonexus.pipelines.graph.small_batch import is_small, submit_small
from econonexus.pipelines.graph.transfer import gather_counts, place_inputs, release, watched_gather
from econonexus.pipelines.graph.validate_graph import submit_validation
from econonexus.pipelines.io.flag_sanctions import reported_flags
from econonexus.pipelines.io.validation import needs_accounts


@dataclass(frozen=True)
class BatchOutput:
    """The gathered results of a batch, before run ids are stamped and files written."""

    allocations: pl.DataFrame
    summary: pl.DataFrame
    rejected: pl.DataFrame
    prices: pl.DataFrame
    flagged: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FLAGGED_COLUMNS))


@dataclass(frozen=True)
class Submitted:
    """A batch whose graph is on the cluster: each bucket's final rows, the rejected rows,
    the live clocks' bids, the batch's normalized rows (``parts``: frames or futures), and
    what :meth:`release` frees once the results are out."""

    token: str
    final: list[Future[Any]]
    rejected: Future[Any]
    clocks: list[Future[Any]]
    live_markets: list[str]
    parts: list[Any]
    books: Any
    opts: Any
    held: list[Any]
    sellers: pl.DataFrame | None = None  # the items table's sellers, for shill detection
    whole: Future[Any] | None = None  # a small batch's enx-clear: rows and rejected rows

    def gathered(self, client: Client, detect: list[Future[Any]]) -> tuple[Any, ...]:
        """The final rows, rejected rows, clock bids and flags, gathered. A small batch's
        come from its one task, without the hop to its picks (``enx-rows``,
        ``enx-rejected``) that a write needs."""
        if self.whole is None:
            return tuple(watched_gather(client, [self.final, self.rejected, self.clocks, detect]))
        (rows, rejected), clocks, flags = watched_gather(client, [self.whole, self.clocks, detect])
        return [rows], rejected, clocks, flags

    def release(self, *more: Any) -> None:
        """Release every future of the batch (and ``more``)."""
        release([*self.held, *more])


def run_batch(
    client: Client,
    batch: pl.DataFrame | list[Any],
    items: pl.DataFrame | None,
    options: BatchOptions,
    source_errors: pl.DataFrame,
    *,
    markets: list[str] | None = None,
    accounts: pl.DataFrame | None = None,
    keys: dict[str, bytes] | None = None,
    seen: pl.DataFrame | None = None,
    progress: bool = False,
    live: BiddersFor | None = None,
    halted: frozenset[str] = frozenset(),
) -> BatchOutput:
    """Clear the normalized ``batch`` on ``client``'s cluster and gather the result.

    ``batch`` is a frame, or its parts (frames or futures on the cluster, as
    :mod:`.read_batch` reads them; then ``markets`` names its markets).
    ``source_errors`` are rows the readers already rejected (CATS line errors),
    in :data:`econonexus.pipelines.io.cats.ERRORS_SCHEMA`; ``accounts`` are the
    agents' accounts that stake and reputation rules check; ``keys`` and
    ``seen`` check signed markets (signing keys, bids accepted before);
    ``halted`` markets (halted by an earlier run) are validated but never
    solved; ``progress`` shows a progress bar while the tasks run; ``live`` makes the
    bidders of ``english`` and ``dutch`` markets, whose clocks then run here,
    on the client, asking the live agents each round.
    """
    parts = batch if isinstance(batch, list) else [batch]
    inputs = (items, accounts, keys, seen)
    sub = submit_batch(
        client, parts, inputs, options, source_errors, markets, live=live, halted=halted
    )
    # with live clocks the flags need the clocks' results, which come later; a small batch
    # (placed in the graph) is flagged faster here than through one more task
    here = bool(sub.live_markets) or not any(isinstance(p, Future) for p in sub.parts)
    detect = [] if here else [submit_detect(client, sub, sub.final)]
    if progress:
        track(client, [*sub.final, sub.rejected, *detect])
    results, rejected_rows, clock_bids, flags = sub.gathered(client, detect)
    if sub.live_markets:
        assert live is not None
        results.append(clear_live(sub.live_markets, pl.concat(clock_bids), items, options, live))
    if here:
        flags = [bt.flag_markets(accounts, options, sub.sellers, *results)]
    sub.release(*detect)
    n_rejected, _ = bt.rejected_digest(rejected_rows)
    rows = rows_of(results)
    return BatchOutput(
        allocations=rows.allocations,
        summary=with_rejected(merge_partials(rows.summary), n_rejected),
        rejected=rejected_rows,
        prices=rows.prices,
        flagged=reported_flags(flags[0], options.sanctions),
    )


def with_rejected(summary: pl.DataFrame, n_rejected: dict[str, int]) -> pl.DataFrame:
    """``summary`` with ``n_rejected``: each market's rejected rows."""
    return summary.with_columns(
        n_rejected=pl.col("market_id").replace_strict(n_rejected, default=0, return_dtype=pl.Int64)
    )


def submit_batch(
    client: Client,
    parts: list[Any],
    inputs: tuple[Any, ...],
    options: BatchOptions,
    source_errors: pl.DataFrame,
    markets: list[str] | None,
    *,
    live: BiddersFor | None,
    halted: frozenset[str],
) -> Submitted:
    """Put the batch's graph on the cluster: its normalized ``parts`` (frames or futures),
    ``inputs`` (items, accounts, keys and seen signed bids, as :func:`run_batch` takes them)
    and ``markets`` (the batch's markets, when its one part is not a frame here).

    A batch of one part is validated whole; of several, part by part
    (:mod:`.validate_graph`), its whole frame never made.
    """
    token = _token()
    split = len(parts) > 1
    if markets is None:
        markets = bt.batch_markets(parts[0], source_errors)
    scattered, threads = place_inputs(client, [None if split else parts[0], *inputs, options])
    raw, lots, books, secrets, before, opts = scattered
    live_markets = [
        m for m in markets if live is not None and m not in halted and options.settings(m).kind.live
    ]
    mip = any(options.settings(m).kind.mip for m in markets if m not in halted)
    # without MIP markets or live clocks a bucket clears in its plan task: no combine step
    direct = not mip and not live_markets
    inline = int(get_setting("solver.inline-max-bids"))
    # a sealed market spreads over the buckets by auction: then more buckets than markets
    sealed = split and any(options.settings(m).kind.sealed_rule for m in markets)
    n = n_buckets(threads, len(markets), spread=sealed)
    # one bucket's hard components are solved without counting them first: its lone one
    # in its plan task, unless it races
    one = n == 1 and not direct
    races = racing(threads, 1, options.solver)
    race_one = one and races
    small = is_small(parts[0], markets, options, split=split, live=bool(live_markets), racing=races)
    alone = threads if (one or small) and not direct and not race_one else 0
    terms = (lots, opts, halted, live is not None, inline, direct, alone)
    placed = (lots, opts, books, secrets, before)
    whole: Future[Any] | None = None  # a small batch's one task
    if split:
        with_accounts = needs_accounts(options.policies, inputs[1])
        clearing = (halted, live is not None)
        checked = submit_validation(
            client, parts, (*placed, with_accounts), source_errors, n, token, clearing
        )
        rejected = checked.rejected
        plans = [
            client.submit(bt.plan_part, part, *terms, key=f"enx-plan-{token}-{b}")
            for b, part in enumerate(checked.buckets)
        ]
        validation = [*checked.held, *checked.buckets, rejected]
    elif small:
        whole, rows, rejected = submit_small(
            client, raw, placed, terms, source_errors, markets, token
        )
        plans, validation, direct = [rows], [], True
    else:
        rejected, plans, validation = _submit_whole(
            client,
            raw,
            (lots, opts, books, secrets, before),
            terms,
            source_errors,
            markets,
            n,
            token,
        )
    if direct:
        assembled = final = plans
    elif one:
        lean, tag = lean_options(options), f"{token}-0"
        spares = submit_race_spares if race_one else submit_spares
        assembled = [spares(client, plans[0], threads, opts, lean, tag)]
        final = price_vcg_buckets(client, assembled, options, opts, token)
    else:
        counts = gather_counts(client, n_large, plans, f"enx-size-{token}") if mip else [0] * n
        # racers take the idle threads instead of a solver's threads
        raced = racing(threads, sum(counts), options.solver)
        field = racers(threads, sum(counts)) if raced else ()
        lean = lean_options(options)  # no market tables
        lean = lean if field else with_thread_share(lean, threads, sum(counts))
        assembled = [
            submit_assembly(client, plans[b], count, opts, lean, f"{token}-{b}", field=field)
            for b, count in enumerate(counts)
        ]
        final = price_vcg_buckets(client, assembled, options, opts, token)
    clocks = [
        client.submit(bt.live_bids, plan, key=f"enx-live-bids-{token}-{b}")
        for b, plan in enumerate(plans)
        if live_markets
    ]
    kept = [raw, lots, books, secrets, before, opts, rejected, *final, *clocks, whole]
    # the intermediate stages are the scheduler's now: each is freed once its dependents
    # have run (and recomputed from its inputs if a worker holding a later stage dies)
    release([f for f in [*validation, *plans, *assembled] if not any(f is k for k in kept)])
    return Submitted(
        token,
        final,
        rejected,
        clocks,
        live_markets,
        parts if split else [raw],
        books,
        opts,
        kept,
        item_sellers(inputs[0]),
        whole,
    )


def _submit_whole(
    client: Client,
    raw: Any,
    placed: tuple[Any, ...],
    terms: tuple[Any, ...],
    source_errors: pl.DataFrame,
    markets: list[str],
    n: int,
    token: str,
) -> tuple[Future[Any], list[Future[Any]], list[Any]]:
    """Validate a batch of one part whole (``enx-validate``) and plan its ``n`` buckets;
    the rejected rows, the plans and the futures to release."""
    lots, opts, books, secrets, before = placed
    validated = client.submit(
        bt.validate_batch, raw, lots, opts, books, secrets, before, key=f"enx-validate-{token}"
    )
    rejected = client.submit(
        bt.rejected_rows, raw, validated, source_errors, key=f"enx-rejected-{token}"
    )
    # the markets (also those without valid bids) travel in the graph when the batch does;
    # a large batch's buckets find them in its placed frame instead
    names = markets if not isinstance(raw, Future) else (raw, source_errors)
    split_parts, plans = _submit_plans(client, (validated, names), terms, n, token)
    return rejected, plans, [validated, rejected, *split_parts]


def submit_detect(client: Client, sub: Submitted, rows: list[Any]) -> Future[Any]:
    """``enx-detect``: the manipulation flags over the batch's ``rows`` (bucket futures),
    each bucket reduced first where it is (``enx-detect-rows``)."""
    t = sub.token
    reduced = [
        client.submit(bt.detection_rows, sub.opts, sub.sellers, r, key=f"enx-detect-rows-{t}-{b}")
        for b, r in enumerate(rows)
    ]
    key = f"enx-detect-{t}"
    return client.submit(bt.flag_bids, sub.books, *reduced, key=key)


def n_buckets(threads: int, n_markets: int, *, spread: bool = False) -> int:
    """Buckets of a batch: ``cluster.buckets``, else ``cluster.buckets-per-thread`` per thread.

    Never more than the batch has markets unless its markets ``spread`` over buckets (a
    sealed market, by auction), never fewer than one.
    """
    fixed = get_setting("cluster.buckets")
    wanted = int(fixed) if fixed else threads * int(get_setting("cluster.buckets-per-thread"))
    return max(1, wanted if spread else min(wanted, n_markets))


def _submit_plans(
    client: Client, batch: tuple[Any, ...], terms: tuple[Any, ...], n: int, token: str
) -> tuple[list[Future[Any]], list[Future[Any]]]:
    """Split the validated ``batch`` into ``n`` buckets (``enx-split``, ``enx-part``) and
    plan each (``enx-plan``); one bucket is planned straight from the batch."""
    if n == 1:
        return [], [client.submit(bt.plan_whole, *batch, *terms, key=f"enx-plan-{token}")]
    split = client.submit(bt.split_validated, *batch, n, key=f"enx-split-{token}")
    parts = [client.submit(getitem, split, b, key=f"enx-part-{token}-{b}") for b in range(n)]
    plans = [
        client.submit(bt.plan_part, part, *terms, key=f"enx-plan-{token}-{b}")
        for b, part in enumerate(parts)
    ]
    return parts, plans


def _token() -> str:
    """A batch's key token: decimal digits, so that Dask's ``key_split`` (the task stream's
    prefix) always stops before it; a hex token can be all letters and join the prefix."""
    return f"{uuid.uuid4().int % 10**12:012d}"
