"""Every validation rule, checked by its message."""

from __future__ import annotations

import math

import polars as pl
import pytest

import econonexus as enx
import econonexus.pipelines.io.items
from econonexus.pipelines.io.format_rules import _format_rules, format_rules
from econonexus.pipelines.io.item_rules import _item_rules, item_rules
from econonexus.pipelines.io.items import load_items
from econonexus.pipelines.io.normalize import normalize
from econonexus.pipelines.io.readers import with_positions
from econonexus.pipelines.io.validation import validate

GOOD = {
    "bid_id": "ok",
    "agent_id": "a",
    "market_id": "m",
    "items": ["x", "y"],
    "quantities": [1, 1],
    "price": 3.0,
    "xor_group": None,
    "side": "buy",
}


def _check(
    rows: list[dict], items: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return validate(normalize(with_positions(frame, "t"), "t"), items)


def _reasons(rejected: pl.DataFrame) -> list[tuple[str, str]]:
    return list(zip(rejected["field"].to_list(), rejected["reason"].to_list(), strict=True))


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"bid_id": None}, "bid_id", "required"),
        ({"bid_id": " "}, "bid_id", "required"),
        ({"agent_id": None}, "agent_id", "required"),
        ({"market_id": ""}, "market_id", "non-empty"),
        ({"items": None}, "items", "required"),
        ({"items": [], "quantities": []}, "items", "empty bundle"),
        ({"items": ["x", "x"]}, "items", "repeated item"),
        ({"items": ["x", ""]}, "items", "empty one"),
        ({"quantities": [1]}, "quantities", "has 1 entries for 2 items"),
        ({"quantities": [1, 0]}, "quantities", "every quantity >= 1"),
        ({"price": None}, "price", "required"),
        ({"price": math.nan}, "price", "got NaN"),
        ({"price": math.inf}, "price", "got inf"),
        ({"price": 0.0}, "price", "expected a number > 0, got 0.0"),
        ({"price": -2.0}, "price", "expected a number > 0, got -2.0"),
        ({"side": "bid"}, "side", "expected 'buy' or 'sell', got 'bid'"),
        ({"side": "sell"}, "side", "is combinatorial: expected side 'buy', got 'sell'"),
    ],
)
def test_each_rule_rejects_with_its_reason(change: dict, field: str, message: str) -> None:
    valid, rejected = _check([GOOD | {"bid_id": "keep"}, GOOD | change])
    assert valid["bid_id"].to_list() == ["keep"]  # the rest of the batch still clears
    assert any(f == field and message in r for f, r in _reasons(rejected)), _reasons(rejected)
    assert rejected["row"].to_list() == [2] * rejected.height


def test_strings_from_csv_are_parsed_and_bad_cells_named() -> None:
    rows = [
        {
            "bid_id": "1",
            "agent_id": "a",
            "items": "x;y",
            "quantities": "1;1",
            "price": "2.5",
            "submitted_at": "2026-11-01T09:00:00Z",
        },
        {
            "bid_id": "2",
            "agent_id": "a",
            "items": "x",
            "quantities": "one",
            "price": "cheap",
            "submitted_at": "yesterday",
        },
    ]
    valid, rejected = _check(rows)
    assert valid.row(0, named=True)["quantities"] == [1, 1]
    assert valid.row(0, named=True)["market_id"] == "default"
    reasons = _reasons(rejected)
    assert ("price", "expected a finite number > 0, got 'cheap'") in reasons
    assert ("submitted_at", "expected an ISO 8601 timestamp, got 'yesterday'") in reasons
    assert any(f == "quantities" and "whole numbers" in r for f, r in reasons)


def test_duplicate_bid_ids_are_all_rejected_and_point_to_the_first() -> None:
    valid, rejected = _check([GOOD, GOOD | {"agent_id": "b"}, GOOD | {"bid_id": "other"}])
    assert valid["bid_id"].to_list() == ["other"]
    dupes = rejected.filter(pl.col("field") == "bid_id")
    assert dupes["row"].to_list() == [1, 2]
    assert "duplicate bid_id: 2 rows share it (first: t row 1)" in dupes["reason"].to_list()


def test_unknown_item_and_quantity_above_supply_use_the_items_table() -> None:
    items = load_items(
        pl.DataFrame({"market_id": ["m", "m"], "item_id": ["x", "y"], "supply": [2, 1]})
    )
    rows = [
        GOOD,
        GOOD | {"bid_id": "u", "items": ["x", "z"]},
        GOOD | {"bid_id": "q", "quantities": [3, 1]},
        GOOD | {"bid_id": "other-market", "market_id": "n", "items": ["z"], "quantities": [1]},
    ]
    valid, rejected = _check(rows, items)
    assert sorted(valid["bid_id"].to_list()) == ["ok", "other-market"]
    reasons = _reasons(rejected)
    assert ("items", "unknown item 'z' in market 'm': not in the items table") in reasons
    assert ("quantities", "3 units of 'x' asked, its supply is 2") in reasons


def test_without_items_table_supply_is_one() -> None:
    _, rejected = _check([GOOD | {"quantities": [2, 1]}])
    assert "supply is 1 (market not in an items table: supply 1)" in rejected["reason"][0]


def test_missing_required_column_names_the_source_and_column() -> None:
    frame = pl.DataFrame({"bid_id": ["1"], "agent_id": ["a"], "items": [["x"]]})
    with pytest.raises(
        enx.SourceReadError, match=r"source 't': missing required column\(s\) `price`"
    ):
        normalize(with_positions(frame, "t"), "t")


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            {"item_id": ["x"], "supply": [0]},
            r"row 1: `supply` expected a whole number >= 1, got '0'",
        ),
        (
            {"item_id": ["x"], "supply": ["many"]},
            r"`supply` expected a whole number >= 1, got 'many'",
        ),
        (
            {"item_id": ["x"], "reserve_price": [-1.0]},
            r"`reserve_price` expected a finite number >= 0",
        ),
        ({"item_id": ["x", "x"]}, r"duplicate item"),
        ({"supply": [1]}, r"missing required column `item_id`"),
    ],
)
def test_items_table_errors_name_row_and_field(items: dict, message: str) -> None:
    with pytest.raises(enx.InputError, match=message):
        load_items(pl.DataFrame(items))


@pytest.mark.parametrize(
    "changes",
    [[], [{"side": "sell"}], [{"quantities": [2, 1]}], [{"side": None, "quantities": None}]],
)
def test_rules_skipped_when_no_row_can_break_them_give_what_they_would(
    changes: list[dict],
) -> None:
    # no items table and no markets table: the item and format rules answer from one check
    rows = [GOOD | {"bid_id": f"b{i}"} | change for i, change in enumerate([{}, *changes])]
    frame = normalize(with_positions(pl.DataFrame(rows, infer_schema_length=None), "t"), "t")
    assert item_rules(frame, None).equals(_item_rules(frame, None))
    assert format_rules(frame, {}).equals(_format_rules(frame, {}))
    assert item_rules(frame.clear(), None).equals(_item_rules(frame.clear(), None))
