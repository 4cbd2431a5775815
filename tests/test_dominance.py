"""Pruning bids that can never win: crowded bundles give the oracle's optimum, and only the
hopeless bids are pruned."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from econonexus.solvers.components import dominated_bids, eligible_bids
from econonexus.solvers.market import clear_market
from econonexus.solvers.problem import build_problem
from tests.oracle import brute_force
from tests.strategies import BID_COLUMNS

BUNDLES = [["a"], ["a"], ["b"], ["a", "b"]]


@st.composite
def crowded(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Up to 13 bids on two items of supply 1: at most 5 per bundle can matter."""
    rows = []
    for k in range(draw(st.integers(6, 13))):
        bundle = draw(st.sampled_from(BUNDLES))
        rows.append(
            {
                "bid_id": f"b{k}",
                "agent_id": draw(st.sampled_from(["p", "q", "r"])),
                "market_id": "m",
                "items": bundle,
                "quantities": [1] * len(bundle),
                "price": float(draw(st.integers(1, 6))),  # ties on purpose
                "xor_group": draw(st.sampled_from([None, "x", "y"])),
                "side": "buy",
                "submitted_at": None,
                "signature": None,
            }
        )
    items = pl.DataFrame(
        {"market_id": ["m", "m"], "item_id": ["a", "b"], "supply": [1, 1],
         "reserve_price": [0.0, draw(st.sampled_from([0.0, 2.0]))]}
    )  # fmt: skip
    return pl.DataFrame(rows, schema=BID_COLUMNS), items


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market=crowded())
def test_pruned_markets_clear_to_the_oracles_optimum(
    market: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    bids, items = market
    answer = brute_force(bids, items)
    problem = build_problem("m", bids, items, tie_epsilon=1e-6)
    pruned = dominated_bids(problem, eligible_bids(problem))
    for enumerate_max in (0, 16):  # CBC on every component; enumeration
        outcome = clear_market(problem, enumerate_max=enumerate_max, lp_first=False)
        winners = frozenset(problem.bid_ids[outcome.won].tolist())
        assert winners in answer.optimal_sets, enumerate_max
        assert not (outcome.won & pruned).any(), "a pruned bid never wins"


def test_a_crowded_bundle_keeps_its_best_bids_and_one_bid_per_xor_group() -> None:
    rows = [  # 20 bids on item 'a'; items a and b have supply 1: T = 2, 2T + 1 = 5 are kept
        (f"b{k}", f"agent{k}", "m", ["a"], [1], float(k + 1), None, "buy", None, None)
        for k in range(20)
    ] + [  # one agent's XOR group with two bids on 'b': the lower one can never win
        ("x1", "z", "m", ["b"], [1], 9.0, "g", "buy", None, None),
        ("x2", "z", "m", ["b"], [1], 8.0, "g", "buy", None, None),
    ]
    bids = pl.DataFrame(rows, schema=BID_COLUMNS, orient="row")
    problem = build_problem("m", bids, None, tie_epsilon=1e-6)
    pruned = set(problem.bid_ids[dominated_bids(problem, np.ones(problem.n_bids, bool))].tolist())
    kept_on_a = {f"b{k}" for k in range(20)} - pruned
    assert kept_on_a == {"b19", "b18", "b17", "b16", "b15"}
    assert "x2" in pruned and "x1" not in pruned
