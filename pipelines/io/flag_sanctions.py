"""What manipulation flags do to the markets whose policy acts on them (``on_flag``).

:mod:`econonexus.pipelines.graph.sanctions` finds the flags of a run before
it clears; this module holds what they impose, as the validation and halt
steps read it: the agents whose bids ``exclude`` markets reject, with the
detector's reason, and the ``halt`` markets that halt with rule
``manipulation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from econonexus.agents.detection import FLAGGED_COLUMNS
from econonexus.pipelines.io.accounts import POSITION
from econonexus.pipelines.io.market_policy import MarketPolicy, OnFlag


@dataclass(frozen=True)
class Sanctions:
    """``excluded``: agent id to the reason its bids are rejected in ``exclude`` markets;
    ``halts``: market id to why it halts; ``flagged``: the flags that imposed them
    (``FLAGGED_COLUMNS``), reported with the run's own."""

    excluded: dict[str, str] = field(default_factory=dict)
    halts: dict[str, str] = field(default_factory=dict)
    flagged: pl.DataFrame | None = None


NO_SANCTIONS = Sanctions()


def acting_markets(policies: dict[str, MarketPolicy], action: OnFlag) -> list[str]:
    """The markets whose ``on_flag`` is ``action``."""
    return sorted(m for m, p in policies.items() if p.on_flag == action)


def excluded_rows(
    valid: pl.DataFrame, policies: dict[str, MarketPolicy], sanctions: Sanctions
) -> pl.DataFrame | None:
    """Rows of ``exclude`` markets bid by an excluded agent (``_source``, ``_row``,
    ``bid_id``, ``field``, ``reason``), or ``None`` when no market excludes anyone."""
    markets = acting_markets(policies, "exclude")
    if not sanctions.excluded or not markets:
        return None
    reasons = pl.DataFrame(
        {"agent_id": list(sanctions.excluded), "_why": list(sanctions.excluded.values())},
        schema={"agent_id": pl.String, "_why": pl.String},
    )
    excluding = pl.col("market_id").is_in(pl.Series(markets, dtype=pl.String).implode())
    return (
        valid.filter(excluding)
        .join(reasons, on="agent_id")
        .select(
            *POSITION,
            "bid_id",
            pl.lit("agent_id").alias("field"),
            pl.format("excluded (on_flag: exclude): {}", "_why").alias("reason"),
        )
    )


def reported_flags(flags: pl.DataFrame, sanctions: Sanctions) -> pl.DataFrame:
    """The run's ``flags`` with those of its first pass (which its sanctions acted on)."""
    if sanctions.flagged is None:
        return flags
    both = pl.concat([sanctions.flagged.cast(FLAGGED_COLUMNS), flags.cast(FLAGGED_COLUMNS)])  # type: ignore[arg-type]
    return both.unique(["agent_id", "kind"], keep="first", maintain_order=True).sort(
        "kind", "agent_id"
    )
