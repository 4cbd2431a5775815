"""A vectorised settlement of many accounts, held against the event path in tests and timed.

Test and benchmark code: the pipeline settles through each agent's ``settled``
event (:func:`econonexus.agents.state.apply`), and this function must equal it.
"""

from __future__ import annotations

import polars as pl

from econonexus._core.errors import InputError
from econonexus.agents.economics import EVIDENCE


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
