"""How frames travel between processes: small ones as Polars' own pickle, large ones as
compressed Arrow IPC; both come back equal."""

from __future__ import annotations

import pickle

import polars as pl

import econonexus  # noqa: F401  (registers the reducer)
from econonexus._core.transport import SMALL_FRAME_BYTES


def _bids(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bid_id": [f"b{i}" for i in range(n)],
            "items": [["x", "y"]] * n,
            "price": [float(i) for i in range(n)],
            "note": pl.Series([None] * n, dtype=pl.String),  # all null: 16 bytes a row raw
        }
    )


def test_a_small_frame_travels_as_polars_own_pickle() -> None:
    small = _bids(50)
    assert small.estimated_size() <= SMALL_FRAME_BYTES
    data = pickle.dumps(small)
    assert b"restore_frame" not in data
    assert pickle.loads(data).equals(small)


def test_a_large_frame_travels_as_compressed_ipc() -> None:
    large = _bids(200_000)
    assert large.estimated_size() > SMALL_FRAME_BYTES
    data = pickle.dumps(large)
    assert b"restore_frame" in data
    assert len(data) < large.estimated_size() / 10
    back = pickle.loads(data)
    assert back.equals(large) and back.schema == large.schema
