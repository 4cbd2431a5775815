"""What the processes of the tests' races run: spawned children import this small module,
not a test module (and everything it imports) each."""

from __future__ import annotations

import multiprocessing

import fsspec

from econonexus._core.errors import LeaseError
from econonexus.agents.lease import acquire
from econonexus.agents.storage import create_if_absent


def acquire_schedule_lock(root: str) -> bool:
    """Whether this process took the lease at ``root``."""
    try:
        acquire(root, stale_after=300)
    except LeaseError:
        return False
    return True


def create_lease_file(path: str) -> bool:
    """Whether this process created the file at ``path`` (writing its pid)."""
    fs, local = fsspec.core.url_to_fs(path)
    return create_if_absent(fs, local, f"{multiprocessing.current_process().pid}".encode())


def append_deposits(root: str, worker: int, n: int) -> None:
    """Take the journal's lease ``n`` times, appending one deposit each time."""
    # imported here: the lease racers' children need none of this
    import polars as pl

    from econonexus.agents.events import events_table
    from econonexus.agents.journal import JournalWriter

    for k in range(n):
        lease = acquire(root, wait=60)
        writer = JournalWriter(root, lease)
        rows = [
            {
                "seq": writer.next_seq,
                "kind": "deposited",
                "agent_id": f"w{worker}-{k}",
                "amount": 1.0,
            }
        ]
        writer.append(events_table(rows).with_columns(shard_id=pl.lit(0, pl.Int64)))
        lease.release()
