"""Latency of ``econonexus.clear`` on a running 2-worker LocalCluster.

Two markets through the Python API, each timed end to end (read the table,
validate, clear on the cluster, gather): a one-auction sealed-bid (Vickrey)
market, and a 50-good x 200-bid combinatorial market from the generator
(decay). Baseline in the same run: the same clearing in-process with no
cluster (the bulk sealed function; a direct PuLP solve). Targets (issue 3):
medians < 100 ms and < 500 ms. Issue 16 point 4 (a clear's fixed cost): the
same clears through the full graph (``cluster.small-batch-bids: 0``: the
stages as separate tasks, as before ``enx-clear``), measured beside them.

Run: python -m benchmarks.latency [--repeats 21]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import dask
import polars as pl

import econonexus as enx
from benchmarks.common import cluster, median_seconds, print_table
from benchmarks.pipeline_vs_direct import direct_solve
from econonexus.solvers.sealed import clear_sealed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    one = pl.DataFrame(
        {
            "bid_id": [f"b{i}" for i in range(10)],
            "agent_id": [f"a{i}" for i in range(10)],
            "market_id": "lot",
            "items": [["x"]] * 10,
            "price": [float(3 + i) for i in range(10)],
        }
    )
    combo = enx.generate("decay", goods=50, bids=200, seed=1, market_id="m")
    cases = [
        (
            "one-auction vickrey",
            lambda c: enx.clear(one, client=c, markets={"lot": {"format": "vickrey"}}),
            lambda: clear_sealed(
                one.select("market_id", pl.lit("x").alias("item_id"), "bid_id", "price"),
                rule="second-price",
            ),
            0.100,
        ),
        (
            "50x200 combinatorial (decay)",
            lambda c: enx.clear(combo, client=c),
            lambda: direct_solve(combo, "cbc"),
            0.500,
        ),
    ]
    rows = []
    with cluster(2) as client:
        enx.clear(one, client=client)  # warm up the workers
        for name, through_api, in_process, target in cases:
            t_api, t_full = alternated(lambda f=through_api: f(client), args.repeats)
            t_base, _ = median_seconds(in_process, repeats=args.repeats)
            rows.append(
                (name, t_base * 1000, t_full * 1000, t_api * 1000, t_api / t_base, target * 1000)
            )
    print_table(
        f"Latency through the API on a running LocalCluster, median of {args.repeats}",
        ["market", "in-process ms", "full graph ms", "API ms", "API / in-process", "target ms"],
        rows,
    )


def alternated(clear: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median seconds of ``clear`` as it is and through the full graph, run in turns so
    that both see the same state of the machine."""
    small, full = [], []
    for _ in range(repeats):
        small.append(median_seconds(clear, repeats=1)[0])
        with dask.config.set({"econonexus.cluster.small-batch-bids": 0}):
            full.append(median_seconds(clear, repeats=1)[0])
    return statistics.median(small), statistics.median(full)


if __name__ == "__main__":
    main()
