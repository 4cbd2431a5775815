"""A shard of agents: the pure core and the thin Dask actor shell around it."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from econonexus._core.errors import AgentStateError
from econonexus.agents.bulk_outcomes import apply_outcomes, outcome_runs
from econonexus.agents.events import Event, events_from_table
from econonexus.agents.journal import read_journal
from econonexus.agents.lease import Lease
from econonexus.agents.packages import package_bids
from econonexus.agents.selling import capability_index, capable_rows, sell_offers
from econonexus.agents.snapshot import read_snapshot, states_table, write_snapshot
from econonexus.agents.state import AgentState, apply
from econonexus.agents.strategies import agent_key, clock_answers, round_bids


@dataclass(frozen=True)
class ApplyReport:
    """What one delivery did: events applied, skipped as already applied, rejected with reasons."""

    shard_id: int
    applied: int
    skipped: int
    rejected: tuple[tuple[int, str], ...]
    applied_seq: int


class ShardCore:
    """The agents of one shard and the last event applied to any of them.

    Events at or below ``applied_seq`` are skipped, so delivering an event
    twice (after a migration or recovery) applies it once. An event that does
    not fit its agent's state is rejected with its reason and the rest of the
    delivery goes on; replaying the same events rejects the same ones.
    """

    def __init__(
        self, shard_id: int, agents: dict[str, AgentState] | None = None, applied_seq: int = -1
    ):
        self.shard_id = shard_id
        self.agents: dict[str, AgentState] = dict(agents or {})
        self.applied_seq = applied_seq
        self._keys: dict[str, int] = {}
        self._capable: dict[str, list[str]] | None = None  # capability -> agents, built on use

    def apply_events(self, events: list[Event]) -> ApplyReport:
        """Apply ``events`` (any order; applied by ``seq``)."""
        fresh = [e for e in sorted(events, key=lambda e: e.seq) if e.seq > self.applied_seq]
        fresh = [e for k, e in enumerate(fresh) if k == 0 or e.seq != fresh[k - 1].seq]
        applied, rejected = self._one_by_one(fresh)
        return self._report(applied, len(events) - len(fresh), rejected)

    def apply_table(self, events: pl.DataFrame) -> ApplyReport:
        """Apply a table of events (any order; applied by ``seq``), runs of outcome events
        in bulk (:mod:`econonexus.agents.bulk_outcomes`): the same states as
        :meth:`apply_events`, faster."""
        fresh = events.filter(pl.col("seq") > self.applied_seq).unique("seq").sort("seq")
        applied, rejected = 0, list[tuple[int, str]]()
        for bulk, run in outcome_runs(fresh):
            if bulk:
                done, refused = apply_outcomes(self.agents, run, self._one_by_one)
            else:
                done, refused = self._one_by_one(events_from_table(run))
            applied, rejected = applied + done, rejected + refused
            self.applied_seq = max(self.applied_seq, int(run["seq"].to_numpy().max()))
        return self._report(applied, events.height - fresh.height, rejected)

    def _one_by_one(self, events: list[Event]) -> tuple[int, list[tuple[int, str]]]:
        """Apply ``events`` (in ``seq`` order, all new) one at a time."""
        applied = 0
        rejected: list[tuple[int, str]] = []
        for event in events:
            try:
                self.agents[event.agent_id] = apply(self.agents.get(event.agent_id), event)
                applied += 1
            except AgentStateError as exc:
                rejected.append((event.seq, str(exc)))
            self.applied_seq = max(self.applied_seq, event.seq)
        return applied, rejected

    def _report(self, applied: int, skipped: int, rejected: list[tuple[int, str]]) -> ApplyReport:
        if applied:
            self._capable = None
        rejected.sort()
        return ApplyReport(self.shard_id, applied, skipped, tuple(rejected), self.applied_seq)

    def bids(self, offer: pl.DataFrame, *, seed: int, round_no: int) -> pa.Table:
        """This shard's bids for one round (agents in id order)."""
        states = [self.agents[a] for a in sorted(self.agents)]
        keys = np.fromiter((self._key(s.agent_id) for s in states), np.uint64, len(states))
        return round_bids(states, keys, offer, seed=seed, round_no=round_no)

    def answers(self, asks: pl.DataFrame, *, seed: int, round_no: int) -> np.ndarray:
        """This shard's agents' answers to clock prices (see :func:`clock_answers`)."""
        states, keys = self._asked(asks)
        return clock_answers(states, keys, asks, seed=seed, round_no=round_no)

    def package_bids(self, packages: pl.DataFrame, *, seed: int, round_no: int) -> np.ndarray:
        """This shard's agents' supplementary bids on ``packages`` (see :func:`package_bids`)."""
        states, keys = self._asked(packages)
        return package_bids(states, keys, packages, seed=seed, round_no=round_no)

    def _asked(self, rows: pl.DataFrame) -> tuple[list[AgentState], np.ndarray]:
        """The states of this shard's agents named in ``rows`` (in id order) and their keys."""
        asked = rows["agent_id"].unique().to_list()
        states = [self.agents[a] for a in sorted(asked) if a in self.agents]
        return states, np.fromiter((self._key(s.agent_id) for s in states), np.uint64, len(states))

    def capable(self, capability: str) -> pl.DataFrame:
        """This shard's agents able to do ``capability`` (see :func:`capable_rows`)."""
        return capable_rows(self._able(capability), capability)

    def offers(
        self, tasks: pl.DataFrame, *, seed: int, round_no: int, presorted: bool = False
    ) -> pa.Table:
        """This shard's sell offers on ``tasks`` (see :func:`sell_offers`)."""
        able = {
            a.agent_id: a for c in tasks["capability"].unique().to_list() for a in self._able(c)
        }
        states = [able[a] for a in sorted(able)]
        return sell_offers(states, tasks, seed=seed, round_no=round_no, presorted=presorted)

    def _able(self, capability: str) -> list[AgentState]:
        """The agents (not banned) with ``capability``, from the shard's capability index."""
        if self._capable is None:
            ids = sorted(self.agents)
            found = capability_index([self.agents[a] for a in ids])
            self._capable = {c: [ids[i] for i in rows] for c, rows in found.items()}
        return [self.agents[a] for a in self._capable.get(capability, ())]

    def _key(self, agent_id: str) -> int:
        key = self._keys.get(agent_id)
        if key is None:
            key = self._keys[agent_id] = agent_key(agent_id)
        return key


class Shard:
    """Dask actor shell: hosts one :class:`ShardCore`, snapshots it, restores it.

    Create with ``client.submit(Shard, shard_id, root, actor=True)``. Every
    method is a plain call; all state lives in the core.
    """

    def __init__(self, shard_id: int, root: str, lease_generation: int | None = None):
        self._core = ShardCore(shard_id)
        self._root = root
        self._fence = None if lease_generation is None else Lease(root, lease_generation, "")
        self._started = time.time()

    def restore(self) -> int:
        """Load the last committed snapshot, replay the journal after it; return ``applied_seq``."""
        snapshot = read_snapshot(self._root, self._core.shard_id)
        agents = {s.agent_id: s for s in snapshot.states} if snapshot else {}
        self._core = ShardCore(
            self._core.shard_id, agents, snapshot.applied_seq if snapshot else -1
        )
        replay = read_journal(
            self._root, shard_id=self._core.shard_id, after=self._core.applied_seq
        )
        self._core.apply_table(replay)
        return self._core.applied_seq

    def apply(self, events: pa.Table) -> ApplyReport:
        """Apply a delivery of events addressed to this shard's agents."""
        frame = pl.from_arrow(events)
        assert isinstance(frame, pl.DataFrame)
        return self._core.apply_table(frame)

    def bids(self, offer: pa.Table, seed: int, round_no: int) -> pa.Table:
        """This shard's bids for round ``round_no`` on ``offer`` (market, item and format)."""
        frame = pl.from_arrow(offer)
        assert isinstance(frame, pl.DataFrame)
        return self._core.bids(frame, seed=seed, round_no=round_no)

    def answers(self, asks: pa.Table, seed: int, round_no: int) -> list[bool]:
        """Answers to one clock round's prices (``agent_id``, ``market_id``, ``item_id``,
        ``price``), one per row: does the agent stay in (English) or take it (Dutch)?"""
        frame = pl.from_arrow(asks)
        assert isinstance(frame, pl.DataFrame)
        return [bool(a) for a in self._core.answers(frame, seed=seed, round_no=round_no)]

    def package_bids(self, packages: pa.Table, seed: int, round_no: int) -> list[float]:
        """Supplementary bids on ``packages`` (``agent_id``, ``market_id``, ``items``), one per
        row (NaN: an agent this shard does not hold)."""
        frame = pl.from_arrow(packages)
        assert isinstance(frame, pl.DataFrame)
        bids: list[float] = self._core.package_bids(frame, seed=seed, round_no=round_no).tolist()
        return bids

    def capable(self, capability: str) -> pa.Table:
        """The agents of this shard able to do ``capability``: cost, capacity, reputation."""
        return self._core.capable(capability).to_arrow()

    def offers(self, tasks: pa.Table, seed: int, round_no: int) -> pa.Table:
        """This shard's sell offers on ``tasks`` (sorted by capability and task id, as the
        pool sends them) for round ``round_no``."""
        frame = pl.from_arrow(tasks)
        assert isinstance(frame, pl.DataFrame)
        return self._core.offers(frame, seed=seed, round_no=round_no, presorted=True)

    def snapshot(self) -> dict[str, Any]:
        """Write a snapshot and commit it; return its pointer (version, ``applied_seq``, agents)."""
        fence = None if self._fence is None else self._fence.check
        return write_snapshot(
            self._root, self._core.shard_id, self._states(), self._core.applied_seq, fence=fence
        )

    def states(self) -> pa.Table:
        """Every agent's state as a table (the snapshot's rows)."""
        return self._states()

    def agent(self, agent_id: str) -> dict[str, Any] | None:
        """One agent's state as a dict, or ``None`` if this shard does not host it."""
        state = self._core.agents.get(agent_id)
        return None if state is None else dataclasses.asdict(state)

    def health(self) -> dict[str, Any]:
        """Agents hosted, state and process memory, last event, worker and pid."""
        import psutil  # type: ignore[import-untyped]  # a dependency of distributed

        return {
            "shard_id": self._core.shard_id,
            "agents": len(self._core.agents),
            "state_bytes": self._states().nbytes,
            "process_rss": psutil.Process().memory_info().rss,
            "applied_seq": self._core.applied_seq,
            "pid": os.getpid(),
            "started": self._started,
        }

    def ping(self) -> int:
        """The last applied event (a heartbeat)."""
        return self._core.applied_seq

    def _states(self) -> pa.Table:
        return states_table(self._core.agents[a] for a in sorted(self._core.agents))
