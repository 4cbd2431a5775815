"""The agents' event journal: the append-only audit log and the source of truth for recovery.

Each delivery of events is written, before any shard sees it, to
``<root>/journal/date=YYYY-MM-DD/run=<run_id>/<first seq>-<last seq>.parquet``
(``run=none`` for events of no run, such as agent creation) with a
``shard_id`` column. Every event carries its run id as correlation id, its
``seq``, time, kind, agent and payload. A shard rebuilt from its snapshot
replays the entries after the snapshot's ``applied_seq``; entries are written
atomically, so a reader never sees part of one.
"""

from __future__ import annotations

import datetime as dt
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
    runs = events["run_id"].drop_nulls().unique().to_list()
    run = _safe(runs[0]) if len(runs) == 1 else ("none" if not runs else "mixed")
    day = dt.datetime.now(dt.UTC).date().isoformat()
    fs, base = fsspec.core.url_to_fs(f"{_journal_dir(root)}/date={day}/run={run}")
    fs.makedirs(base, exist_ok=True)
    buffer = io.BytesIO()
    table = events.sort("seq").to_arrow().select(JOURNAL_SCHEMA.names).cast(JOURNAL_SCHEMA)
    pq.write_table(table, buffer)
    path = f"{base}/{first:012d}-{last:012d}.parquet"
    put_atomically(fs, path, buffer.getvalue())
    return path


def read_journal(
    root: str, *, shard_id: int | None = None, after: int = -1, run_id: str | None = None
) -> pl.DataFrame:
    """Journal events with ``seq > after`` in ``seq`` order (of one shard or run if given)."""
    frames = []
    fs, paths = _entries(root, run_id)
    for path in paths:
        match = _ENTRY.search(path)
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
    ends = [int(m.group(2)) for p in _entries(root)[1] if (m := _ENTRY.search(p))]
    return max(ends, default=-1)


def _entries(root: str, run_id: str | None = None) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    """The journal's filesystem and entry paths (of one run if given), in ``seq`` order."""
    fs, base = fsspec.core.url_to_fs(_journal_dir(root))
    if not fs.exists(base):
        return fs, []
    pattern = f"{base}/date=*/run={_safe(run_id) if run_id else '*'}/*.parquet"
    paths = [str(p) for p in fs.glob(pattern) if _ENTRY.search(str(p))]
    return fs, sorted(paths, key=lambda p: p.rsplit("/", 1)[-1])


def _safe(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def _filters(shard_id: int | None, after: int) -> list[tuple[str, str, int]]:
    filters = [("seq", ">", after)]
    if shard_id is not None:
        filters.append(("shard_id", "==", shard_id))
    return filters


def _journal_dir(root: str) -> str:
    return f"{root.rstrip('/')}/journal"
