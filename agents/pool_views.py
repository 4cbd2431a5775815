"""What an agent pool shows: its agents' states, its shards' health, notebook views.

A mixin of :class:`econonexus.agents.pool.AgentPool`.
"""

from __future__ import annotations

import html
from typing import Any

import polars as pl
import pyarrow as pa

from econonexus._core.errors import ShardUnavailableError
from econonexus.agents.registry import Registry
from econonexus.agents.shard_health import health_rows, publish_health


class PoolViews:
    """States, health and ``_repr_html_`` of a pool's agents (plots: the package face's pool)."""

    n_shards: int
    root: str
    _registry: Registry
    _members: dict[int, set[str]]

    def _ask_all(self, method: str, *args: Any) -> dict[int, Any]:
        raise NotImplementedError  # the pool's own

    def states(self) -> pl.DataFrame:
        """Every agent's state, sorted by ``agent_id``; raises if a shard cannot answer."""
        answers = self._ask_all("states")
        for shard, answer in answers.items():
            if isinstance(answer, Exception):
                raise ShardUnavailableError(
                    f"shard {shard}: cannot read its agents: {answer}"
                ) from answer
        frame = pl.from_arrow(pa.concat_tables(list(answers.values())))
        assert isinstance(frame, pl.DataFrame)
        return frame.sort("agent_id")

    def health(self) -> pl.DataFrame:
        """Per shard: worker, agents, memory, last event, last heartbeat, breaker state, status."""
        rows = health_rows(self._registry, self._members, self._ask_all("health"))
        publish_health(self._registry, self.root, rows)
        return pl.DataFrame(rows)

    def _repr_html_(self) -> str:
        """The pool in a notebook: where it is, its size, and each shard's health."""
        health = self.health()
        head = (
            f"<p><b>AgentPool</b> {html.escape(self.root)}: {self.n_shards} shards, "
            f"{int(health['agents'].sum())} agents, on {health['worker'].n_unique()} workers</p>"
        )
        return head + health._repr_html_()
