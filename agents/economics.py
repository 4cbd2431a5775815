"""Economic rules of one account: reputation, stake requirements, settlement amounts.

Reputation is a Beta reputation (Jøsang and Ismail, "The Beta Reputation
System", 2002) with forgetting: each settled outcome adds positive evidence
``r`` and negative evidence ``s`` after old evidence is multiplied by
``decay``::

    alpha <- decay * alpha + r        beta <- decay * beta + s
    reputation = (alpha + 1) / (alpha + beta + 2)

so a new agent (no evidence) has 0.5, and an outcome ``k`` settlements ago
weighs ``decay**k``. Settlement of one winning bid with stake ``S`` and
payment ``P`` collects ``P`` from the agent (owed since the win), then:

=============  ====================  ===============  ===================
outcome        evidence (r, s)       stake            balance
=============  ====================  ===============  ===================
excellent      (1, 0)                released         + bonus ``(m-1)*P``
satisfactory   (1, 0)                released
poor           (0, 1)                ``f*S`` slashed,
                                     rest released
byzantine      (0, 5)                all slashed      agent banned
=============  ====================  ===============  ===================

``m`` is ``economics.bonus-multiplier``, ``f`` ``economics.poor-slash-fraction``.
The bonus comes out of the market's account (the payments it received).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import polars as pl

Outcome = Literal["excellent", "satisfactory", "poor", "byzantine"]
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
EVIDENCE: Final[dict[str, tuple[float, float]]] = {
    "excellent": (1.0, 0.0),
    "satisfactory": (1.0, 0.0),
    "poor": (0.0, 1.0),
    "byzantine": (0.0, 5.0),
}


def beta_reputation(alpha: float, beta: float) -> float:
    """The Beta reputation of evidence ``(alpha, beta)``."""
    return (alpha + 1.0) / (alpha + beta + 2.0)


def updated_evidence(alpha: float, beta: float, outcome: str, decay: float) -> tuple[float, float]:
    """Evidence after one settled ``outcome``, old evidence faded by ``decay``."""
    r, s = EVIDENCE[outcome]
    return decay * alpha + r, decay * beta + s


def required_stake(price: pl.Expr, stake: pl.Expr, fraction: pl.Expr) -> pl.Expr:
    """Stake a bid needs: the market's absolute ``stake`` plus ``fraction`` of the bid price."""
    return stake.fill_null(0.0) + fraction.fill_null(0.0) * price


def settlement_amounts(
    winners: pl.DataFrame, *, bonus_multiplier: float, poor_slash_fraction: float
) -> pl.DataFrame:
    """Add ``bonus`` and ``slash`` to ``winners`` (columns ``outcome``, ``payment``, ``stake``)."""
    outcome = pl.col("outcome")
    return winners.with_columns(
        bonus=pl.when(outcome == "excellent")
        .then((bonus_multiplier - 1.0) * pl.col("payment"))
        .otherwise(0.0),
        slash=pl.when(outcome == "poor")
        .then(poor_slash_fraction * pl.col("stake"))
        .when(outcome == "byzantine")
        .then(pl.col("stake"))
        .otherwise(0.0),
    )
