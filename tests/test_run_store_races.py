"""One writer per run: run ids stay inside OUT, two publishers of one run id never both win,
and the run's publish lease is taken over from a dead, failed or silent holder only."""

from __future__ import annotations

import json
import multiprocessing
import pathlib
import subprocess
import sys
import time

import dask
import polars as pl
import pyarrow as pa
import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.lease import Lease, acquire
from econonexus.pipelines.io.signing import record_signed
from econonexus.pipelines.store.run_files import write_part
from econonexus.pipelines.store.run_lease import claim_run, holding
from econonexus.pipelines.store.run_store import publish_manifest
from tests.racers import create_lease_file

ROOT = pathlib.Path(__file__).parents[1]
RunConflict = enx.RunConflictError
BAD_IDS = ["../escaped", "/tmp/abs", "..", ".", "_history", ".hidden", "a/b", "a\\b", "", "é"]


def _bids(price: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bid_id": ["1", "2"],
            "agent_id": ["a", "b"],
            "items": [["x"], ["x"]],
            "price": [price, 2.0],
        }
    )


@pytest.mark.parametrize("run_id", BAD_IDS)
def test_run_ids_that_leave_or_shadow_the_output_folder_are_refused(
    run_id: str, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(enx.InputError, match=r"`run_id`: expected 1-128 of A-Z"):
        enx.clear(_bids(3.0), out=str(out), run_id=run_id)
    with pytest.raises(enx.InputError, match=r"`run_id`: expected"):
        record_signed(str(out), run_id, pl.DataFrame({"market_id": [], "bid_id": []}), {})
    assert not out.exists() and not (tmp_path / "escaped").exists()


def test_the_cli_refuses_a_bad_run_id_with_exit_2(tmp_path: pathlib.Path) -> None:
    done = _cli("clear", str(ROOT / "data" / "bids.csv"), "--out", str(tmp_path), "--run-id", "..")
    assert done.returncode == 2 and "`run_id`: expected" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_create_if_absent_has_exactly_one_winner_among_processes(tmp_path: pathlib.Path) -> None:
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        for trial in range(10):
            path = str(tmp_path / f"lease-{trial}.json")
            wins = pool.map(create_lease_file, [path] * 12)
            assert sum(wins) == 1
            assert pathlib.Path(path).read_text().isdigit()  # whole, never torn
    assert not list(tmp_path.glob("*.tmp"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "econonexus.pipelines.ops.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _clear_at_once(
    sources: list[str], out: pathlib.Path, run_id: str, address: str
) -> tuple[list[int], list[str]]:
    """Run ``econonexus clear`` of each source at once; their exit codes and stderr."""
    args = ["--out", str(out), "--run-id", run_id, "--scheduler", address]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "econonexus.pipelines.ops.cli", "clear", source, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for source in sources
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    return [p.returncode for p in procs], errors


@pytest.mark.slow
def test_two_clears_of_one_run_id_and_inputs_clear_it_once(
    client: Client, tmp_path: pathlib.Path
) -> None:
    source = tmp_path / "bids.parquet"
    _bids(3.0).write_parquet(source)
    out = tmp_path / "out"
    codes, errors = _clear_at_once([str(source)] * 2, out, "r", client.scheduler.address)
    assert codes == [0, 0], errors
    # one lease generation: the second process waited for the manifest and read the run
    leases = sorted(p.name for p in (out / "r" / "_lease").iterdir())
    assert leases == [f"{0:012d}.beat", f"{0:012d}.json", f"{0:012d}.released"]
    assert enx.read_run(str(out / "r")).allocations.filter(pl.col("won")).height == 1


@pytest.mark.slow
def test_two_clears_of_one_run_id_with_other_inputs_publish_once(
    client: Client, tmp_path: pathlib.Path
) -> None:
    out, sources = tmp_path / "out", []
    for k in range(2):
        path = tmp_path / f"bids-{k}.parquet"
        _bids(3.0 + k).write_parquet(path)
        sources.append(str(path))
    codes, errors = _clear_at_once(sources, out, "r", client.scheduler.address)
    assert sorted(codes) == [0, 2], errors
    loser = errors[codes.index(2)]
    assert "already exists" in loser and "with other inputs" in loser
    manifest = json.loads((out / "r" / "manifest.json").read_text())
    assert manifest["inputs"][0]["source"] == sources[codes.index(0)]
    stored = enx.read_run(str(out / "r"))
    winner_price = 3.0 + codes.index(0)
    assert stored.allocations.filter(pl.col("won"))["price"].to_list() == [winner_price]


CLAIM_AND_DIE = """
import os, sys
from econonexus.pipelines.store.run_lease import claim_run
claim_run(sys.argv[1], "r", "f", wait=0)
os._exit(0)  # dies holding the lease, as a killed process would
"""


def test_a_run_whose_lease_holder_died_is_taken_over_and_published(
    client: Client, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-c", CLAIM_AND_DIE, str(out)], check=True, timeout=120)
    assert (out / "r" / "_lease" / f"{0:012d}.json").exists()
    result = enx.clear(_bids(3.0), client=client, out=str(out), run_id="r")
    assert not result.from_store and (out / "r" / "manifest.json").exists()
    assert (out / "r" / "_lease" / f"{1:012d}.released").exists()  # published, then released


def test_a_failed_run_releases_its_lease_for_the_next_process(tmp_path: pathlib.Path) -> None:
    out = str(tmp_path)
    first = claim_run(out, "r", "f", wait=0)
    assert isinstance(first, Lease)
    with pytest.raises(ZeroDivisionError), holding(first):
        _ = 1 / 0
    second = claim_run(out, "r", "f", wait=0)
    assert isinstance(second, Lease) and second.generation == first.generation + 1


def test_a_live_holder_keeps_the_run_and_names_itself(tmp_path: pathlib.Path) -> None:
    out = str(tmp_path)
    held = claim_run(out, "r", "f", wait=0)
    assert isinstance(held, Lease)
    with pytest.raises(enx.RunConflictError, match=r"being cleared by another process \(.+:"):
        claim_run(out, "r", "f", wait=0.3)


def test_a_silent_holder_on_another_host_is_taken_over_once_stale(tmp_path: pathlib.Path) -> None:
    out = str(tmp_path)
    lease_dir = tmp_path / "r" / "_lease"
    lease_dir.mkdir(parents=True)
    record = {"generation": 0, "holder": "elsewhere:1:x", "host": "elsewhere", "pid": 1}
    (lease_dir / f"{0:012d}.json").write_text(json.dumps(record))
    (lease_dir / f"{0:012d}.beat").write_text(str(time.time() - 5))
    with dask.config.set({"econonexus.store.lease-stale": 60}), pytest.raises(RunConflict):
        claim_run(out, "r", "f", wait=0)
    with dask.config.set({"econonexus.store.lease-stale": 2}):
        taken = claim_run(out, "r", "f", wait=0)
    assert isinstance(taken, Lease) and taken.generation == 1


def test_a_writer_whose_lease_was_taken_over_writes_nothing(tmp_path: pathlib.Path) -> None:
    out = str(tmp_path)
    old = claim_run(out, "r", "f", wait=0)
    assert isinstance(old, Lease)
    acquire(old.root, break_lease=True, kind="run")  # the new holder
    rows = pa.table({"x": [1]})
    with pytest.raises(enx.LeaseError, match=r"run .*writing t/part-00000.parquet refused"):
        write_part(old.root, "t/part-00000.parquet", rows, fence=old)
    assert not (tmp_path / "r" / "t").exists()
    with pytest.raises(enx.LeaseError, match="manifest write refused"):
        publish_manifest(old.root, {}, {}, {}, fence=old)
    assert not (tmp_path / "r" / "manifest.json").exists()
