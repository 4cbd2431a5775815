"""Procurement markets: buyer surplus against brute force; sellers paid at least their asks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from distributed import Client
from hypothesis import HealthCheck, given, settings

import econonexus as enx
from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.market import clear_market
from econonexus.solvers.problem import build_problem
from econonexus.solvers.procurement import quality_factors, seller_payments, surplus_problem
from econonexus.solvers.vcg import solve_job, vcg_payments, vcg_plan
from tests.oracle import brute_force
from tests.strategies import markets

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _as_surplus_bids(offers: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """The oracle's view: each offer worth its units' value to the buyer, less its ask."""
    value = dict(zip(items["item_id"], items["reserve_price"], strict=True))
    worth = [
        sum(value[i] * q for i, q in zip(row["items"], row["quantities"], strict=True))
        for row in offers.iter_rows(named=True)
    ]
    return offers.with_columns(price=pl.Series(worth) - pl.col("price")).filter(
        pl.col("price") >= 0
    )


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@SETTINGS
@given(market=markets(max_bids=8))
def test_procurement_vcg_matches_brute_force(
    solver: str, market: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    offers, items = market
    offers = offers.with_columns(side=pl.lit("sell"))
    items = items.with_columns(reserve_price=pl.col("reserve_price") * 4 + 3)  # buyer's values
    problem, kept = surplus_problem(
        build_problem("m", offers, items, tie_epsilon=1e-9), tie_epsilon=1e-9
    )
    outcome = clear_market(problem, solver=solver, enumerate_max=0)
    surplus_bids = _as_surplus_bids(offers, items).with_columns(xor_group=pl.col("xor_group"))
    no_reserve = items.with_columns(reserve_price=pl.lit(0.0))
    best = brute_force(surplus_bids, no_reserve).welfare
    assert outcome.welfare == pytest.approx(best, abs=1e-5)
    plan = vcg_plan(problem, outcome.won, enumerate_max=0)  # as the pipeline plans them
    gains = plan.settled + [
        solve_job(j, solver=solver, limits=SolveLimits(), enumerate_max=0, lp_first=False)
        for j in plan.jobs
    ]
    pay = vcg_payments(problem, outcome.won, gains, proven=True)
    asks = offers["price"].to_numpy()[kept]
    paid, low, high = seller_payments(asks, problem.price, outcome.won, pay)
    assert np.all(low <= paid + 1e-9) and np.all(paid <= high + 1e-9)
    assert np.all(paid[outcome.won] >= asks[outcome.won] - 1e-9)  # never paid below the ask
    assert np.all(paid[~outcome.won] == 0)
    winners = set(problem.bid_ids[outcome.won].tolist())
    for agent in set(problem.agent_ids[outcome.won].tolist()):
        mine = outcome.won & (problem.agent_ids == agent)
        without = brute_force(surplus_bids.filter(pl.col("agent_id") != agent), no_reserve).welfare
        expected = asks[mine].sum() + best - without  # ask plus marginal contribution
        assert paid[mine].sum() == pytest.approx(expected, abs=1e-5), (agent, winners)


OFFERS = pl.DataFrame(
    {
        "bid_id": ["cheap", "trusted"],
        "agent_id": ["newbie", "veteran"],
        "market_id": "tasks",
        "items": [["job"], ["job"]],
        "price": [90.0, 95.0],
        "side": "sell",
    }
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("weight", "winner", "paid"), [(0.0, "cheap", 90.0), (1.0, "trusted", 95.0)]
)
def test_procurement_offers_are_scored_by_reputation(
    client: Client, weight: float, winner: str, paid: float
) -> None:
    accounts = pl.DataFrame({"agent_id": ["newbie", "veteran"], "reputation": [0.2, 0.9]})
    market = {"tasks": {"format": "procurement", "reserve": 100.0, "reputation_weight": weight}}
    result = enx.clear(OFFERS, markets=market, accounts=accounts, client=client)
    won = result.allocations.filter("won")
    assert won["bid_id"].to_list() == [winner] and won["payment"].to_list() == [paid]


def test_a_better_reputation_never_lowers_an_offers_surplus() -> None:
    reputation = np.linspace(0, 1, 11)
    factors = quality_factors(reputation, 1.5)
    assert np.all(np.diff(factors) > 0) and factors.min() > 0
    assert quality_factors(reputation, 0.0).tolist() == [1.0] * 11
