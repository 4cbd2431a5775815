"""Read a batch's sources on the workers: one ``enx-read`` task per file or file piece.

The client expands each URL into its files (a directory, glob or
hive-partitioned dataset: :mod:`econonexus.pipelines.io.sources`); a worker
reads each file, hashes its bytes, and normalizes its rows. A file over
``io.piece-bytes`` is scanned first (``enx-scan``) and read in pieces,
Parquet row groups or CSV blocks (:mod:`econonexus.pipelines.io.pieces`). The client gets
back each file's name, hash, row count, reader errors and markets, never
its rows, which are validated part by part where they are
(:mod:`.validate_graph`). In-memory tables are read on the client, where
they already are, and a large one is sent to the cluster in parts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from operator import getitem
from typing import Any, TypeAlias

import polars as pl
import pyarrow as pa
from distributed import Client, Future

from econonexus._core.config import get_setting
from econonexus._core.errors import InputError
from econonexus.pipelines.graph.batch_tasks import batch_markets
from econonexus.pipelines.graph.carried import not_resubmitted
from econonexus.pipelines.graph.transfer import release, watched_gather
from econonexus.pipelines.io.cats import ERRORS_SCHEMA
from econonexus.pipelines.io.normalize import normalize
from econonexus.pipelines.io.pieces import Piece, read_piece, scan_file, splittable
from econonexus.pipelines.io.readers import (
    Format,
    RawSource,
    SourceInfo,
    read_any,
    read_source,
)
from econonexus.pipelines.io.sources import SourceFile, expand_source, with_partitions

BidSource: TypeAlias = str | pa.Table | pl.DataFrame | pl.LazyFrame
_READ_PART = "enx-read-part"


@dataclass(frozen=True)
class FileDigest:
    """What the client gets of a file read on a worker."""

    info: SourceInfo
    errors: pl.DataFrame
    markets: list[str]


@dataclass(frozen=True)
class BatchRead:
    """A batch's sources once read.

    Attributes
    ----------
    sources
        Each source file or table as the run records it, in order.
    parts
        The normalized rows of each, then the carried-over bids: futures of
        frames on the workers (a large in-memory table in several), or one
        frame when the whole batch is here.
    errors
        The rows the readers rejected (:data:`ERRORS_SCHEMA`).
    markets
        Every market the rows name, sorted (blank ids left out).
    carried
        The carried-over bids that joined the batch: those of ``carried`` that
        the sources did not resubmit unchanged (:mod:`.carried`).
    """

    sources: list[SourceInfo]
    parts: list[Any]
    errors: pl.DataFrame
    markets: list[str]
    carried: pl.DataFrame | None = None

    def release(self) -> None:
        """Release the batch's futures on the cluster."""
        release(self.parts)

    def release_files(self) -> None:
        """Release the parts read from files: the scheduler frees each once its dependents
        ran, and reads it again if a later stage is lost with a worker. Parts of in-memory
        tables stay held: nothing could make them again."""
        release([p for p in self.parts if isinstance(p, Future) and _READ_PART in str(p.key)])


def read_file(file: SourceFile, format: Format | None) -> tuple[FileDigest, pl.DataFrame]:
    """``enx-read``: read, hash and normalize one file; its digest and its rows."""
    raw = read_source(file.url, format=format, at=file.location)
    return _digested(with_partitions(raw, file.partitions))


def read_file_piece(piece: Piece, sha256: str) -> tuple[FileDigest, pl.DataFrame]:
    """``enx-read`` of one piece of a large file (:mod:`econonexus.pipelines.io.pieces`)."""
    return _digested(with_partitions(read_piece(piece, sha256), piece.file.partitions))


def _digested(raw: RawSource) -> tuple[FileDigest, pl.DataFrame]:
    frame = normalize(raw.records, raw.name)
    return FileDigest(raw.info, raw.errors, batch_markets(frame, raw.errors)), frame


def read_batch(
    client: Client,
    source: BidSource | Sequence[BidSource],
    *,
    format: Format | None = None,
    carried: pl.DataFrame | None = None,
) -> BatchRead:
    """Read every source of a batch, URLs on the workers (see the module docstring), and
    add the ``carried`` bids of halted markets last."""
    sources = (
        [source]
        if isinstance(source, str | pa.Table | pl.DataFrame | pl.LazyFrame)
        else list(source)
    )
    if not sources:
        raise InputError("`source`: expected at least one bid source, got none")
    token = f"{uuid.uuid4().int % 10**12:012d}"
    # per file or table, in order: its digest and frame (a table), or futures of its pieces
    entries: list[tuple[FileDigest, pl.DataFrame] | list[Future[Any]]] = []
    for i, s in enumerate(sources):
        if not isinstance(s, str):
            raw = read_any(s, name=f"<table {i}>", format=format)
            entries.append((FileDigest(raw.info, raw.errors, []), normalize(raw.records, raw.name)))
        else:  # a directory, glob or dataset: each of its files
            entries.extend(_submit_reads(client, expand_source(s), format, token, len(entries)))
    remote = [
        (k, j, f) for k, e in enumerate(entries) if isinstance(e, list) for j, f in enumerate(e)
    ]
    heads = [
        client.submit(getitem, f, 0, key=f"enx-read-digest-{token}-{k}-{j}") for k, j, f in remote
    ]
    tails = [
        client.submit(getitem, f, 1, key=f"{_READ_PART}-{token}-{k}-{j}") for k, j, f in remote
    ]
    try:
        digests = watched_gather(client, heads)
    except BaseException:  # a file that cannot be read: nothing of the batch stays behind
        release([*heads, *tails, *(f for _, _, f in remote)])
        raise
    release([*heads, *(f for _, _, f in remote)])
    read: list[FileDigest] = []
    parts: list[Any] = []
    found = iter(zip(digests, tails, strict=True))
    for entry in entries:
        if isinstance(entry, tuple):
            read.append(entry[0])
            parts.append(entry[1])
            continue
        pieces = [next(found) for _ in entry]
        read.append(_file_digest([d for d, _ in pieces]))
        parts.extend(t for _, t in pieces)
    if carried is not None:
        carried = not_resubmitted(client, carried, parts, token)
        parts += [carried] if carried.height else []
    errors = pl.concat([d.errors for d in read]).cast(ERRORS_SCHEMA)  # type: ignore[arg-type]
    local = [p for p in parts if not isinstance(p, Future)]
    markets = sorted(
        {m for d in read for m in d.markets} | set(batch_markets(_joined(local), errors))
    )
    if len(local) == len(parts) > 1:  # all here already: one part
        parts = [_joined(parts)]
    return BatchRead([d.info for d in read], _placed(client, parts), errors, markets, carried)


def _submit_reads(
    client: Client, files: list[SourceFile], format: Format | None, token: str, first: int
) -> list[list[Future[Any]]]:
    """Submit the reads of ``files`` (entries ``first``...): one ``enx-read`` per file, or
    per piece of a file over ``io.piece-bytes``, cut by an ``enx-scan`` of it first."""
    piece_bytes = int(get_setting("io.piece-bytes"))
    large = {
        k: file
        for k, file in enumerate(files)
        if file.size is not None and file.size > piece_bytes and splittable(file, format)
    }
    scans = {
        k: client.submit(scan_file, file, format, piece_bytes, key=f"enx-scan-{token}-{first + k}")
        for k, file in large.items()
    }
    reads = {
        k: [client.submit(read_file, file, format, key=f"enx-read-{token}-{first + k}")]
        for k, file in enumerate(files)
        if k not in large
    }
    try:
        scanned = watched_gather(client, list(scans.values()))
    except BaseException:
        release([*scans.values(), *(f for futures in reads.values() for f in futures)])
        raise
    release(list(scans.values()))
    for (k, file), scan in zip(large.items(), scanned, strict=True):
        key = f"enx-read-{token}-{first + k}"
        reads[k] = (
            [
                client.submit(read_file_piece, piece, scan.sha256, key=f"{key}-{j}")
                for j, piece in enumerate(scan.pieces)
            ]
            if scan.pieces
            else [client.submit(read_file, file, format, key=key)]
        )
    return [reads[k] for k in range(len(files))]


def _file_digest(pieces: list[FileDigest]) -> FileDigest:
    """The digest of a file read in ``pieces``: its rows are theirs, its hash the file's."""
    if len(pieces) == 1:
        return pieces[0]
    first = pieces[0].info
    rows = sum(p.info.rows for p in pieces)
    markets = sorted({m for p in pieces for m in p.markets})
    errors = pl.concat([p.errors for p in pieces])
    return FileDigest(SourceInfo(first.name, first.sha256, rows), errors, markets)


def _placed(client: Client, parts: list[Any]) -> list[Any]:
    """``parts`` with each large frame sent to the cluster in parts of
    ``cluster.partition-rows`` rows, each on two workers (small ones travel in the task
    graph). Scattered data cannot be recomputed: the second copy is what a worker's death
    leaves, and Dask's active memory manager, which would drop it, is off on the clusters
    EconoNexus starts (:func:`econonexus.pipelines.graph.cluster.local_cluster`)."""
    limit = int(get_setting("cluster.embed-max-bytes"))
    rows = int(get_setting("cluster.partition-rows"))
    placed: list[Any] = []
    for part in parts:
        if isinstance(part, Future) or part.estimated_size() <= limit:
            placed.append(part)
            continue
        slices = [part.slice(start, rows) for start in range(0, part.height, rows)]
        futures = client.scatter(slices, hash=False)
        if len(client.scheduler_info(n_workers=-1)["workers"]) > 1:
            client.replicate(futures, n=2)  # a lost worker never holds the only copy
        placed.extend(futures)
    return placed


def _joined(frames: list[pl.DataFrame]) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame(schema={"market_id": pl.String})
    return pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
