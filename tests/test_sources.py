"""Sources that are many files: a directory, a glob, a hive-partitioned dataset."""

from __future__ import annotations

import pathlib

import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.io.sources import expand_source


def _dataset(root: pathlib.Path) -> pl.DataFrame:
    """Three Parquet files under market_id=... directories, and files that are not bids."""
    bids = pl.DataFrame(
        {
            "bid_id": [f"b{i}" for i in range(9)],
            "agent_id": [f"a{i}" for i in range(9)],
            "items": [["x"]] * 9,
            "price": [float(10 + i) for i in range(9)],
        }
    )
    for k, market in enumerate(["m1", "m2", "m3"]):
        folder = root / f"market_id={market}"
        folder.mkdir(parents=True)
        bids.slice(3 * k, 3).write_parquet(folder / "part-0.parquet")
    (root / "_SUCCESS").write_text("")
    (root / "market_id=m1" / ".part-0.parquet.crc").write_text("")
    (root / "README.md").write_text("not bids")
    return bids


def test_a_directory_and_a_glob_expand_to_their_bid_files(tmp_path: pathlib.Path) -> None:
    _dataset(tmp_path / "bids")
    files = expand_source(str(tmp_path / "bids"))
    assert [pathlib.Path(f.url).parent.name for f in files] == [
        "market_id=m1",
        "market_id=m2",
        "market_id=m3",
    ]
    assert [f.partitions for f in files] == [{"market_id": m} for m in ("m1", "m2", "m3")]
    globbed = expand_source(str(tmp_path / "bids" / "market_id=m[12]" / "*.parquet"))
    assert [f.partitions for f in globbed] == [{"market_id": "m1"}, {"market_id": "m2"}]
    (tmp_path / "empty").mkdir()
    with pytest.raises(enx.SourceReadError, match=r"empty'.*no bid files found"):
        expand_source(str(tmp_path / "empty"))


@pytest.mark.slow
def test_a_hive_partitioned_dataset_clears_market_by_market(
    client: Client, tmp_path: pathlib.Path
) -> None:
    _dataset(tmp_path / "bids")
    markets = {m: {"format": "vickrey"} for m in ("m1", "m2", "m3")}
    result = enx.clear(str(tmp_path / "bids"), markets=markets, client=client)
    winners = result.allocations.filter("won").sort("market_id")
    assert winners.select("market_id", "bid_id", "payment").rows() == [
        ("m1", "b2", 11.0),
        ("m2", "b5", 14.0),
        ("m3", "b8", 17.0),
    ]
    assert len(result.manifest["inputs"]) == 3, "each file is an input with its own hash"
