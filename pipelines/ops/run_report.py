"""A run's report: a terminal summary, and a standalone HTML page of Bokeh plots.

``econonexus report RUN_URL [--html FILE]``. The page embeds Bokeh's
JavaScript (no network needed to open it) and shows welfare and revenue per
market, payments against bids, and the distribution of bid prices.
"""

from __future__ import annotations

import pathlib

import polars as pl

from econonexus.pipelines.store.clearing_result import ClearingResult


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
    halts = [
        f"market {h['market_id']} halted: {h['rule']}: {h['reason']}"
        for h in result.manifest.get("halts", [])
    ]
    if halts:
        halts.append("(lift a halt: econonexus resume MARKET --out OUT)")
    rejected = (
        f"{result.rejected_rows} rejected rows ({result.rejected.height} broken rules,"
        " one row each in rejected.parquet)"
    )
    status = f"run {result.run_id}: {result.status}{reused}; {rejected}"
    return "\n".join([text, "", *halts, status, f"results: {where}"])


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


def write_html(result: ClearingResult, path: str | pathlib.Path) -> pathlib.Path:
    """Write the run's plots as one standalone HTML page; return its path."""
    from bokeh.embed import file_html  # Bokeh loads only here: a CLI run starts faster
    from bokeh.resources import INLINE

    from econonexus.pipelines.dashboard.plots import run_plots

    target = pathlib.Path(path)
    page = run_plots(result.summary, result.allocations)
    target.write_text(file_html(page, INLINE, title=f"EconoNexus run {result.run_id}"))
    return target
