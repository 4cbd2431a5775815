"""Task delegation at scale: offers + clearing + delivery for 100,000 tasks.

Issue 18: 100,000 tasks to 10,000 seller agents in 16 shards on a 2-worker
LocalCluster; target under 5 s for offers, clearing and delivery together.
The baseline, measured in the same run, is ``enx.clear`` of the same offers
alone (the procurement markets without asking the agents or telling them),
so the ratio is what delegation adds to a clear. Medians over the repeats
(each repeat is a new round: new offers, new outcomes delivered).

Run: python -m benchmarks.delegation [--tasks 100000] [--agents 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import polars as pl
from distributed import Client

import econonexus as enx
from benchmarks.common import print_table
from econonexus.pipelines.graph.cluster import local_cluster
from econonexus.pipelines.ops.delegate import delegated_items

CAPABILITIES = 50


def sellers(n: int, *, seed: int) -> pl.DataFrame:
    """``n`` agents, each able to do 1-3 of :data:`CAPABILITIES` capabilities."""
    rng = np.random.default_rng(seed)
    names = [f"cap-{k:02d}" for k in range(CAPABILITIES)]
    kind = pl.List(pl.Struct({"capability": pl.String, "cost": pl.Float64, "capacity": pl.Int64}))
    rows = [
        [
            {
                "capability": str(c),
                "cost": float(rng.uniform(5, 20)),
                "capacity": int(rng.integers(10, 41)),
            }
            for c in rng.choice(names, int(rng.integers(1, 4)), replace=False)
        ]
        for _ in range(n)
    ]
    return pl.DataFrame(
        {
            "agent_id": [f"seller-{i:06d}" for i in range(n)],
            "balance": 100.0,
            "strategy": rng.choice(["truthful", "fixed", "random", "adaptive"], n),
            "shade": rng.uniform(0.7, 0.95, n).round(3),
            "capabilities": pl.Series(rows, dtype=kind),
        }
    )


def tasks(n: int, *, seed: int) -> pl.DataFrame:
    """``n`` tasks of random capabilities, 1-3 units, the buyer's value 30-90 per task."""
    rng = np.random.default_rng(seed + 1)
    return pl.DataFrame(
        {
            "task_id": [f"task-{i:07d}" for i in range(n)],
            "capability": [f"cap-{k:02d}" for k in rng.integers(0, CAPABILITIES, n)],
            "quantity": rng.integers(1, 4, n),
            "reserve": rng.uniform(30, 90, n).round(2),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = tasks(args.tasks, seed=0)
    parts: dict[str, list[float]] = {
        k: [] for k in ("offers", "clearing", "delivery", "total", "clear alone")
    }
    with (
        local_cluster(n_workers=2, dashboard_address=":0") as cluster,
        Client(cluster) as client,
        tempfile.TemporaryDirectory() as tmp,
    ):
        pool = enx.AgentPool.create(
            client, sellers(args.agents, seed=0), shards=args.shards, root=f"{tmp}/pool"
        )
        enx.delegate(work.head(1000), pool, client=client, round_no=0, out=f"{tmp}/warm")
        for r in range(1, args.repeats + 1):
            start = time.perf_counter()
            done = enx.delegate(work, pool, client=client, round_no=r, out=f"{tmp}/runs")
            parts["total"].append(time.perf_counter() - start)
            for k, v in done.seconds.items():
                parts[k].append(v)
            start = time.perf_counter()
            enx.clear(
                done.offers,
                items=delegated_items(work),
                markets={c: {"format": "procurement"} for c in set(work["capability"])},
                client=client,
                out=f"{tmp}/alone",
            )
            parts["clear alone"].append(time.perf_counter() - start)
            print(
                f"round {r}: {done.offers.height} offers, {done.awards.height} awarded, "
                f"{done.unassigned.height} not; {parts['total'][-1]:.2f} s",
                flush=True,
            )
        pool.close()
    alone = statistics.median(parts["clear alone"])
    rows = [
        [k, f"{statistics.median(v):.3f}", f"{statistics.median(v) / alone:.2f}"]
        for k, v in parts.items()
    ]
    title = f"{args.tasks} tasks, {args.agents} agents, {args.shards} shards, 2 workers"
    print_table(title, ["step", "median s", "/ clear alone"], rows)


if __name__ == "__main__":
    main()
