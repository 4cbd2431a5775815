"""CATS parsing and writing, and reading every format from fsspec URLs."""

from __future__ import annotations

import pathlib

import fsspec
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.io.cats import parse_cats, write_cats_text
from econonexus.pipelines.io.readers import read_source
from econonexus.pipelines.sim.generate import DISTRIBUTIONS

CATS = """% a comment
goods 3
bids 4
dummy 1

0\t10.5\t0\t1\t3\t#
1\t7\t2\t3\t#
2\t4.25\t1\t#
3\tx\t1\t#
"""


def test_parse_cats_reads_dummy_goods_as_hidden_items() -> None:
    bids, errors = parse_cats(CATS, source="f.cats", market_id="f")
    assert bids["bid_id"].to_list() == ["f:0", "f:1", "f:2"]
    assert bids["items"].to_list() == [["0", "1", "~3"], ["2", "~3"], ["1"]]
    assert bids["xor_group"].to_list() == [None, None, None]
    assert bids["agent_id"][0] == bids["agent_id"][1] != bids["agent_id"][2]
    assert bids["_row"].to_list() == [6, 7, 8]
    assert errors.row(0, named=True) | {"reason": ""} == {
        "source": "f.cats",
        "row": 9,
        "market_id": "f",
        "bid_id": "f:3",
        "field": "line",
        "reason": "",
    }
    assert "CATS syntax: price 'x' is not a number" in errors["reason"][0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("goods x\n", r"f.cats line 1: expected 'goods N' with N a whole number, got 'goods x'"),
        ("bids 2\n0\t1\t0\t#\n", r"f.cats line 2: bid line before the 'goods N' header"),
        ("% only comments\n", r"f.cats: missing the 'goods N' header"),
        ("goods 2\ngoods 3\n", r"f.cats line 2: header 'goods' given twice"),
        ("goods \u00b2\n", r"f.cats line 1: expected 'goods N' with N a whole number"),
    ],
)
def test_cats_header_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(enx.CatsFormatError, match=message):
        parse_cats(text, source="f.cats", market_id="f")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("0\t1\t0", "expected the line to end with '#'"),
        ("0\t1\t#", "at least one good"),
        ("0\t1\t9\t#", "good '9' is not a number in 0..2"),
        ("a\t1\t0\t#", "bid id 'a' is not a whole number"),
        ("0\t1\t\u00b2\t#", "good '\u00b2' is not a number in 0..2"),
    ],
)
def test_bad_bid_lines_become_rejected_rows(line: str, reason: str) -> None:
    bids, errors = parse_cats(f"goods 2\nbids 1\ndummy 1\n{line}\n", source="f", market_id="f")
    assert bids.height == 0
    assert errors["row"].to_list() == [4]
    assert reason in errors["reason"][0]


REFERENCE = pathlib.Path(__file__).parents[2] / "shared" / "data" / "cats"
OPTIMA = {  # proven by two solvers (see shared/data/cats/README.md)
    "L6_50x200_11": 39145.968,
    "L7_50x200_11": 27931.42,
    "arbitrary_50x200_11": 4260.0405,
    "matching_48x200_11": 127.63415,
    "paths_100x500_11": 26.7577738,
    "paths_200x1000_26": 58.178136,
    "regions_50x200_11": 3875.5979,
    "scheduling_50x200_11": 41.931016,
}


def test_generator_files_with_several_dummy_goods_keep_every_bid() -> None:
    path = REFERENCE / "paths_200x1000_26.txt"
    bids = pl.from_arrow(enx.read_cats(str(path)))
    assert bids.height == 1002  # the header's count: no line rejected
    hidden = bids["items"].list.eval(pl.element().str.starts_with("~").cast(pl.Int64)).list.sum()
    assert (hidden >= 2).sum() == 22


def test_read_cats_and_read_bids_raise_on_what_they_cannot_read(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.cats"
    path.write_text(CATS)
    for read in (enx.read_cats, enx.read_bids):
        with pytest.raises(enx.InputError, match=r"1 rows are not valid bids: row 9 `line`"):
            read(str(path))
    valid, rejected = enx.validate_bids(str(path))
    assert valid.height == 3 and rejected["row"].to_list() == [9]


@pytest.mark.parametrize("name", sorted(OPTIMA))
def test_reference_instances_clear_at_their_proven_optimum(name: str, client: Client) -> None:
    result = enx.clear(str(REFERENCE / f"{name}.txt"), client=client, solver="highs")
    summary = result.summary.row(0, named=True)
    assert summary["status"] == "optimal"
    assert summary["n_rejected"] == 0
    assert summary["welfare"] == pytest.approx(OPTIMA[name], rel=1e-7)


def test_bid_count_mismatch_is_reported_on_the_header_line() -> None:
    _, errors = parse_cats("goods 2\nbids 3\n0\t1\t0\t#\n", source="f", market_id="f")
    assert errors.row(0, named=True)["row"] == 2
    assert errors["reason"][0] == "header says 3 bids, the file has 1 bid lines"


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_cats_round_trip(distribution: str, tmp_path: pathlib.Path) -> None:
    bids = enx.generate(distribution, goods=30, bids=60, seed=5, market_id="g")
    path = tmp_path / "g.cats"
    path.write_text(write_cats_text(bids))
    back = pl.from_arrow(enx.read_cats(str(path)))
    assert back.height == bids.height
    assert back["price"].to_list() == bids["price"].to_list()
    real = back["items"].list.eval(pl.element().filter(~pl.element().str.starts_with("~")))
    assert real.list.len().to_list() == bids["items"].list.len().to_list()
    # exclusion survives: two bids share a dummy good after the trip iff they shared an XOR group
    before = (bids["agent_id"] + "|" + bids["xor_group"].fill_null(bids["bid_id"])).to_list()
    dummy = back["items"].list.eval(pl.element().filter(pl.element().str.starts_with("~")))
    after = [d[0] if d else f"own{i}" for i, d in enumerate(dummy.to_list())]
    assert _partition(after) == _partition(before)
    path.write_text(write_cats_text(back))  # and a second trip is exact
    assert pl.from_arrow(enx.read_cats(str(path))).equals(back)


def _partition(keys: list[str]) -> set[frozenset[int]]:
    groups: dict[str, set[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, set()).add(i)
    return {frozenset(g) for g in groups.values()}


def test_generators_are_seeded_and_reproducible() -> None:
    a = enx.generate("paths", goods=40, bids=80, seed=1)
    assert a.equals(enx.generate("paths", goods=40, bids=80, seed=1))
    assert not a.equals(enx.generate("paths", goods=40, bids=80, seed=2))
    with pytest.raises(enx.InputError, match="`distribution`: expected one of"):
        enx.generate("hexagons", goods=10, bids=10, seed=0)  # type: ignore[arg-type]


BIDS = pl.DataFrame(
    {
        "bid_id": ["1", "2"],
        "agent_id": ["a", "b"],
        "items": [["x"], ["x", "y"]],
        "price": [2.0, 3.0],
    }
)


@pytest.mark.parametrize("suffix", [".parquet", ".arrow", ".csv", ".csv.gz"])
def test_every_format_reads_from_local_file_and_memory_urls(
    suffix: str, tmp_path: pathlib.Path
) -> None:
    for url in (f"file://{tmp_path}/bids{suffix}", f"memory://enx-test/bids{suffix}"):
        _write(BIDS, url, suffix)
        valid, rejected = enx.validate_bids(url)
        assert valid["items"].to_list() == [["x"], ["x", "y"]]
        assert rejected.height == 0


def _write(frame: pl.DataFrame, url: str, suffix: str) -> None:
    with fsspec.open(url, "wb", compression="infer") as fh:
        if suffix == ".parquet":
            frame.write_parquet(fh)
        elif suffix == ".arrow":
            frame.write_ipc(fh)
        else:
            fh.write(frame.with_columns(pl.col("items").list.join(";")).write_csv().encode())


def test_format_override_and_unknown_extension(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bids.data"
    BIDS.write_parquet(path)
    with pytest.raises(
        enx.SourceReadError,
        match=r"(?s)cannot tell the format of .*bids.data.*hint: pass `format=`",
    ):
        read_source(str(path))
    assert read_source(str(path), format="parquet").records.height == 2
    with pytest.raises(enx.SourceReadError, match=r"cannot read .* as csv"):
        read_source(str(tmp_path / "x.csv").replace("x.csv", "bids.data"), format="csv")


def test_unreadable_sources_name_the_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(enx.SourceReadError, match=r"cannot read '.*nope.csv': file not found"):
        read_source(str(tmp_path / "nope.csv"))
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(enx.SourceReadError, match=r"cannot read '.*bad.parquet' as parquet"):
        read_source(str(bad))
