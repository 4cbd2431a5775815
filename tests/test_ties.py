"""The tie rule chooses only among allocations of equal welfare; prices stay in range."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import econonexus as enx
from econonexus.solvers.market import clear_market
from econonexus.solvers.problem import build_problem, price_quantum, tie_budget

METHODS = {  # (solver, enumerate_max, lp_first): enumeration, LP relaxation, each MIP backend
    "enumerate": ("cbc", 16, True),
    "lp": ("cbc", 0, True),
    "cbc": ("cbc", 0, False),
    "highs": ("highs", 0, False),
}


def _bids(rows: list[tuple[str, list[str], float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bid_id": [r[0] for r in rows],
            "agent_id": [f"a-{r[0]}" for r in rows],
            "market_id": ["m"] * len(rows),
            "items": [r[1] for r in rows],
            "quantities": [[1] * len(r[1]) for r in rows],
            "price": [r[2] for r in rows],
            "xor_group": [None] * len(rows),
        },
        schema_overrides={"xor_group": pl.String},
    )


def _winners(rows: list[tuple[str, list[str], float]], method: str) -> set[str]:
    solver, enumerate_max, lp_first = METHODS[method]
    problem = build_problem("m", _bids(rows), None, tie_epsilon=1e-9)
    outcome = clear_market(problem, solver=solver, enumerate_max=enumerate_max, lp_first=lp_first)
    assert outcome.status == "optimal"
    return set(problem.bid_ids[outcome.won].tolist())


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_large_unrelated_bid_does_not_let_a_lower_price_win(method: str) -> None:
    rows = [("low", ["x"], 99.5), ("high", ["x"], 100.0), ("big", ["z"], 1e12)]
    for extra in range(3):  # more bids in the component, so the MIP paths run too
        rows.append((f"e{extra}", ["x", f"y{extra}"], 50.0 + extra))
    assert _winners(rows, method) >= {"high", "big"}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_strictly_better_bundle_wins_at_large_prices(method: str) -> None:
    rows = [("A", ["x"], 1e11), ("C", ["y"], 2.0), ("B", ["x", "y"], 1e11 + 3)]
    rows += [(f"e{k}", ["x", "y", f"z{k}"], 1.0) for k in range(3)]
    assert _winners(rows, method) == {"B"}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_prices_finer_than_nine_decimals_still_rank_by_welfare(method: str) -> None:
    third = 1 / 3
    rows = [("a", ["x"], 100 * third), ("b", ["x"], 100 * third + 1e-4), ("c", ["y"], third)]
    rows += [(f"e{k}", ["x", "y", f"z{k}"], third) for k in range(3)]
    assert _winners(rows, method) == {"b", "c"}


def test_tie_terms_stay_below_half_the_price_quantum() -> None:
    assert price_quantum(np.array([99.5, 100.0, 1e12])) == 0.1
    assert price_quantum(np.array([58.178136, 1.25852])) == pytest.approx(1e-6)
    assert price_quantum(np.array([1 / 3])) is None
    assert tie_budget(np.array([1.0, 3.0]), 1e-9) == 0.5
    assert tie_budget(np.array([1 / 3, 2.0]), 1e-9) == pytest.approx(2e-9)
    problem = build_problem(
        "m", _bids([(str(i), ["x"], 10.0 + i) for i in range(50)]), None, tie_epsilon=1e-9
    )
    assert problem.tie.sum() <= 0.5


def test_equal_welfare_still_goes_to_the_tie_weight() -> None:
    rows = [("p", ["x"], 7.0), ("q", ["x"], 7.0), ("r", ["x"], 7.0)]
    answers = {method: _winners(rows, method) for method in METHODS}
    assert len({frozenset(w) for w in answers.values()}) == 1  # every path picks the same bid
    assert len(answers["enumerate"]) == 1


@pytest.mark.parametrize("price", [1.7e308, 2e12])
def test_prices_above_the_range_are_rejected_with_a_reason(price: float) -> None:
    bids = _bids([("huge", ["x"], price), ("other", ["y"], price), ("fine", ["z"], 3.0)])
    valid, rejected = enx.validate_bids(bids)
    assert valid["bid_id"].to_list() == ["fine"]
    assert rejected["field"].to_list() == ["price", "price"]
    assert "expected a number <= 1e+12 (the price range)" in rejected["reason"][0]
