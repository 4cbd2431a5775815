"""One clearing run: collect sources, check options, clear on Dask, stamp, write."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import polars as pl
import pyarrow as pa
from distributed import Client
from distributed.security import Security

from econonexus._core.config import get_setting
from econonexus._core.errors import EconoNexusError, InputError, RunFailedError
from econonexus._core.schemas import SolverName
from econonexus.agents.live import LiveBidders
from econonexus.pipelines.dashboard.plugin import install_dashboard
from econonexus.pipelines.graph.batch import BatchOutput, run_batch
from econonexus.pipelines.graph.cluster import connect
from econonexus.pipelines.graph.options import BatchOptions, make_options
from econonexus.pipelines.graph.progress import show_progress
from econonexus.pipelines.graph.run_status import publish_failed, publish_finished, publish_started
from econonexus.pipelines.io.accounts import AccountsSource, load_accounts, with_stake
from econonexus.pipelines.io.cats import ERRORS_SCHEMA
from econonexus.pipelines.io.items import ItemsSource, load_items
from econonexus.pipelines.io.market_table import MarketsSource
from econonexus.pipelines.io.normalize import normalize
from econonexus.pipelines.io.readers import Format, RawSource, read_any, read_source
from econonexus.pipelines.io.signing import KeysSource, load_keys, read_signed, record_signed
from econonexus.pipelines.io.sources import expand_source, with_partitions
from econonexus.pipelines.store.clearing_result import ClearingResult
from econonexus.pipelines.store.halts import active_halts, apply_halts, carried_bids
from econonexus.pipelines.store.manifest import fingerprint, now, run_events, run_manifest
from econonexus.pipelines.store.run_store import (
    await_published,
    check_run_id,
    claim_run,
    run_location,
    stored_run_for,
    write_run,
)

BidSource: TypeAlias = str | pa.Table | pl.DataFrame


def collect(
    source: BidSource | Sequence[BidSource], *, format: Format | None = None
) -> list[RawSource]:
    """Read every source of a batch: URLs (a file, a directory, a glob or a hive-partitioned
    dataset: :mod:`econonexus.pipelines.io.sources`), Arrow tables or Polars frames."""
    sources = [source] if isinstance(source, str | pa.Table | pl.DataFrame) else list(source)
    if not sources:
        raise InputError("`source`: expected at least one bid source, got none")
    read = []
    for i, s in enumerate(sources):
        if not isinstance(s, str):
            read.append(read_any(s, name=f"<table {i}>", format=format))
            continue
        for file in expand_source(s):  # a directory, glob or dataset: each of its files
            read.append(with_partitions(read_source(file.url, format=format), file.partitions))
    return read


def clear(
    source: BidSource | Sequence[BidSource],
    *,
    items: ItemsSource | None = None,
    markets: MarketsSource | None = None,
    accounts: AccountsSource | None = None,
    keys: KeysSource | None = None,
    client: Client | str | None = None,
    solver: SolverName | None = None,
    time_limit: float | None = None,
    gap: float | None = None,
    run_id: str | None = None,
    out: str | None = None,
    format: Format | None = None,
    workers: int | None = None,
    security: Security | bool | None = None,
    progress: bool | None = None,
    bidders: LiveBidders | None = None,
) -> ClearingResult:
    """Clear a batch of bids on a Dask cluster and return the result.

    Parameters
    ----------
    source
        A path or fsspec URL (Parquet, CSV, Arrow IPC or CATS; a directory,
        glob or hive-partitioned dataset of such files), a ``pyarrow.Table``,
        a Polars DataFrame, or a list of them.
    items
        Optional items table (URL or table): supply and reserve price per
        item and market. Without one every item has supply 1 and reserve 0.
    markets
        Optional markets table: a URL (Parquet, CSV, Arrow IPC or YAML), a
        table, or a dict of market id to settings (``format``,
        ``payment_rule``, ``reserve``, ``units``, ``increment``,
        ``decrement``, ``start_price``, ``max_rounds``). Markets not listed
        are ``combinatorial`` with ``pay-as-bid`` payments.
    accounts
        Optional agents' accounts (URL or table: ``agent_id``, ``free_stake``,
        ``reputation``, ``banned``). Bids of banned agents, of agents below a
        market's ``min_reputation`` and of agents without the free stake a
        market's ``stake``/``stake_fraction`` asks for are rejected with the
        reason. ``allocations.stake`` is the stake each bid needs (locked
        while it waits for settlement when it wins).
    keys
        Agents' signing keys (a mapping, or a table/URL of ``agent_id`` and
        ``key``) for markets with ``signed: true``; never written anywhere.
        With ``out``, bid ids accepted in signed markets are recorded under
        ``<out>/_signed/`` and a later run rejects them as replayed.
    client
        A ``distributed.Client``, a scheduler address, or ``None`` (the
        current client, else a new multi-process ``LocalCluster``).
    solver
        MIP backend, ``"cbc"`` or ``"highs"`` (default: setting
        ``econonexus.solver.backend``).
    time_limit
        Seconds per component before the solver stops with its best
        allocation (status ``time_limit``); ``None`` for no limit.
    gap
        Relative MIP gap at which to stop; 0 (default) proves optimality.
    run_id
        The run's id; default: UTC time plus a hash of inputs and settings.
        With ``out``, a stored run of that id and the same inputs is returned
        without recomputing; with other inputs it is refused.
    out
        Where to write ``<out>/<run_id>/``; ``None`` writes nothing.
    format
        Override the format implied by the extensions.
    workers
        Workers of the ``LocalCluster`` started when no cluster is given.
    security
        Dask TLS: a ``distributed.security.Security`` with certificate files
        (for a cluster given by address), or ``True`` for temporary
        certificates on the ``LocalCluster`` started here.
    progress
        Show a progress bar while the batch clears: Dask's widget in a
        notebook, a text bar in a terminal. ``None`` (default): setting
        ``econonexus.progress`` (``auto``: in notebooks only).
    bidders
        Live agents for the ``english`` and ``dutch`` markets:
        ``LiveBidders(pool, seed=s, round_no=r)``. Each clock round's prices
        then go to the agents' shard actors and the agents answer; without
        it each bid's ``price`` answers as a truthful proxy.

    Returns
    -------
    ClearingResult
        ``allocations``, ``summary``, ``rejected`` and ``events`` as Polars
        DataFrames, the ``manifest``, and ``write(url)``.

    Examples
    --------
    >>> result = econonexus.clear("data/bids.csv", items="data/items.csv")  # doctest: +SKIP
    >>> result.summary.select("market_id", "status", "welfare")  # doctest: +SKIP
    """
    if run_id is not None:
        check_run_id(run_id)
    options = make_options(solver=solver, time_limit=time_limit, gap=gap, markets=markets)
    started = now()
    raw = collect(source, format=format)
    item_table = None if items is None else load_items(items)
    books = None if accounts is None else load_accounts(accounts)
    secrets = None if keys is None else load_keys(keys)
    carried = None if out is None else carried_bids(out)
    live = None if bidders is None else bidders.describe()
    digest = fingerprint(raw, item_table, options, books, carried, live)
    if bidders is not None:
        bidders.unreachable.clear()  # what the last run's clocks could not reach
    run_id = run_id or f"{started.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"
    if out is not None and (stored := stored_run_for(out, run_id, digest)) is not None:
        return ClearingResult.from_stored(stored)
    normalized = [normalize(s.records, s.name) for s in raw]
    batch = _Batch(
        run_id=run_id,
        digest=digest,
        raw=raw,
        items=items,
        options=options,
        started=started,
        frame=pl.concat(
            [*normalized, *([carried] if carried is not None else [])], how="diagonal_relaxed"
        ),
        errors=pl.concat([s.errors for s in raw]).cast(ERRORS_SCHEMA),  # type: ignore[arg-type]
        item_table=item_table,
        accounts=books,
        live=live,
    )
    halted = frozenset() if out is None else frozenset(active_halts(out))  # never solved
    try:
        with connect(client, n_workers=workers, security=security) as c:
            install_dashboard(c)
            publish_started(c, run_id, [s.name for s in raw])
            try:
                output = run_batch(
                    c,
                    batch.frame,
                    item_table,
                    options,
                    batch.errors,
                    accounts=books,
                    keys=secrets,
                    seen=None if out is None else read_signed(out, exclude=run_id),
                    progress=show_progress(progress),
                    live=bidders,
                    halted=halted,
                )
            except Exception as exc:
                publish_failed(c, run_id, exc)
                raise
            if bidders is not None:
                batch = dataclasses.replace(batch, live=bidders.report())
            result, halts = _finish(batch, output, out)
            publish_finished(c, result, halts, (now() - started).total_seconds())
    except EconoNexusError:
        raise
    except Exception as exc:  # a lost cluster, a task that failed every retry, ...
        raise RunFailedError(
            f"run {run_id!r} failed, no run was published: {type(exc).__name__}: {exc}"
        ) from exc
    return result


@dataclass(frozen=True)
class _Batch:
    """A run's inputs, read and checked, before it goes to the cluster."""

    run_id: str
    digest: str
    raw: list[RawSource]
    items: ItemsSource | None
    options: BatchOptions
    started: dt.datetime
    frame: pl.DataFrame
    errors: pl.DataFrame
    item_table: pl.DataFrame | None
    accounts: pl.DataFrame | None
    live: dict[str, Any] | None


def _finish(
    batch: _Batch, output: BatchOutput, out: str | None
) -> tuple[ClearingResult, list[dict[str, Any]]]:
    """Apply halts, stamp the result and write the run (manifest last) when ``out`` is set."""
    run_id, options = batch.run_id, batch.options
    if out is not None and not claim_run(run_location(out, run_id), batch.digest):
        wait = float(get_setting("store.publish-wait"))
        stored = await_published(run_location(out, run_id), run_id, batch.digest, wait=wait)
        return ClearingResult.from_stored(stored), list(stored.manifest.get("halts", []))
    decision = (
        None if out is None else apply_halts(out, run_id, output, batch.frame, options.policies)
    )
    output = output if decision is None else decision.output
    halts = [] if decision is None else decision.reasons
    manifest = {
        **run_manifest(
            run_id, batch.digest, batch.raw, batch.items, options, output, batch.started
        ),
        "halts": halts,
        "live_bidders": batch.live,
    }
    result = _stamp(run_id, output, manifest, options, batch.accounts)
    if out is not None:
        location = run_location(out, run_id)
        inputs = {
            "bids": batch.frame,
            "items": batch.item_table,
            "accounts": batch.accounts,
            "source_errors": batch.errors,
        }
        # halt state is written once the tables are: a run that fails before never halts
        record = None if decision is None else decision.record
        manifest = write_run(
            location, result.tables, manifest, inputs=inputs, before_manifest=record
        )
        record_signed(out, run_id, result.allocations, options.policies)
        result = dataclasses.replace(result, location=location, manifest=manifest)
    return result, halts


def _stamp(
    run_id: str,
    output: BatchOutput,
    manifest: dict[str, Any],
    options: BatchOptions,
    accounts: pl.DataFrame | None,
) -> ClearingResult:
    run = pl.lit(run_id).alias("run_id")
    rejected = output.rejected.drop("market_id").sort("source", "row", "field")
    return ClearingResult(
        run_id,
        with_stake(output.allocations, options.policies)
        .select(run, pl.all())
        .sort("market_id", "bid_id"),
        output.summary.select(run, pl.all()).sort("market_id"),
        rejected.select(run, pl.all()),
        run_events(run_id, output, manifest),
        output.prices.select(run, pl.all()).sort("market_id", "item_id", "round"),
        output.flagged.select(run, pl.all()),
        manifest,
    )
