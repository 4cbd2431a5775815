"""Winner determination for one component: exact enumeration or a PuLP MIP.

Objective: maximise the sum of accepted prices. Ties are broken by each bid's
tie weight (see :mod:`econonexus.solvers.problem`): among allocations whose
welfare differs by less than the tie budget, the one with the larger total
tie weight wins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pulp

from econonexus._core.config import get_setting
from econonexus._core.schemas import Status
from econonexus.solvers.backends import SolveLimits, get_backend
from econonexus.solvers.cancel import Stop
from econonexus.solvers.choice import choose_backend
from econonexus.solvers.duet import CANCELLED, Solve, fills, side_by_side
from econonexus.solvers.greedy import greedy_winners
from econonexus.solvers.problem import IntArray, MarketProblem
from econonexus.solvers.pulp_any import spec_label
from econonexus.solvers.relaxation import Relaxed, constraint_matrix, relax, tie_objective

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
    log: str | None = None
    """The MIP solver's log, when ``SolveLimits.log`` asked for it."""


def solve_component(
    problem: MarketProblem,
    *,
    solver: str | None = None,
    limits: SolveLimits | None = None,
    enumerate_max: int | None = None,
    initial: np.ndarray | None = None,
    lp_first: bool = True,
    stop: Stop | None = None,
) -> ComponentSolution:
    """Find the welfare-maximising winners of ``problem``.

    Components of at most ``enumerate_max`` bids (capped at 16) are solved by
    exact enumeration. Larger ones are settled by their LP relaxation when
    its optimum is integral (``lp_first``), else by the MIP backend
    ``solver`` (``auto``: the one :func:`~econonexus.solvers.choice.choose_backend`
    picks), starting from the feasible winner mask ``initial`` when one
    is given (CBC then with ``cbc_start_options``), else from the greedy
    allocation (:func:`~econonexus.solvers.greedy.greedy_winners`).
    ``solver`` and ``enumerate_max`` default to the settings
    ``solver.backend`` and ``solver.enumerate-max-bids``. A MIP solve in a
    race ends once ``stop()`` is true: its method is then ``cancelled`` and
    its answer is the greedy allocation under the trivial bound. A solve
    stopped at a limit keeps the better of its allocation and the greedy
    one, under the lower of the backend's bound and the LP relaxation's.
    """
    enumerate_max = enumerate_limit(enumerate_max)
    start = time.perf_counter()
    if enumerable(problem, enumerate_max):
        chosen = enumerate_best(problem)
        return _solution(problem, chosen, "optimal", None, start, "enumerate")
    backend = solver or str(get_setting("solver.backend"))
    relaxed = relax(problem) if lp_first or backend == "auto" else None
    if lp_first and relaxed is not None and relaxed.winners is not None:
        return _solution(problem, relaxed.winners, "optimal", None, start, "lp")
    limits = limits or SolveLimits()
    if backend == "auto":
        backend = choose_backend(problem, None if relaxed is None else relaxed.x, limits.threads)
        if fills(backend, limits.threads, stop):  # CBC on the threads HiGHS leaves idle
            return _capped(problem, side_by_side(_racer(problem, initial), limits), relaxed)
    model, variables, unit = build_model(problem)
    greedy = greedy_winners(problem)
    if initial is None:  # the greedy allocation is only a floor: CBC keeps its search options
        warm = np.zeros(problem.n_bids)
        warm[greedy] = 1.0
        limits = replace(limits, cbc_start_options=limits.cbc_options)
    else:
        warm = initial.astype(np.float64)
    result = get_backend(backend).solve(model, variables, limits, warm, stop)
    if result.cancelled:  # another racer won: what this one holds does not matter
        bound = float(problem.price.sum())
        return _solution(problem, greedy, "time_limit", bound, start, CANCELLED)
    chosen = np.flatnonzero(result.values > 0.5)
    if result.proven:
        return replace(_solution(problem, chosen, "optimal", None, start, backend), log=result.log)
    # stopped early: never below the greedy allocation (a solver may stop with none at all)
    if problem.price[greedy].sum() > problem.price[chosen].sum():
        chosen = greedy
    found = _solution(problem, chosen, "time_limit", result.bound * unit, start, backend)
    return _capped(problem, replace(found, log=result.log), relaxed)


def _racer(problem: MarketProblem, initial: np.ndarray | None) -> Solve:
    """:func:`solve_component` of ``problem`` as one racer of :func:`side_by_side`."""

    def solve(backend: str, limits: SolveLimits, stop: Stop) -> ComponentSolution:
        return solve_component(
            problem, solver=backend, limits=limits, initial=initial, lp_first=False, stop=stop
        )

    return solve


def _capped(
    problem: MarketProblem, found: ComponentSolution, relaxed: Relaxed | None
) -> ComponentSolution:
    """``found`` with a limit's bound no higher than the LP relaxation's optimum."""
    if found.status == "optimal" or relaxed is None or relaxed.x is None:
        return found
    lp = float((problem.price + problem.tie) @ relaxed.x)
    return replace(found, bound=max(min(found.bound, lp), found.welfare))


def enumerate_limit(enumerate_max: int | None) -> int:
    """``enumerate_max``, or the setting ``solver.enumerate-max-bids`` when it is ``None``."""
    return int(get_setting("solver.enumerate-max-bids")) if enumerate_max is None else enumerate_max


def enumerable(problem: MarketProblem, enumerate_max: int) -> bool:
    """Whether ``problem`` is small enough for exact enumeration (``enumerate_max``, at most 16)."""
    return problem.n_bids <= min(enumerate_max, _MAX_ENUMERATE)


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
        method=spec_label(method),
    )


def enumerate_best(problem: MarketProblem) -> IntArray:
    """Return the best feasible set of bids by checking every subset."""
    n = problem.n_bids
    masks = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    a, b = dense_constraints(problem)
    feasible = np.all(b >= masks @ a.T, axis=1)
    value = np.where(feasible, masks @ (problem.price + problem.tie), -np.inf)
    return np.flatnonzero(masks[int(np.argmax(value))]).astype(np.int64)


def dense_constraints(problem: MarketProblem) -> tuple[np.ndarray, np.ndarray]:
    """:func:`constraint_matrix` as a dense array, built without SciPy (small problems only:
    a sparse matrix cost 0.4 ms to build, more than enumerating 4,096 subsets)."""
    n = problem.n_bids
    rows = np.repeat(np.arange(n), np.diff(problem.ptr))
    demand = np.zeros((len(problem.item_ids), n))
    np.add.at(demand, (problem.item, rows), problem.qty.astype(np.float64))
    scarce = demand.sum(axis=1) > problem.supply
    blocks, limits = [demand[scarce]], [problem.supply[scarce].astype(np.float64)]
    grouped = np.flatnonzero(problem.xor >= 0)
    if len(grouped):
        groups = np.zeros((int(problem.xor.max()) + 1, n))
        groups[problem.xor[grouped], grouped] = 1.0
        shared = groups.sum(axis=1) > 1
        blocks.append(groups[shared])
        limits.append(np.ones(int(shared.sum())))
    return np.vstack(blocks), np.concatenate(limits)


def build_model(problem: MarketProblem) -> tuple[pulp.LpProblem, list[pulp.LpVariable], float]:
    """Return the PuLP model of ``problem``, its bid variables (bid order) and objective unit.

    Objective and rows are those of :mod:`econonexus.solvers.relaxation`
    (in tie units; multiply the model's objective by the unit for currency).
    Columns run from the highest price down (ties in canonical order): the
    solvers' diving heuristics and branching tie-breaks follow column order,
    and this greedy order found incumbents sooner on the CATS-style families
    (see ``benchmarks/pipeline_vs_direct.py``). PuLP orders columns by name,
    hence the zero-padded rank in each name.
    """
    model = pulp.LpProblem("wdp", pulp.LpMaximize)
    column = np.argsort(np.argsort(-problem.price, kind="stable"))
    x = [pulp.LpVariable(f"x{c:07d}", cat=pulp.LpBinary) for c in column]
    weights, unit = tie_objective(problem)
    model.setObjective(pulp.LpAffineExpression(zip(x, weights.tolist(), strict=True)))
    a, b = constraint_matrix(problem)
    for r in range(a.shape[0]):
        lo, hi = a.indptr[r], a.indptr[r + 1]
        terms = [
            (x[i], v)
            for i, v in zip(a.indices[lo:hi].tolist(), a.data[lo:hi].tolist(), strict=True)
        ]
        expr = pulp.LpAffineExpression(terms)
        model.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintLE, rhs=float(b[r])), f"c{r}")
    return model, x, unit
