"""Clear the markets that need no integer program: sealed bids and clocks.

In ``english`` and ``dutch`` markets each bid is a proxy: its ``price`` is
the most its agent pays, and the proxy answers the clock truthfully from it;
with live bidders (:class:`econonexus.agents.live.LiveBidders`) the agents
answer each round's price themselves. In a
``clock`` market each agent demands at most one of its bids per round.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import polars as pl

from econonexus._core.market_settings import MarketSettings
from econonexus._core.schemas import Status
from econonexus.pipelines.clearing.market_rows import (
    allocation_frame,
    empty_prices,
    prices_frame,
    summary_row,
)
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.solvers.clock import (
    Bidders,
    ClockAuctions,
    ClockOutcome,
    ProxyBidders,
    dutch,
    english,
)
from econonexus.solvers.discovery import ascending_clock
from econonexus.solvers.market import clear_market, relative_gap
from econonexus.solvers.problem import build_problem, tie_weights
from econonexus.solvers.sealed import SealedRule, auction_starts, clear_sealed

MarketRows = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]
BiddersFor = Callable[[pl.DataFrame], Bidders]
"""Makes a clock's bidders from its lots (live agents: ``econonexus.agents.live.LiveBidders``)."""


def clear_single_item(
    market_id: str,
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    settings: MarketSettings,
    bidders: BiddersFor | None = None,
) -> MarketRows:
    """Clear a ``sealed-first-price``, ``vickrey``, ``english`` or ``dutch`` market.

    ``bidders`` makes the clock's bidders from its lots (one row per bid:
    ``agent_id``, ``market_id``, ``item_id``, ``bid_id``, ``price``);
    default: truthful proxies of the bids' prices. Returns the market's
    allocations, summary row and price path.
    """
    start = time.perf_counter()
    lots = _lots(bids, items, settings)
    prices = empty_prices()
    status: Status = "optimal" if bids.height else "empty"
    rounds = None
    if settings.kind.sealed_rule is not None:
        rule: SealedRule = settings.kind.sealed_rule
        results = clear_sealed(lots, rule=rule).select("bid_id", "won", "payment")
    elif lots.height == 0:
        results = lots.select("bid_id", won=pl.lit(False), payment=pl.lit(0.0))
    else:
        lots = lots.sort("item_id", "bid_id")
        outcome, item_ids, unreachable = _run_clock(lots, settings, bidders)
        results = lots.select("bid_id").with_columns(
            won=pl.Series(outcome.won), payment=pl.Series(outcome.payment)
        )
        prices = prices_frame(market_id, item_ids, outcome.path)
        rounds = int(outcome.rounds.max()) if len(outcome.rounds) else 0
        status = "time_limit" if outcome.hit_limit.any() else status
        if unreachable:  # a clock without some of its bidders is not this market's answer
            results = results.with_columns(won=pl.lit(False), payment=pl.lit(0.0))
            status = "error"
    allocations = allocation_frame(bids, results)
    summary = _summary(
        market_id,
        settings,
        allocations,
        status,
        start,
        components=lots["item_id"].n_unique(),
        rounds=rounds,
    )
    return allocations, summary, prices


def _lots(bids: pl.DataFrame, items: pl.DataFrame | None, settings: MarketSettings) -> pl.DataFrame:
    """One row per bid: its auction (market, item), units on sale and reserve."""
    lots = bids.select(
        "market_id", pl.col("items").list.first().alias("item_id"), "bid_id", "agent_id", "price"
    )
    if items is None or items.height == 0:
        return lots.with_columns(units=pl.lit(settings.units), reserve=pl.lit(settings.reserve))
    terms = items.select("item_id", units="supply", reserve="reserve_price")
    return lots.join(terms, on="item_id", how="left").with_columns(
        pl.col("units").fill_null(settings.units), pl.col("reserve").fill_null(settings.reserve)
    )


def _run_clock(
    lots: pl.DataFrame, settings: MarketSettings, bidders_for: BiddersFor | None
) -> tuple[ClockOutcome, list[str], dict[str, str]]:
    """Run one English or Dutch clock per item of ``lots`` (sorted by item).

    Also returns the live bidders that could not answer some round (agent: why).
    """
    starts = auction_starts(lots.select("market_id", "item_id"))
    assert starts is not None  # lots are sorted by item
    reserve = lots["reserve"].to_numpy()[starts].astype(np.float64)
    market, bid_ids = lots["market_id"].to_numpy(), lots["bid_id"].to_numpy()

    def weights(rows: np.ndarray) -> np.ndarray:
        return tie_weights(market[rows].tolist(), bid_ids[rows].tolist())

    auctions = ClockAuctions(starts, lots.height, weights)
    bidders = (
        ProxyBidders(lots["price"].to_numpy().astype(np.float64))
        if bidders_for is None
        else bidders_for(lots)
    )
    if settings.kind.ascending:
        assert settings.increment is not None
        outcome = english(
            auctions,
            bidders,
            start=reserve,
            increment=settings.increment,
            max_rounds=settings.max_rounds,
        )
    else:
        assert settings.start_price is not None
        step = settings.decrement or settings.increment
        assert step is not None
        outcome = dutch(
            auctions,
            bidders,
            start=np.full(len(starts), settings.start_price),
            decrement=step,
            floor=reserve,
            max_rounds=settings.max_rounds,
        )
    left_out = getattr(bidders, "left_out", None)
    unreachable: dict[str, str] = left_out() if callable(left_out) else {}
    return outcome, lots["item_id"].gather(starts).to_list(), unreachable


def clear_clock_market(
    market_id: str,
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    settings: MarketSettings,
    options: BatchOptions,
) -> MarketRows:
    """Run price discovery on a ``clock`` market and compare it with the optimum.

    Each agent demands one bundle, so the optimum is solved with all of an
    agent's bids in one XOR group.
    """
    start = time.perf_counter()
    one_each = bids.with_columns(xor_group=pl.lit("one-bundle"))  # one bid per agent
    problem = build_problem(
        market_id,
        one_each,
        items,
        tie_epsilon=options.tie_epsilon,
        default_reserve=settings.reserve,
    )
    if problem.n_bids == 0:
        allocations = allocation_frame(bids, pl.DataFrame(schema={"bid_id": pl.String}))
        summary = _summary(market_id, settings, allocations, "empty", start, rounds=0)
        return allocations, summary, empty_prices()
    assert settings.increment is not None
    outcome = ascending_clock(problem, increment=settings.increment, max_rounds=settings.max_rounds)
    optimum = clear_market(
        problem, solver=options.solver, limits=options.limits, enumerate_max=options.enumerate_max
    )
    results = pl.DataFrame(
        {
            "bid_id": problem.bid_ids.tolist(),
            "won": outcome.won.tolist(),
            "payment": outcome.payment.tolist(),
        }
    )
    allocations = allocation_frame(bids, results)
    welfare = float(problem.price[outcome.won].sum())
    efficiency = welfare / optimum.welfare if optimum.welfare > 0 else 1.0
    status: Status = "time_limit" if outcome.hit_limit else "optimal"
    summary = _summary(
        market_id,
        settings,
        allocations,
        status,
        start,
        components=1,
        rounds=outcome.rounds,
        efficiency=efficiency,
    ).with_columns(bound=pl.lit(optimum.bound), gap=pl.lit(relative_gap(optimum.bound, welfare)))
    prices = prices_frame(market_id, problem.item_ids.tolist(), outcome.path)
    return allocations, summary, prices


def _summary(
    market_id: str,
    settings: MarketSettings,
    allocations: pl.DataFrame,
    status: Status,
    start: float,
    *,
    components: int = 0,
    rounds: int | None = None,
    efficiency: float | None = None,
) -> pl.DataFrame:
    """The summary row of a market cleared without a solver: welfare is its own bound."""
    welfare = float(allocations.filter("won")["price"].sum())
    return summary_row(
        market_id,
        settings,
        status=status,
        allocations=allocations,
        welfare=welfare,
        bound=welfare,
        gap=0.0,
        solver=settings.format,
        seconds=time.perf_counter() - start,
        components=components,
        rounds=rounds,
        efficiency=efficiency,
    )
