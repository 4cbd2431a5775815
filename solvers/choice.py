"""Pick a MIP backend for a component from its features: the portfolio's choice without a race.

The model (``backend_model.json``, written by
``benchmarks/train_backend_choice.py`` from solve times on every
``generate`` family) predicts, from the standardised
:data:`~econonexus.solvers.features.FEATURES`, log10 of each backend's solve
time over the reference backend's (CBC) by a linear function; the backend
with the lowest prediction is chosen (the reference's is 0). Backends that
are not installed are never chosen.
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
    """Standardisation, the reference backend, and per other backend the coefficients
    (intercept first) of its predicted log10 time ratio to the reference."""

    mean: FloatArray
    scale: FloatArray
    reference: str
    log_ratio: dict[str, FloatArray]

    def predicted_log_ratio(self, features: FloatArray) -> dict[str, float]:
        """Each backend's predicted log10(seconds / reference's seconds) for ``features``."""
        z = np.concatenate([[1.0], (features - self.mean) / self.scale])
        others = {name: float(z @ coef) for name, coef in self.log_ratio.items()}
        return {self.reference: 0.0} | others

    def pick(self, features: FloatArray) -> str:
        """The backend predicted fastest for ``features``."""
        predicted = self.predicted_log_ratio(features)
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
        np.array(data["mean"]), np.array(data["scale"]), data["reference"], installed
    )


def choose_backend(problem: MarketProblem, lp_x: FloatArray | None) -> str:
    """The backend predicted to prove ``problem`` (LP optimum ``lp_x``) soonest."""
    return choice_model().pick(component_features(problem, lp_x))
