"""Write a run under ``OUT/<run_id>/`` through fsspec, manifest last; read it back."""

from __future__ import annotations

import io
import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from econonexus._errors import RunConflictError, SourceReadError
from econonexus.solvers.schemas import (
    ALLOCATIONS_SCHEMA,
    EVENTS_SCHEMA,
    FLAGGED_SCHEMA,
    PRICES_SCHEMA,
    REJECTED_SCHEMA,
    SUMMARY_SCHEMA,
)

TABLES: dict[str, pa.Schema] = {
    "allocations": ALLOCATIONS_SCHEMA,
    "summary": SUMMARY_SCHEMA,
    "rejected": REJECTED_SCHEMA,
    "events": EVENTS_SCHEMA,
    "prices": PRICES_SCHEMA,
    "flagged": FLAGGED_SCHEMA,
}
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StoredRun:
    """A completed run as read back from storage."""

    tables: dict[str, pl.DataFrame]
    manifest: dict[str, Any]
    location: str


def run_location(out: str, run_id: str) -> str:
    """Return the URL of run ``run_id`` under ``out``."""
    return posixpath.join(out.rstrip("/"), run_id)


def to_arrow(name: str, frame: pl.DataFrame) -> pa.Table:
    """Return ``frame`` as an Arrow table in the schema of output table ``name``."""
    schema = TABLES[name]
    return frame.select(schema.names).to_arrow().cast(schema)


def write_run(
    location: str,
    tables: dict[str, pl.DataFrame],
    manifest: dict[str, Any],
    *,
    before_manifest: Callable[[], None] | None = None,
) -> None:
    """Write every table as Parquet under ``location``, then ``manifest.json`` last.

    The manifest lists each output file with its row count; a run directory
    without a manifest did not complete. ``before_manifest`` runs between the
    two (state that must exist before the run counts as published).
    """
    fs, root = fsspec.core.url_to_fs(location)
    fs.makedirs(root, exist_ok=True)
    if fs.exists(posixpath.join(root, MANIFEST)):
        fs.rm(posixpath.join(root, MANIFEST))
    outputs = {}
    for name, frame in tables.items():
        sink = io.BytesIO()
        pq.write_table(to_arrow(name, frame), sink)
        with fs.open(posixpath.join(root, f"{name}.parquet"), "wb") as fh:
            fh.write(sink.getvalue())
        outputs[f"{name}.parquet"] = {"rows": frame.height}
    if before_manifest is not None:
        before_manifest()
    with fs.open(posixpath.join(root, MANIFEST), "w") as fh:
        json.dump({**manifest, "outputs": outputs}, fh, indent=2, sort_keys=True, default=str)


def read_manifest(location: str) -> dict[str, Any] | None:
    """Return the manifest of the run at ``location``, or ``None`` if it did not complete."""
    fs, root = fsspec.core.url_to_fs(location)
    path = posixpath.join(root, MANIFEST)
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


def read_run(location: str) -> StoredRun:
    """Read a completed run back.

    Raises
    ------
    SourceReadError
        If ``location`` holds no completed run (no manifest).
    """
    manifest = read_manifest(location)
    if manifest is None:
        raise SourceReadError(f"{location!r}: no completed run there (no {MANIFEST})")
    fs, root = fsspec.core.url_to_fs(location)
    tables = {}
    for name in TABLES:
        with fs.open(posixpath.join(root, f"{name}.parquet"), "rb") as fh:
            tables[name] = pl.read_parquet(io.BytesIO(fh.read()))
    return StoredRun(tables, manifest, location)


def stored_run_for(out: str, run_id: str, fingerprint: str) -> StoredRun | None:
    """Return the stored run ``run_id`` if its inputs match ``fingerprint``.

    Raises
    ------
    RunConflictError
        If a completed run ``run_id`` exists under ``out`` with other inputs.
    """
    location = run_location(out, run_id)
    manifest = read_manifest(location)
    if manifest is None:
        return None
    if manifest.get("fingerprint") != fingerprint:
        raise RunConflictError(
            f"`run_id`: run {run_id!r} already exists at {location!r} with other inputs or "
            f"settings (fingerprint {manifest.get('fingerprint')!r}, this batch {fingerprint!r})"
            "\nhint: choose another run id, or leave `run_id` unset for a fresh one"
        )
    return read_run(location)
