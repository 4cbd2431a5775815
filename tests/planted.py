"""Synthetic markets with planted collusion rings, shill bidders and sybil clusters.

Auction ``a`` belongs to seller ``a % sellers`` and has a base value uniform
in [20, 200). Honest agents join each auction with probability 0.05 and bid
their value, ``base x U(0.7, 1.3)``; they hold stake in [50, 500) and have
been around 5-100 runs. A ring's members join the same auctions (probability
0.1 each); one member, in turn, bids ``base x U(1.2, 1.4)`` to win and the
others cover at 85-95% of that. A shill bids on 70% of one seller's auctions
at 90-99% of the best honest bid, so it never wins. Honest decoys each
look like one kind in part: specialists bid their values on 70% of one
seller's auctions, teams of three join the same auctions but bid
independent values, newcomers are new and low-stake but bid alone. A sybil
cluster is 5 new agents (age 0-1 runs, stake below 10) bidding on the same
auctions at the same price (within 0.1%). The highest bid of each auction
wins. The same seed gives the same market.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from econonexus.agents.events import created_events, events_from_table, events_table
from econonexus.agents.population import population
from econonexus.agents.shard import ShardCore


@dataclass(frozen=True)
class PlantedMarket:
    """Bids, accounts, and the truth: each agent's kind (honest, ring, shill or sybil)."""

    bids: pl.DataFrame
    accounts: pl.DataFrame
    truth: pl.DataFrame


def planted_market(
    *,
    seed: int,
    honest: int = 400,
    rings: int = 6,
    ring_size: int = 4,
    shills: int = 12,
    sybil_clusters: int = 6,
    sybil_size: int = 5,
    auctions: int = 480,
    sellers: int = 24,
    decoys: int = 15,
) -> PlantedMarket:
    """A market of ``auctions`` with the planted groups above."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(20, 200, auctions)
    rows: list[tuple[str, int, float]] = []
    kinds: dict[str, str] = {}
    for i in range(honest):
        agent = f"honest-{i:04d}"
        kinds[agent] = "honest"
        for a in np.flatnonzero(rng.random(auctions) < 0.05):
            rows.append((agent, int(a), float(base[a] * rng.uniform(0.7, 1.3))))
    for r in range(rings):
        members = [f"ring-{r:02d}-{k}" for k in range(ring_size)]
        kinds.update(dict.fromkeys(members, "ring"))
        for turn, a in enumerate(np.flatnonzero(rng.random(auctions) < 0.1)):
            lead = float(base[a] * rng.uniform(1.2, 1.4))
            for k, member in enumerate(members):
                cover = 1.0 if k == turn % ring_size else rng.uniform(0.85, 0.95)
                rows.append((member, int(a), lead * cover))
    rows += _decoys(decoys, base, sellers, rng, kinds)
    best = _best_honest(rows, auctions)
    for s in range(shills):
        agent, seller = f"shill-{s:02d}", s % sellers
        kinds[agent] = "shill"
        mine = [a for a in range(seller, auctions, sellers) if best[a] > 0 and rng.random() < 0.7]
        rows += [(agent, a, float(best[a] * rng.uniform(0.9, 0.99))) for a in mine]
    for c in range(sybil_clusters):
        members = [f"sybil-{c:02d}-{k}" for k in range(sybil_size)]
        kinds.update(dict.fromkeys(members, "sybil"))
        for a in np.flatnonzero(rng.random(auctions) < 0.05):
            price = float(base[a] * rng.uniform(0.5, 0.9))
            rows += [(m, int(a), price * rng.uniform(0.999, 1.001)) for m in members]
    return PlantedMarket(_bids(rows, sellers), _accounts(kinds, rng), _truth(kinds))


def _decoys(
    n: int, base: np.ndarray, sellers: int, rng: np.random.Generator, kinds: dict[str, str]
) -> list[tuple[str, int, float]]:
    """Honest agents that share one trait with a planted kind: specialists, teams, newcomers."""
    rows: list[tuple[str, int, float]] = []
    auctions = len(base)
    for d in range(n):
        own = [a for a in range(d % sellers, auctions, sellers) if rng.random() < 0.7]
        kinds[f"honest-specialist-{d:02d}"] = "honest"
        rows += [
            (f"honest-specialist-{d:02d}", a, float(base[a] * rng.uniform(0.7, 1.3))) for a in own
        ]
        team = [f"honest-team-{d:02d}-{k}" for k in range(3)]
        kinds.update(dict.fromkeys(team, "honest"))
        for a in np.flatnonzero(rng.random(auctions) < 0.1):
            rows += [(m, int(a), float(base[a] * rng.uniform(0.7, 1.3))) for m in team]
        kinds[f"honest-newcomer-{d:02d}"] = "honest"
        for a in np.flatnonzero(rng.random(auctions) < 0.05):
            rows.append(
                (f"honest-newcomer-{d:02d}", int(a), float(base[a] * rng.uniform(0.7, 1.3)))
            )
    return rows


def _best_honest(rows: list[tuple[str, int, float]], auctions: int) -> np.ndarray:
    best = np.zeros(auctions)
    for agent, a, price in rows:
        if agent.startswith("honest-") and agent[7].isdigit():
            best[a] = max(best[a], price)
    return best


def _bids(rows: list[tuple[str, int, float]], sellers: int) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows, schema={"agent_id": pl.String, "a": pl.Int64, "price": pl.Float64}, orient="row"
    )
    top = pl.col("price") == pl.col("price").max().over("a")
    return frame.select(
        "agent_id",
        pl.format("a{}", "a").alias("auction"),
        (pl.col("a") % sellers).cast(pl.String).alias("seller"),
        "price",
        top.alias("won"),
    )


def _accounts(kinds: dict[str, str], rng: np.random.Generator) -> pl.DataFrame:
    ids = sorted(kinds)
    sybil = np.array([kinds[a] == "sybil" or a.startswith("honest-newcomer") for a in ids])
    stake = np.where(sybil, rng.uniform(1, 10, len(ids)), rng.uniform(50, 500, len(ids)))
    age = np.where(sybil, rng.integers(0, 2, len(ids)), rng.integers(5, 100, len(ids)))
    return pl.DataFrame({"agent_id": ids, "free_stake": stake, "age_runs": age})


def _truth(kinds: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame({"agent_id": list(kinds), "truth": list(kinds.values())}).sort("agent_id")


def detection_scores(flagged: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Per kind: true and false positives and negatives, recall and false-positive rate."""
    rows = []
    for kind in ("ring", "shill", "sybil"):
        called = set(flagged.filter(pl.col("kind") == kind)["agent_id"].to_list())
        actual = set(truth.filter(pl.col("truth") == kind)["agent_id"].to_list())
        others = truth.height - len(actual)
        tp, fp = len(called & actual), len(called - actual)
        rows.append((kind, tp, len(actual) - tp, fp, others - fp, tp / len(actual), fp / others))
    schema = ["kind", "true_pos", "false_neg", "false_pos", "true_neg", "recall", "false_pos_rate"]
    return pl.DataFrame(rows, schema=schema, orient="row")


def lot_bids(market: PlantedMarket) -> pl.DataFrame:
    """``market``'s bids as a batch: one single-item auction per item of market ``lots``."""
    return market.bids.with_row_index("k").select(
        pl.format("b{}", "k").alias("bid_id"),
        "agent_id",
        pl.lit("lots").alias("market_id"),
        pl.concat_list("auction").alias("items"),
        "price",
    )


def planted_procurement(
    *, seed: int, honest: int = 150, shills: int = 8, tasks: int = 300
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Offers of a procurement market ``tasks`` and the truth (``agent_id``, ``truth``).

    Task ``t`` has a cost uniform in [20, 200). Honest sellers offer on each task with
    probability 0.05 at ``cost x U(0.7, 1.3)``; honest decoys (a quarter of them) are
    dear, at ``cost x U(1.0, 1.4)``, and rarely win. A shill, serving the buyer, offers
    on 70% of the tasks at 101-110% of the best honest offer, so it never wins but
    pushes the payment of a second-price buyer down.
    """
    rng = np.random.default_rng(seed)
    cost = rng.uniform(20, 200, tasks)
    rows: list[tuple[str, int, float]] = []
    kinds: dict[str, str] = {}
    for i in range(honest):
        agent, dear = f"honest-{i:04d}", i % 4 == 0
        kinds[agent] = "honest"
        low, high = (1.0, 1.4) if dear else (0.7, 1.3)
        rows += [
            (agent, int(t), float(cost[t] * rng.uniform(low, high)))
            for t in np.flatnonzero(rng.random(tasks) < 0.05)
        ]
    best = np.full(tasks, np.inf)
    for _, t, price in rows:
        best[t] = min(best[t], price)
    for s in range(shills):
        agent = f"shill-{s:02d}"
        kinds[agent] = "shill"
        mine = [t for t in range(tasks) if np.isfinite(best[t]) and rng.random() < 0.7]
        rows += [(agent, t, float(best[t] * rng.uniform(1.01, 1.1))) for t in mine]
    offers = pl.DataFrame(rows, schema=["agent_id", "task", "price"], orient="row")
    bids = offers.with_row_index("k").select(
        pl.format("o{}", "k").alias("bid_id"),
        "agent_id",
        pl.lit("tasks").alias("market_id"),
        pl.concat_list(pl.format("t{}", "task")).alias("items"),
        "price",
        pl.lit("sell").alias("side"),
    )
    return bids, pl.DataFrame({"agent_id": list(kinds), "truth": list(kinds.values())})


def population_shard(offer: pl.DataFrame, n_agents: int, seed: int) -> ShardCore:
    """A shard hosting a seeded population valuing ``offer``, built through its ``created``
    events."""
    created = created_events(population(n_agents, offer, seed=seed))
    core = ShardCore(0)
    core.apply_events(events_from_table(events_table(created.with_row_index("seq"))))
    return core
