"""Sanctions on manipulation (``on_flag``): excluded rings, halted markets, flagged agents'
reputation."""

from __future__ import annotations

import json
import pathlib

import dask.config
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.events import Event, events_from_table
from econonexus.agents.outcomes import outcome_events
from econonexus.agents.state import AgentState, apply
from econonexus.pipelines.store.halts import active_halts
from tests.planted import PlantedMarket, lot_bids, planted_market, planted_procurement

EXCLUDED = "excluded (on_flag: exclude): "


@pytest.fixture(scope="module")
def market() -> PlantedMarket:
    return planted_market(seed=7, honest=150, shills=0)


def _clear(market: PlantedMarket, client: Client, on_flag: str, **kw: object) -> enx.ClearingResult:
    return enx.clear(
        lot_bids(market),
        markets={"lots": {"format": "sealed-first-price", "on_flag": on_flag}},
        accounts=market.accounts,
        client=client,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("partition_rows", [None, 400])  # validated whole, or part by part
def test_exclude_removes_a_planted_ring_and_honest_bidders_win_instead(
    market: PlantedMarket, client: Client, partition_rows: int | None
) -> None:
    flagged_only = _clear(market, client, "flag")
    settings = {} if partition_rows is None else {"econonexus.cluster.partition-rows": 400}
    with dask.config.set(settings):
        excluded = _clear(market, client, "exclude")
    kinds = dict(market.truth.iter_rows())
    ring_wins = flagged_only.allocations.filter(
        pl.col("won") & pl.col("agent_id").str.starts_with("ring")
    )
    assert ring_wins.height > 0, "unsanctioned, the ring wins auctions"
    flagged = set(excluded.flagged["agent_id"])
    assert {a for a, k in kinds.items() if k == "ring"} <= flagged
    winners = excluded.allocations.filter("won")
    assert not set(winners["agent_id"]) & flagged, "no flagged agent wins"
    # every bid of a flagged agent is rejected with the detector's reason, and no other
    reasons = excluded.rejected.filter(pl.col("reason").str.starts_with(EXCLUDED))
    theirs = lot_bids(market).filter(pl.col("agent_id").is_in(list(flagged)))
    assert sorted(reasons["bid_id"]) == sorted(theirs["bid_id"])
    assert reasons.filter(pl.col("reason").str.contains("ring")).height > 0
    assert (reasons["field"] == "agent_id").all()
    # where the ring won, an honest bidder (if any bid) wins now
    auctions = ring_wins.select(pl.col("items").list.first().alias("auction"))
    now = winners.with_columns(pl.col("items").list.first().alias("auction")).join(
        auctions, on="auction"
    )
    assert now.height > 0
    assert all(kinds.get(a) == "honest" for a in now["agent_id"])
    assert excluded.summary["n_rejected"][0] == excluded.rejected.select("source", "row").n_unique()


def test_halt_halts_the_market_with_rule_manipulation(
    market: PlantedMarket, client: Client, tmp_path: pathlib.Path
) -> None:
    result = _clear(market, client, "halt", out=str(tmp_path), run_id="r1")
    assert result.summary["status"].to_list() == ["halted"]
    assert result.summary["welfare"][0] == 0
    halt = active_halts(str(tmp_path))["lots"]
    assert halt["rule"] == "manipulation" and "flagged agent(s) bid" in halt["reason"]
    assert result.flagged.height > 0


def test_flagged_agents_lose_reputation_by_the_configured_weight() -> None:
    allocations = pl.DataFrame(
        {
            "market_id": ["m"],
            "bid_id": ["b1"],
            "agent_id": ["a1"],
            "won": [False],
            "payment": [0.0],
            "items": [["x"]],
            "price": [5.0],
        }
    )
    flags = pl.DataFrame(
        {"agent_id": ["a1"], "kind": ["ring"], "score": [0.9], "reason": ["covers the top bid"]}
    )
    with dask.config.set({"econonexus.economics.flag-evidence": 2.0}):
        events = outcome_events(allocations, run_id="r", flagged=flags)
    assert events["kind"].to_list() == ["bid_lost", "flagged"]
    payload = json.loads(events["payload"][1])
    assert payload == {"kind": "ring", "score": 0.9, "reason": "covers the top bid", "weight": 2.0}
    created = Event(0, "created", "a1", payload=json.dumps({"balance": 1.0}))
    state: AgentState | None = apply(None, created)
    numbered = events.with_row_index("seq", offset=1).with_columns(pl.col("seq").cast(pl.Int64))
    for event in events_from_table(numbered):
        state = apply(state, event)
    assert state is not None and state.reputation == pytest.approx(1 / 4)  # (0 + 1) / (2 + 2)


def test_on_flag_is_checked_with_the_market_and_field() -> None:
    bids = enx.generate("decay", goods=4, bids=6, seed=1, market_id="lots")
    with pytest.raises(enx.InputError, match=r"market 'lots'.*`on_flag` expected 'flag', 'exc"):
        enx.clear(bids, markets={"lots": {"on_flag": "punish"}})
    with pytest.raises(enx.InputError, match=r"`on_flag` expected 'flag' in a market whose det"):
        enx.clear(bids, markets={"lots": {"on_flag": "exclude", "detection": "off"}})
    with (
        dask.config.set({"econonexus.detection.mode": "off"}),
        pytest.raises(enx.InputError, match=r"markets 'lots': `on_flag` expected 'flag' while"),
    ):
        enx.clear(bids, markets={"lots": {"on_flag": "halt"}})


def test_shills_are_found_in_a_real_run_when_the_items_name_their_sellers(
    client: Client,
) -> None:
    market = planted_market(seed=3, honest=150, rings=0, sybil_clusters=0)
    items = market.bids.select(
        pl.lit("lots").alias("market_id"), pl.col("auction").alias("item_id"), "seller"
    ).unique("item_id")
    bids = lot_bids(market)
    lots = {"lots": {"format": "sealed-first-price"}}
    without = enx.clear(bids, markets=lots, client=client)
    assert "shill" not in set(without.flagged["kind"]), "no sellers: nothing to judge"
    found = enx.clear(bids, items=items, markets=lots, client=client)
    shills = found.flagged.filter(pl.col("kind") == "shill").join(market.truth, on="agent_id")
    planted = market.truth.filter(pl.col("truth") == "shill").height
    assert shills.height >= 0.9 * planted
    honest = market.truth.filter(pl.col("truth") == "honest").height
    assert shills.filter(pl.col("truth") == "honest").height <= 0.05 * honest  # the detector's FP


def test_sybils_are_found_from_a_pools_journal_without_an_age_column(
    client: Client, tmp_path: pathlib.Path
) -> None:
    offer = pl.DataFrame(
        {"market_id": "lots", "item_id": [f"i{k}" for k in range(8)], "format": "vickrey"}
    )
    agents = enx.population(14, offer, seed=1)
    ids = sorted(agents["agent_id"])
    new, old, honest = ids[:5], ids[5:10], ids[10:]  # two lookalike groups, both low-stake
    agents = agents.with_columns(
        free_stake=pl.when(pl.col("agent_id").is_in(honest)).then(100.0).otherwise(5.0)
    )
    rows = [(f"n-{a}-{i}", a, f"i{i}", 10.0 + 0.01 * k) for k, a in enumerate(new + old)
            for i in range(4)]  # fmt: skip
    rows += [(f"h-{a}", a, f"i{4 + k}", 20.0) for k, a in enumerate(honest)]
    bids = pl.DataFrame(rows, schema=["bid_id", "agent_id", "item", "price"], orient="row")
    bids = bids.select(
        "bid_id", "agent_id", pl.lit("lots").alias("market_id"),
        pl.concat_list("item").alias("items"), "price",
    )  # fmt: skip
    lots = {"lots": {"format": "sealed-first-price"}}
    with enx.AgentPool.create(client, agents, shards=2, root=str(tmp_path / "pool")) as pool:
        for r in range(3):  # the old group has been in 3 runs already
            history = pl.DataFrame(
                {"market_id": "lots", "bid_id": [f"h{r}-{a}" for a in old], "agent_id": old,
                 "won": False, "payment": 0.0, "items": [["i0"]] * 5, "price": 1.0}
            )  # fmt: skip
            pool.deliver(enx.outcome_events(history, run_id=f"h{r}"))
        assert dict(pool.accounts().select("agent_id", "age_runs").iter_rows())[old[0]] == 3
        found = enx.clear(bids, markets=lots, accounts=pool, client=client).flagged
        plain = enx.clear(bids, markets=lots, accounts=pool.states(), client=client).flagged
    assert sorted(found.filter(pl.col("kind") == "sybil")["agent_id"]) == new
    assert plain.filter(pl.col("kind") == "sybil").height == 0, "no ages: no sybil judged"


def test_shills_are_found_on_the_sell_side_of_procurement(client: Client) -> None:
    """A buyer's shills ask just above the winning ask and never win: found from the
    procurement market's offers alone (its buyer is the party served), honest dear
    sellers that rarely win left alone."""
    bids, truth = planted_procurement(seed=5)
    tasks = {"tasks": {"format": "procurement", "reserve": 1000.0}}
    result = enx.clear(bids, markets=tasks, client=client)
    shills = result.flagged.filter(pl.col("kind") == "shill").join(truth, on="agent_id")
    planted = truth.filter(pl.col("truth") == "shill").height
    assert shills.filter(pl.col("truth") == "shill").height >= 0.9 * planted
    honest = truth.filter(pl.col("truth") == "honest").height
    assert shills.filter(pl.col("truth") == "honest").height <= 0.05 * honest
    assert shills["reason"].str.contains("% to the buyer of tasks").all()
    excluded = enx.clear(
        bids, markets={"tasks": {**tasks["tasks"], "on_flag": "exclude"}}, client=client
    )
    gone = excluded.rejected.filter(pl.col("reason").str.starts_with(EXCLUDED))
    assert set(gone["bid_id"]) >= set(
        bids.join(shills.filter(pl.col("truth") == "shill"), on="agent_id")["bid_id"]
    )
