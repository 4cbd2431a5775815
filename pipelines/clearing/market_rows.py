"""Build one market's output rows: allocations, its summary row, its price path."""

from __future__ import annotations

from typing import Any

import polars as pl

from econonexus._core.market_settings import MarketSettings
from econonexus._core.schemas import (
    ALLOCATIONS_SCHEMA,
    PRICES_SCHEMA,
    SUMMARY_SCHEMA,
    Status,
    polars_schema,
)
from econonexus.solvers.problem import FloatArray, IntArray

# `stake` is added on the client from the market settings, after the batch is gathered.
ALLOCATION_COLUMNS = polars_schema(ALLOCATIONS_SCHEMA, drop=("run_id", "stake"))
SUMMARY_COLUMNS = polars_schema(SUMMARY_SCHEMA, drop=("run_id",))
PRICE_COLUMNS = polars_schema(PRICES_SCHEMA, drop=("run_id",))


def market_items(items: pl.DataFrame | None, market_id: str) -> pl.DataFrame | None:
    """The items-table rows of ``market_id`` (``None`` without a table)."""
    return None if items is None else items.filter(pl.col("market_id") == market_id)


def allocation_frame(bids: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """Join per-bid ``results`` (``bid_id``, ``won``, ``payment``, optional bounds) to ``bids``.

    Bids without a result lost and pay 0; payments without bounds are exact.
    """
    joined = bids.select("market_id", "bid_id", "agent_id", "price", "items").join(
        results, on="bid_id", how="left"
    )
    payment = pl.col("payment").fill_null(0.0)
    return (
        joined.with_columns(
            pl.col("won").fill_null(False),
            payment,
            _or(joined, "payment_exact", pl.lit(True)),
            _or(joined, "payment_low", payment).alias("payment_low"),
            _or(joined, "payment_high", payment).alias("payment_high"),
        )
        .select(list(ALLOCATION_COLUMNS))
        .sort("bid_id")
    )


def _or(frame: pl.DataFrame, name: str, default: pl.Expr) -> pl.Expr:
    if name not in frame.columns:
        return default.alias(name)
    return pl.col(name).fill_null(default)


def summary_row(
    market_id: str,
    settings: MarketSettings,
    *,
    status: Status,
    allocations: pl.DataFrame,
    welfare: float,
    bound: float,
    gap: float,
    solver: str,
    seconds: float,
    components: int,
    rounds: int | None = None,
    efficiency: float | None = None,
) -> pl.DataFrame:
    """One summary row; ``n_rejected`` is filled in once the batch's rejections are counted."""
    paid = float(allocations["payment"].sum())
    counts = (allocations.height, int(allocations["won"].sum()), paid)
    row = summary_values(
        market_id,
        settings,
        status=status,
        counts=counts,
        figures=(welfare, bound, gap),
        solver=solver,
        seconds=seconds,
        components=components,
        rounds=rounds,
        efficiency=efficiency,
    )
    return pl.DataFrame([row], schema=SUMMARY_COLUMNS)


def summary_values(
    market_id: str,
    settings: MarketSettings,
    *,
    status: Status,
    counts: tuple[int, int, float],
    figures: tuple[float, float, float],
    solver: str,
    seconds: float,
    components: int,
    rounds: int | None = None,
    efficiency: float | None = None,
) -> dict[str, Any]:
    """One summary row as a dict: ``counts`` are bids, winners and revenue, ``figures``
    welfare, bound and gap (many rows make one frame at once)."""
    (n_bids, n_winners, revenue), (welfare, bound, gap) = counts, figures
    return {
        "market_id": market_id,
        "format": settings.format,
        "payment_rule": settings.summary_rule,
        "status": status,
        "n_bids": n_bids,
        "n_rejected": 0,
        "n_winners": n_winners,
        "welfare": welfare,
        "revenue": revenue,
        "bound": bound,
        "gap": gap,
        "solver": solver,
        "solve_seconds": seconds,
        "components": components,
        "rounds": rounds,
        "efficiency": efficiency,
    }


def empty_prices() -> pl.DataFrame:
    """A price path with no rows."""
    return pl.DataFrame(schema=PRICE_COLUMNS)


def prices_frame(
    market_id: str, item_ids: list[str], path: tuple[IntArray, IntArray, FloatArray, IntArray]
) -> pl.DataFrame:
    """The price path ``(item index, round, price, answers)`` as rows of the prices table."""
    item, rounds, price, answers = path
    return pl.DataFrame(
        {
            "market_id": market_id,
            "item_id": pl.Series(item_ids, dtype=pl.String).gather(pl.Series(item)),
            "round": pl.Series(rounds, dtype=pl.Int64),
            "price": pl.Series(price, dtype=pl.Float64),
            "answers": pl.Series(answers, dtype=pl.Int64),
        },
        schema=PRICE_COLUMNS,
    )
