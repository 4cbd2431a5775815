"""The solver portfolio on the CATS families: time to proven optimum, pipeline vs CP-SAT.

Instances: 10 CATS families from ``generate`` (arbitrary, matching, paths,
regions, scheduling, L2, L3, L4, L6, L7) x 3 sizes (50x200, 100x500,
200x1000) x 3 seeds (1-3). Solvers, one run each, ``--limit`` seconds per
instance (60):

- ``pipeline``: ``enx.clear`` with the default settings on a warm 2-worker
  ``LocalCluster`` (wall time of the call, the clear's ``batch_time_limit``
  set to the limit);
- ``pipeline-cbc``, ``pipeline-highs``: the same with one backend forced;
  ``pipeline-model``, ``pipeline-race`` (not run by default): the backend
  chosen by the model only, or raced;
- ``cpsat``: OR-Tools CP-SAT, one thread, in a process of its own
  (:mod:`benchmarks.cpsat`; model build and solve).

Reported: per instance the seconds (``>L`` when not proven) and the
shifted geometric mean (shift 1 s; unproven instances count at the limit)
and proven count per solver; for instances no solver proves, the
pipeline's welfare against the best any solver found and its reported gap.
Results go to a JSON-lines file as they come (``--results``), and a rerun
skips what it holds, so a long run can be resumed.

Run: python -m benchmarks.portfolio [--limit 60] [--families L3,L7] [--sizes 50x200]
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any

import dask

import econonexus as enx
from benchmarks.common import cluster, print_table

FAMILIES = ("arbitrary", "matching", "paths", "regions", "scheduling", "L2", "L3", "L4", "L6", "L7")
SIZES = ("50x200", "100x500", "200x1000")
SEEDS = (1, 2, 3)
SOLVERS = ("pipeline", "pipeline-cbc", "pipeline-highs", "cpsat")
CONFIGS: dict[str, tuple[str | None, str | None]] = {  # solver, portfolio; None: the default
    "pipeline": (None, None),
    "pipeline-cbc": ("cbc", None),
    "pipeline-highs": ("highs", None),
    "pipeline-model": ("auto", "single"),  # the backend-choice model alone
    "pipeline-race": ("auto", "race"),
}
SHIFT = 1.0


def run_pipeline(client: Any, bids: Any, solver: str, limit: float) -> dict[str, Any]:
    """Clear ``bids`` through the API with ``solver``'s setting; its outcome."""
    backend, portfolio = CONFIGS[solver]
    settings = {} if portfolio is None else {"econonexus.solver.portfolio": portfolio}
    with dask.config.set(settings):
        start = time.perf_counter()
        result = enx.clear(bids, client=client, solver=backend, batch_time_limit=limit)
        seconds = time.perf_counter() - start
    row = result.summary.row(0, named=True)
    return {
        "seconds": seconds,
        "proven": row["status"] == "optimal",
        "welfare": row["welfare"],
        "bound": row["bound"],
        "backend": row["solver"],
    }


def run_cpsat(bids: Any, limit: float) -> dict[str, Any]:
    """Solve ``bids`` with CP-SAT in a subprocess (:mod:`benchmarks.cpsat`)."""
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "bids.parquet"
        bids.write_parquet(path)
        command = [sys.executable, "-m", "benchmarks.cpsat", str(path), "--time-limit", str(limit)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    outcome: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return outcome


def shifted_geomean(seconds: list[float]) -> float:
    """exp(mean(log(t + shift))) - shift."""
    return math.exp(sum(math.log(t + SHIFT) for t in seconds) / len(seconds)) - SHIFT


def _load(path: pathlib.Path) -> dict[tuple[str, str, int, str], dict[str, Any]]:
    if not path.exists():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        found[(r["family"], r["size"], r["seed"], r["solver"])] = r
    return found


def measure(args: argparse.Namespace) -> dict[tuple[str, str, int, str], dict[str, Any]]:
    """Run every instance and solver not yet in the results file; return all results."""
    path = pathlib.Path(args.results)
    results = _load(path)
    with cluster(2) as client, path.open("a") as out:
        enx.clear(enx.generate("L3", goods=20, bids=60, seed=0), client=client)  # warm up
        for family in args.families:
            for size in args.sizes:
                goods, n_bids = (int(v) for v in size.split("x"))
                for seed in args.seeds:
                    bids = enx.generate(family, goods=goods, bids=n_bids, seed=seed, market_id="m")
                    for solver in args.solvers:
                        key = (family, size, seed, solver)
                        if key in results:
                            continue
                        if solver == "cpsat":
                            outcome = run_cpsat(bids, args.limit)
                        else:
                            outcome = run_pipeline(client, bids, solver, args.limit)
                        record = dict(zip(("family", "size", "seed", "solver"), key, strict=True))
                        results[key] = record | outcome
                        out.write(json.dumps(results[key]) + "\n")
                        out.flush()
                        print(key, round(outcome["seconds"], 3), outcome["proven"], flush=True)
    return results


def report(args: argparse.Namespace, results: dict[tuple[str, str, int, str], Any]) -> None:
    """Print the per-instance table, the summary per solver, and the unproven instances."""
    instances = [
        (f, s, seed)
        for f in args.families
        for s in args.sizes
        for seed in args.seeds
        if all((f, s, seed, v) in results for v in args.solvers)
    ]
    rows = []
    for inst in instances:
        cells = [results[(*inst, v)] for v in args.solvers]
        shown = [f"{c['seconds']:.2f}" if c["proven"] else f">{args.limit:.0f}" for c in cells]
        rows.append(
            [
                f"{inst[0]} {inst[1]} s{inst[2]}",
                *shown,
                results[(*inst, "pipeline")].get("backend", ""),
            ]
        )
    print_table(
        f"Seconds to proven optimum, {args.limit:.0f} s limit",
        ["instance", *args.solvers, "pipeline's backend"],
        rows,
    )
    summary = []
    for v in args.solvers:
        cells = [results[(*inst, v)] for inst in instances]
        times = [c["seconds"] if c["proven"] else args.limit for c in cells]
        proven = sum(c["proven"] for c in cells)
        summary.append([v, shifted_geomean(times), f"{proven}/{len(cells)}"])
    print_table("Shifted geometric mean (shift 1 s)", ["solver", "seconds", "proven"], summary)
    _report_unproven(args, results, instances)


def _report_unproven(
    args: argparse.Namespace, results: dict[Any, Any], instances: list[Any]
) -> None:
    rows = []
    for inst in instances:  # every solver run on it: those of earlier runs in the file too
        cells = [c for key, c in results.items() if key[:3] == inst]
        if any(c["proven"] for c in cells):
            continue
        best = max(c["welfare"] for c in cells)
        mine = results[(*inst, "pipeline")]
        gap = (mine["bound"] - mine["welfare"]) / max(abs(mine["bound"]), 1e-9)
        rows.append([f"{inst[0]} {inst[1]} s{inst[2]}", mine["welfare"] / best, gap])
    print_table(
        "Instances no solver proves: pipeline welfare / best found (target >= 0.99), gap (<= 0.05)",
        ["instance", "welfare ratio", "reported gap"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=float, default=60.0)
    parser.add_argument("--families", type=lambda s: s.split(","), default=list(FAMILIES))
    parser.add_argument("--sizes", type=lambda s: s.split(","), default=list(SIZES))
    parser.add_argument(
        "--seeds", type=lambda s: [int(v) for v in s.split(",")], default=list(SEEDS)
    )
    parser.add_argument("--solvers", type=lambda s: s.split(","), default=list(SOLVERS))
    parser.add_argument("--results", default="portfolio-results.jsonl")
    args = parser.parse_args()
    report(args, measure(args))


if __name__ == "__main__":
    main()
