"""The combinatorial clock auction: truthful proxies reach the full-information optimum on
every generated family, supplementary bids obey the revealed-preference rule, and the
pipeline clears a ``cca`` market with core payments."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.sim.generate import DISTRIBUTIONS
from econonexus.solvers.cca import (
    activity_caps,
    activity_violations,
    agent_index,
    demanded_packages,
    package_costs,
    run_cca,
    supplementary_problem,
)
from econonexus.solvers.market import clear_market
from econonexus.solvers.problem import MarketProblem, build_problem


def one_package_each(family: str, seed: int = 2) -> MarketProblem:
    bids = enx.generate(family, goods=12, bids=40, seed=seed, market_id="m")  # type: ignore[arg-type]
    return build_problem("m", bids.with_columns(xor_group=pl.lit("p")), None, tie_epsilon=1e-9)


@pytest.mark.parametrize("family", DISTRIBUTIONS)
def test_truthful_proxies_reach_the_full_information_optimum(family: str) -> None:
    problem = one_package_each(family)
    increment = float(np.median(problem.price)) / 40
    cca = run_cca(problem, increment=increment, max_rounds=2000)
    optimum = clear_market(problem, solver="highs")
    final = clear_market(supplementary_problem(problem, cca), solver="highs")
    assert np.array_equal(final.won, optimum.won), family
    costs = package_costs(problem, cca.clock.round_prices)
    demanded = demanded_packages(problem, cca.clock.demands)
    agents = agent_index(problem)
    assert activity_violations(cca.supplementary, costs, demanded, agents).max() <= 1e-6
    assert np.all(cca.supplementary <= problem.price + 1e-9)
    assert np.all(cca.final >= cca.supplementary)


@pytest.mark.parametrize("family", ["decay", "paths", "L3"])
def test_bids_beyond_what_the_clock_revealed_are_capped_to_the_rule(family: str) -> None:
    problem = one_package_each(family, seed=5)
    cca = run_cca(problem, increment=float(np.median(problem.price)) / 40, max_rounds=2000)
    costs = package_costs(problem, cca.clock.round_prices)
    demanded = demanded_packages(problem, cca.clock.demands)
    agents = agent_index(problem)
    # packages not demanded at the end claimed to be worth three times their value
    inflated = problem.price * np.where(cca.clock.demands[-1], 1.0, 3.0)
    assert activity_violations(inflated, costs, demanded, agents).max() > 1e-3  # would break it
    capped = activity_caps(inflated, costs, demanded, agents)
    assert activity_violations(capped, costs, demanded, agents).max() <= 1e-6
    assert np.all(capped <= inflated + 1e-9) and np.any(capped < inflated - 1e-6)


def test_the_pipeline_clears_a_cca_market_with_core_payments(
    client: Client, tmp_path: pathlib.Path
) -> None:
    bids = enx.generate("decay", goods=12, bids=40, seed=3, market_id="m")
    markets = {"m": {"format": "cca", "increment": 1.0}}
    result = enx.clear(bids, markets=markets, client=client, out=str(tmp_path))
    summary = result.summary.row(0, named=True)
    assert (summary["status"], summary["payment_rule"]) == ("optimal", "core")
    assert summary["efficiency"] == pytest.approx(1.0) and summary["rounds"] > 1
    won = result.allocations.filter("won")
    assert won["agent_id"].is_unique().all()  # one package per agent
    assert (won["payment"] <= won["price"] + 1e-6).all()
    assert summary["revenue"] <= summary["welfare"] + 1e-6
    assert result.prices.filter(pl.col("market_id") == "m").height > 0
    with pytest.raises(enx.InputError, match="increment"):
        enx.clear(bids, markets={"m": {"format": "cca"}}, client=client, out=str(tmp_path))
