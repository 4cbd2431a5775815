"""Train the backend-choice model shipped in ``solvers/backend_model.json``.

``collect`` times CBC (the pipeline's options, one thread) and HiGHS on
every MIP component (LP relaxation fractional, too large to enumerate) of
instances from every ``generate`` family at three sizes and two seeds
(seeds 11 and 12: the portfolio benchmark uses 1-3), capped at ``--cap``
seconds, and writes one CSV row per component: its features and each
backend's seconds; ``threads`` adds CBC's seconds on two threads. ``fit``
regresses log10(HiGHS seconds / CBC seconds on two threads) on the
standardised features (a ridge regression weighted by the seconds
a wrong pick costs, after the empirical-hardness models of Leyton-Brown,
Nudelman and Shoham, which regress log run time per solver) and writes the
coefficients, with CBC's speedup from one thread to two (the pipeline
gives a lone hard component all the cluster's threads; HiGHS's search is
serial); it reports the picks' total time on
the training data, in all and with each family held out of the fit.

``recap`` times again with a longer cap the components of one size that a
solve did not prove within the first (the hardest components, where the
choice matters most); ``refeature`` computes the features again.

Run: python -m benchmarks.train_backend_choice collect [--cap 10]
     python -m benchmarks.train_backend_choice threads
     python -m benchmarks.train_backend_choice recap --cap 40 --size 100x500
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
from econonexus.solvers.problem import MarketProblem, build_problem
from econonexus.solvers.relaxation import relax
from econonexus.solvers.wdp import solve_component

SIZES = ((50, 200), (100, 500), (200, 1000))
SEEDS = (11, 12)
BACKENDS = ("cbc", "highs")
TIMES = pathlib.Path(__file__).parent / "data" / "backend_times.csv"
MODEL = pathlib.Path(__file__).parents[1] / "solvers" / "backend_model.json"
_RIDGE = 1.0
_COLUMNS = {"cbc": ("cbc", 1), "highs": ("highs", 1), "cbc2": ("cbc", 2)}
_CAP_SHARE = 0.99  # CBC may stop a little before its time limit
_TIMED = 0.2  # seconds: shorter solves time the process start more than the search


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


def recap(cap: float, size: str, was: float) -> None:
    """Time again, with the longer ``cap``, the components of ``size`` that some solve did
    not prove within the cap ``was``: such rows say little of which backend is faster."""
    rows = _rows()
    for r in rows:
        if r["size"] != size or max(float(r[c]) for c in _COLUMNS) < _CAP_SHARE * was:
            continue
        goods, bids = (int(v) for v in size.split("x"))
        sub = _components(r["family"], goods, bids, int(r["seed"]))[int(r["component"])]
        for column, (backend, threads) in _COLUMNS.items():
            r[column] = str(_seconds(sub, backend, cap, threads=threads))
        print(r["family"], size, r["seed"], [r[c] for c in _COLUMNS], flush=True)
        _write(rows)


def refeature() -> None:
    """Compute every row's features again (after a change to them), keeping its times."""
    rows = _rows()
    for r in rows:
        goods, bids = (int(v) for v in r["size"].split("x"))
        sub = _components(r["family"], goods, bids, int(r["seed"]))[int(r["component"])]
        features = component_features(sub, relax(sub).x)
        r.update(zip(FEATURES, (str(v) for v in np.round(features, 6).tolist()), strict=True))
    _write(rows)


def _components(family: str, goods: int, bids: int, seed: int) -> list[MarketProblem]:
    table = generate(family, goods=goods, bids=bids, seed=seed)  # type: ignore[arg-type]
    return plan_market(build_problem("train", table, None, tie_epsilon=1e-9)).pending


def _write(rows: list[dict[str, str]]) -> None:
    with TIMES.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _instance_rows(family: str, goods: int, bids: int, seed: int, cap: float) -> list[list[object]]:
    rows: list[list[object]] = []
    for k, sub in enumerate(_components(family, goods, bids, seed)):
        relaxed = relax(sub)
        if relaxed.winners is not None:
            continue
        features = component_features(sub, relaxed.x)
        seconds = [_seconds(sub, backend, cap) for backend in BACKENDS]
        rows.append([k, *np.round(features, 6).tolist(), *seconds])
        print(family, goods, bids, seed, k, sub.n_bids, seconds, flush=True)
    return rows


def threads(cap: float) -> None:
    """Time CBC on two threads on every row's component (column ``cbc2``)."""
    rows = _rows()
    for r in rows:
        goods, bids = (int(v) for v in r["size"].split("x"))
        sub = _components(r["family"], goods, bids, int(r["seed"]))[int(r["component"])]
        r["cbc2"] = str(_seconds(sub, "cbc", cap, threads=2))
        print(r["family"], r["size"], r["seed"], r["cbc"], r["cbc2"], flush=True)
    _write(rows)


def _seconds(sub: MarketProblem, backend: str, cap: float, *, threads: int = 1) -> float:
    start = time.perf_counter()
    solution = solve_component(
        sub,
        solver=backend,
        limits=SolveLimits(time_limit=cap, threads=threads),
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
    times = np.array([[float(r[b]) for b in (*BACKENDS, "cbc2")] for r in rows])
    mean, scale, coef = _fit(x, times)
    speedup = _thread_speedup(times[:, 0], times[:, 2])
    model = {
        "features": list(FEATURES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "reference": BACKENDS[0],
        "reference_speedup": round(speedup, 4),
        "log_ratio": {BACKENDS[1]: coef.round(6).tolist()},
        "trained_on": f"{len(rows)} MIP components of {len(DISTRIBUTIONS)} generate families, "
        f"sizes {', '.join(f'{g}x{b}' for g, b in SIZES)}, seeds {SEEDS}",
    }
    MODEL.write_text(json.dumps(model, indent=1) + "\n")
    families = np.array([r["family"] for r in rows])
    predicted = _predict(x, mean, scale, coef), _held_out(x, times, families)
    _report(times, families, predicted, np.log10(speedup))


def _thread_speedup(one: np.ndarray, two: np.ndarray) -> float:
    """CBC's speedup on two threads: the geometric mean of ``one / two`` weighted by the
    one-thread seconds, over solves neither cap stopped and long enough to time."""
    timed = (np.maximum(one, two) < _CAP_SHARE * float(one.max())) & (one >= _TIMED)
    return float(10 ** np.average(np.log10(one[timed] / two[timed]), weights=one[timed]))


def _fit(x: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardisation and the weighted ridge regression of log10(HiGHS / CBC seconds), CBC
    on two threads (``times``: CBC on one, HiGHS, CBC on two)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    floor = np.maximum(times, MIN_SECONDS)
    y = np.log10(floor[:, 1] / floor[:, 2])
    w = np.abs(times[:, 1] - times[:, 2]) + MIN_SECONDS  # the seconds a wrong pick costs
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
    times: np.ndarray,
    families: np.ndarray,
    predicted: tuple[np.ndarray, np.ndarray],
    offset: float,
) -> None:
    """Print per family and in all the seconds of each backend, of the model's picks with
    CBC on one thread (CBC's log-slowdown there: ``offset``) and on two, and of the best."""
    fitted, held_out = predicted
    rows = []
    for family in [*dict.fromkeys(families.tolist()), None]:
        mine = np.ones(len(times), bool) if family is None else families == family
        one, two = times[mine][:, :2], times[mine][:, [2, 1]]  # (cbc, highs), (cbc2, highs)
        picks = [
            _picked(one, fitted[mine], offset),
            _picked(two, fitted[mine], 0.0),
            _picked(two, held_out[mine], 0.0),
        ]
        totals = times[mine].sum(axis=0)
        rows.append([family or "all", int(mine.sum()), *totals, *picks, two.min(axis=1).sum()])
    header = ["family", "components", *BACKENDS, "cbc2", "picks", "picks, cbc2"]
    header += ["picks, cbc2, family held out", "best of cbc2, highs"]
    print_table("Training components: seconds in all", header, rows)


def _picked(times: np.ndarray, predicted: np.ndarray, offset: float) -> float:
    """Total seconds of the picks: HiGHS (column 1) where predicted below ``offset``."""
    return float(times[np.arange(len(times)), (predicted < offset).astype(int)].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("step", choices=("collect", "threads", "recap", "refeature", "fit"))
    parser.add_argument("--size", default="100x500", help="recap: the size to time again")
    parser.add_argument("--was", type=float, default=10.0, help="recap: the cap timed with")
    parser.add_argument("--cap", type=float, default=10.0, help="seconds per solve")
    args = parser.parse_args()
    if args.step == "fit":
        fit()
    elif args.step == "refeature":
        refeature()
    elif args.step == "collect":
        collect(args.cap)
    elif args.step == "recap":
        recap(args.cap, args.size, args.was)
    else:
        threads(args.cap)


if __name__ == "__main__":
    main()
