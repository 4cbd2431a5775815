"""A run's live events: started, each market cleared or halted, finished or failed."""

from __future__ import annotations

from typing import Any

from distributed import Client

from econonexus.agents.event_feed import frame_bytes, publish
from econonexus.pipelines.dashboard.run_monitor import MARKET_EVENT_COLUMNS
from econonexus.pipelines.store.clearing_result import ClearingResult

HALT_KEYS = ("market_id", "rule", "reason")
MARKETS_PER_EVENT = 10_000


def publish_started(client: Client, run_id: str, sources: list[str]) -> None:
    """``run_started``: the run's sources are read and its batch goes to the cluster."""
    publish(client, "run_started", {"run_id": run_id, "sources": sources})


def publish_failed(client: Client, run_id: str, error: BaseException) -> None:
    """``run_failed``: the run stopped and published nothing."""
    text = f"{type(error).__name__}: {error}"
    publish(client, "run_failed", {"run_id": run_id, "error": text})


def publish_finished(
    client: Client, result: ClearingResult, halts: list[dict[str, Any]], seconds: float
) -> None:
    """``markets_cleared`` (the markets' summary rows as Arrow IPC bytes, up to
    ``MARKETS_PER_EVENT`` markets per event; :func:`market_events` reads them),
    ``market_halted`` per halt (``new`` when tripped by this run), then ``run_finished``.

    One event per market cost a scheduler round trip each (5 s for 10,000
    markets), and a list per column a check per value (1 s for 100,000).
    """
    run = {"run_id": result.run_id}
    columns = result.summary.select(MARKET_EVENT_COLUMNS)
    for chunk in columns.iter_slices(MARKETS_PER_EVENT):
        publish(client, "markets_cleared", run | {"markets": frame_bytes(chunk)})
    for halt in halts:  # rule "halted": halted by an earlier run and not resumed yet
        still = halt.get("rule") == "halted"
        publish(
            client, "market_halted", run | {k: halt.get(k) for k in HALT_KEYS} | {"new": not still}
        )
    summary = result.summary
    totals = {
        "status": result.status,
        "markets": summary.height,
        "bids": int(summary["n_bids"].sum()),
        "rejected": result.rejected.select("source", "row").n_unique(),
        "halted": int((summary["status"] == "halted").sum()),
        "welfare": float(summary["welfare"].fill_nan(None).sum()),
        "revenue": float(summary["revenue"].fill_nan(None).sum()),
        "seconds": seconds,
        "location": result.location,
    }
    publish(client, "run_finished", run | totals)
