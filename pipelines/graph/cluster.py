"""Connect to a Dask cluster: a given Client, a scheduler address, or a LocalCluster.

Without either, a process starts one LocalCluster the first time it needs
one and reuses it for every later call (``clear``, ``simulate``, ``settle``,
a whole ``schedule`` run); it is closed when the process exits.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask.config
from distributed import Client, LocalCluster, get_client
from distributed.security import Security

from econonexus._core.config import get_setting
from econonexus._core.errors import EconoNexusError, InputError


@contextmanager
def connect(
    client: Client | str | None = None,
    *,
    n_workers: int | None = None,
    security: Security | bool | None = None,
    **cluster_kwargs: Any,
) -> Iterator[Client]:
    """Yield a client; close only what this call started.

    ``client`` may be a :class:`distributed.Client`, a scheduler address such
    as ``"tcp://10.0.0.5:8786"``, or ``None``: then the current client if one
    exists, else this process's own multi-process ``LocalCluster`` with
    ``n_workers`` workers (default: setting ``cluster.n-workers``), started
    on first use and kept until the process exits. ``security`` turns on
    Dask TLS: a :class:`distributed.security.Security` (certificate files for
    a real cluster), or ``True`` for temporary certificates on a local
    cluster started for this call only.
    """
    tls = Security.temporary() if security is True else (security or None)
    if isinstance(client, Client):
        yield client
        return
    if isinstance(client, str):
        with _client_at(client, tls) as remote:
            yield remote
        return
    if client is not None:
        raise InputError(
            f"`client`: expected a distributed.Client, a scheduler address or None, "
            f"got {type(client).__name__}"
        )
    try:
        yield get_client()
        return
    except ValueError:
        pass
    if tls is None and not cluster_kwargs:
        yield process_client(n_workers)
        return
    if tls is not None:
        cluster_kwargs |= {"security": tls, "protocol": "tls://"}
    with (
        local_cluster(n_workers=n_workers, **cluster_kwargs) as cluster,
        Client(cluster, security=tls) as local,
    ):
        yield local


_LOCK = threading.Lock()
_PROCESS_CLUSTERS: dict[int, tuple[LocalCluster, Client]] = {}


def process_client(n_workers: int | None = None) -> Client:
    """This process's LocalCluster client with ``n_workers`` workers, started on first use.

    A cluster whose workers have all gone (or whose scheduler stopped) is
    replaced; every cluster started here is closed at exit.
    """
    size = n_workers or int(get_setting("cluster.n-workers"))
    if size < 1:
        raise InputError(f"`workers`: expected a whole number >= 1, got {size}")
    with _LOCK:
        held = _PROCESS_CLUSTERS.get(size)
        if held is not None and held[1].status == "running":
            return held[1]
        if held is not None:
            _close(*held)
        with dask.config.set(_solver_friendly_environ()):
            cluster = LocalCluster(**_cluster_options(size))
        client = Client(cluster)
        if not _PROCESS_CLUSTERS:
            atexit.register(close_process_clusters)
        _PROCESS_CLUSTERS[size] = (cluster, client)
        return client


def close_process_clusters() -> None:
    """Close every LocalCluster this process started for later reuse."""
    with _LOCK:
        for cluster, client in _PROCESS_CLUSTERS.values():
            _close(cluster, client)
        _PROCESS_CLUSTERS.clear()


def _close(cluster: LocalCluster, client: Client) -> None:
    try:
        client.close()
    finally:
        cluster.close()


def _cluster_options(n_workers: int) -> dict[str, Any]:
    return {
        "n_workers": n_workers,
        "threads_per_worker": get_setting("cluster.threads-per-worker"),
        "processes": True,
        "dashboard_address": get_setting("cluster.dashboard-address"),
        "silence_logs": logging.ERROR,
    }


@contextmanager
def local_cluster(*, n_workers: int | None = None, **kwargs: Any) -> Iterator[LocalCluster]:
    """Start a multi-process LocalCluster configured from the ``cluster.*`` settings."""
    if n_workers is not None and n_workers < 1:
        raise InputError(f"`workers`: expected a whole number >= 1, got {n_workers}")
    options = _cluster_options(n_workers or int(get_setting("cluster.n-workers"))) | kwargs
    settings = _solver_friendly_environ() | _KEEP_REPLICAS
    with dask.config.set(settings), LocalCluster(**options) as cluster:
        yield cluster


_KEEP_REPLICAS = {"distributed.scheduler.active-memory-manager.start": False}
"""Dask's memory manager drops the second copy of the parts of an in-memory table
(:func:`econonexus.pipelines.graph.read_batch.read_batch`) once no task waits for them,
which is when a worker's death would need it; the clusters EconoNexus starts run without
it (intermediate results are freed when their dependents have run anyway)."""


def _solver_friendly_environ() -> dict[str, Any]:
    """Dask settings for the workers' processes, applied when they are spawned.

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed
    memory goes back to the OS; CBC and HiGHS allocate and free heavily during
    branch and bound and measured 5-30% slower under it. Setting
    ``cluster.malloc-trim-threshold`` to null (the default) leaves glibc's own
    threshold; a number restores Dask's behaviour.
    """
    key = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
    return {key: get_setting("cluster.malloc-trim-threshold")}


@contextmanager
def _client_at(address: str, security: Security | None = None) -> Iterator[Client]:
    try:
        wait = float(get_setting("cluster.connect-timeout"))
        remote = Client(address, timeout=f"{wait}s", security=security)
    except (OSError, TimeoutError) as exc:
        raise EconoNexusError(f"`scheduler`: cannot connect to {address!r}: {exc}") from exc
    try:
        yield remote
    finally:
        remote.close()
