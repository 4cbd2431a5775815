"""A run's records: the fingerprint of its inputs, its manifest and its audit events."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import platform
from importlib import metadata
from typing import Any

import polars as pl

from econonexus._core.market_settings import DEFAULT_SETTINGS, SETTING_NAMES, MarketSettings
from econonexus._core.schemas import EVENTS_SCHEMA, polars_schema
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.io.items import ItemsSource
from econonexus.pipelines.io.market_policy import DEFAULT_POLICY, POLICY_NAMES, MarketPolicy
from econonexus.pipelines.io.readers import SourceInfo

_PACKAGES = ("econonexus", "dask", "distributed", "pulp", "highspy", "polars", "pyarrow", "fsspec")


def now() -> dt.datetime:
    """The current UTC time."""
    return dt.datetime.now(dt.UTC)


def fingerprint(
    sources: list[SourceInfo],
    items: pl.DataFrame | None,
    options: BatchOptions,
    accounts: pl.DataFrame | None = None,
    carried: pl.DataFrame | None = None,
    live: dict[str, Any] | None = None,
) -> str:
    """Hash of the inputs' contents and the settings that decide the result."""
    h = hashlib.sha256()
    for source in sources:
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
        "detection": options.detection,
        "market_groups": market_groups(options),
        "default_market": _recorded(DEFAULT_SETTINGS, DEFAULT_POLICY),
        # only when set: the fingerprints of runs without one stay as they were
        **({"batch_time_limit": options.batch_time_limit} if options.batch_time_limit else {}),
    }


def market_groups(options: BatchOptions) -> list[dict[str, Any]]:
    """The listed markets grouped by their settings and policy: one flat row of the markets
    table per group, with its ``markets`` (sorted). 100,000 markets of one format are one group.
    """
    by_object: dict[tuple[int, int], tuple[MarketSettings, MarketPolicy, list[str]]] = {}
    for market, settings in options.markets.items():
        policy = options.policies.get(market, DEFAULT_POLICY)
        key = (id(settings), id(policy))  # markets of one table row's values share objects
        if key not in by_object:
            by_object[key] = (settings, policy, [])
        by_object[key][2].append(market)
    by_value: dict[tuple[MarketSettings, MarketPolicy], list[str]] = {}
    for settings, policy, markets in by_object.values():
        by_value.setdefault((settings, policy), []).extend(markets)
    groups = [
        {"markets": sorted(markets), **_recorded(settings, policy)}
        for (settings, policy), markets in by_value.items()
    ]
    return sorted(groups, key=lambda g: g["markets"][0])


def run_events(
    run_id: str, summary: pl.DataFrame, rejected_rows: int, manifest: dict[str, Any]
) -> pl.DataFrame:
    """The run's audit events: started, one ``market_cleared`` per market of ``summary``,
    halts, finished (with the number of ``rejected_rows``)."""
    started = {"inputs": [i["source"] for i in manifest["inputs"]]}
    finished = {
        "status": manifest["status"],
        "markets": summary.height,
        "rejected_rows": rejected_rows,
    }
    rows = [("run_started", None, json.dumps(started, sort_keys=True))]
    halts = [
        ("halt", h["market_id"], json.dumps(h, sort_keys=True)) for h in manifest.get("halts", [])
    ]
    # one JSON object per market, built by Polars: 100,000 json.dumps calls took seconds
    cleared = summary.sort("market_id").select(
        pl.lit("market_cleared").alias("kind"),
        "market_id",
        pl.struct(sorted(_MARKET_EVENT_KEYS)).struct.json_encode().alias("payload"),
    )
    schema = {"kind": pl.String, "market_id": pl.String, "payload": pl.String}
    frame = pl.concat(
        [
            pl.DataFrame(rows, schema=schema, orient="row"),
            cleared,
            pl.DataFrame(halts, schema=schema, orient="row"),
            pl.DataFrame(
                [("run_finished", None, json.dumps(finished, sort_keys=True))],
                schema=schema,
                orient="row",
            ),
        ]
    )
    stamp = pl.lit(now(), dtype=pl.Datetime("us", "UTC"))
    return frame.select(
        pl.lit(run_id).alias("run_id"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("seq"),
        stamp.alias("time"),
        "kind",
        "market_id",
        pl.lit(None, pl.String).alias("agent_id"),
        "payload",
    ).cast(polars_schema(EVENTS_SCHEMA))  # type: ignore[arg-type]


_MARKET_EVENT_KEYS = (
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


def run_manifest(
    run_id: str,
    digest: str,
    sources: list[SourceInfo],
    items: ItemsSource | None,
    options: BatchOptions,
    summary: pl.DataFrame,
    started: dt.datetime,
) -> dict[str, Any]:
    failed = summary.filter(pl.col("status") == "error").height
    return {
        "run_id": run_id,
        "fingerprint": digest,
        "status": "completed_with_errors" if failed else "completed",
        "inputs": [{"source": s.name, "sha256": s.sha256, "rows": s.rows} for s in sources],
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
    """A market's settings and policy, as one flat row of the markets table (scalars only)."""
    return {f: getattr(settings, f) for f in SETTING_NAMES} | {
        f: getattr(policy, f) for f in POLICY_NAMES
    }
