"""Write a run under ``OUT/<run_id>/`` through fsspec, manifest last; read it back."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import posixpath
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from econonexus._core.errors import InputError, IntegrityError, RunConflictError, SourceReadError
from econonexus._core.schemas import (
    ALLOCATIONS_SCHEMA,
    EVENTS_SCHEMA,
    FLAGGED_SCHEMA,
    PRICES_SCHEMA,
    REJECTED_SCHEMA,
    SUMMARY_SCHEMA,
)
from econonexus.agents.storage import create_if_absent

TABLES: dict[str, pa.Schema] = {
    "allocations": ALLOCATIONS_SCHEMA,
    "summary": SUMMARY_SCHEMA,
    "rejected": REJECTED_SCHEMA,
    "events": EVENTS_SCHEMA,
    "prices": PRICES_SCHEMA,
    "flagged": FLAGGED_SCHEMA,
}
MANIFEST = "manifest.json"
LEASE = "_publish.json"


@dataclass(frozen=True)
class StoredRun:
    """A completed run as read back from storage."""

    tables: dict[str, pl.DataFrame]
    manifest: dict[str, Any]
    location: str


RUN_ID_RULE = "1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it names one folder under ``OUT/`` and no reserved one.

    Raises
    ------
    InputError
        If it has a separator, ``..``, a leading ``_`` or ``.``, or other characters.
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InputError(f"`run_id`: expected {RUN_ID_RULE}, got {run_id!r}")
    return run_id


def run_location(out: str, run_id: str) -> str:
    """Return the URL of run ``run_id`` under ``out`` (the id checked by :func:`check_run_id`)."""
    return posixpath.join(out.rstrip("/"), check_run_id(run_id))


def to_arrow(name: str, frame: pl.DataFrame) -> pa.Table:
    """Return ``frame`` as an Arrow table in the schema of output table ``name``."""
    schema = TABLES[name]
    return frame.select(schema.names).to_arrow().cast(schema)


def write_run(
    location: str,
    tables: dict[str, pl.DataFrame],
    manifest: dict[str, Any],
    *,
    inputs: dict[str, pl.DataFrame | None] | None = None,
    before_manifest: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Write the inputs and every table as Parquet under ``location``, then the manifest.

    The caller holds the run's publish lease (:func:`claim_run`). The manifest
    lists every file with its row count and SHA-256 (``stored_inputs`` for
    ``inputs/``, ``outputs`` for the tables) and is created only if absent: a
    run directory without one did not complete. ``before_manifest`` runs
    between the two (state that must exist before the run counts as
    published). Returns the manifest as written.
    """
    fs, root = fsspec.core.url_to_fs(location)
    fs.makedirs(root, exist_ok=True)
    stored = {
        f"inputs/{name}.parquet": _write_file(fs, root, f"inputs/{name}.parquet", frame.to_arrow())
        for name, frame in (inputs or {}).items()
        if frame is not None
    }
    outputs = {
        f"{name}.parquet": _write_file(fs, root, f"{name}.parquet", to_arrow(name, frame))
        for name, frame in tables.items()
    }
    if before_manifest is not None:
        before_manifest()
    listed = {**manifest, "stored_inputs": stored, "outputs": outputs}
    final: dict[str, Any] = json.loads(json.dumps(listed, default=str))  # as it reads back
    final["manifest_sha256"] = manifest_digest(final)
    body = json.dumps(final, indent=2, sort_keys=True).encode()
    if not create_if_absent(fs, posixpath.join(root, MANIFEST), body):
        raise RunConflictError(
            f"`run_id`: {location!r} gained a manifest while this process held its publish "
            "lease: another writer ignored the lease; this run was not published"
        )
    return final


def _write_file(
    fs: fsspec.AbstractFileSystem, root: str, relative: str, table: pa.Table
) -> dict[str, Any]:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    data = sink.getvalue()
    path = posixpath.join(root, relative)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    fs.pipe_file(path, data)
    return {"rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest()}


def claim_run(location: str, fingerprint: str) -> bool:
    """Take the publish lease of the run at ``location``; False if another process holds it.

    The lease is ``_publish.json`` in the run folder, created if absent, naming its
    holder. It is never released: it stays as the record of who published.
    """
    fs, root = fsspec.core.url_to_fs(location)
    holder = {
        "fingerprint": fingerprint,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": dt.datetime.now(dt.UTC).isoformat(),
    }
    return create_if_absent(fs, posixpath.join(root, LEASE), json.dumps(holder).encode())


def await_published(location: str, run_id: str, fingerprint: str, *, wait: float) -> StoredRun:
    """The run another process is publishing at ``location``, once its manifest is there.

    Raises
    ------
    RunConflictError
        If it was published with other inputs, or has no manifest after ``wait`` seconds.
    """
    deadline = time.monotonic() + wait
    out = posixpath.dirname(location.rstrip("/"))
    while time.monotonic() < deadline:
        if read_manifest(location) is not None:
            stored = stored_run_for(out, run_id, fingerprint)
            assert stored is not None
            return stored
        time.sleep(0.1)
    fs, root = fsspec.core.url_to_fs(location)
    holder = fs.cat_file(posixpath.join(root, LEASE)).decode(errors="replace")
    raise RunConflictError(
        f"`run_id`: run {run_id!r} at {location!r} is being published by another process "
        f"({holder}) and has no manifest after {wait:g} s\nhint: if that process died, "
        f"remove {LEASE!r} from the run folder and run again"
    )


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of a manifest's content without its own ``manifest_sha256`` (canonical JSON)."""
    content = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def read_manifest(location: str) -> dict[str, Any] | None:
    """Return the manifest of the run at ``location``, or ``None`` if it did not complete."""
    fs, root = fsspec.core.url_to_fs(location)
    path = posixpath.join(root, MANIFEST)
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


def read_run(location: str, *, check: bool = True) -> StoredRun:
    """Read a completed run back, each table checked against its manifest hash.

    Raises
    ------
    SourceReadError
        If ``location`` holds no completed run (no manifest).
    IntegrityError
        If ``check`` and a table's bytes differ from the hash its manifest records.
    """
    manifest = read_manifest(location)
    if manifest is None:
        raise SourceReadError(f"{location!r}: no completed run there (no {MANIFEST})")
    listed = manifest if check else {}
    tables = {
        name: pl.read_parquet(io.BytesIO(read_recorded(location, listed, f"{name}.parquet")))
        for name in TABLES
    }
    return StoredRun(tables, manifest, location)


def recorded_files(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every file a manifest lists (inputs and outputs) with its ``rows`` and ``sha256``."""
    stored = manifest.get("stored_inputs") or {}
    inputs = stored if isinstance(stored, dict) else {key: {} for key in stored}
    return {**inputs, **(manifest.get("outputs") or {})}


def read_recorded(location: str, manifest: dict[str, Any], relative: str) -> bytes:
    """The bytes of one file of a run, checked against the SHA-256 its manifest records.

    Raises
    ------
    IntegrityError
        If the file is missing or its bytes differ from the manifest's hash.
    """
    fs, root = fsspec.core.url_to_fs(location)
    path = posixpath.join(root, relative)
    try:
        data: bytes = fs.cat_file(path)
    except FileNotFoundError:
        raise IntegrityError(f"{path}: listed in the run's manifest but missing") from None
    expected = recorded_files(manifest).get(relative, {}).get("sha256")
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise IntegrityError(
            f"{path}: SHA-256 differs from the run's manifest: the file was changed after "
            "the run was published"
        )
    return data


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
