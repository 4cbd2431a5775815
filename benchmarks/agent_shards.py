"""Agents in shard actors: a bid round, a full snapshot, recovery of one worker's shards.

Targets (issue 4), 100,000 agents in >= 16 shards on 2 workers: one bid round
into Arrow < 1 s; full snapshot < 2 s; recovery of one worker's shards < 5 s.
Baseline, measured in the same run: the same round with one actor per agent
on 1,000 agents, against 1,000 agents in 16 shards.

Run: python -m benchmarks.agent_shards [--agents 100000] [--shards 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time

import polars as pl
from distributed import Client

from benchmarks.common import cluster, median_seconds, print_table
from econonexus.agents.pool import AgentPool
from econonexus.agents.population import population
from econonexus.pipelines.sim.simulate import default_markets

OFFER = pl.DataFrame(
    [(m, f"{m}-i{k}", s["format"]) for m, s in default_markets().items() for k in range(50)],
    schema=["market_id", "item_id", "format"],
    orient="row",
)


def round_seconds(pool: AgentPool, repeats: int) -> tuple[float, int]:
    rounds = iter(range(10_000))
    seconds, result = median_seconds(
        lambda: pool.bid_round(OFFER, seed=1, round_no=next(rounds)), repeats=repeats
    )
    assert result.left_out.is_empty()
    return seconds, result.bids.num_rows


def recovery_seconds(pool: AgentPool, client: Client, repeats: int) -> tuple[float, int]:
    """Kill the worker holding the most shards, then time detection-free recovery of its shards."""
    times, moved = [], 0
    for _ in range(repeats):
        client.wait_for_workers(2, timeout=120)
        pool.rebalance()  # the restarted worker takes its shards back first
        placement = pool.placement()
        victim = max(set(placement.values()), key=list(placement.values()).count)
        os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        while victim in client.scheduler_info(n_workers=-1)["workers"]:
            time.sleep(0.02)
        start = time.perf_counter()
        moves = pool.recover()
        times.append(time.perf_counter() - start)
        moved = len(moves)
        assert moves and pool.lost_shards() == []
    return statistics.median(times), moved


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--baseline-agents", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with cluster(2) as client:
        people = population(args.agents, OFFER, seed=1)
        start = time.perf_counter()
        with AgentPool.create(client, people, shards=args.shards, root=tempfile.mkdtemp()) as pool:
            created = time.perf_counter() - start
            bid_s, n_bids = round_seconds(pool, args.repeats)
            snap_s, _ = median_seconds(pool.snapshot, repeats=args.repeats)
            recover_s, moved = recovery_seconds(pool, client, max(3, args.repeats // 2))
            assert pool.states().height == args.agents
        rows += [
            (f"create {args.agents} agents (not a target)", created, "-", "-"),
            (f"bid round, {args.agents} agents -> {n_bids} bids", bid_s, 1.0, bid_s < 1.0),
            (f"full snapshot, {args.shards} shards", snap_s, 2.0, snap_s < 2.0),
            (f"recovery of one worker's {moved} shards", recover_s, 5.0, recover_s < 5.0),
        ]
        small = population(args.baseline_agents, OFFER, seed=1)
        per_actor = baseline_rows(client, small, args)
    print_table(
        f"{args.agents} agents in {args.shards} shards on 2 workers, median of {args.repeats}",
        ["operation", "seconds", "target s", "met"],
        rows,
    )
    print_table(
        f"baseline: a bid round of {args.baseline_agents} agents, median of {args.repeats}",
        ["layout", "actors", "seconds", "us per agent", "ratio vs 16 shards"],
        per_actor,
    )


def baseline_rows(
    client: Client, agents: pl.DataFrame, args: argparse.Namespace
) -> list[tuple[object, ...]]:
    results = {}
    for label, shards in (("16 shards", 16), ("an actor per agent (hash-placed)", agents.height)):
        with AgentPool.create(client, agents, shards=shards, root=tempfile.mkdtemp()) as pool:
            results[label] = (shards, round_seconds(pool, args.repeats)[0])
    sharded = results["16 shards"][1]
    return [
        (label, shards, s, s / agents.height * 1e6, s / sharded)
        for label, (shards, s) in results.items()
    ]


if __name__ == "__main__":
    main()
