"""A run's records: the fingerprint of its inputs, its manifest and its audit events."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import platform
from importlib import metadata
from typing import Any

import polars as pl

from econonexus._core.market_settings import DEFAULT_SETTINGS, MarketSettings
from econonexus._core.schemas import EVENTS_SCHEMA, polars_schema
from econonexus.pipelines.graph.batch import BatchOutput
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.io.items import ItemsSource
from econonexus.pipelines.io.market_policy import DEFAULT_POLICY, MarketPolicy
from econonexus.pipelines.io.readers import RawSource

_PACKAGES = ("econonexus", "dask", "distributed", "pulp", "highspy", "polars", "pyarrow", "fsspec")


def now() -> dt.datetime:
    """The current UTC time."""
    return dt.datetime.now(dt.UTC)


def fingerprint(
    raw: list[RawSource],
    items: pl.DataFrame | None,
    options: BatchOptions,
    accounts: pl.DataFrame | None = None,
    carried: pl.DataFrame | None = None,
    live: dict[str, Any] | None = None,
) -> str:
    """Hash of the inputs' contents and the settings that decide the result."""
    h = hashlib.sha256()
    for source in raw:
        h.update(source.sha256.encode())
    for table in (items, accounts, carried):
        if table is not None:
            h.update(table.hash_rows(seed=0).to_numpy().tobytes())
    h.update(json.dumps(config_of(options), sort_keys=True).encode())
    if live is not None:  # live bidders answer from their state: another pool or round differs
        h.update(json.dumps(live, sort_keys=True).encode())
    return h.hexdigest()[:16]


def config_of(options: BatchOptions) -> dict[str, Any]:
    """The settings recorded in the manifest."""
    return {
        "solver": options.solver,
        "time_limit": options.limits.time_limit,
        "gap": options.limits.gap,
        "threads": options.limits.threads,
        "cbc_options": list(options.limits.cbc_options),
        "cbc_start_options": list(options.limits.cbc_start_options),
        "enumerate_max_bids": options.enumerate_max,
        "tie_epsilon": options.tie_epsilon,
        "markets": {
            m: _recorded(s, options.policies.get(m, DEFAULT_POLICY))
            for m, s in sorted(options.markets.items())
        },
        "default_market": _recorded(DEFAULT_SETTINGS, DEFAULT_POLICY),
    }


def run_events(run_id: str, output: BatchOutput, manifest: dict[str, Any]) -> pl.DataFrame:
    rows: list[dict[str, Any]] = [
        {
            "kind": "run_started",
            "market_id": None,
            "payload": {"inputs": [i["source"] for i in manifest["inputs"]]},
        }
    ]
    for m in output.summary.sort("market_id").iter_rows(named=True):
        rows.append(
            {
                "kind": "market_cleared",
                "market_id": m["market_id"],
                "payload": {
                    k: m[k]
                    for k in (
                        "format",
                        "payment_rule",
                        "status",
                        "n_bids",
                        "n_winners",
                        "welfare",
                        "revenue",
                        "bound",
                        "gap",
                    )
                },
            }
        )
    for halt in manifest.get("halts", []):
        rows.append({"kind": "halt", "market_id": halt["market_id"], "payload": halt})
    rows.append(
        {
            "kind": "run_finished",
            "market_id": None,
            "payload": {
                "status": manifest["status"],
                "markets": output.summary.height,
                "rejected_rows": output.rejected.select("source", "row").n_unique(),
            },
        }
    )
    stamp = now()
    return pl.DataFrame(
        [
            {
                "run_id": run_id,
                "seq": i,
                "time": stamp,
                "kind": r["kind"],
                "market_id": r["market_id"],
                "agent_id": None,
                "payload": json.dumps(r["payload"], sort_keys=True),
            }
            for i, r in enumerate(rows)
        ],
        schema=polars_schema(EVENTS_SCHEMA),
    )


def run_manifest(
    run_id: str,
    digest: str,
    raw: list[RawSource],
    items: ItemsSource | None,
    options: BatchOptions,
    output: BatchOutput,
    started: dt.datetime,
) -> dict[str, Any]:
    failed = output.summary.filter(pl.col("status") == "error").height
    return {
        "run_id": run_id,
        "fingerprint": digest,
        "status": "completed_with_errors" if failed else "completed",
        "inputs": [
            {"source": s.name, "sha256": s.sha256, "rows": s.records.height + s.errors.height}
            for s in raw
        ],
        "items": items if isinstance(items, str) else ("<table>" if items is not None else None),
        "config": config_of(options),
        "versions": {"python": platform.python_version(), **_versions()},
        "started_at": started.isoformat(),
        "finished_at": now().isoformat(),
    }


@functools.cache
def _versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _recorded(settings: MarketSettings, policy: MarketPolicy) -> dict[str, Any]:
    """A market's settings and policy, as one flat row of the markets table."""
    return {**dataclasses.asdict(settings), **dataclasses.asdict(policy)}
