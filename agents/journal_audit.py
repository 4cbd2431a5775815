"""Verify a pool's journal end to end (``econonexus audit journal ROOT``).

Checks every chain record (no gap, each linked to the one before), every
entry against its SHA-256 and its record's seq range, and that replaying the
whole journal from nothing gives each shard's current snapshot, agent by
agent, up to the snapshot's ``applied_seq``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass

import fsspec
import polars as pl

from econonexus._core.errors import JournalError
from econonexus.agents.events import events_from_table
from econonexus.agents.journal import read_chain, read_entry
from econonexus.agents.shard import ShardCore
from econonexus.agents.snapshot import read_snapshot


@dataclass(frozen=True)
class JournalAudit:
    """What was checked and every problem found."""

    root: str
    entries: int
    events: int
    shards: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the chain, every entry and every snapshot check out."""
        return not self.problems


def audit_journal(root: str) -> JournalAudit:
    """Verify the journal and snapshots of the pool at ``root``."""
    root = root.rstrip("/")
    try:
        chain = read_chain(root)
    except JournalError as exc:
        return JournalAudit(root, 0, 0, 0, (str(exc),))
    problems = []
    if chain.torn is not None:
        problems.append(f"the last entry ({chain.torn.entry}) is torn; it was never applied")
    frames = []
    for record in chain.records:
        try:
            frame = pl.from_arrow(read_entry(root, record))
        except JournalError as exc:
            problems.append(str(exc))
            continue
        assert isinstance(frame, pl.DataFrame)
        seqs = frame["seq"].to_list()
        if seqs != list(range(record.first, record.last + 1)):
            problems.append(f"{record.entry}: seqs are not {record.first}..{record.last}")
        frames.append(frame)
    journal = pl.concat(frames) if frames else None
    shards = _n_shards(root)
    if journal is not None and not problems:
        problems += [p for s in range(shards) if (p := _replay_problem(root, s, journal))]
    events = 0 if journal is None else journal.height
    return JournalAudit(root, len(chain.records), events, shards, tuple(problems))


def _replay_problem(root: str, shard_id: int, journal: pl.DataFrame) -> str | None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        snapshot = read_snapshot(root, shard_id)
    if caught:
        return f"shard {shard_id}: {caught[0].message}"
    if snapshot is None:
        return None
    mine = journal.filter(
        (pl.col("shard_id") == shard_id) & (pl.col("seq") <= snapshot.applied_seq)
    )
    core = ShardCore(shard_id)
    core.apply_events(events_from_table(mine))
    stored = {s.agent_id: s for s in snapshot.states}
    differ = sorted(
        a for a in stored.keys() | core.agents.keys() if stored.get(a) != core.agents.get(a)
    )
    if differ:
        return (
            f"shard {shard_id}: replaying the journal to seq {snapshot.applied_seq} differs from "
            f"its snapshot v{snapshot.version} for {len(differ)} agents (first: {differ[:3]})"
        )
    return None


def _n_shards(root: str) -> int:
    fs, path = fsspec.core.url_to_fs(f"{root}/pool.json")
    return int(json.loads(fs.cat_file(path))["shards"]) if fs.exists(path) else 0
