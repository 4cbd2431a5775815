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


def partition(problem: MarketProblem) -> Partition:
    """Split ``problem`` into independent components of eligible bids."""
    eligible = eligible_bids(problem)
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
    bid_labels = labels[:n]
    members = np.flatnonzero(eligible)
    order = np.argsort(bid_labels[members], kind="stable")
    sorted_members = members[order]
    _, starts = np.unique(bid_labels[sorted_members], return_index=True)
    components = [c.astype(np.int64) for c in np.split(sorted_members, starts[1:])]
    components = [c for c in components if len(c)]
    components.sort(key=lambda c: (-len(c), int(c[0])))
    return Partition(eligible=eligible, components=components)
