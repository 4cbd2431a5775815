"""A batch of 32 independent markets: speedup from 1 to 2 workers.

Each market is a generated CATS-style instance (uniform, 60 goods x 300
bids, one seed per market) solved with CBC. Target (issue 2): speedup >= 1.7.

Run: python -m benchmarks.scaling_workers [--repeats 3] [--markets 32]
"""

from __future__ import annotations

import argparse

import polars as pl

import econonexus as enx
from benchmarks.common import cluster, median_seconds, print_table


def make_batch(n_markets: int) -> pl.DataFrame:
    return pl.concat(
        enx.generate("uniform", goods=60, bids=300, seed=s, market_id=f"m{s:02d}")
        for s in range(n_markets)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markets", type=int, default=32)
    parser.add_argument("--solver", choices=["cbc", "highs"], default="cbc")
    args = parser.parse_args()
    bids = make_batch(args.markets)
    rows, times, welfare = [], {}, {}
    for workers in (1, 2):
        with cluster(workers) as client:
            enx.clear(enx.generate("decay", goods=20, bids=40, seed=0), client=client)  # warm up
            seconds, result = median_seconds(
                lambda client=client: enx.clear(bids, client=client, solver=args.solver),
                repeats=args.repeats,
            )
        times[workers] = seconds
        welfare[workers] = result.summary["welfare"].to_list()
        solve = result.summary["solve_seconds"].sum()
        rows.append((workers, args.markets, seconds, solve, times[1] / seconds))
    assert welfare[1] == welfare[2], "1 and 2 workers must give the same result"
    print_table(
        f"{args.markets} independent markets (uniform 60x300), {args.solver}, "
        f"median of {args.repeats}",
        ["workers", "markets", "wall s", "sum of solve s", "speedup vs 1 worker"],
        rows,
    )
    print(f"\nspeedup 1 -> 2 workers: {times[1] / times[2]:.2f} (target >= 1.7)")


if __name__ == "__main__":
    main()
