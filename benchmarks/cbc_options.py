"""CBC with EconoNexus's options (cut generators off, probing on) vs CBC's defaults.

Same models (the winner determination problem of ``solvers.wdp.build_model``,
tie-weighted objective), same single thread, gap 0; only the options differ.
Two workloads: each instance's largest component solved once (the main
clearing), and every VCG re-solve of one market in turn. Both optima must be
equal. Baseline in the same run: CBC's defaults.

A second table times the VCG re-solves that planning leaves to the MIP (those
with a fractional LP) as the pipeline runs them: from the current allocation
as a MIP start with the ``solver.cbc-start-options`` setting, against the
``solver.cbc-options`` setting without a start (the pipeline before the start options).

Run: python -m benchmarks.cbc_options [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

import econonexus as enx
from benchmarks.common import median_seconds, print_table
from econonexus.solvers.backends import SolveLimits, get_backend
from econonexus.solvers.market import clear_market, plan_market
from econonexus.solvers.problem import MarketProblem, build_problem
from econonexus.solvers.vcg import VcgJob, vcg_plan
from econonexus.solvers.wdp import build_model
from tests.vcg_reference import vcg_jobs

MAIN = [
    ("uniform", 70, 350, 1),
    ("uniform", 80, 400, 1),
    ("uniform", 80, 400, 2),
    ("weighted-random", 100, 500, 1),
    ("weighted-random", 110, 550, 3),
    ("weighted-random", 120, 600, 4),
    ("decay", 200, 1000, 1),
]
VCG = [("decay", 100, 400, 2), ("weighted-random", 80, 300, 2), ("uniform", 40, 150, 1)]
STARTS = [
    ("decay", 50, 200, 1),
    ("decay", 100, 400, 2),
    ("weighted-random", 60, 250, 1),
    ("weighted-random", 80, 300, 2),
    ("uniform", 40, 150, 1),
]


def solve(problem: MarketProblem, options: tuple[str, ...]) -> float:
    """Solve ``problem`` with CBC and ``options``; return the optimum (tie units)."""
    model, variables, _ = build_model(problem)
    result = get_backend("cbc").solve(model, variables, SolveLimits(cbc_options=options))
    assert result.proven
    return float(result.bound)


def solve_from_start(job: VcgJob, started: bool) -> float:
    """Solve a VCG re-solve from its start with the start options, or without it; the optimum."""
    model, variables, _ = build_model(job.problem)
    start = job.start.astype(np.float64) if started else None
    result = get_backend("cbc").solve(model, variables, SolveLimits(), start)
    assert result.proven
    return float(result.bound)


def start_rows(repeats: int) -> list[tuple[object, ...]]:
    """The MIP re-solves of each ``STARTS`` market, with and without the start."""
    rows: list[tuple[object, ...]] = []
    for family, goods, n_bids, seed in STARTS:
        bids = enx.generate(family, goods=goods, bids=n_bids, seed=seed, market_id="m")
        problem = build_problem("m", bids, None, tie_epsilon=1e-6)
        jobs = vcg_plan(problem, clear_market(problem).won, enumerate_max=10).jobs
        t_cold, v_cold = median_seconds(
            lambda jobs=jobs: [solve_from_start(j, False) for j in jobs], repeats=repeats
        )
        t_warm, v_warm = median_seconds(
            lambda jobs=jobs: [solve_from_start(j, True) for j in jobs], repeats=repeats
        )
        assert np.allclose(v_cold, v_warm, rtol=1e-12), (family, goods, seed)
        name = f"{len(jobs)} MIP re-solves {family} {goods}x{n_bids} s{seed}"
        rows.append((name, t_cold, t_warm, t_warm / t_cold))
    return rows


def largest(family: str, goods: int, n_bids: int, seed: int) -> MarketProblem:
    bids = enx.generate(family, goods=goods, bids=n_bids, seed=seed, market_id="m")
    problem = build_problem("m", bids, None, tie_epsilon=1e-6)
    return plan_market(problem).pending[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tuned = SolveLimits().cbc_options  # the solver.cbc-options setting
    rows, ratios = [], []
    for family, goods, n_bids, seed in MAIN:
        sub = largest(family, goods, n_bids, seed)
        t_default, v_default = median_seconds(lambda sub=sub: solve(sub, ()), repeats=args.repeats)
        t_tuned, v_tuned = median_seconds(lambda sub=sub: solve(sub, tuned), repeats=args.repeats)
        assert np.isclose(v_default, v_tuned, rtol=1e-12), (family, goods, seed)
        ratios.append(t_tuned / t_default)
        name = f"main solve {family} {goods}x{n_bids} s{seed}"
        rows.append((name, sub.n_bids, t_default, t_tuned, t_tuned / t_default))
    for family, goods, n_bids, seed in VCG:
        bids = enx.generate(family, goods=goods, bids=n_bids, seed=seed, market_id="m")
        problem = build_problem("m", bids, None, tie_epsilon=1e-6)
        jobs = vcg_jobs(problem, clear_market(problem).won)

        t_default, v_default = median_seconds(
            lambda jobs=jobs: [solve(j.problem, ()) for j in jobs], repeats=args.repeats
        )
        t_tuned, v_tuned = median_seconds(
            lambda jobs=jobs: [solve(j.problem, SolveLimits().cbc_options) for j in jobs],
            repeats=args.repeats,
        )
        assert np.allclose(v_default, v_tuned, rtol=1e-12), (family, goods, seed)
        ratios.append(t_tuned / t_default)
        name = f"{len(jobs)} VCG re-solves {family} {goods}x{n_bids} s{seed}"
        rows.append((name, problem.n_bids, t_default, t_tuned, t_tuned / t_default))
    print_table(
        f"CBC options {list(tuned)} vs CBC defaults, median of {args.repeats}",
        ["workload", "bids", "defaults s", "options s", "ratio"],
        rows,
    )
    print(f"\nmedian ratio {statistics.median(ratios):.3f}; max {max(ratios):.3f}")
    rows = start_rows(args.repeats)
    print_table(
        f"VCG MIP re-solves: MIP start with {list(SolveLimits().cbc_start_options)} vs "
        f"{list(tuned)} without a start, median of {args.repeats}",
        ["workload", "options, no start s", "start options, start s", "ratio"],
        rows,
    )
    ratios = [float(r[-1]) for r in rows]  # type: ignore[arg-type]
    print(f"\nmedian ratio {statistics.median(ratios):.3f}; max {max(ratios):.3f}")


if __name__ == "__main__":
    main()
