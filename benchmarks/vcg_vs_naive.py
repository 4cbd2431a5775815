"""VCG payments: the pipeline vs the naive method, same backend.

Naive: one direct PuLP solve of the whole market, then one full re-solve
per winning agent without that agent's bids, one after another (the
textbook Clarke pivot). Pipeline: ``econonexus.clear`` with
``payment_rule="vcg"`` on a 2-worker LocalCluster: re-solves only the
sub-components a winner's departure can change; settles while planning those
it can enumerate or whose LP relaxation is integral; runs the rest as
parallel ``enx-vcg`` MIP tasks that start from the current allocation. Both times include the
main clearing. Target (issue 3): ratio <= 0.3 for instances with 10 to 60
winners. Payments are checked against the naive ones.

Run: python -m benchmarks.vcg_vs_naive [--repeats 3] [--solver cbc]
"""

from __future__ import annotations

import argparse
import statistics

import polars as pl

import econonexus as enx
from benchmarks.common import cluster, median_seconds, print_table
from benchmarks.pipeline_vs_direct import direct_solve
from econonexus.solvers.backends import SolveLimits

# (family, goods, bids, seed); "blocks-K" merges K independent decay instances of that
# size into one market (disjoint items): a market of several independent components.
INSTANCES = [
    ("blocks-3", 30, 100, 1),
    ("blocks-6", 20, 60, 2),
    ("blocks-8", 12, 40, 3),
    ("decay", 50, 200, 1),
    ("decay", 100, 400, 2),
    ("paths", 100, 400, 1),
    ("paths", 200, 1000, 2),
    ("weighted-random", 60, 250, 1),
    ("weighted-random", 80, 300, 2),
    ("uniform", 40, 150, 1),
    ("decay", 200, 1000, 3),
]


def instance(family: str, goods: int, n_bids: int, seed: int) -> pl.DataFrame:
    """A generated market; ``blocks-K`` joins K independent ones with disjoint items."""
    if not family.startswith("blocks-"):
        return enx.generate(family, goods=goods, bids=n_bids, seed=seed, market_id="m")
    parts = []
    for k in range(int(family.removeprefix("blocks-"))):
        part = enx.generate("decay", goods=goods, bids=n_bids, seed=seed * 100 + k, market_id="m")
        parts.append(
            part.with_columns(
                pl.col("bid_id") + f"/{k}",
                pl.col("agent_id") + f"/{k}",
                pl.col("items").list.eval(pl.element() + f"/{k}"),
            )
        )
    return pl.concat(parts)


def naive_vcg(
    bids: pl.DataFrame, solver: str, cbc_options: tuple[str, ...] = ()
) -> dict[str, float]:
    """Clarke pivot by full re-solves, one winning agent at a time; payments per agent."""
    welfare, winners = direct_solve(bids, solver, winners=True, cbc_options=cbc_options)
    chosen = bids.filter(pl.col("bid_id").is_in(list(winners)))
    payments = {}
    for agent in sorted(set(chosen["agent_id"].to_list())):
        value = float(chosen.filter(pl.col("agent_id") == agent)["price"].sum())
        others = bids.filter(pl.col("agent_id") != agent)
        without, _ = direct_solve(others, solver, winners=True, cbc_options=cbc_options)
        payments[agent] = without - (welfare - value)
    return payments


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solver", choices=["cbc", "highs"], default="cbc")
    args = parser.parse_args()
    rows, ratios = [], []
    same = SolveLimits().cbc_options if args.solver == "cbc" else ()  # a second naive baseline
    with cluster(2) as client:
        enx.clear(enx.generate("decay", goods=20, bids=40, seed=0), client=client)  # warm up
        for dist, goods, n_bids, seed in INSTANCES:
            bids = instance(dist, goods, n_bids, seed)
            t_naive, expected = median_seconds(
                lambda bids=bids: naive_vcg(bids, args.solver), repeats=args.repeats
            )
            t_same, _ = median_seconds(
                lambda bids=bids: naive_vcg(bids, args.solver, same), repeats=args.repeats
            )
            t_pipe, result = median_seconds(
                lambda bids=bids: enx.clear(
                    bids, client=client, solver=args.solver, markets={"m": {"payment_rule": "vcg"}}
                ),
                repeats=args.repeats,
            )
            paid = result.allocations.group_by("agent_id").agg(pl.col("payment").sum())
            got = dict(paid.filter(pl.col("payment") > 0).rows())
            for agent, amount in expected.items():
                tolerance = 1e-5 * max(1.0, abs(amount))
                assert abs(got.get(agent, 0.0) - amount) <= tolerance, (dist, agent)
            components = int(result.summary["components"][0])
            ratio = t_pipe / t_naive
            if 10 <= len(expected) <= 60:
                ratios.append(ratio)
            name = f"{dist} {goods}x{n_bids} s{seed}"
            rows.append(
                (name, components, len(expected), t_naive, t_pipe, ratio, t_same, t_pipe / t_same)
            )
    print_table(
        f"VCG: pipeline (2 workers) vs naive re-solves, {args.solver}, median of {args.repeats}",
        [
            "instance",
            "components",
            "winning agents",
            "naive s",
            "pipeline s",
            "ratio",
            "naive, same CBC options s",
            "ratio vs same options",
        ],
        rows,
    )
    if ratios:
        print(
            f"\ninstances with 10-60 winning agents: {len(ratios)}; median ratio "
            f"{statistics.median(ratios):.3f}, max {max(ratios):.3f} (target <= 0.3)"
        )


if __name__ == "__main__":
    main()
