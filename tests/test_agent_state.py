"""The agent state machine, the shard core and the strategies: pure, no cluster."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econonexus.agents.events import EVENT_KINDS, Event, events_from_table, events_table
from econonexus.agents.learning import expected_factor
from econonexus.agents.shard import ShardCore
from econonexus.agents.snapshot import states_table, table_states
from econonexus.agents.state import (
    _HANDLERS,
    AgentState,
    AgentStateError,
    apply,
    conservation_gap,
)
from econonexus.agents.strategies import agent_key, round_bids
from econonexus.solvers.sealed import clear_sealed

VALUATIONS = [["m", "x", 40.0], ["m", "y", 60.0], ["v", "z", 30.0]]


def created(agent_id: str = "a1", seq: int = 0, **fields: object) -> Event:
    payload = {"balance": 100.0, "valuations": VALUATIONS, **fields}
    return Event(seq, "created", agent_id, payload=json.dumps(payload))


def run(events: list[Event]) -> AgentState:
    state = None
    for event in events:
        state = apply(state, event)
    assert state is not None
    return state


def test_every_event_kind_moves_the_right_field() -> None:
    state = run(
        [
            created(),
            Event(1, "deposited", "a1", amount=50.0),
            Event(2, "withdrawn", "a1", amount=20.0),
            Event(3, "stake_deposited", "a1", amount=30.0),
            Event(4, "stake_locked", "a1", amount=25.0),
            Event(5, "stake_released", "a1", amount=5.0),
            Event(6, "stake_slashed", "a1", amount=10.0),
            Event(7, "bonus_paid", "a1", amount=4.0),
            Event(8, "stake_locked", "a1", amount=4.0),
            Event(9, "bid_won", "a1", market_id="m", items=("x",), amount=35.0, price=38.0),
            Event(10, "bid_lost", "a1", market_id="m", items=("y",), price=50.0),
            Event(
                11, "strategy_set", "a1", payload=json.dumps({"strategy": "fixed", "shade": 0.8})
            ),
            Event(12, "banned", "a1"),
        ]
    )
    assert state.balance == pytest.approx(100 + 50 - 20 - 30 + 4)  # the win is owed, not paid
    assert (state.free_stake, state.locked_stake) == (6.0, 14.0)
    assert (state.deposited, state.withdrawn, state.bonuses, state.slashed) == (
        150.0,
        20.0,
        4.0,
        10.0,
    )
    assert conservation_gap(state) == pytest.approx(0.0)
    assert (state.bids, state.wins, state.losses, state.owed, state.paid) == (2, 1, 1, 35.0, 0.0)
    assert (state.strategy, state.shade, state.banned, state.last_seq) == ("fixed", 0.8, True, 12)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (Event(1, "stake_locked", "a1", amount=5.0), "`amount` 5.0 > free stake 0.0"),
        (Event(1, "withdrawn", "a1", amount=500.0), "`amount` 500.0 > balance 100.0"),
        (Event(1, "deposited", "a1", amount=float("nan")), "expected a finite number >= 0"),
        (Event(1, "deposited", "a1", amount=-1.0), "expected a finite number >= 0"),
        (Event(1, "settled", "a1", amount=0.0, payload='{"outcome": "meh"}'), "`outcome`"),
        (Event(1, "teleported", "a1"), "unknown kind"),
        (Event(1, "deposited", "a2", amount=1.0), "applied to agent 'a1'"),
        (created(seq=1), "agent already exists"),
    ],
)
def test_an_event_that_does_not_fit_is_refused_with_agent_seq_and_reason(
    event: Event, message: str
) -> None:
    with pytest.raises(AgentStateError, match=r"event 1 \(") as info:
        apply(run([created()]), event)
    assert message in str(info.value)


def test_every_event_kind_has_a_handler() -> None:
    assert set(EVENT_KINDS) == set(_HANDLERS) | {"created"}


def test_events_before_creation_are_refused() -> None:
    with pytest.raises(AgentStateError, match="no such agent"):
        apply(None, Event(3, "deposited", "ghost", amount=1.0))


def test_bundle_value_adds_synergy_only_for_two_or_more_items() -> None:
    state = run([created(synergy=0.5)])
    assert state.value_of("m", ["x"]) == 40.0
    assert state.value_of("m", ["x", "y"]) == pytest.approx(150.0)
    assert state.value_of("v", ["x"]) == 0.0


event_kinds = st.sampled_from(
    ["deposited", "withdrawn", "stake_deposited", "stake_locked", "bid_won", "bid_lost"]
)
event_lists = st.lists(
    st.tuples(st.sampled_from(["a1", "a2", "a3"]), event_kinds, st.floats(0, 80)), max_size=40
)


def _events(draw: list[tuple[str, str, float]]) -> list[Event]:
    events = [created(a, i, strategy="adaptive") for i, a in enumerate(["a1", "a2", "a3"])]
    for k, (agent, kind, amount) in enumerate(draw, start=3):
        events.append(
            Event(k, kind, agent, market_id="m", items=("x",), amount=amount, price=amount + 1)
        )
    return events


@settings(max_examples=60, deadline=None)
@given(event_lists, st.randoms(use_true_random=False))
def test_redelivered_and_shuffled_events_are_applied_once_in_seq_order(draw: list, rnd) -> None:
    events = _events(draw)
    once = ShardCore(0)
    once.apply_events(events)
    twice = ShardCore(0)
    half = len(events) // 2
    twice.apply_events(events[:half])
    shuffled = events[:]
    rnd.shuffle(shuffled)
    report = twice.apply_events(shuffled)
    assert report.skipped == half
    assert twice.agents == once.agents
    assert twice.applied_seq == once.applied_seq == len(events) - 1


@settings(max_examples=40, deadline=None)
@given(event_lists)
def test_snapshot_rows_and_event_tables_round_trip_exactly(draw: list) -> None:
    events = _events(draw)
    core = ShardCore(0)
    core.apply_events(events)
    states = [core.agents[a] for a in sorted(core.agents)]
    assert table_states(states_table(states)) == states
    frame = events_table([{k: getattr(e, k) for k in Event.__slots__} for e in events])
    assert events_from_table(frame) == events


def _states(n: int, strategy: str = "random") -> list[AgentState]:
    return [
        run([created(f"a{i:03d}", strategy=strategy, shade=0.7, synergy=0.2)]) for i in range(n)
    ]


OFFER = pl.DataFrame(
    {
        "market_id": ["m", "m", "v"],
        "item_id": ["x", "y", "z"],
        "format": ["combinatorial", "combinatorial", "vickrey"],
    }
)


def _bids(states: list[AgentState], seed: int, round_no: int = 0) -> pl.DataFrame:
    keys = np.array([agent_key(s.agent_id) for s in states], dtype=np.uint64)
    frame = pl.from_arrow(round_bids(states, keys, OFFER, seed=seed, round_no=round_no))
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_same_seed_same_bids_and_bids_do_not_depend_on_the_shard() -> None:
    states = _states(40)
    whole = _bids(states, seed=7)
    assert whole.equals(_bids(states, seed=7))
    assert not whole.equals(_bids(states, seed=8))
    split = pl.concat([_bids(states[:13], seed=7), _bids(states[13:], seed=7)]).sort("bid_id")
    assert split.equals(whole)


def test_bundle_and_single_bids_share_one_xor_group_and_respect_the_budget() -> None:
    poor = run([created("p", balance=30.0)])
    bids = _bids([poor], seed=1)
    combinatorial = bids.filter(pl.col("market_id") == "m")
    assert sorted(combinatorial["bid_id"]) == ["p-r0-m-*", "p-r0-m-x", "p-r0-m-y"]
    assert combinatorial["xor_group"].unique().to_list() == ["p-r0-m"]
    assert bids["price"].max() == 30.0
    assert bids.filter(pl.col("market_id") == "v")["xor_group"].is_null().all()
    assert _bids([run([created("b"), Event(1, "banned", "b")])], seed=1).is_empty()


def test_truthful_and_fixed_strategies_bid_value_and_shaded_value() -> None:
    truthful, fixed = run([created("t")]), run([created("f", strategy="fixed", shade=0.7)])
    prices = dict(_bids([truthful, fixed], seed=3).select("bid_id", "price").iter_rows())
    assert prices["t-r0-v-z"] == 30.0
    assert prices["f-r0-v-z"] == pytest.approx(21.0)


def test_adaptive_shading_moves_toward_lower_payments_against_a_fixed_field() -> None:
    learner = run(
        [created("learner", balance=1e9, strategy="adaptive", valuations=[["s", "x", 100.0]])]
    )
    offer = pl.DataFrame({"market_id": ["s"], "item_id": ["x"], "format": ["sealed-first-price"]})
    key = np.array([agent_key("learner")], dtype=np.uint64)
    payments = []
    for r in range(600):
        own = pl.from_arrow(round_bids([learner], key, offer, seed=11, round_no=r))
        assert isinstance(own, pl.DataFrame)
        field = pl.DataFrame({"bid_id": ["field"], "price": [62.0]})
        auction = pl.concat([own.select("bid_id", "price"), field]).with_columns(
            market_id=pl.lit("s"), item_id=pl.lit("x")
        )
        cleared = clear_sealed(auction, rule="first-price").filter(pl.col("bid_id") != "field")
        won, payment, price = cleared.row(0)[-2], cleared.row(0)[-1], cleared["price"][0]
        kind, amount = ("bid_won", payment) if won else ("bid_lost", None)
        event = Event(
            r + 1, kind, "learner", market_id="s", items=("x",), amount=amount, price=price
        )
        learner = apply(learner, event)
        payments.append(payment if won else 0.0)
    assert expected_factor(learner.weights) < 0.75
    assert sum(p > 0 for p in payments[-100:]) >= 80, "it must keep winning, not just stop bidding"
    early = np.mean([p for p in payments[:100] if p > 0])
    late = np.mean([p for p in payments[-100:] if p > 0])
    assert late < early - 5, (early, late)
    print(f"mean winning payment: first 100 rounds {early:.1f}, last 100 {late:.1f}")
