"""One clearing run: read the sources on the cluster, check options, clear, publish."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pulp
from distributed import Client
from distributed.security import Security
from fsspec.utils import infer_storage_options

from econonexus._core.errors import EconoNexusError, InputError, RunFailedError
from econonexus._core.schemas import SolverChoice
from econonexus.agents.live import LiveBidders
from econonexus.pipelines.dashboard.plugin import install_dashboard
from econonexus.pipelines.graph import write_tasks as wt
from econonexus.pipelines.graph.batch import BatchOutput, run_batch
from econonexus.pipelines.graph.cluster import connect
from econonexus.pipelines.graph.options import BatchOptions, make_options
from econonexus.pipelines.graph.progress import show_progress
from econonexus.pipelines.graph.read_batch import BidSource, read_batch
from econonexus.pipelines.graph.run_publish import RunBatch, publish_run
from econonexus.pipelines.graph.run_status import publish_failed, publish_finished, publish_started
from econonexus.pipelines.graph.sanctions import with_sanctions
from econonexus.pipelines.io.accounts import AccountsSource, load_accounts
from econonexus.pipelines.io.items import ItemsSource, load_items
from econonexus.pipelines.io.market_table import MarketsSource
from econonexus.pipelines.io.readers import Format
from econonexus.pipelines.io.signing import KeysSource, load_keys, read_signed
from econonexus.pipelines.store.clearing_result import ClearingResult
from econonexus.pipelines.store.halts import active_halts, carried_bids
from econonexus.pipelines.store.manifest import fingerprint, now, run_events
from econonexus.pipelines.store.out_folder import SOLVER_LOGS, file_name
from econonexus.pipelines.store.run_store import check_run_id, stored_run_for


def clear(
    source: BidSource | Sequence[BidSource],
    *,
    items: ItemsSource | None = None,
    markets: MarketsSource | None = None,
    accounts: AccountsSource | None = None,
    keys: KeysSource | None = None,
    client: Client | str | None = None,
    solver: SolverChoice | str | pulp.LpSolver | None = None,
    time_limit: float | None = None,
    batch_time_limit: float | None = None,
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
        ``reputation``, ``banned``, ``age_runs``), or an ``AgentPool``: its states,
        each agent's age in runs read from its journal (sybil detection uses it).
        Bids of banned agents, of agents below a market's ``min_reputation``
        and of agents without the free stake a market's ``stake``/``stake_fraction``
        asks for are rejected with the reason. ``allocations.stake`` is the
        stake each bid needs (locked while it waits for settlement when it wins).
    keys
        Agents' signing keys (a mapping, or a table/URL of ``agent_id`` and
        ``key``) for markets with ``signed: true``; never written anywhere.
        With ``out``, bid ids accepted in signed markets are recorded under
        ``<out>/_signed/`` and a later run rejects them as replayed.
    client
        A ``distributed.Client``, a scheduler address, or ``None`` (the
        current client, else a new multi-process ``LocalCluster``).
    solver
        MIP backend, ``"cbc"``, ``"highs"`` or ``"scip"``, or ``"auto"``: each hard
        component's backend is picked by a model of its features (default: setting
        ``econonexus.solver.backend``). Any solver PuLP runs here is accepted as
        ``"pulp:NAME"`` (``"pulp:GUROBI"``, ``"pulp:CPLEX_CMD"``, ...) or as a PuLP
        solver object with its options (:mod:`econonexus.solvers.pulp_any`).
    time_limit
        Seconds per component before the solver stops with its best
        allocation (status ``time_limit``); ``None`` for no limit.
    batch_time_limit
        Seconds for the whole clear, counted from this call: every solve
        stops by then with its best allocation, never below the greedy one
        (status ``time_limit``, with its bound); ``None`` (default: setting
        ``econonexus.solver.batch-time-limit``) for no limit.
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
    options = make_options(
        solver=solver,
        time_limit=time_limit,
        gap=gap,
        markets=markets,
        batch_time_limit=batch_time_limit,
    )
    _check_keys(options, keys)
    out = None if out is None else _absolute(out)
    started = now()
    item_table = None if items is None else load_items(items)
    books = None if accounts is None else load_accounts(accounts)
    secrets = None if keys is None else load_keys(keys)
    carried = None if out is None else carried_bids(out)
    live = None if bidders is None else bidders.describe()
    try:
        with connect(client, n_workers=workers, security=security) as c:
            read = read_batch(c, source, format=format, carried=carried)
            try:
                digest = fingerprint(read.sources, item_table, options, books, read.carried, live)
                run_id = run_id or f"{started.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"
                if out is not None and (stored := stored_run_for(out, run_id, digest)):
                    return ClearingResult.from_stored(stored)
                logged = replace(options, log_dir=_log_dir(out, run_id, options))
                batch = RunBatch(
                    run_id, digest, read, items, logged, started, item_table, books, live
                )
                return _run(c, batch, out, secrets, bidders, progress)
            finally:
                read.release()
    except EconoNexusError:
        raise
    except Exception as exc:  # a lost cluster, a task that failed every retry, ...
        raise RunFailedError(
            f"run {run_id!r} failed, no run was published: {type(exc).__name__}: {exc}"
        ) from exc


def _absolute(out: str) -> str:
    """A local ``out`` as an absolute path: workers write there, whatever their folder."""
    local = str(infer_storage_options(out)["protocol"]) in ("file", "local")
    return os.path.abspath(out.removeprefix("file://")) if local else out


def _log_dir(out: str | None, run_id: str, options: BatchOptions) -> str | None:
    """``<out>/_solver-logs/<run_id>``, beside the run, when the solver logs are kept."""
    if out is None or not options.limits.log:
        return None
    return f"{out.rstrip('/')}/{SOLVER_LOGS}/{file_name(run_id)}"


def _check_keys(options: BatchOptions, keys: KeysSource | None) -> None:
    """A signed market with no keys would reject every bid: a usage error, not a run."""
    signed = sorted(m for m, policy in options.policies.items() if policy.signed)
    if signed and keys is None:
        raise InputError(
            f"`keys`: expected the agents' signing keys, since market(s) {', '.join(signed)} "
            "accept only signed bids (signed: true), got none (CLI: --keys URL)"
        )


def _run(
    client: Client,
    batch: RunBatch,
    out: str | None,
    keys: dict[str, bytes] | None,
    bidders: LiveBidders | None,
    progress: bool | None,
) -> ClearingResult:
    """Clear ``batch``, publish it under ``out`` if given, and tell the dashboard."""
    if bidders is not None:
        bidders.unreachable.clear()  # what the last run's clocks could not reach
    install_dashboard(client)
    publish_started(client, batch.run_id, [s.name for s in batch.read.sources])
    try:
        halts: list[dict[str, Any]] = []
        if out is None:
            batch = with_sanctions(client, batch, keys, None, frozenset(), halts=False)
            result = _in_memory(client, batch, keys, bidders, progress)
        else:
            seen = read_signed(out, exclude=batch.run_id)
            halted = frozenset(active_halts(out))  # validated, never solved
            batch = with_sanctions(client, batch, keys, seen, halted, halts=True)
            result, halts = publish_run(
                client,
                batch,
                out,
                keys=keys,
                seen=seen,
                halted=halted,
                live=bidders,
                progress=show_progress(progress),
            )
    except Exception as exc:
        publish_failed(client, batch.run_id, exc)
        raise
    publish_finished(client, result, halts, (now() - batch.started).total_seconds())
    return result


def _in_memory(
    client: Client,
    batch: RunBatch,
    keys: dict[str, bytes] | None,
    bidders: LiveBidders | None,
    progress: bool | None,
) -> ClearingResult:
    """Clear ``batch`` and gather its result to the client (nothing is written)."""
    output = run_batch(
        client,
        batch.read.parts,
        batch.item_table,
        batch.options,
        batch.read.errors,
        markets=batch.read.markets,
        accounts=batch.accounts,
        keys=keys,
        progress=show_progress(progress),
        live=bidders,
    )
    manifest = batch.manifest(output.summary, [], bidders)
    return _stamp(batch.run_id, output, manifest, batch.options)


def _stamp(
    run_id: str, output: BatchOutput, manifest: dict[str, Any], options: BatchOptions
) -> ClearingResult:
    n_rejected = output.rejected.select("source", "row").n_unique()
    tables = {
        "allocations": wt.stamp_allocations(output.allocations, run_id, options),
        "summary": wt.stamp_summary(output.summary, run_id),
        "rejected": wt.stamp_rejected(output.rejected, run_id),
        "events": run_events(run_id, output.summary, n_rejected, manifest),
        "prices": wt.stamp_prices(output.prices, run_id),
        "flagged": wt.with_run_id(output.flagged, run_id),
    }
    return ClearingResult(run_id, tables, manifest)
