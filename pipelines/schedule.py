"""Scheduled runs: clear every new bid file under a prefix exactly once.

``econonexus schedule --cron "*/5 * * * *" --bids URL_PREFIX --out URL`` wakes
at each cron time (``--once``: now, then exits, for system cron or Airflow),
takes the lock, and clears each bid file under the prefix that the ledger
does not list, one batch per file. State lives under ``<out>/_schedule/``:

- ``ledger/<hash>.json``: one record per file handled (run id, status,
  attempts). A file is handled once; a failed one is recorded as failed and
  not retried by later wakes (clear it by hand, or remove its record).
- ``lock.json``: the holder and its heartbeat. A lock whose heartbeat is
  older than ``schedule.lock-stale`` seconds (a crashed holder) is taken over,
  so it never stays stuck.

A batch's run id is derived from the file's path, and ``clear`` returns a
stored run of the same id and inputs without recomputing: a scheduler killed
after a run was written but before its ledger record picks up where it left
off without clearing anything twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import posixpath
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fsspec
from croniter import croniter
from distributed import Client

from econonexus._config import get_setting
from econonexus._errors import EconoNexusError, InputError
from econonexus.agents.storage import put_atomically
from econonexus.pipelines.markets import MarketsSource
from econonexus.pipelines.run import clear

BID_EXTENSIONS = (".parquet", ".csv", ".arrow", ".ipc", ".feather", ".cats", ".txt")


@dataclass(frozen=True)
class Lock:
    """The schedule lock under ``out``: who holds it, refreshed by :meth:`beat`."""

    fs: fsspec.AbstractFileSystem
    path: str
    owner: str

    def beat(self) -> None:
        """Refresh the heartbeat."""
        record = {"owner": self.owner, "heartbeat": time.time()}
        put_atomically(self.fs, self.path, json.dumps(record).encode())

    def release(self) -> None:
        """Give the lock up if this holder still has it."""
        if (
            self.fs.exists(self.path)
            and json.loads(self.fs.cat_file(self.path))["owner"] == self.owner
        ):
            self.fs.rm(self.path)


def acquire(out: str) -> tuple[Lock | None, str]:
    """Take the lock unless a live holder has it; return it (or ``None``) and what happened."""
    fs, base = fsspec.core.url_to_fs(posixpath.join(out.rstrip("/"), "_schedule"))
    fs.makedirs(base, exist_ok=True)
    path = f"{base}/lock.json"
    note = "lock taken"
    if fs.exists(path):
        held = json.loads(fs.cat_file(path))
        age = time.time() - float(held["heartbeat"])
        if age < float(get_setting("schedule.lock-stale")):
            return None, f"another scheduler ({held['owner']}) holds the lock, beat {age:.0f} s ago"
        note = f"took over a stale lock of {held['owner']} (no heartbeat for {age:.0f} s)"
    lock = Lock(fs, path, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    lock.beat()
    if json.loads(fs.cat_file(path))["owner"] != lock.owner:
        return None, "another scheduler took the lock at the same moment"
    return lock, note


def pending(bids: str, out: str) -> list[str]:
    """Bid files under the ``bids`` prefix that the ledger does not list, sorted."""
    fs, prefix = fsspec.core.url_to_fs(bids)
    found = fs.glob(prefix + "*") + fs.glob(prefix.rstrip("/") + "/**")
    protocol = fsspec.core.split_protocol(bids)[0]
    urls = sorted(
        {_url(protocol, str(p)) for p in found if str(p).lower().endswith(BID_EXTENSIONS)}
    )
    done = set(ledger(out))
    return [u for u in urls if u not in done]


def ledger(out: str) -> dict[str, dict[str, Any]]:
    """Source URL to its record, for every file handled so far."""
    fs, base = fsspec.core.url_to_fs(posixpath.join(out.rstrip("/"), "_schedule", "ledger"))
    records = [json.loads(fs.cat_file(p)) for p in fs.glob(f"{base}/*.json")]
    return {r["source"]: r for r in records}


def run_pending(
    bids: str,
    out: str,
    *,
    markets: MarketsSource | None = None,
    client: Client | str | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Take the lock, clear each pending file as its own batch, record it; return the records."""
    lock, note = acquire(out)
    log(f"{_now()} {note}")
    if lock is None:
        return []
    try:
        records = []
        for source in pending(bids, out):
            records.append(_batch(source, out, markets, client, log))
            lock.beat()
        log(f"{_now()} {len(records)} new file(s) handled")
        return records
    finally:
        lock.release()


def run_forever(cron: str, bids: str, out: str, **options: Any) -> None:
    """Run :func:`run_pending` at every time of the ``cron`` expression (UTC), forever."""
    if not croniter.is_valid(cron):
        raise InputError(
            f"`--cron`: expected a cron expression such as '*/5 * * * *', got {cron!r}"
        )
    times = croniter(cron, dt.datetime.now(dt.UTC))
    while True:
        wake = times.get_next(dt.datetime)
        time.sleep(max(0.0, (wake - dt.datetime.now(dt.UTC)).total_seconds()))
        run_pending(bids, out, **options)


def _batch(
    source: str,
    out: str,
    markets: MarketsSource | None,
    client: Client | str | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    run_id = f"sched-{posixpath.basename(source).split('.')[0]}-{_digest(source)[:8]}"
    attempts, retries = 0, int(get_setting("schedule.retries"))
    started = time.perf_counter()
    record: dict[str, Any] = {"source": source, "run_id": run_id}
    while True:
        attempts += 1
        try:
            result = clear(source, markets=markets, client=client, out=out, run_id=run_id)
            record |= {"status": result.status, "markets": result.summary.height}
            break
        except EconoNexusError as exc:
            if attempts >= retries:
                record |= {"status": "failed", "error": str(exc)}
                break
            time.sleep(float(get_setting("schedule.backoff")) * 2 ** (attempts - 1))
    record |= {
        "attempts": attempts,
        "seconds": round(time.perf_counter() - started, 3),
        "at": _now(),
    }
    _record(out, record)
    log(
        f"{record['at']} batch {source}: run {run_id} {record['status']}"
        f" ({attempts} attempt(s), {record['seconds']} s)"
        + (f": {record['error']}" if "error" in record else "")
    )
    return record


def _record(out: str, record: dict[str, Any]) -> None:
    fs, base = fsspec.core.url_to_fs(posixpath.join(out.rstrip("/"), "_schedule", "ledger"))
    fs.makedirs(base, exist_ok=True)
    put_atomically(fs, f"{base}/{_digest(record['source'])}.json", json.dumps(record).encode())


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _url(protocol: str | None, path: str) -> str:
    return path if protocol in (None, "file") else f"{protocol}://{path}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
