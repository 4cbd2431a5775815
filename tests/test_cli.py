"""The command line, end to end in subprocesses (usage errors in this process)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import polars as pl
import pytest
from distributed import Client

from econonexus.pipelines.ops.cli import main

ROOT = pathlib.Path(__file__).parents[1]


def run(
    *args: str, cwd: pathlib.Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "econonexus.pipelines.ops.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=None if env is None else {**os.environ, **env},
    )


def test_generate_then_clear_prints_summary_and_location(
    tmp_path: pathlib.Path, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    # generating and the repeated clear in this process; the first clear in a subprocess
    generate = ["generate", "--distribution", "paths", "--goods", "40", "--bids", "90"]
    assert main([*generate, "--seed", "3", "--count", "2", "--out", str(tmp_path / "inst")]) == 0
    files = sorted((tmp_path / "inst").glob("*.cats"))
    assert [f.name for f in files] == ["paths-g40-b90-s3.cats", "paths-g40-b90-s4.cats"]
    clear = ["clear", *map(str, files), "--out", str(tmp_path / "runs"), "--solver", "highs"]
    clear += ["--scheduler", client.scheduler.address, "--run-id", "cli-1"]
    done = run(*clear)
    assert done.returncode == 0, done.stderr
    assert "| paths-g40-b90-s3 | combinatorial | pay-as-bid   | optimal" in done.stdout
    assert f"results: {tmp_path / 'runs' / 'cli-1'}" in done.stdout
    manifest = json.loads((tmp_path / "runs" / "cli-1" / "manifest.json").read_text())
    assert manifest["config"]["solver"] == "highs"
    capsys.readouterr()
    assert main(clear) == 0
    assert "stored result, not recomputed" in capsys.readouterr().out


def test_demo_clears_the_sample_batch(tmp_path: pathlib.Path) -> None:
    done = run("demo", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for market in ("compute", "gpu-hours", "jobs", "storage", "spectrum", "bandwidth"):
        assert f"| {market}" in done.stdout
    assert "10 rejected rows" in done.stdout
    location = pathlib.Path(done.stdout.strip().splitlines()[-1].removeprefix("results: "))
    assert pl.read_parquet(location / "rejected").height >= 10
    summary = pl.read_parquet(location / "summary")
    rules = {m: (f, r) for m, f, r in summary.select("market_id", "format", "payment_rule").rows()}
    assert rules["compute"] == ("combinatorial", "vcg")
    assert rules["gpu-hours"] == ("vickrey", "second-price")
    assert rules["jobs"] == ("procurement", "vcg")
    assert rules["decay"] == ("combinatorial", "pay-as-bid")  # not listed: the default
    revenue = dict(summary.select("market_id", "revenue").iter_rows())
    assert revenue["gpu-hours"] == 12.0  # two units at the third bid, 6.0
    assert revenue["jobs"] == 33.0  # VCG sellers: 14 + 4 and 12 + 3
    assert revenue["storage"] == 34.5  # 24.5 (one increment over 24.0) + 10.0 (reserve)
    assert pl.read_parquet(location / "prices")["market_id"].unique().sort().to_list() == [
        "bandwidth",
        "spectrum",
        "storage",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clear", "missing.csv", "--out", "x"], "cannot read 'missing.csv': file not found"),
        (
            ["clear", "data/bids.csv", "--out", "x", "--solver", "gurobi"],
            "invalid choice: 'gurobi'",
        ),
        (["clear", "data/bids.csv"], "the following arguments are required: --out"),
        (["clear", "data/items.csv", "--out", "x"], "missing required column(s) `bid_id`"),
        (["demo", "--data", "nowhere"], "hint: leave out --data for the installed sample data"),
    ],
)
def test_bad_usage_and_unreadable_input_exit_2(
    args: list[str],
    message: str,
    tmp_path: pathlib.Path,
    client: Client,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # in this process: the console script is `main`'s code through `exit_with`, whose exit
    # codes the subprocess tests (failed run, signed market without keys) check end to end
    monkeypatch.chdir(ROOT)
    given = [a if a != "x" else str(tmp_path) for a in args]
    if args[0] == "clear" and "--out" in args:  # reading needs a cluster: the session's
        given += ["--scheduler", client.scheduler.address]
    try:
        code = main(given)
    except SystemExit as usage:  # argparse's own usage errors
        code = usage.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_failed_run_exits_1(tmp_path: pathlib.Path) -> None:
    done = run(
        "clear",
        str(ROOT / "data" / "decay.cats"),
        "--out",
        str(tmp_path),
        "--scheduler",
        "tcp://127.0.0.1:9",
        env={"DASK_ECONONEXUS__CLUSTER__CONNECT_TIMEOUT": "0.5"},  # nothing listens there
    )
    assert done.returncode == 1
    assert "cannot connect to 'tcp://127.0.0.1:9'" in done.stderr
