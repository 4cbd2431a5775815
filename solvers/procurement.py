"""Procurement (reverse) markets: sellers offer to perform tasks or supply items.

The buyer values each unit of an item at its reserve price and needs at most
its supply (the demand). An offer (``side="sell"``) covers a bundle for its
ask. Clearing maximises the buyer's surplus: the value of the covered units
less the accepted asks, each item covered at most its demand. That is the
combinatorial problem with each offer's "price" replaced by its surplus
(value minus ask) and no reserve, so the same solvers, decomposition and VCG
apply. Offers asking more than they are worth to the buyer cannot win.

With a reputation weight ``w`` the buyer values a unit from a seller of
reputation ``r`` at ``value * (1 + w * (r - 0.5))``: a better reputation
never lowers an offer's surplus, so it never makes the offer lose, and
``w = 0`` ignores reputation. Surplus, welfare and VCG then use the
quality-adjusted value.

Pay-as-bid pays each accepted seller its ask. VCG pays seller ``a`` its
asks plus its marginal contribution to the buyer's surplus, so never less
than it asked.
"""

from __future__ import annotations

import numpy as np

from econonexus.solvers.problem import FloatArray, IntArray, MarketProblem
from econonexus.solvers.vcg import Payments


def surplus_problem(
    problem: MarketProblem, quality: FloatArray | None = None, *, tie_epsilon: float
) -> tuple[MarketProblem, IntArray]:
    """Return the buyer-surplus problem of ``problem``'s offers and the offers it keeps.

    ``problem`` holds the offers with their asks as prices and the buyer's
    value per unit as reserve prices; ``quality`` (problem order) scales each
    offer's value (see :func:`quality_factors`); ``tie_epsilon`` is the one
    ``problem`` was built with. Kept offers are those asking
    no more than their bundle's value; the result's ``index`` numbers them
    from 0.
    """
    value = problem.reserve_value() * (1.0 if quality is None else quality)
    kept = np.flatnonzero(problem.price <= value).astype(np.int64)
    surplus = value[kept] - problem.price[kept]
    return problem.repriced(kept, surplus, tie_epsilon), kept


def seller_payments(
    asks: FloatArray, surplus: FloatArray, won: np.ndarray, pay: Payments
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Turn VCG payments of the surplus problem into what each winning seller is paid.

    A seller is paid its ask plus the part of its surplus it keeps
    (``surplus - vcg``); the range flips because paying more VCG means
    receiving less.
    """
    paid = np.where(won, asks + surplus - pay.payment, 0.0)
    low = np.where(won, asks + surplus - pay.high, 0.0)
    high = np.where(won, asks + surplus - pay.low, 0.0)
    return paid, low, high


def quality_factors(reputation: FloatArray, weight: float) -> FloatArray:
    """The buyer's value multiplier per offer: ``1 + weight * (reputation - 0.5)``."""
    factors: FloatArray = 1.0 + weight * (reputation - 0.5)
    return factors
