"""Fuzzing every reader: random bid files, randomly corrupted, lose no row and raise nothing else.

Every input row ends up valid or rejected (with a reason), never both, never
neither; the only exceptions are the documented whole-file errors
(:class:`~econonexus.SourceReadError` and its subclass ``CatsFormatError``).
"""

from __future__ import annotations

import datetime as dt
import math
import pathlib
import tempfile

import polars as pl
import pytest
from distributed import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import econonexus as enx
from econonexus.pipelines.io.cats import write_cats_text
from econonexus.pipelines.io.normalize import normalize
from econonexus.pipelines.io.readers import read_source
from econonexus.pipelines.io.validation import validate

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
PRICES = st.one_of(
    st.floats(min_value=0.01, max_value=500, allow_nan=False),
    st.sampled_from([0.0, -3.0, math.nan, math.inf, 2e12, 1.7e308, 1e-300]),
)


@st.composite
def bid_tables(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 10))
    items = st.lists(st.sampled_from(["0", "1", "2", "3", "4"]), min_size=1, max_size=3)
    return pl.DataFrame(
        {
            "bid_id": [draw(st.sampled_from([f"b{k}", f"b{k}", "b0", ""])) for k in range(n)],
            "agent_id": [draw(st.sampled_from(["a", "b", "c", ""])) for _ in range(n)],
            "market_id": ["m"] * n,
            "items": [draw(items) for _ in range(n)],
            "price": [draw(PRICES) for _ in range(n)],
        }
    )


TEXT_EDITS = st.lists(
    st.tuples(
        st.integers(0, 40),  # line
        st.sampled_from(["delete", "insert", "replace", "duplicate"]),
        st.integers(0, 60),  # position
        st.sampled_from([",", ";", '"', "x", "\u00b2", "-", ".", "\t", "#", "%", "9", " "]),
    ),
    max_size=4,
)


def _edit_text(text: str, edits: list[tuple[int, str, int, str]]) -> str:
    lines = text.split("\n")
    for line, op, pos, char in edits:
        k = line % len(lines)
        s = lines[k]
        at = pos % (len(s) + 1)
        if op == "delete":
            lines[k] = s[:at] + s[at + 1 :]
        elif op == "insert":
            lines[k] = s[:at] + char + s[at:]
        elif op == "replace":
            lines[k] = s[:at] + char + s[at + 1 :]
        else:
            lines.insert(k, s)
    return "\n".join(lines)


COLUMN_EDITS = st.lists(
    st.sampled_from(
        ["price-text", "price-bool", "price-time", "items-nested", "nulls", "drop-agent", "cut"]
    ),
    max_size=2,
)


def _edit_table(frame: pl.DataFrame, edit: str) -> pl.DataFrame:
    n = frame.height
    if edit == "price-text":
        return frame.with_columns(pl.Series("price", ["12", "abc", "", "1e3", "-"] * n)[:n])
    if edit == "price-bool":
        return frame.with_columns(pl.Series("price", [True, False] * n)[:n])
    if edit == "price-time":
        return frame.with_columns(pl.Series("price", [dt.datetime(2024, 1, 1)] * n))
    if edit == "items-nested":
        return frame.with_columns(pl.Series("items", [[["0"]]] * n))
    if edit == "nulls":
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias("agent_id"))
    if edit == "drop-agent":
        return frame.drop("agent_id", strict=False)
    return frame


def _write(frame: pl.DataFrame, fmt: str, edits: list, cuts: list[str], path: pathlib.Path) -> None:
    if fmt in ("csv", "cats"):
        text = (
            frame.with_columns(pl.col("items").list.join(";")).write_csv()
            if fmt == "csv"
            else write_cats_text(frame.filter(pl.col("price").is_finite() & (pl.col("price") > 0)))
        )
        path.write_text(_edit_text(text, edits))
        return
    for edit in cuts:
        frame = _edit_table(frame, edit)
    if fmt == "parquet":
        frame.write_parquet(path)
    else:
        frame.write_ipc(path)
    if "cut" in cuts:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _input_rows(fmt: str, path: pathlib.Path, height: int) -> tuple[set[int], set[int]]:
    """Rows that must be accounted for, and every row number that may be reported."""
    if fmt in ("parquet", "ipc"):
        return set(range(1, height + 1)), set(range(1, height + 1))
    lines = path.read_text().split("\n")
    numbered = list(enumerate(lines, start=1))
    if fmt == "csv":
        return {k for k, s in numbered[1:] if s.strip()}, {k for k, _ in numbered}
    words = ("goods", "bids", "dummy")
    bid_lines = {
        k
        for k, s in numbered
        if s.strip() and not s.strip().startswith("%") and s.split()[0] not in words
    }
    return bid_lines, {k for k, _ in numbered}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "ipc", "cats"])
@FUZZ
@given(frame=bid_tables(), edits=TEXT_EDITS, cuts=COLUMN_EDITS)
def test_no_row_is_lost_and_nothing_else_raises(
    fmt: str, frame: pl.DataFrame, edits: list, cuts: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / f"bids.{fmt if fmt != 'ipc' else 'arrow'}"
        _write(frame, fmt, edits, cuts, path)
        try:
            raw = read_source(str(path))
            valid, rejected = validate(normalize(raw.records, raw.name))
        except enx.SourceReadError:  # documented: the file as a whole cannot be read
            return
        must, may = _input_rows(fmt, path, raw.records.height)
    kept = set(valid["_row"].to_list())
    refused = set(rejected["row"].to_list()) | set(raw.errors["row"].to_list())
    assert not kept & refused, "a row is both valid and rejected"
    assert must <= kept | refused <= may, "a row was lost or invented"
    assert rejected["reason"].str.len_chars().min() or rejected.is_empty()


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=bid_tables(), edits=TEXT_EDITS)
def test_clear_accounts_for_every_row(client: Client, frame: pl.DataFrame, edits: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "bids.csv"
        _write(frame, "csv", edits, [], path)
        try:
            result = enx.clear(str(path), client=client)
        except enx.SourceReadError:
            return
        must, may = _input_rows("csv", path, 0)
    refused = set(result.rejected["row"].to_list())
    assert result.allocations.height + len(refused) >= len(must)
    assert result.allocations.height + len(refused) <= len(may)
    assert result.allocations["bid_id"].is_unique().all()
