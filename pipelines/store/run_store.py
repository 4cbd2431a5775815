"""A run under ``OUT/<run_id>/`` through fsspec: its manifest (written last, fenced by the
run's publish lease, :mod:`.run_lease`), reading it back."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import fsspec
import polars as pl

from econonexus._core.errors import InputError, RunConflictError, SourceReadError
from econonexus.agents.lease import Lease
from econonexus.agents.storage import create_if_absent
from econonexus.pipelines.store.run_files import (
    TABLES,
    Listing,
    part_path,
    read_table,
    write_part,
    write_table,
)

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StoredRun:
    """A completed run in storage: its manifest, and its tables read when first used."""

    tables: Mapping[str, pl.DataFrame]
    manifest: dict[str, Any]
    location: str


class StoredTables(Mapping[str, pl.DataFrame]):
    """A run's output tables, each read from its parts (hashes checked) when first used."""

    def __init__(self, location: str, manifest: dict[str, Any], *, check: bool) -> None:
        self._location, self._manifest, self._check = location, manifest, check
        self._read: dict[str, pl.DataFrame] = {}

    def __getitem__(self, name: str) -> pl.DataFrame:
        if name not in TABLES:
            raise KeyError(name)
        if name not in self._read:
            self._read[name] = read_table(self._location, self._manifest, name, check=self._check)
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(TABLES)

    def __len__(self) -> int:
        return len(TABLES)


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


def write_run(
    location: str,
    tables: dict[str, pl.DataFrame],
    manifest: dict[str, Any],
    *,
    inputs: dict[str, pl.DataFrame | None] | None = None,
    before_manifest: Callable[[], None] | None = None,
    fence: Lease | None = None,
) -> dict[str, Any]:
    """Write the inputs and every table (one part each) under ``location``, then the manifest
    (:func:`publish_manifest`), each only while ``fence`` is current. Returns the manifest as
    written."""
    stored: Listing = {}
    for name, frame in (inputs or {}).items():
        if frame is not None:
            relative = part_path(f"inputs/{name}", 0)
            stored |= write_part(location, relative, frame, fence=fence)
    outputs: Listing = {}
    for name, frame in tables.items():
        outputs |= write_table(location, name, frame, fence=fence)
    return publish_manifest(
        location, manifest, outputs, stored, before_manifest=before_manifest, fence=fence
    )


def publish_manifest(
    location: str,
    manifest: dict[str, Any],
    outputs: Listing,
    inputs: Listing,
    *,
    before_manifest: Callable[[], None] | None = None,
    fence: Lease | None = None,
) -> dict[str, Any]:
    """Publish a run whose files are written: its manifest, created only if absent.

    The caller holds the run's publish lease ``fence`` (:mod:`.run_lease`),
    checked just before the manifest is written. The manifest
    lists every file with its row count and SHA-256 (``stored_inputs`` for
    ``inputs/``, ``outputs`` for the tables' parts, :mod:`.run_files`); a run
    directory without one did not complete. ``before_manifest`` runs first
    (state that must exist before the run counts as published). Returns the
    manifest as written.
    """
    if before_manifest is not None:
        before_manifest()
    if fence is not None:
        fence.check("manifest write")
    listed = {**manifest, "stored_inputs": dict(sorted(inputs.items())), "outputs": outputs}
    final: dict[str, Any] = json.loads(json.dumps(listed, default=str))  # as it reads back
    final["outputs"] = dict(sorted(final["outputs"].items()))
    final["manifest_sha256"] = manifest_digest(final)
    body = json.dumps(final, indent=2, sort_keys=True).encode()
    fs, root = fsspec.core.url_to_fs(location)
    if not create_if_absent(fs, posixpath.join(root, MANIFEST), body):
        raise RunConflictError(
            f"`run_id`: {location!r} gained a manifest while this process held its publish "
            "lease: another writer ignored the lease; this run was not published"
        )
    return final


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
    """Read a completed run back, each table checked against its manifest hashes.

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
    tables = StoredTables(location, manifest, check=check)
    for name in TABLES:  # read now: a changed file fails here, not on first use
        tables[name]
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
