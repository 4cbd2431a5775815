"""A batch validated part by part on the cluster gives the run it gives whole, and files are
read, hashed and written back where they are read."""

from __future__ import annotations

import hashlib
import json
import pathlib

import dask.config
import polars as pl
from dask.utils import key_split
from distributed import Client, get_task_stream

import econonexus as enx

KEYS = {"ann": "key-of-ann", "bob": "key-of-bob"}
MARKETS = {
    "sealed": {"format": "vickrey"},
    "staked": {"format": "sealed-first-price", "stake": 4.0},
    "secure": {"format": "vickrey", "signed": True},
}
ACCOUNTS = pl.DataFrame(
    {"agent_id": ["ann", "bob", "cat"], "free_stake": [9.0, 100.0, 0.0], "banned": [0, 0, 1]}
).with_columns(pl.col("banned").cast(pl.Boolean), reputation=pl.lit(0.5))
TIMING = ("solve_seconds",)


def _batch() -> pl.DataFrame:
    """60 rows whose rules span rows: duplicate ids far apart (one first copy broken),
    an agent's stake total over many parts, signed bids, bad rows, a banned agent."""
    rows = []
    for i in range(60):
        market = ("sealed", "staked", "combo", "secure")[i % 4]
        agent = ("ann", "bob", "cat", "dan")[i % 3 if market != "secure" else i % 2]
        items = [f"i{i % 5}"] if market != "combo" else [f"g{i % 3}", f"g{(i + 1) % 3}"]
        rows.append((f"b{i}", agent, market, items, float(1 + (i * 37) % 23)))
    rows[40] = ("b3", *rows[40][1:])  # a duplicate of row 4, in another part
    rows[10] = ("b50", "bob", "sealed", ["i0"], -1.0)  # broken, and first of a duplicate
    rows[33] = ("b33", "ann", "", ["i1"], 5.0)  # a blank market
    schema = ["bid_id", "agent_id", "market_id", "items", "price"]
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    signed = enx.sign_bids(frame, KEYS)
    forged = pl.col("bid_id") == "b7"
    return signed.with_columns(price=pl.when(forged).then(99.0).otherwise(pl.col("price")))


def _clear(
    client: Client, batch: pl.DataFrame | list[pl.DataFrame], settings: dict[str, object]
) -> enx.ClearingResult:
    with dask.config.set(settings):
        return enx.clear(
            batch, markets=MARKETS, accounts=ACCOUNTS, keys=KEYS, client=client, run_id="p"
        )


def test_a_batch_in_many_parts_clears_as_it_does_whole(client: Client) -> None:
    batch = _batch()
    whole = _clear(client, batch, {})
    parts = {
        "econonexus.cluster.embed-max-bytes": 0,  # to the cluster in parts of 7 rows
        "econonexus.cluster.partition-rows": 7,
        "econonexus.cluster.buckets": 3,
    }
    with get_task_stream(client) as stream:
        split = _clear(client, batch, parts)
    stages = {key_split(t["key"]) for t in stream.data}
    assert {"enx-check", "enx-dup", "enx-screen", "enx-stake", "enx-accept"} <= stages
    assert "enx-validate" not in stages  # no task saw the whole batch
    reasons = set(whole.rejected["reason"].to_list())
    assert "duplicate bid_id: 2 rows share it (first: <table 0> row 4)" in reasons
    assert "duplicate bid_id: 2 rows share it (first: <table 0> row 11)" in reasons
    assert any(r.startswith("insufficient stake") for r in reasons)
    assert any(r.startswith("forged signature") for r in reasons)
    assert "agent cat is banned" in reasons
    assert whole.allocations.equals(split.allocations)
    assert whole.summary.drop(TIMING).equals(split.summary.drop(TIMING))
    assert whole.rejected.equals(split.rejected)
    assert whole.flagged.equals(split.flagged)
    assert whole.events.drop("time").equals(split.events.drop("time"))


def test_parts_holding_rows_of_several_sources_name_each_duplicates_source(
    client: Client,
) -> None:
    batch = _batch()
    tables = [batch.slice(0, 20), batch.slice(20, 25), batch.slice(45)]  # parts of 7 rows span them
    parts = {"econonexus.cluster.embed-max-bytes": 0, "econonexus.cluster.partition-rows": 7}
    whole = _clear(client, tables, {})
    split = _clear(client, tables, parts)
    duplicate = split.rejected.filter(pl.col("field") == "bid_id")
    first = "duplicate bid_id: 2 rows share it (first: <table 0> row {})"
    assert duplicate.select("source", "row", "reason").rows() == [
        ("<table 0>", 4, first.format(4)),
        ("<table 0>", 11, first.format(11)),
        ("<table 1>", 21, first.format(4)),
        ("<table 2>", 6, first.format(11)),
    ]
    assert whole.rejected.equals(split.rejected)
    assert whole.allocations.equals(split.allocations)
    assert whole.summary.drop(TIMING).equals(split.summary.drop(TIMING))


def test_files_are_read_hashed_and_stored_part_by_part(
    client: Client, tmp_path: pathlib.Path
) -> None:
    folder = tmp_path / "bids"
    folder.mkdir()
    batch = _batch().drop("signature")
    for k in range(4):
        batch.slice(15 * k, 15).write_parquet(folder / f"f{k}.parquet")
    result = enx.clear(
        str(folder),
        markets=MARKETS | {"secure": {"format": "vickrey"}},
        client=client,
        out=str(tmp_path / "runs"),
        run_id="files",
    )
    manifest = json.loads((tmp_path / "runs" / "files" / "manifest.json").read_text())
    files = sorted(folder.glob("*.parquet"))
    assert [i["sha256"] for i in manifest["inputs"]] == [
        hashlib.sha256(f.read_bytes()).hexdigest() for f in files
    ]
    stored = sorted(k for k in manifest["stored_inputs"] if k.startswith("inputs/bids/"))
    assert stored == [f"inputs/bids/part-{k:05d}.parquet" for k in range(4)]
    kept = pl.read_parquet(tmp_path / "runs" / "files" / "inputs" / "bids")
    assert kept.height == 60 and kept["_source"].unique().sort().to_list() == [
        str(f) for f in files
    ]
    assert result.summary.height == 4  # sealed, staked, combo, secure; the blank market rejected
    assert enx.read_run(str(tmp_path / "runs" / "files")).allocations.equals(result.allocations)
