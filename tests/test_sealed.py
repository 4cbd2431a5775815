"""Bulk first-price and Vickrey auctions against a per-auction Python reference."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econonexus.solvers.problem import priority_key, tie_weight
from econonexus.solvers.sealed import clear_sealed


def reference(bids: pl.DataFrame, rule: str) -> dict[str, tuple[bool, float]]:
    """One auction at a time: sort by price then tie weight, take the top units."""
    out: dict[str, tuple[bool, float]] = {}
    for (_, _), group in bids.group_by("market_id", "item_id"):
        rows = group.to_dicts()
        units, reserve = rows[0]["units"], rows[0]["reserve"]
        rows.sort(
            key=lambda r: (-r["price"], -tie_weight(priority_key(r["market_id"], r["bid_id"])))
        )
        ok = [r for r in rows if r["price"] >= reserve]
        winners, rest = ok[:units], ok[units:]
        clearing = max(rest[0]["price"] if rest else reserve, reserve)
        for r in rows:
            won = any(r is w for w in winners)
            pay = (r["price"] if rule == "first-price" else clearing) if won else 0.0
            out[r["bid_id"]] = (won, pay)
    return out


@st.composite
def auctions(draw: st.DrawFn) -> pl.DataFrame:
    rows = []
    for a in range(draw(st.integers(1, 6))):
        units = draw(st.integers(1, 6))
        reserve = draw(st.sampled_from([0.0, 3.0, 5.0]))
        for b in range(draw(st.integers(1, 9))):
            rows.append(
                {
                    "market_id": draw(st.sampled_from(["m", "n"])),
                    "item_id": f"i{a}",
                    "bid_id": f"a{a}b{b}",
                    "price": float(draw(st.integers(1, 8))),  # small range: many ties
                    "units": units,
                    "reserve": reserve,
                }
            )
    frame = pl.DataFrame(rows)
    # the same (market, item) must carry one units/reserve; make it so per auction
    frame = frame.with_columns(
        pl.col("units").first().over("market_id", "item_id"),
        pl.col("reserve").first().over("market_id", "item_id"),
    )
    if draw(st.booleans()):
        frame = frame.sample(fraction=1.0, shuffle=True, seed=draw(st.integers(0, 99)))
    return frame


@pytest.mark.parametrize("rule", ["first-price", "second-price"])
@settings(max_examples=100, deadline=None)
@given(bids=auctions())
def test_bulk_matches_per_auction_reference(rule: str, bids: pl.DataFrame) -> None:
    out = clear_sealed(bids, rule=rule)
    assert out["bid_id"].to_list() == bids["bid_id"].to_list()  # same row order
    expected = reference(bids, rule)
    for bid_id, won, payment in out.select("bid_id", "won", "payment").iter_rows():
        assert (won, payment) == pytest.approx(expected[bid_id]), bid_id


def test_vickrey_price_is_the_next_bid_or_the_reserve() -> None:
    bids = pl.DataFrame(
        {
            "market_id": "m",
            "item_id": ["x", "x", "x", "y", "y"],
            "bid_id": ["a", "b", "c", "d", "e"],
            "price": [10.0, 7.0, 4.0, 9.0, 2.0],
        }
    )
    out = clear_sealed(bids, rule="second-price", reserve=5.0)
    assert out["won"].to_list() == [True, False, False, True, False]
    assert out["payment"].to_list() == [7.0, 0.0, 0.0, 5.0, 0.0]  # y: next bid 2 < reserve 5
    multi = clear_sealed(bids.filter(pl.col("item_id") == "x"), rule="second-price", units=2)
    assert multi["payment"].to_list() == [4.0, 4.0, 0.0]


def test_equal_prices_go_to_the_larger_tie_weight_not_the_first_row() -> None:
    ids = [f"b{i}" for i in range(20)]
    bids = pl.DataFrame({"market_id": "m", "item_id": "x", "bid_id": ids, "price": 5.0})
    winner = max(ids, key=lambda b: tie_weight(priority_key("m", b)))
    for frame in (bids, bids.reverse()):
        out = clear_sealed(frame, rule="first-price")
        assert out.filter("won")["bid_id"].to_list() == [winner]


def test_many_units_use_the_sorting_path() -> None:
    rng = np.random.default_rng(3)
    bids = pl.DataFrame(
        {
            "market_id": "m",
            "item_id": "x",
            "bid_id": [f"b{i}" for i in range(40)],
            "price": rng.integers(1, 10, 40).astype(float),
            "units": 12,
            "reserve": 0.0,
        }
    )
    out = clear_sealed(bids, rule="second-price")
    expected = reference(bids, "second-price")
    assert {b: (w, p) for b, w, p in out.select("bid_id", "won", "payment").iter_rows()} == expected
