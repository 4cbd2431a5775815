"""Live bidders for English and Dutch clocks (and CCA supplementary rounds): a pool's agents answer.

``econonexus.clear(..., bidders=LiveBidders(pool, seed=s, round_no=r))``
runs the ``english`` and ``dutch`` markets of a batch as live clocks: the
auctioneer's prices go to the shards holding the bidders (one actor call per
shard, all shards at once, for the next 16 rounds' prices; an English clock asks
for twice as many each time, up to 256: an agent's answer
at a price does not depend on the round it is asked in) and each agent
answers from its own state and strategy for round ``(seed, round_no)``. The bids of
those markets name the bidders and their items; their prices are not used.
In a ``cca`` market the clock phase runs on the bids as proxies, and in the
supplementary round each live agent bids on its packages from its own state
(:meth:`LiveBidders.package_values`), capped by the activity rule.
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

    def package_values(self, packages: pl.DataFrame) -> np.ndarray:
        """The live agents' supplementary bids on ``packages`` (``agent_id``, ``market_id``,
        ``items``) for a CCA, NaN where the agent's shard could not answer (its submitted
        bid then stands; the agent is listed in :attr:`unreachable`)."""
        bids, reasons = self.pool.package_bids(packages, seed=self.seed, round_no=self.round_no)
        if reasons:
            why = "; ".join(reasons.values())
            lost = packages.filter(pl.Series(np.isnan(bids)))
            for market, agent in lost.select("market_id", "agent_id").iter_rows():
                self.unreachable.setdefault((market, agent), why)
        return bids

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
