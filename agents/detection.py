"""Manipulation detection over bids: collusion rings, shill bidders, sybil clusters.

Input: one row per bid with ``agent_id``, ``auction`` (what the bid competes
for: market and items), ``price``, ``won`` and optionally ``seller``; and
the agents' accounts (``free_stake``, ``age_runs``: runs since the agent was
first seen). Output: one row per flagged agent with ``kind``, ``score`` and
``reason``. The rules, each a vectorised pass:

- **ring**: agents that bid on nearly the same auctions (Jaccard similarity
  of their auction sets >= ``RING_JACCARD`` over >= ``RING_MIN_SHARED``
  shared auctions) form a group of >= 3 in which wins rotate (two or more
  members win) and the others cover: in >= ``RING_COVER_SHARE`` of the
  group's auctions, every other member bids 80-99% of the group's top bid.
  Score: the group's mean similarity times its cover share.
- **shill**: an agent with >= ``SHILL_MIN_BIDS`` bids, no win, >=
  ``SHILL_SELLER_SHARE`` of them on one seller's auctions, bidding on
  average >= ``SHILL_PRICE_RATIO`` of the winning price (pushing prices up).
  On the sell side of procurement (``side`` ``sell``) the roles turn: the
  party served is the buyer, and a shill asks just above the winning ask
  (the winning ask >= ``SHILL_PRICE_RATIO`` of its own, on average), pushing
  payments down. Score: seller share x price ratio.
- **sybil**: >= 3 new (``age_runs`` <= ``SYBIL_MAX_AGE``), low-stake (<
  ``SYBIL_MAX_STAKE``) agents that bid on exactly the same auctions at prices
  within 1% of each other. Score: the cluster's size.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

RING_JACCARD: Final = 0.6
RING_MIN_SHARED: Final = 5
RING_COVER_SHARE: Final = 0.8
SHILL_MIN_BIDS: Final = 5
SHILL_SELLER_SHARE: Final = 0.8
SHILL_PRICE_RATIO: Final = 0.85
MINHASH_BANDS: Final = 16
MINHASH_ROWS: Final = 2
SYBIL_MAX_AGE: Final = 2
SYBIL_MAX_STAKE: Final = 20.0
FLAGGED_COLUMNS: Final = {
    "agent_id": pl.String,
    "kind": pl.String,
    "score": pl.Float64,
    "reason": pl.String,
}


def detect(bids: pl.DataFrame, accounts: pl.DataFrame | None = None) -> pl.DataFrame:
    """Flagged agents (``agent_id``, ``kind``, ``score``, ``reason``) of ``bids``."""
    found = [_rings(bids), _shills(bids)]
    if accounts is not None:
        found.append(_sybils(bids, accounts))
    return pl.concat([f.cast(FLAGGED_COLUMNS) for f in found]).sort("kind", "agent_id")  # type: ignore[arg-type]


def _rings(bids: pl.DataFrame) -> pl.DataFrame:
    seen = bids.select("agent_id", "auction").unique()
    sizes = seen.group_by("agent_id").len("n")
    # an agent on fewer auctions than a ring must share can be in no ring
    seen = seen.join(sizes.filter(pl.col("n") >= RING_MIN_SHARED), on="agent_id", how="semi")
    if seen["agent_id"].n_unique() < 3:  # a ring has three members or more
        return pl.DataFrame(schema=FLAGGED_COLUMNS)
    candidates = similar_candidates(seen)
    pairs = (
        candidates.join(seen, on="agent_id")
        .join(seen, left_on=["agent_id_b", "auction"], right_on=["agent_id", "auction"])
        .group_by("agent_id", "agent_id_b")
        .len("shared")
        .join(sizes, on="agent_id")
        .join(sizes, left_on="agent_id_b", right_on="agent_id", suffix="_b")
        .with_columns(jaccard=pl.col("shared") / (pl.col("n") + pl.col("n_b") - pl.col("shared")))
        .filter((pl.col("jaccard") >= RING_JACCARD) & (pl.col("shared") >= RING_MIN_SHARED))
    )
    groups = _components(list(pairs.select("agent_id", "agent_id_b").iter_rows()))
    winners = set(bids.filter(pl.col("won"))["agent_id"].unique().to_list())
    rows = []
    for members in groups:
        if len(members) < 3 or len(members & winners) < 2:
            continue
        cover = _cover_share(bids, members)
        if cover < RING_COVER_SHARE:
            continue
        inside = pairs.filter(pl.col("agent_id").is_in(list(members)))
        score = float(inside["jaccard"].mean()) * cover  # type: ignore[arg-type]
        others = len(members) - 1
        reason = (
            f"bids on the auctions of {others} others, covering the top bid at 80-99% "
            f"in {cover:.0%} of them; wins rotate"
        )
        rows += [(a, "ring", score, reason) for a in sorted(members)]
    return pl.DataFrame(rows, schema=FLAGGED_COLUMNS, orient="row")


def similar_candidates(seen: pl.DataFrame) -> pl.DataFrame:
    """Pairs of agents (``agent_id`` < ``agent_id_b``) whose auction sets may be similar.

    MinHash with locality-sensitive hashing: ``MINHASH_BANDS`` bands of
    ``MINHASH_ROWS`` hashes each; two agents are a candidate pair when all
    hashes of some band agree. A pair of Jaccard similarity ``s`` is missed
    with probability ``(1 - s**rows)**bands``: 0.08% at the ring threshold
    0.6. The cost grows with the number of agents and the candidate pairs,
    not with the square of an auction's bidders, as a self-join on auctions
    would.
    """
    empty = pl.DataFrame(schema={"agent_id": pl.String, "agent_id_b": pl.String})
    if seen.height == 0:
        return empty
    n_hashes = MINHASH_BANDS * MINHASH_ROWS
    signatures = seen.group_by("agent_id").agg(
        pl.col("auction").hash(seed=h).min().alias(f"h{h}") for h in range(n_hashes)
    )
    found = []
    for band in range(MINHASH_BANDS):
        names = [f"h{band * MINHASH_ROWS + r}" for r in range(MINHASH_ROWS)]
        keyed = signatures.select("agent_id", pl.struct(names).hash(seed=band).alias("key"))
        shared = keyed.filter(pl.len().over("key") > 1)
        found.append(
            shared.join(shared, on="key", suffix="_b")
            .filter(pl.col("agent_id") < pl.col("agent_id_b"))
            .select("agent_id", "agent_id_b")
        )
    return pl.concat([empty, *found]).unique()


def _cover_share(bids: pl.DataFrame, members: set[str]) -> float:
    """Share of the group's shared auctions where every other member bids 80-99% of the top."""
    group = bids.filter(pl.col("agent_id").is_in(list(members)))
    ratio = pl.col("price") / pl.col("price").max().over("auction")
    covers = group.with_columns(ratio.alias("r"), pl.len().over("auction").alias("n")).filter(
        (pl.col("n") >= 2) & (pl.col("r") < 1.0)
    )
    per_auction = covers.group_by("auction").agg(pl.col("r").is_between(0.8, 0.99).all())
    return float(per_auction["r"].mean()) if per_auction.height else 0.0  # type: ignore[arg-type]


def _components(edges: list[tuple[str, str]]) -> list[set[str]]:
    """Connected groups of agents linked by ``edges`` (SciPy's connected components)."""
    if not edges:
        return []
    names = sorted({a for edge in edges for a in edge})
    index = {name: k for k, name in enumerate(names)}
    rows = np.array([index[a] for a, _ in edges])
    cols = np.array([index[b] for _, b in edges])
    graph = coo_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(names), len(names)))
    _, labels = connected_components(graph, directed=False)
    groups: dict[int, set[str]] = {}
    for name, label in zip(names, labels, strict=True):
        groups.setdefault(int(label), set()).add(name)
    return list(groups.values())


def _shills(bids: pl.DataFrame) -> pl.DataFrame:
    if "seller" not in bids.columns:
        return pl.DataFrame(schema=FLAGGED_COLUMNS)
    if "side" not in bids.columns:
        bids = bids.with_columns(side=pl.lit("buy"))
    sell, won = pl.col("side") == "sell", pl.col("price").filter(pl.col("won"))
    # a sell offer wins low: a shill for the buyer asks just above the winning ask
    top = bids.group_by("auction").agg(
        pl.when(sell.first()).then(won.min()).otherwise(won.max()).alias("winning")
    )
    price, winning = pl.col("price"), pl.col("winning")
    per_bid = bids.join(top, on="auction").with_columns(
        ratio=pl.when(sell).then(winning / price).otherwise(price / winning)
    )
    # an agent that buys and sells is judged on each side apart
    on_one = ["agent_id", "side"]
    per_seller = per_bid.filter(pl.col("seller").is_not_null())
    per_seller = per_seller.group_by(*on_one, "seller").len("on_seller")
    favourite = per_seller.sort("on_seller", descending=True).group_by(on_one).first()
    agents = per_bid.group_by(on_one).agg(
        pl.len().alias("bids"),
        pl.col("won").sum().alias("wins"),
        pl.col("ratio").mean().alias("ratio"),
    )
    flagged = (
        agents.join(favourite, on=on_one)
        .with_columns(share=pl.col("on_seller") / pl.col("bids"))
        .filter(
            (pl.col("bids") >= SHILL_MIN_BIDS)
            & (pl.col("wins") == 0)
            & (pl.col("share") >= SHILL_SELLER_SHARE)
            & (pl.col("ratio") >= SHILL_PRICE_RATIO)
        )
    )
    numbers = ("bids", (pl.col("share") * 100).round(0), "seller", (pl.col("ratio") * 100).round(0))
    offers = "{} offers, never won, {}% to the {}, the winning ask {}% of its own"
    bids_on = "{} bids, never won, {}% on seller {}, at {}% of the winning price"
    reason = pl.when(sell).then(pl.format(offers, *numbers)).otherwise(pl.format(bids_on, *numbers))
    found = flagged.select(
        "agent_id",
        pl.lit("shill").alias("kind"),
        (pl.col("share") * pl.col("ratio")).alias("score"),
        reason.alias("reason"),
    )
    return found.sort("score", descending=True).unique("agent_id", keep="first")


def _sybils(bids: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    age = pl.col("age_runs") if "age_runs" in accounts.columns else pl.lit(None, pl.Int64)
    fresh = accounts.filter(
        (age.fill_null(10**9) <= SYBIL_MAX_AGE) & (pl.col("free_stake") < SYBIL_MAX_STAKE)
    )
    candidates = bids.join(fresh.select("agent_id"), on="agent_id")
    signature = (
        candidates.sort("auction")
        .group_by("agent_id")
        .agg(pl.col("auction").str.join("|").alias("auctions"))
    )
    log_price = pl.col("price").log()
    spread = (
        candidates.join(signature, on="agent_id")
        .group_by("auctions", "auction")
        .agg((log_price.max() - log_price.min()).alias("spread"))
        .group_by("auctions")
        .agg(pl.col("spread").max())
    )
    clusters = signature.group_by("auctions").agg(pl.col("agent_id")).join(spread, on="auctions")
    rows = []
    for members, widest in clusters.select("agent_id", "spread").iter_rows():
        if len(members) >= 3 and widest <= 0.01:
            reason = f"one of {len(members)} new low-stake agents with near-identical bids"
            rows += [(a, "sybil", float(len(members)), reason) for a in sorted(members)]
    return pl.DataFrame(rows, schema=FLAGGED_COLUMNS, orient="row")


def run_flags(allocations: pl.DataFrame, accounts: pl.DataFrame | None) -> pl.DataFrame:
    """Flagged agents of one run's bids: an auction is a market and its bundle of items.

    Shill checks need sellers, which bids do not carry, so a run flags rings
    and (given accounts with ``age_runs``) sybils.
    """
    return flag_bids(detection_bids(allocations), accounts)


def detection_bids(
    allocations: pl.DataFrame,
    sellers: pl.DataFrame | None = None,
    sell_markets: frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """What detection reads of allocations: ``agent_id``, ``auction`` (a market and its
    bundle of items), ``price``, ``won``; made where the allocations are.

    With ``sellers`` (``market_id``, ``item_id``, ``seller``: the items table's), also
    the ``seller`` of each auction whose items one seller sells (else null). The offers
    of ``sell_markets`` (procurement) get ``side`` ``sell`` and, as their ``seller``, the
    party a shill would serve: the market's buyer (``buyer of MARKET``), whose price a
    fake offer just above the winning one pushes down.
    """
    found = allocations.select(
        "agent_id",
        pl.concat_str("market_id", pl.col("items").list.join(";"), separator=":").alias("auction"),
        "price",
        "won",
    )
    if sellers is None and not sell_markets:
        return found
    sell = allocations["market_id"].is_in(pl.Series(sorted(sell_markets), dtype=pl.String))
    seller = _auction_sellers(allocations, sellers) if sellers is not None else None
    return found.with_columns(
        side=pl.when(sell).then(pl.lit("sell")).otherwise(pl.lit("buy")),
        seller=pl.when(sell)
        .then(pl.format("buyer of {}", allocations["market_id"]))
        .otherwise(seller if seller is not None else pl.lit(None, pl.String)),
    )


def _auction_sellers(allocations: pl.DataFrame, sellers: pl.DataFrame) -> pl.Series:
    """Per row of ``allocations``: the one seller of all its items, or null."""
    items = allocations.select("market_id", "items").with_row_index("_bid").explode("items")
    owners = items.join(
        sellers.select("market_id", pl.col("item_id").alias("items"), "seller"),
        on=["market_id", "items"],
        how="left",
    )
    # every bid keeps a row when exploded (a left join keeps them): one group per bid, in order
    one = owners.group_by("_bid", maintain_order=True).agg(
        pl.when(pl.col("seller").n_unique() == 1).then(pl.col("seller").first()).alias("seller")
    )
    return one["seller"]


def item_sellers(items: pl.DataFrame | None) -> pl.DataFrame | None:
    """The ``market_id``, ``item_id``, ``seller`` rows of an items table that name a seller,
    or ``None`` when none does (shill detection then has nothing to judge)."""
    if items is None or "seller" not in items.columns:
        return None
    named = items.filter(pl.col("seller").is_not_null()).select("market_id", "item_id", "seller")
    return named if named.height else None


def flag_bids(bids: pl.DataFrame, accounts: pl.DataFrame | None) -> pl.DataFrame:
    """:func:`run_flags` over :func:`detection_bids`."""
    usable = None if accounts is None or "age_runs" not in accounts.columns else accounts
    return detect(bids, usable)
