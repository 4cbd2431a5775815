"""Audit a past run: check its files and re-clear it (``econonexus audit verify``).

A run written with ``out`` keeps its inputs under ``<run>/inputs/``: the
normalized bids of every source, the items and accounts tables, and the rows
the readers rejected. Its manifest records the SHA-256 of every file (inputs
and outputs) and of itself. Verifying a run checks every one of those hashes,
then re-clears the stored inputs with the recorded settings and compares
every output table: allocations bid by bid (who won, what they pay, price,
items, stake, VCG ranges), the summary market by market, the rejected,
price-path and flagged rows as sets, and the events against the summary and
manifest they record. Signing keys are never stored, so bids rejected for
their signature stay rejected and the others are re-cleared without the
signature check. Halted markets are not re-cleared. A run that stopped at a
solver time limit may legitimately differ, and the report says so.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl
from distributed import Client

from econonexus._core.errors import IntegrityError, SourceReadError
from econonexus._core.market_settings import MarketSettings
from econonexus.pipelines.graph.batch import BatchOutput, run_batch
from econonexus.pipelines.graph.cluster import connect
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.io.accounts import with_stake
from econonexus.pipelines.io.market_policy import MarketPolicy
from econonexus.pipelines.store.manifest import run_events
from econonexus.pipelines.store.run_files import read_recorded, recorded_files, table_files
from econonexus.pipelines.store.run_store import manifest_digest, read_run
from econonexus.solvers.backends import SolveLimits

INPUTS = ("bids", "items", "accounts", "source_errors")
T = TypeVar("T")
_ALLOCATION_COLUMNS = (
    "agent_id",
    "won",
    "payment",
    "price",
    "items",
    "payment_exact",
    "payment_low",
    "payment_high",
    "stake",
)
_UNTIMED = {"solve_seconds"}  # summary columns that differ from run to run by nature


@dataclass(frozen=True)
class AuditReport:
    """The verdict on one run: files checked, bids compared, and everything that differs."""

    run_id: str
    checked: int
    mismatches: pl.DataFrame
    time_limited: bool
    files: tuple[str, ...] = ()
    """Files (or the manifest) whose bytes differ from the recorded hashes, with why."""
    tables: dict[str, int] = field(default_factory=dict)
    """Per output table other than allocations: rows that differ from the re-clear."""

    @property
    def ok(self) -> bool:
        """True when every file matches its hash and every table matches the re-clear."""
        return self.mismatches.is_empty() and not self.files and not any(self.tables.values())

    @property
    def findings(self) -> list[str]:
        """One line per problem found."""
        lines = list(self.files)
        lines += [
            f"{name}: {n} rows differ from the re-clear" for name, n in self.tables.items() if n
        ]
        if self.mismatches.height:
            lines.append(f"allocations: {self.mismatches.height} bids differ from the re-clear")
        return lines


def verify_run(location: str, *, client: Client | str | None = None) -> AuditReport:
    """Check the run at ``location`` against its hashes, re-clear it and compare every table."""
    stored = read_run(location, check=False)
    manifest = stored.manifest
    files = _file_problems(location, manifest)
    inputs = _read_inputs(location, manifest)
    if "bids" not in inputs:
        raise SourceReadError(f"{location!r}: the run has no stored inputs (inputs/bids)")
    config = manifest["config"]
    signature_rejected = stored.tables["rejected"].filter(pl.col("field") == "signature")
    bids = inputs["bids"].join(
        signature_rejected.select(pl.col("source").alias("_source"), pl.col("row").alias("_row")),
        on=["_source", "_row"],
        how="anti",
    )
    options = options_from_config(config)
    with connect(client) as c:
        output = run_batch(
            c,
            bids,
            inputs.get("items"),
            options,
            inputs["source_errors"],
            accounts=inputs.get("accounts"),
        )
    halted = stored.tables["summary"].filter(pl.col("status") == "halted")["market_id"]
    fresh = _fresh_tables(output, options, halted)
    tables = {
        name: _differing_rows(_unhalted(stored.tables[name], halted), fresh[name])
        for name in ("summary", "rejected", "prices", "flagged")
    }
    stored_rejected = stored.tables["rejected"].select("source", "row").n_unique()
    expected_events = run_events(
        str(manifest["run_id"]), stored.tables["summary"], stored_rejected, manifest
    )
    tables["events"] = _differing_rows(stored.tables["events"], expected_events, skip={"time"})
    mismatches = _compare(_unhalted(stored.tables["allocations"], halted), fresh["allocations"])
    limited = bool(stored.tables["summary"].filter(pl.col("status") == "time_limit").height)
    return AuditReport(
        str(manifest["run_id"]), fresh["allocations"].height, mismatches, limited, files, tables
    )


def _file_problems(location: str, manifest: dict[str, Any]) -> tuple[str, ...]:
    problems = []
    recorded = manifest.get("manifest_sha256")
    if recorded is not None and recorded != manifest_digest(manifest):
        problems.append("manifest.json: its content differs from its recorded SHA-256 (edited)")
    for relative in sorted(recorded_files(manifest)):
        try:
            read_recorded(location, manifest, relative)
        except IntegrityError as exc:
            problems.append(str(exc))
    return tuple(problems)


def _fresh_tables(
    output: BatchOutput, options: BatchOptions, halted: pl.Series
) -> dict[str, pl.DataFrame]:
    cleared = _unhalted(output.allocations, halted)
    return {
        "allocations": with_stake(cleared, options.policies),
        "summary": _unhalted(output.summary, halted),
        "rejected": output.rejected.drop("market_id"),
        "prices": _unhalted(output.prices, halted),
        "flagged": output.flagged,
    }


def _unhalted(frame: pl.DataFrame, halted: pl.Series) -> pl.DataFrame:
    if "market_id" not in frame.columns or halted.is_empty():
        return frame
    return frame.filter(~pl.col("market_id").is_in(halted.implode()))


def _differing_rows(
    stored: pl.DataFrame, fresh: pl.DataFrame, *, skip: set[str] | None = None
) -> int:
    """Rows in one table but not the other (floats to 1e-9 relative), ``run_id`` aside."""
    ignore = {"run_id"} | _UNTIMED | (skip or set())
    columns = [c for c in stored.columns if c not in ignore and c in fresh.columns]
    if set(stored.columns) - ignore != set(columns):
        return max(stored.height, 1)
    a, b = _canonical(stored.select(columns)), _canonical(fresh.select(columns))
    return (
        a.join(b, on=columns, how="anti", nulls_equal=True).height
        + b.join(a, on=columns, how="anti", nulls_equal=True).height
    )


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """Floats rounded to 9 significant digits, lists as text: rows comparable as keys."""
    rounded = [
        pl.col(c).map_elements(lambda v: float(f"{v:.9g}"), return_dtype=pl.Float64)
        if dtype == pl.Float64
        else pl.col(c).cast(pl.List(pl.String)).list.join("\x1f")
        if isinstance(dtype, pl.List)
        else pl.col(c)
        for c, dtype in frame.schema.items()
    ]
    return frame.select(rounded)


def options_from_config(config: dict[str, Any]) -> BatchOptions:
    """The batch options a manifest's ``config`` records (signature checks off: no keys)."""
    recorded = recorded_markets(config)
    markets = {m: _fields_of(MarketSettings, values) for m, values in recorded.items()}
    policies = {
        m: dataclasses.replace(_fields_of(MarketPolicy, values), signed=False)
        for m, values in recorded.items()
    }
    defaults = SolveLimits()  # manifests older than these fields: the settings now
    limits = SolveLimits(
        time_limit=config["time_limit"],
        gap=config["gap"],
        threads=config["threads"],
        cbc_options=tuple(config.get("cbc_options", defaults.cbc_options)),
        cbc_start_options=tuple(config.get("cbc_start_options", defaults.cbc_start_options)),
    )
    return BatchOptions(
        solver=config["solver"],
        limits=limits,
        enumerate_max=config["enumerate_max_bids"],
        tie_epsilon=config["tie_epsilon"],
        markets=markets,
        policies=policies,
        detection=config.get("detection", "flag"),  # before the switch: always on
    )


def recorded_markets(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each listed market's flat settings-and-policy row, from a manifest's ``config``.

    Manifests group markets of equal settings (``market_groups``); older ones
    hold one row per market (``markets``).
    """
    if "market_groups" not in config:
        return dict(config["markets"])
    return {
        m: {k: v for k, v in group.items() if k != "markets"}
        for group in config["market_groups"]
        for m in group["markets"]
    }


def _fields_of(kind: type[T], values: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    return kind(**{k: v for k, v in values.items() if k in names})


def _read_inputs(location: str, manifest: dict[str, Any]) -> dict[str, pl.DataFrame]:
    found = {}
    for name in INPUTS:
        try:  # unchecked: a changed file is reported by the file check
            frames = [
                pl.read_parquet(io.BytesIO(read_recorded(location, {}, f)))
                for f in table_files(manifest, f"inputs/{name}")
            ]
        except IntegrityError:  # missing: reported by the file check too
            continue
        if frames:
            found[name] = pl.concat(frames, how="diagonal_relaxed")
    return found


def _compare(stored: pl.DataFrame, fresh: pl.DataFrame) -> pl.DataFrame:
    """Bids whose allocation columns differ (floats to 1e-9 relative), or that one side lacks."""
    keys = ["market_id", "bid_id"]
    columns = [c for c in _ALLOCATION_COLUMNS if c in stored.columns and c in fresh.columns]
    a = _canonical(stored.select(*keys, *columns))
    b = _canonical(fresh.select(*keys, *columns))
    differs = pl.lit(False)
    joined = a.join(b, on=keys, how="full", suffix="_recleared", coalesce=True, nulls_equal=True)
    for c in columns:
        differs = differs | ~pl.col(c).eq_missing(pl.col(f"{c}_recleared"))
    return joined.filter(differs).sort(keys)
