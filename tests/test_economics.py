"""Economics without a cluster: outcomes, reputation, stake eligibility, conservation."""

from __future__ import annotations

import json

import dask
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econonexus._core.errors import InputError
from econonexus.agents.economics import beta_reputation
from econonexus.agents.events import Event, events_from_table, events_table
from econonexus.agents.settlement import SettlementTerms, settlement_events
from econonexus.agents.shard import ShardCore
from econonexus.agents.snapshot import states_table
from econonexus.agents.state import AgentState, apply, conservation_gap
from econonexus.pipelines.io.accounts import load_accounts
from econonexus.pipelines.io.market_policy import make_policy
from econonexus.pipelines.io.normalize import normalize
from econonexus.pipelines.io.readers import read_any
from econonexus.pipelines.io.validation import validate
from econonexus.pipelines.ops.settle_run import check_conservation
from tests.settle_vectorised import settle_accounts

TERMS = SettlementTerms(
    bonus_multiplier=1.2, poor_slash_fraction=0.5, decay=0.9, byzantine_slash="bid"
)


def staked_agent(agent_id: str = "a1") -> AgentState:
    state = apply(None, Event(0, "created", agent_id, payload=json.dumps({"balance": 100.0})))
    state = apply(state, Event(1, "stake_deposited", agent_id, amount=40.0))
    state = apply(
        state, Event(2, "bid_won", agent_id, market_id="m", items=("x",), amount=30.0, price=35.0)
    )
    return apply(state, Event(3, "stake_locked", agent_id, amount=20.0))


def allocation(agent_id: str = "a1", bid_id: str = "b1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "market_id": ["m", "m"],
            "bid_id": [bid_id, "lost"],
            "agent_id": [agent_id, "z"],
            "won": [True, False],
            "payment": [30.0, 0.0],
            "items": [["x"], ["x"]],
            "stake": [20.0, 5.0],
        }
    )


def settled(
    outcome: str, state: AgentState | None = None, terms: SettlementTerms = TERMS
) -> AgentState:
    events = settlement_events(
        allocation(),
        pl.DataFrame({"bid_id": ["b1"], "outcome": [outcome]}),
        run_id="r1",
        terms=terms,
    )
    (event,) = events_from_table(events.with_columns(seq=pl.lit(4, dtype=pl.Int64)))
    return apply(state or staked_agent(), event)


@pytest.mark.parametrize(
    ("outcome", "balance", "free", "slashed", "reputation", "banned"),
    [
        ("excellent", 60.0 + 6.0, 40.0, 0.0, beta_reputation(1, 0), False),
        ("satisfactory", 60.0, 40.0, 0.0, beta_reputation(1, 0), False),
        ("poor", 60.0, 30.0, 10.0, beta_reputation(0, 1), False),
        ("byzantine", 60.0, 20.0, 20.0, beta_reputation(0, 5), True),
    ],
)
def test_every_outcome_moves_stake_bonus_reputation_and_ban(
    outcome: str, balance: float, free: float, slashed: float, reputation: float, banned: bool
) -> None:
    before = staked_agent()
    assert (before.balance, before.free_stake, before.locked_stake) == (60.0, 20.0, 20.0)
    assert (before.owed, before.paid) == (30.0, 0.0)
    after = settled(outcome)
    assert after.balance == pytest.approx(balance - 30.0)
    assert (after.free_stake, after.locked_stake, after.slashed) == (free, 0.0, slashed)
    assert (after.owed, after.paid) == (0.0, 30.0)
    assert after.reputation == pytest.approx(reputation)
    assert after.banned is banned
    assert conservation_gap(after) == pytest.approx(0.0)


def test_byzantine_slash_all_takes_the_free_stake_too_and_money_still_adds_up() -> None:
    with dask.config.set({"econonexus.economics.byzantine-slash": "all"}):
        terms = SettlementTerms.from_config()
    assert terms.byzantine_slash == "all"
    after = settled("byzantine", terms=terms)  # 20 locked for the bid, 20 free
    assert (after.free_stake, after.locked_stake, after.slashed) == (0.0, 0.0, 40.0)
    assert after.banned and conservation_gap(after) == pytest.approx(0.0)
    poor = settled("poor", terms=terms)  # only byzantine outcomes take more than the bid's
    assert (poor.free_stake, poor.slashed) == (30.0, 10.0)
    with (
        dask.config.set({"econonexus.economics.byzantine-slash": "everything"}),
        pytest.raises(InputError, match=r"`economics\.byzantine-slash`: expected one of"),
    ):
        SettlementTerms.from_config()


def test_reputation_starts_at_one_half_and_old_outcomes_fade() -> None:
    assert staked_agent().reputation == 0.5
    first_bad = settled("poor")
    recovering = settled("excellent", won_again(first_bad))
    assert first_bad.reputation == pytest.approx(1 / 3)
    assert (recovering.rep_alpha, recovering.rep_beta) == pytest.approx((1.0, 0.9))
    assert recovering.reputation == pytest.approx(2 / 3.9)


def won_again(state: AgentState) -> AgentState:
    seq, agent = state.last_seq, state.agent_id
    won = Event(seq + 1, "bid_won", agent, market_id="m", items=("x",), amount=30.0, price=35.0)
    return apply(apply(state, won), Event(seq + 2, "stake_locked", agent, amount=20.0))


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        ({"bid_id": [], "outcome": []}, "'b1': a winning bid without an outcome"),
        ({"bid_id": ["b1"], "outcome": ["great"]}, "'b1': unknown `outcome`"),
        ({"bid_id": ["b1", "b1"], "outcome": ["poor", "poor"]}, "more than one outcome"),
        ({"bid_id": ["b1", "lost"], "outcome": ["poor", "poor"]}, "'lost': not a winning bid"),
    ],
)
def test_bad_outcomes_are_refused_naming_the_bids(
    outcomes: dict[str, list[str]], message: str
) -> None:
    frame = pl.DataFrame(outcomes, schema={"bid_id": pl.String, "outcome": pl.String})
    with pytest.raises(InputError, match="outcomes: `bid_id` ") as info:
        settlement_events(allocation(), frame, run_id="r1", terms=TERMS)
    assert message in str(info.value)


amounts = st.floats(0, 50, allow_nan=False)
kinds = st.sampled_from(
    [
        *("deposited", "withdrawn", "stake_deposited", "stake_locked", "stake_released"),
        *("stake_slashed", "bonus_paid", "bid_won", "settled"),
    ]
)
steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        kinds,
        amounts,
        st.sampled_from(["poor", "byzantine", "excellent"]),
    ),
    max_size=60,
)


def _event(seq: int, agent: str, kind: str, amount: float, outcome: str) -> Event:
    if kind == "settled":
        payload = json.dumps(
            {"outcome": outcome, "bonus": amount / 10, "slash": amount / 2, "decay": 0.9}
        )
        return Event(seq, kind, agent, amount=amount, payload=payload)
    return Event(seq, kind, agent, market_id="m", items=("x",), amount=amount, price=amount)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_money_is_conserved_by_every_event_sequence(draw: list) -> None:
    core = ShardCore(0)
    created = [
        Event(i, "created", a, payload=json.dumps({"balance": 80.0, "free_stake": 10.0}))
        for i, a in enumerate("ab")
    ]
    core.apply_events(created + [_event(k + 2, *step) for k, step in enumerate(draw)])
    for state in core.agents.values():
        assert conservation_gap(state) == pytest.approx(0.0, abs=1e-9)
    frame = pl.from_arrow(states_table(core.agents.values()))
    assert isinstance(frame, pl.DataFrame)
    totals = check_conservation(frame)
    holdings = totals["balance"] + totals["free_stake"] + totals["locked_stake"]
    assert holdings + totals["slashed_pool"] + totals["market_account"] == pytest.approx(
        totals["net_inflow"]
    )


def test_a_broken_account_is_caught_by_the_conservation_check() -> None:
    frame = pl.from_arrow(states_table([AgentState("cheat", balance=5.0)]))
    assert isinstance(frame, pl.DataFrame)
    with pytest.raises(Exception, match="conservation violated for agent 'cheat'"):
        check_conservation(frame)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["excellent", "satisfactory", "poor", "byzantine"]), min_size=1, max_size=12
    )
)
def test_vectorised_settlement_equals_applying_each_event(outcomes: list[str]) -> None:
    agents = [f"a{i:02d}" for i in range(len(outcomes))]
    states = [staked_agent(a) for a in agents]
    allocations = pl.concat([allocation(a, f"b-{a}").head(1) for a in agents])
    events = settlement_events(
        allocations,
        pl.DataFrame({"bid_id": [f"b-{a}" for a in agents], "outcome": outcomes}),
        run_id="r",
        terms=TERMS,
    )
    one_by_one = [
        apply(s, e)
        for s, e in zip(
            states,
            events_from_table(events.with_columns(seq=pl.int_range(100, 100 + len(agents)))),
            strict=True,
        )
    ]
    table = pl.from_arrow(states_table(states))
    assert isinstance(table, pl.DataFrame)
    moves = events.select(
        "agent_id",
        pl.col("price").alias("payment"),
        pl.col("amount").alias("stake"),
        pl.col("payload").str.json_path_match("$.outcome").alias("outcome"),
        pl.col("payload").str.json_path_match("$.bonus").cast(pl.Float64).alias("bonus"),
        pl.col("payload").str.json_path_match("$.slash").cast(pl.Float64).alias("slash"),
        pl.lit(TERMS.decay).alias("decay"),
    )
    vectorised = settle_accounts(table, moves).drop("last_seq")
    expected = pl.from_arrow(states_table(one_by_one))
    assert isinstance(expected, pl.DataFrame)
    assert vectorised.equals(expected.drop("last_seq"))


def test_stake_reputation_and_bans_are_checked_per_bid_in_one_pass() -> None:
    bids = pl.DataFrame(
        {
            "bid_id": ["s1", "s2", "s3", "r1", "x1", "free"],
            "agent_id": ["rich", "rich", "rich", "shady", "banned", "poor"],
            "market_id": ["staked"] * 5 + ["open"],
            "items": ["i1", "i2", "i3", "i1", "i2", "i1"],
            "price": [100.0, 100.0, 100.0, 10.0, 10.0, 10.0],
        }
    )
    raw = read_any(bids, name="<t>")
    policies = {
        "staked": make_policy(
            {"stake": 5.0, "stake_fraction": 0.1, "min_reputation": 0.4}, where="t"
        ),
        "open": make_policy({}, where="t"),
    }
    accounts = load_accounts(
        pl.DataFrame(
            {
                "agent_id": ["rich", "shady", "banned"],
                "free_stake": [35.0, 100.0, 100.0],
                "reputation": [0.6, 0.3, 0.9],
                "banned": [False, False, True],
            }
        )
    )
    frame = normalize(raw.records, raw.name)
    valid, rejected = validate(frame, None, None, accounts, policies=policies)
    assert sorted(valid["bid_id"]) == ["free", "s1", "s2"]
    reasons = dict(rejected.select("bid_id", "reason").iter_rows())
    assert reasons["s3"].startswith("insufficient stake: bid needs 15.0 (45.0 with the agent's")
    assert reasons["r1"] == "reputation 0.3 below the market's minimum 0.4"
    assert reasons["x1"] == "agent banned is banned"
    assert set(rejected["field"]) == {"agent_id"}


def test_accounts_are_checked_with_the_row_named() -> None:
    with pytest.raises(
        InputError, match=r"agent 'x' `free_stake`: expected a finite number >= 0, got -1\.0"
    ):
        load_accounts(pl.DataFrame({"agent_id": ["x"], "free_stake": [-1.0]}))
    with pytest.raises(InputError, match="`agent_id` 'x' appears 2 times"):
        load_accounts(pl.DataFrame({"agent_id": ["x", "x"]}))


def test_events_tables_carry_settlements_through_the_journal_schema() -> None:
    events = settlement_events(
        allocation(),
        pl.DataFrame({"bid_id": ["b1"], "outcome": ["poor"]}),
        run_id="r1",
        terms=TERMS,
    )
    table = events_table(events.with_columns(seq=pl.lit(9, dtype=pl.Int64)))
    (event,) = events_from_table(table)
    assert (event.kind, event.run_id, event.amount, event.price) == ("settled", "r1", 20.0, 30.0)
    assert json.loads(event.payload or "") == {
        "outcome": "poor",
        "bonus": 0.0,
        "slash": 10.0,
        "decay": 0.9,
        "slash_free": False,
        "side": "buy",
    }
