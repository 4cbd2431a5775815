"""Live events: what runs and agent pools publish to the Dask event topic.

Subscribe with ``client.subscribe_topic("econonexus", handler)`` or read
``client.get_events("econonexus")``; the scheduler's EconoNexus dashboard
page and its ``econonexus_*`` metrics are built from the same events.
"""

from __future__ import annotations

import math
from typing import Any, Final

from distributed import Client

EVENT_TOPIC: Final = "econonexus"
"""The Dask event topic every run and agent pool publishes to."""


def publish(client: Client, kind: str, payload: dict[str, Any]) -> None:
    """Publish one event of ``kind`` (msgpack-safe: NaN and infinities become None)."""
    client.log_event(EVENT_TOPIC, {"kind": kind, **{k: _plain(v) for k, v in payload.items()}})


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
