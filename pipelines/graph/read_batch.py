"""Read a batch's sources on the workers: one ``enx-read`` task per file.

The client expands each URL into its files (a directory, glob or
hive-partitioned dataset: :mod:`econonexus.pipelines.io.sources`); a worker
reads each file, hashes its bytes, and normalizes its rows. The client gets
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
from econonexus.pipelines.graph.transfer import release, watched_gather
from econonexus.pipelines.io.cats import ERRORS_SCHEMA
from econonexus.pipelines.io.normalize import normalize
from econonexus.pipelines.io.readers import Format, SourceInfo, read_any, read_source
from econonexus.pipelines.io.sources import SourceFile, expand_source, with_partitions

BidSource: TypeAlias = str | pa.Table | pl.DataFrame
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
    """

    sources: list[SourceInfo]
    parts: list[Any]
    errors: pl.DataFrame
    markets: list[str]

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
    raw = with_partitions(read_source(file.url, format=format, at=file.location), file.partitions)
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
    sources = [source] if isinstance(source, str | pa.Table | pl.DataFrame) else list(source)
    if not sources:
        raise InputError("`source`: expected at least one bid source, got none")
    token = f"{uuid.uuid4().int % 10**12:012d}"
    pending: list[tuple[FileDigest, pl.DataFrame] | Future[Any]] = []
    for i, s in enumerate(sources):
        if not isinstance(s, str):
            raw = read_any(s, name=f"<table {i}>", format=format)
            digest = FileDigest(raw.info, raw.errors, [])
            pending.append((digest, normalize(raw.records, raw.name)))
            continue
        for file in expand_source(s):  # a directory, glob or dataset: each of its files
            key = f"enx-read-{token}-{len(pending)}"
            pending.append(client.submit(read_file, file, format, key=key))
    remote = [(i, p) for i, p in enumerate(pending) if isinstance(p, Future)]
    heads = [client.submit(getitem, p, 0, key=f"enx-read-digest-{token}-{i}") for i, p in remote]
    tails = {i: client.submit(getitem, p, 1, key=f"{_READ_PART}-{token}-{i}") for i, p in remote}
    try:
        digests = iter(watched_gather(client, heads))
    except BaseException:  # a file that cannot be read: nothing of the batch stays behind
        release([*heads, *tails.values(), *(p for _, p in remote)])
        raise
    read: list[FileDigest] = []
    parts: list[Any] = []
    for i, p in enumerate(pending):
        digest, part = (next(digests), tails[i]) if isinstance(p, Future) else p
        read.append(digest)
        parts.append(part)
    release([*heads, *(p for _, p in remote)])
    if carried is not None:
        parts.append(carried)
    errors = pl.concat([d.errors for d in read]).cast(ERRORS_SCHEMA)  # type: ignore[arg-type]
    local = [p for p in parts if not isinstance(p, Future)]
    markets = sorted(
        {m for d in read for m in d.markets} | set(batch_markets(_joined(local), errors))
    )
    if len(local) == len(parts) > 1:  # all here already: one part
        parts = [_joined(parts)]
    return BatchRead([d.info for d in read], _placed(client, parts), errors, markets)


def _placed(client: Client, parts: list[Any]) -> list[Any]:
    """``parts`` with each large frame sent to the cluster in parts of
    ``cluster.partition-rows`` rows, each on two workers (small ones travel in the task
    graph)."""
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
