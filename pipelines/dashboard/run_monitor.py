"""What the dashboard page shows, folded from the live events of runs and agent pools.

Pure: :class:`Monitor` takes events (the messages of :mod:`econonexus.agents.event_feed`)
with the time they arrived and keeps bounded recent history: runs, markets,
halts and the latest shard health of each agent pool.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from econonexus._core.config import setting_default
from econonexus.agents.event_feed import market_frame

RUN_FIELDS = (
    "run_id",
    "started",
    "finished",
    "status",
    "markets",
    "bids",
    "rejected",
    "halted",
    "welfare",
    "revenue",
    "seconds",
    "location",
    "error",
)
MARKET_EVENT_COLUMNS = (
    "market_id",
    "format",
    "payment_rule",
    "status",
    "n_bids",
    "n_rejected",
    "n_winners",
    "welfare",
    "revenue",
    "solve_seconds",
)
"""The summary columns each ``market_cleared`` event carries."""
MARKET_FIELDS = ("time", "run_id", *MARKET_EVENT_COLUMNS)


@dataclass
class Monitor:
    """Recent history of one scheduler's runs, markets, halts and agent shards."""

    max_runs: int = field(default_factory=setting_default("dashboard.max-runs", int))
    max_markets: int = 5000
    runs: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    markets: deque[dict[str, Any]] = field(default_factory=deque)
    halts: deque[dict[str, Any]] = field(default_factory=deque)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: int = 0
    cleared: int = 0
    halted: int = 0

    def apply(self, event: dict[str, Any], at: float) -> None:
        """Fold one live event that arrived at ``at`` (seconds since the epoch)."""
        self.events += 1
        kind = event.get("kind")
        if kind == "shard_health":
            pool = str(event.get("pool"))
            self.pools[pool] = {"time": at, "shards": list(event.get("shards", []))}
            return
        run_id = event.get("run_id")
        if not isinstance(run_id, str):
            return
        if kind == "run_started":
            self._run(run_id).update(started=at, status="running")
        elif kind == "market_cleared":
            self.cleared += 1
            self._append(self.markets, {f: event.get(f) for f in MARKET_FIELDS} | {"time": at})
        elif kind == "markets_cleared":
            frame = market_frame(event)
            self.cleared += frame.height
            for row in frame.tail(self.max_markets).to_dicts():  # only the newest are shown
                row = {f: row.get(f, event.get(f)) for f in MARKET_FIELDS}
                self._append(self.markets, row | {"time": at})
        elif kind == "market_halted":
            self.halted += bool(event.get("new", True))
            halt = {"time": at, "run_id": run_id, **_pick(event, "market_id", "rule", "reason")}
            self._append(self.halts, halt)
        elif kind == "run_finished":
            self._run(run_id).update(finished=at, **_pick(event, *RUN_FIELDS[3:12]))
        elif kind == "run_failed":
            self._run(run_id).update(finished=at, status="failed", error=event.get("error"))

    def _run(self, run_id: str) -> dict[str, Any]:
        if run_id not in self.runs:
            self.runs[run_id] = dict.fromkeys(RUN_FIELDS) | {"run_id": run_id}
            while len(self.runs) > self.max_runs:
                self.runs.popitem(last=False)
        return self.runs[run_id]

    def _append(self, rows: deque[dict[str, Any]], row: dict[str, Any]) -> None:
        rows.append(row)
        while len(rows) > self.max_markets:
            rows.popleft()

    def recent_runs(self, n: int = 20) -> list[dict[str, Any]]:
        """The ``n`` newest runs, newest first."""
        return list(reversed(self.runs.values()))[:n]

    def latest_markets(self, runs: int = 3) -> list[dict[str, Any]]:
        """Per-market rows of the ``runs`` newest runs that cleared markets, newest first."""
        newest = list(dict.fromkeys(m["run_id"] for m in reversed(self.markets)))[:runs]
        return [m for m in reversed(self.markets) if m["run_id"] in newest]

    def shard_rows(self) -> list[dict[str, Any]]:
        """The latest health row of every shard of every pool."""
        return [
            {"pool": pool, "reported": seen["time"], **row}
            for pool, seen in self.pools.items()
            for row in seen["shards"]
        ]

    def totals(self) -> dict[str, int]:
        """Counts since the scheduler started (or the plugin was installed)."""
        finished = [r for r in self.runs.values() if r["finished"] is not None]
        return {
            "runs": len(self.runs),
            "failed runs": sum(r["status"] == "failed" for r in finished),
            "markets cleared": self.cleared,
            "halts tripped": self.halted,
            "rejected rows": sum(int(r["rejected"] or 0) for r in finished),
            "agent shards": len(self.shard_rows()),
        }

    def as_json(self) -> dict[str, Any]:
        """Everything, as plain JSON-ready data (``/econonexus/state.json``)."""
        return {
            "totals": self.totals(),
            "runs": self.recent_runs(self.max_runs),
            "markets": self.latest_markets(runs=10),
            "halts": list(self.halts),
            "shards": self.shard_rows(),
        }


def _pick(event: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: event.get(n) for n in names}
