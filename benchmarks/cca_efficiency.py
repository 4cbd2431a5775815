"""CCA allocative efficiency against the ``clock`` format, through the pipeline.

Issue 18: over generated instances of every family, the ``cca`` format's
efficiency (its winners' value over the full-information optimum, one
package per agent) should have a median >= 0.99 and none below 0.95; the
``clock`` format (price discovery alone) is measured beside it, on the same
instances in the same run. Each seed clears one batch per format with one
market per family on a 2-worker LocalCluster; the increment of each market
is its median bid over 40. Also reported: the median time of a batch, cca
over clock.

Run: python -m benchmarks.cca_efficiency [--seeds 3] [--goods 40] [--bids 160]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import polars as pl
from distributed import Client

import econonexus as enx
from benchmarks.common import print_table
from econonexus.pipelines.graph.cluster import local_cluster
from econonexus.pipelines.sim.generate import DISTRIBUTIONS


def batch(seed: int, goods: int, bids: int) -> tuple[pl.DataFrame, dict[str, float]]:
    """One market per family, and each market's clock increment."""
    frames = [
        enx.generate(f, goods=goods, bids=bids, seed=seed, market_id=f)  # type: ignore[arg-type]
        for f in DISTRIBUTIONS
    ]
    steps = {str(f["market_id"][0]): float(f["price"].median()) / 40 for f in frames}  # type: ignore[arg-type]
    return pl.concat(frames), steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--goods", type=int, default=40)
    parser.add_argument("--bids", type=int, default=160)
    args = parser.parse_args()
    found: dict[str, dict[str, list[float]]] = {"cca": {}, "clock": {}}
    seconds: dict[str, list[float]] = {"cca": [], "clock": []}
    with (
        local_cluster(n_workers=2, dashboard_address=":0") as cluster,
        Client(cluster) as client,
        tempfile.TemporaryDirectory() as out,
    ):
        for seed in range(args.seeds):
            bids, steps = batch(seed, args.goods, args.bids)
            for fmt in ("cca", "clock"):
                markets = {m: {"format": fmt, "increment": s} for m, s in steps.items()}
                start = time.perf_counter()
                result = enx.clear(bids, markets=markets, client=client, out=out)
                seconds[fmt].append(time.perf_counter() - start)
                for row in result.summary.iter_rows(named=True):
                    found[fmt].setdefault(row["market_id"], []).append(float(row["efficiency"]))
    rows = [
        [
            family,
            f"{statistics.median(found['cca'][family]):.4f}",
            f"{min(found['cca'][family]):.4f}",
            f"{statistics.median(found['clock'][family]):.4f}",
            f"{min(found['clock'][family]):.4f}",
        ]
        for family in DISTRIBUTIONS
    ]
    every = {fmt: [e for v in found[fmt].values() for e in v] for fmt in found}
    rows.append(
        [
            "all",
            f"{statistics.median(every['cca']):.4f}",
            f"{min(every['cca']):.4f}",
            f"{statistics.median(every['clock']):.4f}",
            f"{min(every['clock']):.4f}",
        ]
    )
    title = f"efficiency, {args.seeds} seeds, {args.goods} goods x {args.bids} bids per family"
    print_table(title, ["family", "cca median", "cca min", "clock median", "clock min"], rows)
    ratio = statistics.median(seconds["cca"]) / statistics.median(seconds["clock"])
    print(
        f"\nbatch time, median: cca {statistics.median(seconds['cca']):.2f} s, "
        f"clock {statistics.median(seconds['clock']):.2f} s (cca / clock {ratio:.2f})"
    )


if __name__ == "__main__":
    main()
