"""Market halts: economic circuit breakers checked on every run written under ``out``.

Rules, per market, each off unless set in the markets table:

- ``halt_price_move``: the market's clearing price (revenue per unit sold)
  moved more than this fraction from its median over the last
  ``halt_window`` runs;
- ``halt_bid_ratio``: the bid count fell below the trailing median divided
  by this ratio, or rose above the median times it (collapse or spike);
- ``halt_rejected_share``: more than this share of the market's rows were
  rejected;
- ``halt_winner_share``: one agent won more than this share of the units sold;
- ``halt_on_error``: the solver failed (status ``error``).

A market that trips a rule, or is already halted, is not cleared: its
allocations are not published, its summary status is ``halted``, a ``halt``
event is recorded, and its valid bids wait in ``<out>/_carryover/`` to join
the next batch. It stays halted (``<out>/_halts/<market>.json``) until
``econonexus resume MARKET --out OUT``. History for the trailing medians is
kept in ``<out>/_history/`` (one file per run, markets that cleared only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from econonexus._core.errors import InputError
from econonexus.pipelines.io.market_policy import MarketPolicy
from econonexus.pipelines.store.out_folder import (
    CARRYOVER,
    HALTS,
    HISTORY,
    RESETS,
    RunStore,
    file_name,
)


def active_halts(out: str) -> dict[str, dict[str, Any]]:
    """Halted markets under ``out`` and why."""
    store = RunStore(out)
    records = [store.read_json(HALTS, name) for name in store.names(HALTS, ".json")]
    return {r["market_id"]: r for r in records}


def resume(out: str, market_id: str) -> dict[str, Any]:
    """Lift the halt on ``market_id``; return the halt record that was lifted."""
    halts = active_halts(out)
    if market_id not in halts:
        raise InputError(
            f"`market`: {market_id!r} is not halted under {out!r}; halted: {sorted(halts)}"
        )
    store = RunStore(out)
    store.remove(HALTS, f"{file_name(market_id)}.json")
    stamp = {"market_id": market_id, "time": dt.datetime.now(dt.UTC).isoformat()}
    store.write_json(RESETS, file_name(market_id), stamp)
    return halts[market_id]


def carried_bids(out: str) -> pl.DataFrame | None:
    """The bids halted markets carried over to this batch (normalized rows), if any."""
    store = RunStore(out)
    frames = [store.read_parquet(CARRYOVER, n) for n in store.names(CARRYOVER, ".parquet")]
    return pl.concat(frames, how="vertical_relaxed") if frames else None


def won_units(allocations: pl.DataFrame, shares: frozenset[str]) -> pl.DataFrame:
    """Units won per market of ``allocations`` (some of a run's buckets): per agent in the
    markets whose winner share a rule watches (``shares``), else one row (agent null), so
    that what the client gathers does not grow with the agents."""
    units = pl.col("items").list.len()
    won = allocations.filter(pl.col("won")).with_columns(units.alias("units"))
    watched = pl.col("market_id").is_in(pl.Series(sorted(shares), dtype=pl.String).implode())
    agent = pl.when(watched).then(pl.col("agent_id")).alias("agent_id")
    return won.group_by("market_id", agent).agg(pl.col("units").sum())


def winner_share_markets(markets: dict[str, MarketPolicy]) -> frozenset[str]:
    """The markets with a ``halt_winner_share`` rule (their units are gathered per agent)."""
    return frozenset(m for m, p in markets.items() if p.halt_winner_share is not None)


def won_stats(units: pl.DataFrame) -> pl.DataFrame:
    """Per market: units sold and the top winner's share of them, where watched (``units``:
    the :func:`won_units` of every bucket, an agent's units in one market summed here)."""
    per_agent = units.group_by("market_id", "agent_id").agg(pl.col("units").sum())
    top = pl.col("units").filter(pl.col("agent_id").is_not_null()).max()
    return per_agent.group_by("market_id").agg(
        pl.col("units").sum().alias("units_sold"),
        (top / pl.col("units").sum()).alias("winner_share"),
    )


def market_stats(summary: pl.DataFrame, won: pl.DataFrame) -> pl.DataFrame:
    """Per market: clearing price, bids, rejected share, top winner share, status."""
    rows = summary.select(
        "market_id",
        "status",
        "n_bids",
        (pl.col("n_rejected") / (pl.col("n_bids") + pl.col("n_rejected")).clip(1)).alias(
            "rejected_share"
        ),
        "revenue",
    )
    return rows.join(won, on="market_id", how="left").with_columns(
        (pl.col("revenue") / pl.col("units_sold")).alias("price"),
        pl.col("winner_share").fill_null(0.0),
    )


def tripped(
    stats: pl.DataFrame, history: pl.DataFrame, markets: dict[str, MarketPolicy]
) -> list[dict[str, Any]]:
    """The rules each market broke in this run: ``market_id``, ``rule``, ``reason``."""
    watched = {m: p for m, p in markets.items() if p.has_halt_rules}
    if not watched:
        return []
    names = pl.Series(list(watched), dtype=pl.String)
    pasts = {
        key[0]: frame
        for key, frame in history.filter(pl.col("market_id").is_in(names.implode()))
        .partition_by("market_id", as_dict=True)
        .items()
    }
    found = []
    for row in stats.filter(pl.col("market_id").is_in(names.implode())).iter_rows(named=True):
        settings = watched[row["market_id"]]
        past = pasts.get(row["market_id"], history.clear()).tail(settings.halt_window)
        for rule, reason in _checks(row, past, settings):
            found.append({"market_id": row["market_id"], "rule": rule, "reason": reason})
    return found


def _checks(row: dict[str, Any], past: pl.DataFrame, s: MarketPolicy) -> list[tuple[str, str]]:
    broken = []
    if s.halt_on_error and row["status"] == "error":
        broken.append(("solver_error", "the solver failed (status error)"))
    share, limit = row["rejected_share"], s.halt_rejected_share
    if limit is not None and share > limit:
        broken.append(("rejected_share", f"{share:.1%} of rows rejected > {limit:.1%}"))
    share, limit = row["winner_share"], s.halt_winner_share
    if limit is not None and share > limit:
        broken.append(("winner_share", f"one agent won {share:.1%} of units > {limit:.1%}"))
    prices = past["price"].drop_nulls()
    price, move = row["price"], s.halt_price_move
    if move is not None and price is not None and len(prices):
        median = float(prices.median())  # type: ignore[arg-type]
        if median > 0 and abs(price / median - 1) > move:
            change = f"{price / median - 1:+.1%}"
            broken.append(
                ("price_move", f"price {price:.4g} moved {change} from median {median:.4g}")
            )
    ratio = s.halt_bid_ratio
    if ratio is not None and past.height:
        median = float(past["n_bids"].median())  # type: ignore[arg-type]
        if not median / ratio <= row["n_bids"] <= median * ratio:
            allowed = f"allowed {median / ratio:g} to {median * ratio:g}"
            broken.append(
                ("bid_count", f"{row['n_bids']} bids, trailing median {median:g} ({allowed})")
            )
    return broken


def history(out: str) -> pl.DataFrame:
    """Per-market stats of earlier runs under ``out``, oldest first.

    A market's rows from before its last ``resume`` are left out: the
    operator accepted the new level, so the trailing medians start afresh.
    """
    store = RunStore(out)
    frames = [store.read_parquet(HISTORY, n) for n in store.names(HISTORY, ".parquet")]
    schema = pl.Schema(
        {
            "run": pl.String(),
            "time": pl.Datetime("us", "UTC"),
            "market_id": pl.String(),
            "n_bids": pl.Int64(),
            "price": pl.Float64(),
        }
    )
    if not frames:
        return pl.DataFrame(schema=schema)
    rows = pl.concat(frames, how="vertical_relaxed").cast(schema)
    resets = [store.read_json(RESETS, name) for name in store.names(RESETS, ".json")]
    for reset in resets:
        since = dt.datetime.fromisoformat(reset["time"])
        rows = rows.filter((pl.col("market_id") != reset["market_id"]) | (pl.col("time") > since))
    return rows.sort("time")


@dataclass(frozen=True)
class HaltDecision:
    """A run's halts: its summary with halted markets held back, the reasons, and the state
    to record (:meth:`record`) once the run's tables are written, before its manifest."""

    summary: pl.DataFrame
    reasons: list[dict[str, Any]]
    out: str
    run_id: str
    new: list[dict[str, Any]]
    halted: list[str]
    cleared: pl.DataFrame

    def record(self) -> None:
        """Write new halts and the history of markets that cleared; empty the carry-over,
        which the halted markets' bids (:func:`carry_over`) then fill."""
        for halt in self.new:
            _write_halt(self.out, self.run_id, halt)
        _write_history(self.out, self.run_id, self.cleared)
        store = RunStore(self.out)
        for name in store.names(CARRYOVER, ".parquet"):
            store.remove(CARRYOVER, f"{name}.parquet")


def decide_halts(
    out: str,
    run_id: str,
    summary: pl.DataFrame,
    units: pl.DataFrame,
    markets: dict[str, MarketPolicy],
    manipulated: dict[str, str] | None = None,
) -> HaltDecision:
    """Decide the run's halts from its ``summary`` and :func:`won_units` (nothing is written
    yet): markets that trip a rule now, or are halted already, are held back; so are the
    ``manipulated`` ones (market: reason; rule ``manipulation``, ``on_flag: halt``)."""
    stats = market_stats(summary, won_stats(units))
    new = tripped(stats, history(out), markets)
    present = set(stats["market_id"])
    new += [
        {"market_id": m, "rule": "manipulation", "reason": reason}
        for m, reason in sorted((manipulated or {}).items())
        if m in present
    ]
    held = active_halts(out)
    halted = sorted({h["market_id"] for h in new} | set(held) & set(stats["market_id"]))
    reasons = new + [
        {"market_id": m, "rule": "halted", "reason": _since(held[m])} for m in halted if m in held
    ]
    return HaltDecision(
        summary=hold_summary(summary, halted),
        reasons=reasons,
        out=out,
        run_id=run_id,
        new=[h for h in new if h["market_id"] not in held],
        halted=halted,
        cleared=stats.filter(~pl.col("market_id").is_in(halted)),
    )


def _since(halt: dict[str, Any]) -> str:
    """Why a market halted by an earlier run is still held."""
    return f"still halted since run {halt.get('run_id')} ({halt['rule']}: {halt['reason']})"


def hold_summary(summary: pl.DataFrame, halted: list[str]) -> pl.DataFrame:
    """``summary`` with the ``halted`` markets' status ``halted`` and nothing won or paid."""
    kept = ~pl.col("market_id").is_in(pl.Series(halted, dtype=pl.String).implode())
    return summary.with_columns(
        pl.when(kept).then(pl.col("status")).otherwise(pl.lit("halted")).alias("status"),
        *(
            pl.when(kept).then(pl.col(c)).otherwise(0).alias(c)
            for c in ("n_winners", "welfare", "revenue")
        ),
    )


def carry_over(out: str, rejected: pl.DataFrame, halted: list[str], *parts: pl.DataFrame) -> int:
    """Keep the ``halted`` markets' bids of the normalized batch (its ``parts``) that were
    not ``rejected`` for the next batch (``<out>/_carryover/``); return how many."""
    store = RunStore(out)
    positions = rejected.select(pl.col("source").alias("_source"), pl.col("row").alias("_row"))
    halting = pl.col("market_id").is_in(pl.Series(halted, dtype=pl.String).implode())
    mine = pl.concat([p.filter(halting) for p in parts], how="diagonal_relaxed")
    kept = mine.join(positions, on=["_source", "_row"], how="anti")
    for (market,), bids in kept.partition_by("market_id", as_dict=True).items():
        store.write_parquet(CARRYOVER, file_name(str(market)), bids)
    return kept.height


def _write_halt(out: str, run_id: str, record: dict[str, Any]) -> None:
    RunStore(out).write_json(HALTS, file_name(record["market_id"]), {**record, "run_id": run_id})


def _write_history(out: str, run_id: str, stats: pl.DataFrame) -> None:
    now = pl.lit(dt.datetime.now(dt.UTC), dtype=pl.Datetime("us", "UTC"))
    rows = stats.select(
        pl.lit(run_id).alias("run"), now.alias("time"), "market_id", "n_bids", "price"
    )
    RunStore(out).write_parquet(HISTORY, file_name(run_id), rows)
