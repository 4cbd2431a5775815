"""Shard actors on a real multi-process LocalCluster: rounds, kills, migration, breakers."""

from __future__ import annotations

import logging
import os
import pathlib
import random
import signal
import threading
import time
from collections.abc import Iterator

import polars as pl
import pytest
from distributed import Client, LocalCluster

import econonexus
from econonexus.agents.journal import read_journal
from econonexus.agents.messaging import CircuitBreaker, RetryPolicy, ShardUnavailableError
from econonexus.agents.outcomes import outcome_events
from econonexus.agents.placement import rendezvous
from econonexus.agents.pool import AgentPool
from econonexus.agents.population import population

pytestmark = pytest.mark.slow
MARKETS = {"first": {"format": "sealed-first-price"}, "combo": {"format": "combinatorial"}}
OFFER = pl.DataFrame(
    [(m, f"{m}-i{k}", s["format"]) for m, s in MARKETS.items() for k in range(4)],
    schema=["market_id", "item_id", "format"],
    orient="row",
)
AGENTS = population(120, OFFER, seed=5)
POLICY = RetryPolicy(timeout=10.0, retries=2, backoff=0.05)


@pytest.fixture(scope="module")
def module_cluster() -> Iterator[tuple[LocalCluster, Client]]:
    """One cluster for the module: its nannies bring killed workers back."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, silence_logs=logging.CRITICAL
        ) as lc,
        Client(lc) as client,
    ):
        yield lc, client


@pytest.fixture
def cluster(module_cluster: tuple[LocalCluster, Client]) -> tuple[LocalCluster, Client]:
    """The module's cluster with both workers up (the last test's victim is back)."""
    module_cluster[1].wait_for_workers(2, timeout=120)
    return module_cluster


def play(pool: AgentPool, client: Client, rounds: range) -> None:
    for r in rounds:
        bids = pool.bid_round(OFFER, seed=9, round_no=r)
        assert bids.left_out.is_empty()
        result = econonexus.clear(bids.bids, markets=MARKETS, client=client)
        delivery = pool.deliver(outcome_events(result.allocations, run_id=f"r{r}"))
        assert not delivery.failed


def control_states(client: Client, root: pathlib.Path, rounds: int) -> pl.DataFrame:
    with AgentPool.create(client, AGENTS, shards=4, root=str(root), policy=POLICY) as pool:
        play(pool, client, range(rounds))
        return pool.states()


def outcomes_last_seq(root: pathlib.Path) -> int:
    return int(read_journal(str(root))["seq"].max())  # type: ignore[arg-type]


def kill_holder(pool: AgentPool, client: Client) -> tuple[str, list[int]]:
    """SIGKILL the process of a worker that holds shards; wait until the scheduler sees it gone."""
    placement = pool.placement()
    victim = sorted(set(placement.values()))[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while victim in client.scheduler_info(n_workers=-1)["workers"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return victim, sorted(s for s, w in placement.items() if w == victim)


def test_killing_a_shard_worker_mid_round_then_recovering_gives_identical_agents(
    cluster: tuple[LocalCluster, Client], tmp_path: pathlib.Path
) -> None:
    _, client = cluster
    expected = control_states(client, tmp_path / "control", 3)
    root = str(tmp_path / "pool")
    with AgentPool.create(
        client, AGENTS, shards=4, root=root, policy=POLICY, auto_rebalance=False
    ) as pool:
        play(pool, client, range(2))
        bids = pool.bid_round(OFFER, seed=9, round_no=2)
        victim, lost = kill_holder(pool, client)
        result = econonexus.clear(bids.bids, markets=MARKETS, client=client)
        delivery = pool.deliver(outcome_events(result.allocations, run_id="r2"))
        assert sorted(delivery.failed) == lost
        assert pool.lost_shards() == lost
        left = pool.bid_round(OFFER, seed=9, round_no=3).left_out
        assert sorted(left["shard_id"].unique()) == lost
        assert set(left["agent_id"]) == {a for a in AGENTS["agent_id"] if pool.shard_of(a) in lost}
        assert left["reason"].str.contains("lost with its worker").all()
        moves = pool.recover()
        assert [m.shard_id for m in moves] == lost and all(m.source == victim for m in moves)
        assert victim not in pool.placement().values()
        assert pool.states().equals(expected)
        health = pool.health()
        assert health["status"].to_list() == ["ok"] * 4
        assert health["agents"].sum() == AGENTS.height
        assert (health["last_seq"] >= 0).all() and (health["state_bytes"] > 0).all()


def test_migration_under_load_loses_and_duplicates_no_event(
    cluster: tuple[LocalCluster, Client], tmp_path: pathlib.Path
) -> None:
    _, client = cluster
    expected = control_states(client, tmp_path / "control", 6)
    root = tmp_path / "pool"
    with AgentPool.create(client, AGENTS, shards=4, root=str(root), policy=POLICY) as pool:
        errors: list[BaseException] = []

        def load() -> None:
            try:
                play(pool, client, range(6))
            except BaseException as exc:
                errors.append(exc)

        rounds = threading.Thread(target=load)
        rounds.start()
        rng, moves = random.Random(3), 0
        while rounds.is_alive():
            shard = rng.randrange(4)
            others = [
                w
                for w in client.scheduler_info(n_workers=-1)["workers"]
                if w != pool.placement()[shard]
            ]
            if not others:  # a worker is (re)starting: nowhere to move to right now
                time.sleep(0.05)
                continue
            pool.migrate(shard, others[0])
            moves += 1
        rounds.join()
        assert not errors, errors
        assert moves >= 3
        states = pool.states()
    assert states.equals(expected)
    with AgentPool.open(client, str(root), policy=POLICY) as reopened:
        assert reopened.states().equals(expected)
        assert reopened.health()["last_seq"].max() == outcomes_last_seq(root)
    outcomes = read_journal(str(root)).filter(pl.col("kind").is_in(["bid_won", "bid_lost"]))
    assert outcomes["seq"].is_unique().all()
    per_agent = outcomes.group_by("agent_id").len()
    counted = states.join(per_agent, on="agent_id", how="left").fill_null(0)
    assert (counted["bids"] == counted["len"]).all()


def test_circuit_breaker_opens_on_a_lost_shard_and_closes_after_recovery(
    cluster: tuple[LocalCluster, Client], tmp_path: pathlib.Path
) -> None:
    _, client = cluster
    policy = RetryPolicy(timeout=5.0, retries=0)
    pool = AgentPool(
        client, str(tmp_path), 4, policy=policy, breaker=lambda: CircuitBreaker(2, reset_after=60)
    )
    with pool:
        pool._start_all(restore=False)  # an empty pool is enough to exercise the breaker
        _, lost = kill_holder(pool, client)
        agent = next(f"agent-{i}" for i in range(10_000) if pool.shard_of(f"agent-{i}") == lost[0])
        for _ in range(2):
            with pytest.raises(ShardUnavailableError, match="lost with its worker"):
                pool.ask(agent, "ping").result()
        with pytest.raises(ShardUnavailableError, match="circuit open after 2 failures"):
            pool.ask(agent, "ping").result()
        assert pool.health().filter(pl.col("shard_id") == lost[0])["breaker"].item() == "open"
        pool.recover()
        assert pool.ask(agent, "ping").result() == -1
        assert set(pool.health()["breaker"]) == {"closed"}
        slot = pool._registry.slots[lost[0]]
        before = slot.last_heartbeat or 0.0
        pool.tell(agent, "ping")  # fire and forget: only the heartbeat shows it arrived
        deadline = time.monotonic() + 10
        while (slot.last_heartbeat or 0.0) <= before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (slot.last_heartbeat or 0.0) > before


def test_rebalance_follows_workers_joining_and_leaving(
    cluster: tuple[LocalCluster, Client], tmp_path: pathlib.Path
) -> None:
    lc, client = cluster
    with AgentPool.create(client, AGENTS, shards=8, root=str(tmp_path), policy=POLICY) as pool:
        before = pool.states()
        original = set(client.scheduler_info(n_workers=-1)["workers"])
        lc.scale(3)
        client.wait_for_workers(3, timeout=60)
        # auto-rebalance: the next round first moves shards to the newcomer
        assert pool.bid_round(OFFER, seed=1, round_no=0).left_out.is_empty()
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        assert pool.placement() == {s: rendezvous(s, workers) for s in range(8)}
        (newcomer,) = set(workers) - original
        moves = pool.retire_worker(newcomer)
        assert {m.source for m in moves} <= {newcomer}
        assert newcomer not in pool.placement().values()
        assert pool.states().equals(before)
