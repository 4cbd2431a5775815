"""A greedy separation heuristic for core-constraint generation.

The most blocking coalition at payments ``p`` solves a winner determination
problem in which a bid's value is its price, less its agent's surplus
``B_a - p_a`` when that agent is a winner (charged once per agent). Any
blocking coalition makes a valid core constraint, and only the last round
must prove that none is left; so each round first packs bids greedily in a
few orders (value, value per unit, value per square root of units: the
orders of Lehmann, O'Callaghan and Shoham's greedy auctions, and the LP
relaxation's optimum, rounded), and asks the exact oracle, a MIP, only when
no packing blocks; when the LP bound shows that no coalition blocks, that is
a proof and the MIP is not needed either. Charging a winner's
surplus on each of its packed bids undervalues a packing, never overvalues
it, and the exact value of the packing found is what is checked.
"""

from __future__ import annotations

import highspy
import numpy as np
import scipy.sparse as sp

from econonexus.solvers.problem import FloatArray


class GreedyPacker:
    """Greedy packings of one market's bids under ``A x <= b`` (``a``: CSR)."""

    def __init__(self, a: sp.csr_matrix, b: FloatArray, units: FloatArray):
        self.columns = sp.csc_matrix(a)
        self.capacity = np.asarray(b, dtype=np.float64)
        self.root_units = np.sqrt(np.maximum(units, 1.0))
        self.units = np.maximum(units, 1.0)

    def packings(self, value: FloatArray, lp_x: FloatArray | None = None) -> list[np.ndarray]:
        """One packing (a bool mask over bids) per greedy order of the bids of positive
        ``value``: by value, value per unit, value per square root of units, and (given
        the LP relaxation's optimum ``lp_x``) by ``lp_x`` then value."""
        positive = np.flatnonzero(value > 0)
        keys = [value, value / self.units, value / self.root_units]
        found = [self._pack(positive[np.argsort(-k[positive], kind="stable")]) for k in keys]
        if lp_x is not None:
            found.append(self._pack(positive[np.lexsort((-value[positive], -lp_x[positive]))]))
        return found

    def _pack(self, order: np.ndarray) -> np.ndarray:
        left = self.capacity.copy()
        chosen = np.zeros(self.columns.shape[1], dtype=bool)
        ptr, rows, data = self.columns.indptr, self.columns.indices, self.columns.data
        for j in order.tolist():
            r, d = rows[ptr[j] : ptr[j + 1]], data[ptr[j] : ptr[j + 1]]
            if np.all(d <= left[r] + 1e-9):
                left[r] -= d
                chosen[j] = True
        return chosen


class SeparationLp:
    """The LP relaxation of the separation problem, built once in HiGHS; each round
    changes only its costs. Columns: the bids' ``x``, then the winners' ``y``; rows:
    ``A x <= b``, then ``x_j <= y_a`` for each bid of a winner ``a``."""

    def __init__(self, a: sp.csr_matrix, b: FloatArray, winner_of: np.ndarray, n_agents: int):
        n = a.shape[1]
        linked = np.flatnonzero(winner_of >= 0)
        k = np.arange(len(linked))
        link = sp.csr_matrix(
            (
                np.concatenate([np.ones(len(linked)), -np.ones(len(linked))]),
                (np.concatenate([k, k]), np.concatenate([linked, n + winner_of[linked]])),
            ),
            shape=(len(linked), n + n_agents),
        )
        packing = sp.hstack([a, sp.csr_matrix((a.shape[0], n_agents))])
        matrix = sp.csc_matrix(sp.vstack([packing, link]))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n + n_agents, matrix.shape[0]
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.col_cost_ = np.zeros(n + n_agents)
        lp.col_lower_, lp.col_upper_ = np.zeros(n + n_agents), np.ones(n + n_agents)
        lp.row_lower_ = np.full(matrix.shape[0], -highspy.kHighsInf)
        lp.row_upper_ = np.concatenate([b, np.zeros(len(linked))])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_ = matrix.indptr, matrix.indices
        lp.a_matrix_.value_ = matrix.data
        self.n = n
        self.highs = highspy.Highs()  # type: ignore[no-untyped-call]
        self.highs.setOptionValue("output_flag", False)
        self.highs.passModel(lp)

    def solve(self, price: FloatArray, surplus: FloatArray) -> tuple[FloatArray, float] | None:
        """The LP optimum's ``x`` and value (an upper bound on the most blocking
        coalition's) for bids worth ``price`` and winners' ``surplus``; ``None`` if
        HiGHS did not end optimal."""
        cost = np.concatenate([price, -surplus])
        self.highs.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), cost)
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = np.asarray(self.highs.getSolution().col_value, dtype=np.float64)[: self.n]
        return x, float(self.highs.getInfo().objective_function_value)
