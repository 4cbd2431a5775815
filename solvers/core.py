"""Core-selecting payments: the minimum-revenue core point nearest to the VCG payments.

Winners ``W`` pay ``p``; a coalition ``C`` of bidders blocks the outcome when
it (with the seller) could do better on its own: the payments are in the core
when, for every ``C``,

    sum over a in W \\ C of p_a  >=  w(C) - sum over a in W & C of B_a

with ``w(C)`` the best welfare of ``C``'s bids and ``B_a`` what winner ``a``
bid on what it won. Among core payments between VCG and the bids, the rule
of Day and Cramton (2012) takes the least revenue, then the point nearest
(Euclidean) to the VCG payments. Core constraints are generated as they are
violated (Day and Raghavan 2007): the most blocking coalition at payments
``p`` maximises ``w(C) - sum over a in W & C of (B_a - p_a)``, a winner
determination problem in which a winner's membership costs its surplus
(the separation oracle, a PuLP solve by the pipeline's backend); it blocks
when that exceeds the revenue ``sum p``. A round first solves the oracle's LP
relaxation (a value no higher than the revenue proves that no coalition
blocks) and tries greedy packings, one of them the LP optimum rounded; it
asks the oracle only when none of them blocks (:mod:`.core_greedy`). Each
round re-solves the small LP (least revenue) and QP (nearest to VCG) with
HiGHS.

An oracle stopped by its time limit proves no coalition absent: the payments
are then marked not exact, with the range every core payment lies in (the
VCG payment to the bid).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pulp

from econonexus._core.errors import SolverError
from econonexus.solvers.backends import SolveLimits, get_backend
from econonexus.solvers.components import partition
from econonexus.solvers.core_greedy import GreedyPacker, SeparationLp
from econonexus.solvers.problem import FloatArray, IntArray, MarketProblem
from econonexus.solvers.relaxation import constraint_matrix
from econonexus.solvers.vcg import Payments

_TOLERANCE = 1e-6  # relative to the winners' bids: a smaller excess does not block
_MAX_ROUNDS = 500
_SLAB = 1e-4  # relative revenue above the least, when the QP fails at the least itself


@dataclass(frozen=True)
class _Cut:
    """``sum of p over the winners outside the coalition >= rhs``."""

    outside: np.ndarray  # bool per winner
    rhs: float


def core_payments(
    problem: MarketProblem,
    won: np.ndarray,
    vcg: Payments,
    *,
    solver: str,
    limits: SolveLimits,
) -> Payments:
    """The minimum-revenue core payments nearest to ``vcg`` (per bid, ``problem`` order).

    ``solver`` is the oracle's MIP backend (``auto``: CBC). Components that share no
    agent are priced apart (a coalition's value is the sum of its parts'). An agent with
    several winning bids has its payment split over them in proportion to their prices,
    as VCG's is.
    """
    found = Payments(vcg.payment.copy(), vcg.low.copy(), vcg.high.copy(), vcg.exact.copy())
    backend = solver if solver != "auto" else "cbc"
    for members in _agent_groups(problem, won):
        part = _group_core(
            problem.subset(members), won[members], _slice(vcg, members), (backend, limits)
        )
        for name in ("payment", "low", "high", "exact"):
            getattr(found, name)[members] = getattr(part, name)
    return found


def _agent_groups(problem: MarketProblem, won: np.ndarray) -> list[IntArray]:
    """The bid positions of each group of components linked by a shared agent, for the
    groups with a winner."""
    components = partition(problem).components
    owner = list(range(len(components)))

    def root(k: int) -> int:
        while owner[k] != k:
            owner[k] = owner[owner[k]]
            k = owner[k]
        return k

    first: dict[str, int] = {}
    for k, members in enumerate(components):
        for agent in set(problem.agent_ids[members].tolist()):
            owner[root(k)] = root(first.setdefault(agent, k))
    groups: dict[int, list[IntArray]] = {}
    for k, members in enumerate(components):
        groups.setdefault(root(k), []).append(members)
    joined = [np.sort(np.concatenate(parts)) for parts in groups.values()]
    return [g for g in joined if won[g].any()]


def _slice(pay: Payments, members: IntArray) -> Payments:
    return Payments(pay.payment[members], pay.low[members], pay.high[members], pay.exact[members])


def _group_core(
    problem: MarketProblem, won: np.ndarray, vcg: Payments, terms: tuple[str, SolveLimits]
) -> Payments:
    """:func:`core_payments` of one group of components."""
    agents = np.array(sorted(set(problem.agent_ids[won].tolist())))
    rows = [np.flatnonzero(won & (problem.agent_ids == a)) for a in agents]
    bid = np.array([problem.price[r].sum() for r in rows])
    floor = np.minimum(np.array([vcg.payment[r].sum() for r in rows]), bid)
    scale = float(bid.max()) or 1.0
    oracle = _Oracle(problem, won, agents, scale, terms)
    cuts: list[_Cut] = []
    pay = floor / scale
    for _ in range(_MAX_ROUNDS):
        # a cut need not be the most violated one; only the last round must prove none is left
        cut, proven = oracle.most_blocking(bid / scale, pay)
        if cut is None:
            break
        cuts.append(cut)
        pay = _nearest(floor / scale, bid / scale, cuts)
    else:
        raise SolverError(
            f"core payments of {problem.market_id!r}: not settled in {_MAX_ROUNDS} rounds"
        )
    return _per_bid(problem, won, rows, pay * scale, floor, bid, proven and all(vcg.exact[won]))


class _Oracle:
    """The separation problem of one market (prices divided by ``scale``), solved by a MIP
    backend through PuLP."""

    def __init__(
        self,
        problem: MarketProblem,
        won: np.ndarray,
        agents: np.ndarray,
        scale: float,
        terms: tuple[str, SolveLimits],
    ):
        self.terms = terms
        member = {a: k for k, a in enumerate(agents.tolist())}
        self.winner_of = np.array([member.get(a, -1) for a in problem.agent_ids.tolist()])
        self.price = problem.price / scale
        self.start = np.concatenate([won.astype(np.float64), np.ones(len(agents))])
        # the constraints stay; each round changes only the objective
        self.model = pulp.LpProblem("core_separation", pulp.LpMaximize)
        self.x = [pulp.LpVariable(f"x{j}", cat=pulp.LpBinary) for j in range(problem.n_bids)]
        self.y = [pulp.LpVariable(f"y{k}", cat=pulp.LpBinary) for k in range(len(agents))]
        a, b = constraint_matrix(problem)
        self.greedy = GreedyPacker(a, b, problem.units())
        self.lp = SeparationLp(a, b, self.winner_of, len(agents))
        for r in range(a.shape[0]):
            row = range(a.indptr[r], a.indptr[r + 1])
            self.model += pulp.lpSum(a.data[t] * self.x[a.indices[t]] for t in row) <= b[r]
        for j in np.flatnonzero(self.winner_of >= 0):
            self.model += self.x[j] <= self.y[self.winner_of[j]]
        self.value = pulp.lpSum(float(p) * x for p, x in zip(self.price, self.x, strict=True))

    def most_blocking(self, bid: FloatArray, pay: FloatArray) -> tuple[_Cut | None, bool]:
        """The cut of a blocking coalition at payments ``pay``: the most blocking of a few
        greedy packings (:mod:`.core_greedy`), else the most blocking of all (``None``:
        none blocks); and whether the answer is proven (a greedy cut is not)."""
        relaxed = self.lp.solve(self.price, bid - pay)
        if relaxed is not None and relaxed[1] <= _blocks_above(bid, pay):
            return None, True  # even the relaxation does not block
        greedy = self._greedy_cut(bid, pay, None if relaxed is None else relaxed[0])
        if greedy is not None:
            return greedy, False
        return self._exact_cut(bid, pay)

    def _greedy_cut(self, bid: FloatArray, pay: FloatArray, lp_x: FloatArray | None) -> _Cut | None:
        winner = self.winner_of >= 0
        value = self.price.copy()
        value[winner] -= (bid - pay)[self.winner_of[winner]]
        best: tuple[float, _Cut] | None = None
        for chosen in self.greedy.packings(value, lp_x):
            excess, cut = self._blocking(chosen, bid, pay)
            if cut is not None and (best is None or excess > best[0]):
                best = (excess, cut)
        return None if best is None else best[1]

    def _blocking(
        self, chosen: np.ndarray, bid: FloatArray, pay: FloatArray
    ) -> tuple[float, _Cut | None]:
        """How much the coalition of the ``chosen`` bids blocks by, and its cut (``None``
        when it does not block)."""
        inside = np.zeros(len(bid), dtype=bool)
        inside[self.winner_of[chosen & (self.winner_of >= 0)]] = True
        value = float(self.price[chosen].sum())
        excess = value - float((bid - pay)[inside].sum()) - _blocks_above(bid, pay)
        if excess > 0:
            return excess, _Cut(~inside, value - float(bid[inside].sum()))
        return excess, None

    def _exact_cut(self, bid: FloatArray, pay: FloatArray) -> tuple[_Cut | None, bool]:
        surplus = pulp.lpSum(float(b - p) * y for b, p, y in zip(bid, pay, self.y, strict=True))
        self.model.setObjective(self.value - surplus)
        solver, limits = self.terms
        variables = [*self.x, *self.y]
        result = get_backend(solver).solve(self.model, variables, limits, self.start)
        chosen = result.values[: len(self.x)] > 0.5
        _, cut = self._blocking(chosen, bid, pay)
        if cut is not None:
            return cut, result.proven
        return None, result.proven or result.bound <= _blocks_above(bid, pay)


def _blocks_above(bid: FloatArray, pay: FloatArray) -> float:
    """The value a coalition must exceed to block: the revenue, plus a tolerance."""
    return float(pay.sum()) + _TOLERANCE * max(1.0, float(bid.sum()))


def _nearest(floor: FloatArray, bid: FloatArray, cuts: list[_Cut]) -> FloatArray:
    """The least-revenue payments in ``[floor, bid]`` meeting ``cuts``, then the one of them
    nearest to ``floor`` (the VCG payments)."""
    least = _solve(floor, bid, cuts, revenue=None)
    revenue = float(least.sum())
    try:
        return _solve(floor, bid, cuts, revenue=(revenue, revenue))
    except SolverError:  # HiGHS's QP solver now and then ends in error on a tight equality
        return _solve(floor, bid, cuts, revenue=(revenue, revenue * (1 + _SLAB)))


def _solve(
    floor: FloatArray,
    bid: FloatArray,
    cuts: list[_Cut],
    *,
    revenue: tuple[float, float] | None,
) -> FloatArray:
    """HiGHS: minimise revenue (``revenue`` None), else the squared distance to ``floor``
    with revenue in ``revenue`` (the least, or a slab above it) and within the cuts."""
    n = len(floor)
    rows = [c.outside.astype(np.float64) for c in cuts]
    lower = [c.rhs for c in cuts]
    upper = [highspy.kHighsInf] * len(cuts)
    if revenue is not None:
        rows.append(np.ones(n))
        lower.append(revenue[0])
        upper.append(revenue[1])
    dense = np.array(rows).reshape(len(rows), n)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(rows)
    lp.col_cost_ = np.ones(n) if revenue is None else -2.0 * floor
    lp.col_lower_, lp.col_upper_ = floor, np.maximum(bid, floor)
    lp.row_lower_, lp.row_upper_ = np.array(lower), np.array(upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(0, n * len(rows) + 1, len(rows))
    lp.a_matrix_.index_ = np.tile(np.arange(len(rows)), n)
    lp.a_matrix_.value_ = dense.T.ravel()
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    if revenue is not None:
        hessian = highspy.HighsHessian()
        hessian.dim_, hessian.format_ = n, highspy.HessianFormat.kTriangular
        hessian.start_, hessian.index_ = np.arange(n + 1), np.arange(n)
        hessian.value_ = np.full(n, 2.0)
        h.passHessian(hessian)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"core payments: HiGHS ended {h.getModelStatus()} on the payment program")
    found: FloatArray = np.asarray(h.getSolution().col_value, dtype=np.float64)
    return np.clip(found, floor, np.maximum(bid, floor))


def _per_bid(
    problem: MarketProblem,
    won: np.ndarray,
    rows: list[np.ndarray],
    pay: FloatArray,
    floor: FloatArray,
    bid: FloatArray,
    exact: bool,
) -> Payments:
    n = problem.n_bids
    payment, low, high = np.zeros(n), np.zeros(n), np.zeros(n)
    for k, r in enumerate(rows):
        share = problem.price[r] / bid[k] if bid[k] > 0 else np.full(len(r), 1 / len(r))
        payment[r] = pay[k] * share
        low[r] = (pay[k] if exact else floor[k]) * share
        high[r] = (pay[k] if exact else bid[k]) * share
    return Payments(payment, low, high, np.where(won, exact, True))
