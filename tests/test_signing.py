"""Signed bids: canonical form, forged, unsigned, keyless and replayed bids, keys kept secret."""

from __future__ import annotations

import hashlib
import hmac
import pathlib

import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.io.signing import canonical, load_keys

KEYS = {"alice": "alice-secret-key-1", "bob": "bob-secret-key-2"}
MARKETS = {"secure": {"format": "sealed-first-price", "signed": True}}


def bids() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bid_id": ["a1", "b1", "a2", "c1"],
            "agent_id": ["alice", "bob", "alice", "carol"],
            "market_id": "secure",
            "items": [["x"], ["x"], ["y"], ["y"]],
            "quantities": [[1], [1], [1], [1]],
            "price": [10.0, 12.5, 7.0, 9.0],
        }
    )


def test_the_canonical_form_is_the_documented_bytes() -> None:
    row = bids().row(1, named=True)
    expected = b"b1\x1fbob\x1fsecure\x1fx\x1f1\x1f12.5\x1f\x1fbuy"
    assert canonical(row) == expected
    signed = enx.sign_bids(bids(), KEYS)
    digest = hmac.new(b"bob-secret-key-2", expected, hashlib.sha256).hexdigest()
    assert signed["signature"][1] == digest
    assert signed["signature"][3] is None  # carol has no key


def test_keys_tables_are_checked() -> None:
    with pytest.raises(enx.InputError, match=r"keys: missing column\(s\) \['key'\]"):
        load_keys(pl.DataFrame({"agent_id": ["a"]}))
    with pytest.raises(enx.InputError, match="agent 'a' has an empty `key`"):
        load_keys({"a": ""})


def test_signed_market_rejects_unsigned_forged_keyless_and_replayed_bids(
    client: Client, tmp_path: pathlib.Path
) -> None:
    signed = enx.sign_bids(bids(), {**KEYS, "carol": "a key the market does not know"})
    forged = signed.with_columns(
        pl.when(pl.col("bid_id") == "a2").then(8.0).otherwise(pl.col("price")).alias("price")
    )
    unsigned = (
        bids()
        .head(1)
        .with_columns(
            bid_id=pl.lit("a3"), items=pl.Series([["z"]]), signature=pl.lit(None, pl.String)
        )
    )
    batch = pl.concat([forged, unsigned])
    out = str(tmp_path)
    first = enx.clear(batch, markets=MARKETS, keys=KEYS, client=client, out=out, run_id="r1")
    reasons = dict(first.rejected.select("bid_id", "reason").iter_rows())
    assert reasons["a2"].startswith("forged signature")
    assert reasons["a3"] == "unsigned bid: market 'secure' requires a signature"
    assert reasons["c1"] == "no key for agent 'carol': cannot check the signature"
    assert set(first.rejected["field"]) == {"signature"}
    assert first.allocations.filter("won")["bid_id"].to_list() == ["b1"]
    replay = enx.clear(
        signed.filter(pl.col("bid_id") == "b1"),
        markets=MARKETS,
        keys=KEYS,
        client=client,
        out=out,
        run_id="r2",
    )
    assert replay.rejected["reason"].to_list() == [
        "replayed bid: bid_id already accepted in run 'r1'"
    ]
    assert replay.summary["status"].to_list() == ["empty"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(key.encode() in content for key in KEYS.values()), path
