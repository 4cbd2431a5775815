"""A feasible allocation in one pass: the incumbent a time-limited solve never falls below.

Bids are taken in order of price per square root of units asked (Lehmann,
O'Callaghan and Shoham's greedy rule for combinatorial auctions; ties by the
tie weight), each while its items' supply lasts and its XOR group has no
winner yet. The result is feasible, never optimal by proof.
"""

from __future__ import annotations

import numpy as np

from econonexus.solvers.problem import IntArray, MarketProblem


def greedy_winners(problem: MarketProblem) -> IntArray:
    """Positions (in ``problem``) of the bids the greedy rule accepts, sorted."""
    n = problem.n_bids
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    units = np.add.reduceat(problem.qty, problem.ptr[:-1]).astype(np.float64)
    order = np.lexsort((-problem.tie, -problem.price / np.sqrt(np.maximum(units, 1.0))))
    left = problem.supply.astype(np.int64).copy()
    taken_groups: set[int] = set()
    chosen = []
    for b in order.tolist():
        group = int(problem.xor[b])
        if problem.price[b] <= 0 or group in taken_groups:
            continue
        items, qty = problem.bid_items(b)
        if np.all(left[items] >= qty):
            left[items] -= qty
            chosen.append(b)
            if group >= 0:
                taken_groups.add(group)
    return np.array(sorted(chosen), dtype=np.int64)
