"""Audit a past run: re-clear it from its stored inputs and compare (``econonexus audit verify``).

A run written with ``out`` keeps its inputs under ``<run>/inputs/``: the
normalized bids of every source, the items and accounts tables, and the rows
the readers rejected. Signing keys are never stored, so bids rejected for
their signature stay rejected and the others are re-cleared without the
signature check. Allocations (who won, what they pay) must match to the cent
fraction (relative 1e-9); a run that stopped at a solver time limit may
legitimately differ, and the report says so.
"""

from __future__ import annotations

import dataclasses
import io
import posixpath
from dataclasses import dataclass
from typing import Any

import fsspec
import polars as pl
from distributed import Client

from econonexus._errors import SourceReadError
from econonexus.pipelines.batch import run_batch
from econonexus.pipelines.cluster import connect
from econonexus.pipelines.options import BatchOptions
from econonexus.pipelines.outputs import read_run
from econonexus.solvers.backends import CBC_OPTIONS, CBC_START_OPTIONS, SolveLimits
from econonexus.solvers.settings import MarketSettings

INPUTS = ("bids", "items", "accounts", "source_errors")


@dataclass(frozen=True)
class AuditReport:
    """The verdict on one run: bids compared and the rows that differ."""

    run_id: str
    checked: int
    mismatches: pl.DataFrame
    time_limited: bool

    @property
    def ok(self) -> bool:
        """True when every allocation and payment matched."""
        return self.mismatches.is_empty()


def verify_run(location: str, *, client: Client | str | None = None) -> AuditReport:
    """Re-clear the run at ``location`` from its stored inputs and compare allocations."""
    stored = read_run(location)
    inputs = _read_inputs(location)
    if "bids" not in inputs:
        raise SourceReadError(f"{location!r}: the run has no stored inputs (inputs/bids.parquet)")
    config = stored.manifest["config"]
    signature_rejected = stored.tables["rejected"].filter(pl.col("field") == "signature")
    bids = inputs["bids"].join(
        signature_rejected.select(pl.col("source").alias("_source"), pl.col("row").alias("_row")),
        on=["_source", "_row"],
        how="anti",
    )
    with connect(client) as c:
        output = run_batch(
            c,
            bids,
            inputs.get("items"),
            options_from_config(config),
            inputs["source_errors"],
            accounts=inputs.get("accounts"),
        )
    mismatches = _compare(stored.tables["allocations"], output.allocations)
    limited = bool(stored.tables["summary"].filter(pl.col("status") == "time_limit").height)
    return AuditReport(stored.manifest["run_id"], output.allocations.height, mismatches, limited)


def options_from_config(config: dict[str, Any]) -> BatchOptions:
    """The batch options a manifest's ``config`` records (signature checks off: no keys)."""
    markets = {
        m: dataclasses.replace(MarketSettings(**values), signed=False)
        for m, values in config["markets"].items()
    }
    limits = SolveLimits(
        time_limit=config["time_limit"],
        gap=config["gap"],
        threads=config["threads"],
        cbc_options=tuple(config.get("cbc_options", CBC_OPTIONS)),
        cbc_start_options=tuple(config.get("cbc_start_options", CBC_START_OPTIONS)),
    )
    return BatchOptions(
        solver=config["solver"],
        limits=limits,
        enumerate_max=config["enumerate_max_bids"],
        tie_epsilon=config["tie_epsilon"],
        markets=markets,
    )


def _read_inputs(location: str) -> dict[str, pl.DataFrame]:
    fs, root = fsspec.core.url_to_fs(posixpath.join(location, "inputs"))
    found = {}
    for name in INPUTS:
        path = posixpath.join(root, f"{name}.parquet")
        if fs.exists(path):
            with fs.open(path, "rb") as fh:
                found[name] = pl.read_parquet(io.BytesIO(fh.read()))
    return found


def _compare(stored: pl.DataFrame, fresh: pl.DataFrame) -> pl.DataFrame:
    """Bids whose ``won`` or ``payment`` differ, or that one side lacks."""
    keys = ["market_id", "bid_id"]
    joined = stored.select(*keys, "won", "payment").join(
        fresh.select(*keys, "won", "payment"),
        on=keys,
        how="full",
        suffix="_recleared",
        coalesce=True,
    )
    payment, again = pl.col("payment"), pl.col("payment_recleared")
    differs = (
        pl.col("won").is_null()
        | pl.col("won_recleared").is_null()
        | (pl.col("won") != pl.col("won_recleared"))
        | ((payment - again).abs() > 1e-9 * (1 + payment.abs()))
    )
    return joined.filter(differs).sort(keys)
