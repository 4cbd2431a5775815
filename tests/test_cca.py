"""The combinatorial clock auction: truthful proxies reach the full-information optimum on
every generated family, supplementary bids obey the revealed-preference rule, and the
pipeline clears a ``cca`` market with core payments."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl
import pytest
from distributed import Client, get_task_stream
from hypothesis import given, settings
from hypothesis import strategies as st

import econonexus as enx
from econonexus.agents.population import population
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
from tests.planted import population_shard


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


CCA_OFFER = pl.DataFrame(
    [("lots", f"g{k}", "cca") for k in range(5)],
    schema=["market_id", "item_id", "format"],
    orient="row",
)


@settings(max_examples=20, deadline=None)
@given(n_agents=st.integers(1, 25), seed=st.integers(0, 10_000), round_no=st.integers(0, 30))
def test_a_live_agent_bids_on_a_package_what_it_would_bid_in_its_round(
    n_agents: int, seed: int, round_no: int
) -> None:
    """Live supplementary bids are the agent's own: its value of the package times its
    strategy's factor, at most what it can pay; a stranger gets NaN (its bid stands)."""
    core = population_shard(CCA_OFFER, n_agents, seed)
    bids = pl.from_arrow(core.bids(CCA_OFFER, seed=seed, round_no=round_no))
    assert isinstance(bids, pl.DataFrame)
    if bids.is_empty():
        return
    answered = core.package_bids(bids, seed=seed, round_no=round_no)
    assert np.allclose(answered, bids["price"].to_numpy(), rtol=1e-12)
    strangers = bids.with_columns(agent_id=pl.lit("nobody"))
    assert np.isnan(core.package_bids(strangers, seed=seed, round_no=round_no)).all()


def test_live_agents_answer_the_supplementary_round_from_their_shards(
    client: Client, tmp_path: pathlib.Path
) -> None:
    """A CCA cleared with live bidders asks the shards for the supplementary bids: with the
    round the agents bid in, the result is the proxies'; a shard's answers that differ
    (another round's shading) change the bids winner determination sees."""
    agents = population(30, CCA_OFFER, seed=5)
    markets = {"lots": {"format": "cca", "increment": 2.0, "payment_rule": "vcg"}}
    with enx.AgentPool.create(client, agents, shards=2, root=str(tmp_path / "pool")) as pool:
        bids = pl.from_arrow(pool.bid_round(CCA_OFFER, seed=3, round_no=1).bids)
        assert isinstance(bids, pl.DataFrame) and bids.height > 20
        proxy = enx.clear(bids, markets=markets, client=client)
        same = enx.LiveBidders(pool, seed=3, round_no=1)
        with get_task_stream(client) as stream:
            live = enx.clear(
                bids, markets=markets, client=client, bidders=same, out=str(tmp_path / "runs")
            )
        assert any("enx-live-bids" in str(t["key"]) for t in stream.data)  # cleared here
        assert enx.read_run(live.location or "").allocations.height == bids.height
        assert live.manifest["live_bidders"] == {**same.describe(), "left_out": []}
        columns = ["bid_id", "won", "payment"]
        assert (
            live.allocations.select(columns)
            .sort("bid_id")
            .equals(proxy.allocations.select(columns).sort("bid_id"))
        )
        assert live.summary["status"][0] == "optimal"
        other = enx.LiveBidders(pool, seed=99, round_no=7)
        values = other.package_values(bids.select("agent_id", "market_id", "items"))
        assert not np.isnan(values).any()
        assert not np.allclose(values, bids["price"].to_numpy())  # the shards were asked
        moved = enx.clear(bids, markets=markets, client=client, bidders=other)
        assert moved.summary["rounds"][0] == proxy.summary["rounds"][0]  # the same clock
        # VCG prices the final bids: other supplementary bids, other payments
        assert moved.summary["revenue"][0] != pytest.approx(proxy.summary["revenue"][0])
