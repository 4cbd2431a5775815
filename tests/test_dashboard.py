"""The dashboard page and metrics, the way an operator uses them: ``econonexus serve`` in a
subprocess, batches and an agent pool sent to it from other processes, then the page,
its JSON and ``/metrics`` fetched over HTTP and the page drawn by headless Chromium."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import dask
import pytest
import yaml
from distributed import Client

from econonexus.pipelines.dashboard.metrics import Metrics
from econonexus.pipelines.dashboard.run_monitor import Monitor
from econonexus.pipelines.ops.cli import main

DATA = pathlib.Path(__file__).parents[1] / "data"
CLI = [sys.executable, "-m", "econonexus.pipelines.ops.cli"]
SCHEDULER_FILE = "DASK_ECONONEXUS__CLUSTER__SCHEDULER_FILE"  # set for the session in conftest
STAGES = {  # every task prefix a run or an agent pool shows in the task stream
    *("enx-validate", "enx-rejected", "enx-split", "enx-part", "enx-plan", "enx-size"),
    *("enx-solve", "enx-combine", "enx-race-cbc", "enx-race-highs", "enx-race-pick"),
    *("enx-race-scip", "enx-race-cbc-default"),
    *("enx-vcg-plan", "enx-vcg-size", "enx-vcg", "enx-price", "enx-shard", "enx-live-bids"),
    "enx-detect",
    "enx-detect-rows",
    *("enx-scan", "enx-read", "enx-read-digest", "enx-read-part"),
    *("enx-check", "enx-ids", "enx-dup", "enx-screen", "enx-agents", "enx-stake", "enx-accept"),
    *("enx-valid", "enx-names", "enx-rejects", "enx-signed-rejects"),
    *("enx-digest", "enx-rejected-count", "enx-write", "enx-write-rejected", "enx-write-input"),
    *("enx-carry", "enx-carry-seen", "enx-signed"),
    *("enx-clear", "enx-rows"),
}
EVERY_COMPONENT_A_TASK = {  # so that the small sample shows the enx-solve stage
    "econonexus.solver.inline-max-bids": 0,
    "econonexus.solver.enumerate-max-bids": 0,
}
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def test_monitor_folds_runs_markets_halts_and_shards() -> None:
    monitor, metrics = Monitor(max_runs=2), Metrics()
    events = [
        {"kind": "run_started", "run_id": "r1"},
        {"kind": "market_cleared", "run_id": "r1", "market_id": "a", "status": "optimal",
         "format": "vickrey", "n_bids": 4, "solve_seconds": 0.02},
        {"kind": "market_halted", "run_id": "r1", "market_id": "b", "rule": "halt_bid_ratio",
         "reason": "bids fell"},
        {"kind": "run_finished", "run_id": "r1", "status": "completed", "rejected": 3,
         "welfare": 10.0, "revenue": 7.0, "seconds": 0.5},
        {"kind": "run_started", "run_id": "r2"},
        {"kind": "run_failed", "run_id": "r2", "error": "KilledWorker: x"},
        {"kind": "run_started", "run_id": "r3"},
        {"kind": "shard_health", "pool": "p", "shards": [{"shard_id": 0, "status": "ok"},
         {"shard_id": 1, "status": "left out: timeout"}]},
    ]  # fmt: skip
    for at, event in enumerate(events):
        monitor.apply(event, float(at))
        metrics.observe(event)
    assert [r["run_id"] for r in monitor.recent_runs()] == ["r3", "r2"]  # max_runs=2
    assert monitor.runs["r2"]["status"] == "failed" and monitor.runs["r3"]["status"] == "running"
    assert monitor.latest_markets()[0]["market_id"] == "a"
    assert monitor.halts[0]["reason"] == "bids fell"
    assert [row["shard_id"] for row in monitor.shard_rows()] == [0, 1]
    assert monitor.totals()["failed runs"] == 1 and monitor.totals()["halts tripped"] == 1
    value = metrics.registry.get_sample_value
    assert value("econonexus_runs_total", {"status": "failed"}) == 1
    assert value("econonexus_runs_total", {"status": "completed"}) == 1
    assert value("econonexus_rejected_bids_total") == 3
    assert value("econonexus_solve_seconds_count") == 1
    assert value("econonexus_halts_total", {"rule": "halt_bid_ratio"}) == 1
    assert value("econonexus_agent_shards", {"status": "left out"}) == 1


@dataclass(frozen=True)
class Served:
    scheduler: str
    page: str
    metrics: str


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--scheduler-port", "0", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    facts: dict[str, str] = {}
    for line in process.stdout:
        if line.startswith("serving"):
            break
        name, _, value = line.strip().partition(": ")
        facts[name] = value
    else:
        pytest.fail(f"serve stopped: {process.stderr.read() if process.stderr else ''}")
    try:
        assert facts["scheduler"].startswith("tcp://127.0.0.1:")
        assert facts["dashboard"].startswith("http://127.0.0.1:")  # localhost unless told
        yield Served(facts["scheduler"], facts["econonexus page"], facts["metrics"])
    finally:
        process.terminate()
        process.communicate(timeout=60)  # drains and closes the pipes
        assert process.returncode == 0, "serve ends cleanly on SIGTERM"
        assert not pathlib.Path(os.environ[SCHEDULER_FILE]).exists(), "and removes its file"


@pytest.fixture(scope="module")
def activity(served: Served, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A batch with a market that halts, a second batch, and a round of an agent pool, sent
    from this process (the command line's own code, not a subprocess each: serve is the
    other process)."""
    tmp = tmp_path_factory.mktemp("served")
    markets = yaml.safe_load((DATA / "markets.yaml").read_text())
    markets["tasks"] = {**markets["tasks"], "halt_rejected_share": 0.2}
    (tmp / "markets.yaml").write_text(yaml.safe_dump(markets))
    runs = {}
    written = json.loads(pathlib.Path(os.environ[SCHEDULER_FILE]).read_text())
    assert written["address"] == served.scheduler, "serve names its scheduler in the file"
    for name, source in (("halting", "bids.csv"), ("plain", "auctions.csv")):
        # the first names the scheduler; the second finds it through serve's scheduler file
        where = ["--scheduler", served.scheduler] if name == "halting" else []
        with dask.config.set(EVERY_COMPONENT_A_TASK):
            said = _cli(
                "clear", str(DATA / source), "--items", str(DATA / "items.csv"),
                "--markets", str(tmp / "markets.yaml"), "--out", str(tmp / "runs"), *where,
            )  # fmt: skip
        runs[name] = re.search(r"run (\S+): completed", said).group(1)  # type: ignore[union-attr]
    _cli(
        "simulate", "--agents", "40", "--shards", "3", "--rounds", "1", "--seed", "1",
        "--out", str(tmp / "sim"), "--scheduler", served.scheduler,
    )  # fmt: skip
    return runs


def _cli(*args: str) -> str:
    """What ``econonexus ARGS`` prints, run in this process; it must succeed."""
    with contextlib.redirect_stdout(io.StringIO()) as said:
        assert main(list(args)) == 0
    return said.getvalue()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return str(response.read().decode())


@pytest.mark.slow
def test_page_shows_runs_markets_halts_and_shards(served: Served, activity: dict[str, str]) -> None:
    page = _get(served.page + "?refresh=0")
    for title in ("Welfare and revenue per run", "Solver seconds per market", "Recent runs",
                  "Markets of the latest runs", "Halts", "Agent shards"):  # fmt: skip
        assert f">{title}</h2>" in page
    assert activity["halting"] in page and activity["plain"] in page
    assert "rejected_share" in page and ">halted<" in page
    assert "gpu-hours" in page and "vickrey" in page
    assert "no agent pool has reported" not in page
    assert "<th>state_bytes</th>" not in page, "a column no report fills is not shown"
    live = _get(served.page)
    assert 'http-equiv="refresh"' not in live, "the page updates in place, never reloads"
    assert 'fetch("econonexus/parts.json"' in live and "const every = 5000;" in live
    parts = json.loads(_get(served.page + "/parts.json"))
    assert activity["halting"] in parts["sections"]["Recent runs"]
    assert parts["sections"]["Halts"].count("<tr>") == 3  # the header and two halts
    welfare = parts["plots"]["enx-welfare"]
    assert len(welfare["time"]) == len(welfare["welfare"]) >= 2
    assert 'src="econonexus/static/js/bokeh.min.js"' in page
    assert "Bokeh" in _get(served.page + "/static/js/bokeh.min.js")[:2000]
    for bad in ("abc", "-1", "%C2%B2"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(served.page + f"?refresh={bad}")
        assert refused.value.code == 400
        assert "refresh: expected a whole number" in str(refused.value.reason)
    status = _get(served.page.removesuffix("econonexus") + "status")
    assert '<a href="econonexus">Econonexus</a>' in status, "linked from Dask's own pages"

    state = json.loads(_get(served.page + "/state.json"))
    assert state["totals"]["halts tripped"] == 1 and state["totals"]["agent shards"] == 3
    halts = {(h["run_id"], h["rule"]) for h in state["halts"]}
    assert halts == {(activity["halting"], "rejected_share"), (activity["plain"], "halted")}
    ran = {r["run_id"]: r for r in state["runs"]}
    assert ran[activity["halting"]]["halted"] == ran[activity["plain"]]["halted"] == 1
    assert {s["status"] for s in state["shards"]} == {"ok"}


@pytest.mark.slow
def test_metrics_count_runs_markets_halts_rejections_and_solve_time(
    served: Served, activity: dict[str, str]
) -> None:
    text = _get(served.metrics)
    samples = dict(re.findall(r"^(econonexus_\S+) (\S+)$", text, re.MULTILINE))
    runs = sum(float(v) for k, v in samples.items() if k.startswith("econonexus_runs_total"))
    assert runs >= 3  # two batches and the simulation's round
    assert float(samples['econonexus_halts_total{rule="rejected_share"}']) == 1
    assert float(samples["econonexus_rejected_bids_total"]) >= 10
    assert float(samples["econonexus_solve_seconds_count"]) >= 8
    assert 'econonexus_solve_seconds_bucket{le="+Inf"}' in samples
    assert float(samples['econonexus_agent_shards{status="ok"}']) == 3
    assert "# TYPE econonexus_solve_seconds histogram" in text
    assert "dask_scheduler_workers" in text  # Dask's own metrics are still there


@pytest.mark.slow
def test_task_prefixes_are_readable_in_the_task_stream(
    served: Served, activity: dict[str, str]
) -> None:
    with Client(served.scheduler, timeout="20s") as client:
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
    stages = {"enx-validate", "enx-split", "enx-plan", "enx-solve", "enx-combine", "enx-shard"}
    assert stages <= set(prefixes)
    assert not [p for p in prefixes if p.startswith("enx") and p not in STAGES], prefixes


@pytest.mark.slow
def test_headless_chromium_draws_the_page(
    served: Served, activity: dict[str, str], tmp_path: pathlib.Path
) -> None:
    browser = shutil.which("chromium")
    if browser is None:
        if os.environ.get("ECONONEXUS_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (ECONONEXUS_REQUIRE_CHROMIUM) but not found")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    shot = tmp_path / "econonexus-page.png"
    url = served.page + "?refresh=0"
    subprocess.run(
        [
            *_chromium(browser, tmp_path / "shot"),
            "--window-size=1280,2000",
            f"--screenshot={shot}",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    dom = subprocess.run(
        [*_chromium(browser, tmp_path / "dom"), "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count('class="bk-Figure"') == 2, "Bokeh drew both plots in the browser"
    updating = subprocess.run(
        [*_chromium(browser, tmp_path / "live"), "--virtual-time-budget=10000", "--dump-dom",
         served.page + "?refresh=1"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    updates = re.search(r'data-updates="(\d+)"', updating)
    assert updates and int(updates.group(1)) >= 2, "the page fetched its parts and updated"
    assert updating.count('class="bk-Figure"') == 2 and activity["halting"] in updating
    assert activity["halting"] in dom
    if artifacts := os.environ.get("ECONONEXUS_ARTIFACTS"):
        shutil.copy(shot, pathlib.Path(artifacts) / shot.name)


def _chromium(browser: str, profile: pathlib.Path) -> list[str]:
    return [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
