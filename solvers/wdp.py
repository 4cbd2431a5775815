"""Winner determination for one component: exact enumeration or a PuLP MIP.

Objective: maximise the sum of accepted prices. Ties are broken by each bid's
tie weight (see :mod:`econonexus.solvers.problem`): among allocations whose
welfare differs by less than the tie budget, the one with the larger total
tie weight wins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pulp

from econonexus.solvers.backends import SolveLimits, get_backend
from econonexus.solvers.problem import IntArray, MarketProblem
from econonexus.solvers.relaxation import integral_lp_solution
from econonexus.solvers.schemas import Status

_MAX_ENUMERATE = 16


@dataclass(frozen=True)
class ComponentSolution:
    """The winners of one component (market-level bid positions) and how they were found."""

    winners: IntArray
    status: Status
    welfare: float
    bound: float
    seconds: float
    method: str
    error: str | None = None


def solve_component(
    problem: MarketProblem,
    *,
    solver: str = "cbc",
    limits: SolveLimits | None = None,
    enumerate_max: int = 10,
    initial: np.ndarray | None = None,
    lp_first: bool = True,
) -> ComponentSolution:
    """Find the welfare-maximising winners of ``problem``.

    Components of at most ``enumerate_max`` bids (capped at 16) are solved by
    exact enumeration. Larger ones are settled by their LP relaxation when
    its optimum is integral (``lp_first``), else by the MIP backend
    ``solver``, starting from the feasible winner mask ``initial`` when one
    is given.
    """
    start = time.perf_counter()
    if problem.n_bids <= min(enumerate_max, _MAX_ENUMERATE):
        chosen = enumerate_best(problem)
        return _solution(problem, chosen, "optimal", None, start, "enumerate")
    if lp_first and (settled := integral_lp_solution(problem)) is not None:
        return _solution(problem, settled, "optimal", None, start, "lp")
    limits = limits or SolveLimits()
    model, variables, unit = build_model(problem)
    warm = None if initial is None else initial.astype(np.float64)
    result = get_backend(solver).solve(model, variables, limits, warm)
    chosen = np.flatnonzero(result.values > 0.5)
    status: Status = "optimal" if result.proven else "time_limit"
    bound = None if result.proven else result.bound * unit
    return _solution(problem, chosen, status, bound, start, solver)


def _solution(
    problem: MarketProblem,
    chosen: IntArray,
    status: Status,
    bound: float | None,
    start: float,
    method: str,
) -> ComponentSolution:
    welfare = float(problem.price[chosen].sum())
    return ComponentSolution(
        winners=problem.index[chosen],
        status=status,
        welfare=welfare,
        bound=welfare if bound is None else max(bound, welfare),
        seconds=time.perf_counter() - start,
        method=method,
    )


def enumerate_best(problem: MarketProblem) -> IntArray:
    """Return the best feasible set of bids by checking every subset."""
    n = problem.n_bids
    masks = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    feasible = np.all(masks @ problem.demand_matrix() <= problem.supply, axis=1)
    grouped = problem.xor >= 0
    if grouped.any():
        onehot = np.zeros((n, int(problem.xor.max()) + 1))
        onehot[np.flatnonzero(grouped), problem.xor[grouped]] = 1.0
        feasible &= np.all(masks @ onehot <= 1, axis=1)
    value = np.where(feasible, masks @ (problem.price + problem.tie), -np.inf)
    return np.flatnonzero(masks[int(np.argmax(value))]).astype(np.int64)


def build_model(problem: MarketProblem) -> tuple[pulp.LpProblem, list[pulp.LpVariable], float]:
    """Return the PuLP model of ``problem``, its bid variables (bid order) and objective unit.

    The objective is counted in units of the largest tie term, so the tie
    terms differ by far more than the solvers' absolute tolerances (about
    1e-7); multiply the model's objective by the unit for currency.
    Columns run from the highest price down (ties in canonical order): the
    solvers' diving heuristics and branching tie-breaks follow column order,
    and this greedy order found incumbents sooner on the CATS-style families
    (see ``benchmarks/pipeline_vs_direct.py``). PuLP orders columns by name,
    hence the zero-padded rank in each name.
    """
    model = pulp.LpProblem("wdp", pulp.LpMaximize)
    column = np.argsort(np.argsort(-problem.price, kind="stable"))
    x = [pulp.LpVariable(f"x{c:07d}", cat=pulp.LpBinary) for c in column]
    unit = float(problem.tie.max()) if problem.n_bids and problem.tie.max() > 0 else 1.0
    weights = (problem.price + problem.tie) / unit
    model.setObjective(pulp.LpAffineExpression(zip(x, weights.tolist(), strict=True)))
    rows = np.repeat(np.arange(problem.n_bids), np.diff(problem.ptr))
    demand = np.bincount(problem.item, problem.qty, minlength=len(problem.item_ids))
    order = np.argsort(problem.item, kind="stable")
    bounds = np.searchsorted(problem.item[order], np.arange(len(problem.item_ids) + 1))
    for j in np.flatnonzero(demand > problem.supply):
        entries = order[bounds[j] : bounds[j + 1]]
        terms = [(x[rows[e]], float(problem.qty[e])) for e in entries]
        _add_le(model, terms, float(problem.supply[j]), f"item{j}")
    for g, members in enumerate(_groups(problem.xor)):
        if len(members) > 1:
            _add_le(model, [(x[i], 1.0) for i in members], 1.0, f"xor{g}")
    return model, x, unit


def _add_le(
    model: pulp.LpProblem, terms: list[tuple[pulp.LpVariable, float]], rhs: float, name: str
) -> None:
    expr = pulp.LpAffineExpression(terms)
    model.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintLE, rhs=rhs), name)


def _groups(labels: IntArray) -> list[IntArray]:
    """Return the positions holding each non-negative label, label by label."""
    members = np.flatnonzero(labels >= 0)
    order = members[np.argsort(labels[members], kind="stable")]
    _, starts = np.unique(labels[order], return_index=True)
    return np.split(order, starts[1:]) if len(order) else []
