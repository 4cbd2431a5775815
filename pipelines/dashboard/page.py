"""The HTML of the dashboard's ``/econonexus`` page: Bokeh plots and tables of a Monitor.

Bokeh's JavaScript is served by the page's own static route (no network
needed); links are relative, so the page works under a dashboard prefix.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

from bokeh.embed import components
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from econonexus.pipelines.dashboard.run_monitor import MARKET_EVENT_COLUMNS, RUN_FIELDS, Monitor

STYLE = """
body { font-family: sans-serif; margin: 1em 2em; color: #222; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin-bottom: 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th { background: #f0f0f0; }
td.text { text-align: left; }
.totals span { display: inline-block; margin-right: 2em; font-size: 1.1em; }
.bad { color: #b00020; font-weight: bold; }
"""
MARKET_COLUMNS = ("run_id", *MARKET_EVENT_COLUMNS)
HALT_COLUMNS = ("time", "run_id", "market_id", "rule", "reason")
SHARD_COLUMNS = (
    "pool",
    "shard_id",
    "worker",
    "generation",
    "agents",
    "state_bytes",
    "process_rss",
    "last_seq",
    "breaker",
    "status",
    "reported",
)
PLOT_TITLES = ("Welfare and revenue per run", "Solver seconds per market")
TABLE_TITLES = ("Recent runs", "Markets of the latest runs", "Halts", "Agent shards")
# fetch the page's parts and update it in place; a failed fetch waits for the next tick
UPDATER = """
(function () {
  const every = REFRESH_MS;
  if (!every) { return; }
  const anchor = (title) => "enx-" + title.toLowerCase().replaceAll(" ", "-");
  async function update() {
    try {
      const response = await fetch("econonexus/parts.json", {cache: "no-store"});
      if (!response.ok) { return; }
      const parts = await response.json();
      document.getElementById("enx-events").textContent = parts.events;
      document.getElementById("enx-totals").innerHTML = parts.totals;
      for (const [title, table] of Object.entries(parts.sections)) {
        const element = document.getElementById(anchor(title));
        if (element) { element.innerHTML = table; }
      }
      const doc = window.Bokeh && window.Bokeh.documents[0];
      for (const [name, data] of Object.entries(doc ? parts.plots : {})) {
        const source = doc.get_model_by_name(name);
        if (source) { source.data = data; }
      }
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    } catch (error) {
      console.warn("EconoNexus page update failed", error);
    }
  }
  setInterval(update, every);
})();
"""
TIME_COLUMNS = frozenset({"started", "finished", "time", "reported"})
BAD_STATUSES = frozenset({"failed", "error", "halted", "completed_with_errors"})


def render_page(monitor: Monitor, *, scheduler: str, refresh: int, static: str) -> str:
    """The whole page; ``static`` is the relative URL of Bokeh's static files. Every
    ``refresh`` seconds (0: never) the page fetches :func:`page_parts` and updates its plots
    and tables in place, keeping zoom and scroll."""
    parts = page_parts(monitor)
    plots = [_plot(name, data) for name, data in parts["plots"].items()]
    script, divs = components(plots)
    titles = dict(zip(PLOT_TITLES, divs, strict=True))
    body = "".join(f'<h2 id="{_anchor(t)}">{t}</h2>{div}' for t, div in titles.items()) + "".join(
        f'<h2 id="{_anchor(t)}">{t}</h2><div id="enx-{_anchor(t)}">{parts["sections"][t]}</div>'
        for t in TABLE_TITLES
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>EconoNexus</title><style>{STYLE}</style>"
        f'<script src="{static}/js/bokeh.min.js"></script>{script}</head><body>'
        f"<h1>EconoNexus</h1><nav><a href='status'>Dask dashboard</a>"
        "<a href='metrics'>metrics</a><a href='econonexus/state.json'>state.json</a></nav>"
        f'<p>scheduler {html.escape(scheduler)}; <span id="enx-events">{parts["events"]}</span>'
        f' events</p><div class="totals" id="enx-totals">{parts["totals"]}</div>{body}'
        f"<script>{UPDATER.replace('REFRESH_MS', str(refresh * 1000))}</script></body></html>"
    )


def page_parts(monitor: Monitor) -> dict[str, Any]:
    """What the page shows, as JSON for its updates: the event count, the totals' and each
    table's HTML, and each plot's data (times in milliseconds since the epoch)."""
    totals = "".join(
        f"<span>{html.escape(name)}: <b>{value}</b></span>"
        for name, value in monitor.totals().items()
    )
    shards = monitor.shard_rows()
    tables = (
        _table(monitor.recent_runs(), RUN_FIELDS, "no run yet"),
        _table(monitor.latest_markets(), MARKET_COLUMNS, "no market cleared yet"),
        _table(list(reversed(monitor.halts))[:50], HALT_COLUMNS, "no halt"),
        _table(shards, _filled(shards, SHARD_COLUMNS), "no agent pool has reported"),
    )
    return {
        "events": monitor.events,
        "totals": totals,
        "sections": dict(zip(TABLE_TITLES, tables, strict=True)),
        "plots": {"enx-welfare": _welfare_data(monitor), "enx-solve": _solve_data(monitor)},
    }


def _filled(rows: list[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    """The ``columns`` some row has a value in: a round's health report has no shard sizes,
    which only a health check (``AgentPool.health()``) asks the shards for."""
    return [c for c in columns if any(row.get(c) is not None for row in rows)]


def _anchor(title: str) -> str:
    return title.lower().replace(" ", "-")


def _welfare_data(monitor: Monitor) -> dict[str, list[Any]]:
    done = [r for r in monitor.runs.values() if r["finished"] is not None and r["welfare"]]
    return {
        "time": [r["finished"] * 1000.0 for r in done],
        "welfare": [r["welfare"] for r in done],
        "revenue": [r["revenue"] or 0.0 for r in done],
        "run_id": [r["run_id"] for r in done],
    }


def _solve_data(monitor: Monitor) -> dict[str, list[Any]]:
    timed = [m for m in monitor.markets if m["solve_seconds"] is not None]
    return {
        "time": [m["time"] * 1000.0 for m in timed],
        "seconds": [m["solve_seconds"] for m in timed],
        "market_id": [m["market_id"] for m in timed],
    }


def _plot(name: str, data: dict[str, list[Any]]) -> figure:
    source = ColumnDataSource(data, name=name)  # the updater finds it by name
    plot = figure(x_axis_type="datetime", height=260, width=900, tools="pan,wheel_zoom,reset")
    if name == "enx-solve":
        plot.scatter("time", "seconds", source=source, size=6, alpha=0.6)
        plot.yaxis.axis_label = "solve seconds"
        return plot
    plot.line("time", "welfare", source=source, legend_label="welfare", line_width=2)
    plot.scatter("time", "welfare", source=source, size=6)
    plot.line("time", "revenue", source=source, legend_label="revenue", color="#d95f02")
    plot.scatter("time", "revenue", source=source, size=6, color="#d95f02")
    plot.legend.location = "top_left"
    return plot


def _table(rows: list[dict[str, Any]], columns: Sequence[str], empty: str) -> str:
    if not rows:
        return f"<p><i>{empty}</i></p>"
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(c, row.get(c)) for c in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "<td></td>"
    if column in TIME_COLUMNS and isinstance(value, int | float):
        text = _datetime(value).strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 100 else f"{value:,.2f}"
    else:
        text = str(value)
    bad = column == "status" and (text in BAD_STATUSES or text.startswith("unreachable"))
    klass = ' class="bad"' if bad else "" if isinstance(value, int | float) else ' class="text"'
    return f"<td{klass}>{html.escape(text)}</td>"


def _datetime(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)
