"""Moving a batch's data to and from the cluster: inputs in, small counts back, release.

Pure plumbing for :mod:`econonexus.pipelines.graph.batch`, written to survive a
worker that dies mid-batch.
"""

from __future__ import annotations

import time
from concurrent.futures import CancelledError
from typing import Any

import polars as pl
from distributed import Client, Future, wait

from econonexus._core.config import get_setting
from econonexus._core.errors import RunFailedError


def place_inputs(client: Client, data: list[Any]) -> tuple[list[Any], int]:
    """Put a batch's inputs where its tasks can read them; return them and the worker threads.

    Inputs of at most ``cluster.embed-max-bytes`` in all (1 MiB) go inside
    the task graph, which the scheduler keeps, so a lost worker loses nothing
    and the batch saves the broadcast's round trips (about 7 ms of a
    one-auction clear). Larger ones are broadcast to every worker
    (:func:`scatter_inputs`).
    """
    if sum(_nbytes(x) for x in data) > int(get_setting("cluster.embed-max-bytes")):
        return scatter_inputs(client, data)
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return data, sum(int(w["nthreads"]) for w in workers)


def _nbytes(x: Any) -> int:
    if isinstance(x, pl.DataFrame):
        return int(x.estimated_size())
    if isinstance(x, dict):  # signing keys
        return sum(len(k) + len(v) for k, v in x.items())
    if isinstance(markets := getattr(x, "markets", None), dict):  # options: a market table
        return 256 * len(markets)
    return 0


def scatter_inputs(
    client: Client, data: list[Any], attempts: int = 3
) -> tuple[list[Future[Any] | None], int]:
    """Broadcast ``data`` (its ``None`` entries and futures stay as they are) to every worker,
    checking that each worker holds a copy; return the futures and the cluster's threads.

    A worker that dies during the broadcast can leave the only copy on itself
    (the replication step failed), and the batch would then wait forever for
    lost data: such a scatter is retried with fresh keys.
    """
    present = [x for x in data if x is not None and not isinstance(x, Future)]
    for attempt in range(attempts):
        try:
            # hash=False: a fresh key per batch, so releasing one batch never drops the next one's
            futures: list[Future[Any]] = client.scatter(present, broadcast=True, hash=False)
            copies = min(len(v) for v in client.who_has(futures).values())
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            if copies >= min(2, len(workers)):
                placed = iter(futures)
                threads = sum(int(w["nthreads"]) for w in workers)
                return [
                    x if x is None or isinstance(x, Future) else next(placed) for x in data
                ], threads
        except OSError:  # CommClosedError included: the worker went away mid-scatter
            if attempt == attempts - 1:
                raise
        time.sleep(0.5 * 2**attempt)
    raise RuntimeError(f"could not place the batch on two workers in {attempts} attempts")


def gather_counts(
    client: Client, count: Any, inputs: list[Future[Any]], prefix: str, attempts: int = 3
) -> list[int]:
    """Gather ``count(x)`` for each input future.

    A worker that dies while holding such a small result can get its key
    forgotten before the gather reads it (``FutureCancelledError``); the
    counts are pure, so they are submitted again under fresh keys.
    """
    if not inputs:
        return []
    for attempt in range(attempts):
        futures = [
            client.submit(count, x, key=f"{prefix}-{i}-a{attempt}") for i, x in enumerate(inputs)
        ]
        try:
            counts: list[int] = watched_gather(client, futures)
            return counts
        except CancelledError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def watched_gather(client: Client, futures: Any) -> Any:
    """``client.gather(futures)``, but fail once the cluster has had no worker for too long.

    Dask keeps tasks waiting for a worker forever; a batch whose cluster lost
    every worker raises :class:`~econonexus.RunFailedError` after
    ``cluster.no-worker-timeout`` seconds without one (checked every second).
    """
    limit = float(get_setting("cluster.no-worker-timeout"))
    flat = _futures_in(futures)
    if not flat:  # nothing to wait for: no round trip to the scheduler
        return futures
    last_seen = time.monotonic()
    while True:
        try:
            wait(flat, timeout=1.0)
            return client.gather(futures)
        except TimeoutError:
            pass
        if client.scheduler_info(n_workers=-1)["workers"]:
            last_seen = time.monotonic()
        elif time.monotonic() - last_seen > limit:
            waiting = sum(not f.done() for f in flat)
            raise RunFailedError(
                f"the cluster has had no worker for {limit:g} s (setting "
                f"cluster.no-worker-timeout) with {waiting} tasks waiting"
            )


def _futures_in(value: Any) -> list[Future[Any]]:
    if isinstance(value, Future):
        return [value]
    if isinstance(value, list | tuple):
        return [f for v in value for f in _futures_in(v)]
    return []


def release(futures: list[Any]) -> None:
    """Release the batch's futures (inputs placed in the graph are not futures)."""
    for future in futures:
        if isinstance(future, Future):
            future.release()
