"""Scheduled runs: clear every new bid file under a prefix exactly once.

``econonexus schedule --cron "*/5 * * * *" --bids URL_PREFIX --out URL`` wakes
at each cron time (``--once``: now, then exits, for system cron or Airflow),
takes the lock, and clears each pending bid file, one batch per file. State
lives under ``<out>/_schedule/``:

- ``_lease/<generation>.json``: the lock, a lease taken create-if-absent (of
  two schedulers waking at once exactly one gets it), kept alive by a
  heartbeat thread (``<generation>.beat``) for as long as it is held, batches
  included. A lock with no heartbeat for ``schedule.lock-stale`` seconds (a
  crashed holder) is taken over by the next generation, which fences the old
  holder out: it can no longer record anything.
- ``ledger/<key>.json``: one record per file version handled (run id,
  status, attempts), created if absent. The key is the file's path plus the
  SHA-256 of its bytes: a file overwritten with other bids is a new version
  and is cleared; a copy of a file already cleared (same bytes, another path)
  is recorded as a ``duplicate`` and not cleared again. A failed file is
  recorded as failed and not retried by later wakes (clear it by hand, or
  remove its record).

A file is taken only once it is complete: when a marker ``<file>.ready``
stands beside it, or when it has not changed for ``schedule.settle``
seconds. A batch's run id is derived from the file's key, and ``clear``
returns a stored run of the same id and inputs without recomputing: a
scheduler stopped after a run was written but before its ledger record picks
up where it left off without clearing anything twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import fsspec
from croniter import croniter
from distributed import Client

from econonexus._core.config import get_setting
from econonexus._core.errors import EconoNexusError, InputError, LeaseError
from econonexus.agents.lease import Heartbeat, Lease, describe_holder, released
from econonexus.agents.lease import acquire as acquire_lease
from econonexus.pipelines.graph.run import clear
from econonexus.pipelines.ops.signals import wait_until
from econonexus.pipelines.store.out_folder import LEDGER, SCHEDULE, RunStore

BID_EXTENSIONS = (".parquet", ".csv", ".arrow", ".ipc", ".feather", ".cats", ".txt")
READY = ".ready"


@dataclass(frozen=True)
class BidFile:
    """One version of a bid file: its URL, the SHA-256 of its bytes, and its ledger key."""

    source: str
    sha256: str

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.source}\x00{self.sha256}".encode()).hexdigest()[:32]


def acquire(out: str) -> tuple[Lease | None, str]:
    """Take the schedule lock unless a live holder has it; return it (or ``None``) and a note."""
    root = _state_dir(out)
    before = describe_holder(root)
    try:
        lease = acquire_lease(root, stale_after=float(get_setting("schedule.lock-stale")))
    except LeaseError:
        return None, f"another scheduler ({before}) holds the lock"
    taken_over = lease.generation > 0 and not released(root, lease.generation - 1)
    note = f"took over a stale lock of {before}" if taken_over else "lock taken"
    return lease, note


def pending(bids: str, out: str) -> list[BidFile]:
    """Complete bid files under the ``bids`` prefix whose version the ledger does not list."""
    fs, prefix = fsspec.core.url_to_fs(bids)
    found = fs.glob(prefix + "*") + fs.glob(prefix.rstrip("/") + "/**")
    protocol = fsspec.core.split_protocol(bids)[0]
    paths = sorted({str(p) for p in found if str(p).lower().endswith(BID_EXTENSIONS)})
    done = {r["key"] for r in ledger(out).values() if "key" in r}
    files = [BidFile(_url(protocol, p), _sha256(fs, p)) for p in paths if _complete(fs, p)]
    return [f for f in files if f.key not in done]


def ledger(out: str) -> dict[str, dict[str, Any]]:
    """Ledger key to its record, for every file version handled so far."""
    store = RunStore(out)
    records = [store.read_json(LEDGER, name) for name in store.names(LEDGER, ".json")]
    return {r.get("key", r["source"]): r for r in records}


def run_pending(
    bids: str,
    out: str,
    *,
    inputs: Mapping[str, Any] | None = None,
    client: Client | str | None = None,
    log: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Take the lock, clear each pending file as its own batch, record it; return the records.

    ``inputs`` are keyword arguments of :func:`econonexus.clear` for every
    batch (``items``, ``markets``, ``accounts``, ``keys``, ``solver``,
    ``time_limit``, ...). Once ``stop`` is set no further file is started.
    """
    lease, note = acquire(out)
    log(f"{_now()} {note}")
    if lease is None:
        return []
    interval = max(0.1, float(get_setting("schedule.lock-stale")) / 4)
    try:
        with Heartbeat(lease, interval):
            records = []
            for bid_file in pending(bids, out):
                if stop is not None and stop.is_set():
                    break
                records.append(_handle(bid_file, out, dict(inputs or {}), client, log, lease))
            log(f"{_now()} {len(records)} new file(s) handled")
            return records
    except LeaseError as exc:  # fenced out: another scheduler took over; it records the rest
        log(f"{_now()} stopped: {exc}")
        return []
    finally:
        lease.release()


def run_forever(
    cron: str, bids: str, out: str, *, stop: threading.Event | None = None, **options: Any
) -> None:
    """Run :func:`run_pending` at every time of the ``cron`` expression (UTC) until ``stop``
    is set (it stops after the batch in hand); ``options`` go to :func:`run_pending`."""
    if not croniter.is_valid(cron):
        raise InputError(
            f"`--cron`: expected a cron expression such as '*/5 * * * *', got {cron!r}"
        )
    stop = stop or threading.Event()
    times = croniter(cron, dt.datetime.now(dt.UTC))
    while not stop.is_set():
        wake = times.get_next(dt.datetime)
        if wait_until(stop, max(0.0, (wake - dt.datetime.now(dt.UTC)).total_seconds())):
            return
        run_pending(bids, out, stop=stop, **options)


def _handle(
    bid_file: BidFile,
    out: str,
    inputs: dict[str, Any],
    client: Client | str | None,
    log: Callable[[str], None],
    lease: Lease,
) -> dict[str, Any]:
    same = [r for r in ledger(out).values() if r.get("sha256") == bid_file.sha256]
    if same:
        copy = {"status": "duplicate", "duplicate_of": same[0]["source"], "run_id": None}
        return _record(out, bid_file, copy | {"attempts": 0, "at": _now()}, lease, log)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", posixpath.basename(bid_file.source).split(".")[0])
    run_id = f"sched-{stem}-{bid_file.key[:8]}"
    attempts, retries = 0, int(get_setting("schedule.retries"))
    started = time.perf_counter()
    record: dict[str, Any] = {"run_id": run_id}
    while True:
        attempts += 1
        try:
            result = clear(bid_file.source, **inputs, client=client, out=out, run_id=run_id)
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
    return _record(out, bid_file, record, lease, log)


def _record(
    out: str,
    bid_file: BidFile,
    record: dict[str, Any],
    lease: Lease,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Write the ledger record (create-if-absent, fenced by the lock) and log it."""
    full = {"source": bid_file.source, "sha256": bid_file.sha256, "key": bid_file.key, **record}
    lease.check("ledger record")
    if not RunStore(out).create_json(LEDGER, bid_file.key, full):
        log(f"{_now()} batch {bid_file.source}: already recorded by another scheduler")
        return full
    detail = (
        f"duplicate of {record['duplicate_of']}, not cleared"
        if record["status"] == "duplicate"
        else f"run {record['run_id']} {record['status']}"
        f" ({record['attempts']} attempt(s), {record['seconds']} s)"
    )
    error = f": {record['error']}" if "error" in record else ""
    log(f"{record['at']} batch {bid_file.source}: {detail}{error}")
    return full


def _complete(fs: fsspec.AbstractFileSystem, path: str) -> bool:
    """A marker ``<file>.ready`` stands beside it, or it has not changed for a while."""
    if fs.exists(path + READY):
        return True
    modified: dt.datetime = fs.modified(path)
    moment = modified if modified.tzinfo else modified.replace(tzinfo=dt.UTC)
    age = (dt.datetime.now(dt.UTC) - moment).total_seconds()
    return age >= float(get_setting("schedule.settle"))


def _sha256(fs: fsspec.AbstractFileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _state_dir(out: str) -> str:
    return RunStore(out).url(SCHEDULE)


def _url(protocol: str | None, path: str) -> str:
    return path if protocol in (None, "file") else f"{protocol}://{path}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
