"""Live events: what runs and agent pools publish to the Dask event topic.

Subscribe with ``client.subscribe_topic("econonexus", handler)`` or read
``client.get_events("econonexus")``; the scheduler's EconoNexus dashboard
page and its ``econonexus_*`` metrics are built from the same events.
"""

from __future__ import annotations

import io
import logging
import math
from typing import Any, Final

import polars as pl
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
    """A ``markets_cleared`` event (``markets``: the rows as Arrow IPC bytes) as one
    ``market_cleared`` event per market; any other event as it is."""
    if event.get("kind") != "markets_cleared":
        return [event]
    common = {k: v for k, v in event.items() if k not in ("kind", "markets")}
    return [common | {"kind": "market_cleared"} | row for row in market_frame(event).to_dicts()]


def market_frame(event: dict[str, Any]) -> pl.DataFrame:
    """The market rows of a ``markets_cleared`` event."""
    return pl.read_ipc(io.BytesIO(event["markets"]))


def frame_bytes(frame: pl.DataFrame) -> bytes:
    """``frame`` as Arrow IPC bytes, NaN and infinities as null (:func:`market_events` reads
    them)."""
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    clean = frame.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in floats
    )
    buffer = io.BytesIO()
    clean.write_ipc(buffer, compression="zstd")
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
