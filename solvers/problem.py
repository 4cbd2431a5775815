"""A market's winner-determination instance as flat NumPy arrays.

Bids are stored in a canonical order (a keyed hash of ``market_id`` and
``bid_id``), so neither file position nor the spelling of agent names decides
anything. The same hash gives every bid a tie weight: among allocations of
equal welfare, the one whose winners' tie weights add up to more wins.

The tie terms of any set of winners add up to less than the smallest gap
between two different welfares, so a tie rule never beats a better
allocation: when every price is a whole number of some decimal quantum ``q``
(``10**-k``, ``k <= 9``: 0.01 for cents) welfares differ by ``q`` or more,
and the tie terms add up to at most ``q / 2``. Prices finer than that are
compared at ``tie_epsilon`` times the largest price, the solvers' own
relative tolerance.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.object_]


def priority_key(market_id: str, bid_id: str) -> bytes:
    """Return the canonical-order key of a bid: BLAKE2b of its market and bid id."""
    return hashlib.blake2b(f"{market_id}\x1f{bid_id}".encode(), digest_size=8).digest()


def tie_weight(key: bytes) -> float:
    """Return a bid's tie weight in (0.5, 1] from its key.

    Real-valued pseudo-random weights make the tie totals of two different
    bid sets differ (almost surely), so exactly one optimal set wins.
    """
    return 1.0 - int.from_bytes(key, "big") / 2**65


_FINEST_QUANTUM = 9  # decimal places
_ON_QUANTUM = 1e-6  # how close to a whole number of quanta a price must be, in quanta


def price_quantum(price: FloatArray) -> float | None:
    """The coarsest ``10**-k`` (``k`` in 0..9) of which every price is a whole multiple, or None."""
    magnitude = np.abs(price)
    for k in range(_FINEST_QUANTUM + 1):
        units = magnitude * 10.0**k
        if np.all(np.abs(units - np.round(units)) <= _ON_QUANTUM):
            return float(10.0**-k)
    return None


def tie_budget(price: FloatArray, tie_epsilon: float) -> float:
    """The most that the tie terms of one set of winners may add up to (see the module doc)."""
    if len(price) == 0:
        return 0.0
    quantum = price_quantum(price)
    if quantum is not None:
        return quantum / 2
    return tie_epsilon * float(np.abs(price).max())


def tie_weights(market_ids: list[str], bid_ids: list[str]) -> FloatArray:
    """Return the tie weight of each ``(market_id, bid_id)`` pair."""
    return key_weights(key_numbers(market_ids, bid_ids))


def key_numbers(market_ids: list[str], bid_ids: list[str]) -> npt.NDArray[np.uint64]:
    """The priority keys as big-endian integers: their order is the keys' bytes' order."""
    keys = b"".join(priority_key(m, b) for m, b in zip(market_ids, bid_ids, strict=True))
    return np.frombuffer(keys, dtype=">u8").astype(np.uint64)


def key_weights(numbers: npt.NDArray[np.uint64]) -> FloatArray:
    """:func:`tie_weight` of every key at once, from :func:`key_numbers`."""
    weights: FloatArray = 1.0 - numbers.astype(np.float64) / 2.0**65
    return weights


@dataclass(frozen=True)
class MarketProblem:
    """One market (or one component of it) ready for winner determination.

    Bid ``i`` asks for ``qty[ptr[i]:ptr[i+1]]`` units of items
    ``item[ptr[i]:ptr[i+1]]`` at ``price[i]``. ``xor[i]`` is the bid's XOR
    group index or -1. ``index[i]`` is the bid's position in the whole market.
    """

    market_id: str
    bid_ids: StrArray
    agent_ids: StrArray
    price: FloatArray
    tie: FloatArray
    ptr: IntArray
    item: IntArray
    qty: IntArray
    xor: IntArray
    item_ids: StrArray
    supply: IntArray
    reserve: FloatArray
    index: IntArray

    @property
    def n_bids(self) -> int:
        return len(self.price)

    def bid_items(self, i: int) -> tuple[IntArray, IntArray]:
        """Return the item indices and quantities of bid ``i``."""
        lo, hi = self.ptr[i], self.ptr[i + 1]
        return self.item[lo:hi], self.qty[lo:hi]

    def demand_matrix(self) -> FloatArray:
        """Return the dense ``n_bids x n_items`` matrix of units asked for."""
        rows = np.repeat(np.arange(self.n_bids), np.diff(self.ptr))
        dense = np.zeros((self.n_bids, len(self.item_ids)))
        np.add.at(dense, (rows, self.item), self.qty)
        return dense

    def repriced(self, kept: IntArray, price: FloatArray, tie_epsilon: float) -> MarketProblem:
        """The bids ``kept`` priced at ``price`` (their new welfare terms), without reserves.

        The tie terms are rescaled to the new prices' budget (:func:`tie_budget`);
        ``index`` numbers the kept bids from 0.
        """
        old = tie_budget(self.price, tie_epsilon)
        scale = tie_budget(price, tie_epsilon) / old if old > 0 else 1.0
        sub = self.subset(kept)
        return replace(
            sub,
            price=price,
            tie=sub.tie * scale,
            reserve=np.zeros_like(sub.reserve),
            index=np.arange(len(kept), dtype=np.int64),
        )

    def reserve_value(self) -> FloatArray:
        """Return each bid's sum of reserve prices over the units it asks for."""
        rows = np.repeat(np.arange(self.n_bids), np.diff(self.ptr))
        return np.bincount(rows, self.reserve[self.item] * self.qty, minlength=self.n_bids).astype(
            np.float64
        )

    def units(self) -> FloatArray:
        """Return the units each bid asks for, over all its items."""
        rows = np.repeat(np.arange(self.n_bids), np.diff(self.ptr))
        return np.bincount(rows, self.qty, minlength=self.n_bids).astype(np.float64)

    def subset(self, bids: IntArray) -> MarketProblem:
        """Return the sub-problem made of ``bids`` (positions in this problem)."""
        bids = np.sort(np.asarray(bids, dtype=np.int64))
        starts, ends = self.ptr[bids], self.ptr[bids + 1]
        lengths = ends - starts
        take = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(
            lengths.sum()
        )
        used, item = np.unique(self.item[take], return_inverse=True)
        groups, xor = np.unique(self.xor[bids], return_inverse=True)
        xor = np.where(groups[xor] < 0, -1, xor)
        return MarketProblem(
            market_id=self.market_id,
            bid_ids=self.bid_ids[bids],
            agent_ids=self.agent_ids[bids],
            price=self.price[bids],
            tie=self.tie[bids],
            ptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            item=item.astype(np.int64),
            qty=self.qty[take],
            xor=xor.astype(np.int64),
            item_ids=self.item_ids[used],
            supply=self.supply[used],
            reserve=self.reserve[used],
            index=self.index[bids],
        )


def build_problem(
    market_id: str,
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    *,
    tie_epsilon: float,
    default_reserve: float = 0.0,
) -> MarketProblem:
    """Build the problem of one market from validated bids and its items table.

    Parameters
    ----------
    market_id
        The market's id.
    bids
        Validated bids of this market (bids schema).
    items
        Item rows of this market (items schema) or ``None``: every item then
        has supply 1 and reserve 0.
    tie_epsilon
        Tie-break budget, as a fraction of the largest price, for prices that are
        not whole numbers of a decimal quantum (see :func:`tie_budget`).
    default_reserve
        Reserve price per unit of the items ``items`` does not list.
    """
    ids = bids["bid_id"].to_list()
    numbers = key_numbers([market_id] * len(ids), ids)
    order = np.argsort(numbers, kind="stable").astype(np.int64)
    weights = key_weights(numbers[order])
    bids = bids[order]
    n = bids.height
    exploded = bids.select("items", "quantities").explode(["items", "quantities"])
    item_ids, item = _numbered(exploded["items"])
    supply, reserve = item_terms(item_ids, items, default_reserve)
    xor_keys = bids.select(
        pl.when(pl.col("xor_group").is_not_null())
        .then(pl.concat_str([pl.col("agent_id"), pl.col("xor_group")], separator="\x1f"))
        .alias("k")
    )["k"]
    xor = group_index(xor_keys.to_list())
    price = bids["price"].to_numpy().astype(np.float64)
    return MarketProblem(
        market_id=market_id,
        bid_ids=bids["bid_id"].to_numpy().astype(object),
        agent_ids=bids["agent_id"].to_numpy().astype(object),
        price=price,
        tie=tie_budget(price, tie_epsilon) * weights / max(n, 1),
        ptr=np.concatenate([[0], np.cumsum(bids["items"].list.len().to_numpy())]).astype(np.int64),
        item=item.astype(np.int64),
        qty=exploded["quantities"].to_numpy().astype(np.int64),
        xor=xor,
        item_ids=item_ids,
        supply=supply,
        reserve=reserve,
        index=np.arange(n, dtype=np.int64),
    )


def _numbered(names: pl.Series) -> tuple[StrArray, IntArray]:
    """The distinct ``names`` sorted, and each name's position among them (as ``np.unique``
    with ``return_inverse``, without sorting Python objects)."""
    distinct = names.unique().sort()
    index = pl.DataFrame({"name": distinct, "j": np.arange(len(distinct), dtype=np.int64)})
    joined = pl.DataFrame({"name": names}).join(index, on="name", how="left", maintain_order="left")
    return distinct.to_numpy().astype(object), joined["j"].to_numpy()


def item_terms(
    item_ids: StrArray, items: pl.DataFrame | None, default_reserve: float
) -> tuple[IntArray, FloatArray]:
    """Supply and reserve of each of ``item_ids`` (unlisted items: 1 and ``default_reserve``)."""
    supply = np.ones(len(item_ids), dtype=np.int64)
    reserve = np.full(len(item_ids), default_reserve, dtype=np.float64)
    if items is None or items.height == 0:
        return supply, reserve
    lookup = {
        row[0]: (row[1], row[2])
        for row in items.select("item_id", "supply", "reserve_price").iter_rows()
    }
    for j, item_id in enumerate(item_ids):
        if item_id in lookup:
            supply[j], reserve[j] = lookup[item_id]
    return supply, reserve


def group_index(keys: list[str | None]) -> IntArray:
    """Number the distinct non-null ``keys`` in order of appearance; ``None`` is -1."""
    seen: dict[str, int] = {}
    out = np.full(len(keys), -1, dtype=np.int64)
    for i, key in enumerate(keys):
        if key is not None:
            out[i] = seen.setdefault(key, len(seen))
    return out
