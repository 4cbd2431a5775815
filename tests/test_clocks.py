"""English, Dutch and multi-item clock auctions: termination and the theory they must meet."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econonexus.solvers.clock import (
    LOOKAHEAD,
    ClockAuctions,
    ProxyBidders,
    dutch,
    english,
)
from econonexus.solvers.discovery import ascending_clock
from econonexus.solvers.market import clear_market
from econonexus.solvers.problem import build_problem, priority_key, tie_weight

values_per_auction = st.lists(
    st.lists(st.floats(1, 100, allow_nan=False).map(lambda v: round(v, 2)), min_size=1, max_size=8),
    min_size=1,
    max_size=20,
)


def _auctions(values: list[list[float]]) -> tuple[ClockAuctions, np.ndarray]:
    flat = np.array([v for auction in values for v in auction])
    starts = np.cumsum([0] + [len(a) for a in values[:-1]]).astype(np.int64)
    return ClockAuctions(starts, len(flat), lambda rows: 1.0 - rows / (len(flat) + 1.0)), flat


@settings(max_examples=80, deadline=None)
@given(values=values_per_auction, increment=st.sampled_from([0.25, 0.5, 2.0]))
def test_english_price_is_within_one_increment_of_the_second_value(
    values: list[list[float]], increment: float
) -> None:
    auctions, flat = _auctions(values)
    out = english(
        auctions,
        ProxyBidders(flat),
        start=np.zeros(len(values)),
        increment=increment,
        max_rounds=100_000,
    )
    assert not out.hit_limit.any()
    for a, start in enumerate(auctions.starts):
        vals = np.array(values[a])
        won = out.won[start : start + len(vals)]
        paid = out.payment[start : start + len(vals)]
        assert won.sum() == 1
        winner = int(np.flatnonzero(won)[0])
        # the highest value wins, unless the top ones left in the same round
        assert vals[winner] >= vals.max() - increment
        second = np.sort(vals)[-2] if len(vals) > 1 else 0.0
        assert abs(paid[winner] - second) <= increment + 1e-9
        assert paid[winner] <= vals[winner] + 1e-9


@settings(max_examples=80, deadline=None)
@given(values=values_per_auction, decrement=st.sampled_from([0.25, 0.5, 2.0]))
def test_dutch_winner_pays_its_own_stop_price(values: list[list[float]], decrement: float) -> None:
    auctions, flat = _auctions(values)
    out = dutch(
        auctions,
        ProxyBidders(flat),
        start=np.full(len(values), 110.0),
        decrement=decrement,
        floor=np.zeros(len(values)),
        max_rounds=100_000,
    )
    for a, start in enumerate(auctions.starts):
        vals = np.array(values[a])
        won = out.won[start : start + len(vals)]
        winner = int(np.flatnonzero(won)[0])
        stop = out.payment[start + winner]
        assert vals[winner] >= vals.max() - decrement  # the top ones may take it together
        # the clock stopped at the first price at or below the winner's value
        assert vals[winner] - decrement < stop <= vals[winner] + 1e-9
        assert stop == pytest.approx(110.0 - decrement * (out.rounds[a] - 1))


def test_clocks_stop_at_the_round_limit_and_say_so() -> None:
    auctions, flat = _auctions([[50.0, 60.0], [5.0]])
    out = english(auctions, ProxyBidders(flat), start=np.zeros(2), increment=1.0, max_rounds=10)
    assert out.hit_limit.tolist() == [True, False]
    assert out.won.sum() == 2 and out.payment[:2].max() == 9.0  # sold at the last price called
    low = dutch(
        auctions,
        ProxyBidders(flat),
        start=np.full(2, 100.0),
        decrement=1.0,
        floor=np.zeros(2),
        max_rounds=5,
    )
    assert not low.won.any() and low.hit_limit.all()


def test_english_simultaneous_drop_goes_to_the_tie_weight_at_the_previous_price() -> None:
    auctions, flat = _auctions([[10.2, 10.4]])
    out = english(auctions, ProxyBidders(flat), start=np.zeros(1), increment=1.0, max_rounds=100)
    # both stay at 10, both leave at 11: the larger tie weight (row 0 here) wins at 10
    assert out.won.tolist() == [True, False] and out.payment[0] == 10.0


def _market(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    items = [f"g{i}" for i in range(6)]
    rows = []
    for b in range(18):
        bundle = sorted(rng.choice(items, size=int(rng.integers(1, 4)), replace=False).tolist())
        rows.append(
            {
                "bid_id": f"b{b}",
                "agent_id": f"a{b % 9}",
                "market_id": "m",
                "items": bundle,
                "quantities": [1] * len(bundle),
                "price": float(rng.integers(5, 40)),
                "xor_group": "clock",
            }
        )
    return pl.DataFrame(rows)


@pytest.mark.parametrize("seed", range(8))
def test_price_discovery_clears_supply_and_reports_efficiency(seed: int) -> None:
    problem = build_problem("m", _market(seed), None, tie_epsilon=1e-6)
    out = ascending_clock(problem, increment=0.25, max_rounds=10_000)
    assert not out.hit_limit
    demand = problem.demand_matrix()[out.won].sum(axis=0)
    assert np.all(demand <= problem.supply)  # feasible
    agents = problem.agent_ids[out.won]
    assert len(set(agents)) == len(agents)  # one bundle per agent
    assert np.all(out.payment[out.won] <= problem.price[out.won] + 1e-9)  # nobody overpays
    optimum = clear_market(problem).welfare
    welfare = float(problem.price[out.won].sum())
    assert 0 < welfare <= optimum + 1e-9
    # prices never fall, and only over-demanded items rise
    item, rounds, price, answers = out.path
    path = pl.DataFrame({"item": item, "round": rounds, "price": price, "demand": answers})
    steps = path.sort("item", "round").with_columns(
        rise=pl.col("price").diff().over("item"), was_over=pl.col("demand").shift().over("item")
    )
    supply = pl.Series(problem.supply.tolist())
    over = steps.with_columns(supply=supply.gather(steps["item"]))
    assert over.filter(pl.col("rise") < 0).height == 0
    assert over.filter((pl.col("rise") > 0) & (pl.col("was_over") <= pl.col("supply"))).height == 0


def test_tie_weights_come_from_the_documented_hash() -> None:
    assert 0.5 < tie_weight(priority_key("m", "b1")) <= 1.0


class _Counted:
    """Proxies that count how often the clock asks them (not :class:`ProxyBidders`, so the
    clock looks ahead as it does for live agents)."""

    def __init__(self, values: np.ndarray) -> None:
        self.proxies, self.calls = ProxyBidders(values), 0

    def respond(self, rows: np.ndarray, prices: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.proxies.respond(rows, prices)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.lists(st.floats(1.0, 60.0), min_size=1, max_size=5), min_size=1, max_size=6),
    step=st.sampled_from([0.5, 1.0, 3.0]),
)
def test_clocks_asking_ahead_end_as_clocks_asked_round_by_round(
    values: list[list[float]], step: float
) -> None:
    """Bidders asked for the next rounds' prices at once give every clock the outcome of
    bidders asked each round, with one call per LOOKAHEAD rounds or fewer."""
    auctions, flat = _auctions(values)
    start = np.ones(len(values))
    for run in (
        lambda b: english(auctions, b, start=start, increment=step, max_rounds=500),
        lambda b: dutch(auctions, b, start=start * 70, decrement=step, floor=start, max_rounds=500),
    ):
        counted = _Counted(flat)
        ahead, each = run(counted), run(ProxyBidders(flat))
        assert np.array_equal(ahead.won, each.won)
        assert np.array_equal(ahead.payment, each.payment)
        assert np.array_equal(ahead.rounds, each.rounds)
        assert all(np.array_equal(a, b) for a, b in zip(ahead.path, each.path, strict=True))
        assert counted.calls <= int(each.rounds.max()) // LOOKAHEAD + 1


def test_an_english_clock_asks_ever_further_ahead() -> None:
    """Ladders of 16, 32, 64, ... prices: a clock of about 900 rounds takes 7 calls, where
    16 prices a call took 57; the outcome is the one asked round by round."""
    auctions, flat = _auctions([[900.0, 901.5]])
    counted = _Counted(flat)
    start = np.ones(1)
    ahead = english(auctions, counted, start=start, increment=1.0, max_rounds=2000)
    each = english(auctions, ProxyBidders(flat), start=start, increment=1.0, max_rounds=2000)
    assert np.array_equal(ahead.payment, each.payment) and int(each.rounds[0]) > 899
    assert counted.calls == 7  # 16 + 32 + 64 + 128 + 256 + 256 + 256 >= 900 rounds
