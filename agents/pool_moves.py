"""Where an agent pool's shards run: placement, migration, rebalancing and recovery.

A part of :class:`econonexus.agents.pool.AgentPool`, which delegates its
public methods here; the moves themselves are in :mod:`econonexus.agents.relocation`.
"""

from __future__ import annotations

import time

from econonexus._core.errors import EconoNexusError, InputError
from econonexus.agents.registry import Registry
from econonexus.agents.relocation import Move, lost_shards, move_shard, rebuild_shard


class ShardMoves:
    """Placement, migration, rebalancing and recovery of a pool's shards."""

    def __init__(self, registry: Registry, members: dict[int, set[str]]):
        self._registry = registry
        self._members = members  # the pool's: agents known per shard
        self.workers_seen: list[str] = []

    def placement(self) -> dict[int, str]:
        """Shard id to the worker hosting its actor now."""
        return {s.shard_id: s.handle.worker for s in self._registry.slots if s.handle is not None}

    def migrate(self, shard_id: int, worker: str) -> Move:
        """Move a shard to ``worker``: snapshot, start there, restore, switch, retire the old actor.

        Calls to the shard wait while it moves; other shards go on. Events
        delivered meanwhile are in the journal and the new actor replays them,
        and a redelivered event is skipped by its ``seq``: none is lost or
        applied twice.
        """
        self._check_shard(shard_id)
        if worker not in self._registry.workers():
            raise InputError(f"`worker`: expected a live worker address, got {worker!r}")
        return move_shard(self._registry, shard_id, worker, len(self._members[shard_id]))

    def rebalance(self, *, exclude: tuple[str, ...] = ()) -> list[Move]:
        """Move every shard to its rendezvous worker among the live workers not in ``exclude``."""
        live = [w for w in self._registry.workers() if w not in exclude]
        moves = []
        for slot in self._registry.slots:
            home = self._registry.home(slot.shard_id, live)
            if slot.handle is None or slot.handle.worker != home:
                moves.append(self.migrate(slot.shard_id, home))
        return moves

    def retire_worker(self, worker: str) -> list[Move]:
        """Move the shards off ``worker``, then retire it (Dask refuses to retire actor holders).

        The scheduler learns of a cancelled actor a moment after the cancel,
        so a refusal is retried a few times with a short backoff.
        """
        moves = self.rebalance(exclude=(worker,))
        for attempt in range(6):
            retired = self._registry.client.retire_workers([worker], close_workers=True)
            if worker in retired:
                return moves
            time.sleep(0.1 * 2**attempt)
        raise EconoNexusError(
            f"`worker`: Dask refused to retire {worker!r} (it answered {retired})"
        )

    def reconcile(self) -> list[Move]:
        """Recover lost shards, then rebalance if the live workers changed since the last call."""
        moves = self.recover()
        workers = self._registry.workers()
        if workers != self.workers_seen:
            moves += self.rebalance()
            self.workers_seen = workers
        return moves

    def lost_shards(self) -> list[int]:
        """Shards whose actor is gone: its future erred or its worker left."""
        return lost_shards(self._registry)

    def recover(self, shards: list[int] | None = None) -> list[Move]:
        """Rebuild lost shards (or the given ones) on live workers from snapshot plus journal."""
        chosen = lost_shards(self._registry) if shards is None else shards
        return [
            rebuild_shard(self._registry, shard_id, len(self._members[shard_id]))
            for shard_id in chosen
        ]

    def _check_shard(self, shard_id: int) -> None:
        n_shards = len(self._registry.slots)
        if not 0 <= shard_id < n_shards:
            raise InputError(f"`shard_id`: expected 0..{n_shards - 1}, got {shard_id}")
