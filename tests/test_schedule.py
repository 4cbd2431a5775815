"""``econonexus schedule``: each new file cleared once, stale locks taken over, failures retried."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest
from distributed import Client

DATA = pathlib.Path(__file__).parents[1] / "data"
pytestmark = pytest.mark.slow


def schedule(
    inbox: pathlib.Path, out: pathlib.Path, client: Client
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "econonexus.pipelines.cli", "schedule", "--once"]
    command += ["--bids", f"{inbox}/", "--out", str(out), "--scheduler", client.scheduler.address]
    env = {**os.environ, "DASK_ECONONEXUS__SCHEDULE__BACKOFF": "0.01"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env
    )


def runs(out: pathlib.Path) -> list[str]:
    return sorted(p.parent.name for p in out.glob("sched-*/manifest.json"))


def test_each_new_file_is_cleared_exactly_once(client: Client, tmp_path: pathlib.Path) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    shutil.copy(DATA / "bids.csv", inbox / "monday.csv")
    shutil.copy(DATA / "paths.parquet", inbox / "tuesday.parquet")
    first = schedule(inbox, out, client)
    assert first.returncode == 0, first.stderr
    assert len(runs(out)) == 2 and "2 new file(s) handled" in first.stdout
    assert first.stdout.count(" batch ") == 2 and "completed" in first.stdout
    again = schedule(inbox, out, client)
    assert "0 new file(s) handled" in again.stdout and len(runs(out)) == 2
    shutil.copy(DATA / "decay.cats", inbox / "wednesday.cats")
    third = schedule(inbox, out, client)
    assert "1 new file(s) handled" in third.stdout and "wednesday" in third.stdout
    assert len(runs(out)) == 3
    # a scheduler killed after writing a run but before its ledger record: no second run
    record = next((out / "_schedule" / "ledger").glob("*.json"))
    run_id = json.loads(record.read_text())["run_id"]
    record.unlink()
    resumed = schedule(inbox, out, client)
    assert "1 new file(s) handled" in resumed.stdout and run_id in resumed.stdout
    assert len(runs(out)) == 3


def test_a_live_lock_is_respected_and_a_stale_one_is_taken_over(
    client: Client, tmp_path: pathlib.Path
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    shutil.copy(DATA / "bids.csv", inbox / "a.csv")
    lock = out / "_schedule" / "lock.json"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"owner": "elsewhere:1", "heartbeat": time.time()}))
    blocked = schedule(inbox, out, client)
    assert "another scheduler (elsewhere:1) holds the lock" in blocked.stdout and runs(out) == []
    lock.write_text(json.dumps({"owner": "crashed:2", "heartbeat": time.time() - 3600}))
    taken = schedule(inbox, out, client)
    assert "took over a stale lock of crashed:2" in taken.stdout and len(runs(out)) == 1
    assert not lock.exists(), "the lock is released after the batch"


def test_a_failing_file_is_retried_then_recorded_as_failed(
    client: Client, tmp_path: pathlib.Path
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    (inbox / "broken.parquet").write_bytes(b"not parquet at all")
    failed = schedule(inbox, out, client)
    assert failed.returncode == 1
    assert "failed (3 attempt(s)" in failed.stdout and "broken.parquet" in failed.stdout
    record = json.loads(next((out / "_schedule" / "ledger").glob("*.json")).read_text())
    assert record["status"] == "failed" and record["attempts"] == 3
    assert "0 new file(s) handled" in schedule(inbox, out, client).stdout


def test_config_show_prints_the_merged_settings() -> None:
    env = {**os.environ, "DASK_ECONONEXUS__SOLVER__BACKEND": "highs"}
    command = [sys.executable, "-m", "econonexus.pipelines.cli", "config", "show"]
    shown = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert shown.returncode == 0
    assert "backend: highs" in shown.stdout and "lock-stale: 300" in shown.stdout
