"""Agents against the clearing pipeline for several rounds: ``econonexus simulate``.

Each round: every shard's bids into one Arrow table, clear it (written to
``OUT/rounds/round-NNNNN``), turn the allocations into ``bid_won``/``bid_lost``
events, deliver them through the journal, settle every win as
``satisfactory`` (payments collected, stakes released), snapshot every shard. A shard lost
with its worker is rebuilt from its snapshot plus the journal and the step is
retried, so a run with ``chaos`` ends with the same agents as one without.
"""

from __future__ import annotations

import html
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import fsspec
import numpy as np
import polars as pl
from distributed import Client

from econonexus._core.config import get_setting
from econonexus._core.errors import EconoNexusError, InputError, RunFailedError
from econonexus._core.market_settings import MarketSettings
from econonexus.agents.journal import read_journal
from econonexus.agents.live import LiveBidders
from econonexus.agents.outcomes import outcome_events
from econonexus.agents.pool import AgentPool
from econonexus.agents.pool_results import BidRound
from econonexus.agents.population import population
from econonexus.pipelines.graph.cluster import connect
from econonexus.pipelines.graph.run import clear
from econonexus.pipelines.io.market_table import MarketsSource, load_markets
from econonexus.pipelines.ops.delegate import delegated_items
from econonexus.pipelines.ops.settle_run import settle
from econonexus.pipelines.store.clearing_result import ClearingResult


def default_markets() -> dict[str, dict[str, Any]]:
    """The simulation's market mix: the setting ``simulate.markets``."""
    markets: dict[str, dict[str, Any]] = dict(get_setting("simulate.markets"))
    return markets


ATTEMPTS = 3
_CHAOS_SALT = 0x5EED_CA05
T = TypeVar("T")

SimulationPlotKind = Literal["all", "rounds", "reputation", "balances"]


@dataclass(frozen=True)
class SimulationResult:
    """Final agent states, one row per round, agents left out of a round (shard unreachable
    after recovery attempts) and every agent event, as written under ``out``."""

    agents: pl.DataFrame
    rounds: pl.DataFrame
    left_out: pl.DataFrame
    events: pl.DataFrame
    out: str

    def __repr__(self) -> str:
        return (
            f"<SimulationResult {self.agents.height} agents, {self.rounds.height} rounds, "
            f"{self.events.height} events, {self.left_out.height} left out; {self.out}>"
        )

    def _repr_html_(self) -> str:
        """The simulation in a notebook: its size and the table of rounds."""
        mean, low = self.agents.select(
            pl.col("reputation").mean().alias("mean"), pl.col("reputation").min().alias("low")
        ).row(0)
        head = (
            f"<p><b>Simulation</b> {html.escape(self.out)}: {self.agents.height} agents, "
            f"{self.rounds.height} rounds; reputation mean {mean or 0:.3f}, "
            f"min {low or 0:.3f}; {self.left_out.height} agent-rounds left out</p>"
        )
        return head + self.rounds.drop("recovered_shards")._repr_html_()

    def plot(self, kind: SimulationPlotKind = "all") -> Any:
        """Bokeh plots: ``rounds`` (welfare and revenue per round), ``reputation``
        and ``balances`` (histograms over agents), or ``all``."""
        from econonexus.pipelines.dashboard.plots import (
            agent_plots,  # Bokeh loads only when plotting
        )

        return agent_plots(self.agents, kind, rounds=self.rounds)


def simulate(
    *,
    agents: int,
    shards: int,
    rounds: int,
    seed: int,
    out: str,
    markets: MarketsSource | None = None,
    items_per_market: int = 8,
    chaos: bool = False,
    client: Client | str | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> SimulationResult:
    """Run ``agents`` agents in ``shards`` shards for ``rounds`` rounds and write the results.

    ``markets`` (a URL, table or dict as for :func:`econonexus.clear`) names
    the markets; each offers ``items_per_market`` items ``<market>-i<k>``. Default: one
    first-price, one Vickrey, one English, one combinatorial and one procurement market
    (``items_per_market`` tasks ``<market>-t<k>`` that agents able to do it offer on).
    ``chaos`` kills a worker process holding shards in about half the rounds.
    """
    counts = {"agents": agents, "shards": shards, "rounds": rounds}
    for name, value in (*counts.items(), ("items_per_market", items_per_market)):
        if value < 1:
            raise InputError(f"`{name}`: expected a whole number >= 1, got {value}")
    markets = markets if markets is not None else default_markets()
    settings = load_markets(markets)
    offer = _offer(settings, items_per_market)
    tasks = sim_tasks(settings, items_per_market, seed=seed)
    people = population(agents, offer, seed=seed, sells=sorted(set(tasks["capability"])))
    out = out.rstrip("/")
    chaos_rng = random.Random(seed ^ _CHAOS_SALT) if chaos else None
    with connect(client, n_workers=workers) as c:
        pool = AgentPool.create(c, people, shards=shards, root=f"{out}/agents")
        try:
            played = [
                _round(
                    pool,
                    c,
                    (offer, tasks),
                    markets,
                    r,
                    seed=seed,
                    out=out,
                    chaos=chaos_rng,
                    log=log,
                )
                for r in range(rounds)
            ]
            states = pool.states()
        finally:
            pool.close()
    records = pl.DataFrame([record for record, _ in played])
    left_out = pl.concat([left for _, left in played])
    return _write(out, states, records, left_out, read_journal(f"{out}/agents"))


def _offer(settings: dict[str, MarketSettings], items: int) -> pl.DataFrame:
    rows = [
        (market, f"{market}-i{k}", s.format)
        for market, s in sorted(settings.items())
        if s.side == "buy"
        for k in range(items)
    ]
    return pl.DataFrame(rows, schema=["market_id", "item_id", "format"], orient="row")


def sim_tasks(settings: dict[str, MarketSettings], n: int, *, seed: int) -> pl.DataFrame:
    """``n`` tasks ``<market>-t<k>`` per procurement market: its capability is the market's
    name, one unit each, the buyer's value uniform in [40, 80)."""
    names = [m for m, s in sorted(settings.items()) if s.side == "sell"]
    rng = np.random.default_rng([seed, 0x7A5C])
    return pl.DataFrame(
        {
            "task_id": [f"{m}-t{k}" for m in names for k in range(n)],
            "capability": [m for m in names for _ in range(n)],
            "quantity": pl.Series([1] * (n * len(names)), dtype=pl.Int64),
            "reserve": rng.uniform(40, 80, n * len(names)).round(2),
        }
    )


def _round(
    pool: AgentPool,
    client: Client,
    wanted: tuple[pl.DataFrame, pl.DataFrame],
    markets: MarketsSource,
    r: int,
    *,
    seed: int,
    out: str,
    chaos: random.Random | None,
    log: Callable[[str], None] | None,
) -> tuple[dict[str, Any], pl.DataFrame]:
    started = time.perf_counter()
    offer, tasks = wanted
    phase = None if chaos is None or chaos.random() < 0.5 else chaos.choice(["bids", "deliver"])
    killed = _kill_holder(pool, client, chaos) if phase == "bids" else None
    recovered: list[int] = []
    bids = _collect_bids(pool, offer, seed=seed, round_no=r, recovered=recovered)
    offers = _collect_offers(pool, tasks, seed=seed, round_no=r, recovered=recovered)
    every = pl.concat([pl.DataFrame(bids.bids), pl.DataFrame(offers.bids)])
    run_id = f"round-{r:05d}"
    live = LiveBidders(pool, seed=seed, round_no=r)
    items = delegated_items(tasks) if tasks.height else None
    result = _clear(
        every, markets, client, out=f"{out}/rounds", run_id=run_id, bidders=live, items=items
    )
    events = outcome_events(
        result.allocations,
        run_id=run_id,
        flagged=result.flagged,
        sell_markets=set(tasks["capability"]),
        bids=every,
    )
    if phase == "deliver":
        killed = _kill_holder(pool, client, chaos)
    delivery = pool.deliver(events)
    if delivery.failed:
        recovered += [m.shard_id for m in _recover(pool, sorted(delivery.failed))]
    winners = result.allocations.filter(pl.col("won")).select("bid_id")
    settle(result, winners.with_columns(outcome=pl.lit("satisfactory")), pool=pool)
    _with_recovery(pool, recovered, lambda: _complete_snapshot(pool.snapshot()))
    record = {
        "round": r,
        "run_id": run_id,
        "bids": bids.bids.num_rows,
        "offers": offers.bids.num_rows,
        "left_out": bids.left_out.height + offers.left_out.height + len(live.unreachable),
        "winners": int(result.summary["n_winners"].sum()),
        "welfare": float(result.summary["welfare"].sum()),
        "revenue": float(result.summary["revenue"].sum()),
        "events": delivery.last_seq - delivery.first_seq + 1,
        "killed_worker": killed,
        "recovered_shards": sorted(set(recovered)),
        "seconds": time.perf_counter() - started,
    }
    if log is not None:
        log(_line(record))
    left = pl.concat([bids.left_out, offers.left_out]).unique(maintain_order=True)
    return record, left.select(pl.lit(r).alias("round"), pl.all())


class _Incomplete(EconoNexusError):
    def __init__(self, shards: list[int], detail: str):
        super().__init__(detail)
        self.shards = shards


def _clear(
    bids: Any,
    markets: MarketsSource,
    client: Client,
    *,
    out: str,
    run_id: str,
    bidders: LiveBidders,
    items: pl.DataFrame | None,
) -> ClearingResult:
    """Clear the round, the agents answering English and Dutch clocks live; a run that failed
    (nothing written) is tried again, as a scheduler would."""
    for attempt in range(ATTEMPTS):
        try:
            return clear(
                bids,
                markets=markets,
                items=items,
                client=client,
                out=out,
                run_id=run_id,
                bidders=bidders,
            )
        except RunFailedError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _collect_bids(
    pool: AgentPool, offer: pl.DataFrame, *, seed: int, round_no: int, recovered: list[int]
) -> BidRound:
    """The round's bids; shards left out are recovered and asked again, up to ATTEMPTS times.

    After that the round goes on without them; the caller records who was left out.
    """
    for _ in range(ATTEMPTS - 1):
        bids = pool.bid_round(offer, seed=seed, round_no=round_no)
        recovered += [m.shard_id for m in bids.moved if m.kind == "recovered"]
        if bids.left_out.is_empty():
            return bids
        shards = sorted(set(bids.left_out["shard_id"].to_list()))
        recovered += [m.shard_id for m in _recover(pool, shards)]
    return pool.bid_round(offer, seed=seed, round_no=round_no)


def _collect_offers(
    pool: AgentPool, tasks: pl.DataFrame, *, seed: int, round_no: int, recovered: list[int]
) -> BidRound:
    """The agents' sell offers on the round's tasks; shards left out are recovered once."""
    offers = pool.offers(tasks, seed=seed, round_no=round_no)
    if offers.left_out.is_empty():
        return offers
    shards = sorted(set(offers.left_out["shard_id"].to_list()))
    recovered += [m.shard_id for m in _recover(pool, shards)]
    return pool.offers(tasks, seed=seed, round_no=round_no)


def _complete_snapshot(pointers: pl.DataFrame) -> pl.DataFrame:
    failed = pointers.filter(pl.col("error").is_not_null())
    if failed.height:
        raise _Incomplete(failed["shard_id"].to_list(), f"snapshot failed: {failed['error'][0]}")
    return pointers


def _with_recovery(pool: AgentPool, recovered: list[int], step: Callable[[], T]) -> T:
    """Run ``step``; on lost shards, recover them and run it again (up to ATTEMPTS times)."""
    for attempt in range(ATTEMPTS):
        try:
            return step()
        except _Incomplete as exc:
            if attempt == ATTEMPTS - 1:
                raise EconoNexusError(
                    f"simulation step failed after {ATTEMPTS} recoveries: {exc}"
                ) from exc
            recovered += [m.shard_id for m in _recover(pool, exc.shards)]
    raise AssertionError("unreachable")


def _recover(pool: AgentPool, shards: list[int]) -> list[Any]:
    """Rebuild ``shards`` once the scheduler has seen their worker go (up to 30 s)."""
    deadline = time.monotonic() + 30
    while not set(shards) <= set(pool.lost_shards()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return pool.recover(shards)


def _kill_holder(pool: AgentPool, client: Client, chaos: random.Random | None) -> str | None:
    """Kill a worker process holding shards, as Dask's chaos tools do (``os._exit`` there)."""
    assert chaos is not None
    holders = sorted(set(pool.placement().values()))
    if len(client.scheduler_info(n_workers=-1)["workers"]) < 2 or not holders:
        return None
    victim = chaos.choice(holders)
    client.run(_exit_soon, workers=[victim])
    deadline = time.monotonic() + 30
    while victim in client.scheduler_info(n_workers=-1)["workers"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return victim


def _exit_soon() -> None:
    threading.Timer(0.05, os._exit, args=(1,)).start()


def _write(
    out: str, states: pl.DataFrame, rounds: pl.DataFrame, left: pl.DataFrame, events: pl.DataFrame
) -> SimulationResult:
    fs, base = fsspec.core.url_to_fs(out)
    fs.makedirs(base, exist_ok=True)
    tables = {"agents": states, "rounds": rounds, "left_out": left, "events": events}
    for name, frame in tables.items():
        with fs.open(f"{base}/{name}.parquet", "wb") as fh:
            frame.write_parquet(fh)
    return SimulationResult(states, rounds, left, events, out)


def _line(record: dict[str, Any]) -> str:
    chaos = f", killed {record['killed_worker']}" if record["killed_worker"] else ""
    recovered = (
        f", recovered shards {record['recovered_shards']}" if record["recovered_shards"] else ""
    )
    return (
        f"round {record['round']}: {record['bids']} bids, {record['offers']} offers, "
        f"{record['winners']} winners, "
        f"welfare {record['welfare']:.2f}, {record['seconds']:.2f} s{chaos}{recovered}"
    )
