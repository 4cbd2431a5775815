"""Bokeh figures from result and agent tables, for notebooks, reports and the dashboard.

Every maker takes Polars frames (no Dask, no I/O) and returns a Bokeh model;
:func:`pick` resolves a ``kind`` argument against a table of makers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, FactorRange, LayoutDOM, Range1d
from bokeh.plotting import figure

from econonexus._core.errors import InputError

WIDTH, HEIGHT = 900, 320
ORANGE = "#d95f02"


def pick(makers: Mapping[str, Callable[[], Any]], kind: str) -> Any:
    """The figure of ``kind``, or all of them in a column for ``"all"``; it shows itself
    as a notebook cell's value (:func:`shows_itself`)."""
    if kind == "all":
        return shows_itself(column(*(make() for make in makers.values())))
    if kind not in makers:
        raise InputError(f"`kind`: expected one of {['all', *makers]}, got {kind!r}")
    return shows_itself(makers[kind]())


def shows_itself(model: LayoutDOM) -> LayoutDOM:
    """``model``, drawn by Bokeh when it is a Jupyter cell's value (IPython's display hook
    calls ``_ipython_display_``); in a plain console it prints one line."""
    # on this model only: other Bokeh models of the session display as Bokeh makes them
    model._ipython_display_ = lambda: _display(model)  # type: ignore[attr-defined]
    return model


def _display(model: LayoutDOM) -> None:
    from bokeh.io import output_notebook, show
    from bokeh.io.state import curstate
    from bokeh.resources import INLINE

    if not _in_kernel():
        print(f"<Bokeh {type(model).__name__}: bokeh.io.show(it) opens it in a browser>")
        return
    if not curstate().notebook:  # once: BokehJS inline, so no network is needed
        output_notebook(INLINE, hide_banner=True)
    show(model)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


def welfare_per_market(summary: pl.DataFrame) -> figure:
    """Welfare and revenue per market, as bars."""
    summary = summary.sort("market_id")
    plot = figure(
        x_range=FactorRange(*summary["market_id"].to_list()),
        height=HEIGHT,
        width=WIDTH,
        title="welfare and revenue per market",
    )
    data = ColumnDataSource(
        summary.select("market_id", "welfare", "revenue").to_dict(as_series=False)
    )
    plot.vbar(x="market_id", top="welfare", width=0.8, source=data, legend_label="welfare")
    plot.vbar(
        x="market_id", top="revenue", width=0.4, source=data, legend_label="revenue", color=ORANGE
    )
    plot.xaxis.major_label_orientation = 0.8
    return plot


def payments_against_bids(allocations: pl.DataFrame) -> figure:
    """Each winner's payment against its bid price (the diagonal is pay-as-bid)."""
    won = allocations.filter(pl.col("won"))
    plot = figure(height=HEIGHT, width=WIDTH, title="payments against bids (winners)")
    plot.xaxis.axis_label, plot.yaxis.axis_label = "bid price", "payment"
    data = ColumnDataSource(won.select("price", "payment", "market_id").to_dict(as_series=False))
    plot.scatter(x="price", y="payment", source=data, size=6, alpha=0.6)
    if won.height:
        top = float(won["price"].max())  # type: ignore[arg-type]
        plot.line([0, top], [0, top], color="#999999", line_dash="dashed", legend_label="bid")
    return plot


def histogram(
    values: pl.Series, *, title: str, label: str, split: pl.Series | None = None
) -> figure:
    """A histogram of ``values``; with a boolean ``split``, its true part stacked in orange."""
    plot = figure(height=HEIGHT, width=WIDTH, title=title)
    plot.xaxis.axis_label, plot.yaxis.axis_label = label, "count"
    finite = values.cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
    if not len(finite):
        return plot
    edges = np.histogram_bin_edges(finite, bins=min(40, max(5, len(finite) // 5)))
    counts, _ = np.histogram(finite, bins=edges)
    plot.quad(top=counts, bottom=0, left=edges[:-1], right=edges[1:], alpha=0.6, legend_label=label)
    if split is not None:
        chosen = values.filter(split).cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
        part, _ = np.histogram(chosen, bins=edges)
        plot.quad(
            top=part,
            bottom=0,
            left=edges[:-1],
            right=edges[1:],
            color=ORANGE,
            alpha=0.7,
            legend_label="won",
        )
    return plot


def price_path(prices: pl.DataFrame) -> figure:
    """Clock prices per round, one line per item."""
    plot = figure(height=HEIGHT, width=WIDTH, title="clock prices per round")
    plot.xaxis.axis_label, plot.yaxis.axis_label = "round", "price"
    for (item,), path in prices.sort("round").group_by(["item_id"], maintain_order=True):
        plot.line(path["round"].to_list(), path["price"].to_list(), legend_label=str(item))
    return plot


def per_round(rounds: pl.DataFrame) -> figure:
    """Welfare and revenue per simulated round."""
    plot = figure(height=HEIGHT, width=WIDTH, title="welfare and revenue per round")
    plot.xaxis.axis_label = "round"
    data = ColumnDataSource(rounds.select("round", "welfare", "revenue").to_dict(as_series=False))
    plot.line("round", "welfare", source=data, legend_label="welfare", line_width=2)
    plot.line("round", "revenue", source=data, legend_label="revenue", color=ORANGE)
    return plot


def reputation_histogram(agents: pl.DataFrame) -> figure:
    """Agents' reputations (Beta means in [0, 1]; a new agent has 0.5)."""
    plot = figure(
        height=HEIGHT, width=WIDTH, title="reputation of agents", x_range=Range1d(start=0, end=1)
    )
    plot.xaxis.axis_label, plot.yaxis.axis_label = "reputation", "agents"
    counts, edges = np.histogram(agents["reputation"].to_numpy(), bins=20, range=(0.0, 1.0))
    plot.quad(top=counts, bottom=0, left=edges[:-1], right=edges[1:], alpha=0.6)
    return plot


def agent_plots(agents: pl.DataFrame, kind: str, rounds: pl.DataFrame | None = None) -> Any:
    """``reputation`` and ``balances`` of agents, and ``rounds`` when given, or ``all``."""
    makers = {
        "reputation": lambda: reputation_histogram(agents),
        "balances": lambda: histogram(
            agents["balance"], title="balances of agents", label="balance"
        ),
    }
    if rounds is not None:
        makers = {"rounds": lambda: per_round(rounds), **makers}
    return pick(makers, kind)


def run_plots(summary: pl.DataFrame, allocations: pl.DataFrame, kind: str = "all") -> Any:
    """A run's figure (``welfare``, ``payments``, ``prices``) or all three in a column."""
    makers = {
        "welfare": lambda: welfare_per_market(summary),
        "payments": lambda: payments_against_bids(allocations),
        "prices": lambda: histogram(
            allocations["price"], title="bid prices", label="bid price", split=allocations["won"]
        ),
    }
    return pick(makers, kind)
