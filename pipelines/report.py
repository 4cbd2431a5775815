"""A run's report: a terminal summary, and a standalone HTML page of Bokeh plots.

``econonexus report RUN_URL [--html FILE]``. The page embeds Bokeh's
JavaScript (no network needed to open it) and shows welfare and revenue per
market, payments against bids, and the distribution of bid prices.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import polars as pl
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, FactorRange
from bokeh.plotting import figure
from bokeh.resources import INLINE

from econonexus._errors import InputError
from econonexus.pipelines.result import ClearingResult, PlotKind


def render_summary(result: ClearingResult) -> str:
    """Return the per-market table and where the run is, as printed by the CLI."""
    table = result.summary.select(
        "market_id",
        "format",
        "payment_rule",
        "status",
        "n_bids",
        "n_rejected",
        "n_winners",
        pl.col("welfare").round(2),
        pl.col("revenue").round(2),
        pl.col("gap").round(6),
        "solver",
        pl.col("solve_seconds").round(3).alias("seconds"),
        "components",
    )
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=220,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
    ):
        text = str(table)
    reused = " (stored result, not recomputed)" if result.from_store else ""
    where = result.location or "(not written)"
    rejected = result.rejected.select("source", "row").n_unique()
    return (
        f"{text}\n\nrun {result.run_id}: {result.status}{reused}; "
        f"{rejected} rejected rows\nresults: {where}"
    )


def report_text(result: ClearingResult, summary_table: str) -> str:
    """The summary table, then rejections by reason, halts and flagged agents."""
    lines = [summary_table, ""]
    reasons = result.rejected.group_by("field").len().sort("len", descending=True)
    if reasons.height:
        shown = ", ".join(f"{field} {n}" for field, n in reasons.iter_rows())
        lines.append(f"rejected rules broken, by field: {shown}")
    halted = result.summary.filter(pl.col("status") == "halted")["market_id"].to_list()
    if halted:
        lines.append(f"halted markets: {', '.join(halted)}")
    if result.flagged.height:
        kinds = result.flagged.group_by("kind").len().sort("kind")
        lines.append("flagged agents: " + ", ".join(f"{k} {n}" for k, n in kinds.iter_rows()))
    return "\n".join(lines)


def plots(result: ClearingResult, kind: PlotKind = "all") -> Any:
    """One Bokeh figure (``welfare``, ``payments``, ``prices``) or all three in a column."""
    makers = {"welfare": _welfare, "payments": _payments, "prices": _prices}
    if kind == "all":
        return column(*(make(result) for make in makers.values()))
    if kind not in makers:
        raise InputError(f"`kind`: expected one of {['all', *makers]}, got {kind!r}")
    return makers[kind](result)


def write_html(result: ClearingResult, path: str | pathlib.Path) -> pathlib.Path:
    """Write the run's plots as one standalone HTML page; return its path."""
    target = pathlib.Path(path)
    target.write_text(file_html(plots(result), INLINE, title=f"EconoNexus run {result.run_id}"))
    return target


def _welfare(result: ClearingResult) -> figure:
    summary = result.summary.sort("market_id")
    markets = summary["market_id"].to_list()
    title = "welfare and revenue per market"
    plot = figure(x_range=FactorRange(*markets), height=320, width=900, title=title)
    data = ColumnDataSource(
        summary.select("market_id", "welfare", "revenue").to_dict(as_series=False)
    )
    plot.vbar(
        x="market_id", top="welfare", width=0.8, source=data, legend_label="welfare", alpha=0.5
    )
    plot.vbar(
        x="market_id",
        top="revenue",
        width=0.4,
        source=data,
        legend_label="revenue",
        color="#d95f02",
    )
    plot.xaxis.major_label_orientation = 0.8
    return plot


def _payments(result: ClearingResult) -> figure:
    won = result.allocations.filter(pl.col("won"))
    plot = figure(height=320, width=900, title="payments against bids (winners)")
    plot.xaxis.axis_label, plot.yaxis.axis_label = "bid price", "payment"
    data = ColumnDataSource(won.select("price", "payment", "market_id").to_dict(as_series=False))
    plot.scatter(x="price", y="payment", source=data, size=6, alpha=0.6)
    return plot


def _prices(result: ClearingResult) -> figure:
    prices = result.allocations["price"].to_numpy()
    plot = figure(height=320, width=900, title="bid prices")
    if len(prices):
        counts, edges = np.histogram(prices, bins=min(40, max(5, len(prices) // 5)))
        plot.quad(top=counts, bottom=0, left=edges[:-1], right=edges[1:], alpha=0.6)
    return plot
