"""A cluster started the way real machines start one: ``dask scheduler`` and two ``dask worker``
processes on loopback, cleared through ``econonexus clear --scheduler``."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from distributed import Client

DATA = pathlib.Path(__file__).parents[1] / "data"
pytestmark = pytest.mark.slow


@pytest.fixture
def scheduler_address(tmp_path: pathlib.Path) -> Iterator[str]:
    info = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask", "scheduler"]  # `dask scheduler`, in this interpreter
    processes = [
        subprocess.Popen(
            [
                *dask,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--preload",
                "econonexus.pipelines.dashboard.plugin",  # the EconoNexus page from the start
                "--scheduler-file",
                str(info),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        worker = [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1"]
        for name in ("w1", "w2"):
            processes.append(
                subprocess.Popen(
                    [*worker, "--name", name, "--no-dashboard"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            assert client.run_on_scheduler(_has_dashboard_plugin), "preloaded"
        yield address
    finally:  # killed: a graceful close of the workers takes seconds and is not under test
        for process in reversed(processes):
            process.kill()
        for process in processes:
            process.wait(timeout=30)


def test_clear_on_a_separately_started_cluster(
    scheduler_address: str, tmp_path: pathlib.Path
) -> None:
    # the second batch: a directory of Parquet files, one per market (hive-partitioned)
    folder = tmp_path / "bids"
    bids = pl.read_csv(DATA / "bids.csv")
    for (market,), part in bids.group_by("market_id"):
        (folder / f"market_id={market}").mkdir(parents=True)
        part.drop("market_id").write_parquet(folder / f"market_id={market}" / "part-0.parquet")
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "clear"]
    options = ["--items", str(DATA / "items.csv"), "--out", str(tmp_path / "runs")]
    # Dask's conventions: a scheduler file, then DASK_SCHEDULER_ADDRESS
    info = tmp_path / "scheduler.json"
    ways = {
        "remote": ([str(DATA / "bids.csv"), "--scheduler-file", str(info)], {}),
        "remote-env": ([str(folder)], {"DASK_SCHEDULER_ADDRESS": scheduler_address}),
    }
    for run_id, (flags, env) in ways.items():
        done = subprocess.run(
            [*command, *flags, *options, "--run-id", run_id],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, **env},
        )
        assert done.returncode == 0, done.stderr
        manifest = json.loads((tmp_path / "runs" / run_id / "manifest.json").read_text())
        assert manifest["status"] == "completed"
    cleared = {
        run_id: pl.read_parquet(tmp_path / "runs" / run_id / "allocations")
        .select("market_id", "bid_id", "won", "payment")
        .sort("market_id", "bid_id")
        for run_id in ways
    }
    assert cleared["remote"].equals(cleared["remote-env"]), "the same bids, as a dataset"
    with Client(scheduler_address, timeout="30s") as client:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        assert sorted(w["name"] for w in workers) == ["w1", "w2"], (
            "the batch ran on our two workers"
        )
        port = client.scheduler_info()["services"]["dashboard"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/econonexus/state.json") as page:
        runs = json.loads(page.read())["runs"]
    assert sorted((r["run_id"], r["status"]) for r in runs) == [
        ("remote", "completed"),
        ("remote-env", "completed"),
    ]


def _has_dashboard_plugin(dask_scheduler: Any) -> bool:
    return "econonexus-dashboard" in dask_scheduler.plugins
