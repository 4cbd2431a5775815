"""How a batch clears: solver, limits, tie budget, retries and per-market settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.settings import DEFAULT_SETTINGS, MarketSettings


@dataclass(frozen=True)
class BatchOptions:
    """Backend, stopping rules, enumeration size, tie budget, retries, market settings.

    ``markets`` holds the markets listed in a markets table; the others use
    :data:`econonexus.solvers.settings.DEFAULT_SETTINGS`.
    """

    solver: str = "cbc"
    limits: SolveLimits = field(default_factory=SolveLimits)
    enumerate_max: int = 10
    tie_epsilon: float = 1e-6
    retries: int = 2
    markets: dict[str, MarketSettings] = field(default_factory=dict)

    def settings(self, market_id: str) -> MarketSettings:
        """The settings of ``market_id``."""
        return self.markets.get(market_id, DEFAULT_SETTINGS)
