"""One writer per run: run ids stay inside OUT, and two publishers of one run id never both win."""

from __future__ import annotations

import json
import multiprocessing
import pathlib
import subprocess
import sys

import fsspec
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.storage import create_if_absent
from econonexus.pipelines.io.signing import record_signed

ROOT = pathlib.Path(__file__).parents[1]
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


def _race(path: str) -> bool:
    fs, local = fsspec.core.url_to_fs(path)
    return create_if_absent(fs, local, f"{multiprocessing.current_process().pid}".encode())


def test_create_if_absent_has_exactly_one_winner_among_processes(tmp_path: pathlib.Path) -> None:
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        for trial in range(10):
            path = str(tmp_path / f"lease-{trial}.json")
            wins = pool.map(_race, [path] * 12)
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


@pytest.mark.slow
def test_two_clears_of_one_run_id_with_other_inputs_publish_once(
    client: Client, tmp_path: pathlib.Path
) -> None:
    address = client.scheduler.address
    out = tmp_path / "out"
    for trial in range(3):
        sources = []
        for k in range(2):
            path = tmp_path / f"bids-{trial}-{k}.parquet"
            _bids(3.0 + k).write_parquet(path)
            sources.append(str(path))
        args = ["--out", str(out), "--run-id", f"r{trial}", "--scheduler", address]
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
        codes = [p.returncode for p in procs]
        assert sorted(codes) == [0, 2], errors
        loser = errors[codes.index(2)]
        assert "already exists" in loser and "with other inputs" in loser
        manifest = json.loads((out / f"r{trial}" / "manifest.json").read_text())
        assert manifest["inputs"][0]["source"] == sources[codes.index(0)]
        stored = enx.read_run(str(out / f"r{trial}"))
        winner_price = 3.0 + codes.index(0)
        assert stored.allocations.filter(pl.col("won"))["price"].to_list() == [winner_price]
