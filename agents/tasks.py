"""Task tables for delegation: checked row by row, bad rows kept with their reason."""

from __future__ import annotations

import datetime as dt
from typing import Final

import polars as pl

from econonexus._core.errors import InputError

TASK_SCHEMA: Final[dict[str, pl.DataType]] = {
    "task_id": pl.String(),
    "capability": pl.String(),
    "quantity": pl.Int64(),
    "reserve": pl.Float64(),
    "deadline": pl.Datetime("us", "UTC"),
}
"""A task: what is needed, how many units, the most the buyer pays for all of them, and
optionally when it must be done by."""
UNASSIGNED_SCHEMA: Final[dict[str, pl.DataType]] = {
    "task_id": pl.String(),
    "row": pl.Int64(),
    "field": pl.String(),
    "reason": pl.String(),
}
"""A task not delegated: its row in the input, the field at fault (if any) and why."""


def checked_tasks(
    tasks: pl.DataFrame, *, now: dt.datetime | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``tasks`` into good rows (:data:`TASK_SCHEMA`) and rejected rows with reasons.

    A row is rejected for a missing ``task_id`` or ``capability``, a
    ``quantity`` that is not a whole number >= 1, a ``reserve`` that is not a
    finite number > 0, a ``task_id`` seen on an earlier row, or a ``deadline``
    before ``now`` (default: the current time).

    Raises
    ------
    InputError
        ``tasks`` lacks a required column or a column cannot be read as its type.
    """
    missing = [c for c in ("task_id", "capability", "quantity", "reserve") if c not in tasks]
    if missing:
        raise InputError(
            f"`tasks`: missing column(s) {missing}; expected task_id, capability, quantity, "
            f"reserve and optionally deadline, got {tasks.columns}"
        )
    frame = _typed(tasks).with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    now = now or dt.datetime.now(dt.UTC)
    checks = [
        ("task_id", pl.col("task_id").is_null() | (pl.col("task_id") == ""), "expected an id"),
        ("capability", pl.col("capability").is_null(), "expected a capability name"),
        ("quantity", ~(pl.col("quantity") >= 1).fill_null(False), "expected a whole number >= 1"),
        (
            "reserve",
            ~(pl.col("reserve").is_finite() & (pl.col("reserve") > 0)).fill_null(False),
            "expected a finite number > 0 (the buyer's value of the whole task)",
        ),
        (
            "task_id",
            pl.int_range(pl.len()).over("task_id") > 0,
            "a duplicate: the first row with this id stands",
        ),
        ("deadline", (pl.col("deadline") < now).fill_null(False), "the deadline has passed"),
    ]
    reason = pl.lit(None, dtype=pl.String)
    field = pl.lit(None, dtype=pl.String)
    for name, bad, why in reversed(checks):  # the first failing check names the row
        reason = pl.when(bad).then(pl.lit(f"`{name}`: {why}")).otherwise(reason)
        field = pl.when(bad).then(pl.lit(name)).otherwise(field)
    marked = frame.with_columns(reason=reason, field=field)
    good = marked.filter(pl.col("reason").is_null()).select(list(TASK_SCHEMA))
    bad_rows = marked.filter(pl.col("reason").is_not_null()).select(list(UNASSIGNED_SCHEMA))
    return good, bad_rows


def _typed(tasks: pl.DataFrame) -> pl.DataFrame:
    """The task columns cast to :data:`TASK_SCHEMA` (deadline null where absent)."""
    columns: list[pl.Series] = []
    for name, dtype in TASK_SCHEMA.items():
        if name not in tasks.columns:
            columns.append(pl.Series(name, [None] * tasks.height, dtype=dtype))
            continue
        source = tasks[name]
        naive = isinstance(source.dtype, pl.Datetime) and source.dtype.time_zone is None
        if name == "deadline" and naive:
            source = source.dt.replace_time_zone("UTC")
        if name == "quantity" and source.dtype.is_float():  # 1.5 units is no quantity
            fractional = (~source.is_finite() | (source != source.round())).fill_null(False)
            source = source.set(fractional, None)
        try:
            columns.append(source.cast(dtype, strict=name != "quantity").alias(name))
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
            raise InputError(
                f"`tasks`: column `{name}` expected {dtype}, got {source.dtype}: {exc}"
            ) from exc
    return pl.DataFrame(columns)
