"""Shard health as live events (``shard_health``), for the dashboard's agent-shard table."""

from __future__ import annotations

from typing import Any

from econonexus.agents.event_feed import publish
from econonexus.agents.registry import Registry


def round_health(
    registry: Registry, members: dict[int, set[str]], missing: dict[int, str]
) -> list[dict[str, Any]]:
    """Per shard, what the client knows after a round, without asking the shards."""
    return [
        {
            "shard_id": slot.shard_id,
            "worker": None if slot.handle is None else slot.handle.worker,
            "generation": slot.generations,
            "agents": len(members[slot.shard_id]),
            "last_heartbeat": slot.last_heartbeat,
            "breaker": slot.breaker.state,
            "status": f"left out: {missing[slot.shard_id]}" if slot.shard_id in missing else "ok",
        }
        for slot in registry.slots
    ]


def health_rows(
    registry: Registry, members: dict[int, set[str]], answers: dict[int, Any]
) -> list[dict[str, Any]]:
    """Per shard, what the client knows plus the shard's own ``health`` answer (or its error)."""
    rows = []
    for slot in registry.slots:
        answer = answers[slot.shard_id]
        ok = isinstance(answer, dict)
        rows.append(
            {
                "shard_id": slot.shard_id,
                "worker": None if slot.handle is None else slot.handle.worker,
                "generation": slot.generations,
                "agents": answer["agents"] if ok else len(members[slot.shard_id]),
                "state_bytes": answer["state_bytes"] if ok else None,
                "process_rss": answer["process_rss"] if ok else None,
                "last_seq": answer["applied_seq"] if ok else None,
                "last_heartbeat": slot.last_heartbeat,
                "breaker": slot.breaker.state,
                "status": "ok" if ok else f"unreachable: {answer}",
            }
        )
    return rows


def publish_health(registry: Registry, pool: str, rows: list[dict[str, Any]]) -> None:
    """Publish the pool's shard rows (best effort, as every live event)."""
    publish(registry.client, "shard_health", {"pool": pool, "shards": rows})
