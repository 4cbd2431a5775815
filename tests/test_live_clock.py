"""English and Dutch clocks answered live by the agents in their shard actors."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import signal
import time

import numpy as np
import polars as pl
import pytest
from distributed import Client
from hypothesis import given, settings
from hypothesis import strategies as st

import econonexus as enx
from econonexus.agents.population import population
from econonexus.agents.shard import ShardCore
from econonexus.agents.strategies import agent_key, clock_answers
from econonexus.pipelines.graph.cluster import local_cluster
from tests.planted import population_shard

MARKETS = {
    "eng": {"format": "english", "increment": 0.5},
    "dut": {"format": "dutch", "start_price": 120.0, "decrement": 0.5},
}
COARSE = {  # fewer clock rounds, for the tests that only need some
    "eng": {"format": "english", "increment": 8.0},
    "dut": {"format": "dutch", "start_price": 120.0, "decrement": 8.0},
}
OFFER = pl.DataFrame(
    [(m, f"{m}-i{k}", s["format"]) for m, s in MARKETS.items() for k in range(3)],
    schema=["market_id", "item_id", "format"],
    orient="row",
)


def _core(n_agents: int, seed: int) -> ShardCore:
    return population_shard(OFFER, n_agents, seed)


@settings(max_examples=25, deadline=None)
@given(n_agents=st.integers(1, 30), seed=st.integers(0, 10_000), round_no=st.integers(0, 50))
def test_an_agent_answers_yes_exactly_up_to_the_bid_it_would_make(
    n_agents: int, seed: int, round_no: int
) -> None:
    core = _core(n_agents, seed)
    bids = pl.from_arrow(core.bids(OFFER, seed=seed, round_no=round_no))
    assert isinstance(bids, pl.DataFrame)
    if bids.is_empty():
        return
    asked = bids.select("agent_id", "market_id", pl.col("items").list.first().alias("item_id"))
    at = core.answers(asked.with_columns(price=bids["price"]), seed=seed, round_no=round_no)
    above = asked.with_columns(price=bids["price"] * 1.0001 + 1e-9)
    over = core.answers(above, seed=seed, round_no=round_no)
    assert at.all() and not over.any()
    strangers = asked.with_columns(agent_id=pl.lit("nobody"), price=pl.lit(0.01))
    assert not core.answers(strangers, seed=seed, round_no=round_no).any()


@pytest.mark.slow
def test_live_clocks_end_where_proxy_bids_end_and_follow_state_changes(
    client: Client, tmp_path: pathlib.Path
) -> None:
    agents = population(80, OFFER, seed=11)
    with enx.AgentPool.create(client, agents, shards=3, root=str(tmp_path / "pool")) as pool:
        bids = pl.from_arrow(pool.bid_round(OFFER, seed=4, round_no=2).bids)
        assert isinstance(bids, pl.DataFrame) and bids.height > 10
        proxy = enx.clear(bids, markets=COARSE, client=client)
        live = enx.LiveBidders(pool, seed=4, round_no=2)
        answered = enx.clear(bids, markets=COARSE, client=client, bidders=live)
        assert answered.manifest["live_bidders"] == {**live.describe(), "left_out": []}
        columns = ["bid_id", "won", "payment"]
        assert answered.allocations.select(columns).equals(proxy.allocations.select(columns))
        assert answered.prices.drop("run_id").equals(proxy.prices.drop("run_id"))

        # the English winner of the first item is banned: live, it drops out at once
        first = answered.allocations.filter(pl.col("won") & (pl.col("market_id") == "eng"))
        winner = first.sort("bid_id").row(0, named=True)
        pool.deliver(pl.DataFrame({"agent_id": [winner["agent_id"]], "kind": ["banned"]}))
        after = enx.clear(bids, markets=COARSE, client=client, bidders=live)
        stale = enx.clear(bids, markets=COARSE, client=client)
        still = stale.allocations.filter(pl.col("bid_id") == winner["bid_id"])["won"]
        now = after.allocations.filter(pl.col("agent_id") == winner["agent_id"])["won"]
        assert still.to_list() == [True], "a proxy bid keeps answering for a banned agent"
        assert not now.any(), "a live banned agent answers no"


def test_clock_answers_of_banned_or_unknown_agents_are_no() -> None:
    core = _core(5, 3)
    state = next(iter(core.agents.values()))
    market, item, value = state.valuations[0]
    asks = pl.DataFrame(
        {"agent_id": [state.agent_id], "market_id": [market], "item_id": [item], "price": [0.01]}
    )
    keys = np.array([agent_key(state.agent_id)], dtype=np.uint64)
    assert clock_answers([state], keys, asks, seed=0, round_no=0).tolist() == [value > 0]
    banned = dataclasses.replace(state, banned=True)
    assert clock_answers([banned], keys, asks, seed=0, round_no=0).tolist() == [False]


def _kill_worker_of(pool: enx.AgentPool, client: Client, shard: int) -> str:
    worker = pool._registry.slots[shard].handle.worker  # type: ignore[union-attr]
    os.kill(client.run(os.getpid)[worker], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while worker in client.scheduler_info()["workers"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return str(worker)


@pytest.mark.slow
def test_a_clock_whose_bidders_shard_is_lost_recovers_it_or_says_so(tmp_path: pathlib.Path) -> None:
    agents = population(60, OFFER, seed=5)
    with (
        local_cluster(n_workers=2, dashboard_address=":0") as cluster,
        Client(cluster) as client,
        enx.AgentPool.create(
            client, agents, shards=2, root=str(tmp_path / "pool"), auto_rebalance=False
        ) as pool,
    ):
        bids = pl.from_arrow(pool.bid_round(OFFER, seed=2, round_no=1).bids)
        live = enx.LiveBidders(pool, seed=2, round_no=1)
        control = enx.clear(bids, markets=COARSE, client=client, bidders=live)
        _kill_worker_of(pool, client, 0)
        again = enx.clear(bids, markets=COARSE, client=client, bidders=live)
        columns = ["bid_id", "won", "payment"]
        assert again.allocations.select(columns).equals(control.allocations.select(columns))
        assert set(again.summary["status"]) == {"optimal"}
        assert again.manifest["live_bidders"]["left_out"] == []
        # a shard that cannot be rebuilt (its journal is gone): the market says so
        shutil.rmtree(tmp_path / "pool" / "journal")
        shutil.rmtree(tmp_path / "pool" / "snapshots" / "shard-00001")
        _kill_worker_of(pool, client, 1)
        lost = enx.clear(bids, markets=COARSE, client=client, bidders=live)
        left = lost.manifest["live_bidders"]["left_out"]
        assert left and all("did not answer after recovery" in r["reason"] for r in left)
        hit = {r["market_id"] for r in left}
        statuses = dict(zip(lost.summary["market_id"], lost.summary["status"], strict=True))
        assert {statuses[m] for m in hit} == {"error"}
        assert not lost.allocations.filter(pl.col("market_id").is_in(list(hit)))["won"].any()
