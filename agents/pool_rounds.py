"""One clock round's live answers, a CCA's live package bids, and who a bid round left out:
a pool's round helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from econonexus.agents.placement import by_shard
from econonexus.agents.pool_moves import ShardMoves
from econonexus.agents.pool_results import ClockAnswers

AskEach = Callable[[str, dict[int, tuple[Any, ...]]], dict[int, Any]]


def clock_round(
    ask_each: AskEach,
    moves: ShardMoves,
    asks: pl.DataFrame,
    n_shards: int,
    seed: int,
    round_no: int,
) -> ClockAnswers:
    """Ask every shard holding asked agents at once; recover and ask again the ones that fail.

    Rows whose shard still cannot answer are marked ``unanswered``, never taken as no.
    """
    answered, reasons = _ask_holders(ask_each, moves, "answers", asks, n_shards, seed, round_no)
    yes = np.zeros(asks.height, dtype=np.bool_)
    unanswered = np.ones(asks.height, dtype=np.bool_)
    for rows, answer in answered:
        yes[rows], unanswered[rows] = answer, False
    return ClockAnswers(yes, unanswered, reasons)


def package_round(
    ask_each: AskEach,
    moves: ShardMoves,
    packages: pl.DataFrame,
    n_shards: int,
    seed: int,
    round_no: int,
) -> tuple[np.ndarray, dict[int, str]]:
    """Supplementary bids on ``packages`` from every shard holding asked agents at once (as
    :func:`clock_round` asks); NaN where no shard answered, and why, per shard."""
    asked = packages.select("agent_id", "market_id", "items")
    answered, reasons = _ask_holders(
        ask_each, moves, "package_bids", asked, n_shards, seed, round_no
    )
    bids = np.full(packages.height, np.nan)
    for rows, answer in answered:
        bids[rows] = answer
    return bids, reasons


def _ask_holders(
    ask_each: AskEach,
    moves: ShardMoves,
    method: str,
    rows: pl.DataFrame,
    n_shards: int,
    seed: int,
    round_no: int,
) -> tuple[list[tuple[np.ndarray, Any]], dict[int, str]]:
    """``method`` on each shard holding agents of ``rows``, all at once, a failed shard
    recovered (when it can be now) and asked again; the answers, each with the positions
    of the rows it answers, and per shard that did not answer, why."""
    groups = by_shard(rows, n_shards)
    calls = {s: (g.drop("_row").to_arrow(), seed, round_no) for s, g in groups.items()}
    replies = ask_each(method, calls)
    failed = sorted(s for s, a in replies.items() if isinstance(a, Exception))
    for shard in failed:  # one that cannot be recovered now stays unanswered this round
        with contextlib.suppress(Exception):
            moves.recover([shard])
    if failed:
        replies.update(ask_each(method, {s: calls[s] for s in failed}))
    answered, reasons = [], {}
    for s, answer in replies.items():
        if isinstance(answer, Exception):
            reasons[s] = f"shard {s} did not answer after recovery: {answer}"
        else:
            answered.append((groups[s]["_row"].to_numpy(), answer))
    return answered, reasons


def left_out(members: dict[int, set[str]], missing: dict[int, str]) -> pl.DataFrame:
    """The agents of the shards in ``missing`` (shard: reason), one row each."""
    rows = [(s, a, reason) for s, reason in missing.items() for a in sorted(members[s])]
    return pl.DataFrame(
        rows,
        schema={"shard_id": pl.Int64, "agent_id": pl.String, "reason": pl.String},
        orient="row",
    )
