"""Settlement with live agents on a real cluster: exactly once, resume after a kill, replay."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.events import events_from_table
from econonexus.agents.journal import read_journal
from econonexus.agents.shard import ShardCore
from econonexus.agents.snapshot import states_table
from econonexus.pipelines.ops.cli import main
from econonexus.pipelines.ops.settle_run import settle

pytestmark = pytest.mark.slow
MARKETS = {"jobs": {"format": "sealed-first-price", "stake": 2.0, "stake_fraction": 0.1}}
OFFER = pl.DataFrame(
    {
        "market_id": "jobs",
        "item_id": [f"job-{k:02d}" for k in range(40)],
        "format": "sealed-first-price",
    }
)
OUTCOMES = ("excellent", "satisfactory", "poor", "byzantine")


def staked_rounds(
    client: Client,
    root: pathlib.Path,
    runs: pathlib.Path,
    run_ids: tuple[str, ...] = ("r0",),
    free_stake: float = 12.0,
) -> list[enx.ClearingResult]:
    """A pool whose agents won one staked round per run id (stored under ``runs``)."""
    agents = enx.population(120, OFFER, seed=3).with_columns(free_stake=pl.lit(free_stake))
    results = []
    with enx.AgentPool.create(client, agents, shards=4, root=str(root)) as pool:
        for round_no, run_id in enumerate(run_ids):
            bids = pool.bid_round(OFFER, seed=1, round_no=round_no)
            result = enx.clear(
                bids.bids,
                markets=MARKETS,
                accounts=pool.states(),
                client=client,
                out=str(runs),
                run_id=run_id,
            )
            pool.deliver(enx.outcome_events(result.allocations, run_id=run_id))
            results.append(result)
        pool.snapshot()
    return results


def cleared_pool(
    client: Client, root: pathlib.Path, runs: pathlib.Path
) -> tuple[enx.ClearingResult, pl.DataFrame]:
    """A pool whose agents won a staked round; returns the run and one outcome per winner."""
    (result,) = staked_rounds(client, root, runs)
    winners = result.allocations.filter("won").sort("bid_id")
    outcomes = winners.select(
        "bid_id", outcome=pl.Series([OUTCOMES[i % 4] for i in range(winners.height)])
    )
    return result, outcomes


def test_settling_twice_changes_nothing_and_money_adds_up(
    client: Client, tmp_path: pathlib.Path
) -> None:
    result, outcomes = cleared_pool(client, tmp_path / "pool", tmp_path / "runs")
    assert result.allocations.filter("won")["stake"].min() > 2.0
    rejected = result.rejected.filter(pl.col("reason").str.starts_with("insufficient stake"))
    assert rejected.height > 0, "some agents must lack the stake for all their bids"
    with enx.AgentPool.open(client, str(tmp_path / "pool")) as pool:
        locked = pool.states()["locked_stake"].sum()
        assert locked == pytest.approx(result.allocations.filter("won")["stake"].sum())
        first = settle(result, outcomes, pool=pool)
        after = pool.states()
        second = settle(str(tmp_path / "runs" / "r0"), outcomes, pool=pool)
        assert pool.states().equals(after)
        replayed = ShardCore(0)
        replayed.apply_events(events_from_table(read_journal(str(tmp_path / "pool"))))
        live = pl.from_arrow(states_table(replayed.agents[a] for a in sorted(replayed.agents)))
        assert isinstance(live, pl.DataFrame) and live.equals(after)
    assert first.settled == outcomes.height and first.already == 0
    assert first.outcomes == {o: outcomes.filter(pl.col("outcome") == o).height for o in OUTCOMES}
    assert (second.settled, second.already) == (0, outcomes.height)
    assert "already settled" in second.message and "nothing changed" in second.message
    assert after["locked_stake"].sum() == pytest.approx(0.0)
    byzantine = outcomes.filter(pl.col("outcome") == "byzantine")["bid_id"]
    cheats = result.allocations.filter(pl.col("bid_id").is_in(byzantine.to_list()))["agent_id"]
    assert after.filter(pl.col("agent_id").is_in(cheats.to_list()))["banned"].all()
    totals = first.totals
    holdings = totals["balance"] + totals["free_stake"] + totals["locked_stake"]
    assert holdings + totals["slashed_pool"] + totals["market_account"] == pytest.approx(
        totals["net_inflow"]
    )
    assert totals["slashed_pool"] > 0


def test_a_settlement_killed_half_way_resumes_without_double_applying(
    client: Client, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, outcomes = cleared_pool(client, tmp_path / "pool", tmp_path / "runs")
    shutil.copytree(tmp_path / "pool", tmp_path / "control")
    with enx.AgentPool.open(client, str(tmp_path / "control")) as pool:
        settle(result, outcomes, pool=pool)
        expected = pool.states()
    outcomes.write_parquet(tmp_path / "outcomes.parquet")
    command = [
        sys.executable,
        "-m",
        "econonexus.pipelines.ops.cli",
        "settle",
        str(tmp_path / "runs" / "r0"),
    ]
    command += [
        "--outcomes",
        str(tmp_path / "outcomes.parquet"),
        "--agents",
        str(tmp_path / "pool"),
    ]
    command += ["--scheduler", client.scheduler.address]
    env = {**os.environ, "DASK_ECONONEXUS__ECONOMICS__SETTLE_CHUNK": "1"}
    killed = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    entries = tmp_path / "pool" / "journal"
    deadline = time.monotonic() + 120
    while len(list(entries.glob("date=*/run=r0/*.parquet"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.002)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    # the resumed and repeated settlements in this process: only the killed one needs its own
    assert main(command[3:]) == 0
    assert "resumed:" in (said := capsys.readouterr().out), said
    main(command[3:])
    assert "already settled" in capsys.readouterr().out
    with enx.AgentPool.open(client, str(tmp_path / "pool")) as pool:
        assert pool.states().equals(expected)
    settled = read_journal(str(tmp_path / "pool"), run_id="r0").filter(pl.col("kind") == "settled")
    assert settled["bid_id"].is_unique().all() and settled.height == outcomes.height


def test_a_shard_that_cannot_snapshot_after_settling_is_reported(
    client: Client, tmp_path: pathlib.Path
) -> None:
    result, outcomes = cleared_pool(client, tmp_path / "pool", tmp_path / "runs")
    with enx.AgentPool.open(client, str(tmp_path / "pool")) as pool:
        pointer = tmp_path / "pool" / "snapshots" / "shard-00002" / "CURRENT.json"
        saved = pointer.read_bytes()
        pointer.unlink()
        pointer.mkdir()  # the shard can no longer read or replace its pointer
        try:
            report = settle(result, outcomes, pool=pool)
        finally:
            pointer.rmdir()
            pointer.write_bytes(saved)
        assert report.unsnapshotted == (2,)
        assert "no snapshot of shards [2]" in report.message
        assert report.settled == outcomes.height, "the settlement itself is complete"
        settled = read_journal(str(tmp_path / "pool"), run_id="r0")
        assert settled.filter(pl.col("kind") == "settled").height == outcomes.height
