"""The EconoNexus page of the Dask dashboard, and the ``econonexus_*`` metrics.

A scheduler plugin folds the live events of runs and agent pools (topic
``econonexus``) into a :class:`~econonexus.pipelines.dashboard.run_monitor.Monitor`, adds
the routes ``/econonexus`` (the page), ``/econonexus/state.json`` and
``/econonexus/static/`` (Bokeh's JavaScript) to the scheduler's HTTP server,
and counts the events in Prometheus metrics that the dashboard's ``/metrics``
serves. Install it with :func:`install_dashboard` (``clear`` and ``serve`` do
so), or when starting a scheduler: ``dask scheduler --preload
econonexus.pipelines.dashboard.plugin``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from distributed import Client
from distributed.diagnostics.plugin import SchedulerPlugin
from tornado import web

from econonexus._core.config import get_setting
from econonexus.agents.event_feed import EVENT_TOPIC
from econonexus.pipelines.dashboard.metrics import Metrics, expose, withdraw
from econonexus.pipelines.dashboard.run_monitor import Monitor

PLUGIN_NAME = "econonexus-dashboard"
PAGE = "/econonexus"
logger = logging.getLogger(__name__)


class DashboardPlugin(SchedulerPlugin):
    """Scheduler plugin behind the ``/econonexus`` page and the ``econonexus_*`` metrics."""

    name = PLUGIN_NAME
    idempotent = True  # registering again keeps the running plugin and its history

    def __init__(self) -> None:
        self.monitor = Monitor()
        self.metrics: Metrics | None = None  # made on the scheduler: its locks do not pickle
        self.address = ""

    async def start(self, scheduler: Any) -> None:
        self.address = str(scheduler.address)
        self.monitor = Monitor()
        self.metrics = Metrics()
        for at, event in scheduler.get_events(EVENT_TOPIC):  # runs before the plugin came
            self._fold(event, at)
        expose(self.metrics)
        _add_to_navigation(scheduler)
        application = getattr(scheduler, "http_application", None)
        if application is None:
            logger.warning("scheduler has no HTTP server: no %s page", PAGE)
            return
        from bokeh.util.paths import static_path  # Bokeh loads on the scheduler only

        static = static_path()
        application.add_handlers(
            r".*$",
            [
                (rf"{PAGE}/?", _PageHandler, {"scheduler": scheduler}),
                (rf"{PAGE}/state\.json", _StateHandler, {"scheduler": scheduler}),
                (rf"{PAGE}/parts\.json", _PartsHandler, {"scheduler": scheduler}),
                (rf"{PAGE}/static/(.*)", web.StaticFileHandler, {"path": str(static)}),
            ],
        )

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == EVENT_TOPIC and isinstance(msg, dict):
            self._fold(msg, time.time())

    async def close(self) -> None:
        if self.metrics is not None:
            withdraw(self.metrics)

    def _fold(self, event: dict[str, Any], at: float) -> None:
        self.monitor.apply(event, at)
        if self.metrics is not None:
            self.metrics.observe(event)


def _add_to_navigation(scheduler: Any) -> None:
    """Put the page in the navigation bar of Dask's own dashboard pages."""
    try:
        from distributed.dashboard.scheduler import template_variables

        pages = template_variables(scheduler)["pages"]
    except Exception as exc:  # no Bokeh dashboard on this scheduler: the route still works
        logger.info("no dashboard navigation bar to add %s to: %s", PAGE, exc)
        return
    if PAGE.strip("/") not in pages:
        pages.append(PAGE.strip("/"))


class _Handler(web.RequestHandler):
    def initialize(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def plugin(self) -> DashboardPlugin | None:
        plugin = self.scheduler.plugins.get(PLUGIN_NAME)
        return plugin if isinstance(plugin, DashboardPlugin) else None


class _PageHandler(_Handler):
    def get(self) -> None:
        plugin = self.plugin()
        if plugin is None:
            raise web.HTTPError(404, "the EconoNexus dashboard plugin was removed")
        raw = self.get_query_argument("refresh", str(get_setting("dashboard.refresh")))
        if not raw.isascii() or not raw.isdigit():
            raise web.HTTPError(
                400, reason=f"refresh: expected a whole number of seconds >= 0, got {raw[:40]!r}"
            )
        refresh = int(raw)
        # relative to the page, so that a dashboard prefix (a proxy path) still works
        static = f"{PAGE.strip('/')}/static"
        from econonexus.pipelines.dashboard.page import render_page

        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(
            render_page(plugin.monitor, scheduler=plugin.address, refresh=refresh, static=static)
        )


class _StateHandler(_Handler):
    def get(self) -> None:
        plugin = self.plugin()
        if plugin is None:
            raise web.HTTPError(404, "the EconoNexus dashboard plugin was removed")
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(plugin.monitor.as_json(), default=str))


class _PartsHandler(_Handler):
    def get(self) -> None:
        plugin = self.plugin()
        if plugin is None:
            raise web.HTTPError(404, "the EconoNexus dashboard plugin was removed")
        from econonexus.pipelines.dashboard.page import page_parts

        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps(page_parts(plugin.monitor), default=str))


def install_dashboard(client: Client) -> bool:
    """Install the dashboard plugin on ``client``'s scheduler, once; return whether it is on.

    A scheduler that cannot load the plugin (EconoNexus not installed next to
    it) keeps working without the page: the failure is logged, not raised.
    """
    if not get_setting("dashboard.install"):
        return False
    try:
        client.register_plugin(DashboardPlugin())
    except Exception as exc:  # the scheduler's environment, not this run, is at fault
        logger.warning("EconoNexus dashboard page not installed on the scheduler: %s", exc)
        return False
    return True


def dashboard_url(client: Client) -> str | None:
    """The URL of the ``/econonexus`` page of ``client``'s scheduler, if it has a dashboard."""
    link = str(client.dashboard_link or "")
    if not link:
        return None
    return link.rsplit("/status", 1)[0] + PAGE


def dask_setup(scheduler: Any) -> None:
    """Preload hook: ``dask scheduler --preload econonexus.pipelines.dashboard.plugin``."""
    scheduler.add_plugin(DashboardPlugin(), name=PLUGIN_NAME)
