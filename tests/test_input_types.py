"""Column types that cannot mean a field are refused with a reason, never coerced or raised."""

from __future__ import annotations

import datetime as dt
import pathlib

import polars as pl
import pytest

import econonexus as enx

BASE = {"bid_id": ["1", "2"], "agent_id": ["a", "b"], "items": [["x"], ["y"]], "price": [3.0, 4.0]}


@pytest.mark.parametrize(
    ("column", "values", "reason"),
    [
        (
            "price",
            [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)],
            "expected a number, got a column of type Datetime",
        ),
        ("price", [True, False], "expected a number, got a column of type Boolean"),
        ("price", [{"v": 1.0}, {"v": 2.0}], "expected a number, got a column of type Struct"),
        (
            "items",
            [[["x"]], [["y"]]],
            "expected a list of item ids (text), got a column of type List(List(String))",
        ),
        ("quantities", [[1.5], [1.0]], None),
        ("bid_id", [{"a": 1}, {"a": 2}], "expected text, got a column of type Struct"),
        ("submitted_at", [1.5, 2.5], "expected a timestamp, got a column of type Float64"),
    ],
)
def test_refused_column_types_reject_every_row_with_the_reason(
    column: str, values: list[object], reason: str | None, tmp_path: pathlib.Path
) -> None:
    frame = pl.DataFrame({**BASE, column: values})
    path = tmp_path / "bids.parquet"
    frame.write_parquet(path)
    valid, rejected = enx.validate_bids(str(path))
    if reason is None:  # a float quantity is whole or refused, never truncated
        assert rejected["bid_id"].to_list() == ["1"] and valid["quantities"].to_list() == [[1]]
        assert "quantities" in rejected["field"].to_list()
        return
    assert valid.is_empty()
    assert rejected["row"].to_list() == [1, 2]
    assert rejected["field"].to_list() == [column, column]
    assert all(r.startswith(reason) for r in rejected["reason"])


def test_a_clear_with_a_refused_column_completes_and_keeps_the_rows(
    client, tmp_path: pathlib.Path
) -> None:
    good = pl.DataFrame(BASE)
    bad = pl.DataFrame({**BASE, "bid_id": ["3", "4"], "price": [{"v": 1.0}, {"v": 2.0}]})
    good.write_parquet(tmp_path / "good.parquet")
    bad.write_parquet(tmp_path / "bad.parquet")
    result = enx.clear(
        [str(tmp_path / "good.parquet"), str(tmp_path / "bad.parquet")], client=client
    )
    assert result.status == "completed"
    assert sorted(result.rejected["bid_id"].to_list()) == ["3", "4"]
    assert result.allocations.filter("won").height == 2
