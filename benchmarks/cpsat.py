"""CP-SAT (OR-Tools) on one instance, in a process of its own: the portfolio benchmark's baseline.

OR-Tools cannot share a process with highspy (both bundle their own
abseil/protobuf builds), so the benchmark runs this module as a
subprocess: ``python -m benchmarks.cpsat BIDS.parquet --time-limit 60``
prints one JSON line: ``seconds`` (model build and solve, after imports),
``proven``, ``welfare`` and ``bound``. Install with ``pip install -e
".[bench]"``.

The model is the plain set-packing one of the CATS reference optima: a
Boolean per bid, each item's units at most its supply of 1, at most one bid
per XOR group. CP-SAT needs integer objective coefficients, so prices are
counted in millionths (rounded); welfare and bound are given back in
currency.
"""

from __future__ import annotations

import argparse
import json
import time

import polars as pl

SCALE = 1_000_000


def solve(bids: pl.DataFrame, time_limit: float) -> dict[str, object]:
    """Solve ``bids`` (bids schema) with CP-SAT on one thread; its outcome as a dict."""
    from ortools.sat.python import cp_model

    start = time.perf_counter()
    model = cp_model.CpModel()
    rows = bids.select("agent_id", "items", "quantities", "price", "xor_group").to_dicts()
    x = [model.new_bool_var(f"x{i}") for i in range(len(rows))]
    by_item: dict[str, list[tuple[int, int]]] = {}
    by_group: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(rows):
        for item, qty in zip(row["items"], row["quantities"], strict=True):
            by_item.setdefault(item, []).append((i, qty))
        if row["xor_group"] is not None:
            by_group.setdefault((row["agent_id"], row["xor_group"]), []).append(i)
    for terms in by_item.values():
        if sum(q for _, q in terms) > 1:
            model.add(sum(q * x[i] for i, q in terms) <= 1)
    for members in by_group.values():
        if len(members) > 1:
            model.add_at_most_one(x[i] for i in members)
    model.maximize(sum(round(r["price"] * SCALE) * x[i] for i, r in enumerate(rows)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = time_limit
    status = solver.solve(model)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return {
        "seconds": time.perf_counter() - start,
        "proven": status == cp_model.OPTIMAL,
        "welfare": solver.objective_value / SCALE if found else 0.0,
        "bound": solver.best_objective_bound / SCALE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bids", help="a Parquet file of bids (bids schema)")
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    print(json.dumps(solve(pl.read_parquet(args.bids), args.time_limit)))


if __name__ == "__main__":
    main()
