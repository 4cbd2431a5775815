"""Single-item sealed-bid auctions in bulk: first price and second price (Vickrey).

One auction is one ``(market_id, item_id)`` with ``units`` identical units
and a per-unit ``reserve``; every bid asks for one unit. The ``units``
highest bids at or above the reserve win. First price: each winner pays its
bid. Second price (uniform, Vickrey): every winner pays
``max(price of the (units+1)-th bid, reserve)``.

Ties between equal prices go to the larger tie weight of
:mod:`econonexus.solvers.problem` (BLAKE2b of market and bid id), the rule
of the combinatorial markets. Weights are computed only for bids whose
price equals another's in the same auction, so ties cost nothing when there
are none.

Everything is vectorised over all auctions. Bids that arrive grouped by
auction (each auction's bids contiguous, in any auction order) skip the sort.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import polars as pl

from econonexus.solvers.problem import FloatArray, IntArray, tie_weights

SealedRule = Literal["first-price", "second-price"]
TieWeights = Callable[[IntArray], FloatArray]
_ITERATIVE_MAX_UNITS = 4


def clear_sealed(
    bids: pl.DataFrame,
    *,
    rule: SealedRule,
    units: int = 1,
    reserve: float = 0.0,
) -> pl.DataFrame:
    """Clear every auction in ``bids``; return it with ``won`` and ``payment`` added.

    Parameters
    ----------
    bids
        Columns ``market_id``, ``item_id``, ``bid_id``, ``price``; optional
        ``units`` and ``reserve`` per row (constant within an auction)
        override the arguments of the same names.
    rule
        ``"first-price"`` or ``"second-price"``.
    units, reserve
        Units on sale and reserve price per unit, for every auction without
        its own.

    Returns
    -------
    polars.DataFrame
        ``bids`` in the same row order, plus ``won`` (bool) and ``payment``
        (float64, 0 for losers).
    """
    if bids.height == 0:
        return bids.with_columns(won=pl.lit(False), payment=pl.lit(0.0))
    order, starts = _group(bids)
    rows = np.arange(bids.height) if order is None else order
    per_auction = _per_auction(bids, rows[starts], units=units, reserve=reserve)

    def weights(positions: IntArray) -> FloatArray:
        picked = bids.select("market_id", "bid_id")[rows[positions]]
        return tie_weights(picked["market_id"].to_list(), picked["bid_id"].to_list())

    won, payment = clear_grouped(
        bids["price"].to_numpy().astype(np.float64)[rows],
        starts,
        per_auction[0],
        per_auction[1],
        rule=rule,
        tie_weights=weights,
    )
    if order is not None:
        won[order], payment[order] = won.copy(), payment.copy()
    return bids.with_columns(won=pl.Series(won), payment=pl.Series(payment))


def clear_grouped(
    price: FloatArray,
    starts: IntArray,
    units: IntArray,
    reserve: FloatArray,
    *,
    rule: SealedRule,
    tie_weights: TieWeights,
) -> tuple[np.ndarray, FloatArray]:
    """Clear auctions whose bids are contiguous; auction ``a`` starts at ``starts[a]``.

    Returns the winner mask and the payments, in input order.
    """
    sizes = np.diff(np.append(starts, len(price)))
    group = np.repeat(np.arange(len(starts), dtype=np.int32), sizes)
    # the (units+1)-th bid sets the second price; first price needs only the winners
    depth = int(units.max()) + (rule == "second-price")
    if units.max() <= _ITERATIVE_MAX_UNITS:
        rank = _top_ranks(price, starts, sizes, group, depth, tie_weights)
    else:
        rank = _sorted_ranks(price, starts, group, tie_weights)
    # 10M-row batches: per-bid copies of per-auction values only when they vary
    per_bid_units = _per_bid(units, sizes)
    won = (rank < per_bid_units) & (price >= _per_bid(reserve, sizes))
    if rule == "first-price":
        return won, np.where(won, price, 0.0)
    next_bid = np.full(len(starts), -np.inf)
    marginal = np.flatnonzero(rank == per_bid_units)
    next_bid[group[marginal]] = price[marginal]
    clearing = np.maximum(next_bid, reserve)
    payment = np.zeros(len(price))
    winners = np.flatnonzero(won)
    payment[winners] = clearing[group[winners]]
    return won, payment


def _per_bid(values: np.ndarray, sizes: IntArray) -> np.ndarray:
    """``values`` per auction as one value per bid, or a 0-d array if all auctions agree."""
    if len(values) and np.all(values == values[0]):
        return np.asarray(values[0])
    return np.repeat(values, sizes)


def _top_ranks(
    price: FloatArray,
    starts: IntArray,
    sizes: IntArray,
    group: np.ndarray,
    depth: int,
    tie_weights: TieWeights,
) -> IntArray:
    """Rank the ``depth`` best bids of every auction (others get ``depth``)."""
    rank = np.full(len(price), depth, dtype=np.int64)
    score = price.copy()
    for r in range(depth):
        best = np.maximum.reduceat(score, starts)
        at_best = (score == np.repeat(best, sizes)) & (score > -np.inf)
        picked = pick_one(at_best, starts, group, tie_weights)
        rank[picked] = r
        score[picked] = -np.inf
    return rank


def pick_one(
    candidates: np.ndarray, starts: IntArray, group: np.ndarray, tie_weights: TieWeights
) -> IntArray:
    """Return, per contiguous group with candidates, the candidate with the largest tie weight.

    Tie weights are asked for only where a group has more than one candidate.
    """
    counts = np.add.reduceat(candidates, starts, dtype=np.int64)
    rows = np.flatnonzero(candidates)
    tied = rows[counts[group[rows]] > 1]
    if len(tied) == 0:
        return rows
    key = np.where(candidates, 1.0, -1.0)
    key[tied] = tie_weights(tied)
    best = np.maximum.reduceat(key, starts)
    picked: IntArray = rows[key[rows] == best[group[rows]]]
    return picked


def _sorted_ranks(
    price: FloatArray, starts: IntArray, group: np.ndarray, tie_weights: TieWeights
) -> IntArray:
    """Rank every bid in its auction by a sort: price down, then tie weight down."""
    order = np.lexsort((-price, group))
    same = (np.diff(group[order]) == 0) & (np.diff(price[order]) == 0)
    tied_pos = np.flatnonzero(np.concatenate([[False], same]) | np.concatenate([same, [False]]))
    tie = np.zeros(len(price))
    if len(tied_pos):
        tie[order[tied_pos]] = tie_weights(order[tied_pos])
        order = np.lexsort((-tie, -price, group))
    rank = np.empty(len(price), dtype=np.int64)
    rank[order] = np.arange(len(price)) - starts[group[order]]
    return rank


def _group(bids: pl.DataFrame) -> tuple[IntArray | None, IntArray]:
    """Return a row order that makes auctions contiguous (``None``: already) and run starts."""
    keys = bids.select("market_id", "item_id")
    starts = auction_starts(keys)
    if starts is not None:
        return None, starts
    # Sort by a 64-bit hash of the auction; a collision would interleave two
    # auctions, which the run check catches, and then an exact (slower) sort runs.
    for order_by in (pl.struct("market_id", "item_id").hash(), pl.struct("market_id", "item_id")):
        order = keys.select(order_by.arg_sort())[:, 0].to_numpy().astype(np.int64)
        starts = auction_starts(keys[order])
        if starts is not None:
            return order, starts
    raise AssertionError("rows sorted by auction must form one run per auction")


def auction_starts(keys: pl.DataFrame) -> IntArray | None:
    """Return where each auction's rows start, if every auction's rows are contiguous."""
    changed = [pl.col(c).ne_missing(pl.col(c).shift(1)) for c in keys.columns]
    run_start = keys.select(pl.any_horizontal(changed).alias("s"))["s"]
    firsts = keys.filter(run_start)
    # Distinct hashes prove distinct keys; only on a collision compare the keys.
    if firsts.hash_rows().n_unique() != firsts.height and firsts.n_unique() != firsts.height:
        return None
    return np.flatnonzero(run_start.to_numpy()).astype(np.int64)


def _per_auction(
    bids: pl.DataFrame, first_rows: IntArray, *, units: int, reserve: float
) -> tuple[IntArray, FloatArray]:
    """Return ``units`` and ``reserve`` per auction, read at each auction's first row."""

    def column(name: str, default: float, dtype: type) -> np.ndarray:
        if name not in bids.columns:
            return np.full(len(first_rows), default, dtype=dtype)
        return bids[name].fill_null(default).to_numpy()[first_rows].astype(dtype)

    return column("units", units, np.int64), column("reserve", reserve, np.float64)
