"""The notebook API: objects render as HTML and plot with Bokeh; long runs show progress;
the example notebook in ``examples/`` runs from top to bottom in a real Jupyter kernel."""

from __future__ import annotations

import os
import pathlib
import pty
import subprocess
import sys

import nbclient
import nbformat
import pytest
from bokeh.models import Column
from bokeh.plotting import figure
from distributed import Client

import econonexus as enx
from econonexus.pipelines.ops.cli import main as cli_main

ROOT = pathlib.Path(__file__).parents[1]
DATA = ROOT / "data"


@pytest.fixture(scope="module")
def result(client: Client) -> enx.ClearingResult:
    return enx.clear(
        [str(DATA / "bids.csv"), str(DATA / "auctions.csv")],
        items=str(DATA / "items.csv"),
        markets=str(DATA / "markets.yaml"),
        client=client,
    )


def test_a_market_of_a_result_renders_and_plots(result: enx.ClearingResult) -> None:
    compute = result.market("compute")
    assert compute.summary["payment_rule"] == "vcg"
    assert set(compute.allocations["market_id"]) == {"compute"}
    page = compute._repr_html_()
    assert "Market compute" in page and "combinatorial, vcg" in page and "<table" in page
    assert all(b in page for b in compute.winners["bid_id"])
    assert isinstance(compute.plot(), Column) and len(compute.plot().children) == 2
    assert isinstance(compute.plot("payments"), figure)
    with pytest.raises(enx.InputError, match="`kind`: expected one of"):
        compute.plot("price-path")  # not a clock market
    storage = result.market("storage")  # english clock: it has a price path
    assert len(storage.plot().children) == 3
    with pytest.raises(enx.InputError, match="`market_id`: expected one of"):
        result.market("nowhere")


def test_simulation_and_agent_pool_render_and_plot_reputation(
    client: Client, tmp_path: pathlib.Path
) -> None:
    sim = enx.simulate(
        agents=60, shards=2, rounds=2, seed=3, out=str(tmp_path / "sim"), client=client
    )
    page = sim._repr_html_()
    assert "Simulation" in page and "60 agents, 2 rounds" in page and "<table" in page
    assert [type(p).__name__ for p in sim.plot().children] == ["figure"] * 3
    reputation = sim.plot("reputation")
    counts = reputation.renderers[0].data_source.data["top"]
    assert int(sum(counts)) == 60, "every agent is in the reputation histogram"
    with enx.AgentPool.open(client, str(tmp_path / "sim" / "agents")) as pool:
        pool_page = pool._repr_html_()
        assert "AgentPool" in pool_page and "2 shards, 60 agents" in pool_page
        assert int(sum(pool.plot("reputation").renderers[0].data_source.data["top"])) == 60
        balances = pool.plot("balances").renderers[0].data_source.data["top"]
        assert int(sum(balances)) == 60


def test_the_cli_shows_a_progress_bar(
    tmp_path: pathlib.Path, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    session = ["--scheduler", client.scheduler.address]
    done = subprocess.run(
        [sys.executable, "-m", "econonexus.pipelines.ops.cli", "clear", str(DATA / "bids.csv"),
         "--items", str(DATA / "items.csv"), "--out", str(tmp_path), "--progress", *session],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| 100% Completed |" in done.stdout
    capsys.readouterr()
    quiet = ["clear", str(DATA / "bids.csv"), "--items", str(DATA / "items.csv")]
    assert cli_main([*quiet, "--out", str(tmp_path), "--no-progress", *session]) == 0  # here
    assert "Completed" not in capsys.readouterr().out


def test_the_cli_draws_a_bar_on_a_terminal_by_default(
    tmp_path: pathlib.Path, client: Client
) -> None:
    main, terminal = pty.openpty()  # the CLI's stdout is a terminal, as for a person
    command = [
        sys.executable,
        "-m",
        "econonexus.pipelines.ops.cli",
        "clear",
        str(DATA / "bids.csv"),
    ]
    command += ["--items", str(DATA / "items.csv"), "--out", str(tmp_path)]
    command += ["--scheduler", client.scheduler.address]
    with subprocess.Popen(command, stdout=terminal, stderr=subprocess.PIPE) as process:
        os.close(terminal)
        shown = b""
        while chunk := _read(main):
            shown += chunk
        assert process.wait(timeout=300) == 0
    os.close(main)
    assert b"| 100% Completed |" in shown and b"results:" in shown


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal closed: the process has exited
        return b""


@pytest.mark.slow
def test_the_example_notebook_runs_anywhere_shows_its_plots_and_leaves_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere, temporary = tmp_path / "elsewhere", tmp_path / "tmp"
    elsewhere.mkdir()
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))  # the kernel's temporary folder
    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    runner = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(elsewhere)}},  # not examples/: any folder works
    )
    runner.execute()  # raises CellExecutionError, with the traceback, if any cell fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "EconoNexus run" in html and "Market compute" in html and "Simulation" in html
    plots = [c for c in notebook.cells if c.cell_type == "code" and ".plot(" in c.source]
    assert len(plots) == 4 and all(not c.source.startswith("show(") for c in plots)
    for cell in plots:  # the plot is the cell's value, drawn by Bokeh, not its repr
        mimes = {m for o in cell.outputs for m in o.get("data", {})}
        assert "application/vnd.bokehjs_exec.v0+json" in mimes, cell.source
        text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        assert "Column(id=" not in text and "figure(id=" not in text
    widgets = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "Dask's progress widget was displayed"
    plain = [o.get("data", {}).get("text/plain", "") for o in outputs]
    assert any(text.startswith("('run_started', 'run_finished'") for text in plain), plain
    assert not [o for o in outputs if o.output_type == "error"]
    assert list(elsewhere.iterdir()) == [], "nothing written where it ran"
    assert not list(temporary.glob("econonexus-notebook-*")), "its runs folder was removed"


def test_results_print_in_a_few_lines_in_a_console(result: enx.ClearingResult) -> None:
    text = repr(result)
    assert text.startswith(f"<ClearingResult {result.run_id}: completed; ")
    assert len(text) < 300 and "\n" not in text
    market = repr(result.market("compute"))
    assert market.startswith("<MarketView compute: combinatorial, vcg, ") and len(market) < 200
    plot = result.plot("welfare")
    assert callable(plot._ipython_display_), "a plot displays itself in IPython"
