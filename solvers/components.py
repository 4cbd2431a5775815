"""Split a market into independent components.

Two bids can only conflict through an item whose supply is smaller than the
units all eligible bids ask for, or through a shared XOR group. Bids linked by
neither are independent, so each connected component clears on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from econonexus.solvers.problem import IntArray, MarketProblem

_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Partition:
    """Eligible bids grouped into independent components.

    ``eligible[i]`` is false for bids priced below the sum of their reserves
    (they cannot win). ``components`` holds, for each component, the bid
    positions it contains, largest component first.
    """

    eligible: np.ndarray
    components: list[IntArray]


def eligible_bids(problem: MarketProblem) -> np.ndarray:
    """Return which bids meet the reserve: price >= sum of reserves of their units."""
    reserve = problem.reserve_value()
    return problem.price >= reserve * (1 - _TOLERANCE) - _TOLERANCE


def conflicting_items(problem: MarketProblem, eligible: np.ndarray) -> np.ndarray:
    """Return a mask of items whose supply is below the eligible bids' demand."""
    rows = np.repeat(np.arange(problem.n_bids), np.diff(problem.ptr))
    units = np.where(eligible[rows], problem.qty, 0)
    demand = np.bincount(problem.item, units, minlength=len(problem.item_ids))
    return demand > problem.supply


@dataclass(frozen=True)
class Labelled:
    """Eligible bids grouped by component, before they become one array each:
    component ``k`` is ``members[starts[k]:starts[k + 1]]`` (bid positions, ascending)."""

    eligible: np.ndarray
    members: IntArray
    starts: IntArray

    @property
    def sizes(self) -> IntArray:
        """Bids per component."""
        sizes: IntArray = np.diff(np.append(self.starts, len(self.members)))
        return sizes

    def components(self, keep: np.ndarray | None = None) -> list[IntArray]:
        """The components (those ``keep`` marks), largest first, then by first bid."""
        ends = np.append(self.starts[1:], len(self.members)).tolist()
        which = range(len(self.starts)) if keep is None else np.flatnonzero(keep).tolist()
        starts = self.starts.tolist()
        chosen = [self.members[starts[k] : ends[k]] for k in which]
        chosen.sort(key=lambda c: (-len(c), int(c[0])))
        return chosen


def partition(problem: MarketProblem, *, prune: bool = False) -> Partition:
    """Split ``problem`` into independent components of eligible bids.

    ``prune`` also leaves out the bids that can never win
    (:func:`dominated_bids`); only winner determination may prune: a VCG
    re-solve without an agent needs bids its presence made hopeless.
    """
    labelled = label_components(problem, prune=prune)
    return Partition(eligible=labelled.eligible, components=labelled.components())


def label_components(problem: MarketProblem, *, prune: bool = False) -> Labelled:
    """The components of :func:`partition` as one array of members and their starts."""
    eligible = eligible_bids(problem)
    if prune:
        eligible &= ~dominated_bids(problem, eligible)
    n, m = problem.n_bids, len(problem.item_ids)
    rows = np.repeat(np.arange(n), np.diff(problem.ptr))
    hot = conflicting_items(problem, eligible)[problem.item] & eligible[rows]
    edge_bid = [rows[hot]]
    edge_node = [n + problem.item[hot]]
    in_group = (problem.xor >= 0) & eligible
    edge_bid.append(np.flatnonzero(in_group))
    edge_node.append(n + m + problem.xor[in_group])
    n_groups = int(problem.xor.max()) + 1 if n else 0
    size = n + m + n_groups
    a = np.concatenate(edge_bid)
    b = np.concatenate(edge_node)
    graph = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    members = np.flatnonzero(eligible)
    order = np.argsort(labels[:n][members], kind="stable")
    sorted_members = members[order].astype(np.int64)
    _, starts = np.unique(labels[:n][sorted_members], return_index=True)
    return Labelled(eligible, sorted_members, starts.astype(np.int64))


def dominated_bids(problem: MarketProblem, eligible: np.ndarray) -> np.ndarray:
    """Bids no optimal allocation uses: same bundle as many better bids.

    Ranked by price plus tie term (the objective), a bid loses to a better bid
    of its own XOR group on the same bundle, and to the ``2T + 1`` best
    bids on its bundle, ``T`` being the total supply: an optimum has at most
    ``T`` winners, each of which uses or blocks (its XOR group) at most two
    of those, so one of them is free and would replace the bid for more.
    """
    keep_per_bundle = 2 * int(problem.supply.sum()) + 1
    if problem.n_bids <= keep_per_bundle and not (problem.xor >= 0).any():
        return np.zeros(problem.n_bids, dtype=bool)  # too few bids to crowd a bundle
    order = np.argsort(-(problem.price + problem.tie), kind="stable")
    seen_in_group: set[tuple[int, tuple[int, ...]]] = set()  # (group, bundle)
    kept_on_bundle: dict[tuple[int, ...], int] = {}
    out = np.zeros(problem.n_bids, dtype=bool)
    for i in order.tolist():
        if not eligible[i]:
            continue
        lo, hi = int(problem.ptr[i]), int(problem.ptr[i + 1])
        pairs = zip(problem.item[lo:hi].tolist(), problem.qty[lo:hi].tolist(), strict=True)
        key = tuple(x for pair in sorted(pairs) for x in pair)
        group = int(problem.xor[i])
        if group >= 0 and (group, key) in seen_in_group:
            out[i] = True
            continue
        if group >= 0:
            seen_in_group.add((group, key))
        kept = kept_on_bundle.get(key, 0)
        if kept >= keep_per_bundle:
            out[i] = True
        else:
            kept_on_bundle[key] = kept + 1
    return out
