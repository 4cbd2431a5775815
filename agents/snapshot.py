"""Shard snapshots in Parquet through fsspec, versioned and committed atomically.

Layout under ``root``::

    snapshots/shard-00007/v000012-<token>.parquet   one version's agents
    snapshots/shard-00007/CURRENT.json              the pointer: last committed version

A snapshot is written to a new file first and becomes current only when the
pointer is replaced (a rename on local disks; a single-object put on object
stores, which is atomic there), after the writer's lease is checked. A writer
killed mid-write leaves a partial file that nothing points to: the previous
snapshot still loads. Each file also records its ``applied_seq``, so when the
current one cannot be read (cut, deleted) the newest older version that can
is used instead, with a warning; the journal replays the rest, and with no
readable version at all the journal alone rebuilds the shard.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from econonexus._core.errors import SnapshotError
from econonexus.agents.state import AgentState
from econonexus.agents.storage import put_atomically

_VALUATION = pa.struct(
    [("market_id", pa.string()), ("item_id", pa.string()), ("value", pa.float64())]
)
_CAPABILITY = pa.struct(
    [("capability", pa.string()), ("cost", pa.float64()), ("capacity", pa.int64())]
)
AGENTS_SCHEMA: Final = pa.schema(
    [
        pa.field("agent_id", pa.string(), nullable=False),
        pa.field("balance", pa.float64()),
        pa.field("free_stake", pa.float64()),
        pa.field("locked_stake", pa.float64()),
        pa.field("reputation", pa.float64()),
        pa.field("rep_alpha", pa.float64()),
        pa.field("rep_beta", pa.float64()),
        pa.field("banned", pa.bool_()),
        pa.field("strategy", pa.string()),
        pa.field("shade", pa.float64()),
        pa.field("weights", pa.list_(pa.float64())),
        pa.field("valuations", pa.list_(_VALUATION)),
        pa.field("synergy", pa.float64()),
        pa.field("bids", pa.int64()),
        pa.field("wins", pa.int64()),
        pa.field("losses", pa.int64()),
        pa.field("owed", pa.float64()),
        pa.field("paid", pa.float64()),
        pa.field("deposited", pa.float64()),
        pa.field("withdrawn", pa.float64()),
        pa.field("bonuses", pa.float64()),
        pa.field("slashed", pa.float64()),
        pa.field("capabilities", pa.list_(_CAPABILITY)),
        pa.field("due", pa.float64()),
        pa.field("earned", pa.float64()),
        pa.field("last_seq", pa.int64()),
    ]
)
"""One row per agent: every field of :class:`~econonexus.agents.state.AgentState`."""
ROW_GROUP: Final = 2048
_APPLIED: Final = "econonexus.applied_seq"


@dataclass(frozen=True)
class Snapshot:
    """A loaded snapshot: its version, the last event it includes, and the agents."""

    version: int
    applied_seq: int
    states: list[AgentState]


def states_table(states: Iterable[AgentState]) -> pa.Table:
    """Agent states as a table in :data:`AGENTS_SCHEMA`."""
    rows = list(states)
    columns: dict[str, list[Any]] = {f.name: [] for f in AGENTS_SCHEMA}
    for state in rows:
        for name, column in columns.items():
            column.append(getattr(state, name))
    columns["valuations"] = [
        [{"market_id": m, "item_id": i, "value": v} for m, i, v in s.valuations] for s in rows
    ]
    columns["capabilities"] = [
        [{"capability": n, "cost": c, "capacity": k} for n, c, k in s.capabilities] for s in rows
    ]
    return pa.Table.from_pydict(columns, schema=AGENTS_SCHEMA)


_ADDED_LATER: Final[dict[str, Any]] = {"capabilities": None, "due": 0.0, "earned": 0.0}
"""Columns that snapshots of older versions lack, and the value they mean there."""


def table_states(table: pa.Table) -> list[AgentState]:
    """The inverse of :func:`states_table` (older snapshots: :data:`_ADDED_LATER` filled in)."""
    columns: dict[str, list[Any]] = {
        name: table.column(name).to_pylist()
        if name in table.column_names or name not in _ADDED_LATER
        else [_ADDED_LATER[name]] * table.num_rows
        for name in AGENTS_SCHEMA.names
    }
    columns["weights"] = [tuple(w or ()) for w in columns["weights"]]
    columns["valuations"] = [
        tuple((v["market_id"], v["item_id"], v["value"]) for v in vs or ())
        for vs in columns["valuations"]
    ]
    columns["capabilities"] = [
        tuple((c["capability"], c["cost"], c["capacity"]) for c in cs or ())
        for cs in columns["capabilities"]
    ]
    names = [f.name for f in dataclasses.fields(AgentState)]
    return [AgentState(*values) for values in zip(*(columns[n] for n in names), strict=True)]


def write_snapshot(
    root: str,
    shard_id: int,
    table: pa.Table,
    applied_seq: int,
    *,
    fence: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write ``table`` as shard ``shard_id``'s next version, commit it, return the pointer.

    ``fence`` (the pool lease's check) runs before the commit and raises if the
    writer has lost the pool.
    """
    fs, base = fsspec.core.url_to_fs(_shard_dir(root, shard_id))
    fs.makedirs(base, exist_ok=True)
    current = _read_pointer(fs, base)
    version = (current["version"] if current else 0) + 1
    name = f"v{version:06d}-{uuid.uuid4().hex[:8]}.parquet"
    stamped = table.replace_schema_metadata({_APPLIED: str(applied_seq)})
    with fs.open(f"{base}/{name}", "wb") as fh:
        pq.write_table(stamped, fh, row_group_size=ROW_GROUP)
    if fence is not None:
        fence("snapshot commit")
    pointer = {
        "version": version,
        "file": name,
        "applied_seq": applied_seq,
        "agents": table.num_rows,
    }
    put_atomically(fs, f"{base}/CURRENT.json", json.dumps(pointer).encode())
    return pointer


def read_snapshot(root: str, shard_id: int) -> Snapshot | None:
    """The last committed snapshot of shard ``shard_id`` that can be read, or ``None``.

    Falls back, with a warning, to the newest older version that reads whole.
    """
    fs, base = fsspec.core.url_to_fs(_shard_dir(root, shard_id))
    pointer = _read_pointer(fs, base)
    if pointer is None:
        return None
    tried = [str(pointer["file"])]
    older = sorted(
        (p.rsplit("/", 1)[-1] for p in fs.glob(f"{base}/v*.parquet")),
        key=_version_of,
        reverse=True,
    )
    tried += [n for n in older if _version_of(n) < int(pointer["version"])]
    for name in tried:
        loaded = _load(fs, f"{base}/{name}")
        if isinstance(loaded, Snapshot):
            if name != tried[0]:
                warnings.warn(
                    f"{base}/{tried[0]}: the committed snapshot cannot be read; "
                    f"using {name} and the journal after it",
                    stacklevel=2,
                )
            return loaded
    warnings.warn(
        f"{base}: no snapshot version can be read; the journal alone rebuilds shard {shard_id}",
        stacklevel=2,
    )
    return None


def _load(fs: fsspec.AbstractFileSystem, path: str) -> Snapshot | str:
    try:
        with fs.open(path, "rb") as fh:
            table = pq.read_table(fh)
        states = table_states(table)
    except (OSError, pa.ArrowInvalid, KeyError, TypeError) as exc:
        return str(exc)
    metadata = table.schema.metadata or {}
    stamped = metadata.get(_APPLIED.encode())
    # an unstamped file (older writers): each agent's last_seq bounds what was applied
    applied = int(stamped) if stamped else max((s.last_seq for s in states), default=-1)
    return Snapshot(_version_of(path.rsplit("/", 1)[-1]), applied, states)


def _version_of(name: str) -> int:
    match = re.match(r"v(\d+)-", name)
    return int(match.group(1)) if match else -1


def _shard_dir(root: str, shard_id: int) -> str:
    return f"{root.rstrip('/')}/snapshots/shard-{shard_id:05d}"


def _read_pointer(fs: fsspec.AbstractFileSystem, base: str) -> dict[str, Any] | None:
    path = f"{base}/CURRENT.json"
    if not fs.exists(path):
        return None
    raw = fs.cat_file(path)
    try:
        pointer: dict[str, Any] = json.loads(raw)
    except ValueError as exc:
        raise SnapshotError(f"{path}: expected a JSON pointer, got {raw[:60]!r}") from exc
    return pointer
