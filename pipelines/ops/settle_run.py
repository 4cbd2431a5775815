"""Settle a cleared run against the agents: ``econonexus settle RUN_URL --outcomes URL``.

Exactly once: the journal is the record of what was settled. Settling a run
skips every winning bid whose ``settled`` event is already journaled, so a
second call changes nothing and says so, and a call interrupted half-way
(events are journaled in chunks of ``economics.settle-chunk``) resumes with
the bids it had not reached. After each settlement every agent's money is
checked: holdings equal net inflows, so balances + stakes + the slashed pool
+ the market's account always add up to what came in.

Settle trusts nothing it is handed: a stored run is read against the hashes
of its manifest (an edited payment is an :class:`~econonexus.IntegrityError`),
and every settlement is first tried on a copy of its agent's current state
(the same pure state machine the shards run). A bid whose agent is not in the
pool, or whose settlement the state refuses (a negative payment, a stake the
agent does not hold), is not delivered: it is listed in ``unsettled`` with
the reason, and the CLI exits 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypeAlias

import polars as pl
import pyarrow as pa

from econonexus._core.config import get_setting
from econonexus._core.errors import AgentStateError, EconoNexusError
from econonexus._core.formats import names
from econonexus.agents.events import events_from_table
from econonexus.agents.journal import read_journal
from econonexus.agents.pool import AgentPool
from econonexus.agents.settlement import SettlementTerms, settlement_events
from econonexus.agents.shard import ApplyReport
from econonexus.agents.snapshot import table_states
from econonexus.agents.state import apply
from econonexus.pipelines.io.readers import table_of
from econonexus.pipelines.store.clearing_result import ClearingResult, load_run

OutcomesSource: TypeAlias = str | pa.Table | pl.DataFrame
TOLERANCE = 1e-6
UNSETTLED = {"bid_id": pl.String, "agent_id": pl.String, "reason": pl.String}


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
    unsettled: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=UNSETTLED))
    """Winning bids not settled (``bid_id``, ``agent_id``, ``reason``): nothing was applied."""

    @property
    def ok(self) -> bool:
        """True when every winning bid of the run is settled."""
        return self.unsettled.is_empty()

    @property
    def message(self) -> str:
        """One line for the terminal."""
        if not self.ok:
            lines = [
                f"  {r['bid_id']} (agent {r['agent_id']}): {r['reason']}"
                for r in self.unsettled.iter_rows(named=True)
            ]
            head = f"run {self.run_id}: {self.unsettled.height} winning bids NOT settled"
            return "\n".join([f"{head} ({self.settled} settled):", *lines])
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
    result = load_run(run) if isinstance(run, str) else run
    run_id = result.run_id
    events = settlement_events(
        result.allocations,
        table_of(outcomes),
        run_id=run_id,
        terms=terms or SettlementTerms.from_config(),
        sell_markets=sell_markets(result),
    )
    done = read_journal(pool.root, run_id=run_id).filter(pl.col("kind") == "settled")
    todo, refused = _try_on_copies(
        events.join(done.select("bid_id"), on="bid_id", how="anti"), pool
    )
    size = chunk or int(get_setting("economics.settle-chunk"))
    for start in range(0, todo.height, size):
        part = todo.slice(start, size)
        delivery = pool.deliver(part)
        refused.extend(_rejected_in(delivery.reports, part, delivery.first_seq))
        if delivery.failed:
            pool.recover(sorted(delivery.failed))
    pool.recover()  # any shard lost meanwhile, even one this settlement had no event for
    totals = check_conservation(pool.states())
    unsnapshotted = _snapshot(pool) if todo.height else ()
    unsettled = pl.DataFrame(refused, schema=UNSETTLED, orient="row").sort("bid_id")
    todo = todo.join(unsettled.select("bid_id"), on="bid_id", how="anti")
    counts = todo.with_columns(pl.col("payload").str.json_path_match("$.outcome").alias("o"))["o"]
    return SettlementReport(
        run_id,
        todo.height,
        done.height,
        dict(counts.value_counts().iter_rows()),
        totals,
        unsnapshotted,
        unsettled,
    )


def sell_markets(result: ClearingResult) -> list[str]:
    """The markets of ``result`` whose bids are sell offers (procurement)."""
    selling = names(side="sell")
    return result.summary.filter(pl.col("format").is_in(selling))["market_id"].to_list()


def _try_on_copies(
    events: pl.DataFrame, pool: AgentPool
) -> tuple[pl.DataFrame, list[tuple[str, str, str]]]:
    """The events that apply to copies of their agents' states, and the others with reasons."""
    agents = pool.states().filter(pl.col("agent_id").is_in(events["agent_id"].unique().implode()))
    states = {s.agent_id: s for s in table_states(agents.to_arrow())}
    numbered = events.with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64))
    refused: list[tuple[str, str, str]] = []
    for event in events_from_table(numbered):
        state = states.get(event.agent_id)
        try:
            if state is None:
                raise AgentStateError(f"agent {event.agent_id!r} is not in the pool {pool.root!r}")
            for name, value in (("payment", event.price), ("stake", event.amount)):
                if value is None or not math.isfinite(value) or value < 0:
                    raise AgentStateError(f"`{name}`: expected a finite number >= 0, got {value}")
            states[event.agent_id] = apply(state, event)
        except AgentStateError as exc:
            refused.append((str(event.bid_id), event.agent_id, str(exc)))
    keep = events.join(
        pl.DataFrame({"bid_id": [r[0] for r in refused]}, schema={"bid_id": pl.String}),
        on="bid_id",
        how="anti",
    )
    return keep, refused


def _rejected_in(
    reports: tuple[ApplyReport, ...], part: pl.DataFrame, first_seq: int
) -> list[tuple[str, str, str]]:
    """Events a shard refused after all (journaled, not applied): by bid, with the reason."""
    rows = part.with_row_index("i")
    found = []
    for report in reports:
        for seq, reason in report.rejected:
            row = rows.row(seq - first_seq, named=True)
            found.append((row["bid_id"], row["agent_id"], f"refused by its shard: {reason}"))
    return found


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
    market = pl.col("paid") - pl.col("earned") - pl.col("bonuses")
    gap = holdings + market + pl.col("slashed") - inflow
    bad = states.filter(gap.abs() > TOLERANCE * (1 + inflow.abs()))
    if bad.height:
        row = bad.row(0, named=True)
        raise EconoNexusError(
            f"conservation violated for agent {row['agent_id']!r}: balance + stakes + payments "
            f"- earnings + slashed - bonuses != deposits - withdrawals ({bad.height} agents off)"
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
