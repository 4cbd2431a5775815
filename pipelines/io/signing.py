"""Signed bids: HMAC-SHA256 over a canonical form, per-agent keys, replay protection.

Canonical form of a bid (UTF-8), the fields joined by the unit separator
``\\x1f``: ``bid_id``, ``agent_id``, ``market_id``, the items joined by the
record separator ``\\x1e``, the quantities (one per item; 1 each when the
bid gives none) joined by ``\\x1e``, the price as Python's shortest
round-trip ``repr`` of the float, ``xor_group`` (empty when none) and
``side`` (``buy`` when none). The signature is the lowercase hex
HMAC-SHA256 of those bytes under the agent's key.

A market with ``signed: true`` rejects unsigned bids, bids of agents without
a key, bids whose signature does not match (forged or altered), and bids
whose ``bid_id`` was already accepted in an earlier run (replayed). Keys are
only ever held in memory: they are not written to any output or log.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import TypeAlias

import polars as pl
import pyarrow as pa

from econonexus._core.errors import InputError
from econonexus.pipelines.io.market_policy import MarketPolicy
from econonexus.pipelines.io.readers import table_of
from econonexus.pipelines.store.out_folder import SIGNED, RunStore
from econonexus.pipelines.store.run_store import check_run_id

KeysSource: TypeAlias = str | pa.Table | pl.DataFrame | Mapping[str, str]
_US, _RS = "\x1f", "\x1e"


def load_keys(source: KeysSource) -> dict[str, bytes]:
    """Agent id to key bytes, from a mapping or a table with ``agent_id`` and ``key``."""
    if isinstance(source, Mapping):
        pairs = list(source.items())
    else:
        frame = table_of(source)
        missing = {"agent_id", "key"} - set(frame.columns)
        if missing:
            raise InputError(f"keys: missing column(s) {sorted(missing)}; expected agent_id, key")
        pairs = list(
            frame.select(
                pl.col("agent_id").cast(pl.String), pl.col("key").cast(pl.String)
            ).iter_rows()
        )
    empty = [a for a, k in pairs if not k]
    if empty:
        raise InputError(f"keys: agent {empty[0]!r} has an empty `key`; expected a secret string")
    return {str(a): str(k).encode() for a, k in pairs}


def canonical(row: Mapping[str, object]) -> bytes:
    """The canonical bytes of one bid (a row with the bids-schema fields)."""
    items = [str(i) for i in row["items"]]  # type: ignore[attr-defined]
    quantities = row.get("quantities") or [1] * len(items)
    fields = [
        str(row["bid_id"]),
        str(row["agent_id"]),
        str(row.get("market_id") or "default"),
        _RS.join(items),
        _RS.join(str(int(q)) for q in quantities),  # type: ignore[attr-defined]
        repr(float(row["price"])),  # type: ignore[arg-type]
        str(row.get("xor_group") or ""),
        str(row.get("side") or "buy"),
    ]
    return _US.join(fields).encode()


def signature(row: Mapping[str, object], key: bytes) -> str:
    """The HMAC-SHA256 signature of one bid under ``key``."""
    return hmac.new(key, canonical(row), hashlib.sha256).hexdigest()


def sign_bids(bids: pl.DataFrame, keys: KeysSource) -> pl.DataFrame:
    """``bids`` with ``signature`` filled for every bid whose agent has a key."""
    known = load_keys(keys)
    rows = bids.iter_rows(named=True)
    signatures = [
        signature(r, known[r["agent_id"]]) if r["agent_id"] in known else None for r in rows
    ]
    return bids.with_columns(pl.Series("signature", signatures, dtype=pl.String))


def signature_rules(
    valid: pl.DataFrame,
    markets: dict[str, MarketPolicy],
    keys: dict[str, bytes] | None,
    seen: pl.DataFrame | None,
) -> pl.DataFrame:
    """Rejected rows of signed markets: ``_source``, ``_row``, ``bid_id``, ``field``, ``reason``."""
    signed = [m for m, s in markets.items() if s.signed]
    frame = valid.filter(pl.col("market_id").is_in(signed))
    rows = []
    previous = _seen_runs(seen)
    for row in frame.iter_rows(named=True):
        reason = _problem(row, keys or {}, previous)
        if reason is not None:
            rows.append((row["_source"], row["_row"], row["bid_id"], "signature", reason))
    schema = {
        "_source": pl.String,
        "_row": pl.Int64,
        "bid_id": pl.String,
        "field": pl.String,
        "reason": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _problem(
    row: dict[str, object], keys: dict[str, bytes], previous: dict[str, str]
) -> str | None:
    market = row["market_id"]
    if not row.get("signature"):
        return f"unsigned bid: market '{market}' requires a signature"
    key = keys.get(str(row["agent_id"]))
    if key is None:
        return f"no key for agent '{row['agent_id']}': cannot check the signature"
    if not hmac.compare_digest(str(row["signature"]).lower(), signature(row, key)):
        return "forged signature: the HMAC-SHA256 does not match the bid's canonical form and key"
    if str(row["bid_id"]) in previous:
        return f"replayed bid: bid_id already accepted in run '{previous[str(row['bid_id'])]}'"
    return None


def _seen_runs(seen: pl.DataFrame | None) -> dict[str, str]:
    if seen is None or seen.is_empty():
        return {}
    return dict(seen.select("bid_id", "run_id").iter_rows())


def record_signed(
    out: str, run_id: str, allocations: pl.DataFrame, markets: dict[str, MarketPolicy]
) -> None:
    """Remember the bids a run accepted in signed markets, so no later run accepts them again."""
    check_run_id(run_id)
    signed = [m for m, s in markets.items() if s.signed]
    accepted = allocations.filter(pl.col("market_id").is_in(signed)).select("bid_id", "run_id")
    if accepted.is_empty():
        return
    RunStore(out).write_parquet(SIGNED, run_id, accepted)


def read_signed(out: str, *, exclude: str) -> pl.DataFrame | None:
    """Signed bids (``bid_id``, ``run_id``) accepted by the runs under ``out`` but ``exclude``."""
    store = RunStore(out)
    runs = [name for name in store.names(SIGNED, ".parquet") if name != exclude]
    if not runs:
        return None
    return pl.concat([store.read_parquet(SIGNED, name) for name in runs])
