"""``econonexus schedule``: each new file cleared once, stale locks taken over, failures retried."""

from __future__ import annotations

import json
import multiprocessing
import os
import pathlib
import shutil
import subprocess
import sys
import time

import dask
import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.lease import Heartbeat
from econonexus.agents.lease import acquire as acquire_lease
from econonexus.pipelines.ops.schedule import run_pending
from tests.racers import acquire_schedule_lock

DATA = pathlib.Path(__file__).parents[1] / "data"
pytestmark = pytest.mark.slow


def schedule(
    inbox: pathlib.Path, out: pathlib.Path, client: Client, settle: float = 0
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "schedule", "--once"]
    command += ["--bids", f"{inbox}/", "--out", str(out), "--scheduler", client.scheduler.address]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=_env(settle)
    )


def _env(settle: float = 0) -> dict[str, str]:
    return {
        **os.environ,
        "DASK_ECONONEXUS__SCHEDULE__BACKOFF": "0.01",
        "DASK_ECONONEXUS__SCHEDULE__SETTLE": str(settle),
    }


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
    again = _wake(inbox, out, client)
    assert "0 new file(s) handled" in again and len(runs(out)) == 2
    shutil.copy(DATA / "decay.cats", inbox / "wednesday.cats")
    third = _wake(inbox, out, client)
    assert "1 new file(s) handled" in third and "wednesday" in third
    assert len(runs(out)) == 3
    # a scheduler killed after writing a run but before its ledger record: no second run
    record = next((out / "_schedule" / "ledger").glob("*.json"))
    run_id = json.loads(record.read_text())["run_id"]
    record.unlink()
    resumed = _wake(inbox, out, client)
    assert "1 new file(s) handled" in resumed and run_id in resumed
    assert len(runs(out)) == 3


def test_a_live_lock_is_respected_and_a_stale_one_is_taken_over(
    client: Client, tmp_path: pathlib.Path
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    shutil.copy(DATA / "bids.csv", inbox / "a.csv")
    holder = acquire_lease(str(out / "_schedule"), stale_after=300)
    holder.beat()
    blocked = schedule(inbox, out, client)
    assert "another scheduler (" in blocked.stdout and "holds the lock" in blocked.stdout
    assert runs(out) == []
    beat = out / "_schedule" / "_lease" / f"{holder.generation:012d}.beat"
    beat.write_text(str(time.time() - 3600))  # the holder stopped beating an hour ago
    taken = schedule(inbox, out, client)
    assert "took over a stale lock of" in taken.stdout and len(runs(out)) == 1
    with pytest.raises(enx.LeaseError, match="ledger record refused"):
        holder.check("ledger record")  # the old holder is fenced out


def test_the_heartbeat_keeps_a_lock_alive_through_a_long_batch(tmp_path: pathlib.Path) -> None:
    root = str(tmp_path / "_schedule")
    held = acquire_lease(root, stale_after=0.5)
    with Heartbeat(held, 0.1):
        time.sleep(1.5)  # three times the staleness: only the heartbeat keeps it
        with pytest.raises(enx.LeaseError):
            acquire_lease(root, stale_after=0.5)
    time.sleep(0.8)
    assert acquire_lease(root, stale_after=0.5).generation == held.generation + 1


def test_simultaneous_lock_acquisitions_have_one_winner(tmp_path: pathlib.Path) -> None:
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        for trial in range(20):
            root = str(tmp_path / f"t{trial}" / "_schedule")
            assert sum(pool.map(acquire_schedule_lock, [root] * 6)) == 1


def _wake(inbox: pathlib.Path, out: pathlib.Path, client: Client, settle: float = 0) -> str:
    """One scheduler wake in this process (the CLI's --once); what it logged."""
    said: list[str] = []
    with dask.config.set({"econonexus.schedule.settle": settle}):
        run_pending(f"{inbox}/", str(out), client=client, log=said.append)
    return "\n".join(said)


def test_file_versions_copies_and_half_written_files(
    client: Client, tmp_path: pathlib.Path
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    shutil.copy(DATA / "bids.csv", inbox / "day.csv")
    assert "1 new file(s) handled" in _wake(inbox, out, client) and len(runs(out)) == 1
    shutil.copy(DATA / "bids.csv", inbox / "copy-of-day.csv")  # the same bytes elsewhere
    copied = _wake(inbox, out, client)
    assert "duplicate of" in copied and len(runs(out)) == 1
    more = (DATA / "bids.csv").read_text().rstrip(
        "\n"
    ) + "\nx99,agent-x,default,widget,1,5.0,,buy,\n"
    (inbox / "day.csv").write_text(more)  # overwritten with more bids: a new version
    assert "1 new file(s) handled" in _wake(inbox, out, client) and len(runs(out)) == 2
    (inbox / "late.csv").write_text((DATA / "bids.csv").read_text()[:200])  # still being written
    assert "0 new file(s) handled" in _wake(inbox, out, client, settle=60)
    (inbox / "late.csv.ready").write_text("")  # the writer's marker: complete now
    marked = _wake(inbox, out, client, settle=60)
    assert "1 new file(s) handled" in marked and "late.csv" in marked


def test_two_schedulers_at_once_clear_each_file_exactly_once(
    client: Client, tmp_path: pathlib.Path
) -> None:
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "schedule", "--once"]
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    for name in ("bids.csv", "paths.parquet", "decay.cats"):
        shutil.copy(DATA / name, inbox / name)
    args = ["--bids", f"{inbox}/", "--out", str(out), "--scheduler", client.scheduler.address]
    procs = [
        subprocess.Popen([*command, *args], stdout=subprocess.PIPE, text=True, env=_env())
        for _ in range(2)
    ]
    said = [proc.communicate(timeout=300)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), said
    assert sum(text.count(" batch ") for text in said) == 3, said  # none handled twice
    handled = list((out / "_schedule" / "ledger").glob("*.json"))
    assert len(handled) == 3 and len(runs(out)) == 3


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
    assert "0 new file(s) handled" in _wake(inbox, out, client)


def test_config_show_prints_the_merged_settings() -> None:
    env = {**os.environ, "DASK_ECONONEXUS__SOLVER__BACKEND": "highs"}
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "config", "show"]
    shown = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert shown.returncode == 0
    assert "backend: highs" in shown.stdout and "lock-stale: 300" in shown.stdout
