"""One clearing run: collect sources, clear on Dask, stamp, record events, write."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections.abc import Sequence
from importlib import metadata
from typing import Any, TypeAlias

import polars as pl
import pyarrow as pa
from distributed import Client

from econonexus._config import get_setting
from econonexus._errors import EconoNexusError, InputError, RunFailedError
from econonexus.pipelines.batch import BatchOptions, BatchOutput, run_batch
from econonexus.pipelines.cats import ERRORS_SCHEMA
from econonexus.pipelines.cluster import connect
from econonexus.pipelines.items import ItemsSource, load_items
from econonexus.pipelines.normalize import normalize
from econonexus.pipelines.outputs import run_location, stored_run_for, write_run
from econonexus.pipelines.readers import Format, RawSource, read_source, table_source
from econonexus.pipelines.result import ClearingResult
from econonexus.solvers.backends import SolveLimits, get_backend
from econonexus.solvers.schemas import SolverName

BidSource: TypeAlias = str | pa.Table | pl.DataFrame
_PACKAGES = ("econonexus", "dask", "distributed", "pulp", "highspy", "polars", "pyarrow", "fsspec")


def collect(
    source: BidSource | Sequence[BidSource], *, format: Format | None = None
) -> list[RawSource]:
    """Read every source of a batch (URLs, Arrow tables or Polars frames)."""
    sources = [source] if isinstance(source, str | pa.Table | pl.DataFrame) else list(source)
    if not sources:
        raise InputError("`source`: expected at least one bid source, got none")
    raw = []
    for i, s in enumerate(sources):
        if isinstance(s, str):
            raw.append(read_source(s, format=format))
        elif isinstance(s, pa.Table | pl.DataFrame):
            raw.append(table_source(s, f"<table {i}>"))
        else:
            raise InputError(f"`source`: expected a path/URL or a table, got {type(s).__name__}")
    return raw


def make_options(
    *, solver: str | None, time_limit: float | None, gap: float | None
) -> BatchOptions:
    """Check the solver options and fill the unset ones from the settings."""
    name = solver or get_setting("solver.backend")
    get_backend(name)
    limit = time_limit if time_limit is not None else get_setting("solver.time-limit")
    if limit is not None and not limit > 0:
        raise InputError(f"`time_limit`: expected seconds > 0 or None, got {limit!r}")
    rel_gap = gap if gap is not None else get_setting("solver.gap")
    if not 0 <= rel_gap < 1:
        raise InputError(f"`gap`: expected a relative gap in [0, 1), got {rel_gap!r}")
    limits = SolveLimits(
        time_limit=limit, gap=float(rel_gap), threads=int(get_setting("solver.threads"))
    )
    return BatchOptions(
        solver=name,
        limits=limits,
        enumerate_max=int(get_setting("solver.enumerate-max-bids")),
        tie_epsilon=float(get_setting("solver.tie-epsilon")),
        retries=int(get_setting("retries")),
    )


def fingerprint(raw: list[RawSource], items: pl.DataFrame | None, options: BatchOptions) -> str:
    """Hash of the inputs' contents and the settings that decide the result."""
    h = hashlib.sha256()
    for source in raw:
        h.update(source.sha256.encode())
    if items is not None:
        h.update(items.hash_rows(seed=0).to_numpy().tobytes())
    h.update(json.dumps(config_of(options), sort_keys=True).encode())
    return h.hexdigest()[:16]


def config_of(options: BatchOptions) -> dict[str, Any]:
    """The settings recorded in the manifest."""
    return {
        "solver": options.solver,
        "time_limit": options.limits.time_limit,
        "gap": options.limits.gap,
        "threads": options.limits.threads,
        "enumerate_max_bids": options.enumerate_max,
        "tie_epsilon": options.tie_epsilon,
        "format": "combinatorial",
        "payment_rule": "pay-as-bid",
    }


def clear(
    source: BidSource | Sequence[BidSource],
    *,
    items: ItemsSource | None = None,
    client: Client | str | None = None,
    solver: SolverName | None = None,
    time_limit: float | None = None,
    gap: float | None = None,
    run_id: str | None = None,
    out: str | None = None,
    format: Format | None = None,
    workers: int | None = None,
) -> ClearingResult:
    """Clear a batch of bids on a Dask cluster and return the result.

    Parameters
    ----------
    source
        A path or fsspec URL (Parquet, CSV, Arrow IPC or CATS), a
        ``pyarrow.Table``, a Polars DataFrame, or a list of them.
    items
        Optional items table (URL or table): supply and reserve price per
        item and market. Without one every item has supply 1 and reserve 0.
    client
        A ``distributed.Client``, a scheduler address, or ``None`` (the
        current client, else a new multi-process ``LocalCluster``).
    solver
        MIP backend, ``"cbc"`` or ``"highs"`` (default: setting
        ``econonexus.solver.backend``).
    time_limit
        Seconds per component before the solver stops with its best
        allocation (status ``time_limit``); ``None`` for no limit.
    gap
        Relative MIP gap at which to stop; 0 (default) proves optimality.
    run_id
        The run's id; default: UTC time plus a hash of inputs and settings.
        With ``out``, a stored run of that id and the same inputs is returned
        without recomputing; with other inputs it is refused.
    out
        Where to write ``<out>/<run_id>/``; ``None`` writes nothing.
    format
        Override the format implied by the extensions.
    workers
        Workers of the ``LocalCluster`` started when no cluster is given.

    Returns
    -------
    ClearingResult
        ``allocations``, ``summary``, ``rejected`` and ``events`` as Polars
        DataFrames, the ``manifest``, and ``write(url)``.

    Examples
    --------
    >>> result = econonexus.clear("data/bids.csv", items="data/items.csv")  # doctest: +SKIP
    >>> result.summary.select("market_id", "status", "welfare")  # doctest: +SKIP
    """
    options = make_options(solver=solver, time_limit=time_limit, gap=gap)
    started = _now()
    raw = collect(source, format=format)
    item_table = None if items is None else load_items(items)
    print_ = fingerprint(raw, item_table, options)
    run_id = run_id or f"{started.strftime('%Y%m%dT%H%M%SZ')}-{print_[:8]}"
    if out is not None and (stored := stored_run_for(out, run_id, print_)) is not None:
        return ClearingResult.from_stored(stored)
    frame = pl.concat([normalize(s.records, s.name) for s in raw], how="vertical_relaxed")
    errors = pl.concat([s.errors for s in raw]).cast(ERRORS_SCHEMA)  # type: ignore[arg-type]
    try:
        with connect(client, n_workers=workers) as c:
            output = run_batch(c, frame, item_table, options, errors)
    except EconoNexusError:
        raise
    except Exception as exc:  # a lost cluster, a task that failed every retry, ...
        raise RunFailedError(
            f"run {run_id!r} failed, nothing was written: {type(exc).__name__}: {exc}"
        ) from exc
    manifest = _manifest(run_id, print_, raw, items, options, output, started)
    result = _stamp(run_id, output, manifest)
    if out is not None:
        location = run_location(out, run_id)
        write_run(location, result.tables, manifest)
        result = ClearingResult(
            run_id,
            result.allocations,
            result.summary,
            result.rejected,
            result.events,
            manifest,
            location,
        )
    return result


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(run_id: str, output: BatchOutput, manifest: dict[str, Any]) -> ClearingResult:
    run = pl.lit(run_id).alias("run_id")
    rejected = output.rejected.drop("market_id").sort("source", "row", "field")
    return ClearingResult(
        run_id,
        output.allocations.select(run, pl.all()).sort("market_id", "bid_id"),
        output.summary.select(run, pl.all()).sort("market_id"),
        rejected.select(run, pl.all()),
        _events(run_id, output, manifest),
        manifest,
    )


def _events(run_id: str, output: BatchOutput, manifest: dict[str, Any]) -> pl.DataFrame:
    rows: list[dict[str, Any]] = [
        {
            "kind": "run_started",
            "market_id": None,
            "payload": {"inputs": [i["source"] for i in manifest["inputs"]]},
        }
    ]
    for m in output.summary.iter_rows(named=True):
        rows.append(
            {
                "kind": "market_cleared",
                "market_id": m["market_id"],
                "payload": {
                    k: m[k]
                    for k in ("status", "n_bids", "n_winners", "welfare", "revenue", "bound", "gap")
                },
            }
        )
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
    now = _now()
    return pl.DataFrame(
        [
            {
                "run_id": run_id,
                "seq": i,
                "time": now,
                "kind": r["kind"],
                "market_id": r["market_id"],
                "agent_id": None,
                "payload": json.dumps(r["payload"], sort_keys=True),
            }
            for i, r in enumerate(rows)
        ],
        schema={
            "run_id": pl.String,
            "seq": pl.Int64,
            "time": pl.Datetime("us", "UTC"),
            "kind": pl.String,
            "market_id": pl.String,
            "agent_id": pl.String,
            "payload": pl.String,
        },
    )


def _manifest(
    run_id: str,
    print_: str,
    raw: list[RawSource],
    items: ItemsSource | None,
    options: BatchOptions,
    output: BatchOutput,
    started: dt.datetime,
) -> dict[str, Any]:
    failed = output.summary.filter(pl.col("status") == "error").height
    return {
        "run_id": run_id,
        "fingerprint": print_,
        "status": "completed_with_errors" if failed else "completed",
        "inputs": [
            {"source": s.name, "sha256": s.sha256, "rows": s.records.height + s.errors.height}
            for s in raw
        ],
        "items": items if isinstance(items, str) else ("<table>" if items is not None else None),
        "config": config_of(options),
        "versions": {"python": platform.python_version(), **_versions()},
        "started_at": started.isoformat(),
        "finished_at": _now().isoformat(),
    }


def _versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
