"""Agent events: the only way an agent's state changes.

An event is one row of :data:`AGENT_EVENTS_SCHEMA`. ``seq`` orders all events
of a population; a shard applies each event once, in ``seq`` order, and skips
any it has already applied, so redelivery after a migration or a recovery is
harmless.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import polars as pl
import pyarrow as pa

from econonexus._core.errors import InputError

EventKind = Literal[
    "created",
    "deposited",
    "withdrawn",
    "stake_deposited",
    "stake_locked",
    "stake_released",
    "stake_slashed",
    "bonus_paid",
    "settled",
    "banned",
    "strategy_set",
    "bid_won",
    "bid_lost",
    "flagged",
    "capabilities_set",
]
EVENT_KINDS: Final[tuple[EventKind, ...]] = get_args(EventKind)

AGENT_EVENTS_SCHEMA: Final = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("time", pa.timestamp("us", tz="UTC")),
        pa.field("run_id", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("agent_id", pa.string(), nullable=False),
        pa.field("market_id", pa.string()),
        pa.field("bid_id", pa.string()),
        pa.field("items", pa.list_(pa.string())),
        pa.field("amount", pa.float64()),
        pa.field("price", pa.float64()),
        pa.field("payload", pa.string()),
    ]
)
"""Agent events. ``amount``: money or stake moved (a payment for ``bid_won``);
``price`` and ``items``: the bid's, for ``bid_won``/``bid_lost``; ``payload``: JSON for
``created``, ``strategy_set``, ``capabilities_set``, ``settled``, ``flagged`` and the
outcomes of sell offers (``{"side": "sell", "units": n}``), else null."""


@dataclass(frozen=True, slots=True)
class Event:
    """One agent event (a row of :data:`AGENT_EVENTS_SCHEMA` without ``time``)."""

    seq: int
    kind: str
    agent_id: str
    run_id: str | None = None
    market_id: str | None = None
    bid_id: str | None = None
    items: tuple[str, ...] | None = None
    amount: float | None = None
    price: float | None = None
    payload: str | None = None


def events_from_table(table: pa.Table | pl.DataFrame) -> list[Event]:
    """Rows of an events table as :class:`Event` objects, in ``seq`` order."""
    frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    fields = [f.name for f in dataclasses.fields(Event)]
    rows = frame.sort("seq").select(fields).iter_rows()
    events = []
    for row in rows:
        values = dict(zip(fields, row, strict=True))
        values["items"] = None if values["items"] is None else tuple(values["items"])
        events.append(Event(**values))
    return events


def events_table(
    rows: list[dict[str, Any]] | pl.DataFrame, *, time: dt.datetime | None = None
) -> pl.DataFrame:
    """An events frame in :data:`AGENT_EVENTS_SCHEMA` from dicts or a partial frame.

    Missing optional columns are null; ``time`` defaults to now (UTC).
    """
    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
    stamp = time or dt.datetime.now(dt.UTC)
    columns = []
    for field in AGENT_EVENTS_SCHEMA:
        dtype = pl.Series(pa.array([], field.type)).dtype
        if field.name in frame.columns:
            columns.append(pl.col(field.name).cast(dtype))
        elif field.name == "time":
            columns.append(pl.lit(stamp, dtype=dtype).alias("time"))
        else:
            columns.append(pl.lit(None, dtype=dtype).alias(field.name))
    return frame.select(columns)


def empty_events() -> pl.DataFrame:
    """An events frame with no rows."""
    frame = pl.from_arrow(AGENT_EVENTS_SCHEMA.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def created_events(agents: pl.DataFrame) -> pl.DataFrame:
    """One ``created`` event per agent row, its fields as the JSON payload."""
    if "agent_id" not in agents.columns:
        raise InputError(f"`agents`: expected an `agent_id` column, got {agents.columns}")
    fields = [c for c in agents.columns if c != "agent_id"]
    payloads = [json.dumps(_payload(row)) for row in agents.select(fields).iter_rows(named=True)]
    return pl.DataFrame({"agent_id": agents["agent_id"], "payload": payloads}).with_columns(
        kind=pl.lit("created")
    )


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("valuations") is not None:
        row["valuations"] = [[v["market_id"], v["item_id"], v["value"]] for v in row["valuations"]]
    if row.get("capabilities") is not None:
        row["capabilities"] = [
            [c["capability"], c["cost"], c["capacity"]] if isinstance(c, dict) else list(c)
            for c in row["capabilities"]
        ]
    return {k: v for k, v in row.items() if v is not None}
