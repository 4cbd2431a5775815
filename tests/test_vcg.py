"""VCG payments against a brute-force Clarke pivot, for every backend."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.market import clear_market
from econonexus.solvers.problem import build_problem
from econonexus.solvers.vcg import solve_job, vcg_jobs, vcg_payments
from tests.oracle import brute_force
from tests.strategies import markets

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _vcg(bids: pl.DataFrame, items: pl.DataFrame, solver: str, enumerate_max: int):
    problem = build_problem("m", bids, items, tie_epsilon=1e-6)
    outcome = clear_market(problem, solver=solver, enumerate_max=enumerate_max)
    gains = [
        solve_job(job, solver=solver, limits=SolveLimits(), enumerate_max=enumerate_max)
        for job in vcg_jobs(problem, outcome.won)
    ]
    return problem, outcome, vcg_payments(problem, outcome.won, gains, proven=True)


def _oracle_payments(
    bids: pl.DataFrame, items: pl.DataFrame, winners: set[str]
) -> dict[str, float]:
    """Clarke pivot per winning agent: best welfare without it minus the others' welfare."""
    rows = bids.to_dicts()
    total = sum(r["price"] for r in rows if r["bid_id"] in winners)
    payments = {}
    for agent in {r["agent_id"] for r in rows if r["bid_id"] in winners}:
        value = sum(r["price"] for r in rows if r["bid_id"] in winners and r["agent_id"] == agent)
        without = brute_force(bids.filter(pl.col("agent_id") != agent), items).welfare
        payments[agent] = without - (total - value)
    return payments


@pytest.mark.parametrize(("solver", "enumerate_max"), [("cbc", 0), ("highs", 0), ("cbc", 10)])
@SETTINGS
@given(market=markets(max_bids=8))
def test_vcg_matches_brute_force(
    solver: str, enumerate_max: int, market: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    bids, items = market
    problem, outcome, pay = _vcg(bids, items, solver, enumerate_max)
    winners = set(problem.bid_ids[outcome.won].tolist())
    assert abs(outcome.welfare - brute_force(bids, items).welfare) < 1e-6
    expected = _oracle_payments(bids, items, winners)
    for agent, amount in expected.items():
        mine = outcome.won & (problem.agent_ids == agent)
        assert pay.payment[mine].sum() == pytest.approx(amount, abs=1e-5), agent
    # individual rationality, losers pay 0, proven payments are exact
    assert np.all(pay.payment <= problem.price + 1e-9)
    assert np.all(pay.payment >= 0)
    assert np.all(pay.payment[~outcome.won] == 0)
    assert pay.exact.all()
