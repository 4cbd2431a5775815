"""The adaptive strategy's learner: EXP3, a bandit over bid-shading factors.

Each round the agent draws a shading factor from :data:`SHADING_GRID` with
probabilities ``p = (1 - GAMMA) * w / sum(w) + GAMMA / K`` and bids
``factor * value``. After the outcome of its own bid it sees only its reward,
``(value - payment) / value`` on a win and 0 on a loss, and multiplies the
played factor's weight by ``exp(ETA * reward / p)``: EXP3 (Auer et al.,
"The nonstochastic multiarmed bandit problem", 2002) with its learning rate
``ETA`` set apart from the exploration rate, as in later analyses. Against a fixed field
the weight moves to the lowest factor that still wins, so payments fall.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

SHADING_GRID: Final[tuple[float, ...]] = tuple(round(0.5 + 0.05 * k, 2) for k in range(11))
"""Shading factors 0.50, 0.55, ..., 1.00."""
GAMMA: Final = 0.05
"""Exploration rate: the share of draws spread evenly over all factors."""
ETA: Final = 0.05
"""Learning rate of the importance-weighted reward."""


def initial_weights() -> tuple[float, ...]:
    """Equal weights over the grid."""
    return tuple(1.0 for _ in SHADING_GRID)


def probabilities(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """EXP3 draw probabilities, one row per agent (``weights``: agents x factors)."""
    k = weights.shape[-1]
    share = weights / weights.sum(axis=-1, keepdims=True)
    result: npt.NDArray[np.float64] = (1.0 - GAMMA) * share + GAMMA / k
    return result


def draw_factors(
    weights: npt.NDArray[np.float64], uniforms: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """One shading factor per agent, drawn with EXP3 probabilities from ``uniforms`` in [0, 1)."""
    cumulative = np.cumsum(probabilities(weights), axis=1)
    arms = (cumulative < uniforms[:, None]).sum(axis=1)
    grid = np.asarray(SHADING_GRID)
    result: npt.NDArray[np.float64] = grid[np.minimum(arms, len(SHADING_GRID) - 1)]
    return result


def adaptive_update(weights: tuple[float, ...], factor: float, reward: float) -> tuple[float, ...]:
    """Weights after playing ``factor`` (snapped to the grid) and earning ``reward`` in [0, 1].

    Plain Python over the grid's few weights: this runs once per outcome event.
    """
    arm = min(range(len(SHADING_GRID)), key=lambda k: abs(SHADING_GRID[k] - factor))
    return arm_update(weights, arm, reward)


def nearest_arms(factors: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """The grid arm each of ``factors`` snaps to (the first of two equally near), as
    :func:`adaptive_update` snaps one."""
    grid = np.asarray(SHADING_GRID)
    arms: npt.NDArray[np.int64] = np.abs(grid[None, :] - factors[:, None]).argmin(axis=1)
    return arms


def arm_updates(
    weights: npt.NDArray[np.float64], arms: npt.NDArray[np.int64], rewards: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """:func:`arm_update` of many agents at once (``weights``: one row per agent, each
    playing one of ``arms`` and earning one of ``rewards``)."""
    rows = np.arange(len(arms))
    played = weights[rows, arms]
    p = (1.0 - GAMMA) * played / weights.sum(axis=1) + GAMMA / weights.shape[1]
    updated = weights.copy()
    updated[rows, arms] = played * np.exp(ETA * rewards / p)
    result: npt.NDArray[np.float64] = updated / updated.max(axis=1, keepdims=True)
    return result


def arm_update(weights: tuple[float, ...], arm: int, reward: float) -> tuple[float, ...]:
    """Weights after playing grid ``arm`` and earning ``reward`` in [0, 1]."""
    current = list(weights or initial_weights())
    p = (1.0 - GAMMA) * current[arm] / sum(current) + GAMMA / len(current)
    current[arm] *= math.exp(ETA * reward / p)
    top = max(current)
    return tuple(w / top for w in current)


def expected_factor(weights: tuple[float, ...]) -> float:
    """The mean shading factor the weights would draw."""
    return float(probabilities(np.asarray(weights, dtype=np.float64)) @ np.asarray(SHADING_GRID))
