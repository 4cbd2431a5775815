"""Agents' accounts for validation: free stake, reputation, banned flag; and the stake rule.

An accounts table has one row per agent: ``agent_id`` and any of
``free_stake`` (default 0), ``reputation`` (default 0.5) and ``banned``
(default false). ``agents.parquet`` from ``econonexus simulate`` and
``AgentPool.states()`` are accounts tables as they are.
"""

from __future__ import annotations

from typing import TypeAlias

import polars as pl
import pyarrow as pa

from econonexus._errors import InputError
from econonexus.agents.economics import required_stake
from econonexus.agents.state import INITIAL_REPUTATION
from econonexus.pipelines.readers import table_of
from econonexus.solvers.settings import DEFAULT_SETTINGS, MarketSettings

AccountsSource: TypeAlias = str | pa.Table | pl.DataFrame
ACCOUNT_SCHEMA = {
    "agent_id": pl.String,
    "free_stake": pl.Float64,
    "reputation": pl.Float64,
    "banned": pl.Boolean,
}


def load_accounts(source: AccountsSource) -> pl.DataFrame:
    """The accounts of ``source`` (a URL or a table), checked; one row per agent."""
    name = source if isinstance(source, str) else "<accounts table>"
    frame = table_of(source)
    if "agent_id" not in frame.columns:
        raise InputError(f"accounts {name!r}: missing required column `agent_id`")
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


def _column(frame: pl.DataFrame, name: str, dtype: type[pl.DataType], default: object) -> pl.Expr:
    if name not in frame.columns:
        return pl.lit(default, dtype=dtype).alias(name)
    return pl.col(name).cast(dtype, strict=False).fill_null(default).alias(name)


def eligibility_settings(markets: dict[str, MarketSettings]) -> pl.DataFrame:
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


def with_stake(bids: pl.DataFrame, markets: dict[str, MarketSettings]) -> pl.DataFrame:
    """``bids`` plus ``stake``: the free stake each needs under its market's settings."""
    default = DEFAULT_SETTINGS
    joined = bids.join(eligibility_settings(markets), on="market_id", how="left")
    stake = required_stake(
        pl.col("price"),
        pl.col("_stake").fill_null(default.stake),
        pl.col("_stake_fraction").fill_null(default.stake_fraction),
    )
    return joined.with_columns(stake.alias("stake")).drop(
        "_stake", "_stake_fraction", "_min_reputation"
    )
