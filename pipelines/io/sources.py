"""Bid sources that are many files: directories, globs and hive-partitioned datasets.

A URL naming a directory stands for every bid file under it (by extension;
names starting with ``.`` or ``_`` such as ``_SUCCESS`` are skipped), a URL
with ``*``, ``?`` or ``[`` for the files it matches. Directories named
``key=value`` between the root and a file (a hive-partitioned dataset) give
the file's rows the column ``key`` with ``value`` when the file does not
carry that column itself: ``bids/market_id=gpu/part-0.parquet``.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import fsspec
import polars as pl
from fsspec.utils import infer_storage_options

from econonexus._core.errors import SourceReadError
from econonexus.pipelines.io.readers import EXTENSIONS, RawSource

_MAGIC = ("*", "?", "[")


@dataclass(frozen=True)
class SourceFile:
    """One file of a source, the hive partition values its directories name, where any
    process of the cluster reads it (a local path made absolute), and its size in bytes
    (``None`` when it cannot be told: the read says why)."""

    url: str
    partitions: dict[str, str]
    location: str
    size: int | None = None


def expand_source(url: str) -> list[SourceFile]:
    """The files ``url`` stands for, sorted; a plain file stands for itself.

    Raises
    ------
    SourceReadError
        If a directory or glob holds no bid file.
    """
    fs, path = fsspec.core.url_to_fs(url)
    if any(m in path for m in _MAGIC):
        root = path[: min(path.index(m) for m in _MAGIC if m in path)].rsplit("/", 1)[0]
        found = {f: i for f, i in fs.glob(path, detail=True).items() if i["type"] == "file"}
    elif fs.isdir(path):
        root, found = path.rstrip("/"), fs.find(path, detail=True)
    else:
        return [SourceFile(url, {}, path if _local(url) else url, _size(fs, path))]
    files = sorted(f for f in found if _is_bid_file(f))
    if not files:
        raise SourceReadError(
            f"{url!r}: no bid files found; expected files ending in {', '.join(sorted(EXTENSIONS))}"
        )
    named = [f if _local(url) else fs.unstrip_protocol(f) for f in files]
    return [
        SourceFile(n, _partitions(f, root), n, found[f].get("size"))
        for n, f in zip(named, files, strict=True)
    ]


def _size(fs: fsspec.AbstractFileSystem, path: str) -> int | None:
    try:
        size = fs.size(path)
    except (OSError, ValueError):  # missing or unreadable: its read task names the problem
        return None
    return None if size is None else int(size)


def _local(url: str) -> bool:
    return str(infer_storage_options(url)["protocol"]) in ("file", "local")


def with_partitions(source: RawSource, partitions: dict[str, str]) -> RawSource:
    """``source`` with its hive partition columns added (a column the file has wins)."""
    missing = {k: v for k, v in partitions.items() if k not in source.records.columns}
    if not missing:
        return source
    records = source.records.with_columns(
        pl.lit(v, dtype=pl.String).alias(k) for k, v in missing.items()
    )
    return RawSource(source.name, records, source.errors, source.sha256)


def _is_bid_file(path: str) -> bool:
    name = pathlib.PurePosixPath(path).name
    suffixes = [s.lower() for s in pathlib.PurePosixPath(name).suffixes]
    return not name.startswith((".", "_")) and any(s in EXTENSIONS for s in suffixes)


def _partitions(path: str, root: str) -> dict[str, str]:
    relative = path[len(root) :].strip("/").split("/")[:-1]
    return dict(part.split("=", 1) for part in relative if "=" in part)
