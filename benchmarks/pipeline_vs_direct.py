"""Pipeline on a 2-worker LocalCluster vs a direct monolithic PuLP solve.

The direct baseline is what a user would write by hand: one PuLP model over
all bids (one constraint per item, one per XOR group), solved by the same
backend with the same settings (relative gap 0, one thread), timed from the
same in-memory table. Targets (issue 2): over instances whose direct solve
takes >= 0.5 s, median ratio <= 1.0 and none above 1.5; for the smaller
ones, report the pipeline's fixed overhead in milliseconds.

Run: python -m benchmarks.pipeline_vs_direct [--repeats 3] [--solver cbc]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import polars as pl
import pulp

import econonexus as enx
from benchmarks.common import cluster, median_seconds, print_table
from econonexus.solvers.backends import SolveLimits

INSTANCES = [
    ("decay", 50, 200, 1),
    ("paths", 50, 200, 1),
    ("uniform", 30, 120, 1),
    ("weighted-random", 50, 200, 1),
    ("decay", 200, 1000, 1),
    ("decay", 200, 1000, 2),
    ("paths", 200, 1000, 1),
    ("paths", 200, 1000, 2),
    ("uniform", 60, 300, 1),
    ("uniform", 70, 350, 1),
    ("uniform", 70, 350, 2),
    ("uniform", 80, 400, 1),
    ("uniform", 80, 400, 2),
    ("weighted-random", 100, 500, 1),
    ("weighted-random", 100, 500, 2),
    ("weighted-random", 110, 550, 3),
    ("weighted-random", 120, 600, 4),
]


def direct_solve(
    bids: pl.DataFrame, solver: str, *, winners: bool = False, cbc_options: tuple[str, ...] = ()
) -> Any:
    """Build and solve one PuLP model over all bids; return the welfare (and winning bid ids).

    CBC runs with PuLP's defaults, as a user would write it, unless ``cbc_options`` are given.
    """
    model = pulp.LpProblem("direct", pulp.LpMaximize)
    rows = bids.select("bid_id", "agent_id", "items", "price", "xor_group").to_dicts()
    x = {r["bid_id"]: pulp.LpVariable(f"x{i}", cat="Binary") for i, r in enumerate(rows)}
    model += pulp.lpSum(r["price"] * x[r["bid_id"]] for r in rows)
    by_item: dict[str, list[str]] = {}
    by_group: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        for item in r["items"]:
            by_item.setdefault(item, []).append(r["bid_id"])
        if r["xor_group"] is not None:
            by_group.setdefault((r["agent_id"], r["xor_group"]), []).append(r["bid_id"])
    for members in [*by_item.values(), *by_group.values()]:
        if len(members) > 1:
            model += pulp.lpSum(x[b] for b in members) <= 1
    backend = (
        # single-threaded; see CbcBackend on threads=1
        pulp.PULP_CBC_CMD(msg=False, gapRel=0, options=list(cbc_options))
        if solver == "cbc"
        else pulp.HiGHS(msg=False, gapRel=0, threads=1)
    )
    model.solve(backend)
    won = {r["bid_id"] for r in rows if (x[r["bid_id"]].varValue or 0) > 0.5}
    welfare = float(sum(r["price"] for r in rows if r["bid_id"] in won))
    return (welfare, won) if winners else welfare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solver", choices=["cbc", "highs"], default="cbc")
    args = parser.parse_args()
    rows, big, small = [], [], []
    # the pipeline's CBC options, for a second baseline that differs from it only in layout
    same = SolveLimits().cbc_options if args.solver == "cbc" else ()
    with cluster(2) as client:
        enx.clear(enx.generate("decay", goods=20, bids=40, seed=0), client=client)  # warm up
        for dist, goods, n_bids, seed in INSTANCES:
            bids = enx.generate(dist, goods=goods, bids=n_bids, seed=seed, market_id="m")
            t_direct, w_direct = median_seconds(
                lambda bids=bids: direct_solve(bids, args.solver), repeats=args.repeats
            )
            t_pipe, result = median_seconds(
                lambda bids=bids: enx.clear(bids, client=client, solver=args.solver),
                repeats=args.repeats,
            )
            t_same, _ = median_seconds(
                lambda bids=bids: direct_solve(bids, args.solver, cbc_options=same),
                repeats=args.repeats,
            )
            summary = result.summary.row(0, named=True)
            assert abs(summary["welfare"] - w_direct) <= 1e-6 * max(1.0, w_direct), (dist, goods)
            ratio = t_pipe / t_direct
            (big if t_direct >= 0.5 else small).append((ratio, t_pipe - t_direct))
            rows.append(
                (
                    f"{dist} {goods}x{n_bids} s{seed}",
                    summary["components"],
                    t_direct,
                    t_pipe,
                    ratio,
                    (t_pipe - t_direct) * 1000,
                    t_same,
                    t_pipe / t_same,
                )
            )
    print_table(
        f"Pipeline (2 workers) vs direct PuLP, {args.solver}, median of {args.repeats}",
        [
            "instance",
            "components",
            "direct s",
            "pipeline s",
            "ratio",
            "overhead ms",
            "direct, same CBC options s",
            "ratio vs same options",
        ],
        rows,
    )
    if big:
        ratios = [r for r, _ in big]
        print(
            f"\ninstances with direct >= 0.5 s: {len(big)}; median ratio "
            f"{statistics.median(ratios):.3f} (target <= 1.0); "
            f"max {max(ratios):.3f} (target <= 1.5)"
        )
    if small:
        print(
            f"instances with direct < 0.5 s: {len(small)}; median overhead "
            f"{statistics.median(o for _, o in small) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
