"""Pick a MIP backend for a component from its features: the portfolio's choice without a race.

The model (``backend_model.json``, written by
``benchmarks/train_backend_choice.py`` from solve times on every
``generate`` family) predicts, from the standardised
:data:`~econonexus.solvers.features.FEATURES`, log10 of each backend's solve
time over the reference backend's (CBC on two threads) by a linear
function, and CBC's speedup from one thread to two; the backend with the
lowest prediction is chosen. Backends that are not installed are never chosen.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import pathlib
from dataclasses import dataclass

import numpy as np

from econonexus.solvers.features import FEATURES, component_features
from econonexus.solvers.problem import FloatArray, MarketProblem

MODEL_PATH = pathlib.Path(__file__).with_name("backend_model.json")
MIN_SECONDS = 0.01
"""Solve times are floored here before taking ratios (below it, noise decides)."""
_MODULES = {"cbc": "pulp", "highs": "highspy", "scip": "pyscipopt"}


@dataclass(frozen=True)
class ChoiceModel:
    """Standardisation, the reference backend, its speedup from one thread to two, and per
    other backend the coefficients (intercept first) of its predicted log10 time ratio to
    the reference on two threads."""

    mean: FloatArray
    scale: FloatArray
    reference: str
    reference_speedup: float
    log_ratio: dict[str, FloatArray]

    def predicted_log_ratio(self, features: FloatArray, threads: int) -> dict[str, float]:
        """Each backend's predicted log10(seconds / the reference's seconds on two threads)
        for ``features``, the reference (CBC) on ``threads`` threads (the others' search is
        serial)."""
        z = np.concatenate([[1.0], (features - self.mean) / self.scale])
        others = {name: float(z @ coef) for name, coef in self.log_ratio.items()}
        slower = float(np.log10(self.reference_speedup)) if threads < 2 else 0.0
        return {self.reference: slower} | others

    def pick(self, features: FloatArray, threads: int) -> str:
        """The backend predicted fastest for ``features``, the reference on ``threads``."""
        predicted = self.predicted_log_ratio(features, threads)
        return min(predicted, key=predicted.__getitem__)


@functools.cache
def choice_model() -> ChoiceModel:
    """The shipped model, limited to installed backends (read once per process)."""
    data = json.loads(MODEL_PATH.read_text())
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{MODEL_PATH}: features {data['features']} differ from {FEATURES}")
    installed = {
        name: np.array(coef, dtype=np.float64)
        for name, coef in data["log_ratio"].items()
        if importlib.util.find_spec(_MODULES[name]) is not None
    }
    return ChoiceModel(
        mean=np.array(data["mean"]),
        scale=np.array(data["scale"]),
        reference=data["reference"],
        reference_speedup=float(data["reference_speedup"]),
        log_ratio=installed,
    )


def choose_backend(problem: MarketProblem, lp_x: FloatArray | None, threads: int) -> str:
    """The backend predicted to prove ``problem`` (LP optimum ``lp_x``) soonest, CBC given
    ``threads`` threads."""
    return choice_model().pick(component_features(problem, lp_x), threads)
