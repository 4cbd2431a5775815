"""Prometheus metrics ``econonexus_*``, served on the Dask dashboard's ``/metrics``.

Each dashboard plugin keeps its metrics in its own registry (so that several
schedulers in one process, as in tests, never share counts); one collector,
registered once per process in ``prometheus_client``'s default registry that
Dask's ``/metrics`` handler serves, yields the metrics of the newest live
plugin, the way Dask's own collectors follow the newest scheduler.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import polars as pl
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

from econonexus.agents.event_feed import market_frame

SOLVE_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0)


class Metrics:
    """The ``econonexus_*`` metrics of one scheduler, updated from live events."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter("econonexus_runs", "Runs finished, by status", ["status"], registry=r)
        self.markets = Counter(
            "econonexus_markets_cleared",
            "Markets cleared, by status and format",
            ["status", "format"],
            registry=r,
        )
        self.halts = Counter("econonexus_halts", "Market halts tripped", ["rule"], registry=r)
        self.bids = Counter("econonexus_bids", "Valid bids cleared", registry=r)
        self.rejected = Counter("econonexus_rejected_bids", "Bid rows rejected", registry=r)
        self.solve = Histogram(
            "econonexus_solve_seconds",
            "Solver seconds per market",
            buckets=SOLVE_BUCKETS,
            registry=r,
        )
        self.run_seconds = Histogram(
            "econonexus_run_seconds", "Wall seconds per run", buckets=SOLVE_BUCKETS, registry=r
        )
        self.shards = Gauge(
            "econonexus_agent_shards", "Agent shards, by status", ["status"], registry=r
        )

    def _observe_markets(self, frame: pl.DataFrame) -> None:
        """Count a ``markets_cleared`` event's markets (one Polars pass, not one per row)."""
        for status, fmt, n in _bulk_counts(frame):
            self.markets.labels(status, fmt).inc(n)
        self.bids.inc(int(frame["n_bids"].fill_null(0).sum()))
        for seconds in frame["solve_seconds"].drop_nulls().to_list():
            self.solve.observe(float(seconds))

    def observe(self, event: dict[str, Any]) -> None:
        """Count one live event (see :mod:`econonexus.agents.event_feed`)."""
        kind = event.get("kind")
        if kind == "markets_cleared":
            self._observe_markets(market_frame(event))
        elif kind == "market_cleared":
            self.markets.labels(str(event.get("status")), str(event.get("format"))).inc()
            self.bids.inc(event.get("n_bids") or 0)
            if event.get("solve_seconds") is not None:
                self.solve.observe(float(event["solve_seconds"]))
        elif kind == "market_halted" and event.get("new", True):
            self.halts.labels(str(event.get("rule"))).inc()
        elif kind == "run_finished":
            self.runs.labels(str(event.get("status"))).inc()
            self.rejected.inc(event.get("rejected") or 0)
            if event.get("seconds") is not None:
                self.run_seconds.observe(float(event["seconds"]))
        elif kind == "run_failed":
            self.runs.labels("failed").inc()
        elif kind == "shard_health":
            self.shards.clear()
            for row in event.get("shards", []):
                self.shards.labels(_shard_status(row)).inc()


def _bulk_counts(frame: pl.DataFrame) -> list[tuple[str, str, int]]:
    counts = frame.group_by("status", "format").len()
    return [(str(status), str(fmt), int(n)) for status, fmt, n in counts.iter_rows()]


def _shard_status(row: dict[str, Any]) -> str:
    status = str(row.get("status") or "unknown")
    return "ok" if status == "ok" else status.split(":")[0]


_LIVE: list[Metrics] = []


class _NewestMetrics:
    """The process-wide collector: the metrics of the newest live plugin."""

    def describe(self) -> list[Metric]:
        return []  # names vary with the plugin; skip the registry's duplicate check

    def collect(self) -> Iterator[Metric]:
        if _LIVE:
            yield from _LIVE[-1].registry.collect()


# Registered once, on import: with no live plugin it yields nothing.
REGISTRY.register(_NewestMetrics())  # type: ignore[arg-type]


def expose(metrics: Metrics) -> None:
    """Serve ``metrics`` on this process's ``/metrics`` (until :func:`withdraw`)."""
    _LIVE.append(metrics)


def withdraw(metrics: Metrics) -> None:
    """Stop serving ``metrics``."""
    if metrics in _LIVE:
        _LIVE.remove(metrics)
