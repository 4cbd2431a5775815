"""Agents that sell, without a cluster: capabilities, offers within capacity, bulk outcomes,
and the components whose one winner needs no search."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from econonexus._core.errors import AgentStateError
from econonexus.agents.events import Event, created_events, events_from_table, events_table
from econonexus.agents.outcomes import outcome_events
from econonexus.agents.selling import capable_rows, sell_offers
from econonexus.agents.shard import ShardCore
from econonexus.agents.snapshot import states_table, table_states
from econonexus.agents.state import AgentState, apply, conservation_gap
from econonexus.agents.tasks import checked_tasks
from econonexus.solvers.market import clear_market
from econonexus.solvers.problem import build_problem
from tests.oracle import brute_force
from tests.strategies import markets

STRATEGIES = ["truthful", "fixed", "random", "adaptive"]


def sellers(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "agent_id": [f"s{i:03d}" for i in range(n)],
            "balance": 50.0,
            "strategy": [STRATEGIES[i % 4] for i in range(n)],
            "shade": 0.8,
            "capabilities": [
                [
                    {"capability": c, "cost": float(rng.uniform(5, 15)), "capacity": i % 3 + 1}
                    for c in (["paint", "haul"] if i % 2 else ["paint"])
                ]
                if i % 5
                else []  # every fifth agent only buys
                for i in range(n)
            ],
        }
    )


def tasks(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "task_id": [f"t{i:03d}" for i in range(n)],
            "capability": [["paint", "haul", "fly"][i % 3] for i in range(n)],
            "quantity": rng.integers(1, 3, n),
            "reserve": rng.uniform(20, 60, n).round(2),
        }
    )


def shard(agents: pl.DataFrame) -> ShardCore:
    core = ShardCore(0)
    numbered = created_events(agents).with_row_index("seq").with_columns(pl.col("seq").cast(int))
    report = core.apply_events(events_from_table(events_table(numbered)))
    assert not report.rejected
    return core


def test_capabilities_are_checked_and_survive_a_snapshot() -> None:
    core = shard(sellers(10))
    state = core.agents["s001"]
    assert [c[0] for c in state.capabilities] == ["haul", "paint"]
    assert state.unit_cost("paint") == pytest.approx(state.capabilities[1][1])
    assert state.unit_cost("fly") is None
    restored = table_states(states_table(core.agents.values()))
    assert restored == list(core.agents.values())
    old = states_table(core.agents.values()).drop_columns(["capabilities", "due", "earned"])
    assert all(s.capabilities == () and s.due == 0.0 for s in table_states(old))
    bad = Event(0, "created", "x", payload=json.dumps({"capabilities": [["paint", 5.0, 0]]}))
    with pytest.raises(AgentStateError, match="`capacity` expected a whole number >= 1"):
        apply(None, bad)


def test_only_capable_agents_offer_within_capacity_and_reserve() -> None:
    core = shard(sellers(40))
    work = tasks(60)
    offers = pl.from_arrow(core.offers(work, seed=3, round_no=2))
    assert isinstance(offers, pl.DataFrame) and offers.height > 0
    again = pl.from_arrow(core.offers(work, seed=3, round_no=2))
    assert isinstance(again, pl.DataFrame) and offers.equals(again)  # seeded
    rows = offers.with_columns(task_id=pl.col("items").list.first()).join(work, on="task_id")
    able = capable_rows(list(core.agents.values()))
    joined = rows.join(
        able, left_on=["agent_id", "capability"], right_on=["agent_id", "capability"]
    )
    assert joined.height == offers.height  # every offer from an agent able to do the task
    assert (rows["market_id"] == rows["capability"]).all()
    assert (rows["side"] == "sell").all() and "fly" not in set(rows["capability"])
    assert (joined["price"] <= joined["reserve"] + 1e-9).all()
    assert (joined["price"] >= joined["cost"] * joined["quantity"] - 1e-9).all()
    strategy = {a: s.strategy for a, s in core.agents.items()}
    exact = joined.filter(pl.col("agent_id").replace_strict(strategy) == "truthful")
    assert exact.height > 0
    assert np.allclose(exact["price"], exact["cost"] * exact["quantity"])
    load = joined.group_by("agent_id", "capability").agg(pl.col("quantity").sum(), "capacity")
    assert (load["quantity"] <= load["capacity"].list.first()).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), bad=st.booleans(), haul_sells=st.booleans())
def test_bulk_outcomes_equal_one_by_one(seed: int, bad: bool, haul_sells: bool) -> None:
    """Outcomes applied in bulk equal them one by one; with ``haul`` taken as a buy market,
    agents with both kinds of outcome learn event by event, the others side by side."""
    agents = sellers(12, seed)
    offers = pl.from_arrow(shard(agents).offers(tasks(30, seed), seed=seed, round_no=0))
    assert isinstance(offers, pl.DataFrame)
    rng = np.random.default_rng(seed)
    won = rng.random(offers.height) < 0.5
    allocations = offers.select("market_id", "bid_id", "agent_id", "price", "items").with_columns(
        won=pl.Series(won), payment=pl.col("price") * 1.1
    )
    events = outcome_events(
        allocations,
        run_id="r",
        sell_markets={"paint", "haul"} if haul_sells else {"paint"},
        bids=offers,
    ).with_row_index("seq", offset=1000)
    if bad and events.height:  # a payment that no agent can owe: rejected on both paths
        events = events.with_columns(
            amount=pl.when(pl.col("seq") == 1000).then(float("nan")).otherwise(pl.col("amount"))
        )
    table = events_table(events.with_columns(pl.col("seq").cast(int)))
    one, bulk = shard(agents), shard(agents)
    slow = one.apply_events(events_from_table(table))
    fast = bulk.apply_table(table)
    assert (fast.applied, fast.rejected, fast.applied_seq) == (
        slow.applied,
        slow.rejected,
        slow.applied_seq,
    )
    for agent_id, expected in one.agents.items():
        got = bulk.agents[agent_id]
        for field in dataclasses.fields(AgentState):
            a, b = getattr(expected, field.name), getattr(got, field.name)
            if isinstance(a, float):
                assert math.isclose(a, b, abs_tol=1e-9), (agent_id, field.name)
            elif field.name == "weights":
                assert np.allclose(a, b), agent_id
            else:
                assert a == b, (agent_id, field.name)


def test_a_seller_is_paid_at_settlement_and_money_is_conserved() -> None:
    core = shard(sellers(6))
    won = Event(
        10,
        "bid_won",
        "s001",
        market_id="paint",
        bid_id="b",
        items=("t1",),
        amount=30.0,
        price=20.0,
        payload=json.dumps({"side": "sell", "units": 2}),
    )
    terms = {"outcome": "satisfactory", "bonus": 0.0, "slash": 0.0, "decay": 0.9, "side": "sell"}
    settled = dataclasses.replace(won, seq=11, kind="settled", amount=0.0, price=30.0)
    settled = dataclasses.replace(settled, payload=json.dumps(terms))
    core.apply_events([won, settled])
    state = core.agents["s001"]
    assert (state.owed, state.due, state.earned, state.balance) == (0.0, 0.0, 30.0, 80.0)
    assert conservation_gap(state) == pytest.approx(0.0)
    too_much = dataclasses.replace(settled, seq=12)
    with pytest.raises(AgentStateError, match="due"):
        apply(state, too_much)


def test_bad_task_rows_are_kept_with_the_field_and_reason() -> None:
    given_tasks = pl.DataFrame(
        {
            "task_id": ["a", "b", "a", "c"],
            "capability": ["x", None, "x", "x"],
            "quantity": [1, 1, 1, 0],
            "reserve": [5.0, 5.0, 5.0, 5.0],
        }
    )
    good, rejected = checked_tasks(given_tasks)
    assert good["task_id"].to_list() == ["a"]
    assert rejected.select("row", "field").rows() == [
        (1, "capability"),
        (2, "task_id"),
        (3, "quantity"),
    ]
    with pytest.raises(Exception, match="missing column"):
        checked_tasks(given_tasks.drop("reserve"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market=markets(max_bids=9))
def test_single_winner_components_match_brute_force(
    market: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    bids, items = market
    one_item = bids.with_columns(
        items=pl.col("items").list.slice(0, 1), quantities=pl.col("quantities").list.slice(0, 1)
    )
    for frame in (bids, one_item):
        problem = build_problem("m", frame, items, tie_epsilon=1e-9)
        outcome = clear_market(problem, solver="highs", enumerate_max=1)
        assert outcome.status == "optimal"
        assert outcome.welfare == pytest.approx(brute_force(frame, items).welfare, abs=1e-6)


def test_arrow_offers_match_the_bids_schema() -> None:
    table = shard(sellers(8)).offers(tasks(10), seed=0, round_no=0)
    assert isinstance(table, pa.Table) and table.num_rows > 0
    assert set(sell_offers([], tasks(3), seed=0, round_no=0).column_names) == set(
        table.column_names
    )
