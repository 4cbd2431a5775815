"""VCG (Clarke pivot) payments for a cleared combinatorial market.

Agent ``a`` pays ``W(-a) - (W - v_a)``: the best welfare without ``a``'s
bids, less what the others get in the chosen allocation. Only components
where ``a`` wins can change when ``a`` leaves, and inside such a component,
once ``a``'s bids are gone, only the independent sub-components that touch
an item ``a`` had won can do better than they do now (any other one could
have done better with ``a`` present, against optimality). So ``a``'s payment
is the sum, over those sub-components, of how much their optimum improves on
the current allocation. The current allocation is feasible there, so a proven
improvement is never negative and the payment lies in ``[0, v_a]``; each
MIP re-solve starts from it.

:func:`vcg_plan` settles at once the re-solves that are small enough to
enumerate or whose LP relaxation is integral (one warm-started HiGHS model
per component, about 1 ms each); only the rest need a MIP backend.

Reserve prices are the seller's own valuation of the units it keeps, so in a
market with reserves the allocation and every welfare the pivot compares are
net of the reserves of the units sold (:func:`net_of_reserves`), and a
winner pays the reserves of what it wins plus its net VCG payment
(:func:`buyer_payments`): never less than those reserves, never more than its bid.

An agent with several winning bids has its payment split over them in
proportion to their prices. A re-solve stopped by the time limit gives a
payment range ``[low, high]``; the payment is then ``low`` (what the
allocation found proves) and is flagged as not exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.components import eligible_bids, partition
from econonexus.solvers.problem import FloatArray, IntArray, MarketProblem
from econonexus.solvers.relaxation import SubsetRelaxation
from econonexus.solvers.wdp import ComponentSolution, enumerable, enumerate_best, solve_component


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
class VcgPlan:
    """A market's re-solves: those settled while planning, and the MIPs still to run."""

    settled: list[Improvement]
    jobs: list[VcgJob]


@dataclass(frozen=True)
class Payments:
    """Per bid (problem order): payment, its range, and whether it is proven."""

    payment: FloatArray
    low: FloatArray
    high: FloatArray
    exact: np.ndarray


def vcg_plan(problem: MarketProblem, won: np.ndarray, *, enumerate_max: int) -> VcgPlan:
    """Return the re-solves VCG needs for ``won``, settling the easy ones now.

    A re-solve of at most ``enumerate_max`` bids (capped at 16) is solved by
    enumeration, one whose LP relaxation is integral by that LP; the others
    are left as jobs for :func:`solve_job`, whose LP need not be tried again.
    """
    settled: list[Improvement] = []
    jobs: list[VcgJob] = []
    for members in partition(problem).components:
        jobs_here = component_jobs(problem, won, members)
        relaxation = None  # built once per component, if any re-solve needs it
        for job in jobs_here:
            chosen: np.ndarray | None
            if enumerable(job.problem, enumerate_max):
                chosen = enumerate_best(job.problem)
            else:
                relaxation = relaxation or SubsetRelaxation(problem.subset(members))
                chosen = relaxation.integral_winners(job.problem)
            if chosen is None:
                jobs.append(job)
            else:
                gain = max(0.0, float(job.problem.price[chosen].sum()) - job.current)
                settled.append(Improvement(job.agent, gain, gain, True))
    return VcgPlan(settled, jobs)


def component_jobs(problem: MarketProblem, won: np.ndarray, members: np.ndarray) -> list[VcgJob]:
    """The re-solves of one component: one per winning agent and sub-component it frees."""
    agents = sorted(set(problem.agent_ids[members[won[members]]].tolist()))
    return [j for agent in agents for j in _agent_jobs(problem, won, members, agent)]


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


def solve_job(
    job: VcgJob, *, solver: str, limits: SolveLimits, enumerate_max: int, lp_first: bool = True
) -> Improvement:
    """Re-solve ``job`` from its current winners; return the welfare gain and its range.

    ``lp_first=False`` skips the LP relaxation check (:func:`vcg_plan` has made it).
    """
    solution: ComponentSolution = solve_component(
        job.problem,
        solver=solver,
        limits=limits,
        enumerate_max=enumerate_max,
        initial=job.start,
        lp_first=lp_first,
    )
    low = max(0.0, solution.welfare - job.current)
    high = max(low, solution.bound - job.current)
    return Improvement(job.agent, low, high, solution.status == "optimal")


def net_of_reserves(problem: MarketProblem, tie_epsilon: float) -> tuple[MarketProblem, IntArray]:
    """The bids that meet their reserves, each priced at its price less its reserves, and them."""
    value = problem.price - problem.reserve_value()
    kept = np.flatnonzero(eligible_bids(problem)).astype(np.int64)
    return problem.repriced(kept, np.maximum(value[kept], 0.0), tie_epsilon), kept


def buyer_payments(
    prices: FloatArray, net: FloatArray, won: np.ndarray, pay: Payments
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """What each winner pays: the reserves of its units (``prices - net``) plus its net payment."""
    reserves = np.where(won, prices - net, 0.0)
    return reserves + pay.payment, reserves + pay.low, reserves + pay.high


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
