"""What an agent pool's rounds and deliveries return."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from econonexus.agents.relocation import Move
from econonexus.agents.shard import ApplyReport


@dataclass(frozen=True)
class BidRound:
    """A round's bids from every reachable shard, who was left out and why, and the
    shards moved first (recovered or rebalanced) by auto-rebalance."""

    bids: pa.Table
    left_out: pl.DataFrame
    seconds: float
    moved: tuple[Move, ...] = ()


@dataclass(frozen=True)
class ClockAnswers:
    """One clock round's answers: yes per row, rows nobody could answer, and why (per shard)."""

    yes: np.ndarray
    unanswered: np.ndarray
    reasons: dict[int, str]


@dataclass(frozen=True)
class Delivery:
    """Events ``first_seq..last_seq`` journaled; per-shard reports, and shards that missed them."""

    first_seq: int
    last_seq: int
    reports: tuple[ApplyReport, ...]
    failed: dict[int, str]
