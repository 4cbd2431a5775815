"""The agent pool as the package face exports it: the agents layer's pool, plus plots.

Agents hold no drawing code (the layer stays free of Bokeh); this subclass
adds :meth:`AgentPool.plot`. ``AgentPool.create`` and ``open`` build it.
"""

from __future__ import annotations

from typing import Any, Literal

from econonexus.agents import pool
from econonexus.pipelines.dashboard.plots import agent_plots

AgentPlotKind = Literal["all", "reputation", "balances"]


class AgentPool(pool.AgentPool):
    """Shards of agents on a cluster (see :class:`econonexus.agents.pool.AgentPool`), with plots."""

    def plot(self, kind: AgentPlotKind = "all") -> Any:
        """Bokeh histograms of the agents now: ``reputation``, ``balances``, or ``all``."""
        return agent_plots(self.states(), kind)
