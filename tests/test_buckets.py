"""Buckets of markets: a batch's result does not depend on how many buckets it is split into,
and many sealed markets cleared in one vectorised pass match clearing them one by one."""

from __future__ import annotations

import pathlib

import dask.config
import numpy as np
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus._core.market_settings import MarketSettings
from econonexus.pipelines.clearing.bucket_split import bucket_ids, split_batch
from econonexus.pipelines.clearing.sealed_markets import clear_sealed_markets
from econonexus.pipelines.clearing.single_item import clear_single_item

DATA = pathlib.Path(__file__).parents[1] / "data"
DEMO = [str(DATA / n) for n in ("bids.csv", "auctions.csv", "paths.parquet", "decay.cats")]
TIMING = ("solve_seconds",)


def _clear(client: Client, buckets: int) -> enx.ClearingResult:
    with dask.config.set({"econonexus.cluster.buckets": buckets}):
        return enx.clear(
            DEMO,
            items=str(DATA / "items.csv"),
            markets=str(DATA / "markets.yaml"),
            client=client,
            run_id="buckets",
        )


@pytest.mark.slow
def test_every_format_clears_the_same_in_1_3_and_16_buckets(client: Client) -> None:
    runs = {b: _clear(client, b) for b in (1, 3, 16)}
    base = runs[1]
    formats = set(base.summary["format"].to_list())
    assert {"combinatorial", "vickrey", "english", "dutch", "procurement", "clock"} <= formats
    for buckets, run in runs.items():
        assert run.allocations.equals(base.allocations), buckets
        assert run.summary.drop(TIMING).equals(base.summary.drop(TIMING)), buckets
        assert run.prices.equals(base.prices), buckets
        assert run.rejected.equals(base.rejected), buckets
        assert run.flagged.equals(base.flagged), buckets


def test_split_keeps_every_bid_and_market_once() -> None:
    bids = pl.DataFrame({"market_id": [f"m{i % 37}" for i in range(500)], "bid_id": range(500)})
    markets = [f"m{i}" for i in range(40)]  # three markets without valid bids
    parts = split_batch(bids, markets, 7)
    assert sum(p[0].height for p in parts) == 500
    assert sorted(m for p in parts for m in p[1]) == sorted(markets)
    for frame, owned in parts:
        assert set(frame["market_id"].to_list()) <= set(owned)
    again = bucket_ids(pl.Series(markets), 7)
    assert again.equals(bucket_ids(pl.Series(markets), 7)), "stable"


def test_sealed_markets_in_one_pass_match_one_market_at_a_time() -> None:
    rng = np.random.default_rng(5)
    rows, settings = [], {}
    for m in range(60):
        market = f"m{m:02d}"
        fmt = "vickrey" if m % 2 else "sealed-first-price"
        settings[market] = MarketSettings(format=fmt, units=1 + m % 3, reserve=float(m % 4))
        for b in range(int(rng.integers(0, 7))):
            item = f"i{int(rng.integers(0, 2))}"
            price = float(rng.choice([2.0, 3.0, 5.0, 5.0, 7.5]))  # ties on purpose
            rows.append((market, f"{market}-b{b}", f"a{b}", price, [item]))  # ids: unique
    bids = pl.DataFrame(
        rows,
        schema={
            "market_id": pl.String,
            "bid_id": pl.String,
            "agent_id": pl.String,
            "price": pl.Float64,
            "items": pl.List(pl.String),
        },
        orient="row",
    )
    items = pl.DataFrame(
        {"market_id": ["m01", "m02"], "item_id": ["i0", "i1"], "supply": [3, 2],
         "reserve_price": [4.0, 0.5]}
    )  # fmt: skip
    markets = sorted(settings)
    allocations, summary = clear_sealed_markets(bids, items, markets, settings.__getitem__)
    assert summary["market_id"].sort().to_list() == markets
    for market in markets:
        mine = bids.filter(pl.col("market_id") == market)
        lots = items.filter(pl.col("market_id") == market)
        one, row, _ = clear_single_item(market, mine, lots, settings[market])
        got = allocations.filter(pl.col("market_id") == market).sort("bid_id")
        assert got.equals(one.sort("bid_id")), market
        mine_row = summary.filter(pl.col("market_id") == market)
        assert mine_row.drop(TIMING).equals(row.drop(TIMING)), market
