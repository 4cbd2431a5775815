"""The one-writer lease of a pool root, with a fencing token.

A pool root has one writer at a time. Taking the lease creates
``<root>/_lease/<generation>.json`` (create-if-absent) naming the holder;
the highest generation is the current lease, and its number is the fencing
token. Every journal entry and snapshot pointer is written only after
checking that the writer's generation is still current, and journal commits
are themselves create-if-absent, so a writer that lost its lease can never
overwrite or interleave with the new holder's writes. Closing the pool
writes ``<generation>.released``. A lease whose holder process is gone (same
host, pid no longer running) is taken over at once; any other held lease is
taken over only when asked (``break_lease=True``), which fences the old
holder out. A lease taken with ``stale_after`` is kept alive by heartbeats
(:class:`Heartbeat`, ``<generation>.beat``) and is taken over once its holder
has not beaten for that many seconds, on any host.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import fsspec

from econonexus._core.errors import LeaseError
from econonexus.agents.storage import create_if_absent, put_atomically

_GENERATION = re.compile(r"(\d{12})\.json$")


@dataclass(frozen=True)
class Lease:
    """A held lease: the root (a pool's, or a run's: ``kind``) and this holder's generation
    (the fencing token)."""

    root: str
    generation: int
    holder: str
    kind: str = "pool"

    def check(self, what: str) -> None:
        """Raise :class:`LeaseError` unless this lease is still the current one."""
        current, record = _current(self.root)
        if current != self.generation:
            raise LeaseError(
                f"{self.kind} {self.root!r}: {what} refused: this writer holds lease generation "
                f"{self.generation}, but generation {current} ({_who(record)}) took the "
                f"{self.kind} over"
            )

    def release(self) -> None:
        """Give the lease up (the pool may then be opened by another process)."""
        fs, base = _fs(self.root)
        create_if_absent(fs, f"{base}/{self.generation:012d}.released", b"")

    def beat(self) -> None:
        """Record that the holder is alive (for leases taken with ``stale_after``)."""
        fs, base = _fs(self.root)
        put_atomically(fs, f"{base}/{self.generation:012d}.beat", str(time.time()).encode())


class Heartbeat:
    """Beats ``lease`` every ``interval`` seconds in a background thread while in a ``with``."""

    def __init__(self, lease: Lease, interval: float):
        self.lease, self.interval = lease, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="enx-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.lease.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(OSError):  # a missed beat is retried at the next one
                self.lease.beat()


def acquire(
    root: str,
    *,
    wait: float = 0.0,
    break_lease: bool = False,
    stale_after: float | None = None,
    kind: str = "pool",
) -> Lease:
    """Take the lease of ``root``, waiting up to ``wait`` seconds for its holder to release it.

    With ``stale_after``, a holder whose last heartbeat is older than that is taken over.

    Raises
    ------
    LeaseError
        Naming the holder, if another live writer holds the lease after ``wait`` seconds.
    """
    deadline = time.monotonic() + wait
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    while True:
        current, record = _current(root)
        free = current < 0 or released(root, current) or _dead(record) or break_lease
        free = free or (stale_after is not None and _silent_for(root, current) > stale_after)
        if free and _create(root, current + 1, holder):
            return Lease(root.rstrip("/"), current + 1, holder, kind)
        if not free and time.monotonic() >= deadline:
            raise LeaseError(
                f"{kind} {root!r} is held by {_who(record)} (lease generation {current}); "
                "one writer at a time\nhint: wait for it (`wait=` seconds, CLI --wait), or, "
                "if that process is gone, take the pool over with break_lease=True"
            )
        time.sleep(0.05)


def _create(root: str, generation: int, holder: str) -> bool:
    fs, base = _fs(root)
    record = {
        "generation": generation,
        "holder": holder,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": dt.datetime.now(dt.UTC).isoformat(),
    }
    return create_if_absent(fs, f"{base}/{generation:012d}.json", json.dumps(record).encode())


def _current(root: str) -> tuple[int, dict[str, Any]]:
    """The highest lease generation of ``root`` (-1 if none) and its record."""
    fs, base = _fs(root)
    if not fs.exists(base):
        return -1, {}
    found = [
        (int(m.group(1)), p) for p in fs.ls(base, detail=False) if (m := _GENERATION.search(p))
    ]
    if not found:
        return -1, {}
    generation, path = max(found)
    try:
        record: dict[str, Any] = json.loads(fs.cat_file(path))
    except ValueError:
        record = {}
    return generation, record


def released(root: str, generation: int) -> bool:
    """Whether lease ``generation`` of ``root`` was given up by its holder."""
    fs, base = _fs(root)
    return bool(fs.exists(f"{base}/{generation:012d}.released"))


def _silent_for(root: str, generation: int) -> float:
    """Seconds since the holder of ``generation`` last beat (or took the lease)."""
    fs, base = _fs(root)
    for name in (f"{generation:012d}.beat", f"{generation:012d}.json"):
        path = f"{base}/{name}"
        if fs.exists(path):
            if name.endswith(".beat"):
                with contextlib.suppress(ValueError):
                    return time.time() - float(fs.cat_file(path))
            return time.time() - _timestamp(fs.modified(path))
    return 0.0


def _timestamp(moment: dt.datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def describe_holder(root: str) -> str:
    """Who holds the lease of ``root`` now, and since when (for messages)."""
    current, record = _current(root)
    return "nobody" if current < 0 else _who(record)


def _dead(record: dict[str, Any]) -> bool:
    """True when the holder ran on this host and its process is gone."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _who(record: dict[str, Any]) -> str:
    return f"{record.get('holder', '?')} since {record.get('since', '?')}"


def _fs(root: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, base = fsspec.core.url_to_fs(f"{root.rstrip('/')}/_lease")
    return fs, base
