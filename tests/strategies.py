"""Hypothesis strategies for small random markets."""

from __future__ import annotations

import polars as pl
from hypothesis import strategies as st

ITEM_NAMES = ["a", "b", "c", "d", "e"]
BID_COLUMNS = {
    "bid_id": pl.String,
    "agent_id": pl.String,
    "market_id": pl.String,
    "items": pl.List(pl.String),
    "quantities": pl.List(pl.Int64),
    "price": pl.Float64,
    "xor_group": pl.String,
    "side": pl.String,
    "submitted_at": pl.Datetime("us", "UTC"),
    "signature": pl.String,
}
"""The bids-schema columns of a normalized bid, as the strategies draw them."""


@st.composite
def markets(
    draw: st.DrawFn, *, max_bids: int = 9, reserves: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Draw (bids, items) of one market 'm' with multi-unit supply, XOR groups, reserves."""
    n_items = draw(st.integers(1, 4))
    names = ITEM_NAMES[:n_items]
    supply = {i: draw(st.integers(1, 3)) for i in names}
    reserve = {i: (draw(st.sampled_from([0.0, 0.0, 1.0, 2.5])) if reserves else 0.0) for i in names}
    n_bids = draw(st.integers(1, max_bids))
    rows = []
    for k in range(n_bids):
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=n_items, unique=True))
        qty = [draw(st.integers(1, supply[i])) for i in chosen]
        agent = draw(st.sampled_from(["p", "q", "r", "s"]))
        rows.append(
            {
                "bid_id": f"b{k}",
                "agent_id": agent,
                "market_id": "m",
                "items": chosen,
                "quantities": qty,
                "price": float(draw(st.integers(1, 20))),
                "xor_group": draw(st.sampled_from([None, None, "x", "y"])),
                "side": "buy",
                "submitted_at": None,
                "signature": None,
            }
        )
    bids = pl.DataFrame(rows, schema=BID_COLUMNS)
    items = pl.DataFrame(
        {
            "market_id": ["m"] * n_items,
            "item_id": names,
            "supply": [supply[i] for i in names],
            "reserve_price": [reserve[i] for i in names],
        }
    )
    return bids, items
