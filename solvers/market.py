"""Clear one market from its problem: plan components, solve, assemble.

``plan_market`` splits the market and settles every component small enough
for exact enumeration at once; the components that need a MIP are returned
as sub-problems, each to be solved on its own (a Dask task in the pipeline).
``assemble_market`` joins the pieces into one outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from econonexus._core.config import get_setting
from econonexus._core.schemas import Status, worst_status
from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.cancel import Stop
from econonexus.solvers.cca import CcaOutcome
from econonexus.solvers.components import eligible_bids, label_components
from econonexus.solvers.problem import MarketProblem
from econonexus.solvers.single_winner import split_single_winner
from econonexus.solvers.wdp import ComponentSolution, enumerate_limit, solve_component


@dataclass(frozen=True)
class MarketPlan:
    """A partitioned market: solved small components and the MIP components left."""

    problem: MarketProblem
    solved: list[ComponentSolution]
    pending: list[MarketProblem]
    n_components: int
    cca: CcaOutcome | None = None
    """A CCA market's clock phase and supplementary round, which priced ``problem``."""


@dataclass(frozen=True)
class MarketOutcome:
    """The cleared market: a winner flag per bid (problem order) and its figures."""

    problem: MarketProblem
    won: np.ndarray
    status: Status
    welfare: float
    bound: float
    gap: float
    solve_seconds: float
    components: int
    methods: list[str] = field(default_factory=list)


def plan_market(problem: MarketProblem, *, enumerate_max: int | None = None) -> MarketPlan:
    """Partition ``problem``; solve the components of at most ``enumerate_max`` bids.

    ``enumerate_max`` defaults to the setting ``solver.enumerate-max-bids``.
    """
    enumerate_max = enumerate_limit(enumerate_max)
    if problem.n_bids == 0:
        return MarketPlan(problem, [], [], 0)
    if problem.n_bids <= enumerate_max:  # enumerated whole: splitting it first costs more
        kept = np.flatnonzero(eligible_bids(problem)).astype(np.int64)
        if len(kept) == 0:
            return MarketPlan(problem, [], [], 0)
        sub = problem.subset(kept)
        return MarketPlan(problem, [solve_component(sub, enumerate_max=enumerate_max)], [], 1)
    labelled = label_components(problem, prune=True)
    quick, rest = split_single_winner(problem, labelled)
    solved, pending = ([] if quick is None else [quick]), []
    for bids in rest:
        sub = problem.subset(bids)
        if len(bids) <= enumerate_max:
            solved.append(solve_component(sub, enumerate_max=enumerate_max))
        else:
            pending.append(sub)
    return MarketPlan(problem, solved, pending, len(labelled.starts))


def solve_pending(
    plan: MarketPlan,
    k: int,
    *,
    solver: str,
    limits: SolveLimits,
    lp_first: bool = True,
    stop: Stop | None = None,
) -> ComponentSolution:
    """Solve the ``k``-th MIP component of ``plan`` (LP relaxation first, then ``solver``;
    in a race, until ``stop()``)."""
    return solve_component(
        plan.pending[k],
        solver=solver,
        limits=limits,
        enumerate_max=0,
        lp_first=lp_first,
        stop=stop,
    )


def assemble_market(plan: MarketPlan, solutions: list[ComponentSolution]) -> MarketOutcome:
    """Combine the solved components of ``plan`` into the market's outcome."""
    pieces = plan.solved + solutions
    won = np.zeros(plan.problem.n_bids, dtype=bool)
    for piece in pieces:
        won[piece.winners] = True
    welfare = float(plan.problem.price[won].sum())
    bound = welfare + sum(p.bound - p.welfare for p in pieces)
    status = worst_status([p.status for p in pieces]) if pieces else "empty"
    if status == "empty" and plan.problem.n_bids:
        status = "optimal"  # bids exist but none meets its reserve: nothing can sell
    return MarketOutcome(
        problem=plan.problem,
        won=won,
        status=status,
        welfare=welfare,
        bound=bound,
        gap=relative_gap(bound, welfare),
        solve_seconds=sum(p.seconds for p in pieces),
        components=plan.n_components,
        methods=sorted({p.method for p in pieces}),
    )


def relative_gap(bound: float, welfare: float) -> float:
    """Return ``(bound - welfare) / max(|bound|, 1e-9)``, never below 0."""
    return max(0.0, bound - welfare) / max(abs(bound), 1e-9)


def clear_market(
    problem: MarketProblem,
    *,
    solver: str | None = None,
    limits: SolveLimits | None = None,
    enumerate_max: int | None = None,
    lp_first: bool = True,
) -> MarketOutcome:
    """Clear ``problem`` in this process: plan, solve every component, assemble."""
    solver = solver or str(get_setting("solver.backend"))
    plan = plan_market(problem, enumerate_max=enumerate_max)
    limits = limits or SolveLimits()
    solutions = [
        solve_pending(plan, k, solver=solver, limits=limits, lp_first=lp_first)
        for k in range(len(plan.pending))
    ]
    return assemble_market(plan, solutions)
