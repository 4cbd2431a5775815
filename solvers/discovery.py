"""Price discovery: an ascending clock auction over many items at once.

Each round every agent demands the one bid (bundle) that leaves it the most
surplus at the current item prices (bid price minus the bundle's cost), or
nothing if every bid would cost more than it is worth; ties go to the larger
tie weight. Items demanded beyond their supply go up by ``increment``; the
clock stops when no item is over-demanded, and each agent gets the bundle it
demands at the final prices. Activity rule: an agent may never demand more
units than it did in the previous round.

If ``max_rounds`` pass with items still over-demanded, the demanded bundles
are accepted greedily (largest surplus first, tie weight next) while supply
lasts, and the outcome is marked as stopped by the round limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from econonexus.solvers.problem import FloatArray, IntArray, MarketProblem
from econonexus.solvers.sealed import pick_one


@dataclass(frozen=True)
class DiscoveryOutcome:
    """Winners (problem order), payments, final prices and the per-round path.

    ``path`` rows are ``(item, round, price, demand)`` for every item and round;
    ``demands`` (rounds x bids) marks the bid each agent demanded in each round.
    """

    won: np.ndarray
    payment: FloatArray
    prices: FloatArray
    rounds: int
    hit_limit: bool
    path: tuple[IntArray, IntArray, FloatArray, IntArray]
    demands: np.ndarray

    @property
    def round_prices(self) -> FloatArray:
        """The item prices of every round (rounds x items)."""
        return self.path[2].reshape(self.rounds, -1)


def ascending_clock(
    problem: MarketProblem, *, increment: float, max_rounds: int, units_rule: bool = True
) -> DiscoveryOutcome:
    """Run the clock on ``problem`` (at least one bid), every item starting at its reserve.

    ``units_rule=False`` drops the activity rule on units (the CCA's clock, whose
    activity rule is revealed preference, which truthful demand always obeys).
    """
    n, m = problem.n_bids, len(problem.item_ids)
    rows = np.repeat(np.arange(n), np.diff(problem.ptr))
    units = np.bincount(rows, problem.qty, minlength=n)
    by_agent = np.argsort(problem.agent_ids.astype(str), kind="stable")
    agent = np.unique(problem.agent_ids[by_agent].astype(str), return_inverse=True)[1]
    starts = np.flatnonzero(np.diff(agent, prepend=-1))
    eligibility = np.full(len(starts), np.iinfo(np.int64).max)
    prices = problem.reserve.astype(np.float64).copy()
    path: list[tuple[int, FloatArray, IntArray]] = []
    masks: list[np.ndarray] = []
    demanded = np.zeros(n, dtype=bool)
    over = np.zeros(m, dtype=bool)
    for r in range(max_rounds):
        cost = np.bincount(rows, prices[problem.item] * problem.qty, minlength=n)
        surplus = problem.price - cost
        demanded = _demand(surplus, units, by_agent, agent, starts, eligibility, problem.tie)
        demand = np.bincount(problem.item, problem.qty * demanded[rows], minlength=m)
        path.append((r, prices.copy(), demand.astype(np.int64)))
        masks.append(demanded)
        if units_rule:
            eligibility = np.bincount(agent, (units * demanded)[by_agent], minlength=len(starts))
            eligibility = eligibility.astype(np.int64)
        over = demand > problem.supply
        if not over.any():
            break
        prices[over] += increment
    hit_limit = bool(over.any())
    if hit_limit:
        prices[over] -= increment
        demanded = _greedy_feasible(problem, demanded, surplus)
    cost = np.bincount(rows, prices[problem.item] * problem.qty, minlength=n)
    return DiscoveryOutcome(
        won=demanded,
        payment=np.where(demanded, cost, 0.0),
        prices=prices,
        rounds=len(path),
        hit_limit=hit_limit,
        path=_path_arrays(path, m),
        demands=np.array(masks, dtype=bool).reshape(len(masks), n),
    )


def _demand(
    surplus: FloatArray,
    units: IntArray,
    by_agent: IntArray,
    agent: IntArray,
    starts: IntArray,
    eligibility: IntArray,
    tie: FloatArray,
) -> np.ndarray:
    """Return each agent's demanded bid as a mask in problem order."""
    score = surplus[by_agent]
    allowed = (score >= 0) & (units[by_agent] <= eligibility[agent])
    score = np.where(allowed, score, -np.inf)
    best = np.maximum.reduceat(score, starts)
    candidates = allowed & (score == best[agent])
    picked = pick_one(candidates, starts, agent, lambda pos: tie[by_agent[pos]])
    demanded = np.zeros(len(surplus), dtype=bool)
    demanded[by_agent[picked]] = True
    return demanded


def _greedy_feasible(
    problem: MarketProblem, demanded: np.ndarray, surplus: FloatArray
) -> np.ndarray:
    """Accept demanded bids, largest surplus first, while every item's supply lasts."""
    left = problem.supply.astype(np.int64).copy()
    accepted = np.zeros(problem.n_bids, dtype=bool)
    for i in sorted(np.flatnonzero(demanded), key=lambda i: (-surplus[i], -problem.tie[i])):
        items, qty = problem.bid_items(int(i))
        if np.all(left[items] >= qty):
            left[items] -= qty
            accepted[i] = True
    return accepted


def _path_arrays(
    path: list[tuple[int, FloatArray, IntArray]], m: int
) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
    if not path:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), empty
    return (
        np.tile(np.arange(m, dtype=np.int64), len(path)),
        np.repeat(np.array([r for r, _, _ in path], dtype=np.int64), m),
        np.concatenate([p for _, p, _ in path]),
        np.concatenate([d for _, _, d in path]),
    )
