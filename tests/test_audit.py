"""``econonexus audit verify``: a real run verifies; a tampered allocation file does not."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.ops.cli import main
from econonexus.pipelines.store.run_audit import verify_run

DATA = pathlib.Path(__file__).parents[1] / "data"
pytestmark = pytest.mark.slow


def verify_cli(run: str, client: Client) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "audit", "verify", run]
    command += ["--scheduler", client.scheduler.address]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_a_real_run_verifies_and_a_tampered_one_fails(
    client: Client, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = [str(DATA / "bids.csv"), str(DATA / "auctions.csv"), str(DATA / "decay.cats")]
    result = enx.clear(
        sources,
        items=str(DATA / "items.csv"),
        markets=str(DATA / "markets.yaml"),
        client=client,
        out=str(tmp_path),
        run_id="audited",
    )
    assert result.rejected.height > 0, "the sample batch has broken rows; they must stay rejected"
    assert set(result.manifest["stored_inputs"]) >= {
        "inputs/bids/part-00000.parquet",
        "inputs/items/part-00000.parquet",
    }
    report = verify_run(str(tmp_path / "audited"), client=client)
    assert report.ok and report.checked == result.allocations.height
    ok = verify_cli(str(tmp_path / "audited"), client)
    assert ok.returncode == 0 and "all match" in ok.stdout, ok.stderr
    parts = sorted((tmp_path / "audited" / "allocations").glob("part-*.parquet"))
    winner = pl.read_parquet(parts[0].parent).filter("won").sort("bid_id")["bid_id"][0]
    path = next(p for p in parts if winner in pl.read_parquet(p)["bid_id"].to_list())
    stored = pl.read_parquet(path)
    tampered = stored.with_columns(
        pl.when(pl.col("bid_id") == winner)
        .then(pl.col("payment") * 0.5)
        .otherwise("payment")
        .alias("payment")
    )
    tampered.write_parquet(path)
    bad = verify_run(str(tmp_path / "audited"), client=client)
    assert not bad.ok and bad.mismatches["bid_id"].to_list() == [winner]
    verify = ["audit", "verify", str(tmp_path / "audited"), "--scheduler", client.scheduler.address]
    assert main(verify) == 1  # in this process, the same command
    assert "MISMATCH in 1 of" in capsys.readouterr().out
