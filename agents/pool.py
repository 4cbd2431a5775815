"""AgentPool: agents on a Dask cluster, in shard actors, addressed by agent id.

The pool is the coordinator. It assigns every event its ``seq``, writes it to
the journal, then delivers it to the agent's shard; it collects a round's bids
from every shard, snapshots, migrates, rebalances and recovers shards. Its
state on the client is only the registry and the next ``seq``: everything
else can be rebuilt from ``root`` (snapshots plus journal).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Self

import numpy as np
import polars as pl
import pyarrow as pa
from distributed import Client

from econonexus._core.config import get_setting
from econonexus._core.errors import EconoNexusError, InputError
from econonexus._core.schemas import BIDS_SCHEMA
from econonexus.agents.events import created_events, events_table
from econonexus.agents.journal import JournalWriter
from econonexus.agents.lease import Lease
from econonexus.agents.messaging import CircuitBreaker, Messenger, RetryPolicy
from econonexus.agents.placement import shard_of
from econonexus.agents.pool_moves import ShardMoves
from econonexus.agents.pool_results import BidRound, ClockAnswers, Delivery
from econonexus.agents.pool_root import claim_existing_root, claim_new_root
from econonexus.agents.pool_rounds import clock_round, left_out, package_round
from econonexus.agents.pool_views import PoolViews
from econonexus.agents.registry import Registry
from econonexus.agents.relocation import Move
from econonexus.agents.selling import CAPABLE_SCHEMA
from econonexus.agents.shard import ApplyReport
from econonexus.agents.shard_health import publish_health, round_health
from econonexus.agents.storage import local_path_made_absolute


class AgentPool:
    """Shards of agents on a cluster; see :meth:`create` and :meth:`open`."""

    def __init__(
        self,
        client: Client,
        root: str,
        n_shards: int,
        *,
        policy: RetryPolicy | None = None,
        breaker: Callable[[], CircuitBreaker] = CircuitBreaker,
        auto_rebalance: bool | None = None,
        lease: Lease | None = None,
    ):
        if n_shards < 1:
            raise InputError(f"`shards`: expected a whole number >= 1, got {n_shards}")
        self.root = local_path_made_absolute(root).rstrip("/")  # workers have other cwds
        self.n_shards = n_shards
        self._lease = lease
        self._registry = Registry(
            client,
            self.root,
            n_shards,
            policy=policy or RetryPolicy(),
            breaker=breaker,
            lease_generation=None if lease is None else lease.generation,
        )
        if auto_rebalance is None:
            auto_rebalance = bool(get_setting("agents.auto-rebalance"))
        self._auto_rebalance = auto_rebalance
        self._messenger = Messenger()
        self._deliver_lock = threading.Lock()
        self._journal = JournalWriter(self.root, lease)
        self._members: dict[int, set[str]] = {i: set() for i in range(n_shards)}
        self._shards: dict[str, int] = {}
        self._moves = ShardMoves(self._registry, self._members)
        self._views = PoolViews(self.root, self._registry, self._members, self._ask_all)

    @classmethod
    def create(
        cls,
        client: Client,
        agents: pl.DataFrame,
        *,
        shards: int,
        root: str,
        policy: RetryPolicy | None = None,
        auto_rebalance: bool | None = None,
    ) -> Self:
        """Start ``shards`` shard actors and create ``agents`` (one row per agent) in them.

        ``agents`` has ``agent_id`` and any fields of
        :class:`~econonexus.agents.state.AgentState`; ``valuations`` is a list
        of ``{market_id, item_id, value}``. Refuses a ``root`` that already
        holds a pool (use :meth:`open`). ``policy`` (timeouts and retries) and
        ``auto_rebalance`` default to the ``econonexus.agents.*`` settings.
        The pool holds the root's one-writer lease until :meth:`close`.
        """
        lease = claim_new_root(root, shards)
        pool = cls(client, root, shards, policy=policy, auto_rebalance=auto_rebalance, lease=lease)
        pool._start_all(restore=False)
        pool.deliver(created_events(agents))
        pool.snapshot()
        return pool

    @classmethod
    def open(
        cls,
        client: Client,
        root: str,
        *,
        policy: RetryPolicy | None = None,
        auto_rebalance: bool | None = None,
        wait: float = 0.0,
        break_lease: bool = False,
    ) -> Self:
        """Reopen the pool stored at ``root``: every shard from its snapshot plus the journal.

        Takes the root's one-writer lease (see :mod:`econonexus.agents.lease`):
        if another live process holds it, waits up to ``wait`` seconds, then
        raises :class:`~econonexus.LeaseError` naming the holder.
        ``break_lease=True`` takes the pool over and fences the old holder out.
        """
        shards, lease = claim_existing_root(root, wait=wait, break_lease=break_lease)
        try:
            pool = cls(
                client, root, shards, policy=policy, auto_rebalance=auto_rebalance, lease=lease
            )
        except BaseException:
            lease.release()
            raise
        pool._start_all(restore=True)
        for shard_id in range(pool.n_shards):
            ids = pool._registry.call(shard_id, "states").column("agent_id").to_pylist()
            pool._members[shard_id] = set(ids)
            pool._shards.update(dict.fromkeys(ids, shard_id))
        return pool

    # -- addressing -----------------------------------------------------------------

    def shard_of(self, agent_id: str) -> int:
        """The shard hosting ``agent_id``."""
        shard = self._shards.get(agent_id)
        return shard_of(agent_id, self.n_shards) if shard is None else shard

    def ask(self, agent_id: str, method: str, *args: Any) -> Future[Any]:
        """Call ``method(*args)`` on the shard hosting ``agent_id``; a future of the answer."""
        return self._messenger.ask(self._registry.call, self.shard_of(agent_id), method, *args)

    def tell(self, agent_id: str, method: str, *args: Any) -> None:
        """Call ``method(*args)`` on the shard hosting ``agent_id`` and do not wait."""
        self._messenger.tell(self._registry.call, self.shard_of(agent_id), method, *args)

    def agent(self, agent_id: str) -> dict[str, Any] | None:
        """One agent's state (a dict of its fields), or ``None`` if no such agent."""
        state: dict[str, Any] | None = self.ask(agent_id, "agent", agent_id).result()
        return state

    # -- rounds and events ------------------------------------------------------------

    def bid_round(self, offer: pl.DataFrame, *, seed: int, round_no: int) -> BidRound:
        """Every shard's bids for one round, as one table in the bids schema.

        A shard that does not answer is left out: its agents are listed in
        ``left_out`` with the reason, and the round goes on without them.
        With auto-rebalance (setting ``agents.auto-rebalance``), shards lost
        before the round are first recovered and, if workers joined or left,
        shards follow them (:meth:`reconcile`).
        """
        started = time.perf_counter()
        moved = tuple(self._moves.reconcile()) if self._auto_rebalance else ()
        table = offer.select("market_id", "item_id", "format").to_arrow()
        answers = self._ask_all("bids", table, seed, round_no)
        tables = [a for a in answers.values() if isinstance(a, pa.Table)]
        missing = {s: str(a) for s, a in answers.items() if not isinstance(a, pa.Table)}
        bids = pa.concat_tables([BIDS_SCHEMA.empty_table(), *tables]).sort_by("bid_id")
        publish_health(
            self._registry, self.root, round_health(self._registry, self._members, missing)
        )
        left = left_out(self._members, missing)
        return BidRound(bids, left, time.perf_counter() - started, moved)

    def capable(self, capability: str) -> pl.DataFrame:
        """The agents able to do ``capability``, from each shard's capability index.

        One row per agent (``agent_id``, ``capability``, ``cost`` per unit,
        ``capacity`` in units per round, ``reputation``), sorted by ``agent_id``;
        banned agents are left out. Raises if a shard cannot answer.
        """
        answers = self._ask_all("capable", capability)
        found = [pl.DataFrame(a) for a in self._answered(answers)]
        return pl.concat([pl.DataFrame(schema=CAPABLE_SCHEMA), *found]).sort("agent_id")

    def offers(self, tasks: pl.DataFrame, *, seed: int, round_no: int) -> BidRound:
        """Sell offers of the capable agents on ``tasks``, as one table in the bids schema
        (shard by shard, each shard's in ``bid_id`` order).

        ``tasks`` has ``task_id``, ``capability``, ``quantity`` and ``reserve``
        (checked rows: :func:`~econonexus.agents.tasks.checked_tasks`). Each
        agent offers within its capacity (:mod:`econonexus.agents.selling`). A
        shard that does not answer is left out, as in :meth:`bid_round`.
        """
        started = time.perf_counter()
        wanted = tasks.select("task_id", "capability", "quantity", "reserve")
        table = wanted.sort("capability", "task_id").to_arrow()  # sorted once for every shard
        answers = self._ask_all("offers", table, seed, round_no)
        tables = [answers[s] for s in sorted(answers) if isinstance(answers[s], pa.Table)]
        missing = {s: str(a) for s, a in answers.items() if not isinstance(a, pa.Table)}
        bids = pa.concat_tables([BIDS_SCHEMA.empty_table(), *tables])  # shard by shard
        return BidRound(bids, left_out(self._members, missing), time.perf_counter() - started, ())

    def answers(self, asks: pl.DataFrame, *, seed: int, round_no: int) -> ClockAnswers:
        """Live answers to one clock round: one call per shard holding asked agents, at once.

        ``asks`` has ``agent_id``, ``market_id``, ``item_id`` and ``price``;
        each agent answers as its strategy bids in round ``round_no`` (an
        unknown agent answers no). A shard that does not answer is recovered
        on a live worker (snapshot plus journal) and asked again; rows whose
        shard still cannot answer are marked ``unanswered``, never taken as no.
        """
        return clock_round(self._ask_each, self._moves, asks, self.n_shards, seed, round_no)

    def package_bids(
        self, packages: pl.DataFrame, *, seed: int, round_no: int
    ) -> tuple[np.ndarray, dict[int, str]]:
        """Live supplementary bids of a CCA: per row of ``packages`` (``agent_id``,
        ``market_id``, ``items``) the agent's bid from its shard
        (:func:`~econonexus.agents.packages.package_bids`), NaN where its shard could not
        answer even after recovery; and why, per shard."""
        return package_round(self._ask_each, self._moves, packages, self.n_shards, seed, round_no)

    def deliver(self, events: pl.DataFrame) -> Delivery:
        """Number, journal and deliver ``events`` (rows of the agent events schema without ``seq``).

        The journal entry is written before any shard sees the events, so a
        shard that misses them (listed in ``failed``) gets them on recovery.
        """
        with self._deliver_lock:
            first = self._journal.next_seq
            numbered = self._numbered(events, first)
            self._journal.append(numbered)
            joined = numbered.select("agent_id", "shard_id").unique()
            for agent_id, shard in joined.iter_rows():
                self._members[shard].add(agent_id)
            parts = numbered.partition_by("shard_id", as_dict=True)
            answers = self._ask_each(
                "apply", {int(k[0]): (p.to_arrow(),) for k, p in parts.items()}
            )
        reports = tuple(a for a in answers.values() if isinstance(a, ApplyReport))
        failed = {s: str(a) for s, a in answers.items() if not isinstance(a, ApplyReport)}
        return Delivery(first, self._journal.next_seq - 1, reports, failed)

    def _numbered(self, events: pl.DataFrame, first: int) -> pl.DataFrame:
        agents = events["agent_id"].unique().to_list()
        for a in agents:
            if a not in self._shards:
                self._shards[a] = shard_of(a, self.n_shards)
        home = pl.DataFrame(
            {"agent_id": agents, "shard_id": [self._shards[a] for a in agents]},
            schema={"agent_id": pl.String, "shard_id": pl.Int64},
        )
        frame = events_table(
            events.with_row_index("seq", offset=first).with_columns(pl.col("seq").cast(pl.Int64))
        )
        return frame.join(home, on="agent_id", how="left", maintain_order="left")

    def snapshot(self) -> pl.DataFrame:
        """Snapshot every shard; per shard its `version`, `applied_seq`, `agents` or `error`."""
        answers = self._ask_all("snapshot")
        rows = [
            {"shard_id": s, **a, "error": None}
            if isinstance(a, dict)
            else {"shard_id": s, "error": str(a)}
            for s, a in sorted(answers.items())
        ]
        return pl.DataFrame(rows).drop("file", strict=False)

    def close(self) -> None:
        """Stop the pool's threads, release its actors and its lease (snapshots, journal stay)."""
        self._messenger.close()
        for slot in self._registry.slots:
            if slot.handle is not None:
                self._registry.retire(slot.handle)
                slot.handle = None
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- placement and views (see ShardMoves and PoolViews) ---------------------------

    def placement(self) -> dict[int, str]:
        """Shard id to the worker hosting its actor now."""
        return self._moves.placement()

    def migrate(self, shard_id: int, worker: str) -> Move:
        """Move a shard to ``worker`` (see :meth:`ShardMoves.migrate`)."""
        return self._moves.migrate(shard_id, worker)

    def rebalance(self, *, exclude: tuple[str, ...] = ()) -> list[Move]:
        """Move every shard to its rendezvous worker among the live workers not in ``exclude``."""
        return self._moves.rebalance(exclude=exclude)

    def retire_worker(self, worker: str) -> list[Move]:
        """Move the shards off ``worker``, then retire it."""
        return self._moves.retire_worker(worker)

    def reconcile(self) -> list[Move]:
        """Recover lost shards, then rebalance if the live workers changed since the last call."""
        return self._moves.reconcile()

    def lost_shards(self) -> list[int]:
        """Shards whose actor is gone: its future erred or its worker left."""
        return self._moves.lost_shards()

    def recover(self, shards: list[int] | None = None) -> list[Move]:
        """Rebuild lost shards (or the given ones) on live workers from snapshot plus journal."""
        return self._moves.recover(shards)

    def states(self) -> pl.DataFrame:
        """Every agent's state, sorted by ``agent_id``; raises if a shard cannot answer."""
        return self._views.states()

    def accounts(self) -> pl.DataFrame:
        """:meth:`states` with each agent's age in runs (``age_runs``, from the journal): the
        accounts a clear reads when given the pool (``clear(..., accounts=pool)``), so that
        sybil detection knows who is new."""
        return self._views.accounts()

    def health(self) -> pl.DataFrame:
        """Per shard: worker, agents, memory, last event, last heartbeat, breaker, status."""
        return self._views.health()

    def _repr_html_(self) -> str:
        return self._views.html()

    # -- helpers ----------------------------------------------------------------------

    def _answered(self, answers: dict[int, Any]) -> list[Any]:
        """Every shard's answer; raises naming the first shard that failed."""
        for shard, answer in sorted(answers.items()):
            if isinstance(answer, Exception):
                raise EconoNexusError(f"shard {shard} of {self.root!r} did not answer: {answer}")
        return [answers[s] for s in sorted(answers)]

    def _start_all(self, *, restore: bool) -> None:
        live = self._moves.workers_seen = self._registry.workers()
        for slot in self._registry.slots:
            slot.handle = self._registry.start(
                slot.shard_id, self._registry.home(slot.shard_id, live)
            )
            if restore:
                self._registry.call(slot.shard_id, "restore")

    def _ask_all(self, method: str, *args: Any) -> dict[int, Any]:
        """Call ``method(*args)`` on every shard at once; each answer or the exception raised."""
        return self._ask_each(method, {s: args for s in range(self.n_shards)})

    def _ask_each(self, method: str, calls: dict[int, tuple[Any, ...]]) -> dict[int, Any]:
        """Call ``method`` on each shard in ``calls`` with its own arguments, all at once."""
        futures = {
            s: self._messenger.ask(self._registry.call, s, method, *a) for s, a in calls.items()
        }
        answers: dict[int, Any] = {}
        for s, future in futures.items():
            try:
                answers[s] = future.result()
            except Exception as exc:  # reported per shard; the round goes on
                answers[s] = exc
        return answers
