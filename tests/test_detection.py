"""Manipulation detection on planted markets: each kind found, honest decoys left alone."""

from __future__ import annotations

import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.detection import detect
from tests.planted import detection_scores, planted_market


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_rings_shills_and_sybils_are_found_and_decoys_are_not(seed: int) -> None:
    market = planted_market(seed=seed)
    flagged = detect(market.bids, market.accounts)
    scores = detection_scores(flagged, market.truth)
    assert scores["recall"].min() >= 0.9, scores
    assert scores["false_pos_rate"].max() <= 0.05, scores
    decoys = market.truth.filter(pl.col("agent_id").str.contains("specialist|team|newcomer"))
    wrongly = flagged.join(decoys, on="agent_id")
    assert wrongly.height <= 2, wrongly
    assert flagged["reason"].str.len_chars().min() > 10
    assert set(flagged["kind"]) == {"ring", "shill", "sybil"}


def test_the_same_seed_gives_the_same_market() -> None:
    first, again = planted_market(seed=4, honest=50), planted_market(seed=4, honest=50)
    assert first.bids.equals(again.bids) and first.accounts.equals(again.accounts)


def test_without_accounts_or_sellers_only_what_can_be_judged_is_flagged() -> None:
    market = planted_market(seed=5)
    flagged = detect(market.bids.drop("seller"))
    assert set(flagged["kind"]) == {"ring"}


@pytest.mark.slow
def test_every_run_writes_its_flagged_agents(client: Client) -> None:
    market = planted_market(seed=7, honest=150)
    bids = market.bids.with_row_index("k").select(
        pl.format("b{}", "k").alias("bid_id"),
        "agent_id",
        pl.lit("lots").alias("market_id"),
        pl.concat_list("auction").alias("items"),
        "price",
    )
    result = enx.clear(
        bids,
        markets={"lots": {"format": "sealed-first-price"}},
        accounts=market.accounts,
        client=client,
    )
    found = result.flagged.join(market.truth, on="agent_id")
    assert set(found["kind"]) == {"ring", "sybil"}
    assert (found["kind"] == found["truth"]).mean() >= 0.95
    assert result.flagged.columns == enx.FLAGGED_SCHEMA.names
