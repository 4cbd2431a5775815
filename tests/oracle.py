"""A brute-force winner-determination oracle, written independently of the solvers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class OracleAnswer:
    welfare: float
    optimal_sets: list[frozenset[str]]


def brute_force(bids: pl.DataFrame, items: pl.DataFrame | None = None) -> OracleAnswer:
    """Return the best welfare and every bid set reaching it (up to 1e-9)."""
    supply: dict[str, int] = {}
    reserve: dict[str, float] = {}
    if items is not None:
        for row in items.iter_rows(named=True):
            supply[row["item_id"]] = row["supply"]
            reserve[row["item_id"]] = row["reserve_price"]
    rows = bids.to_dicts()
    best, sets = 0.0, [frozenset()]
    for r in range(1, len(rows) + 1):
        for combo in itertools.combinations(rows, r):
            if not _feasible(combo, supply, reserve):
                continue
            welfare = sum(b["price"] for b in combo)
            chosen = frozenset(b["bid_id"] for b in combo)
            if welfare > best + 1e-9:
                best, sets = welfare, [chosen]
            elif abs(welfare - best) <= 1e-9:
                sets.append(chosen)
    return OracleAnswer(best, sets)


def _feasible(combo: tuple[dict, ...], supply: dict[str, int], reserve: dict[str, float]) -> bool:
    used: dict[str, int] = {}
    groups: set[tuple[str, str]] = set()
    for bid in combo:
        units = zip(bid["items"], bid["quantities"], strict=True)
        floor = sum(reserve.get(i, 0.0) * q for i, q in units)
        if bid["price"] < floor:
            return False
        if bid["xor_group"] is not None:
            key = (bid["agent_id"], bid["xor_group"])
            if key in groups:
                return False
            groups.add(key)
        for item, qty in zip(bid["items"], bid["quantities"], strict=True):
            used[item] = used.get(item, 0) + qty
            if used[item] > supply.get(item, 1):
                return False
    return True
