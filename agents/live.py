"""Live bidders for English and Dutch clocks: the agents of a pool answer each round's price.

``econonexus.clear(..., bidders=LiveBidders(pool, seed=s, round_no=r))``
runs the ``english`` and ``dutch`` markets of a batch as live clocks: each
round the auctioneer's prices go to the shards holding the bidders (one
actor call per shard per round, all shards at once) and each agent answers
from its own state and strategy for round ``(seed, round_no)``. The bids of
those markets name the bidders and their items; their prices are not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from econonexus.agents.pool import AgentPool
from econonexus.solvers.problem import FloatArray, IntArray


@dataclass(frozen=True)
class LiveBidders:
    """The agents of ``pool``, answering clocks as their strategies for ``(seed, round_no)``."""

    pool: AgentPool
    seed: int = 0
    round_no: int = 0
    unreachable: dict[tuple[str, str], str] = field(default_factory=dict, compare=False)
    """``(market_id, agent_id)`` of bidders that could not answer in the last run, and why."""

    def __call__(self, lots: pl.DataFrame) -> PoolAnswers:
        """Bidders for the clock over ``lots`` (one row per bid: agent, market, item)."""
        return PoolAnswers(self, lots.select("agent_id", "market_id", "item_id"))

    def describe(self) -> dict[str, object]:
        """What the run's manifest records about the live bidders (before the run)."""
        return {"pool": self.pool.root, "seed": self.seed, "round_no": self.round_no}

    def report(self) -> dict[str, object]:
        """:meth:`describe` plus the bidders left out of the last run's clocks."""
        left = [
            {"market_id": m, "agent_id": a, "reason": r}
            for (m, a), r in sorted(self.unreachable.items())
        ]
        return {**self.describe(), "left_out": left}


@dataclass(frozen=True)
class PoolAnswers:
    """:class:`econonexus.solvers.clock.Bidders` backed by the live agents of a pool."""

    live: LiveBidders
    rows: pl.DataFrame
    missing: dict[str, str] = field(default_factory=dict)
    """Agents whose shard could not answer some round, even after recovery, and why."""

    def respond(self, rows: IntArray, prices: FloatArray) -> np.ndarray:
        asks = self.rows[rows].with_columns(price=pl.Series(prices, dtype=pl.Float64))
        got = self.live.pool.answers(asks, seed=self.live.seed, round_no=self.live.round_no)
        if got.unanswered.any():
            reason = "; ".join(got.reasons.values())
            lost = asks.filter(pl.Series(got.unanswered))
            for market, agent in lost.select("market_id", "agent_id").iter_rows():
                self.missing.setdefault(agent, reason)
                self.live.unreachable.setdefault((market, agent), reason)
        return got.yes

    def left_out(self) -> dict[str, str]:
        """Agents that could not answer some round of this clock, and why."""
        return dict(self.missing)
