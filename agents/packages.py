"""Live agents' package bids: what each answers in a CCA's supplementary round.

In the supplementary round of a combinatorial clock auction
(:mod:`econonexus.solvers.cca`) a live agent bids on its packages from its
own state, not from the bids it submitted: its value of the package (its
item values, with its synergy on a bundle) times its strategy's shading
factor for the round, at most what it can pay (balance less what it owes),
as its clock answers are (:func:`~econonexus.agents.strategies.clock_answers`).
The activity rule then caps these bids where the market clears.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from econonexus.agents.state import AgentState
from econonexus.agents.strategies import shading_factors


def package_bids(
    states: Sequence[AgentState],
    keys: npt.NDArray[np.uint64],
    packages: pl.DataFrame,
    *,
    seed: int,
    round_no: int,
) -> npt.NDArray[np.float64]:
    """Per row of ``packages`` (``agent_id``, ``market_id``, ``items``): the agent's bid,
    ``factor * value`` capped at what it can pay; 0 for a banned or broke agent, NaN for
    one that ``states`` do not hold (its submitted bid then stands)."""
    factors = shading_factors(states, keys, seed=seed, round_no=round_no)
    hosted = {s.agent_id: (s, float(f)) for s, f in zip(states, factors, strict=True)}
    bids = np.full(packages.height, np.nan)
    rows = packages.select("agent_id", "market_id", "items").iter_rows()
    for k, (agent_id, market_id, items) in enumerate(rows):
        if agent_id not in hosted:
            continue
        state, factor = hosted[agent_id]
        room = state.balance - state.owed
        if state.banned or room <= 0:
            bids[k] = 0.0
            continue
        bids[k] = min(factor * state.value_of(market_id, items), room)
    return bids
