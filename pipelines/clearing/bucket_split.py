"""How a batch's valid bids are split into buckets, and a market's rows joined again.

A market's bids go to one bucket (a stable hash of its id), but a sealed
single-item market's go by auction (market and item): a market of a million
auctions then clears on every worker, and its buckets' partial summary rows
are added up (:func:`merge_partials`).
"""

from __future__ import annotations

import polars as pl

from econonexus.pipelines.graph.options import BatchOptions

Part = tuple[pl.DataFrame, list[str]]
"""A bucket's valid bids and every market it owns (also those without valid bids)."""


def bucket_ids(markets: pl.Series, n_buckets: int) -> pl.Series:
    """The bucket of each market id (a stable hash, the same on every worker)."""
    return (markets.hash(seed=0x454E58) % n_buckets).cast(pl.Int64)


def named_markets(*columns: pl.Series) -> list[str]:
    """The market ids ``columns`` name, once each, sorted; null and blank ids left out."""
    names = pl.concat(columns).drop_nulls().unique()
    return sorted(m for m in names.to_list() if m.strip())


def markets_by_bucket(markets: list[str], n_buckets: int) -> list[list[str]]:
    """``markets`` in the ``n_buckets`` buckets that own them, each list in their order."""
    owners = bucket_ids(pl.Series(markets, dtype=pl.String), n_buckets).to_list()
    found: list[list[str]] = [[] for _ in range(n_buckets)]
    for market, b in zip(markets, owners, strict=True):
        found[b].append(market)
    return found


def row_buckets(
    bids: pl.DataFrame, n_buckets: int, options: BatchOptions, halted: frozenset[str], live: bool
) -> pl.Series:
    """The bucket of each bid: its market's (:func:`bucket_ids`), but for a sealed
    single-item market its auction's (market and item), so that a large sealed market
    spreads over the cluster. Such a market's buckets each give a partial summary row,
    joined by :func:`merge_partials`."""
    markets = bids["market_id"].unique().to_list()
    split = pl.Series([m for m in markets if by_auction(m, options, halted, live)], dtype=pl.String)
    auction = pl.concat_str([pl.col("market_id"), pl.col("items").list.first()], separator="\x1f")
    key = pl.when(pl.col("market_id").is_in(split.implode())).then(auction)
    keys = bids.select(key.otherwise(pl.col("market_id")).alias("key"))["key"]
    return bucket_ids(keys, n_buckets)


def merge_partials(summary: pl.DataFrame) -> pl.DataFrame:
    """One summary row per market: the partial rows of a sealed market cleared in several
    buckets (:func:`row_buckets`) added up (its auctions are disjoint)."""
    if not summary["market_id"].is_duplicated().any():
        return summary
    counts = ("n_bids", "n_rejected", "n_winners", "welfare", "revenue", "bound", "components")
    merged = summary.group_by("market_id", maintain_order=True).agg(
        *(pl.col(c).first() for c in ("format", "payment_rule", "solver", "rounds", "efficiency")),
        *(pl.col(c).sum() for c in counts),
        pl.col("gap").max(),
        pl.col("solve_seconds").sum(),
    )
    status = pl.when(pl.col("n_bids") > 0).then(pl.lit("optimal")).otherwise(pl.lit("empty"))
    return merged.with_columns(status=status).select(summary.columns).cast(summary.schema)


def split_batch(bids: pl.DataFrame, markets: list[str], n_buckets: int) -> list[Part]:
    """Hash-partition ``bids`` and ``markets`` (all the batch names) into ``n_buckets`` parts."""
    owners = bids.with_columns(bucket=bucket_ids(bids["market_id"], n_buckets))
    parts = owners.partition_by("bucket", as_dict=True, include_key=False)
    owned = markets_by_bucket(markets, n_buckets)
    empty = bids.clear()
    return [(parts.get((b,), empty), owned[b]) for b in range(n_buckets)]


def by_auction(market_id: str, options: BatchOptions, halted: frozenset[str], live: bool) -> bool:
    """Whether the market clears in a bucket's vectorised sealed pass, and so spreads over
    the buckets by auction."""
    kind = options.settings(market_id).kind
    return kind.sealed_rule is not None and market_id not in halted and not (live and kind.live)
