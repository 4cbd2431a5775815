"""CBC beside a HiGHS pick on the threads HiGHS leaves idle (``solver.portfolio: fill``)."""

from __future__ import annotations

import dask
import numpy as np
import pytest

import econonexus as enx
from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.duet import fills, side_by_side
from econonexus.solvers.problem import MarketProblem, build_problem
from econonexus.solvers.wdp import ComponentSolution, solve_component
from tests.test_anytime import lp_bound
from tests.test_race import _solver_children


def _problem(family: str, goods: int, bids: int) -> MarketProblem:
    frame = enx.generate(family, goods=goods, bids=bids, seed=1, market_id="m")  # type: ignore[arg-type]
    return build_problem("m", frame, None, tie_epsilon=1e-6)


def _pair(problem: MarketProblem, limits: SolveLimits) -> ComponentSolution:
    def solve(backend: str, mine: SolveLimits, stop: object) -> ComponentSolution:
        return solve_component(
            problem, solver=backend, limits=mine, enumerate_max=0, lp_first=False, stop=stop
        )

    return side_by_side(solve, limits)  # type: ignore[arg-type]


def test_cbc_fills_only_the_threads_a_highs_pick_leaves_idle() -> None:
    with dask.config.set({"econonexus.solver.portfolio": "fill"}):
        assert fills("highs", 2, None)
        assert not fills("cbc", 2, None)  # CBC uses every thread itself
        assert not fills("highs", 1, None)  # no idle thread
        assert not fills("highs", 2, lambda: False)  # a racer already
    with dask.config.set({"econonexus.solver.portfolio": "single"}):
        assert not fills("highs", 2, None)


def test_the_pair_finds_each_backends_winners_and_ends_the_loser() -> None:
    problem = _problem("regions", 30, 120)
    pair = _pair(problem, SolveLimits(time_limit=60, threads=2))
    assert pair.status == "optimal" and pair.method in ("cbc", "highs")
    for backend in ("cbc", "highs"):
        alone = solve_component(problem, solver=backend, enumerate_max=0, lp_first=False)
        assert np.array_equal(pair.winners, alone.winners), backend
    assert _solver_children() == []


def test_a_pair_at_its_limit_keeps_the_better_allocation_under_an_honest_bound() -> None:
    problem = _problem("arbitrary", 100, 500)  # neither proves it in a second
    pair = _pair(problem, SolveLimits(time_limit=1.0, threads=2))
    assert pair.status == "time_limit" and pair.method in ("cbc", "highs")
    assert 0 < pair.welfare <= pair.bound <= lp_bound(problem) * (1 + 1e-6)  # the lower bound
    assert _solver_children() == []


def test_a_racer_that_fails_leaves_the_other_s_answer() -> None:
    problem = _problem("regions", 30, 120)

    def solve(backend: str, mine: SolveLimits, stop: object) -> ComponentSolution:
        if backend == "highs":
            raise RuntimeError("HiGHS failed")
        return solve_component(
            problem, solver=backend, limits=mine, enumerate_max=0, lp_first=False
        )

    pair = side_by_side(solve, SolveLimits(time_limit=60, threads=2))  # type: ignore[arg-type]
    assert pair.status == "optimal" and pair.method == "cbc"

    def broken(backend: str, mine: SolveLimits, stop: object) -> ComponentSolution:
        raise RuntimeError(f"{backend} failed")

    with pytest.raises(RuntimeError, match="failed"):
        side_by_side(broken, SolveLimits(time_limit=60, threads=2))  # type: ignore[arg-type]
