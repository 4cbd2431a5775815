"""The agents' event journal: append-only Parquet files, the source of truth for recovery.

Each delivery of events is written, before any shard sees it, to
``<root>/journal/<first seq>-<last seq>.parquet`` with a ``shard_id`` column.
A shard rebuilt from its snapshot replays the entries after the snapshot's
``applied_seq``; entries are written atomically, so a reader never sees part
of one.
"""

from __future__ import annotations

import io
import re
from typing import Final

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from econonexus.agents.events import AGENT_EVENTS_SCHEMA, empty_events
from econonexus.agents.storage import put_atomically

JOURNAL_SCHEMA: Final = AGENT_EVENTS_SCHEMA.append(pa.field("shard_id", pa.int64(), nullable=False))
_ENTRY = re.compile(r"(\d{12})-(\d{12})\.parquet$")


def append_journal(root: str, events: pl.DataFrame) -> str | None:
    """Write one journal entry (``events`` with ``seq`` and ``shard_id``); return its URL."""
    if events.is_empty():
        return None
    first, last = int(events["seq"].min()), int(events["seq"].max())  # type: ignore[arg-type]
    fs, base = fsspec.core.url_to_fs(_journal_dir(root))
    fs.makedirs(base, exist_ok=True)
    buffer = io.BytesIO()
    pq.write_table(
        events.sort("seq").to_arrow().select(JOURNAL_SCHEMA.names).cast(JOURNAL_SCHEMA), buffer
    )
    path = f"{base}/{first:012d}-{last:012d}.parquet"
    put_atomically(fs, path, buffer.getvalue())
    return path


def read_journal(root: str, *, shard_id: int | None = None, after: int = -1) -> pl.DataFrame:
    """Journal events with ``seq > after`` (of one shard if given), in ``seq`` order."""
    fs, base = fsspec.core.url_to_fs(_journal_dir(root))
    if not fs.exists(base):
        return empty_events()
    frames = []
    for path in sorted(fs.ls(base, detail=False)):
        match = _ENTRY.search(str(path))
        if match is None or int(match.group(2)) <= after:
            continue
        with fs.open(path, "rb") as fh:
            table = pq.read_table(fh, filters=_filters(shard_id, after))
        frames.append(pl.from_arrow(table))
    if not frames:
        return empty_events()
    journal = pl.concat([f for f in frames if isinstance(f, pl.DataFrame)])
    return journal.select(AGENT_EVENTS_SCHEMA.names).sort("seq")


def last_seq(root: str) -> int:
    """The highest ``seq`` in the journal, or -1 when it is empty."""
    fs, base = fsspec.core.url_to_fs(_journal_dir(root))
    if not fs.exists(base):
        return -1
    ends = [int(m.group(2)) for p in fs.ls(base, detail=False) if (m := _ENTRY.search(str(p)))]
    return max(ends, default=-1)


def _filters(shard_id: int | None, after: int) -> list[tuple[str, str, int]]:
    filters = [("seq", ">", after)]
    if shard_id is not None:
        filters.append(("shard_id", "==", shard_id))
    return filters


def _journal_dir(root: str) -> str:
    return f"{root.rstrip('/')}/journal"
