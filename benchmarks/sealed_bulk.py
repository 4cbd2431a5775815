"""Bulk sealed-bid clearing: auctions per second, vectorised vs a per-auction Python loop.

1,000,000 single-item auctions of 10 bids each (float prices, one unit,
reserve 0), cleared by :func:`econonexus.solvers.sealed.clear_sealed` with
both rules, bids grouped by auction (as a bid feed per lot arrives) and
shuffled. Baseline: the obvious per-auction loop (sort each auction's bids,
take the top one, price it), timed on 50,000 auctions in the same run.
Target (issue 3): >= 1,000,000 auctions per second on this 2-core machine.

Run: python -m benchmarks.sealed_bulk [--repeats 5] [--auctions 1000000]
"""

from __future__ import annotations

import argparse

import numpy as np
import polars as pl

from benchmarks.common import median_seconds, print_table
from econonexus.solvers.sealed import clear_sealed

BIDS_PER_AUCTION = 10


def make_bids(n_auctions: int, *, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_auctions * BIDS_PER_AUCTION
    auction = np.repeat(np.arange(n_auctions), BIDS_PER_AUCTION)
    return pl.DataFrame(
        {
            "market_id": "bulk",
            "item_id": pl.Series(auction).cast(pl.String),
            "bid_id": pl.Series(np.arange(n)).cast(pl.String),
            "price": rng.uniform(1.0, 100.0, n),
        }
    )


def loop_vickrey(bids: pl.DataFrame) -> list[tuple[str, float]]:
    """The per-auction baseline: one Python sort per auction."""
    auctions: dict[str, list[tuple[float, str]]] = {}
    for item, bid, price in bids.select("item_id", "bid_id", "price").iter_rows():
        auctions.setdefault(item, []).append((price, bid))
    out = []
    for offers in auctions.values():
        offers.sort(reverse=True)
        out.append((offers[0][1], offers[1][0] if len(offers) > 1 else 0.0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--auctions", type=int, default=1_000_000)
    args = parser.parse_args()
    grouped = make_bids(args.auctions)
    shuffled = grouped.sample(fraction=1.0, shuffle=True, seed=1)
    sample = make_bids(50_000, seed=2)
    t_loop, _ = median_seconds(lambda: loop_vickrey(sample), repeats=args.repeats)
    loop_rate = 50_000 / t_loop
    rows = [("per-auction Python loop (vickrey)", "grouped", 50_000, t_loop, loop_rate, 1.0)]
    clear_sealed(sample, rule="second-price")  # warm up: Polars' thread pool, first allocations
    for rule in ("second-price", "first-price"):
        for layout, frame in (("grouped", grouped), ("shuffled", shuffled)):
            t, out = median_seconds(
                lambda frame=frame, rule=rule: clear_sealed(frame, rule=rule),
                repeats=args.repeats,
            )
            assert out["won"].sum() == args.auctions
            rate = args.auctions / t
            rows.append((f"clear_sealed {rule}", layout, args.auctions, t, rate, rate / loop_rate))
    print_table(
        f"Bulk sealed-bid, {BIDS_PER_AUCTION} bids per auction, median of {args.repeats}",
        ["method", "bid order", "auctions", "seconds", "auctions/s", "speed-up vs loop"],
        rows,
    )
    print("\ntarget: >= 1,000,000 auctions/s")


if __name__ == "__main__":
    main()
