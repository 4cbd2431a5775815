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
TIME_COLUMNS = frozenset({"started", "finished", "time", "reported"})
BAD_STATUSES = frozenset({"failed", "error", "halted", "completed_with_errors"})


def render_page(monitor: Monitor, *, scheduler: str, refresh: int, static: str) -> str:
    """The whole page; ``static`` is the relative URL of Bokeh's static files."""
    script, (welfare, solve) = components((_welfare_plot(monitor), _solve_plot(monitor)))
    totals = "".join(
        f"<span>{html.escape(name)}: <b>{value}</b></span>"
        for name, value in monitor.totals().items()
    )
    refresh_tag = f'<meta http-equiv="refresh" content="{refresh}">' if refresh > 0 else ""
    sections = [
        ("Welfare and revenue per run", welfare),
        ("Solver seconds per market", solve),
        ("Recent runs", _table(monitor.recent_runs(), RUN_FIELDS, "no run yet")),
        (
            "Markets of the latest runs",
            _table(monitor.latest_markets(), MARKET_COLUMNS, "no market cleared yet"),
        ),
        ("Halts", _table(list(reversed(monitor.halts))[:50], HALT_COLUMNS, "no halt")),
        (
            "Agent shards",
            _table(monitor.shard_rows(), SHARD_COLUMNS, "no agent pool has reported"),
        ),
    ]
    body = "".join(
        f'<h2 id="{_anchor(title)}">{title}</h2>{content}' for title, content in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>EconoNexus</title>{refresh_tag}<style>{STYLE}</style>"
        f'<script src="{static}/js/bokeh.min.js"></script>{script}</head><body>'
        f"<h1>EconoNexus</h1><nav><a href='status'>Dask dashboard</a>"
        "<a href='metrics'>metrics</a><a href='econonexus/state.json'>state.json</a></nav>"
        f"<p>scheduler {html.escape(scheduler)}; {monitor.events} events</p>"
        f'<div class="totals">{totals}</div>{body}</body></html>'
    )


def _anchor(title: str) -> str:
    return title.lower().replace(" ", "-")


def _welfare_plot(monitor: Monitor) -> figure:
    done = [r for r in monitor.runs.values() if r["finished"] is not None and r["welfare"]]
    data = ColumnDataSource(
        {
            "time": [_datetime(r["finished"]) for r in done],
            "welfare": [r["welfare"] for r in done],
            "revenue": [r["revenue"] or 0.0 for r in done],
            "run_id": [r["run_id"] for r in done],
        }
    )
    plot = figure(x_axis_type="datetime", height=260, width=900, tools="pan,wheel_zoom,reset")
    plot.line("time", "welfare", source=data, legend_label="welfare", line_width=2)
    plot.scatter("time", "welfare", source=data, size=6)
    plot.line("time", "revenue", source=data, legend_label="revenue", color="#d95f02")
    plot.scatter("time", "revenue", source=data, size=6, color="#d95f02")
    plot.legend.location = "top_left"
    return plot


def _solve_plot(monitor: Monitor) -> figure:
    timed = [m for m in monitor.markets if m["solve_seconds"] is not None]
    data = ColumnDataSource(
        {
            "time": [_datetime(m["time"]) for m in timed],
            "seconds": [m["solve_seconds"] for m in timed],
            "market_id": [m["market_id"] for m in timed],
        }
    )
    plot = figure(x_axis_type="datetime", height=260, width=900, tools="pan,wheel_zoom,reset")
    plot.scatter("time", "seconds", source=data, size=6, alpha=0.6)
    plot.yaxis.axis_label = "solve seconds"
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
