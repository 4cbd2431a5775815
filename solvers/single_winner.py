"""Components with at most one winner, solved all at once.

A component in which no two bids can win together needs no search: its
winner is its best feasible bid (price plus tie weight), if that is worth
more than nothing, which is what exact enumeration would choose. Two kinds
are recognised without looking at pairs: a lone bid, and bids all on one
same item where any two ask for more than its supply (every task of a
delegation: each offer covers the whole task). Many thousands of such
components (one per task) cost one pass over arrays instead of one
enumeration each.
"""

from __future__ import annotations

import time

import numpy as np

from econonexus.solvers.components import Labelled
from econonexus.solvers.problem import IntArray, MarketProblem
from econonexus.solvers.wdp import ComponentSolution


def split_single_winner(
    problem: MarketProblem, labelled: Labelled
) -> tuple[ComponentSolution | None, list[IntArray]]:
    """Solve the components of ``problem`` with at most one winner; return the others.

    The solution covers every such component at once (status ``optimal``,
    method ``enumerate``: the answer enumeration gives); ``None`` if there is none.
    """
    if not len(labelled.members):
        return None, []
    start = time.perf_counter()
    sizes, bids, first = labelled.sizes, labelled.members, labelled.starts
    label = np.repeat(np.arange(len(sizes)), sizes)
    n_items = np.diff(problem.ptr)[bids]
    lead = problem.item[problem.ptr[bids]]  # each bid's first item
    qty = problem.qty[problem.ptr[bids]]
    one_item = (n_items == 1) & (lead == lead[first][label])
    all_one = np.minimum.reduceat(one_item, first).astype(bool)
    exclusive = 2 * np.minimum.reduceat(qty, first) > problem.supply[lead[first]]
    single = (sizes == 1) | (all_one & exclusive)
    if not single.any():
        return None, labelled.components()
    take = single[label]
    chosen = _best_each(problem, bids[take], label[take])
    welfare = float(problem.price[chosen].sum())
    solution = ComponentSolution(
        winners=problem.index[chosen],
        status="optimal",
        welfare=welfare,
        bound=welfare,
        seconds=time.perf_counter() - start,
        method="enumerate",
    )
    return solution, labelled.components(~single)


def _best_each(problem: MarketProblem, bids: IntArray, label: IntArray) -> IntArray:
    """The best feasible bid of each labelled group, where it is worth more than nothing."""
    rows = np.repeat(np.arange(problem.n_bids), np.diff(problem.ptr))
    over = np.bincount(rows, problem.qty > problem.supply[problem.item], problem.n_bids) > 0
    value = np.where(over[bids], -np.inf, problem.price[bids] + problem.tie[bids])
    order = np.lexsort((bids, -value, label))  # per group: best value, then lowest position
    heads = order[np.flatnonzero(np.diff(label[order], prepend=-1))]
    heads = heads[value[heads] > 0]
    return np.sort(bids[heads]).astype(np.int64)
