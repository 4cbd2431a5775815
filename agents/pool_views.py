"""What an agent pool shows: its agents' states, its shards' health, notebook views.

A part of :class:`econonexus.agents.pool.AgentPool`, which delegates its
public methods here.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa

from econonexus._core.errors import ShardUnavailableError
from econonexus.agents.journal import agent_ages
from econonexus.agents.registry import Registry
from econonexus.agents.shard_health import health_rows, publish_health


class PoolViews:
    """States, health and notebook view of a pool's agents (plots: the package face's pool)."""

    def __init__(
        self,
        root: str,
        registry: Registry,
        members: dict[int, set[str]],
        ask_all: Callable[..., dict[int, Any]],
    ):
        self.root, self._registry, self._members = root, registry, members
        self._ask_all = ask_all  # the pool's: one call to every shard at once

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

    def accounts(self) -> pl.DataFrame:
        """:meth:`states` with each agent's ``age_runs`` from the journal (0: no run yet)."""
        ages = agent_ages(self.root)
        return (
            self.states()
            .join(ages, on="agent_id", how="left")
            .with_columns(pl.col("age_runs").fill_null(0).cast(pl.Int64))
        )

    def health(self) -> pl.DataFrame:
        """Per shard: worker, agents, memory, last event, last heartbeat, breaker state, status."""
        rows = health_rows(self._registry, self._members, self._ask_all("health"))
        publish_health(self._registry, self.root, rows)
        return pl.DataFrame(rows)

    def html(self) -> str:
        """The pool in a notebook: where it is, its size, and each shard's health."""
        health = self.health()
        head = (
            f"<p><b>AgentPool</b> {html.escape(self.root)}: {len(self._registry.slots)} shards, "
            f"{int(health['agents'].sum())} agents, on {health['worker'].n_unique()} workers</p>"
        )
        return head + health._repr_html_()
