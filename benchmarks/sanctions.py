"""Sanctions on manipulation: welfare lost to manipulators with ``on_flag: exclude`` vs ``flag``.

Issue 18: with 10 planted manipulations per market (5 collusion rings of 4
and 5 sybil clusters of 5, among 300 honest agents and honest decoys), the
share of the market's welfare won by manipulators, with ``exclude`` against
``flag`` (today's behaviour, the baseline measured in the same run), and the
time of a clear with ``exclude`` (two passes) over one with ``flag``. Medians
over the seeds, on a 2-worker LocalCluster.

Run: python -m benchmarks.sanctions [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import polars as pl
from distributed import Client

import econonexus as enx
from benchmarks.common import print_table
from econonexus.pipelines.graph.cluster import local_cluster
from tests.planted import PlantedMarket, lot_bids, planted_market


def _clear(market: PlantedMarket, client: Client, on_flag: str) -> tuple[float, float, float]:
    """(share of welfare won by manipulators, honest agents' welfare, seconds)."""
    bids = lot_bids(market)
    start = time.perf_counter()
    result = enx.clear(
        bids,
        markets={"lots": {"format": "sealed-first-price", "on_flag": on_flag}},
        accounts=market.accounts,
        client=client,
    )
    seconds = time.perf_counter() - start
    won = result.allocations.filter("won").join(market.truth, on="agent_id")
    total = float(won["price"].sum())
    bad = float(won.filter(pl.col("truth").is_in(["ring", "sybil"]))["price"].sum())
    return bad / total, total - bad, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    rows, shares = [], {"flag": [], "exclude": []}  # type: ignore[var-annotated]
    ratios = []
    with local_cluster(n_workers=2, dashboard_address=":0") as cluster, Client(cluster) as client:
        for seed in range(args.seeds):
            market = planted_market(
                seed=seed, honest=300, rings=5, shills=0, sybil_clusters=5, auctions=400
            )
            _clear(market, client, "flag")  # warm
            flag = _clear(market, client, "flag")
            exclude = _clear(market, client, "exclude")
            shares["flag"].append(flag[0])
            shares["exclude"].append(exclude[0])
            ratios.append(exclude[2] / flag[2])
            rows.append([seed, flag[0], exclude[0], flag[1], exclude[1], flag[2], exclude[2]])
    print_table(
        "welfare won by manipulators (10 planted per market), flag vs exclude",
        ["seed", "share flag", "share exclude", "honest welfare flag",
         "honest welfare exclude", "s flag", "s exclude"],
        rows,
    )  # fmt: skip
    print_table(
        f"medians over {args.seeds} seeds",
        ["share flag", "share exclude", "time exclude / flag"],
        [[statistics.median(shares["flag"]), statistics.median(shares["exclude"]),
          statistics.median(ratios)]],
    )  # fmt: skip


if __name__ == "__main__":
    main()
