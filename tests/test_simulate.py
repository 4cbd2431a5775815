"""``econonexus simulate`` end to end, in subprocesses, with and without chaos; bad options
in this process."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import polars as pl
import pytest
from distributed import Client

from econonexus.pipelines.ops.cli import main

pytestmark = pytest.mark.slow


OPTIONS = ["--agents", "40", "--shards", "4", "--rounds", "2", "--seed", "2"]
OPTIONS += ["--items-per-market", "4"]


def simulate(out: pathlib.Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "simulate", *OPTIONS]
    command += ["--out", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def test_chaos_run_ends_with_the_same_agents_row_for_row(
    tmp_path: pathlib.Path, client: Client
) -> None:
    # the calm run in this process on the session's cluster; chaos on a cluster of its own
    calm = ["simulate", *OPTIONS, "--out", str(tmp_path / "calm")]
    assert main([*calm, "--scheduler", client.scheduler.address]) == 0
    chaos = simulate(tmp_path / "chaos", "--chaos")
    assert chaos.returncode == 0, chaos.stderr
    rounds = pl.read_parquet(tmp_path / "chaos" / "rounds.parquet")
    assert rounds["killed_worker"].is_not_null().any(), "the seed must make chaos kill a worker"
    assert rounds["recovered_shards"].list.len().sum() > 0
    assert "killed tcp://" in chaos.stdout and "recovered shards" in chaos.stdout
    assert pl.read_parquet(tmp_path / "chaos" / "left_out.parquet").is_empty()
    calm_agents = pl.read_parquet(tmp_path / "calm" / "agents.parquet")
    assert calm_agents.height == 40 and calm_agents["bids"].sum() > 0
    assert pl.read_parquet(tmp_path / "chaos" / "agents.parquet").equals(calm_agents)
    events = pl.read_parquet(tmp_path / "calm" / "events.parquet")
    assert events["seq"].to_list() == list(range(events.height))
    for r in range(2):
        assert (tmp_path / "calm" / "rounds" / f"round-{r:05d}" / "manifest.json").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--agents 0 --shards 2 --rounds 1", "`agents`: expected a whole number >= 1, got 0"),
        ("--agents 5 --shards 0 --rounds 1", "`shards`: expected a whole number >= 1, got 0"),
        ("--agents 5 --shards 2 --rounds 0", "`rounds`: expected a whole number >= 1, got 0"),
    ],
)
def test_simulate_refuses_bad_numbers_with_the_option_named(
    tmp_path: pathlib.Path, options: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *options.split(), "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
