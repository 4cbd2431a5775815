"""Live events: what runs and agent pools publish to the Dask event topic.

Subscribe with ``client.subscribe_topic("econonexus", handler)`` or read
``client.get_events("econonexus")``; the scheduler's EconoNexus dashboard
page and its ``econonexus_*`` metrics are built from the same events.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

from distributed import Client

logger = logging.getLogger(__name__)
EVENT_TOPIC: Final = "econonexus"
"""The Dask event topic every run and agent pool publishes to."""


def publish(client: Client, kind: str, payload: dict[str, Any]) -> None:
    """Publish one event of ``kind`` (msgpack-safe: NaN and infinities become None).

    Monitoring never fails the work it reports on: an event that cannot be
    sent (a closing client, a lost scheduler) is logged and dropped.
    """
    event = {"kind": kind, **{k: _plain(v) for k, v in payload.items()}}
    try:
        client.log_event(EVENT_TOPIC, event)
    except Exception as exc:
        logger.warning("live event %s not published: %s", kind, exc)


def market_events(event: dict[str, Any]) -> list[dict[str, Any]]:
    """A ``markets_cleared`` event (``markets``: a list per summary column) as one
    ``market_cleared`` event per market; any other event as it is."""
    if event.get("kind") != "markets_cleared":
        return [event]
    common = {k: v for k, v in event.items() if k not in ("kind", "markets")}
    columns: dict[str, list[Any]] = event.get("markets", {})
    rows = zip(*columns.values(), strict=True)
    return [common | {"kind": "market_cleared"} | dict(zip(columns, r, strict=True)) for r in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        if all(isinstance(v, str | int) or v is None for v in value):  # nothing to clean
            return value
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
