"""The publish lease of a run: one process clears and writes ``OUT/<run_id>/`` at a time.

The lease is taken before the batch goes to the cluster, so two processes
given one run id never both clear it; the other waits for the manifest and
returns the stored run. It is the generational lease of :mod:`econonexus.agents.lease`
under ``<run>/_lease/``: kept alive by a heartbeat while the run clears,
released when the run is published or fails (a later process then takes
it), taken over at once when its holder's process is gone on this host,
and on any host once the holder has not beaten for ``store.lease-stale``
seconds. Its generation fences the writes: every part and the manifest are
written only while it is still the current one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from econonexus._core.config import get_setting
from econonexus._core.errors import LeaseError, RunConflictError
from econonexus.agents.lease import Heartbeat, Lease, acquire, describe_holder
from econonexus.pipelines.store.run_store import (
    StoredRun,
    read_manifest,
    run_location,
    stored_run_for,
)


def claim_run(out: str, run_id: str, fingerprint: str, *, wait: float) -> Lease | StoredRun:
    """Take the publish lease of run ``run_id`` under ``out``, or return the run once another
    process has published it with the same inputs.

    Raises
    ------
    RunConflictError
        If the run was published with other inputs, or another live process still holds
        its lease after ``wait`` seconds.
    """
    location = run_location(out, run_id)
    deadline = time.monotonic() + wait
    stale = float(get_setting("store.lease-stale"))
    while True:
        if read_manifest(location) is not None:
            return _published(out, run_id, fingerprint)
        with contextlib.suppress(LeaseError):
            lease = acquire(location, stale_after=stale, kind="run")
            if read_manifest(location) is None:
                return lease
            lease.release()  # published between the two looks
            return _published(out, run_id, fingerprint)
        if time.monotonic() >= deadline:
            raise RunConflictError(
                f"`run_id`: run {run_id!r} at {location!r} is being cleared by another process "
                f"({describe_holder(location)}) and has no manifest after {wait:g} s\nhint: "
                f"wait and run again; a holder that stops beating for {stale:g} s is taken over"
            )
        time.sleep(0.1)


@contextlib.contextmanager
def holding(lease: Lease) -> Iterator[Lease]:
    """Beat ``lease`` while the run clears; release it when the run is published or fails."""
    interval = float(get_setting("store.lease-stale")) / 4
    try:
        with Heartbeat(lease, interval):
            yield lease
    finally:
        with contextlib.suppress(OSError):  # an unreleased lease is taken over once stale
            lease.release()


def _published(out: str, run_id: str, fingerprint: str) -> StoredRun:
    stored = stored_run_for(out, run_id, fingerprint)
    assert stored is not None  # its manifest is there
    return stored
