"""Scale: batches of many markets, a 10,000-agent round, and a CLI run against a served cluster.

Cases (issue 15), each timed end to end on a warm 2-worker LocalCluster
(median of ``--repeats``):

- ``round``: one round of 10,000 agents in simulate's market shape
  (first-price, Vickrey, English and combinatorial markets), detection on;
  target <= 1.0 s.
- ``vickrey``: ``--markets`` one-auction Vickrey markets of 10 bids each,
  results written to Parquet; target >= 50,000 markets/s at 100,000.
- ``combinatorial``: ``--combos`` combinatorial markets of 12 bids on 8
  items each; target >= 2,000 markets/s at 20,000.
- ``cli``: ``econonexus clear data/bids.csv`` finding a running
  ``econonexus serve`` through its scheduler file; target <= 1.5 s wall.

The baseline is the commit before the work, run with the same script (the
cases it cannot finish are run smaller: ``--markets``, ``--combos``).

Run: python -m benchmarks.scale [--repeats 3] [--markets 100000] [--combos 20000]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import dask.config
import numpy as np
import polars as pl

import econonexus as enx
from benchmarks.common import cluster, median_seconds, print_table
from econonexus.agents.pool import AgentPool
from econonexus.agents.population import population
from econonexus.pipelines.sim.simulate import default_markets

DATA = pathlib.Path(__file__).parents[1] / "data"


def round_bids(client: object, agents: int, root: str) -> tuple[pl.DataFrame, dict[str, object]]:
    """One bid round of ``agents`` agents in simulate's default markets (8 items each)."""
    markets = default_markets()
    offer = pl.DataFrame(
        [(m, f"{m}-i{k}", s["format"]) for m, s in sorted(markets.items()) for k in range(8)],
        schema=["market_id", "item_id", "format"],
        orient="row",
    )
    people = population(agents, offer, seed=0)
    pool = AgentPool.create(client, people, shards=8, root=root)  # type: ignore[arg-type]
    try:
        bids = pool.bid_round(offer, seed=0, round_no=0).bids
    finally:
        pool.close()
    return pl.from_arrow(bids), markets  # type: ignore[return-value]


def vickrey_markets(n: int, per: int = 10) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` one-auction Vickrey markets of ``per`` bids, and their markets table."""
    rng = np.random.default_rng(1)
    market = np.repeat(np.arange(n), per)
    ids = pl.Series("m", market).cast(pl.String)
    bids = pl.DataFrame(
        {
            "bid_id": pl.Series(np.arange(n * per)).cast(pl.String),
            "agent_id": pl.Series(rng.integers(0, 50_000, n * per)).cast(pl.String),
            "market_id": "v" + ids,
            "items": pl.Series([["x"]]).extend_constant(["x"], n * per - 1),
            "price": np.round(rng.uniform(1, 100, n * per), 2),
        }
    )
    table = pl.DataFrame({"market_id": [f"v{i}" for i in range(n)], "format": "vickrey"})
    return bids, table


def small_combinatorial(n: int) -> pl.DataFrame:
    """``n`` combinatorial markets of 12 bids on 8 items (bundles of 1-3 items)."""
    rng = np.random.default_rng(2)
    rows = []
    for m in range(n):
        for b in range(12):
            size = int(rng.integers(1, 4))
            items = [f"g{g}" for g in sorted(rng.choice(8, size, replace=False))]
            rows.append((f"c{m}-{b}", f"a{b}", f"c{m}", items, round(float(rng.uniform(1, 50)), 2)))
    return pl.DataFrame(
        rows, schema=["bid_id", "agent_id", "market_id", "items", "price"], orient="row"
    )


def cli_seconds(repeats: int) -> float:
    """Median wall time of ``econonexus clear data/bids.csv`` against a served cluster."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DASK_ECONONEXUS__CLUSTER__SCHEDULER_FILE": f"{tmp}/scheduler.json"}
        cli = [sys.executable, "-m", "econonexus.pipelines.ops.cli"]
        served = subprocess.Popen(
            [*cli, "serve", "--port", "0", "--scheduler-port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert served.stdout is not None
            for line in served.stdout:
                if line.startswith("serving"):
                    break
            command = [*cli, "clear", str(DATA / "bids.csv"), "--out", f"{tmp}/runs"]

            def once() -> None:
                subprocess.run(command, env=env, check=True, capture_output=True)

            return median_seconds(once, repeats=repeats)[0]
        finally:
            served.terminate()
            served.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--markets", type=int, default=100_000)
    parser.add_argument("--combos", type=int, default=20_000)
    parser.add_argument("--cases", default="round,vickrey,combinatorial,cli")
    args = parser.parse_args()
    cases = args.cases.split(",")
    rows = []
    with cluster(2) as c, tempfile.TemporaryDirectory() as tmp:
        if "round" in cases:
            bids, markets = round_bids(c, args.agents, f"{tmp}/pool")
            enx.clear(bids, markets=markets, client=c)  # warm
            t, result = median_seconds(
                lambda: enx.clear(bids, markets=markets, client=c), repeats=args.repeats
            )
            rows.append(("round", f"{args.agents} agents, {bids.height} bids", t, "-", 1.0))
            with dask.config.set({"econonexus.detection.mode": "off"}):
                off, _ = median_seconds(
                    lambda: enx.clear(bids, markets=markets, client=c), repeats=args.repeats
                )
            share = f"detection {(t - off) / t:.0%} of the clear"
            rows.append(("round, detection off", share, off, "-", "<= 10%"))
        if "vickrey" in cases:
            bids, table = vickrey_markets(args.markets)
            runs = iter(range(args.repeats))  # a fresh folder each: never the stored run
            t, result = median_seconds(
                lambda: enx.clear(bids, markets=table, client=c, out=f"{tmp}/v{next(runs)}"),
                repeats=args.repeats,
            )
            assert result.summary.height == args.markets
            rows.append(("vickrey", f"{args.markets} markets", t, args.markets / t, 50_000))
        if "combinatorial" in cases:
            bids = small_combinatorial(args.combos)
            t, result = median_seconds(lambda: enx.clear(bids, client=c), repeats=args.repeats)
            assert result.summary.height == args.combos
            rows.append(("combinatorial", f"{args.combos} markets", t, args.combos / t, 2_000))
    if "cli" in cases:
        start = time.perf_counter()
        t = cli_seconds(args.repeats)
        rows.append(("cli", "clear data/bids.csv via serve", t, "-", 1.5))
        del start
    print_table(
        "scale (median seconds, 2 workers)",
        ["case", "size", "seconds", "markets/s", "target"],
        rows,
    )


if __name__ == "__main__":
    main()
