"""Manipulation detection on planted markets: recall and false-positive rate per kind.

Target (issue 5): recall >= 0.9 and false-positive rate <= 0.05 for each of
rings, shills and sybils. Prints the confusion table of every seed and the
medians, with the detection time against a baseline measured in the same run
(building the bids table itself). Issue 18: shills on the sell side of a
procurement market (a buyer's fake offers just above the winning ask, among
honest and dear honest sellers: :func:`tests.planted.planted_procurement`),
judged from the offers alone.

Run: python -m benchmarks.detection [--seeds 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import polars as pl

from benchmarks.common import print_table
from econonexus.agents.detection import detect
from tests.planted import detection_scores, planted_market, planted_procurement


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    tables, detect_s, build_s = [], [], []
    for seed in range(args.seeds):
        start = time.perf_counter()
        market = planted_market(seed=seed)
        build_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        flagged = detect(market.bids, market.accounts)
        detect_s.append(time.perf_counter() - start)
        tables.append(detection_scores(flagged, market.truth).with_columns(seed=pl.lit(seed)))
    scores = pl.concat(tables)
    print_table(
        f"confusion per kind, summed over {args.seeds} planted markets",
        ["kind", "true pos", "false neg", "false pos", "true neg", "recall", "FP rate", "met"],
        [
            (
                k,
                tp,
                fn,
                fp,
                tn,
                tp / (tp + fn),
                fp / (fp + tn),
                tp / (tp + fn) >= 0.9 and fp / (fp + tn) <= 0.05,
            )
            for k, tp, fn, fp, tn in scores.group_by("kind", maintain_order=True)
            .agg(pl.col("true_pos", "false_neg", "false_pos", "true_neg").sum())
            .iter_rows()
        ],
    )
    worst = scores.group_by("kind", maintain_order=True).agg(
        pl.col("recall").min().alias("worst recall"),
        pl.col("false_pos_rate").max().alias("worst FP rate"),
    )
    print_table("worst seed per kind", worst.columns, worst.rows())
    print_table(
        f"procurement shills (sell side), summed over {args.seeds} planted markets",
        ["true pos", "false neg", "false pos", "true neg", "recall", "FP rate", "met"],
        [procurement_scores(args.seeds)],
    )
    bids = planted_market(seed=0).bids.height
    detect_median, build_median = statistics.median(detect_s), statistics.median(build_s)
    print_table(
        f"seconds, median of {args.seeds} ({bids} bids per market)",
        ["detect", "generate (baseline)", "ratio"],
        [(detect_median, build_median, detect_median / build_median)],
    )


def procurement_scores(seeds: int) -> tuple[int, int, int, int, float, float, bool]:
    """Shill recall and false-positive rate on the sell side of planted procurement markets
    (the lowest ask of each task wins, as a pay-as-bid procurement market clears it)."""
    tp = fn = fp = tn = 0
    for seed in range(seeds):
        offers, truth = planted_procurement(seed=seed)
        auction = pl.format("tasks:{}", pl.col("items").list.first())
        bids = offers.select(
            "agent_id",
            auction.alias("auction"),
            "price",
            (pl.col("price") == pl.col("price").min().over(auction)).alias("won"),
            pl.lit("sell").alias("side"),
            pl.lit("buyer of tasks").alias("seller"),
        )
        called = set(detect(bids).filter(pl.col("kind") == "shill")["agent_id"])
        shills = set(truth.filter(pl.col("truth") == "shill")["agent_id"])
        honest = set(truth["agent_id"]) - shills
        tp, fn = tp + len(called & shills), fn + len(shills - called)
        fp, tn = fp + len(called & honest), tn + len(honest - called)
    recall, fp_rate = tp / (tp + fn), fp / (fp + tn)
    return tp, fn, fp, tn, recall, fp_rate, recall >= 0.9 and fp_rate <= 0.05


if __name__ == "__main__":
    main()
