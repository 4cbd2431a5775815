"""The agents' event journal: the append-only audit log and the source of truth for recovery.

Each delivery of events is written, before any shard sees it, to
``<root>/journal/date=YYYY-MM-DD/run=<run_id>/<first seq>-<last seq>.parquet``
(``run=none`` for events of no run, such as agent creation) with a
``shard_id`` column. Every event carries its run id as correlation id, its
``seq``, time, kind, agent and payload.

The journal is a hash chain, committed write-ahead style: once an entry's
file is written whole, its record ``journal/_chain/<first seq>.json`` is
created if absent, naming the entry, its SHA-256 and the SHA-256 of the
previous record. The record is the commit: an entry without one was never
committed, and of two writers of one ``seq`` only one commits. Readers check
the chain (no gap, no edited record) and each entry they read against its
hash; a bad entry is a :class:`~econonexus.JournalError`, except the last
one, which is torn (a crash or a cut file) and is skipped with a warning, as
a write-ahead log does. A shard rebuilt from its snapshot replays the
entries after the snapshot's ``applied_seq``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import warnings
from dataclasses import dataclass
from typing import Any, Final

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from econonexus._core.errors import JournalError, LeaseError
from econonexus.agents.events import AGENT_EVENTS_SCHEMA, empty_events
from econonexus.agents.lease import Lease
from econonexus.agents.storage import create_if_absent, put_atomically

JOURNAL_SCHEMA: Final = AGENT_EVENTS_SCHEMA.append(pa.field("shard_id", pa.int64(), nullable=False))
_RECORD = re.compile(r"(\d{12})\.json$")


@dataclass(frozen=True)
class ChainRecord:
    """One committed entry: its seq range, file (relative to the journal), hash and link."""

    first: int
    last: int
    entry: str
    run: str
    sha256: str
    prev: str
    generation: int
    digest: str  # SHA-256 of this record's own bytes: the next record's ``prev``


@dataclass(frozen=True)
class Chain:
    """The committed records in ``seq`` order; ``torn`` is a last record whose entry is bad."""

    records: list[ChainRecord]
    torn: ChainRecord | None = None
    tail: bytes | None = None
    """The last record's entry, read and checked while the chain was read."""

    @property
    def last_seq(self) -> int:
        return self.records[-1].last if self.records else -1

    @property
    def tip(self) -> str:
        return self.records[-1].digest if self.records else ""


class JournalWriter:
    """Appends entries to a pool's journal under its lease, continuing the chain."""

    def __init__(self, root: str, lease: Lease | None):
        self.root = root.rstrip("/")
        self.lease = lease
        chain = open_chain(self.root, repair=lease is not None)
        self._last, self._tip = chain.last_seq, chain.tip

    @property
    def next_seq(self) -> int:
        return self._last + 1

    def append(self, events: pl.DataFrame) -> str | None:
        """Write one entry (``events`` numbered from :attr:`next_seq`) and commit it; its URL."""
        if events.is_empty():
            return None
        if self.lease is not None:
            self.lease.check("journal write")
        first, last = int(events["seq"].min()), int(events["seq"].max())  # type: ignore[arg-type]
        if first != self._last + 1:
            raise JournalError(
                f"journal {self.root!r}: entry starts at {first}, expected {self._last + 1}"
            )
        runs = events["run_id"].drop_nulls().unique().to_list()
        run = _safe(runs[0]) if len(runs) == 1 else ("none" if not runs else "mixed")
        day = dt.datetime.now(dt.UTC).date().isoformat()
        relative = f"date={day}/run={run}/{first:012d}-{last:012d}.parquet"
        fs, base = fsspec.core.url_to_fs(_journal_dir(self.root))
        buffer = io.BytesIO()
        table = events.sort("seq").to_arrow().select(JOURNAL_SCHEMA.names).cast(JOURNAL_SCHEMA)
        pq.write_table(table, buffer)
        data = buffer.getvalue()
        fs.makedirs(f"{base}/date={day}/run={run}", exist_ok=True)
        put_atomically(fs, f"{base}/{relative}", data)
        record = {
            "first": first,
            "last": last,
            "entry": relative,
            "run": run,
            "sha256": hashlib.sha256(data).hexdigest(),
            "prev": self._tip,
            "generation": self.lease.generation if self.lease else None,
        }
        body = json.dumps(record, sort_keys=True).encode()
        if not create_if_absent(fs, f"{base}/_chain/{first:012d}.json", body):
            raise LeaseError(
                f"journal {self.root!r}: seq {first} was committed by another writer; "
                "this delivery was not journaled (one writer per pool root)"
            )
        self._last, self._tip = last, hashlib.sha256(body).hexdigest()
        return f"{base}/{relative}"


def open_chain(root: str, *, repair: bool = False) -> Chain:
    """Read and check the chain; with ``repair`` (the lease holder) set a torn tail aside."""
    chain = read_chain(root)
    if chain.torn is not None:
        warnings.warn(
            f"journal {root!r}: the last entry ({chain.torn.entry}) is torn or damaged; "
            f"it was never applied and is ignored (seq {chain.torn.first}-{chain.torn.last})",
            stacklevel=2,
        )
        if repair:
            fs, base = fsspec.core.url_to_fs(_journal_dir(root))
            name = f"{base}/_chain/{chain.torn.first:012d}.json"
            fs.mv(name, f"{name}.torn")
    return chain


def read_chain(root: str) -> Chain:
    """Every committed record in order, checked for gaps and broken links.

    Raises
    ------
    JournalError
        If a record is missing, edited or unreadable (other than a torn last entry).
    """
    fs, base = fsspec.core.url_to_fs(f"{_journal_dir(root)}/_chain")
    if not fs.exists(base):
        return Chain([])
    paths = sorted(p for p in fs.ls(base, detail=False) if _RECORD.search(p))
    records: list[ChainRecord] = []
    for path in paths:
        raw = fs.cat_file(path)
        record = _parse_record(path, raw)
        expected_first = records[-1].last + 1 if records else 0
        if record.first != expected_first:
            raise JournalError(
                f"journal {root!r}: entry {record.first:012d} follows seq {expected_first - 1}: "
                f"entries {expected_first}..{record.first - 1} are missing"
            )
        if record.prev != (records[-1].digest if records else ""):
            raise JournalError(
                f"journal {root!r}: record {record.first:012d} does not link to the record "
                "before it: an earlier record was edited or replaced"
            )
        records.append(record)
    if not records:
        return Chain(records)
    try:
        tail = _entry_bytes(root, records[-1])
    except JournalError:
        return Chain(records[:-1], torn=records[-1])
    return Chain(records, tail=tail)


def _parse_record(path: str, raw: bytes) -> ChainRecord:
    try:
        values: dict[str, Any] = json.loads(raw)
        return ChainRecord(
            first=int(values["first"]),
            last=int(values["last"]),
            entry=str(values["entry"]),
            run=str(values["run"]),
            sha256=str(values["sha256"]),
            prev=str(values["prev"]),
            generation=int(values["generation"] or 0),
            digest=hashlib.sha256(raw).hexdigest(),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(f"{path}: expected a journal chain record, got {raw[:80]!r}") from exc


def _entry_bytes(root: str, record: ChainRecord) -> bytes:
    fs, base = fsspec.core.url_to_fs(_journal_dir(root))
    path = f"{base}/{record.entry}"
    try:
        data: bytes = fs.cat_file(path)
    except FileNotFoundError:
        raise JournalError(f"{path}: journal entry {record.first:012d} is missing") from None
    if hashlib.sha256(data).hexdigest() != record.sha256:
        raise JournalError(
            f"{path}: journal entry {record.first:012d} differs from its chain record "
            "(edited, truncated or replaced)"
        )
    return data


def read_entry(root: str, record: ChainRecord, data: bytes | None = None) -> pa.Table:
    """One committed entry's events, checked against its hash (``data``: already checked)."""
    data = _entry_bytes(root, record) if data is None else data
    try:
        return pq.read_table(io.BytesIO(data))
    except pa.ArrowInvalid as exc:
        raise JournalError(f"journal entry {record.entry}: unreadable: {exc}") from exc


def read_journal(
    root: str, *, shard_id: int | None = None, after: int = -1, run_id: str | None = None
) -> pl.DataFrame:
    """Journal events with ``seq > after`` in ``seq`` order (of one shard or run if given)."""
    chain = open_chain(root)
    wanted = [
        r
        for r in chain.records
        if r.last > after and (run_id is None or r.run in (_safe(run_id), "mixed"))
    ]
    frames = []
    for record in wanted:
        cached = chain.tail if record is chain.records[-1] else None
        frame = pl.from_arrow(read_entry(root, record, cached))
        assert isinstance(frame, pl.DataFrame)
        keep = pl.col("seq") > after
        if shard_id is not None:
            keep &= pl.col("shard_id") == shard_id
        if run_id is not None:
            keep &= pl.col("run_id") == run_id
        frames.append(frame.filter(keep))
    if not frames:
        return empty_events()
    return pl.concat(frames).select(AGENT_EVENTS_SCHEMA.names).sort("seq")


def agent_ages(root: str) -> pl.DataFrame:
    """``agent_id`` and ``age_runs``: the runs whose outcomes each agent of the pool at
    ``root`` received (``bid_won``/``bid_lost`` events), as its journal records them."""
    events = read_journal(root).filter(
        pl.col("kind").is_in(["bid_won", "bid_lost"]) & pl.col("run_id").is_not_null()
    )
    return events.group_by("agent_id").agg(pl.col("run_id").n_unique().alias("age_runs"))


def _safe(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def _journal_dir(root: str) -> str:
    return f"{root.rstrip('/')}/journal"
