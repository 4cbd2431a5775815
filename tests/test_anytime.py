"""Solves cut short: CBC reports its own best bound, a stopped solve is never below the
greedy allocation, whichever backend stopped, and a batch time limit stops every solve."""

from __future__ import annotations

import numpy as np
import polars as pl
import pulp
import pytest
from distributed import Client

import econonexus as enx
from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.greedy import greedy_winners
from econonexus.solvers.problem import MarketProblem, build_problem
from econonexus.solvers.wdp import build_model, dense_constraints, solve_component


def _problem(family: str, goods: int, bids: int, seed: int) -> MarketProblem:
    frame = enx.generate(family, goods=goods, bids=bids, seed=seed, market_id="m")  # type: ignore[arg-type]
    return build_problem("m", frame, None, tie_epsilon=1e-6)


def lp_bound(problem: MarketProblem) -> float:
    """The LP relaxation's optimum of ``problem``, in currency (a valid upper bound)."""
    model, _, unit = build_model(problem)
    model.solve(pulp.PULP_CBC_CMD(msg=False, mip=False))
    return float(pulp.value(model.objective)) * unit


def test_cbc_stopped_at_a_limit_reports_its_own_bound_between_optimum_and_lp() -> None:
    problem = _problem("regions", 50, 250, 1)  # CBC proves it in about 0.5 s here
    exact = solve_component(problem, solver="highs", lp_first=False)
    assert exact.status == "optimal"
    slack = 1e-6 * exact.welfare
    lp = lp_bound(problem)
    # a loaded machine may stop CBC still at its root (its bound is then the LP's): allow it
    # longer; a fast one may prove the optimum in time
    for limit in (0.15, 0.3, 0.6, 1.2):
        cut = solve_component(
            problem, solver="cbc", limits=SolveLimits(time_limit=limit), lp_first=False
        )
        if cut.status != "time_limit":
            return
        assert exact.welfare - slack <= cut.bound <= lp + slack
        assert 0 < cut.welfare <= exact.welfare + slack
        if cut.bound < lp - slack:  # tighter than the LP: CBC's own
            return
    raise AssertionError(f"CBC's bound stayed the LP relaxation's ({lp}) up to 1.2 s")


def test_cbc_stopped_while_it_preprocesses_from_a_start_answers_instead_of_crashing() -> None:
    """CBC 2.10 segfaults when its limit falls in preprocessing after a MIP start (every
    limit of 0.01-0.08 s on this instance here): the greedy start stands, under the LP."""
    problem = _problem("regions", 50, 250, 1)
    exact = solve_component(problem, solver="highs", lp_first=False)
    floor = problem.price[greedy_winners(problem)].sum()
    for limit in (0.01, 0.03, 0.05, 0.08):
        cut = solve_component(
            problem, solver="cbc", limits=SolveLimits(time_limit=limit), lp_first=False
        )
        assert floor - 1e-6 <= cut.welfare <= exact.welfare + 1e-6, limit
        if cut.status == "time_limit":  # under the LP, up to two LP solvers' tolerances
            slack = 1e-6 * exact.welfare
            assert exact.welfare - slack <= cut.bound <= lp_bound(problem) + slack, limit


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_a_stopped_solve_never_reports_a_bound_above_the_lp_relaxation(solver: str) -> None:
    """HiGHS's dual bound on costs in tie units (near 1e12 for many-decimal prices) was 8x
    the allocation on arbitrary 200x1000; the LP relaxation solved first bounds it too."""
    problem = build_problem(
        "m", enx.generate("arbitrary", goods=100, bids=500, seed=1), None, tie_epsilon=1e-9
    )
    cut = solve_component(problem, solver=solver, limits=SolveLimits(time_limit=0.5))
    assert cut.status == "time_limit"  # neither proves it in a minute
    lp = lp_bound(problem)
    assert cut.welfare <= cut.bound <= lp * (1 + 1e-6)


def test_the_greedy_allocation_is_feasible_and_a_floor_of_the_optimum() -> None:
    for family in ("L3", "regions", "scheduling", "matching", "arbitrary"):
        problem = _problem(family, 24, 60, 3)
        chosen = greedy_winners(problem)
        mask = np.zeros(problem.n_bids)
        mask[chosen] = 1.0
        a, b = dense_constraints(problem)
        assert np.all(a @ mask <= b + 1e-9), family
        best = solve_component(problem, solver="highs", lp_first=False)
        assert 0 < problem.price[chosen].sum() <= best.welfare + 1e-6, family


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_a_solve_stopped_before_any_solution_still_returns_the_greedy_allocation(
    solver: str,
) -> None:
    problem = _problem("L3", 150, 1500, 1)
    cut = solve_component(
        problem, solver=solver, limits=SolveLimits(time_limit=1e-3), lp_first=False
    )
    greedy = float(problem.price[greedy_winners(problem)].sum())
    assert cut.status == "time_limit"
    assert cut.welfare >= greedy > 0 and cut.bound >= cut.welfare


def test_a_batch_time_limit_stops_every_solve_with_an_allocation_and_a_bound(
    client: Client,
) -> None:
    hard = pl.concat(
        enx.generate("uniform", goods=100, bids=600, seed=s, market_id=f"h{s}") for s in range(3)
    )
    result = enx.clear(hard, client=client, batch_time_limit=0.3)
    assert result.manifest["config"]["batch_time_limit"] == 0.3
    for row in result.summary.iter_rows(named=True):
        problem = build_problem(
            row["market_id"],
            hard.filter(pl.col("market_id") == row["market_id"]),
            None,
            tie_epsilon=1e-6,
        )
        greedy = float(problem.price[greedy_winners(problem)].sum())
        assert row["status"] == "time_limit", row
        assert row["bound"] >= row["welfare"] >= greedy - 1e-6 > 0
    with pytest.raises(enx.InputError, match=r"`batch_time_limit`: expected seconds > 0"):
        enx.clear(hard, client=client, batch_time_limit=0)
