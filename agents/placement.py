"""Where agents and shards live: an agent's shard by a stable hash, a shard's worker by
rendezvous (highest-random-weight) hashing, so a worker joining or leaving moves
only the shards it wins or held."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import polars as pl

from econonexus._core.errors import InputError
from econonexus.agents.strategies import agent_key


def shard_of(agent_id: str, n_shards: int) -> int:
    """The shard that hosts ``agent_id`` (stable across runs, processes and machines)."""
    return agent_key(agent_id) % n_shards


def by_shard(frame: pl.DataFrame, n_shards: int) -> dict[int, pl.DataFrame]:
    """The rows of ``frame`` (with an ``agent_id`` column) per shard, each with its
    position in ``frame`` as ``_row``."""
    shards = pl.Series([shard_of(a, n_shards) for a in frame["agent_id"]], dtype=pl.Int64)
    numbered = frame.with_row_index("_row").with_columns(_shard=shards)
    return {int(k[0]): g.drop("_shard") for k, g in numbered.group_by("_shard")}  # type: ignore[arg-type]


def rendezvous(shard_id: int, workers: Iterable[str]) -> str:
    """The worker with the highest hash weight for ``shard_id``."""
    candidates = sorted(workers)
    if not candidates:
        raise InputError(
            f"`workers`: expected at least one live worker for shard {shard_id}, got none"
        )
    return max(candidates, key=lambda w: _weight(shard_id, w))


def _weight(shard_id: int, worker: str) -> int:
    digest = hashlib.blake2b(f"{shard_id}|{worker}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
