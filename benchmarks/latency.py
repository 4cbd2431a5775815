"""Latency of ``econonexus.clear`` on a running 2-worker LocalCluster.

Two markets through the Python API, each timed end to end (read the table,
validate, clear on the cluster, gather): a one-auction sealed-bid (Vickrey)
market, and a 50-good x 200-bid combinatorial market from the generator
(decay). Baseline in the same run: the same clearing in-process with no
cluster (the bulk sealed function; a direct PuLP solve). Targets (issue 3):
medians < 100 ms and < 500 ms.

Run: python -m benchmarks.latency [--repeats 21]
"""

from __future__ import annotations

import argparse

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
            t_api, _ = median_seconds(lambda f=through_api: f(client), repeats=args.repeats)
            t_base, _ = median_seconds(in_process, repeats=args.repeats)
            rows.append((name, t_base * 1000, t_api * 1000, t_api / t_base, target * 1000))
    print_table(
        f"Latency through the API on a running LocalCluster, median of {args.repeats}",
        ["market", "in-process ms", "API ms", "ratio", "target ms"],
        rows,
    )


if __name__ == "__main__":
    main()
