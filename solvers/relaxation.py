"""Settle a component by its LP relaxation when that is integral.

If the optimum of the LP relaxation is a 0/1 vector it is also the optimum
of the integer program: no MIP backend is needed. The objective is the MIP's
(price plus tie weight, in tie units), so the LP optimum is unique and the
tie rule holds. Many real markets, and the CATS "paths" and large "decay"
families, have integral relaxations; an LP solve (HiGHS through highspy)
takes milliseconds where a MIP backend call takes tens of them. A fractional
optimum settles nothing and the MIP runs as before.

:class:`SubsetRelaxation` asks the same question of many subsets of one
problem's bids (VCG's re-solves, each without one winner) from one HiGHS
model: each subset fixes the other bids at 0, and the dual simplex restarts
from the previous basis, about ten times faster than a cold solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from econonexus.solvers.problem import FloatArray, IntArray, MarketProblem

_INTEGRAL = 1e-9
_SCALE_DOWN = -20  # HiGHS's user_objective_scale: costs times 2**-20


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
    return relax(problem).winners


@dataclass(frozen=True)
class Relaxed:
    """The LP relaxation's optimum ``x`` (one value per bid; ``None`` if the LP was not
    solved to optimality) and its winners when ``x`` is integral, else ``None``."""

    x: FloatArray | None
    winners: IntArray | None


def relax(problem: MarketProblem) -> Relaxed:
    """Solve the LP relaxation of ``problem``."""
    if problem.n_bids == 0:
        return Relaxed(np.zeros(0), np.zeros(0, dtype=np.int64))
    return SubsetRelaxation(problem).solve(problem)


def packing_lp(cost: FloatArray, rows: sp.spmatrix, upper: FloatArray) -> highspy.HighsLp:
    """HiGHS's LP of: maximise ``cost @ x`` with ``rows @ x <= upper`` and ``0 <= x <= 1``
    (HiGHS minimises: the costs are negated)."""
    n, columns = len(cost), sp.csc_matrix(rows, shape=(len(upper), len(cost)))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(upper)
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = -cost, np.zeros(n), np.ones(n)
    lp.row_lower_, lp.row_upper_ = np.full(len(upper), -highspy.kHighsInf), upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = columns.indptr, columns.indices
    lp.a_matrix_.value_ = columns.data
    return lp


def _integral(x: np.ndarray, a: sp.csr_matrix, b: np.ndarray) -> IntArray | None:
    """The positions of the 1s of ``x`` if it is 0/1 and its rounding is feasible, else ``None``."""
    if np.any(np.minimum(np.abs(x), np.abs(1 - x)) > _INTEGRAL):
        return None
    chosen = x > 0.5
    if np.any(a @ chosen.astype(np.float64) > b):  # exact check of the rounded vector
        return None
    return np.flatnonzero(chosen).astype(np.int64)


class SubsetRelaxation:
    """The LP relaxation of ``problem``, solved over subsets of its bids.

    Parameters
    ----------
    problem
        The problem whose bids every subset is drawn from; its ``index`` must
        be sorted (as :meth:`MarketProblem.subset` leaves it).
    """

    def __init__(self, problem: MarketProblem) -> None:
        self._problem = problem
        self._a, self._b = constraint_matrix(problem)
        weights, _ = tie_objective(problem)
        self._highs = highspy.Highs()  # type: ignore[no-untyped-call]
        self._highs.setOptionValue("output_flag", False)
        self._highs.passModel(packing_lp(weights, self._a, self._b))
        self._all = np.arange(problem.n_bids, dtype=np.int32)

    def integral_winners(self, sub: MarketProblem) -> IntArray | None:
        """Return the winners of ``sub`` (its positions) if the LP settles it, else ``None``.

        ``sub`` is a subset of the problem's bids (matched by ``index``). Its
        LP is this one with every other bid fixed at 0; an integral optimum
        of it is the optimum of ``sub``'s integer program.
        """
        return self.solve(sub).winners

    def solve(self, sub: MarketProblem) -> Relaxed:
        """The LP optimum over ``sub``'s bids (as :meth:`integral_winners`), in ``sub``'s order."""
        columns = np.searchsorted(self._problem.index, sub.index)
        upper = np.zeros(self._problem.n_bids)
        upper[columns] = 1.0
        self._highs.changeColsBounds(len(self._all), self._all, np.zeros(len(upper)), upper)
        self._highs.run()
        status = self._highs.getModelStatus()
        if status == highspy.HighsModelStatus.kSolveError:
            return Relaxed(self._scaled_solution(columns, upper), None)
        if status != highspy.HighsModelStatus.kOptimal:
            return Relaxed(None, None)
        x = self._solution(upper)
        chosen = _integral(x, self._a, self._b)
        winners = None if chosen is None else np.searchsorted(columns, chosen)
        return Relaxed(x[columns], winners)

    def _solution(self, upper: FloatArray) -> FloatArray:
        x = np.asarray(self._highs.getSolution().col_value)
        x[upper == 0] = 0.0
        return x

    def _scaled_solution(self, columns: IntArray, upper: FloatArray) -> FloatArray | None:
        """The LP optimum with the objective scaled down, for its features only.

        Costs in tie units reach 1e12 when prices carry many decimals, and
        HiGHS's dual simplex can then fail ("excessive dual values"). A solve
        with the objective scaled down still describes the LP, but its
        vertex may ignore the tie terms, so it never settles the component.
        """
        self._highs.setOptionValue("user_objective_scale", _SCALE_DOWN)
        try:
            self._highs.run()
            solved = self._highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
            return self._solution(upper)[columns] if solved else None
        finally:
            self._highs.setOptionValue("user_objective_scale", 0)
