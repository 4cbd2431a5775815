"""Settlement of a cleared run: one outcome per winning bid becomes one ``settled`` event.

Pure: allocations and outcomes in, events (or, for a whole table of accounts
at once, new accounts) out. :meth:`AgentPool.settle` journals and delivers
the events exactly once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, get_args

import polars as pl

from econonexus._core.config import get_setting
from econonexus._core.errors import InputError
from econonexus.agents.economics import OUTCOMES, settlement_amounts

ByzantineSlash = Literal["bid", "all"]
BYZANTINE_SLASHES = get_args(ByzantineSlash)


@dataclass(frozen=True)
class SettlementTerms:
    """The economics settings a settlement uses (recorded in every event's payload).

    ``byzantine_slash``: a ``byzantine`` outcome slashes the bid's locked stake
    (``bid``), or that and all the agent's free stake (``all``); stake still
    locked for the agent's other unsettled wins is settled by their own outcomes.
    """

    bonus_multiplier: float
    poor_slash_fraction: float
    decay: float
    byzantine_slash: ByzantineSlash

    def __post_init__(self) -> None:
        if self.byzantine_slash not in BYZANTINE_SLASHES:
            raise InputError(
                f"`economics.byzantine-slash`: expected one of {BYZANTINE_SLASHES}, "
                f"got {self.byzantine_slash!r}"
            )

    @classmethod
    def from_config(cls) -> SettlementTerms:
        """Terms from the ``economics.*`` settings."""
        return cls(
            bonus_multiplier=float(get_setting("economics.bonus-multiplier")),
            poor_slash_fraction=float(get_setting("economics.poor-slash-fraction")),
            decay=float(get_setting("economics.reputation-decay")),
            byzantine_slash=get_setting("economics.byzantine-slash"),
        )


def settlement_events(
    allocations: pl.DataFrame,
    outcomes: pl.DataFrame,
    *,
    run_id: str,
    terms: SettlementTerms,
    sell_markets: Collection[str] = (),
) -> pl.DataFrame:
    """The ``settled`` events (without ``seq``) of a run, one per winning bid, in ``bid_id`` order.

    Raises
    ------
    InputError
        An outcome for a bid that did not win (or is not in the run), an
        unknown outcome, a bid with two outcomes, or a winner without one;
        the message names the bids.
    """
    winners = _winners(allocations)
    checked = _checked_outcomes(outcomes, winners)
    settled = settlement_amounts(
        winners.join(checked, on="bid_id"),
        bonus_multiplier=terms.bonus_multiplier,
        poor_slash_fraction=terms.poor_slash_fraction,
    )
    return settled.sort("bid_id").select(
        pl.lit(run_id).alias("run_id"),
        pl.lit("settled").alias("kind"),
        "agent_id",
        "market_id",
        "bid_id",
        "items",
        pl.col("stake").alias("amount"),
        pl.col("payment").alias("price"),
        pl.struct(
            "outcome",
            "bonus",
            "slash",
            decay=pl.lit(terms.decay),
            # the agent's free stake goes too (state.py reads it when the event applies)
            slash_free=(pl.col("outcome") == "byzantine") & (terms.byzantine_slash == "all"),
            # a sell offer's agent is paid: the payment is credited, not collected
            side=pl.when(pl.col("market_id").is_in(sorted(sell_markets)))
            .then(pl.lit("sell"))
            .otherwise(pl.lit("buy")),
        )
        .struct.json_encode()
        .alias("payload"),
    )


def _winners(allocations: pl.DataFrame) -> pl.DataFrame:
    stake = pl.col("stake") if "stake" in allocations.columns else pl.lit(0.0)
    return allocations.filter(pl.col("won")).select(
        "agent_id", "market_id", "bid_id", "items", "payment", stake.fill_null(0.0).alias("stake")
    )


def _checked_outcomes(outcomes: pl.DataFrame, winners: pl.DataFrame) -> pl.DataFrame:
    missing_cols = {"bid_id", "outcome"} - set(outcomes.columns)
    if missing_cols:
        raise InputError(
            f"outcomes: missing column(s) {sorted(missing_cols)}; expected bid_id, outcome"
        )
    given = outcomes.select(pl.col("bid_id").cast(pl.String), pl.col("outcome").cast(pl.String))
    problems = [
        (
            given.filter(~pl.col("outcome").is_in(OUTCOMES)),
            f"unknown `outcome`: expected one of {OUTCOMES}",
        ),
        (
            given.filter(pl.col("bid_id").is_duplicated()),
            "more than one outcome: expected one per bid",
        ),
        (given.join(winners, on="bid_id", how="anti"), "not a winning bid of this run"),
        (winners.join(given, on="bid_id", how="anti"), "a winning bid without an outcome"),
    ]
    for bad, reason in problems:
        if bad.height:
            shown = ", ".join(f"{b!r}" for b in bad["bid_id"].head(5))
            more = f" and {bad.height - 5} more" if bad.height > 5 else ""
            raise InputError(f"outcomes: `bid_id` {shown}{more}: {reason}")
    return given
