"""``econonexus serve``: a cluster with the EconoNexus dashboard page, until stopped.

Without ``scheduler`` it starts a multi-process ``LocalCluster`` (scheduler
and dashboard bound to ``host``, localhost unless told otherwise: Dask's
dashboard has no authentication), installs the dashboard plugin, prints where
everything is and waits for SIGINT or SIGTERM. While it serves, its scheduler
file (setting ``cluster.scheduler-file``, ``~/.econonexus/scheduler.json``)
names the scheduler, so every other command on this machine uses this
cluster instead of starting its own. With ``scheduler`` it installs the
plugin on that running scheduler, prints the same and returns.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from distributed import Client
from distributed.security import Security

from econonexus._core.errors import InputError
from econonexus.pipelines.dashboard.plugin import dashboard_url, install_dashboard
from econonexus.pipelines.graph.cluster import connect, local_cluster
from econonexus.pipelines.graph.scheduler_file import (
    default_scheduler_file,
    remove_scheduler_file,
    write_scheduler_file,
)
from econonexus.pipelines.ops.signals import stop_on_signals, wait_until


@dataclass(frozen=True)
class Served:
    """Where a served cluster is."""

    scheduler: str
    dashboard: str | None
    page: str | None

    def lines(self) -> list[str]:
        """What ``econonexus serve`` prints, one fact per line."""
        if self.dashboard is None or self.page is None:
            return [f"scheduler: {self.scheduler}", "dashboard: off"]
        metrics = self.page.rsplit("/", 1)[0] + "/metrics"
        return [
            f"scheduler: {self.scheduler}",
            f"dashboard: {self.dashboard}",
            f"econonexus page: {self.page}",
            f"metrics: {metrics}",
        ]


def serve(
    *,
    port: int = 8787,
    scheduler_port: int = 8786,
    workers: int | None = None,
    scheduler: str | None = None,
    host: str = "127.0.0.1",
    security: Security | None = None,
    log: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> Served:
    """Serve a cluster with the EconoNexus page until ``stop`` is set (or a signal comes).

    Parameters
    ----------
    port
        Dashboard port (``/status``, ``/econonexus``, ``/metrics``).
    scheduler_port
        Port the scheduler listens on for clients and workers.
    workers
        Workers of the local cluster (default: setting ``cluster.n-workers``).
    scheduler
        Attach to this running scheduler instead: install the page and return.
    host
        Interface the scheduler and dashboard bind to; ``0.0.0.0`` exposes
        them to the network, without authentication on the dashboard.
    security
        Dask TLS with certificate files, for the scheduler, workers and clients.
    log
        Where the addresses are written.
    stop
        An event that ends serving (for tests and embedding); default: wait
        for SIGINT or SIGTERM.
    """
    for name, value in (("port", port), ("scheduler_port", scheduler_port)):
        if not 0 <= value < 65536:
            raise InputError(f"`{name}`: expected a port number in 0..65535, got {value}")
    if scheduler is not None:
        with connect(scheduler, security=security) as client:
            return _announce(client, log)
    tls = {} if security is None else {"security": security, "protocol": "tls://"}
    with (
        local_cluster(
            n_workers=workers,
            host=host,
            scheduler_port=_free_or_any(host, scheduler_port, log),
            dashboard_address=f"{host}:{port}",
            **tls,
        ) as cluster,
        Client(cluster, security=security) as client,
    ):
        served = _announce(client, log)
        where = default_scheduler_file()
        if write_scheduler_file(where, served.scheduler):
            log(f"scheduler file: {where}")
        else:
            log(f"scheduler file: {where} names another running scheduler; left as it is")
        stop = stop or stop_on_signals()  # before the line that says it is serving
        log("serving; stop with Ctrl+C")
        try:
            wait_until(stop)
        finally:
            remove_scheduler_file(where, served.scheduler)
    return served


def _announce(client: Client, log: Callable[[str], None]) -> Served:
    installed = install_dashboard(client)
    page = dashboard_url(client) if installed else None
    address = str(client.scheduler_info(n_workers=0)["address"])
    served = Served(address, client.dashboard_link or None, page)
    for line in served.lines():
        log(line)
    return served


def _free_or_any(host: str, port: int, log: Callable[[str], None]) -> int:
    """``port`` if it is free on ``host``, else 0 (any free port), as Dask does for the
    dashboard; the scheduler file still names the address other commands use."""
    if port == 0:
        return 0
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            log(f"scheduler port {port} on {host} is busy; using a free one (--scheduler-port P)")
            return 0
    return port
