"""Large files read in pieces (Parquet row groups, CSV blocks) give the rows, row numbers,
errors and hash of a whole read, and the same run."""

from __future__ import annotations

import hashlib
import pathlib

import dask
import polars as pl
import pyarrow.parquet as pq
from distributed import Client
from hypothesis import given, settings
from hypothesis import strategies as st

import econonexus as enx
from econonexus.pipelines.io.pieces import read_piece, scan_file
from econonexus.pipelines.io.readers import read_source
from econonexus.pipelines.io.sources import expand_source


def _bids(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bid_id": [f"b{i}" for i in range(n)],
            "agent_id": [f"a{i % 37}" for i in range(n)],
            "market_id": [f"m{i % 7}" for i in range(n)],
            "items": [f"x{i % 5}" for i in range(n)],
            "price": [float(1 + (i * 7919) % 101) for i in range(n)],
        }
    )


def _pieced(path: pathlib.Path, piece_bytes: int) -> tuple[int, pl.DataFrame, pl.DataFrame]:
    """Read ``path`` in pieces: their number, the joined records and errors, hash checked."""
    (file,) = expand_source(str(path))
    scan = scan_file(file, None, piece_bytes)
    assert scan.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    if not scan.pieces:
        return 0, pl.DataFrame(), pl.DataFrame()
    raws = [read_piece(p, scan.sha256) for p in scan.pieces]
    records = pl.concat([r.records for r in raws], how="diagonal_relaxed")
    return len(raws), records, pl.concat([r.errors for r in raws])


def test_a_parquet_file_read_by_row_groups_is_the_whole_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bids.parquet"
    pq.write_table(_bids(10_000).to_arrow(), path, row_group_size=1_000)
    n, records, _ = _pieced(path, 20_000)
    whole = read_source(str(path))
    assert n > 2 and records.equals(whole.records)
    assert records["_row"].to_list() == list(range(1, 10_001))


def test_a_csv_file_read_in_blocks_is_the_whole_file_bad_lines_included(
    tmp_path: pathlib.Path,
) -> None:
    lines = ["bid_id,agent_id,market_id,items,price"]
    lines += [f"b{i},a{i % 37},m{i % 7},x{i % 5},{1 + i % 9}" for i in range(3_000)]
    lines[1_234] += ",extra"  # more fields than the header: rejected with its line number
    lines.insert(2_000, "")  # a blank line
    path = tmp_path / "bids.csv"
    path.write_text("\n".join(lines) + "\n")
    n, records, errors = _pieced(path, 4_096)
    whole = read_source(str(path))
    assert n > 5
    assert records.equals(whole.records)
    assert errors.equals(whole.errors) and errors["row"].to_list() == [1_235]


def test_a_csv_file_with_quotes_is_read_whole(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bids.csv"
    text = "bid_id,agent_id,market_id,items,price\n" + 'b1,a1,m1,"x;\ny",3\n' * 2_000
    path.write_text(text)
    (file,) = expand_source(str(path))
    assert scan_file(file, None, 1_000).pieces == []


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.sampled_from(["b,a,m,x,1", "", "bb,aa,mm,xy,22", "b,a,m", "b,a,m,x,1,9"])),
    piece_bytes=st.integers(1, 64),
    trailing=st.booleans(),
)
def test_csv_blocks_cut_anywhere_give_the_whole_reads_rows(
    tmp_path_factory: object, rows: list[str], piece_bytes: int, trailing: bool
) -> None:
    folder = tmp_path_factory.mktemp("csv")  # type: ignore[attr-defined]
    path = folder / "bids.csv"
    path.write_text("\n".join(["bid_id,agent_id,market_id,items,price", *rows]) + "\n" * trailing)
    n, records, errors = _pieced(path, piece_bytes)
    if n == 0:
        return
    whole = read_source(str(path))
    assert records.equals(whole.records.cast(records.schema)) or (
        records.height == whole.records.height == 0
    )
    assert errors["row"].to_list() == whole.errors["row"].to_list()


def test_a_run_from_a_file_read_in_pieces_is_the_run_of_a_whole_read(
    client: Client, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "bids.parquet"
    pq.write_table(_bids(6_000).to_arrow(), path, row_group_size=500)
    markets = {f"m{k}": {"format": "vickrey"} for k in range(7)}
    whole = enx.clear(str(path), markets=markets, client=client, out=str(tmp_path / "a"))
    with dask.config.set({"econonexus.io.piece-bytes": 10_000}):
        pieced = enx.clear(str(path), markets=markets, client=client, out=str(tmp_path / "b"))
    assert pieced.manifest["fingerprint"] == whole.manifest["fingerprint"]
    assert pieced.manifest["inputs"] == whole.manifest["inputs"]  # one file, its hash and rows
    assert pieced.allocations.drop("run_id").equals(whole.allocations.drop("run_id"))
    parts = [k for k in pieced.manifest["stored_inputs"] if k.startswith("inputs/bids/")]
    assert len(parts) > 2
    stored = pl.concat(pl.read_parquet(tmp_path / "b" / pieced.run_id / p) for p in sorted(parts))
    assert stored["_row"].to_list() == list(range(1, 6_001))
