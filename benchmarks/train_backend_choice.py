"""Train the backend-choice model shipped in ``solvers/backend_model.json``.

``collect`` times CBC (the pipeline's options, one thread) and HiGHS on
every MIP component (LP relaxation fractional, too large to enumerate) of
instances from every ``generate`` family at three sizes and two seeds
(seeds 11 and 12: the portfolio benchmark uses 1-3), capped at ``--cap``
seconds, and writes one CSV row per component: its features and each
backend's seconds. ``fit`` regresses log10(HiGHS seconds / CBC seconds)
on the standardised features (a ridge regression weighted by the seconds
a wrong pick costs, after the empirical-hardness models of Leyton-Brown,
Nudelman and Shoham, which regress log run time per solver) and writes the
coefficients; it reports the picks' total time on the training data, in
all and with each family held out of the fit.

``extend`` times again with a longer cap the components some backend did
not prove within the first.

Run: python -m benchmarks.train_backend_choice collect [--cap 10]
     python -m benchmarks.train_backend_choice extend --cap 60 --was 10
     python -m benchmarks.train_backend_choice fit
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import time

import numpy as np

from benchmarks.common import print_table
from econonexus.pipelines.sim.generate import DISTRIBUTIONS, generate
from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.choice import MIN_SECONDS
from econonexus.solvers.features import FEATURES, component_features
from econonexus.solvers.market import plan_market
from econonexus.solvers.problem import build_problem
from econonexus.solvers.relaxation import relax
from econonexus.solvers.wdp import solve_component

SIZES = ((50, 200), (100, 500), (200, 1000))
SEEDS = (11, 12)
BACKENDS = ("cbc", "highs")
TIMES = pathlib.Path(__file__).parent / "data" / "backend_times.csv"
MODEL = pathlib.Path(__file__).parents[1] / "solvers" / "backend_model.json"
_RIDGE = 1.0
_CAP_SHARE = 0.99  # CBC may stop a little before its time limit


def collect(cap: float) -> None:
    """Time every backend on every MIP component; append rows to :data:`TIMES` (resumable)."""
    TIMES.parent.mkdir(exist_ok=True)
    done = {(r["family"], r["size"], r["seed"]) for r in _rows()} if TIMES.exists() else set()
    header = ["family", "size", "seed", "component", *FEATURES, *BACKENDS]
    with TIMES.open("a", newline="") as out:
        writer = csv.writer(out)
        if not done:
            writer.writerow(header)
        for family in DISTRIBUTIONS:
            for goods, bids in SIZES:
                for seed in SEEDS:
                    size = f"{goods}x{bids}"
                    if (family, size, str(seed)) in done:
                        continue
                    for row in _instance_rows(family, goods, bids, seed, cap):
                        writer.writerow([family, size, seed, *row])
                    out.flush()


def extend(cap: float, was: float) -> None:
    """Time again, with the longer ``cap``, every component a backend did not prove within
    the cap ``was`` it was timed with: capped rows say little of which backend is faster."""
    rows = _rows()
    capped = {
        (r["family"], r["size"], r["seed"])
        for r in rows
        if any(float(r[b]) >= was * _CAP_SHARE for b in BACKENDS)
    }
    for family, size, seed in sorted(capped):
        goods, bids = (int(v) for v in size.split("x"))
        fresh = {str(row[0]): row for row in _instance_rows(family, goods, bids, int(seed), cap)}
        for r in rows:
            if (r["family"], r["size"], r["seed"]) == (family, size, seed):
                r.update(zip(BACKENDS, (str(v) for v in fresh[r["component"]][-2:]), strict=True))
        with TIMES.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def _instance_rows(family: str, goods: int, bids: int, seed: int, cap: float) -> list[list[object]]:
    table = generate(family, goods=goods, bids=bids, seed=seed)  # type: ignore[arg-type]
    problem = build_problem("train", table, None, tie_epsilon=1e-9)
    rows: list[list[object]] = []
    for k, sub in enumerate(plan_market(problem).pending):
        relaxed = relax(sub)
        if relaxed.winners is not None:
            continue
        features = component_features(sub, relaxed.x)
        seconds = [_seconds(sub, backend, cap) for backend in BACKENDS]
        rows.append([k, *np.round(features, 6).tolist(), *seconds])
        print(family, goods, bids, seed, k, sub.n_bids, seconds, flush=True)
    return rows


def _seconds(sub: object, backend: str, cap: float) -> float:
    start = time.perf_counter()
    solution = solve_component(
        sub,  # type: ignore[arg-type]
        solver=backend,
        limits=SolveLimits(time_limit=cap, threads=1),
        enumerate_max=0,
        lp_first=False,
    )
    elapsed = time.perf_counter() - start
    return round(elapsed if solution.status == "optimal" else max(elapsed, cap), 4)


def _rows() -> list[dict[str, str]]:
    with TIMES.open() as source:
        return list(csv.DictReader(source))


def fit() -> None:
    """Fit the model (see the module docstring) on :data:`TIMES`; write :data:`MODEL`."""
    rows = _rows()
    x = np.array([[float(r[f]) for f in FEATURES] for r in rows])
    times = np.array([[float(r[b]) for b in BACKENDS] for r in rows])
    mean, scale, coef = _fit(x, times)
    model = {
        "features": list(FEATURES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "reference": BACKENDS[0],
        "log_ratio": {BACKENDS[1]: coef.round(6).tolist()},
        "trained_on": f"{len(rows)} MIP components of {len(DISTRIBUTIONS)} generate families, "
        f"sizes {', '.join(f'{g}x{b}' for g, b in SIZES)}, seeds {SEEDS}",
    }
    MODEL.write_text(json.dumps(model, indent=1) + "\n")
    families = np.array([r["family"] for r in rows])
    _report(times, families, _predict(x, mean, scale, coef), _held_out(x, times, families))


def _fit(x: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardisation and the weighted ridge regression of log10(seconds ratio)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    floor = np.maximum(times, MIN_SECONDS)
    y = np.log10(floor[:, 1] / floor[:, 0])
    w = np.abs(times[:, 1] - times[:, 0]) + MIN_SECONDS  # the seconds a wrong pick costs
    penalty = _RIDGE * np.eye(z.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(z.T @ (w[:, None] * z) + penalty, z.T @ (w * y))
    return mean, scale, coef


def _predict(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((len(x), 1)), (x - mean) / scale]) @ coef


def _held_out(x: np.ndarray, times: np.ndarray, families: np.ndarray) -> np.ndarray:
    """Each row's prediction by a model fitted without its family (leave one family out)."""
    predicted = np.zeros(len(x))
    for family in set(families.tolist()):
        mine = families == family
        predicted[mine] = _predict(x[mine], *_fit(x[~mine], times[~mine]))
    return predicted


def _report(
    times: np.ndarray, families: np.ndarray, fitted: np.ndarray, held_out: np.ndarray
) -> None:
    """Print per family and in all the seconds of each backend, of the picks, of the best."""
    rows = []
    for family in [*dict.fromkeys(families.tolist()), None]:
        mine = np.ones(len(times), bool) if family is None else families == family
        t = times[mine]
        picked = [t[np.arange(len(t)), (p[mine] < 0).astype(int)].sum() for p in (fitted, held_out)]
        rows.append(
            [family or "all", int(mine.sum()), *t.sum(axis=0), *picked, t.min(axis=1).sum()]
        )
    header = ["family", "components", *BACKENDS, "model's picks", "picks, family held out", "best"]
    print_table("Training components: seconds in all", header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("step", choices=("collect", "extend", "fit"))
    parser.add_argument("--cap", type=float, default=10.0, help="seconds per solve")
    parser.add_argument("--was", type=float, default=10.0, help="extend: the cap collected with")
    args = parser.parse_args()
    if args.step == "fit":
        fit()
    elif args.step == "collect":
        collect(args.cap)
    else:
        extend(args.cap, args.was)


if __name__ == "__main__":
    main()
