"""VCG (Clarke pivot) payments for a cleared combinatorial market.

Agent ``a`` pays ``W(-a) - (W - v_a)``: the best welfare without ``a``'s
bids, less what the others get in the chosen allocation. Only components
where ``a`` wins can change when ``a`` leaves, and inside such a component,
once ``a``'s bids are gone, only the independent sub-components that touch
an item ``a`` had won can do better than they do now (any other one could
have done better with ``a`` present, against optimality). So ``a``'s payment
is the sum, over those sub-components, of how much their optimum improves on
the current allocation. The current allocation is feasible there, so a proven
improvement is never negative and the payment lies in ``[0, v_a]``; HiGHS
starts each re-solve from it (CBC's MIP start slowed the re-solves down).

An agent with several winning bids has its payment split over them in
proportion to their prices. A re-solve stopped by the time limit gives a
payment range ``[low, high]``; the payment is then ``low`` (what the
allocation found proves) and is flagged as not exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.components import partition
from econonexus.solvers.problem import FloatArray, MarketProblem
from econonexus.solvers.wdp import ComponentSolution, solve_component


@dataclass(frozen=True)
class VcgJob:
    """One re-solve: a sub-component without ``agent``, and its current winners."""

    agent: str
    problem: MarketProblem
    start: np.ndarray
    current: float


@dataclass(frozen=True)
class Improvement:
    """How much one sub-component's welfare rises without ``agent``: at least ``low``."""

    agent: str
    low: float
    high: float
    exact: bool


@dataclass(frozen=True)
class Payments:
    """Per bid (problem order): payment, its range, and whether it is proven."""

    payment: FloatArray
    low: FloatArray
    high: FloatArray
    exact: np.ndarray


def vcg_jobs(problem: MarketProblem, won: np.ndarray) -> list[VcgJob]:
    """Return the re-solves VCG needs for the winners ``won`` of ``problem``."""
    jobs = []
    components = partition(problem).components
    for members in components:
        winners = members[won[members]]
        for agent in sorted(set(problem.agent_ids[winners].tolist())):
            jobs.extend(_agent_jobs(problem, won, members, agent))
    return jobs


def _agent_jobs(
    problem: MarketProblem, won: np.ndarray, members: np.ndarray, agent: str
) -> list[VcgJob]:
    mine = problem.agent_ids[members] == agent
    freed = set()
    for i in members[mine & won[members]]:
        freed.update(problem.bid_items(int(i))[0].tolist())
    rest = problem.subset(members[~mine])
    jobs = []
    for part in partition(rest).components:
        sub = rest.subset(part)
        touched = {int(j) for j in np.flatnonzero(np.isin(problem.item_ids, sub.item_ids))}
        if touched & freed:
            start = won[sub.index]
            jobs.append(VcgJob(agent, sub, start, float(sub.price[start].sum())))
    return jobs


def solve_job(job: VcgJob, *, solver: str, limits: SolveLimits, enumerate_max: int) -> Improvement:
    """Re-solve ``job`` from its current winners; return the welfare gain and its range."""
    solution: ComponentSolution = solve_component(
        job.problem, solver=solver, limits=limits, enumerate_max=enumerate_max, initial=job.start
    )
    low = max(0.0, solution.welfare - job.current)
    high = max(low, solution.bound - job.current)
    return Improvement(job.agent, low, high, solution.status == "optimal")


def vcg_payments(
    problem: MarketProblem, won: np.ndarray, gains: list[Improvement], *, proven: bool
) -> Payments:
    """Combine the re-solves into per-bid payments; ``proven``: the allocation is optimal."""
    n = problem.n_bids
    payment, low, high = np.zeros(n), np.zeros(n), np.zeros(n)
    exact = np.ones(n, dtype=bool)
    for agent in sorted(set(problem.agent_ids[won].tolist())):
        rows = np.flatnonzero(won & (problem.agent_ids == agent))
        value = float(problem.price[rows].sum())
        own = [g for g in gains if g.agent == agent]
        lo = min(value, sum(g.low for g in own))
        hi = min(value, sum(g.high for g in own)) if proven else value
        share = problem.price[rows] / value if value > 0 else np.full(len(rows), 1 / len(rows))
        payment[rows], low[rows], high[rows] = lo * share, lo * share, hi * share
        exact[rows] = proven and all(g.exact for g in own)
    return Payments(payment, low, high, exact)
