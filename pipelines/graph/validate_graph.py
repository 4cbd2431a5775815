"""The graph of a batch validated part by part (:mod:`.validate_parts`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from distributed import Client, Future

from econonexus.pipelines.clearing.bucket_split import markets_by_bucket, named_markets
from econonexus.pipelines.graph import validate_parts as vp


@dataclass(frozen=True)
class ValidatedParts:
    """The buckets' parts (``enx-part``), the rejected rows, and every future to release."""

    buckets: list[Future[Any]]
    rejected: Future[Any]
    held: list[Future[Any]]


def submit_validation(
    client: Client,
    parts: list[Any],
    placed: tuple[Any, ...],
    source_errors: pl.DataFrame,
    n: int,
    token: str,
    clearing: tuple[frozenset[str], bool],
) -> ValidatedParts:
    """Validate ``parts`` (frames or futures, in the batch's order) into ``n`` buckets.

    ``placed``: the items, options, accounts, signing keys and seen signed bids as
    placed on the cluster, and whether account rules run; ``clearing``: the halted
    markets and whether clocks run live (they decide which markets split by auction).
    """
    lots, opts, books, secrets, before, with_accounts = placed
    t = token
    checked = [
        client.submit(vp.check_part, part, lots, opts, n, key=f"enx-check-{t}-{p}")
        for p, part in enumerate(parts)
    ]
    dups = [
        client.submit(
            vp.duplicates,
            *(_pick(client, c, f"enx-ids-{t}-{p}-{k}", 2, k) for p, c in enumerate(checked)),
            key=f"enx-dup-{t}-{k}",
        )
        for k in range(n)
    ]
    screened = [
        client.submit(
            vp.screen_part, c, opts, secrets, before, books, n, *dups, key=f"enx-screen-{t}-{p}"
        )
        for p, c in enumerate(checked)
    ]
    stakes = [
        client.submit(
            vp.stake_shard,
            opts,
            books,
            *(_pick(client, s, f"enx-agents-{t}-{p}-{k}", 2, k) for p, s in enumerate(screened)),
            key=f"enx-stake-{t}-{k}",
        )
        for k in range(n)
        if with_accounts
    ]
    accepted = [
        client.submit(
            vp.accept_part, s, books, n, (opts, *clearing), *stakes, key=f"enx-accept-{t}-{p}"
        )
        for p, s in enumerate(screened)
    ]
    named = markets_by_bucket(named_markets(source_errors["market_id"]), n)  # errors only
    buckets = [
        client.submit(
            vp.bucket_part,
            named[b],
            len(parts),
            *(_pick(client, a, f"enx-valid-{t}-{p}-{b}", b) for p, a in enumerate(accepted)),
            *(_pick(client, c, f"enx-names-{t}-{p}-{b}", 3, b) for p, c in enumerate(checked)),
            key=f"enx-part-{t}-{b}",
        )
        for b in range(n)
    ]
    rejected = client.submit(
        vp.collect_rejected,
        source_errors,
        *(_pick(client, c, f"enx-rejects-{t}-{p}", 1) for p, c in enumerate(checked)),
        *dups,
        *(_pick(client, s, f"enx-signed-rejects-{t}-{p}", 1) for p, s in enumerate(screened)),
        *stakes,
        key=f"enx-rejected-{t}",
    )
    return ValidatedParts(buckets, rejected, [*checked, *dups, *screened, *stakes, *accepted])


def _pick(client: Client, value: Future[Any], key: str, *at: int) -> Future[Any]:
    return client.submit(vp.pick, value, *at, key=key)
