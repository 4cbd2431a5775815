"""Large bid files read in pieces: Parquet by row groups, CSV by blocks of whole lines.

A file over ``io.piece-bytes`` is first scanned once (:func:`scan_file`):
its bytes are streamed through SHA-256 (the hash the run records is the
whole file's, as for any other file) and cut into pieces of about that
size. A Parquet file's pieces are runs of its row groups, numbered from the
row where each starts; a CSV file's are byte ranges that start and end at
line ends, each numbered from the line where it starts, read with the
file's header. A CSV file with a quote character (a quoted field may hold a
line end), a compressed file, a CATS or Arrow IPC file, or a file of one
row group is read whole. Each piece is then read by its own task
(:func:`read_piece`), and its rows carry the same ``_row`` as a read of the
whole file would give them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

import fsspec
import polars as pl
import pyarrow.parquet as pq

from econonexus._core.errors import SourceReadError
from econonexus.pipelines.io.cats import ERRORS_SCHEMA
from econonexus.pipelines.io.readers import (
    Format,
    RawSource,
    detect_format,
    read_csv_rows,
    with_positions,
)
from econonexus.pipelines.io.sources import SourceFile

_CHUNK = 8 << 20
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".snappy")


@dataclass(frozen=True)
class Piece:
    """One piece of a file: Parquet ``row_groups`` from row ``first`` (0-based), or the CSV
    bytes ``span`` whose first line is line ``first`` (the header is line 1)."""

    file: SourceFile
    format: Format
    first: int
    row_groups: tuple[int, ...] = ()
    span: tuple[int, int] = (0, 0)
    header: bytes = b""


@dataclass(frozen=True)
class FileScan:
    """A scanned file: the SHA-256 of its bytes and its pieces (none: read it whole)."""

    sha256: str
    pieces: list[Piece]


def splittable(file: SourceFile, format: Format | None) -> bool:
    """Whether ``file`` is of a format read in pieces (uncompressed Parquet or CSV)."""
    fmt = format or detect_format(file.url)
    return fmt in ("parquet", "csv") and not file.url.lower().endswith(_COMPRESSED)


def scan_file(file: SourceFile, format: Format | None, piece_bytes: int) -> FileScan:
    """``enx-scan``: hash ``file`` and cut it into pieces of about ``piece_bytes``."""
    fmt = format or detect_format(file.url)
    try:
        with fsspec.open(file.location, "rb") as fh:
            if fmt == "parquet":
                digest = _sha256(fh)
                fh.seek(0)
                return FileScan(digest, _row_group_pieces(file, pq.ParquetFile(fh), piece_bytes))
            digest, pieces = _csv_pieces(file, fh, piece_bytes)
            return FileScan(digest, pieces)
    except FileNotFoundError:
        raise SourceReadError(f"cannot read {file.url!r}: file not found") from None
    except (OSError, ValueError) as exc:
        raise SourceReadError(f"cannot read {file.url!r} as {fmt}: {exc}") from exc


def read_piece(piece: Piece, sha256: str) -> RawSource:
    """Read one piece of a scanned file (``sha256``: the whole file's) as a source."""
    url = piece.file.url
    try:
        with fsspec.open(piece.file.location, "rb") as fh:
            if piece.format == "parquet":
                table = pq.ParquetFile(fh).read_row_groups(list(piece.row_groups))
                frame = pl.from_arrow(table)
                assert isinstance(frame, pl.DataFrame)
                records = with_positions(frame, url, first=piece.first + 1)
                return RawSource(url, records, pl.DataFrame(schema=ERRORS_SCHEMA), sha256)
            start, end = piece.span
            fh.seek(start)
            data = piece.header + fh.read(end - start)
    except FileNotFoundError:
        raise SourceReadError(f"cannot read {url!r}: file not found") from None
    except (OSError, ValueError) as exc:
        raise SourceReadError(f"cannot read {url!r} as {piece.format}: {exc}") from exc
    records, errors = read_csv_rows(url, data, first=piece.first)
    return RawSource(url, records, errors, sha256)


def _sha256(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _row_group_pieces(file: SourceFile, parquet: pq.ParquetFile, piece_bytes: int) -> list[Piece]:
    """Runs of row groups of about ``piece_bytes`` (uncompressed), each from its first row."""
    meta = parquet.metadata
    pieces: list[Piece] = []
    groups: list[int] = []
    size = first = row = 0
    for g in range(meta.num_row_groups):
        if groups and size >= piece_bytes:
            pieces.append(Piece(file, "parquet", first, tuple(groups)))
            groups, size, first = [], 0, row
        groups.append(g)
        size += meta.row_group(g).total_byte_size
        row += meta.row_group(g).num_rows
    if groups:
        pieces.append(Piece(file, "parquet", first, tuple(groups)))
    return pieces if len(pieces) > 1 else []


def _csv_pieces(file: SourceFile, fh: IO[bytes], piece_bytes: int) -> tuple[str, list[Piece]]:
    """Hash a CSV file and cut it after a line end every ``piece_bytes`` or more; no
    pieces when it holds a quote (a line end may then sit inside a field)."""
    digest = hashlib.sha256()
    header = b""
    cuts: list[tuple[int, int]] = []  # (byte where a piece starts, its first line)
    quoted = False
    position = newlines = 0
    target = 0  # the header ends at the first line end
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
        quoted = quoted or b'"' in chunk
        if not header and position == 0:
            header = chunk[: chunk.find(b"\n") + 1] if b"\n" in chunk else b""
        at = max(target - position, 0)
        while (end := chunk.find(b"\n", at)) != -1:
            cut = position + end + 1
            cuts.append((cut, newlines + chunk.count(b"\n", 0, end + 1) + 1))
            target = cut + piece_bytes
            at = target - position
            if at >= len(chunk):
                break
        newlines += chunk.count(b"\n")
        position += len(chunk)
    starts = [c for c in cuts if c[0] < position]
    if quoted or not header or len(starts) < 2:
        return digest.hexdigest(), []
    ends = [start for start, _ in starts[1:]] + [position]
    pieces = [
        Piece(file, "csv", line, span=(start, end), header=header)
        for (start, line), end in zip(starts, ends, strict=True)
    ]
    return digest.hexdigest(), pieces
