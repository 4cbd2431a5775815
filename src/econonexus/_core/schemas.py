"""Arrow schemas of every table EconoNexus reads or writes, defined once."""

from __future__ import annotations

from typing import Final, Literal

import polars as pl
import pyarrow as pa

DEFAULT_MARKET: Final = "default"

MAX_PRICE: Final = 1e12
"""The largest price or reserve accepted: sums of prices stay finite and exact to a cent."""

HIDDEN_ITEM_PREFIX: Final = "~"
"""Item ids that start with this are hidden goods: supply 1, reserve 0, exclusion only.

The CATS reader writes dummy good ``g`` as item ``~g``; an items table may not list them."""

BIDS_SCHEMA: Final = pa.schema(
    [
        pa.field("bid_id", pa.string(), nullable=False),
        pa.field("agent_id", pa.string(), nullable=False),
        pa.field("market_id", pa.string(), nullable=False),
        pa.field("items", pa.list_(pa.string()), nullable=False),
        pa.field("quantities", pa.list_(pa.int64()), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("xor_group", pa.string()),
        pa.field("side", pa.string(), nullable=False),
        pa.field("submitted_at", pa.timestamp("us", tz="UTC")),
        pa.field("signature", pa.string()),
    ]
)
"""One row per bid (see the data contract in the README)."""

ITEMS_SCHEMA: Final = pa.schema(
    [
        pa.field("market_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("supply", pa.int64(), nullable=False),
        pa.field("reserve_price", pa.float64(), nullable=False),
        pa.field("seller", pa.string()),
    ]
)
"""One row per item per market; items not listed have supply 1 and reserve 0. ``seller``
(optional) is who sells the item: manipulation detection then looks for shill bidders."""

ALLOCATIONS_SCHEMA: Final = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("market_id", pa.string()),
        pa.field("bid_id", pa.string()),
        pa.field("agent_id", pa.string()),
        pa.field("won", pa.bool_()),
        pa.field("payment", pa.float64()),
        pa.field("price", pa.float64()),
        pa.field("items", pa.list_(pa.string())),
        pa.field("payment_exact", pa.bool_()),
        pa.field("payment_low", pa.float64()),
        pa.field("payment_high", pa.float64()),
        pa.field("stake", pa.float64()),
    ]
)
"""One row per valid bid. ``payment`` is what a buyer pays, or what a seller is
paid in a procurement market. ``payment_exact`` is false when a VCG re-solve
stopped at its time limit: the true payment then lies in
``[payment_low, payment_high]`` and ``payment`` is ``payment_low``. ``stake``
is the free stake the bid needed under its market's ``stake`` and
``stake_fraction``; a winner's stake stays locked until settlement."""

SUMMARY_SCHEMA: Final = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("market_id", pa.string()),
        pa.field("format", pa.string()),
        pa.field("payment_rule", pa.string()),
        pa.field("status", pa.string()),
        pa.field("n_bids", pa.int64()),
        pa.field("n_rejected", pa.int64()),
        pa.field("n_winners", pa.int64()),
        pa.field("welfare", pa.float64()),
        pa.field("revenue", pa.float64()),
        pa.field("bound", pa.float64()),
        pa.field("gap", pa.float64()),
        pa.field("solver", pa.string()),
        pa.field("solve_seconds", pa.float64()),
        pa.field("components", pa.int64()),
        pa.field("rounds", pa.int64()),
        pa.field("efficiency", pa.float64()),
    ]
)
"""One row per market. ``welfare`` is the winning bids' value: for a
procurement market the buyer's surplus (its values less the accepted asks).
``rounds`` counts clock rounds (clock formats only); ``efficiency`` is the
clock's welfare over the optimum of the same bids (format ``clock`` only)."""

PRICES_SCHEMA: Final = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("market_id", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("round", pa.int64()),
        pa.field("price", pa.float64()),
        pa.field("answers", pa.int64()),
    ]
)
"""The price path of clock markets: one row per item and round. ``answers``
counts the bidders accepting that price (English: staying in; Dutch: taking
it; clock: units demanded)."""

REJECTED_SCHEMA: Final = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("row", pa.int64()),
        pa.field("bid_id", pa.string()),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string()),
    ]
)
"""`row` is the line number for CSV and CATS files, the 1-based record otherwise."""

EVENTS_SCHEMA: Final = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("seq", pa.int64()),
        pa.field("time", pa.timestamp("us", tz="UTC")),
        pa.field("kind", pa.string()),
        pa.field("market_id", pa.string()),
        pa.field("agent_id", pa.string()),
        pa.field("payload", pa.string()),
    ]
)
"""Audit events; `payload` is a JSON object."""

FLAGGED_SCHEMA: Final = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("agent_id", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("reason", pa.string()),
    ]
)
"""Agents flagged for manipulation in a run: ``kind`` is ``ring``, ``shill`` or ``sybil``."""

Status = Literal["optimal", "time_limit", "halted", "empty", "error"]
STATUS_ORDER: Final[tuple[Status, ...]] = ("optimal", "empty", "time_limit", "halted", "error")
"""Statuses from best to worst; a market takes the worst of its components."""

SolverName = Literal["cbc", "highs", "scip"]
SOLVERS: Final[tuple[SolverName, ...]] = ("cbc", "highs", "scip")
"""MIP backends; ``scip`` needs the optional ``pyscipopt`` (extra ``scip``)."""
SolverChoice = Literal["auto", "cbc", "highs", "scip"]
SOLVER_CHOICES: Final[tuple[SolverChoice, ...]] = ("auto", "cbc", "highs", "scip")
"""``auto``: each MIP component's backend is picked by :mod:`econonexus.solvers.choice`."""


def polars_schema(
    schema: pa.Schema, *, drop: tuple[str, ...] = (), extra: dict[str, pl.DataType] | None = None
) -> pl.Schema:
    """Return the Polars view of an Arrow schema above, less ``drop``, plus ``extra``."""
    columns = {n: t for n, t in pl.Schema(schema).items() if n not in drop}
    return pl.Schema({**columns, **(extra or {})})


def worst_status(statuses: list[Status]) -> Status:
    """Return the worst of ``statuses`` (``"empty"`` for none)."""
    if not statuses:
        return "empty"
    return max(statuses, key=STATUS_ORDER.index)
