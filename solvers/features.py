"""Features of a winner-determination component, the inputs of the backend-choice model.

They follow the empirical-hardness features of Leyton-Brown, Nudelman and
Shoham for combinatorial auctions, cut to what costs milliseconds: size
(bids, contested rows), the bid-good graph (bundle sizes, density), price
structure (spread of price per unit), XOR structure, and the LP relaxation
(its gap to the greedy allocation, its share of fractional values), which
separates the families best.
"""

from __future__ import annotations

import numpy as np

from econonexus.solvers.greedy import greedy_winners
from econonexus.solvers.problem import FloatArray, MarketProblem
from econonexus.solvers.relaxation import constraint_matrix

FEATURES: tuple[str, ...] = (
    "log_bids",
    "log_rows",
    "units_mean",
    "units_cv",
    "density",
    "xor_share",
    "unit_price_cv",
    "lp_gap",
    "fractional_share",
)
_FRACTIONAL = 1e-6


def component_features(problem: MarketProblem, lp_x: FloatArray | None) -> FloatArray:
    """The :data:`FEATURES` of ``problem`` given its LP optimum ``lp_x`` (one value per bid;
    ``None`` when the LP was not solved: its two features are then 0)."""
    n = max(problem.n_bids, 1)
    units = np.add.reduceat(problem.qty, problem.ptr[:-1]).astype(np.float64)
    a, _ = constraint_matrix(problem)
    rows = max(a.shape[0], 1)
    unit_price = problem.price / np.maximum(units, 1.0)
    above_greedy = fractional = 0.0  # the LP's features; 0 when it was not solved
    if lp_x is not None:
        lp_value = float(problem.price @ lp_x)
        greedy = float(problem.price[greedy_winners(problem)].sum())
        above_greedy = (lp_value - greedy) / lp_value if lp_value > 0 else 0.0
        fractional = float(np.mean(np.minimum(lp_x, 1.0 - lp_x) > _FRACTIONAL))
    return np.array(
        [
            np.log10(n),
            np.log10(rows),
            float(units.mean()),
            _spread(units),
            a.nnz / (rows * n),
            float(np.mean(problem.xor >= 0)),
            _spread(unit_price),
            max(above_greedy, 0.0),
            fractional,
        ]
    )


def _spread(values: FloatArray) -> float:
    """The coefficient of variation of ``values`` (0 for a constant or empty array)."""
    mean = float(values.mean()) if len(values) else 0.0
    return float(values.std() / mean) if mean > 0 else 0.0
