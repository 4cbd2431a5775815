"""Settle a component by its LP relaxation when that is integral.

If the optimum of the LP relaxation is a 0/1 vector it is also the optimum
of the integer program: no MIP backend is needed. The objective is the MIP's
(price plus tie weight, in tie units), so the LP optimum is unique and the
tie rule holds. Many real markets, and the CATS "paths" and large "decay"
families, have integral relaxations; an LP solve (HiGHS inside SciPy) takes
milliseconds where a MIP backend call takes tens of them. A fractional
optimum settles nothing and the MIP runs as before.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from econonexus.solvers.problem import IntArray, MarketProblem

_INTEGRAL = 1e-9


def tie_objective(problem: MarketProblem) -> tuple[np.ndarray, float]:
    """Return the objective per bid (price plus tie weight) in tie units, and the unit.

    Counted in units of the largest tie term, the tie terms differ by far
    more than the solvers' absolute tolerances (about 1e-7); multiply an
    objective value by the unit for currency.
    """
    unit = float(problem.tie.max()) if problem.n_bids and problem.tie.max() > 0 else 1.0
    return (problem.price + problem.tie) / unit, unit


def constraint_matrix(problem: MarketProblem) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return ``A, b`` with ``A x <= b``: supply of each scarce item, one bid per XOR group.

    Rows: the items whose total demand exceeds their supply, in item order,
    then the XOR groups of two or more bids, in group order.
    """
    n = problem.n_bids
    rows = np.repeat(np.arange(n), np.diff(problem.ptr))
    demand = sp.csr_matrix(
        (problem.qty.astype(np.float64), (problem.item, rows)), shape=(len(problem.item_ids), n)
    )
    scarce = np.flatnonzero(np.asarray(demand.sum(axis=1)).ravel() > problem.supply)
    blocks, limits = [demand[scarce]], [problem.supply[scarce].astype(np.float64)]
    grouped = np.flatnonzero(problem.xor >= 0)
    if len(grouped):
        groups = sp.csr_matrix(
            (np.ones(len(grouped)), (problem.xor[grouped], grouped)),
            shape=(int(problem.xor.max()) + 1, n),
        )
        shared = np.flatnonzero(np.diff(groups.indptr) > 1)
        blocks.append(groups[shared])
        limits.append(np.ones(len(shared)))
    return sp.vstack(blocks, format="csr"), np.concatenate(limits)


def integral_lp_solution(problem: MarketProblem) -> IntArray | None:
    """Return the winners if the LP relaxation's optimum is integral and feasible, else ``None``."""
    if problem.n_bids == 0:
        return np.zeros(0, dtype=np.int64)
    a, b = constraint_matrix(problem)
    weights, _ = tie_objective(problem)
    result = linprog(-weights, A_ub=a, b_ub=b, bounds=(0, 1), method="highs")
    if result.status != 0 or result.x is None:
        return None
    x = np.asarray(result.x)
    if np.any(np.minimum(np.abs(x), np.abs(1 - x)) > _INTEGRAL):
        return None
    chosen = x > 0.5
    if np.any(a @ chosen.astype(np.float64) > b):  # exact check of the rounded vector
        return None
    return np.flatnonzero(chosen).astype(np.int64)
