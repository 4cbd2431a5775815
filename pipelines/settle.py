"""Settle a cleared run against the agents: ``econonexus settle RUN_URL --outcomes URL``.

Exactly once: the journal is the record of what was settled. Settling a run
skips every winning bid whose ``settled`` event is already journaled, so a
second call changes nothing and says so, and a call interrupted half-way
(events are journaled in chunks of ``economics.settle-chunk``) resumes with
the bids it had not reached. After each settlement every agent's money is
checked: holdings equal net inflows, so balances + stakes + the slashed pool
+ the market's account always add up to what came in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import polars as pl
import pyarrow as pa

from econonexus._config import get_setting
from econonexus._errors import EconoNexusError
from econonexus.agents.journal import read_journal
from econonexus.agents.pool import AgentPool
from econonexus.agents.settlement import SettlementTerms, settlement_events
from econonexus.pipelines.outputs import read_run
from econonexus.pipelines.readers import table_of
from econonexus.pipelines.result import ClearingResult

OutcomesSource: TypeAlias = str | pa.Table | pl.DataFrame
TOLERANCE = 1e-6


@dataclass(frozen=True)
class SettlementReport:
    """What one call settled, what was settled before it, and the money totals after it."""

    run_id: str
    settled: int
    already: int
    outcomes: dict[str, int] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)
    unsnapshotted: tuple[int, ...] = ()
    """Shards whose snapshot after settling failed twice: their state is safe in the
    journal (recovery replays it), only the replay is longer."""

    @property
    def message(self) -> str:
        """One line for the terminal."""
        if self.settled == 0:
            return f"run {self.run_id}: already settled ({self.already} bids); nothing changed"
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
        resumed = f" (resumed: {self.already} were settled before)" if self.already else ""
        missed = (
            f"; no snapshot of shards {list(self.unsnapshotted)} (their journal has it all)"
            if self.unsnapshotted
            else ""
        )
        return f"run {self.run_id}: settled {self.settled} winning bids: {counts}{resumed}{missed}"


def settle(
    run: str | ClearingResult,
    outcomes: OutcomesSource,
    *,
    pool: AgentPool,
    terms: SettlementTerms | None = None,
    chunk: int | None = None,
) -> SettlementReport:
    """Apply one outcome per winning bid of ``run`` to the agents of ``pool``, exactly once.

    Parameters
    ----------
    run
        A stored run (``<out>/<run_id>``) or a :class:`ClearingResult`.
    outcomes
        ``bid_id`` and ``outcome`` (``excellent``, ``satisfactory``, ``poor``,
        ``byzantine``) per winning bid: a URL (Parquet, CSV, ...) or a table.
    pool
        The agents (their accounts); settlement events go through its journal.
    terms, chunk
        Bonus, slashing and reputation settings, and events per journal
        entry (defaults: the ``economics.*`` settings).
    """
    result = ClearingResult.from_stored(read_run(run)) if isinstance(run, str) else run
    run_id = result.run_id
    events = settlement_events(
        result.allocations,
        table_of(outcomes),
        run_id=run_id,
        terms=terms or SettlementTerms.from_config(),
    )
    done = read_journal(pool.root, run_id=run_id).filter(pl.col("kind") == "settled")
    todo = events.join(done.select("bid_id"), on="bid_id", how="anti")
    size = chunk or int(get_setting("economics.settle-chunk"))
    for start in range(0, todo.height, size):
        delivery = pool.deliver(todo.slice(start, size))
        if delivery.failed:
            pool.recover(sorted(delivery.failed))
    pool.recover()  # any shard lost meanwhile, even one this settlement had no event for
    totals = check_conservation(pool.states())
    unsnapshotted = _snapshot(pool) if todo.height else ()
    counts = todo.with_columns(pl.col("payload").str.json_path_match("$.outcome").alias("o"))["o"]
    return SettlementReport(
        run_id,
        todo.height,
        done.height,
        dict(counts.value_counts().iter_rows()),
        totals,
        unsnapshotted,
    )


def _snapshot(pool: AgentPool) -> tuple[int, ...]:
    """Snapshot every shard, trying the ones that failed once more; return those still failing."""
    failed: list[int] = []
    for _ in range(2):
        pointers = pool.snapshot()
        failed = pointers.filter(pl.col("error").is_not_null())["shard_id"].to_list()
        if not failed:
            break
    return tuple(failed)


def check_conservation(states: pl.DataFrame) -> dict[str, float]:
    """Check every agent's money adds up; return the totals of the whole population.

    Raises
    ------
    EconoNexusError
        Naming the first agent whose holdings differ from its net inflows.
    """
    holdings = pl.col("balance") + pl.col("free_stake") + pl.col("locked_stake")
    inflow = pl.col("deposited") - pl.col("withdrawn")
    market = pl.col("paid") - pl.col("bonuses")
    gap = holdings + market + pl.col("slashed") - inflow
    bad = states.filter(gap.abs() > TOLERANCE * (1 + inflow.abs()))
    if bad.height:
        row = bad.row(0, named=True)
        raise EconoNexusError(
            f"conservation violated for agent {row['agent_id']!r}: balance + stakes + payments "
            f"+ slashed - bonuses != deposits - withdrawals ({bad.height} agents off)"
        )
    sums = states.select(
        pl.col("balance").sum(),
        pl.col("free_stake").sum(),
        pl.col("locked_stake").sum(),
        pl.col("slashed").sum().alias("slashed_pool"),
        market.sum().alias("market_account"),
        inflow.sum().alias("net_inflow"),
    )
    return {k: float(v) for k, v in sums.row(0, named=True).items()}
