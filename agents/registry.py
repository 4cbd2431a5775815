"""The registry: which actor hosts each shard, and routed, guarded calls to it.

Callers name an agent or a shard, never an actor. Every call to a shard goes
through its lock (one call at a time, so answers cannot arrive out of order
and a migration never races a delivery), its circuit breaker and the retry
policy.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distributed import Client, Future

from econonexus._core.errors import ShardUnavailableError
from econonexus.agents.messaging import CircuitBreaker, RetryPolicy, call
from econonexus.agents.placement import rendezvous
from econonexus.agents.shard import Shard


@dataclass
class Handle:
    """One live actor of a shard: its future, proxy, worker and generation."""

    future: Future[Any]
    actor: Any
    worker: str
    generation: int


@dataclass
class Slot:
    """Everything the registry keeps per shard across actor generations."""

    shard_id: int
    handle: Handle | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    last_heartbeat: float | None = None
    generations: int = 0


class Registry:
    """Shard id to actor, with placement on live workers."""

    def __init__(
        self,
        client: Client,
        root: str,
        n_shards: int,
        *,
        policy: RetryPolicy,
        breaker: Callable[[], CircuitBreaker],
        lease_generation: int | None = None,
    ):
        self.client = client
        self.root = root
        self.lease_generation = lease_generation  # shards fence their snapshot commits with it
        self.policy = policy
        self.slots = [Slot(i, breaker=breaker()) for i in range(n_shards)]
        # Keys must be unique per registry: a released actor's key can linger on the
        # scheduler, and a submit with the same key would get the old actor back.
        self.token = uuid.uuid4().hex[:8]

    def workers(self) -> list[str]:
        """Addresses of the live workers, sorted (waits up to the call timeout for one)."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        if not workers:
            self.client.wait_for_workers(1, timeout=self.policy.timeout)
            workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return sorted(workers)

    def home(self, shard_id: int, workers: list[str] | None = None) -> str:
        """The worker rendezvous hashing assigns ``shard_id`` among ``workers`` (default: live)."""
        return rendezvous(shard_id, workers if workers is not None else self.workers())

    def start(self, shard_id: int, worker: str) -> Handle:
        """Start an empty actor for ``shard_id`` on ``worker`` (not yet registered)."""
        slot = self.slots[shard_id]
        slot.generations += 1
        future = self.client.submit(
            Shard,
            shard_id,
            self.root,
            self.lease_generation,
            actor=True,
            workers=[worker],
            allow_other_workers=False,
            key=f"enx-shard-{shard_id:05d}-{self.token}-g{slot.generations}",
            pure=False,
        )
        return Handle(future, future.result(timeout=self.policy.timeout), worker, slot.generations)

    def call(self, shard_id: int, method: str, *args: Any) -> Any:
        """Call ``method`` on the shard's current actor, under its lock, breaker and policy."""
        slot = self.slots[shard_id]
        with slot.lock:
            handle = slot.handle
            if handle is None:
                raise ShardUnavailableError(
                    f"shard {shard_id}: no live actor; recover it", lost=True
                )
            value = self.call_handle(slot, handle, method, *args)
            slot.last_heartbeat = time.time()
            return value

    def call_handle(self, slot: Slot, handle: Handle, method: str, *args: Any) -> Any:
        """Call ``method`` on a given actor of ``slot`` (for migration and recovery)."""

        def send() -> Any:
            return getattr(handle.actor, method)(*args)

        return call(send, name=f"shard {slot.shard_id}", policy=self.policy, breaker=slot.breaker)

    def is_lost(self, shard_id: int, live: set[str]) -> bool:
        """True when the shard has no actor, its future erred, or its worker is gone."""
        handle = self.slots[shard_id].handle
        return handle is None or handle.future.status != "finished" or handle.worker not in live

    def retire(self, handle: Handle) -> None:
        """Drop an actor that is no longer registered (its worker deletes it)."""
        self.client.cancel([handle.future], force=True)
