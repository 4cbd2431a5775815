"""Settlement of 100,000 winners and stake verification of 1,000,000 bids.

Targets (issue 5): settlement (reputation + stake + balances) median < 100 ms;
stake verification of 1M bids < 1 s. Baselines in the same run: the same
settlement applied event by event through the agent state machine, and the
same stake check as a Python loop over the bids.

Run: python -m benchmarks.economics [--winners 100000] [--bids 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import polars as pl

from benchmarks.common import median_seconds, print_table
from econonexus.agents.events import Event
from econonexus.agents.state import AgentState, apply
from econonexus.pipelines.io.accounts import account_rules
from econonexus.pipelines.io.market_policy import make_policy
from tests.settle_vectorised import settle_accounts

OUTCOMES = np.array(["excellent", "satisfactory", "poor", "byzantine"])


def accounts(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "agent_id": [f"a{i:07d}" for i in range(n)],
            "balance": np.full(n, 500.0),
            "free_stake": np.full(n, 30.0),
            "locked_stake": np.full(n, 20.0),
            "reputation": np.full(n, 0.5),
            "rep_alpha": np.zeros(n),
            "rep_beta": np.zeros(n),
            "banned": np.zeros(n, dtype=bool),
            "owed": np.full(n, 30.0),
            "paid": np.zeros(n),
            "bonuses": np.zeros(n),
            "slashed": np.zeros(n),
        }
    )


def settlements(book: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    outcome = OUTCOMES[rng.integers(0, 4, book.height)]
    slash = np.select([outcome == "poor", outcome == "byzantine"], [10.0, 20.0], 0.0)
    return pl.DataFrame(
        {
            "agent_id": book["agent_id"],
            "outcome": outcome,
            "payment": 30.0,
            "stake": 20.0,
            "bonus": np.where(outcome == "excellent", 3.0, 0.0),
            "slash": slash,
            "decay": 0.95,
        }
    )


def settle_one_by_one(book: pl.DataFrame, moves: pl.DataFrame) -> int:
    states = [
        AgentState(a, balance=500.0, free_stake=30.0, locked_stake=20.0, owed=30.0)
        for a in book["agent_id"]
    ]
    rows = moves.iter_rows(named=True)
    for k, (state, row) in enumerate(zip(states, rows, strict=True)):
        terms = {
            "outcome": row["outcome"],
            "bonus": row["bonus"],
            "slash": row["slash"],
            "decay": 0.95,
        }
        apply(
            state,
            Event(k, "settled", state.agent_id, amount=20.0, price=30.0, payload=json.dumps(terms)),
        )
    return len(states)


def bids_frame(n_bids: int, n_agents: int, rng: np.random.Generator) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_source": "bench",
            "_row": np.arange(n_bids),
            "bid_id": [f"b{i:08d}" for i in range(n_bids)],
            "agent_id": [f"a{i:07d}" for i in rng.integers(0, n_agents, n_bids)],
            "market_id": "staked",
            "price": rng.uniform(1, 100, n_bids),
        }
    )


def stake_loop(bids: pl.DataFrame, book: pl.DataFrame) -> int:
    free = dict(zip(book["agent_id"], book["free_stake"], strict=True))
    used: dict[str, float] = {}
    rejected = 0
    for agent, price in zip(bids["agent_id"], bids["price"], strict=True):
        used[agent] = need = used.get(agent, 0.0) + 1.0 + 0.05 * price
        rejected += need > free.get(agent, 0.0) + 1e-9
    return rejected


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--winners", type=int, default=100_000)
    parser.add_argument("--bids", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    book = accounts(args.winners)
    moves = settlements(book, rng)
    vector_s, settled = median_seconds(lambda: settle_accounts(book, moves), repeats=args.repeats)
    assert settled["locked_stake"].sum() == 0.0
    start = time.perf_counter()
    settle_one_by_one(book, moves)
    loop_s = time.perf_counter() - start
    markets = {"staked": make_policy({"stake": 1.0, "stake_fraction": 0.05}, where="bench")}
    bids = bids_frame(args.bids, args.winners, rng)
    check_s, rejected = median_seconds(
        lambda: account_rules(bids, markets, book), repeats=args.repeats
    )
    start = time.perf_counter()
    looped = stake_loop(bids.sort("agent_id", "market_id", "bid_id"), book)
    stake_loop_s = time.perf_counter() - start
    assert looped == rejected.height, (looped, rejected.height)
    print_table(
        f"economics, median of {args.repeats} (baselines: one run)",
        ["operation", "seconds", "baseline s", "ratio", "target s", "met"],
        [
            (
                f"settle {args.winners} winners",
                vector_s,
                loop_s,
                vector_s / loop_s,
                0.1,
                vector_s < 0.1,
            ),
            (
                f"stake check of {args.bids} bids",
                check_s,
                stake_loop_s,
                check_s / stake_loop_s,
                1.0,
                check_s < 1.0,
            ),
        ],
    )


if __name__ == "__main__":
    main()
