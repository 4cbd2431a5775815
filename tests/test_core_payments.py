"""Core-selecting payments against brute force: unblocked, between VCG and the bid, least
revenue among core outcomes, for both oracle backends."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from distributed import Client
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import econonexus as enx
from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.core import core_payments
from econonexus.solvers.core_greedy import GreedyPacker, SeparationLp
from econonexus.solvers.problem import MarketProblem, build_problem
from econonexus.solvers.relaxation import constraint_matrix
from econonexus.solvers.vcg import Payments
from econonexus.solvers.wdp import dense_constraints, solve_component

FAMILIES = ["decay", "L3", "arbitrary", "regions"]


def _problem(family: str, seed: int, agents: int) -> MarketProblem:
    frame = enx.generate(family, goods=5, bids=8, seed=seed, market_id="m")  # type: ignore[arg-type]
    # a few agents, some with several bids: coalitions of agents, not of bids
    frame = frame.with_columns(pl.format("a{}", pl.int_range(pl.len()) % agents).alias("agent_id"))
    return build_problem("m", frame, None, tie_epsilon=1e-6)


def _best(problem: MarketProblem, allowed: np.ndarray) -> tuple[float, np.ndarray]:
    """The best welfare of the bids in ``allowed`` (brute force) and its winners."""
    a, b = dense_constraints(problem)
    best, chosen = 0.0, np.zeros(problem.n_bids, dtype=bool)
    bids = np.flatnonzero(allowed)
    for r in range(len(bids) + 1):
        for pick in itertools.combinations(bids, r):
            x = np.zeros(problem.n_bids)
            x[list(pick)] = 1.0
            value = float(problem.price @ x)
            if value > best + 1e-9 and np.all(a @ x <= b + 1e-9):
                best, chosen = value, x > 0.5
    return best, chosen


def _brute(problem: MarketProblem) -> tuple[np.ndarray, dict[str, float], dict[str, float], list]:
    """Winners, each winner's bid and VCG payment, and every coalition's core constraint."""
    total, won = _best(problem, np.ones(problem.n_bids, dtype=bool))
    agents = sorted(set(problem.agent_ids.tolist()))
    winners = sorted(set(problem.agent_ids[won].tolist()))
    bid = {w: float(problem.price[won & (problem.agent_ids == w)].sum()) for w in winners}
    vcg = {w: _best(problem, problem.agent_ids != w)[0] - (total - bid[w]) for w in winners}
    constraints = []
    for r in range(len(agents) + 1):
        for coalition in itertools.combinations(agents, r):
            value = _best(problem, np.isin(problem.agent_ids, coalition))[0]
            outside = [w not in coalition for w in winners]
            rhs = value - sum(bid[w] for w in winners if w in coalition)
            constraints.append((np.array(outside, dtype=float), rhs))
    return won, bid, vcg, constraints


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@settings(max_examples=6, deadline=None)
@given(family=st.sampled_from(FAMILIES), seed=st.integers(1, 10_000), agents=st.integers(3, 5))
def test_core_payments_match_brute_force(solver: str, family: str, seed: int, agents: int) -> None:
    problem = _problem(family, seed, agents)
    won, bid, vcg, constraints = _brute(problem)
    winners = sorted(bid)
    if not winners:
        return
    per_bid_vcg = np.zeros(problem.n_bids)
    for w in winners:
        rows = np.flatnonzero(won & (problem.agent_ids == w))
        per_bid_vcg[rows] = vcg[w] * problem.price[rows] / bid[w]
    exact = np.ones(problem.n_bids, dtype=bool)
    given_vcg = Payments(per_bid_vcg, per_bid_vcg, per_bid_vcg, exact)
    found = core_payments(problem, won, given_vcg, solver=solver, limits=SolveLimits())
    pay = np.array([found.payment[won & (problem.agent_ids == w)].sum() for w in winners])
    slack = 1e-5 * sum(bid.values())
    assert found.exact[won].all()
    for w, p in zip(winners, pay, strict=True):
        assert vcg[w] - slack <= p <= bid[w] + slack, (w, p, vcg[w], bid[w])
    for outside, rhs in constraints:  # no coalition blocks
        assert outside @ pay >= rhs - slack
    least = linprog(
        np.ones(len(winners)),
        A_ub=-np.array([c[0] for c in constraints]),
        b_ub=-np.array([c[1] for c in constraints]),
        bounds=[(vcg[w], bid[w]) for w in winners],
        method="highs",
    )
    assert least.status == 0
    assert pay.sum() == pytest.approx(least.fun, rel=1e-6, abs=slack)


def _local_global(rule: str, client: Client, side: str = "buy") -> pl.DataFrame:
    """Two local bidders for A and B and a global one for both: VCG lets the locals pay 0,
    which the global bidder (and the seller) would block."""
    bids = pl.DataFrame(
        {
            "bid_id": ["l1", "l2", "g"],
            "agent_id": ["l1", "l2", "g"],
            "market_id": "m",
            "items": [["A"], ["B"], ["A", "B"]],
            "price": [2.0, 2.0, 2.0] if side == "buy" else [1.0, 1.0, 3.0],
            "side": side,
        }
    )
    market = {"format": "combinatorial" if side == "buy" else "procurement"}
    result = enx.clear(bids, markets={"m": market | {"payment_rule": rule}}, client=client)
    assert result.summary["payment_rule"][0] == rule
    return result.allocations.sort("bid_id")


def test_core_payments_in_a_run_charge_what_vcg_lets_a_coalition_block(client: Client) -> None:
    vcg = _local_global("vcg", client)
    core = _local_global("core", client)
    assert vcg.filter("won")["payment"].to_list() == [0.0, 0.0]
    won = core.filter("won")
    assert won["bid_id"].to_list() == ["l1", "l2"]
    assert won["payment"].to_list() == pytest.approx([1.0, 1.0])  # least revenue, nearest VCG
    assert won["payment_exact"].all()
    assert core.filter(~pl.col("won"))["payment"].to_list() == [0.0]


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_core_payments_lie_between_vcg_and_the_bids_and_do_not_depend_on_the_backend(
    client: Client, solver: str
) -> None:
    bids = enx.generate("decay", goods=12, bids=40, seed=5, market_id="m").with_columns(
        pl.format("a{}", pl.int_range(pl.len()) % 9).alias("agent_id")
    )
    runs = {
        rule: enx.clear(bids, markets={"m": {"payment_rule": rule}}, solver=solver, client=client)
        for rule in ("vcg", "core")
    }
    vcg, core = (runs[r].allocations.sort("bid_id") for r in ("vcg", "core"))
    assert core["won"].equals(vcg["won"])
    assert (core["payment"] >= vcg["payment"] - 1e-6).all()
    assert (core["payment"] <= core["price"] + 1e-6).all()
    assert runs["core"].summary["revenue"][0] >= runs["vcg"].summary["revenue"][0] - 1e-6
    other = enx.clear(bids, markets={"m": {"payment_rule": "core"}}, solver="highs", client=client)
    assert other.allocations.sort("bid_id")["payment"].to_numpy() == pytest.approx(
        core["payment"].to_numpy(), abs=1e-6
    )


def test_core_payments_in_procurement_pay_sellers_no_more_than_a_rival_asks(
    client: Client,
) -> None:
    # VCG pays each local seller 2: 4 in all, where the global seller asks 3 for both
    bids = pl.DataFrame(
        {
            "bid_id": ["l1", "l2", "g"],
            "agent_id": ["l1", "l2", "g"],
            "market_id": "m",
            "items": [["A"], ["B"], ["A", "B"]],
            "price": [1.0, 1.0, 3.0],
            "side": "sell",
        }
    )
    items = pl.DataFrame({"market_id": "m", "item_id": ["A", "B"], "reserve_price": 5.0})
    paid = {}
    for rule in ("vcg", "core"):
        markets = {"m": {"format": "procurement", "payment_rule": rule}}
        result = enx.clear(bids, items=items, markets=markets, client=client)
        paid[rule] = result.allocations.filter("won").sort("bid_id")["payment"].to_list()
    assert paid["vcg"] == pytest.approx([2.0, 2.0])
    assert paid["core"] == pytest.approx([1.5, 1.5])  # what g asks, split nearest to VCG


def test_an_oracle_stopped_at_its_limit_marks_the_payments_not_exact_with_honest_bounds() -> None:
    frame = enx.generate("arbitrary", goods=40, bids=200, seed=4, market_id="m")
    frame = frame.with_columns(pl.format("a{}", pl.int_range(pl.len()) % 30).alias("agent_id"))
    problem = build_problem("m", frame, None, tie_epsilon=1e-9)
    won = np.zeros(problem.n_bids, dtype=bool)
    won[solve_component(problem, solver="highs").winners] = True
    zero = np.zeros(problem.n_bids)
    floor = Payments(zero, zero, zero, np.ones(problem.n_bids, dtype=bool))
    cut = core_payments(problem, won, floor, solver="cbc", limits=SolveLimits(time_limit=0.01))
    assert not cut.exact[won].all(), "CBC proves nothing about 200 bids in 10 ms"
    assert np.all(cut.low[won] == 0)  # the VCG floor given
    assert cut.high[won] == pytest.approx(problem.price[won])  # the bids
    assert np.all((cut.low <= cut.payment + 1e-9) & (cut.payment <= cut.high + 1e-9))


@settings(max_examples=25, deadline=None)
@given(
    family=st.sampled_from(FAMILIES),
    seed=st.integers(0, 10_000),
    agents=st.integers(2, 6),
    weights=st.lists(st.floats(-1.0, 1.0), min_size=8, max_size=8),
)
def test_the_separation_heuristics_pack_within_supply_and_the_lp_bounds_the_best(
    family: str, seed: int, agents: int, weights: list[float]
) -> None:
    """Every greedy packing fits the supply and XOR limits, and the LP relaxation's value
    is at least the best packing's (so a relaxation that does not block proves none does)."""
    problem = _problem(family, seed, agents)
    a, b = constraint_matrix(problem)
    value = problem.price[: problem.n_bids] * np.resize(weights, problem.n_bids)
    no_winner = np.full(problem.n_bids, -1)
    relaxed = SeparationLp(a, b, no_winner, 0).solve(value, np.zeros(0))
    assert relaxed is not None
    best = 0.0
    for chosen in GreedyPacker(a, b, problem.units()).packings(value, relaxed[0]):
        assert np.all(a @ chosen.astype(np.float64) <= b + 1e-9)
        best = max(best, float(value[chosen].sum()))
    dense, limits = dense_constraints(problem)
    brute = max(
        float(value[list(pick)].sum())
        for r in range(problem.n_bids + 1)
        for pick in itertools.combinations(range(problem.n_bids), r)
        if np.all(dense[:, list(pick)].sum(axis=1) <= limits + 1e-9)
    )
    assert best <= brute + 1e-9 <= relaxed[1] + 1e-6
