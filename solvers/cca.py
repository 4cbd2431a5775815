"""The combinatorial clock auction (CCA): a clock phase, then one supplementary round.

Clock phase: :func:`~econonexus.solvers.discovery.ascending_clock`, in which
each agent demands one of its packages per round at the round's item prices;
its activity rule is revealed preference (as in Ausubel and Baranov's hybrid
rule), not the ``clock`` format's rule on units, so a truthful proxy may
always demand its best package.
Supplementary round: each agent bids on its packages once more, sealed. The
revealed-preference activity rule (Ausubel, Cramton and Milgrom 2006; the
final form used in spectrum CCAs) ties those bids to the clock: for every
clock round ``t`` in which the agent demanded package ``D_t`` at prices
``p_t``, its bid on any package ``S`` must satisfy

    b(S) - p_t(S) <= b(D_t) - p_t(D_t)

(with ``b(nothing) = 0``): nothing it bids later may say it preferred ``S``
to what it chose. A truthful proxy bids its value, cut down to the largest
amounts the rule allows (a fixed point, as cutting ``b(D_t)`` tightens the
others). The clock bids stand too: an agent's bid on ``D_t`` is at least
``p_t(D_t)``. Winner determination then runs over these bids with one
package per agent, and payments follow the market's rule (core by default).

A truthful proxy demands its best package every round, so it never hits a
cap: the final allocation is the full-information optimum.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from econonexus.solvers.discovery import DiscoveryOutcome, ascending_clock
from econonexus.solvers.problem import FloatArray, IntArray, MarketProblem

_FIXED_POINT_ROUNDS = 200
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CcaOutcome:
    """The clock phase and the supplementary round of one market (problem order).

    ``supplementary``: each package's sealed bid (value capped by the activity
    rule); ``final``: what winner determination uses, the larger of that and
    the package's best clock bid.
    """

    clock: DiscoveryOutcome
    supplementary: FloatArray
    final: FloatArray
    values: FloatArray
    """The supplementary round's bids before the activity rule: the proxies' values (the
    packages' prices as bid), or a live agent's own bids."""
    bid_ids: np.ndarray
    item_ids: np.ndarray


def run_cca(
    problem: MarketProblem,
    *,
    increment: float,
    max_rounds: int,
    values: FloatArray | None = None,
) -> CcaOutcome:
    """Run the clock on ``problem`` (each bid a package worth its price to its agent, one
    package per agent), then the supplementary round: each package bid at ``values``
    (default: its price, the truthful proxy's; a live agent's own bid where given), cut
    to what the activity rule allows."""
    clock = ascending_clock(problem, increment=increment, max_rounds=max_rounds, units_rule=False)
    costs = package_costs(problem, clock.round_prices)
    demanded = demanded_packages(problem, clock.demands)
    wanted = problem.price if values is None else values
    capped = activity_caps(wanted, costs, demanded, agent_index(problem))
    clock_bids = np.where(clock.demands.T, costs, 0.0).max(axis=1, initial=0.0)
    final = np.maximum(capped, clock_bids)
    return CcaOutcome(clock, capped, final, wanted, problem.bid_ids, problem.item_ids)


def supplementary_problem(problem: MarketProblem, outcome: CcaOutcome) -> MarketProblem:
    """``problem`` with each package priced at its final CCA bid."""
    return replace(problem, price=outcome.final.astype(np.float64))


def package_costs(problem: MarketProblem, round_prices: FloatArray) -> FloatArray:
    """Each package's cost at each round's prices (packages x rounds)."""
    n, m = problem.n_bids, round_prices.shape[1]
    bundles = sp.csr_matrix((problem.qty, problem.item, problem.ptr), shape=(n, m))
    costs: FloatArray = np.asarray(bundles @ round_prices.T, dtype=np.float64)
    return costs


def agent_index(problem: MarketProblem) -> IntArray:
    """Each bid's agent as a number."""
    index: IntArray = np.unique(problem.agent_ids.astype(str), return_inverse=True)[1]
    return index.astype(np.int64).ravel()


def demanded_packages(problem: MarketProblem, demands: np.ndarray) -> IntArray:
    """The package each agent demanded in each round (rounds x agents; -1: none)."""
    agent = agent_index(problem)
    n_agents = int(agent.max()) + 1 if len(agent) else 0
    out = np.full((demands.shape[0], n_agents), -1, dtype=np.int64)
    rounds, bids = np.nonzero(demands)
    out[rounds, agent[bids]] = bids
    return out


def activity_caps(
    values: FloatArray, costs: FloatArray, demanded: IntArray, agent: IntArray
) -> FloatArray:
    """The largest bids up to ``values`` that obey the revealed-preference rule."""
    bids = values.astype(np.float64).copy()
    for _ in range(_FIXED_POINT_ROUNDS):
        capped = np.minimum(bids, _caps(bids, costs, demanded, agent))
        if np.all(capped >= bids - _TOLERANCE * (1 + np.abs(bids))):
            return np.maximum(capped, 0.0)
        bids = capped
    return np.maximum(bids, 0.0)


def activity_violations(
    bids: FloatArray, costs: FloatArray, demanded: IntArray, agent: IntArray
) -> FloatArray:
    """By how much each package's bid breaks the rule (0 where it obeys)."""
    excess: FloatArray = np.maximum(bids - _caps(bids, costs, demanded, agent), 0.0)
    return excess


def _caps(bids: FloatArray, costs: FloatArray, demanded: IntArray, agent: IntArray) -> FloatArray:
    """Each package's cap: ``min over t of b(D_t) - p_t(D_t) + p_t(S)``."""
    rounds = np.arange(demanded.shape[0])[:, None]
    chosen = np.maximum(demanded, 0)
    slack = np.where(demanded >= 0, bids[chosen] - costs[chosen, rounds], 0.0)  # rounds x agents
    caps: FloatArray = (slack[:, agent] + costs.T).min(axis=0)
    return caps
