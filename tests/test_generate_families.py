"""Every CATS family in ``generate``: seeded, shaped as the CATS paper describes, close to
the original generator's reference files, and cleared to the brute-force optimum (the
CATS round trip of every family: ``test_cats_and_readers``)."""

from __future__ import annotations

import pathlib
import statistics

import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.sim.generate import DISTRIBUTIONS
from tests.oracle import brute_force

CATS = pathlib.Path(__file__).parents[2] / "shared" / "data" / "cats"
NEW = [
    "arbitrary",
    "matching",
    "regions",
    "scheduling",
    *(f"L{k}" for k in range(1, 9)),
]


def _many(distribution: str, goods: int = 50, bids: int = 400, seeds: int = 3) -> pl.DataFrame:
    return pl.concat(
        enx.generate(distribution, goods=goods, bids=bids, seed=s, market_id=f"s{s}")  # type: ignore[arg-type]
        for s in range(seeds)
    )


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_each_family_is_seeded_reproducible_and_the_size_asked(distribution: str) -> None:
    a = enx.generate(distribution, goods=48, bids=60, seed=3)  # type: ignore[arg-type]
    assert a.equals(enx.generate(distribution, goods=48, bids=60, seed=3))  # type: ignore[arg-type]
    assert not a.equals(enx.generate(distribution, goods=48, bids=60, seed=4))  # type: ignore[arg-type]
    assert a.height == 60 and a["bid_id"].n_unique() == 60
    assert (a["price"] > 0).all() and a["items"].list.len().min() >= 1  # type: ignore[operator]
    used = {int(g) for items in a["items"].to_list() for g in items}
    assert used <= set(range(48))
    # a bidder's several bids are one XOR set; a single bid is its own bidder's
    per_agent = a.group_by("agent_id").agg(
        pl.len(), pl.col("xor_group").null_count().alias("plain")
    )
    assert per_agent.filter(pl.col("len") > 1)["plain"].sum() == 0


@pytest.mark.parametrize(
    ("distribution", "low", "high"),
    [
        ("L1", 20.5, 30.5),
        ("L2", 20.5, 30.5),
        ("L4", 2.0, 2.45),
        ("L5", 3.85, 4.15),
        ("L6", 5.0, 6.0),
        ("L7", 9.5, 10.5),
    ],
)
def test_legacy_bundle_sizes_follow_their_laws(distribution: str, low: float, high: float) -> None:
    # L1/L2 uniform in 1..50 (mean 25.5); L4 decay 0.55 (mean 1 / 0.45); L5 normal(4, 1);
    # L6 1 + floor(exponential, mean 5) (about 5.5); L7 binomial(50, 0.2) (mean 10)
    sizes = _many(distribution)["items"].list.len()
    assert low <= sizes.mean() <= high  # type: ignore[operator]


@pytest.mark.parametrize(
    ("distribution", "rule"),
    [
        ("L1", lambda n, p: 0 <= p <= 1000),
        ("L2", lambda n, p: n <= p <= 1000 * n),
        ("L3", lambda n, p: n == 3 and 0 <= p <= 1000),
        ("L6", lambda n, p: n <= p <= 1000 * n),
        ("L7", lambda n, p: n <= p <= 1000 * n),
        ("L8", lambda n, p: n == 3 and 0 <= p <= 6000),
    ],
)
def test_legacy_prices_follow_their_laws(distribution: str, rule: object) -> None:
    bids = _many(distribution, bids=200)
    raw = (bids["price"] / 100).to_list()  # the bids table's prices are CATS's x 100
    assert callable(rule)
    assert all(rule(n, p) for n, p in zip(bids["items"].list.len().to_list(), raw, strict=True))


def test_matching_bids_take_off_before_they_land_between_two_airports() -> None:
    bids = _many("matching", goods=48)
    for items in bids["items"].to_list():
        takeoff, land = sorted((int(g) for g in items), key=lambda g: g // 4)
        assert len(items) == 2 and takeoff // 4 < land // 4 and takeoff % 4 != land % 4
        assert {takeoff % 4, land % 4} != {2, 3}  # JFK and LaGuardia: no route


def test_scheduling_bids_are_runs_of_one_length_per_job() -> None:
    bids = _many("scheduling")
    for items in bids["items"].to_list():
        slots = sorted(int(g) for g in items)
        assert slots == list(range(slots[0], slots[0] + len(slots))) and len(slots) <= 10
    lengths = bids.group_by("agent_id").agg(pl.col("items").list.len().n_unique().alias("n"))
    assert (lengths["n"] == 1).all()


@pytest.mark.parametrize("distribution", ["regions", "arbitrary"])
def test_regions_and_arbitrary_bidders_bid_a_bundle_and_at_most_five_substitutes(
    distribution: str,
) -> None:
    bids = _many(distribution)
    per_bidder = bids.group_by("agent_id").agg(pl.len(), pl.col("items").list.len().n_unique())
    assert per_bidder["len"].max() <= 6  # type: ignore[operator]
    assert (per_bidder["items"] == 1).all()  # substitutes are as large as the bundle
    if distribution == "regions":  # a 7 x 7 grid of 50 goods
        assert max(int(g) for items in bids["items"].to_list() for g in items) < 49


@pytest.mark.parametrize(
    ("distribution", "reference", "goods"),
    [
        ("arbitrary", "arbitrary_50x200_11.txt", 50),
        ("regions", "regions_50x200_11.txt", 50),
        ("scheduling", "scheduling_50x200_11.txt", 50),
        ("matching", "matching_48x200_11.txt", 48),
        ("L6", "L6_50x200_11.txt", 50),
        ("L7", "L7_50x200_11.txt", 50),
    ],
)
def test_instances_resemble_the_original_generators(
    distribution: str, reference: str, goods: int
) -> None:
    ours = _many(distribution, goods=goods, bids=200, seeds=8)
    theirs = pl.from_arrow(enx.read_cats(str(CATS / reference)))
    assert isinstance(theirs, pl.DataFrame)
    real = theirs["items"].list.eval(pl.element().filter(~pl.element().str.starts_with("~")))
    ratios = {
        "bundle size": ours["items"].list.len().mean() / real.list.len().mean(),  # type: ignore[operator]
        "bids per bidder": (ours.height / ours["agent_id"].n_unique())
        / (theirs.height / theirs["agent_id"].n_unique()),
        # matching: CATS 2.1 rewards landing early (see econonexus.pipelines.sim.timed)
        "price": (ours["price"].mean() / 100) / theirs["price"].mean(),  # type: ignore[operator]
    }
    # one reference instance each, whose private values are normal or uniform at random
    assert all(1 / 1.6 <= r <= 1.6 for k, r in ratios.items() if k != "price"), ratios
    assert 1 / 2 <= ratios["price"] <= 2, ratios


def test_every_new_family_clears_to_the_brute_force_optimum(client: Client) -> None:
    batch = pl.concat(
        [enx.generate(d, goods=8, bids=11, seed=7, market_id=d) for d in NEW],  # type: ignore[arg-type]
        how="diagonal_relaxed",
    )
    result = enx.clear(batch, client=client)
    summary = {r["market_id"]: r for r in result.summary.iter_rows(named=True)}
    for family in NEW:
        answer = brute_force(batch.filter(pl.col("market_id") == family))
        assert summary[family]["status"] == "optimal"
        assert summary[family]["welfare"] == pytest.approx(answer.welfare, rel=1e-9), family
    assert statistics.fmean(r["n_winners"] for r in summary.values()) >= 1
