"""Sanctions on manipulation (``on_flag``): a first pass of a run finds its flags.

The detector judges bids by the auctions' outcome (a ring's wins rotate), so
a run with a market whose policy acts on flags (``on_flag: exclude`` or
``halt``) is cleared twice. A first pass, in memory and never written, finds
the flagged agents; the run itself then rejects their bids in ``exclude``
markets (in ``rejected``, with the detector's reason) and halts every
``halt`` market a flagged agent bid in (rule ``manipulation``; halts need
``out``, as every circuit breaker does). The first pass's flags are reported
with the run's own. One pass only: an agent flagged once others are excluded
is recorded, not sanctioned, until the next run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import polars as pl
from distributed import Client

from econonexus.pipelines.graph.batch import run_batch
from econonexus.pipelines.io.flag_sanctions import Sanctions, acting_markets
from econonexus.pipelines.io.market_policy import MarketPolicy

if TYPE_CHECKING:
    from econonexus.pipelines.graph.run_publish import RunBatch


def with_sanctions(
    client: Client,
    batch: RunBatch,
    keys: dict[str, bytes] | None,
    seen: pl.DataFrame | None,
    halted: frozenset[str],
    *,
    halts: bool,
) -> RunBatch:
    """``batch`` with the sanctions its flags impose (unchanged when no market acts on
    flags, or nobody is flagged). ``halts``: whether the run can halt markets (it writes
    to ``out``); else only ``exclude`` markets ask for the first pass."""
    options = batch.options
    acting = {"exclude", "halt"} if halts else {"exclude"}
    if not any(p.on_flag in acting for p in options.policies.values()):
        return batch
    probe = run_batch(
        client,
        batch.read.parts,
        batch.item_table,
        options,
        batch.read.errors,
        markets=batch.read.markets,
        accounts=batch.accounts,
        keys=keys,
        seen=seen,
        halted=halted,
    )
    if probe.flagged.height == 0:
        return batch
    sanctions = sanctions_of(probe.flagged, probe.allocations, options.policies)
    return replace(batch, options=replace(options, sanctions=sanctions))


def sanctions_of(
    flagged: pl.DataFrame, allocations: pl.DataFrame, policies: dict[str, MarketPolicy]
) -> Sanctions:
    """What ``flagged`` agents (who bid as in ``allocations``) incur under ``policies``."""
    why = flagged.group_by("agent_id").agg(
        pl.format("{} ({})", "kind", "reason").sort().str.join("; ").alias("why")
    )
    bidders = allocations.select("market_id", "agent_id").unique().join(why, on="agent_id")
    excluding = pl.col("market_id").is_in(acting_markets(policies, "exclude"))
    excluded = bidders.filter(excluding).select("agent_id", "why").unique("agent_id")
    halting = bidders.filter(pl.col("market_id").is_in(acting_markets(policies, "halt")))
    halts = {
        str(market): _halt_reason(sorted(group["agent_id"].to_list()))
        for (market,), group in halting.partition_by("market_id", as_dict=True).items()
    }
    return Sanctions(dict(excluded.iter_rows()), halts, flagged)


def _halt_reason(agents: list[str]) -> str:
    shown = ", ".join(agents[:5]) + (f" and {len(agents) - 5} more" if len(agents) > 5 else "")
    return f"{len(agents)} flagged agent(s) bid: {shown} (on_flag: halt)"
