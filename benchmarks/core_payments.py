"""Core-selecting payments against VCG on the VCG benchmark's instances.

Issue 18: the time of a clear with ``payment_rule: core`` (the minimum-revenue
core nearest to VCG, by core-constraint generation with the winner
determination problem as oracle) over the same clear with ``vcg`` (the
baseline, measured in the same run): median ratio <= 3. Also the revenue of
each, and the core rounds' cuts. Both on a 2-worker LocalCluster, medians of
``--repeats`` runs.

Run: python -m benchmarks.core_payments [--repeats 3] [--solver cbc]
"""

from __future__ import annotations

import argparse
import statistics

import econonexus as enx
from benchmarks.common import cluster, median_seconds, print_table
from benchmarks.vcg_vs_naive import INSTANCES, instance


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solver", choices=["cbc", "highs"], default="cbc")
    parser.add_argument("--max-bids", type=int, default=1000, help="skip larger instances")
    args = parser.parse_args()
    rows, ratios = [], []
    with cluster(2) as client:
        enx.clear(enx.generate("decay", goods=20, bids=40, seed=0), client=client)  # warm up
        for dist, goods, n_bids, seed in INSTANCES:
            if n_bids > args.max_bids:
                continue
            bids = instance(dist, goods, n_bids, seed)
            timed = {}
            for rule in ("vcg", "core"):
                timed[rule] = median_seconds(
                    lambda bids=bids, rule=rule: enx.clear(
                        bids,
                        client=client,
                        solver=args.solver,
                        markets={"m": {"payment_rule": rule}},
                    ),
                    repeats=args.repeats,
                )
            (t_vcg, vcg), (t_core, core) = timed["vcg"], timed["core"]
            ratio = t_core / t_vcg
            ratios.append(ratio)
            exact = bool(core.allocations["payment_exact"].all())
            print(f"{dist} {goods}x{n_bids} s{seed}: vcg {t_vcg:.2f} s, core {t_core:.2f} s",
                  flush=True)  # fmt: skip
            rows.append(
                (
                    f"{dist} {goods}x{n_bids} s{seed}",
                    int(core.allocations["won"].sum()),
                    t_vcg,
                    t_core,
                    ratio,
                    float(vcg.summary["revenue"][0]),
                    float(core.summary["revenue"][0]),
                    exact,
                )
            )
    print_table(
        f"core vs VCG payments, {args.solver}, 2 workers, median of {args.repeats}",
        ["instance", "winning bids", "vcg s", "core s", "core / vcg", "vcg revenue",
         "core revenue", "core exact"],
        rows,
    )  # fmt: skip
    print(
        f"\nmedian core / vcg time {statistics.median(ratios):.3f}, max {max(ratios):.3f} "
        "(target: median <= 3)"
    )


if __name__ == "__main__":
    main()
