"""Winner determination against a brute-force oracle, for every backend."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from econonexus.solvers.components import eligible_bids
from econonexus.solvers.market import clear_market
from econonexus.solvers.problem import build_problem, priority_key, tie_weight
from econonexus.solvers.relaxation import integral_lp_solution
from econonexus.solvers.wdp import solve_component
from tests.oracle import brute_force
from tests.strategies import markets

BACKENDS = ["cbc", "highs"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _winners(problem, outcome_won: np.ndarray) -> frozenset[str]:
    return frozenset(problem.bid_ids[outcome_won].tolist())


def _monolithic(problem, solver: str) -> frozenset[str]:
    """One MIP over every eligible bid, no decomposition, no enumeration."""
    eligible = problem.subset(np.flatnonzero(eligible_bids(problem)))
    if eligible.n_bids == 0:
        return frozenset()
    solution = solve_component(eligible, solver=solver, enumerate_max=0, lp_first=False)
    return frozenset(problem.bid_ids[solution.winners].tolist())


@pytest.mark.parametrize("solver", BACKENDS)
@SETTINGS
@given(market=markets())
def test_mip_matches_oracle(solver: str, market: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    bids, items = market
    answer = brute_force(bids, items)
    problem = build_problem("m", bids, items, tie_epsilon=1e-6)
    outcome = clear_market(problem, solver=solver, enumerate_max=0, lp_first=False)
    assert outcome.status == "optimal"
    assert outcome.welfare == pytest.approx(answer.welfare, abs=1e-6)
    assert _winners(problem, outcome.won) in answer.optimal_sets  # feasible and optimal


@SETTINGS
@given(market=markets())
def test_backends_enumeration_and_decomposition_agree(
    market: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    bids, items = market
    problem = build_problem("m", bids, items, tie_epsilon=1e-6)
    found = {
        "enumerate": _winners(problem, clear_market(problem, enumerate_max=16).won),
        **{
            f"{s}-decomposed": _winners(
                problem, clear_market(problem, solver=s, enumerate_max=0, lp_first=False).won
            )
            for s in BACKENDS
        },
        "lp-first": _winners(problem, clear_market(problem, enumerate_max=0).won),
        **{f"{s}-monolithic": _monolithic(problem, s) for s in BACKENDS},
    }
    assert len(set(found.values())) == 1, found


@SETTINGS
@given(market=markets(reserves=False))
def test_integral_lp_solution_is_the_tie_preferred_optimum(
    market: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    bids, items = market
    problem = build_problem("m", bids, items, tie_epsilon=1e-6)
    chosen = integral_lp_solution(problem)
    expected = _monolithic(problem, "highs")
    if chosen is not None:  # when it settles the market, it agrees with the MIP and the oracle
        assert frozenset(problem.bid_ids[chosen].tolist()) == expected
        assert expected in brute_force(bids, items).optimal_sets


def test_lp_settles_an_integral_market_and_says_so() -> None:
    bids = pl.DataFrame(
        {
            "bid_id": [f"b{i}" for i in range(14)],
            "agent_id": [f"a{i}" for i in range(14)],
            "market_id": "m",
            "items": [[f"g{i % 7}"] for i in range(14)],  # interval-like: LP is integral
            "quantities": [[1]] * 14,
            "price": [float(3 + i) for i in range(14)],
            "xor_group": None,
        },
        schema_overrides={"xor_group": pl.String},
    )
    problem = build_problem("m", bids, None, tie_epsilon=1e-6)
    solution = solve_component(problem, enumerate_max=0)
    assert solution.method == "lp" and solution.status == "optimal"
    assert frozenset(problem.bid_ids[solution.winners].tolist()) == _monolithic(problem, "cbc")


def test_exact_tie_is_broken_by_priority_not_name_or_position() -> None:
    rows = {
        "bid_id": ["p", "q"],
        "agent_id": ["zed", "abe"],
        "market_id": ["m", "m"],
        "items": [["x"], ["x"]],
        "quantities": [[1], [1]],
        "price": [5.0, 5.0],
        "xor_group": [None, None],
    }
    bids = pl.DataFrame(rows)
    results = set()
    for frame in (bids, bids.reverse(), bids.with_columns(agent_id=pl.col("agent_id").reverse())):
        for solver, em in (("cbc", 0), ("highs", 0), ("cbc", 10)):
            problem = build_problem("m", frame, None, tie_epsilon=1e-6)
            results.add(
                _winners(problem, clear_market(problem, solver=solver, enumerate_max=em).won)
            )
    assert len(results) == 1
    expected = max(["p", "q"], key=lambda b: tie_weight(priority_key("m", b)))
    assert results == {frozenset({expected})}


def test_bid_below_reserve_never_wins() -> None:
    bids = pl.DataFrame(
        {
            "bid_id": ["lo"],
            "agent_id": ["a"],
            "market_id": ["m"],
            "items": [["x", "y"]],
            "quantities": [[1, 2]],
            "price": [4.0],
            "xor_group": [None],
        }
    )
    items = pl.DataFrame(
        {
            "market_id": ["m", "m"],
            "item_id": ["x", "y"],
            "supply": [1, 2],
            "reserve_price": [1.0, 2.0],
        }
    )
    outcome = clear_market(build_problem("m", bids, items, tie_epsilon=1e-6))
    assert not outcome.won.any()
    assert outcome.status == "optimal"
    assert outcome.welfare == 0.0


def test_highs_solves_with_any_thread_setting_in_one_process() -> None:
    """HiGHS sizes one thread pool per process: runs asking 1 or 2 threads after an LP all solve."""
    from econonexus import generate
    from econonexus.solvers.backends import SolveLimits
    from econonexus.solvers.relaxation import SubsetRelaxation

    bids = generate("uniform", goods=30, bids=100, seed=3, market_id="g")
    problem = build_problem("g", bids, None, tie_epsilon=1e-6)
    SubsetRelaxation(problem).integral_winners(problem)
    expected = clear_market(problem, solver="cbc").welfare
    for threads in (2, 1, 2):
        limits = SolveLimits(threads=threads)
        solution = solve_component(problem, solver="highs", limits=limits, lp_first=False)
        assert solution.status == "optimal", threads
        assert solution.welfare == pytest.approx(expected)
