"""Market halts: every rule trips, a halted market carries its bids over, resume lifts it."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import dask
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.io.market_policy import make_policy
from econonexus.pipelines.store.halts import active_halts, tripped

ALL_RULES = {
    "halt_price_move": 0.5,
    "halt_bid_ratio": 2.0,
    "halt_rejected_share": 0.2,
    "halt_winner_share": 0.6,
    "halt_on_error": True,
}


def stats(**row: object) -> pl.DataFrame:
    base = {"market_id": "m", "status": "optimal", "n_bids": 10, "rejected_share": 0.0}
    return pl.DataFrame([{**base, "winner_share": 0.2, "price": 10.0, **row}])


HISTORY = pl.DataFrame(
    {"run": ["a", "b", "c"], "market_id": "m", "n_bids": [10, 12, 8], "price": [9.0, 10.0, 11.0]}
)


@pytest.mark.parametrize(
    ("row", "rule", "reason"),
    [
        ({"price": 16.0}, "price_move", "price 16 moved +60.0% from median 10"),
        ({"n_bids": 4}, "bid_count", "4 bids, trailing median 10 (allowed 5 to 20)"),
        ({"n_bids": 25}, "bid_count", "25 bids, trailing median 10"),
        ({"rejected_share": 0.5}, "rejected_share", "50.0% of rows rejected > 20.0%"),
        ({"winner_share": 0.75}, "winner_share", "one agent won 75.0% of units > 60.0%"),
        ({"status": "error", "price": None}, "solver_error", "the solver failed"),
    ],
)
def test_each_rule_trips_with_its_reason(row: dict[str, object], rule: str, reason: str) -> None:
    markets = {"m": make_policy(ALL_RULES, where="t")}
    (found,) = tripped(stats(**row), HISTORY, markets)
    assert found["rule"] == rule and reason in found["reason"]
    assert tripped(stats(), HISTORY, markets) == []
    assert tripped(stats(**row), HISTORY, {"m": make_policy({}, where="t")}) == []


def bids(run: int, price: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bid_id": [f"r{run}-{k}" for k in range(4)],
            "agent_id": [f"a{k}" for k in range(4)],
            "market_id": "m",
            "items": [[f"i{k % 2}"] for k in range(4)],
            "price": [price + k for k in range(4)],
        }
    )


@pytest.mark.slow
def test_a_halted_market_is_not_cleared_carries_bids_over_and_resumes(
    client: Client, tmp_path: pathlib.Path
) -> None:
    markets = {"m": {"format": "sealed-first-price", "halt_price_move": 0.5, "halt_window": 3}}
    out = str(tmp_path)
    for run in range(3):
        calm = enx.clear(
            bids(run, 10.0), markets=markets, client=client, out=out, run_id=f"run{run}"
        )
        assert calm.summary["status"].to_list() == ["optimal"]
    spike = enx.clear(bids(3, 30.0), markets=markets, client=client, out=out, run_id="run3")
    assert spike.summary["status"].to_list() == ["halted"] and spike.allocations.is_empty()
    halt = spike.events.filter(pl.col("kind") == "halt")
    assert halt.height == 1 and "price_move" in halt["payload"][0]
    assert active_halts(out)["m"]["rule"] == "price_move"
    held = enx.clear(bids(4, 10.0), markets=markets, client=client, out=out, run_id="run4")
    assert held.summary["status"].to_list() == ["halted"]
    assert held.summary.row(0, named=True)["solver"] == "none", "a held market is never solved"
    assert held.summary["components"].to_list() == [0]
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "resume", "m", "--out", out]
    lifted = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert lifted.returncode == 0 and "halt lifted (price_move" in lifted.stdout
    assert active_halts(out) == {}
    cleared = enx.clear(bids(5, 10.0), markets=markets, client=client, out=out, run_id="run5")
    assert cleared.summary["status"].to_list() == ["optimal"]
    ids = set(cleared.allocations["bid_id"])
    assert {"r3-0", "r4-0", "r5-0"} <= ids, "carried-over bids clear with the new batch"
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 2 and "'m' is not halted" in again.stderr


@pytest.mark.slow
def test_a_run_that_fails_to_write_records_no_halt(client: Client, tmp_path: pathlib.Path) -> None:
    markets = {"m": {"format": "sealed-first-price", "halt_price_move": 0.5, "halt_window": 3}}
    out = str(tmp_path)
    for run in range(3):
        enx.clear(bids(run, 10.0), markets=markets, client=client, out=out, run_id=f"run{run}")
    (tmp_path / "run3").write_text("in the way")  # the run's folder cannot be made
    with pytest.raises(enx.RunFailedError, match="no run was published"):
        enx.clear(bids(3, 30.0), markets=markets, client=client, out=out, run_id="run3")
    assert active_halts(out) == {}, "a run that was not published halts nothing"
    assert not (tmp_path / "_carryover").exists() or not list((tmp_path / "_carryover").iterdir())
    (tmp_path / "run3").unlink()
    spike = enx.clear(bids(3, 30.0), markets=markets, client=client, out=out, run_id="run3")
    assert spike.summary["status"].to_list() == ["halted"]
    assert active_halts(out)["m"]["rule"] == "price_move"


def test_the_winner_share_of_a_market_spread_over_buckets_counts_every_bucket(
    client: Client, tmp_path: pathlib.Path
) -> None:
    # "w" and "u": 30 auctions each, agent "big" wins 20 of them; only "w" watches the share
    rows = []
    for market in ("w", "u"):
        for k in range(30):
            top = "big" if k < 20 else f"small{k}"
            rows += [(f"{market}{k}a", top, market, [f"i{k}"], 5.0)]
            rows += [(f"{market}{k}b", f"other{k}", market, [f"i{k}"], 1.0)]
    batch = pl.DataFrame(
        rows, schema=["bid_id", "agent_id", "market_id", "items", "price"], orient="row"
    )
    markets = {
        "w": {"format": "vickrey", "halt_winner_share": 0.6},
        "u": {"format": "vickrey"},
    }
    spread = {  # in parts of 10 rows, each market's auctions over 4 buckets
        "econonexus.cluster.embed-max-bytes": 0,
        "econonexus.cluster.partition-rows": 10,
        "econonexus.cluster.buckets": 4,
    }
    with dask.config.set(spread):
        run = enx.clear(batch, markets=markets, client=client, out=str(tmp_path), run_id="s")
    status = dict(run.summary.select("market_id", "status").iter_rows())
    assert status == {"u": "optimal", "w": "halted"}
    halt = run.events.filter(pl.col("kind") == "halt")["payload"].to_list()
    assert len(halt) == 1 and "one agent won 66.7% of units > 60.0%" in halt[0]


def test_a_file_resubmitted_while_its_market_is_halted_is_one_batch_of_bids(
    client: Client, tmp_path: pathlib.Path
) -> None:
    markets = {"m": {"format": "sealed-first-price", "halt_price_move": 0.5, "halt_window": 3}}
    out = str(tmp_path / "runs")
    for run in range(3):
        enx.clear(bids(run, 10.0), markets=markets, client=client, out=out, run_id=f"run{run}")
    spike = tmp_path / "spike.parquet"
    bids(3, 30.0).write_parquet(spike)
    enx.clear(str(spike), markets=markets, client=client, out=out, run_id="run3")
    (tmp_path / "markets.yaml").write_text(
        "m: {format: sealed-first-price, halt_price_move: 0.5, halt_window: 3}\n"
    )
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "clear", str(spike)]
    command += ["--markets", str(tmp_path / "markets.yaml"), "--out", out, "--run-id", "again"]
    command += ["--scheduler", client.scheduler.address]
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert "market m halted: halted: still halted since run run3 (price_move:" in again.stdout
    assert "econonexus resume MARKET --out OUT" in again.stdout
    assert "; 0 rejected rows (0 broken rules" in again.stdout, "carried and resubmitted: one bid"
    carried = pl.read_parquet(tmp_path / "runs" / "_carryover")
    assert sorted(carried["bid_id"]) == [f"r3-{k}" for k in range(4)]
    bids(3, 31.0).write_parquet(tmp_path / "changed.parquet")
    third = enx.clear(
        str(tmp_path / "changed.parquet"), markets=markets, client=client, out=out, run_id="c"
    )
    duplicates = third.rejected.filter(pl.col("reason").str.starts_with("duplicate bid_id"))
    assert duplicates.height == 8, "a changed resubmission is two bids with one id: both named"
    assert third.rejected_rows == duplicates.height == third.rejected.height
