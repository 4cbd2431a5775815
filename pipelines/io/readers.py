"""Read bid and item sources (Parquet, CSV, Arrow IPC, CATS) from any fsspec URL."""

from __future__ import annotations

import csv
import hashlib
import io
import pathlib
from dataclasses import dataclass
from typing import Literal, get_args

import fsspec
import polars as pl
import pyarrow as pa

from econonexus._core.errors import InputError, SourceReadError
from econonexus.pipelines.io.cats import ERRORS_SCHEMA, parse_cats

Format = Literal["parquet", "csv", "ipc", "cats"]
FORMATS: tuple[Format, ...] = get_args(Format)
EXTENSIONS: dict[str, Format] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
    ".cats": "cats",
    ".txt": "cats",
}
_EMPTY_ERRORS = pl.DataFrame(schema=ERRORS_SCHEMA)


@dataclass(frozen=True)
class RawSource:
    """One source as read: its records (``_source``, ``_row`` added), line errors, content hash."""

    name: str
    records: pl.DataFrame
    errors: pl.DataFrame
    sha256: str

    @property
    def info(self) -> SourceInfo:
        """What the run records of the source."""
        return SourceInfo(self.name, self.sha256, self.records.height + self.errors.height)


@dataclass(frozen=True)
class SourceInfo:
    """A source as the run records it: its name, content hash and rows (records and errors)."""

    name: str
    sha256: str
    rows: int


def detect_format(url: str) -> Format:
    """Return the format implied by ``url``'s extension (``.gz`` etc. ignored)."""
    suffixes = [s.lower() for s in pathlib.PurePosixPath(url.split("?")[0]).suffixes]
    for suffix in reversed(suffixes):
        if suffix in EXTENSIONS:
            return EXTENSIONS[suffix]
    raise SourceReadError(
        f"cannot tell the format of {url!r} from its extension; expected one of "
        f"{', '.join(sorted(EXTENSIONS))}\nhint: pass `format=` (CLI: --format)"
    )


def check_format(format: str | None) -> None:
    """Raise if ``format`` is given and not a known format name."""
    if format is not None and format not in FORMATS:
        raise SourceReadError(f"`format`: expected one of {', '.join(FORMATS)}, got {format!r}")


def read_bytes(url: str, at: str | None = None) -> bytes:
    """Return the bytes at ``url`` (compression inferred from the extension), read from
    ``at`` when given (errors still name ``url``)."""
    try:
        with fsspec.open(at or url, "rb", compression="infer") as fh:
            data: bytes = fh.read()
    except FileNotFoundError:
        raise SourceReadError(f"cannot read {url!r}: file not found") from None
    except (OSError, ValueError, ImportError) as exc:
        raise SourceReadError(f"cannot read {url!r}: {exc}") from exc
    return data


def read_any(
    source: str | pa.Table | pl.DataFrame | pl.LazyFrame,
    *,
    name: str,
    format: Format | None = None,
) -> RawSource:
    """Read a URL with :func:`read_source`, or wrap a table (called ``name``; a Polars
    ``LazyFrame`` is collected) as a source."""
    if isinstance(source, str):
        return read_source(source, format=format)
    if isinstance(source, pl.LazyFrame):
        source = source.collect()
    if isinstance(source, pa.Table | pl.DataFrame):
        return table_source(source, name)
    raise InputError(
        "`source`: expected a path/URL, a pyarrow Table or a Polars DataFrame/LazyFrame, "
        f"got {type(source).__name__}"
    )


def read_source(
    url: str, *, format: Format | None = None, market_id: str | None = None, at: str | None = None
) -> RawSource:
    """Read one bid source into a :class:`RawSource`.

    A CATS file is one market, named ``market_id`` or else the file name's stem.
    ``at``: where to read it, when not at ``url`` (a relative path made absolute
    for a worker whose working directory differs); the source is still named ``url``.

    Raises
    ------
    SourceReadError
        If the file is missing, unreadable, or not valid ``format``.
    """
    check_format(format)
    fmt = format or detect_format(url)
    data = read_bytes(url, at)
    digest = hashlib.sha256(data).hexdigest()
    if fmt == "cats":
        text = _decode(url, data)
        market = market_id or pathlib.PurePosixPath(url.split("?")[0]).name.split(".")[0]
        records, errors = parse_cats(text, source=url, market_id=market)
        return RawSource(url, records, errors, digest)
    if fmt == "csv":
        frame, errors = read_csv_rows(url, data)
        return RawSource(url, frame, errors, digest)
    frame = _read_table(url, fmt, data)
    return RawSource(url, with_positions(frame, url), _EMPTY_ERRORS, digest)


def with_positions(frame: pl.DataFrame, source: str, *, first: int = 1) -> pl.DataFrame:
    """Add ``_source`` and ``_row`` (numbered from ``first``) to ``frame``."""
    return frame.with_columns(
        pl.lit(source, dtype=pl.String).alias("_source"),
        (pl.int_range(pl.len(), dtype=pl.Int64) + first).alias("_row"),
    )


def table_source(table: pa.Table | pl.DataFrame, name: str) -> RawSource:
    """Wrap an in-memory table as a source, hashed by its Arrow IPC bytes."""
    frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    sink = io.BytesIO()
    frame.write_ipc(sink)
    digest = hashlib.sha256(sink.getvalue()).hexdigest()
    return RawSource(name, with_positions(frame, name), _EMPTY_ERRORS, digest)


def read_frame(url: str, *, format: Format | None = None) -> pl.DataFrame:
    """Read a tabular (non-CATS) source as a Polars frame, CSV columns as strings."""
    check_format(format)
    fmt = format or detect_format(url)
    if fmt == "cats":
        raise SourceReadError(f"{url!r}: a CATS file holds bids, not a table of this kind")
    return _read_table(url, fmt, read_bytes(url))


def table_of(
    source: str | pa.Table | pl.DataFrame, *, format: Format | None = None
) -> pl.DataFrame:
    """A table given as a URL (read with :func:`read_frame`), an Arrow table or a Polars frame."""
    if isinstance(source, str):
        return read_frame(source, format=format)
    frame = source if isinstance(source, pl.DataFrame) else pl.from_arrow(source)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _read_table(url: str, fmt: Format, data: bytes) -> pl.DataFrame:
    try:
        if fmt == "parquet":
            return pl.read_parquet(io.BytesIO(data))
        if fmt == "ipc":
            return pl.read_ipc(io.BytesIO(data))
        return pl.read_csv(io.BytesIO(data), infer_schema=False)
    except Exception as exc:  # polars raises many kinds; all mean "not this format"
        raise SourceReadError(f"cannot read {url!r} as {fmt}: {exc}") from exc


def read_csv_rows(url: str, data: bytes, *, first: int = 2) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A CSV source as rows (``_row``: the line number; the line after the header is line
    ``first``, 2 in a whole file) and the lines it cannot read.

    Polars reads a well-formed file at once, and its row count is checked
    against the file's records (polars drops rows after some malformed
    headers). A file it refuses or miscounts (a line with more fields than
    the header, a broken quote), or with a record that spans lines (a quote
    left open joins the lines after it), is read line by line: such a line
    becomes a rejected row with the reason and the others are read, so one
    bad line never stops the rest and no line is lost or misnumbered.
    """
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False)
        if frame.height == _csv_records(data):
            return with_positions(frame, url, first=first), _EMPTY_ERRORS
    except Exception:  # polars raises many kinds; read line by line below
        pass
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SourceReadError(f"cannot read {url!r} as csv: {exc}") from exc
    if not lines:
        raise SourceReadError(f"cannot read {url!r} as csv: the file is empty")
    header = next(csv.reader([lines[0]]))
    rows, positions, errors = [], [], []
    for number, line in enumerate(lines[1:], start=first):
        problem, fields = _csv_fields(line, len(header))
        if problem is None:
            rows.append(fields)
            positions.append(number)
        else:
            reason = f"CSV syntax: {problem}; line was {line[:200]!r}"
            errors.append({"source": url, "row": number, "field": "line", "reason": reason})
    frame = pl.DataFrame(rows, schema=dict.fromkeys(header, pl.String), orient="row")
    frame = frame.with_columns(
        pl.lit(url, dtype=pl.String).alias("_source"), pl.Series("_row", positions, dtype=pl.Int64)
    )
    return frame, pl.DataFrame(errors, schema=ERRORS_SCHEMA)


def _csv_records(data: bytes) -> int:
    """Records after the header, as a CSV reader counts them (blank lines included); -1
    when a record spans lines (a quote left open, or a quoted line break): rows are then
    numbered by line, read line by line."""
    if b'"' not in data:  # no quoted field can span lines: count line ends (memchr-fast)
        return data.count(b"\n") - (1 if data.endswith(b"\n") else 0)
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace")))
    records = sum(1 for _ in reader)
    return max(0, records - 1) if reader.line_num == records else -1


def _csv_fields(line: str, width: int) -> tuple[str | None, list[str | None]]:
    try:
        fields: list[str | None] = list(next(csv.reader([line], strict=True), []))
    except csv.Error as exc:
        return f"{exc}", []
    if len(fields) > width:
        return f"{len(fields)} fields, the header has {width}", []
    fields = [None if f == "" else f for f in fields]
    return None, fields + [None] * (width - len(fields))


def _decode(url: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceReadError(f"cannot read {url!r} as CATS text: {exc}") from exc
