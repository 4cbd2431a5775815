"""Moving shard actors: migration to a named worker, rebuilding a lost shard.

Both start a new actor, let it restore itself from the last snapshot plus
the journal after it, register it, and retire the old actor, all under the
shard's lock so that no call reaches a half-moved shard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from econonexus._core.errors import ShardUnavailableError
from econonexus.agents.registry import Handle, Registry


@dataclass(frozen=True)
class Move:
    """A shard moved from one worker to another: ``migrated`` or ``recovered``."""

    shard_id: int
    source: str | None
    target: str
    applied_seq: int
    seconds: float
    kind: str = "migrated"


def install(registry: Registry, shard_id: int, worker: str, expected: int = 0) -> int:
    """Start an actor on ``worker``, restore it, register it; return its ``applied_seq``.

    A restored actor hosting fewer than ``expected`` agents (its snapshots and
    journal no longer hold them) is dropped, never registered: answering for a
    shard it does not have would be answering wrong.
    """
    slot = registry.slots[shard_id]
    handle: Handle = registry.start(shard_id, worker)
    seq = int(registry.call_handle(slot, handle, "restore"))
    hosted = int(registry.call_handle(slot, handle, "health")["agents"])
    if hosted < expected:
        registry.retire(handle)
        raise ShardUnavailableError(
            f"shard {shard_id}: rebuilt with {hosted} agents, expected {expected}: its "
            "snapshots and journal no longer hold them",
            lost=True,
        )
    slot.handle = handle
    slot.last_heartbeat = time.time()
    return seq


def move_shard(registry: Registry, shard_id: int, worker: str, expected: int = 0) -> Move:
    """Snapshot the shard, start it on ``worker``, restore, switch, retire the old actor.

    Events delivered meanwhile are in the journal and the new actor replays
    them; a redelivered event is skipped by its ``seq``: none is lost or
    applied twice.
    """
    slot = registry.slots[shard_id]
    started = time.perf_counter()
    with slot.lock:
        old = slot.handle
        if old is not None and old.worker == worker:
            return Move(shard_id, worker, worker, -1, 0.0)
        if old is not None:
            registry.call_handle(slot, old, "snapshot")
        seq = install(registry, shard_id, worker, expected)
        if old is not None:
            registry.retire(old)
    source = None if old is None else old.worker
    return Move(shard_id, source, worker, seq, time.perf_counter() - started)


def rebuild_shard(registry: Registry, shard_id: int, expected: int = 0) -> Move:
    """Rebuild a shard on its rendezvous worker among the live ones, whatever its old actor.

    Raises
    ------
    ShardUnavailableError
        If the rebuilt shard hosts fewer than ``expected`` agents; the shard then has no actor.
    """
    slot = registry.slots[shard_id]
    started = time.perf_counter()
    with slot.lock:
        old = slot.handle
        slot.breaker.record_success()  # the breaker judged the old actor, not the new one
        target = registry.home(shard_id)
        seq = install(registry, shard_id, target, expected)
        if old is not None:
            registry.retire(old)
    source = None if old is None else old.worker
    return Move(shard_id, source, target, seq, time.perf_counter() - started, kind="recovered")


def lost_shards(registry: Registry) -> list[int]:
    """Shards whose actor is gone: its future erred or its worker left."""
    live = set(registry.workers())
    return [s.shard_id for s in registry.slots if registry.is_lost(s.shard_id, live)]
