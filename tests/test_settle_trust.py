"""Settle trusts nothing it is given, and one pool has one writer at a time."""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import sys

import polars as pl
import pyarrow.parquet as pq
import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.journal import read_journal
from econonexus.pipelines.ops.settle_run import check_conservation, settle
from tests.test_settlement import OUTCOMES, cleared_pool, staked_rounds

pytestmark = pytest.mark.slow
ROOT = pathlib.Path(__file__).parents[1]


def _settle_cli(
    run: pathlib.Path,
    outcomes: pathlib.Path,
    agents: str,
    client: Client,
    *extra: str,
    cwd: pathlib.Path = ROOT,
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "settle", str(run)]
    command += ["--outcomes", str(outcomes), "--agents", agents]
    command += ["--scheduler", client.scheduler.address, *extra]
    return subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_second_writer_of_a_pool_is_refused_naming_the_holder(
    client: Client, tmp_path: pathlib.Path
) -> None:
    cleared_pool(client, tmp_path / "pool", tmp_path / "runs")
    held = pytest.raises(enx.LeaseError, match=r"is held by .*one writer at a time")
    with enx.AgentPool.open(client, str(tmp_path / "pool")), held:
        enx.AgentPool.open(client, str(tmp_path / "pool"))
    with enx.AgentPool.open(client, str(tmp_path / "pool")) as pool:  # released on close
        assert pool.states().height == 120


def test_an_edited_payment_is_refused_before_anything_is_applied(
    client: Client, tmp_path: pathlib.Path
) -> None:
    _, outcomes = cleared_pool(client, tmp_path / "pool", tmp_path / "runs")
    path = next((tmp_path / "runs" / "r0" / "allocations").glob("part-*.parquet"))
    table = pl.read_parquet(path)
    pq.write_table(table.with_columns(payment=pl.lit(0.0)).to_arrow(), path)
    before = read_journal(str(tmp_path / "pool")).height
    refused = pytest.raises(
        enx.IntegrityError, match=r"allocations/part-\d+.parquet: SHA-256 differs"
    )
    with enx.AgentPool.open(client, str(tmp_path / "pool")) as pool, refused:
        settle(str(tmp_path / "runs" / "r0"), outcomes, pool=pool)
    assert read_journal(str(tmp_path / "pool")).height == before


def test_bids_that_cannot_settle_are_reported_and_nothing_is_applied_for_them(
    client: Client, tmp_path: pathlib.Path
) -> None:
    result, outcomes = cleared_pool(client, tmp_path / "pool", tmp_path / "runs")
    winners = result.allocations.filter("won").sort("bid_id")
    bad_bid, ghost_bid = winners["bid_id"][0], winners["bid_id"][1]
    edited = result.allocations.with_columns(
        payment=pl.when(pl.col("bid_id") == bad_bid).then(-50.0).otherwise(pl.col("payment")),
        agent_id=pl.when(pl.col("bid_id") == ghost_bid)
        .then(pl.lit("nobody"))
        .otherwise(pl.col("agent_id")),
    )
    tables = {**result.tables, "allocations": edited}
    tampered = dataclasses.replace(result, tables=tables)
    with enx.AgentPool.open(client, str(tmp_path / "pool")) as pool:
        report = settle(tampered, outcomes, pool=pool)
        assert not report.ok
        assert report.unsettled["bid_id"].to_list() == sorted([bad_bid, ghost_bid])
        reasons = dict(zip(report.unsettled["bid_id"], report.unsettled["reason"], strict=True))
        assert "not in the pool" in reasons[ghost_bid]
        assert "`payment`: expected a finite number >= 0, got -50.0" in reasons[bad_bid]
        assert report.settled == winners.height - 2
        assert "2 winning bids NOT settled" in report.message
        check_conservation(pool.states())
    settled = read_journal(str(tmp_path / "pool"), run_id="r0").filter(pl.col("kind") == "settled")
    assert not {bad_bid, ghost_bid} & set(settled["bid_id"].to_list())
    # the genuine run still settles those two afterwards
    with enx.AgentPool.open(client, str(tmp_path / "pool")) as pool:
        again = settle(result, outcomes, pool=pool)
    assert again.ok and again.settled == 2


def test_a_pool_without_the_run_s_agents_settles_nothing_and_exits_1(
    client: Client, tmp_path: pathlib.Path
) -> None:
    _, outcomes = cleared_pool(client, tmp_path / "pool", tmp_path / "runs")
    other = enx.population(
        5, pl.DataFrame({"market_id": ["x"], "item_id": ["y"], "format": ["vickrey"]}), seed=9
    )
    enx.AgentPool.create(client, other, shards=1, root=str(tmp_path / "other")).close()
    outcomes.write_parquet(tmp_path / "outcomes.parquet")
    # a relative --agents path is resolved where the command runs, not on the workers
    done = _settle_cli(
        tmp_path / "runs" / "r0", tmp_path / "outcomes.parquet", "other", client, cwd=tmp_path
    )
    out, err = done.communicate(timeout=300)
    assert done.returncode == 1, err
    assert f"{outcomes.height} winning bids NOT settled" in out
    assert "is not in the pool" in out and str(tmp_path / "other") in out


def _two_runs(client: Client, root: pathlib.Path, runs: pathlib.Path) -> pl.DataFrame:
    """A pool whose agents won two staked rounds, r0 and r1; one outcome per winner of both."""
    results = staked_rounds(client, root, runs, ("r0", "r1"), free_stake=30.0)
    won = pl.concat([r.allocations.filter("won").select("bid_id") for r in results])
    won = won.sort("bid_id")
    return won.with_columns(outcome=pl.Series([OUTCOMES[i % 4] for i in range(won.height)]))


def test_two_settlements_at_once_on_one_pool_lose_and_double_nothing(
    client: Client, tmp_path: pathlib.Path
) -> None:
    outcomes = _two_runs(client, tmp_path / "pool", tmp_path / "runs")
    pool = tmp_path / "pool"
    procs = []
    for run in ("r0", "r1"):
        path = tmp_path / f"outcomes-{run}.parquet"
        runs_winners = pl.read_parquet(tmp_path / "runs" / run / "allocations")
        mine = outcomes.join(runs_winners.filter("won").select("bid_id"), on="bid_id")
        mine.write_parquet(path)
        procs.append(_settle_cli(tmp_path / "runs" / run, path, str(pool), client, "--wait", "240"))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
    journal = read_journal(str(pool))
    assert journal["seq"].to_list() == list(range(journal.height))  # none lost, none twice
    settled = journal.filter(pl.col("kind") == "settled")
    assert settled["bid_id"].is_unique().all() and settled.height == outcomes.height
    with enx.AgentPool.open(client, str(pool)) as reopened:
        check_conservation(reopened.states())
