"""Manipulation detection on planted markets: recall and false-positive rate per kind.

Target (issue 5): recall >= 0.9 and false-positive rate <= 0.05 for each of
rings, shills and sybils. Prints the confusion table of every seed and the
medians, with the detection time against a baseline measured in the same run
(building the bids table itself).

Run: python -m benchmarks.detection [--seeds 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import polars as pl

from benchmarks.common import print_table
from econonexus.agents.detection import detect
from tests.planted import detection_scores, planted_market


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
    bids = planted_market(seed=0).bids.height
    detect_median, build_median = statistics.median(detect_s), statistics.median(build_s)
    print_table(
        f"seconds, median of {args.seeds} ({bids} bids per market)",
        ["detect", "generate (baseline)", "ratio"],
        [(detect_median, build_median, detect_median / build_median)],
    )


if __name__ == "__main__":
    main()
