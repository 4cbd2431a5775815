"""Publish a run from the cluster: the workers write its parts, the client its manifest.

The client gathers only each bucket's digest (summary, won stats), the
rejected counts and the flags; it decides the halts, then each bucket
writes its part of ``allocations`` and ``prices``, and the worker holding
the rejected rows and the normalized batch writes those
(:mod:`.write_tasks`). The client writes the small tables (``summary``,
``events``, ``flagged``, the items, accounts and reader errors), records
the halts and signed bids, and writes the manifest last, listing every part
with its rows and hash. The returned result reads its tables from the
written run when they are first used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl
from distributed import Client, Future

from econonexus._core.config import get_setting
from econonexus.agents.lease import Lease
from econonexus.agents.live import LiveBidders
from econonexus.pipelines.clearing.bucket import BucketRows
from econonexus.pipelines.clearing.bucket_split import merge_partials
from econonexus.pipelines.clearing.live_markets import clear_live
from econonexus.pipelines.graph import batch_tasks as bt
from econonexus.pipelines.graph import write_tasks as wt
from econonexus.pipelines.graph.batch import (
    Submitted,
    submit_batch,
    submit_detect,
    with_rejected,
)
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.graph.progress import track
from econonexus.pipelines.graph.read_batch import BatchRead
from econonexus.pipelines.graph.transfer import release, watched_gather
from econonexus.pipelines.io.flag_sanctions import reported_flags
from econonexus.pipelines.io.items import ItemsSource
from econonexus.pipelines.io.signing import record_signed
from econonexus.pipelines.store.clearing_result import ClearingResult
from econonexus.pipelines.store.halts import carry_over, decide_halts, winner_share_markets
from econonexus.pipelines.store.manifest import run_events, run_manifest
from econonexus.pipelines.store.run_files import Listing, write_table
from econonexus.pipelines.store.run_lease import claim_run, holding
from econonexus.pipelines.store.run_store import StoredRun, StoredTables, publish_manifest


@dataclass(frozen=True)
class RunBatch:
    """A run's inputs, read and checked, before it goes to the cluster."""

    run_id: str
    digest: str
    read: BatchRead
    items: ItemsSource | None
    options: BatchOptions
    started: dt.datetime
    item_table: pl.DataFrame | None
    accounts: pl.DataFrame | None
    live: dict[str, Any] | None

    def manifest(
        self, summary: pl.DataFrame, halts: list[dict[str, Any]], bidders: LiveBidders | None
    ) -> dict[str, Any]:
        """The run's manifest before its files are listed; with live ``bidders``, what
        their clocks reached."""
        return {
            **run_manifest(
                self.run_id,
                self.digest,
                self.read.sources,
                self.items,
                self.options,
                summary,
                self.started,
            ),
            "halts": halts,
            "live_bidders": self.live if bidders is None else bidders.report(),
        }


@dataclass(frozen=True)
class Digest:
    """What the client holds of a cleared batch: per market, never per bid."""

    summary: pl.DataFrame
    won: pl.DataFrame
    rejected_rows: int
    live: BucketRows | None


def publish_run(
    client: Client,
    batch: RunBatch,
    out: str,
    *,
    keys: dict[str, bytes] | None,
    seen: pl.DataFrame | None,
    halted: frozenset[str],
    live: LiveBidders | None,
    progress: bool,
) -> tuple[ClearingResult, list[dict[str, Any]]]:
    """Clear ``batch`` on ``client``'s cluster and publish it under ``out``; return the
    result and its halts. The run's publish lease is taken first (:mod:`.run_lease`): a
    run another process publishes first is returned as stored."""
    claimed = claim_run(
        out, batch.run_id, batch.digest, wait=float(get_setting("store.publish-wait"))
    )
    if isinstance(claimed, StoredRun):  # another process published it meanwhile
        return ClearingResult.from_stored(claimed), list(claimed.manifest.get("halts", []))
    with holding(claimed):
        read = batch.read
        sub = submit_batch(
            client,
            read.parts,
            (batch.item_table, batch.accounts, keys, seen),
            batch.options,
            read.errors,
            read.markets,
            live=live,
            halted=halted,
        )
        inputs = _write_inputs(client, sub.token, batch, claimed)
        # the flags need only the buckets' rows: found while the client decides the halts
        # (with live clocks, once their rows are made here)
        early = None if sub.live_markets else submit_detect(client, sub, sub.final)
        if not halted and not batch.options.halt_rules:
            read.release_files()  # no carry-over: freed once validated and written
        try:
            digest = _digest(client, sub, batch, live, progress)
            return _publish(client, sub, batch, digest, out, claimed, (live, inputs, early))
        finally:
            sub.release(*inputs, early)


def _digest(
    client: Client, sub: Submitted, batch: RunBatch, live: LiveBidders | None, progress: bool
) -> Digest:
    """Gather each bucket's digest and the rejected counts."""
    live_rows = None
    if sub.live_markets:
        assert live is not None
        bids = pl.concat(watched_gather(client, sub.clocks))
        live_rows = clear_live(sub.live_markets, bids, batch.item_table, batch.options, live)
    token, shares = sub.token, winner_share_markets(batch.options.policies)
    digests = [
        client.submit(wt.bucket_digest, f, shares, key=f"enx-digest-{token}-{b}")
        for b, f in enumerate(sub.final)
    ]
    counted = client.submit(bt.rejected_digest, sub.rejected, key=f"enx-rejected-count-{token}")
    if progress:
        track(client, [*digests, counted])
    digested, (n_rejected, n_rows) = watched_gather(client, [digests, counted])
    release([*digests, counted])
    if live_rows is not None:
        digested.append(wt.bucket_digest(live_rows, shares))
    summary = merge_partials(pl.concat([s for s, _ in digested]))
    won = pl.concat([w for _, w in digested])
    return Digest(with_rejected(summary, n_rejected), won, n_rows, live_rows)


def _publish(
    client: Client,
    sub: Submitted,
    batch: RunBatch,
    digest: Digest,
    out: str,
    fence: Lease,
    pending: tuple[LiveBidders | None, list[Future[Any]], Future[Any] | None],
) -> tuple[ClearingResult, list[dict[str, Any]]]:
    """Decide the halts, have every part written, record the state, write the manifest;
    ``pending``: the live bidders, the writes of the normalized bids, the flags (if
    submitted already)."""
    options, run_id, location = batch.options, batch.run_id, fence.root
    live, inputs, flagging = pending
    decision = decide_halts(
        out, run_id, digest.summary, digest.won, options.policies, options.sanctions.halts
    )
    halted = decision.halted
    found = (digest, inputs, flagging)
    outputs, stored, flags = _write_parts(client, sub, batch, found, fence, halted)
    manifest = batch.manifest(decision.summary, decision.reasons, live)
    summary = wt.stamp_summary(decision.summary, run_id)
    events = run_events(run_id, decision.summary, digest.rejected_rows, manifest)
    flagged = wt.with_run_id(reported_flags(flags, options.sanctions), run_id)
    for name, frame in (("summary", summary), ("events", events), ("flagged", flagged)):
        outputs |= write_table(location, name, frame, fence=fence)
    small = {
        "items": batch.item_table,
        "accounts": batch.accounts,
        "source_errors": batch.read.errors,
    }
    for name, table in small.items():
        if table is not None:
            stored |= wt.write_input(table, location, name, fence=fence)
    # halt state is written once the tables are: a run that fails before never halts
    decision.record()
    token = sub.token
    if halted:
        carried = client.submit(
            carry_over, out, sub.rejected, halted, *sub.parts, key=f"enx-carry-{token}"
        )
        watched_gather(client, carried)
    if any(p.signed for p in options.policies.values()):
        signed = client.submit(
            wt.signed_bids, sub.opts, halted, run_id, *sub.final, key=f"enx-signed-{token}"
        )
        record_signed(out, run_id, watched_gather(client, signed), options.policies)
    manifest = publish_manifest(location, manifest, outputs, stored, fence=fence)
    tables = StoredTables(location, manifest, check=True)
    result = ClearingResult.from_stored(StoredRun(tables, manifest, location), from_store=False)
    return result, decision.reasons


def _write_inputs(client: Client, token: str, batch: RunBatch, fence: Lease) -> list[Future[Any]]:
    """Have each part of the normalized bids written where it is (``inputs/bids``)."""
    return [
        client.submit(
            wt.write_input,
            *(part, fence.root, "bids", i),
            fence=fence,
            key=f"enx-write-input-{token}-{i}",
        )
        for i, part in enumerate(batch.read.parts)
    ]


def _write_parts(
    client: Client,
    sub: Submitted,
    batch: RunBatch,
    found: tuple[Digest, list[Future[Any]], Future[Any] | None],
    fence: Lease,
    halted: list[str],
) -> tuple[Listing, Listing, pl.DataFrame]:
    """Have the workers write ``allocations`` and ``prices`` (a part per bucket) and the
    rejected rows; return the outputs' listing, the inputs' and the flags (``found``: the
    digest, the writes of the normalized bids and the flags, if submitted before)."""
    token, run_id, location = sub.token, batch.run_id, fence.root
    digest, inputs, detect = found
    writes = [
        client.submit(
            wt.write_bucket,
            *(f, b, location, run_id, halted, sub.opts),
            fence=fence,
            key=f"enx-write-{token}-{b}",
        )
        for b, f in enumerate(sub.final)
    ]
    writes.append(
        client.submit(
            wt.write_rejected,
            *(sub.rejected, location, run_id),
            fence=fence,
            key=f"enx-write-rejected-{token}",
        )
    )
    if detect is None:  # live clocks: their rows join the buckets' now
        rows = [*sub.final, *([digest.live] if digest.live else [])]
        detect = submit_detect(client, sub, rows)
    *listings, flags = watched_gather(client, [*writes, *inputs, detect])
    release([*writes, detect])
    outputs: Listing = {}
    for listing in listings[: len(writes)]:
        outputs |= listing
    if digest.live is not None:  # the live clocks' rows, made here: the last part
        n = len(sub.final)
        outputs |= wt.write_bucket(
            digest.live, n, location, run_id, halted, batch.options, fence=fence
        )
    stored: Listing = {}
    for listing in listings[len(writes) :]:
        stored |= listing
    return outputs, stored, flags
