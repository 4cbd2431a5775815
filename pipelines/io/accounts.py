"""Agents' accounts for validation: free stake, reputation, banned flag; and the stake rule.

An accounts table has one row per agent: ``agent_id`` and any of
``free_stake`` (default 0), ``reputation`` (default 0.5) and ``banned``
(default false), and ``age_runs`` (runs since the agent was first seen; sybil
detection reads it). ``agents.parquet`` from ``econonexus simulate`` and
``AgentPool.states()`` are accounts tables as they are; an ``AgentPool`` given
as the accounts adds each agent's ``age_runs`` from its journal.
"""

from __future__ import annotations

from typing import TypeAlias

import polars as pl
import pyarrow as pa

from econonexus._core.errors import InputError
from econonexus.agents.economics import required_stake
from econonexus.agents.pool import AgentPool
from econonexus.agents.state import INITIAL_REPUTATION
from econonexus.pipelines.io.market_policy import DEFAULT_POLICY, MarketPolicy
from econonexus.pipelines.io.readers import table_of

POSITION = ["_source", "_row"]

AccountsSource: TypeAlias = str | pa.Table | pl.DataFrame | AgentPool
ACCOUNT_SCHEMA = {
    "agent_id": pl.String,
    "free_stake": pl.Float64,
    "reputation": pl.Float64,
    "banned": pl.Boolean,
}


def load_accounts(source: AccountsSource) -> pl.DataFrame:
    """The accounts of ``source`` (a URL, a table, or an agent pool: its states with each
    agent's age in runs from its journal), checked; one row per agent."""
    name = source if isinstance(source, str) else "<accounts table>"
    frame = source.accounts() if isinstance(source, AgentPool) else table_of(source)
    if "agent_id" not in frame.columns:
        raise InputError(f"accounts {name!r}: missing required column `agent_id`")
    for column, dtype in ACCOUNT_SCHEMA.items():
        if column != "agent_id" and column in frame.columns:
            frame = frame.with_columns(_typed(frame, name, column, dtype))
    accounts = frame.select(
        pl.col("agent_id").cast(pl.String),
        _column(frame, "free_stake", pl.Float64, 0.0),
        _column(frame, "reputation", pl.Float64, INITIAL_REPUTATION),
        _column(frame, "banned", pl.Boolean, False),
        *([pl.col("age_runs").cast(pl.Int64, strict=False)] if "age_runs" in frame.columns else []),
    )
    duplicated = accounts.filter(pl.col("agent_id").is_duplicated())
    if duplicated.height:
        raise InputError(
            f"accounts {name!r}: `agent_id` {duplicated['agent_id'][0]!r} appears "
            f"{duplicated.height} times; expected one row per agent"
        )
    negative = accounts.filter(~(pl.col("free_stake") >= 0))
    if negative.height:
        raise InputError(
            f"accounts {name!r}: agent {negative['agent_id'][0]!r} `free_stake`: expected a "
            f"finite number >= 0, got {negative['free_stake'][0]}"
        )
    return accounts


def _typed(frame: pl.DataFrame, name: str, column: str, dtype: type[pl.DataType]) -> pl.Series:
    """``column`` as ``dtype`` (a text file's ``true``/``false``, ``1``/``0`` too); a value
    that is not one is an error naming the agent."""
    given = frame[column]
    text = given.cast(pl.String).str.strip_chars().str.to_lowercase()
    if dtype == pl.Boolean and given.dtype == pl.String:
        typed = text.replace_strict(
            ["true", "false", "1", "0", "yes", "no", ""],
            [True, False, True, False, True, False, None],
            default=None,
            return_dtype=pl.Boolean,
        )
    else:
        typed = given.cast(dtype, strict=False)
    bad = typed.is_null() & given.is_not_null() & (text != "")
    if bad.any():
        at = bad.arg_true()[0]
        raise InputError(
            f"accounts {name!r}: agent {frame['agent_id'][at]!r} `{column}`: expected "
            f"{'true or false' if dtype == pl.Boolean else 'a number'}, got {given[at]!r}"
        )
    return typed.alias(column)


def _column(frame: pl.DataFrame, name: str, dtype: type[pl.DataType], default: object) -> pl.Expr:
    if name not in frame.columns:
        return pl.lit(default, dtype=dtype).alias(name)
    return pl.col(name).cast(dtype, strict=False).fill_null(default).alias(name)


def eligibility_settings(markets: dict[str, MarketPolicy]) -> pl.DataFrame:
    """Per market: ``_stake``, ``_stake_fraction``, ``_min_reputation`` (default market: all 0)."""
    return pl.DataFrame(
        {
            "market_id": list(markets),
            "_stake": [m.stake for m in markets.values()],
            "_stake_fraction": [m.stake_fraction for m in markets.values()],
            "_min_reputation": [m.min_reputation for m in markets.values()],
        },
        schema={
            "market_id": pl.String,
            "_stake": pl.Float64,
            "_stake_fraction": pl.Float64,
            "_min_reputation": pl.Float64,
        },
    )


def with_stake(bids: pl.DataFrame, markets: dict[str, MarketPolicy]) -> pl.DataFrame:
    """``bids`` plus ``stake``: the free stake each needs under its market's settings."""
    default = DEFAULT_POLICY
    joined = bids.join(eligibility_settings(markets), on="market_id", how="left")
    stake = required_stake(
        pl.col("price"),
        pl.col("_stake").fill_null(default.stake),
        pl.col("_stake_fraction").fill_null(default.stake_fraction),
    )
    return joined.with_columns(stake.alias("stake")).drop(
        "_stake", "_stake_fraction", "_min_reputation"
    )


def account_rules(
    valid: pl.DataFrame, markets: dict[str, MarketPolicy], accounts: pl.DataFrame | None
) -> pl.DataFrame:
    """Bids whose agent is banned, lacks the reputation, or lacks the free stake.

    Stake is counted per agent over its bids in ``(market_id, bid_id)`` order:
    a bid is rejected when, with the agent's earlier eligible bids, it needs
    more than the agent's free stake. Agents without an account have no
    stake, reputation 0.5 and are not banned.
    """
    known = accounts if accounts is not None else pl.DataFrame(schema=ACCOUNT_SCHEMA)
    frame = (
        with_stake(valid, markets)
        .join(
            eligibility_settings(markets).select("market_id", "_min_reputation"),
            on="market_id",
            how="left",
        )
        .join(known, on="agent_id", how="left")
        .with_columns(
            pl.col("_min_reputation").fill_null(DEFAULT_POLICY.min_reputation),
            pl.col("free_stake").fill_null(0.0),
            pl.col("reputation").fill_null(INITIAL_REPUTATION),
            pl.col("banned").fill_null(False),
        )
    )
    banned = frame.filter(pl.col("banned")).select(
        *POSITION,
        "bid_id",
        field=pl.lit("agent_id"),
        reason=pl.format("agent {} is banned", "agent_id"),
    )
    low = pl.col("reputation") < pl.col("_min_reputation")
    reputation = frame.filter(~pl.col("banned") & low).select(
        *POSITION,
        "bid_id",
        field=pl.lit("agent_id"),
        reason=pl.format(
            "reputation {} below the market's minimum {}",
            pl.col("reputation").round(4),
            "_min_reputation",
        ),
    )
    staked = frame.filter(~pl.col("banned") & ~low & (pl.col("stake") > 0)).sort(
        "agent_id", "market_id", "bid_id"
    )
    staked = staked.with_columns(_total=pl.col("stake").cum_sum().over("agent_id"))
    total = pl.col("_total")
    stake = staked.filter(total > pl.col("free_stake") + 1e-9).select(
        *POSITION,
        "bid_id",
        field=pl.lit("agent_id"),
        reason=pl.format(
            "insufficient stake: bid needs {} ({} with the agent's earlier bids), free stake {}",
            pl.col("stake").round(6),
            total.round(6),
            "free_stake",
        ),
    )
    return pl.concat([banned, reputation, stake])


def with_reputation(valid: pl.DataFrame, accounts: pl.DataFrame | None) -> pl.DataFrame:
    """``valid`` plus ``_reputation``: the bidder's reputation (0.5 without an account)."""
    if accounts is None:
        return valid.with_columns(pl.lit(INITIAL_REPUTATION).alias("_reputation"))
    known = accounts.select("agent_id", pl.col("reputation").alias("_reputation"))
    joined = valid.join(known, on="agent_id", how="left")
    return joined.with_columns(pl.col("_reputation").fill_null(INITIAL_REPUTATION))
