"""Manipulation detection on planted markets: each kind found, honest decoys left alone."""

from __future__ import annotations

import dask.config
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.detection import detect, similar_candidates
from tests.planted import detection_scores, lot_bids, planted_market


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
    bids = lot_bids(market)
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
    # the switch: per market in the markets table, and for every market in the settings
    off = enx.clear(
        bids,
        markets={"lots": {"format": "sealed-first-price", "detection": "off"}},
        accounts=market.accounts,
        client=client,
    )
    assert off.flagged.height == 0 and off.manifest["config"]["detection"] == "flag"
    assert off.allocations.equals(result.allocations.with_columns(run_id=pl.lit(off.run_id)))
    with dask.config.set({"econonexus.detection.mode": "off"}):
        assert enx.clear(bids, markets={"lots": {"format": "sealed-first-price"}},
                         accounts=market.accounts, client=client).flagged.height == 0  # fmt: skip
        listed = {"lots": {"format": "sealed-first-price", "detection": "flag"}}
        on = enx.clear(bids, markets=listed, accounts=market.accounts, client=client)
        assert on.flagged.equals(result.flagged.with_columns(run_id=pl.lit(on.run_id)))


def test_a_wrong_detection_mode_names_the_market_and_field() -> None:
    with pytest.raises(
        enx.InputError, match=r"market 'lots'.*`detection` expected 'off' or 'flag'"
    ):
        enx.clear(
            pl.DataFrame({"bid_id": ["b"], "agent_id": ["a"], "items": [["x"]], "price": [1.0]}),
            markets={"lots": {"detection": "loud"}},
        )


def test_candidate_pairs_grow_with_similar_agents_not_with_an_auctions_bidders() -> None:
    crowd = pl.DataFrame(  # 800 agents each on the same 6 auctions as one another
        {"agent_id": [f"c{i}" for i in range(800) for _ in range(6)],
         "auction": [f"x{k}" for _ in range(800) for k in range(6)]}
    )  # fmt: skip
    loners = pl.DataFrame(  # 3,000 agents on 6 auctions each, apart from one shared auction
        {"agent_id": [f"l{i}" for i in range(3000) for _ in range(6)],
         "auction": [f"y{i}-{k}" if k else "shared" for i in range(3000) for k in range(6)]}
    )  # fmt: skip
    assert similar_candidates(loners).height < 100, "a shared auction alone makes no pair"
    ring = pl.DataFrame(
        {"agent_id": [f"r{i}" for i in range(4) for _ in range(9)],
         "auction": [f"z{k}" for i in range(4) for k in range(10) if k != i]}
    )  # fmt: skip
    pairs = similar_candidates(ring)
    assert pairs.height == 6, "all 6 pairs of a 4-agent ring (Jaccard 0.8) are candidates"
    assert similar_candidates(crowd).height == 800 * 799 // 2, "identical sets: every pair"
