"""Settlement of a cleared run: one outcome per winning bid becomes one ``settled`` event.

Pure: allocations and outcomes in, events (or, for a whole table of accounts
at once, new accounts) out. :meth:`AgentPool.settle` journals and delivers
the events exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from econonexus._core.config import get_setting
from econonexus._core.errors import InputError
from econonexus.agents.economics import EVIDENCE, OUTCOMES, settlement_amounts


@dataclass(frozen=True)
class SettlementTerms:
    """The economics settings a settlement uses (recorded in every event's payload)."""

    bonus_multiplier: float
    poor_slash_fraction: float
    decay: float

    @classmethod
    def from_config(cls) -> SettlementTerms:
        """Terms from the ``economics.*`` settings."""
        return cls(
            bonus_multiplier=float(get_setting("economics.bonus-multiplier")),
            poor_slash_fraction=float(get_setting("economics.poor-slash-fraction")),
            decay=float(get_setting("economics.reputation-decay")),
        )


def settlement_events(
    allocations: pl.DataFrame, outcomes: pl.DataFrame, *, run_id: str, terms: SettlementTerms
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
        pl.struct("outcome", "bonus", "slash", decay=pl.lit(terms.decay))
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


def settle_accounts(accounts: pl.DataFrame, settled: pl.DataFrame) -> pl.DataFrame:
    """Apply many settlements to a table of accounts at once (vectorised).

    ``accounts`` has ``agent_id``, ``balance``, ``free_stake``,
    ``locked_stake``, ``rep_alpha``, ``rep_beta``, ``banned``, ``owed``,
    ``paid``, ``bonuses`` and ``slashed``; ``settled`` has ``agent_id``,
    ``outcome``, ``payment``, ``stake``, ``bonus``, ``slash`` and ``decay``,
    at most one row per agent (as when
    each agent won once; use the event path otherwise). The result equals
    applying each agent's ``settled`` event with
    :func:`econonexus.agents.state.apply`.
    """
    if settled["agent_id"].is_duplicated().any():
        raise InputError(
            "settled: expected at most one settlement per agent for the vectorised path"
        )
    r = pl.col("outcome").replace_strict(
        {k: v[0] for k, v in EVIDENCE.items()}, return_dtype=pl.Float64
    )
    s = pl.col("outcome").replace_strict(
        {k: v[1] for k, v in EVIDENCE.items()}, return_dtype=pl.Float64
    )
    moves = settled.select(
        "agent_id",
        "payment",
        "stake",
        "bonus",
        "slash",
        "decay",
        r.alias("_r"),
        s.alias("_s"),
        (pl.col("outcome") == "byzantine").alias("_ban"),
    )
    joined = accounts.join(moves, on="agent_id", how="left")
    hit = pl.col("stake").is_not_null()
    alpha = (
        pl.when(hit)
        .then(pl.col("decay") * pl.col("rep_alpha") + pl.col("_r"))
        .otherwise(pl.col("rep_alpha"))
    )
    beta = (
        pl.when(hit)
        .then(pl.col("decay") * pl.col("rep_beta") + pl.col("_s"))
        .otherwise(pl.col("rep_beta"))
    )
    zero = pl.lit(0.0)
    updated = joined.with_columns(
        locked_stake=pl.col("locked_stake") - pl.col("stake").fill_null(zero),
        free_stake=pl.col("free_stake") + (pl.col("stake") - pl.col("slash")).fill_null(zero),
        balance=pl.col("balance") + (pl.col("bonus") - pl.col("payment")).fill_null(zero),
        owed=(pl.col("owed") - pl.col("payment").fill_null(zero)).clip(lower_bound=0.0),
        paid=pl.col("paid") + pl.col("payment").fill_null(zero),
        bonuses=pl.col("bonuses") + pl.col("bonus").fill_null(zero),
        slashed=pl.col("slashed") + pl.col("slash").fill_null(zero),
        rep_alpha=alpha,
        rep_beta=beta,
        banned=pl.col("banned") | pl.col("_ban").fill_null(False),
    ).with_columns(
        reputation=(pl.col("rep_alpha") + 1) / (pl.col("rep_alpha") + pl.col("rep_beta") + 2)
    )
    return updated.select(accounts.columns)
