"""``econonexus report``: the terminal summary and the standalone HTML page of plots."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.event_feed import market_events

DATA = pathlib.Path(__file__).parents[1] / "data"


@pytest.mark.slow
def test_report_prints_the_summary_and_writes_the_plots(
    client: Client, tmp_path: pathlib.Path
) -> None:
    result = enx.clear(
        [str(DATA / "bids.csv"), str(DATA / "auctions.csv")],
        items=str(DATA / "items.csv"),
        markets=str(DATA / "markets.yaml"),
        client=client,
        out=str(tmp_path),
        run_id="reported",
    )
    page = tmp_path / "report.html"
    command = [
        sys.executable,
        "-m",
        "econonexus.pipelines.ops.cli",
        "report",
        str(tmp_path / "reported"),
    ]
    shown = subprocess.run(
        [*command, "--html", str(page)], capture_output=True, text=True, timeout=120, check=False
    )
    assert shown.returncode == 0, shown.stderr
    for market in result.summary["market_id"]:
        assert market in shown.stdout
    assert "rejected rules broken, by field:" in shown.stdout
    html = page.read_text()
    assert (
        "Bokeh" in html
        and "welfare and revenue per market" in html
        and "payments against bids" in html
    )
    assert "cdn.bokeh.org" not in html, "the page must open without a network"


@pytest.mark.slow
def test_each_run_publishes_live_events_to_a_dask_topic(client: Client) -> None:
    result = enx.clear(str(DATA / "bids.csv"), items=str(DATA / "items.csv"), client=client)
    sent = [m for _, m in client.get_events("econonexus") if m.get("run_id") == result.run_id]
    assert [m["kind"] for m in sent].count("markets_cleared") == 1, "one event for all markets"
    mine = [one for m in sent for one in market_events(m)]
    kinds = [m["kind"] for m in mine]
    assert kinds[0] == "run_started" and kinds.count("market_cleared") == result.summary.height
    assert kinds[-1] == "run_finished" and mine[-1]["status"] == "completed"
    assert mine[-1]["rejected"] == result.rejected.select("source", "row").n_unique()
    cleared = {m["market_id"]: m["status"] for m in mine if m["kind"] == "market_cleared"}
    assert cleared == dict(result.summary.select("market_id", "status").iter_rows())


def test_results_render_in_notebooks_and_plot(client: Client) -> None:
    from bokeh.models import Column
    from bokeh.plotting import figure

    result = enx.clear(str(DATA / "bids.csv"), items=str(DATA / "items.csv"), client=client)
    page = result._repr_html_()
    assert f"EconoNexus run {result.run_id}" in page and "<table" in page
    assert all(m in page for m in result.summary["market_id"])
    assert isinstance(result.plot(), Column) and len(result.plot().children) == 3
    assert isinstance(result.plot("payments"), figure)
    with pytest.raises(enx.InputError, match="`kind`: expected one of"):
        result.plot("pie")  # type: ignore[arg-type]
