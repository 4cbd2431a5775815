"""Validate a batch part by part on the cluster; no task sees the whole batch.

The rules that need only the row run on each part where it was read
(``enx-check``). The rules that span rows run after a hash partition on
their key: duplicate ``bid_id`` on ``bid_id`` (``enx-dup``: each shard
joins its pieces in the parts' order, so "first" is the batch's first), an
agent's running stake total on ``agent_id`` (``enx-stake``, over the rows
that passed every other rule, as :func:`validate` counts it). Signatures
are a row rule, the accepted signed bids of earlier runs being broadcast.
Each part's valid rows are then split into the buckets, by market or, in
a sealed single-item market, by auction (``enx-accept``, ``enx-part``);
the rejected rows are joined in one small task (``enx-rejected``). The
result equals :func:`validate` over the whole batch, whatever the number of
parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from econonexus.pipelines.clearing.bucket_split import (
    Part,
    bucket_ids,
    markets_by_bucket,
    named_markets,
    row_buckets,
)
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.io.accounts import POSITION, account_rules
from econonexus.pipelines.io.validation import (
    accept,
    as_rejected,
    duplicate_rule,
    finish_valid,
    needs_accounts,
    row_checks,
    screen_rejects,
)

IdShard = tuple[pl.DataFrame, list[str]]
"""A part's rows of one ``bid_id`` shard (``_source`` as a number into the names that
follow: a file's name on each row would travel with every row)."""
Checked = tuple[pl.DataFrame, pl.DataFrame, list[IdShard], list[list[str]]]
"""A checked part: rows that passed the row rules, its rejected rows, its ``bid_id``
shards, its market names by bucket."""
Screened = tuple[pl.DataFrame, pl.DataFrame, list[pl.DataFrame]]
"""A screened part: rows that passed all but the account rules, its signature rejects,
its rows by agent shard (empty without account rules)."""


def pick(value: Any, *at: int) -> Any:
    """``value[at[0]][at[1]]...``: one piece of a task's result, for the next task."""
    for i in at:
        value = value[i]
    return value


def check_part(
    part: pl.DataFrame, items: pl.DataFrame | None, options: BatchOptions, n: int
) -> Checked:
    """``enx-check``: the row rules over one part; its ``bid_id`` shards and its markets."""
    rejected = _with_market(row_checks(part, items, options.markets), part)
    keyed = part.filter(pl.col("bid_id").is_not_null() & (pl.col("bid_id").str.strip_chars() != ""))
    names = part["_source"].unique(maintain_order=True).to_list()
    code = (
        pl.lit(0, pl.UInt32)
        if len(names) == 1
        else pl.col("_source").replace_strict(names, range(len(names)), return_dtype=pl.UInt32)
    )
    coded = keyed.select(code.alias("_source"), "_row", "bid_id", "market_id")
    ids = [(shard, names) for shard in _shards(coded, "bid_id", n)]
    return part, rejected, ids, markets_by_bucket(named_markets(part["market_id"]), n)


def duplicates(*pieces: IdShard) -> pl.DataFrame:
    """``enx-dup``: rows whose ``bid_id`` is repeated, over one ``bid_id`` shard of every
    part (in the parts' order)."""
    names: list[str] = []
    frames = []
    for frame, part_names in pieces:  # each part's source numbers, after the earlier parts'
        frames.append(frame.with_columns(pl.col("_source") + len(names)))
        names += part_names
    keyed = pl.concat(frames)
    repeated = keyed.filter(pl.col("bid_id").is_duplicated())  # few: only these are named
    named = repeated.with_columns(
        pl.col("_source").replace_strict(range(len(names)), names, return_dtype=pl.String)
    )
    return _with_market(duplicate_rule(named), named)


def screen_part(
    checked: Checked,
    options: BatchOptions,
    keys: dict[str, bytes] | None,
    seen: pl.DataFrame | None,
    accounts: pl.DataFrame | None,
    n: int,
    *dups: pl.DataFrame,
) -> Screened:
    """``enx-screen``: a part's rows that broke no row rule, are no duplicate, (in signed
    markets) are signed right and are not excluded; its signature and exclusion rejects; its
    rows by agent shard."""
    part, rejected, _, _ = checked
    bad = pl.concat([rejected.select(*POSITION), *(d.select(*POSITION) for d in dups)])
    valid = accept(part, bad)
    screened = screen_rejects(valid, options.policies, keys, seen, options.sanctions)
    if screened is None:
        signed = rejected.clear()
    else:
        signed = _with_market(screened, part)
        valid = valid.join(signed.select(*POSITION), on=POSITION, how="anti")
    agents = _shards(valid, "agent_id", n) if needs_accounts(options.policies, accounts) else []
    return valid, signed, agents


def stake_shard(
    options: BatchOptions, accounts: pl.DataFrame | None, *pieces: pl.DataFrame
) -> pl.DataFrame:
    """``enx-stake``: bans, reputation and running stake totals over one agent shard."""
    rows = pl.concat(pieces)
    return _with_market(account_rules(rows, options.policies, accounts), rows)


def accept_part(
    screened: Screened,
    accounts: pl.DataFrame | None,
    n: int,
    terms: tuple[BatchOptions, frozenset[str], bool],
    *stakes: pl.DataFrame,
) -> list[pl.DataFrame]:
    """``enx-accept``: a part's valid bids, split into the ``n`` buckets
    (:func:`row_buckets`; ``terms``: the options, halted markets, live clocks)."""
    valid = screened[0]
    if stakes:
        ineligible = pl.concat([s.select(*POSITION) for s in stakes])
        valid = valid.join(ineligible, on=POSITION, how="anti")
    accepted = finish_valid(valid, accounts)
    return _split(accepted, row_buckets(accepted, n, *terms), n)


def bucket_part(named: Sequence[str], n_pieces: int, *pieces: Any) -> Part:
    """``enx-part``: a bucket's valid bids (its piece of each part, in order) and its
    markets: those the parts name (``pieces`` after the first ``n_pieces``) and ``named``."""
    frames, names = pieces[:n_pieces], pieces[n_pieces:]
    bids = pl.concat(frames)
    # a sealed market split by auction is also in the buckets holding its auctions
    present = bids["market_id"].unique().to_list()
    return bids, sorted(set(named).union(*names, present))


def collect_rejected(source_errors: pl.DataFrame, *pieces: pl.DataFrame) -> pl.DataFrame:
    """``enx-rejected``: every rejected row of the batch with its market."""
    found = as_rejected(pl.concat(pieces))
    return pl.concat([found, source_errors.select(found.columns)])


def _with_market(rejected: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """``rejected`` (by position) with each row's ``market_id`` from ``rows``."""
    markets = rows.select(*POSITION, "market_id").unique(POSITION)
    return rejected.join(markets, on=POSITION, how="left")


def _shards(frame: pl.DataFrame, key: str, n: int) -> list[pl.DataFrame]:
    """``frame`` hash-partitioned on ``key`` into ``n`` frames, each in ``frame``'s order."""
    return _split(frame, bucket_ids(frame[key], n), n)


def _split(frame: pl.DataFrame, ids: pl.Series, n: int) -> list[pl.DataFrame]:
    """``frame``'s rows in the ``n`` shards ``ids`` name, each in ``frame``'s order."""
    parts = frame.with_columns(_shard=ids).partition_by("_shard", as_dict=True, include_key=False)
    empty = frame.clear()
    return [parts.get((k,), empty) for k in range(n)]
