"""A bucket of markets: the unit of work of a batch on the cluster.

The valid bids are hash-partitioned by ``market_id`` into buckets sized to
the cluster (:mod:`.bucket_split`). A bucket clears in few tasks whatever
its number of markets: :func:`plan_bucket` clears its sealed markets in one
vectorised pass, its clocks one by one, and plans its integer-program
markets, solving their small components on the spot; only components of
more than ``solver.inline-max-bids`` bids become tasks of their own, and
:func:`assemble_bucket` joins them. VCG adds :func:`plan_bucket_vcg`, one
task per large re-solve, and :func:`price_bucket`. Every function is pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from econonexus._core.transport import register_size, size_of
from econonexus.pipelines.clearing.bucket_split import Part, by_auction
from econonexus.pipelines.clearing.market_rows import (
    ALLOCATION_COLUMNS,
    PRICE_COLUMNS,
    SUMMARY_COLUMNS,
    allocation_frame,
)
from econonexus.pipelines.clearing.sealed_markets import clear_sealed_markets
from econonexus.pipelines.graph import market_tasks as tasks
from econonexus.pipelines.graph.options import BatchOptions, with_thread_share
from econonexus.solvers.cancel import Stop
from econonexus.solvers.market import MarketPlan
from econonexus.solvers.problem import MarketProblem
from econonexus.solvers.problem_batch import build_problems
from econonexus.solvers.vcg import Improvement, VcgPlan
from econonexus.solvers.wdp import ComponentSolution

Key = tuple[str, int]
"""A market and the index of one of its MIP components (or VCG re-solves)."""


@dataclass(frozen=True)
class BucketRows:
    """Output rows of some markets; ``outcomes`` keeps what VCG pricing still needs."""

    allocations: pl.DataFrame
    summary: pl.DataFrame
    prices: pl.DataFrame
    outcomes: dict[str, tasks.MarketResult] = field(default_factory=dict)


@dataclass(frozen=True)
class BucketPlan:
    """A planned bucket: rows already cleared, and the MIP markets still to assemble."""

    done: BucketRows
    bids: dict[str, pl.DataFrame]
    items: dict[str, pl.DataFrame | None]
    plans: dict[str, MarketPlan]
    solved: dict[Key, ComponentSolution]
    large: list[Key]
    live: pl.DataFrame


def _rows_size(rows: BucketRows) -> int:
    return sum(size_of(f) for f in (rows.allocations, rows.summary, rows.prices))


def _plan_size(plan: BucketPlan) -> int:
    frames = [*plan.bids.values(), *(f for f in plan.items.values() if f is not None), plan.live]
    return _rows_size(plan.done) + sum(size_of(f) for f in frames)


register_size(BucketRows, _rows_size)  # so that Dask's scheduler sees what a bucket holds
register_size(BucketPlan, _plan_size)


def plan_bucket(
    part: Part,
    items: pl.DataFrame | None,
    options: BatchOptions,
    halted: frozenset[str],
    live: bool,
    inline_max: int,
) -> BucketPlan:
    """Clear what needs no integer program and plan the rest (see the module docstring).

    ``live``: the bucket's ``english``/``dutch`` markets run on the client with
    live agents, so only their bids are returned (``live``).
    """
    bids, markets = part
    # sealed markets clear in one pass: only the others are split into a frame per market
    sealed = [m for m in markets if by_auction(m, options, halted, live)]
    in_sealed = pl.col("market_id").is_in(pl.Series(sealed, dtype=pl.String).implode())
    rest = bids.filter(~in_sealed)
    by_market = _by_market(rest)
    lots = _by_market(items) if items is not None else {}
    no_items = None if items is None else items.clear()  # a market the items table omits
    done, live_bids = [], []
    plans: dict[str, MarketPlan] = {}
    solved: dict[Key, ComponentSolution] = {}
    large: list[Key] = []
    built = _mip_problems(rest, markets, lots, options, halted)
    sealed_set = set(sealed)
    for m in markets:
        if m in sealed_set:
            continue
        settings = options.settings(m)
        mine = by_market.get(m, bids.clear())
        if m in halted:
            done.append(tasks.held(mine, m, options))
        elif live and settings.kind.live:
            live_bids.append(mine)
        elif settings.kind.mip:
            plan = tasks.plan(mine, lots.get(m, no_items), m, options, built.get(m))
            assert plan is not None
            plans[m] = plan
            for k, sub in enumerate(plan.pending):
                if sub.n_bids <= inline_max:
                    solved[(m, k)] = _solved(tasks.solve(plan, k, options))
                else:
                    large.append((m, k))
        else:
            done.append(tasks.assemble(mine, lots.get(m, no_items), m, options, None))
    rows = rows_of(done)
    if sealed:
        chosen = bids.filter(in_sealed)
        allocations, summary = clear_sealed_markets(chosen, items, sealed, options.settings)
        rows = _join(rows, BucketRows(allocations, summary, _no_prices()))
    return BucketPlan(
        done=rows,
        bids={m: by_market.get(m, bids.clear()) for m in plans},
        items={m: lots.get(m, no_items) for m in plans},
        plans=plans,
        solved=solved,
        large=large,
        live=pl.concat(live_bids) if live_bids else bids.clear(),
    )


def _mip_problems(
    bids: pl.DataFrame,
    markets: list[str],
    lots: dict[str, pl.DataFrame],
    options: BatchOptions,
    halted: frozenset[str],
) -> dict[str, MarketProblem]:
    """The problems of the bucket's MIP markets, built together."""
    mip = [m for m in markets if options.settings(m).kind.mip and m not in halted]
    return build_problems(
        bids.filter(pl.col("market_id").is_in(pl.Series(mip, dtype=pl.String).implode())),
        lots,
        tie_epsilon=options.tie_epsilon,
        default_reserve={m: options.settings(m).reserve for m in mip},
    )


def n_large(plan: BucketPlan) -> int:
    """The number of components of ``plan`` that need a task of their own."""
    return len(plan.large)


def solve_large(
    plan: BucketPlan,
    j: int,
    options: BatchOptions,
    *,
    solver: str | None = None,
    stop: Stop | None = None,
) -> ComponentSolution:
    """Solve the ``j``-th large component of ``plan`` (with ``solver`` until ``stop()`` in a
    race: :mod:`econonexus.pipelines.graph.race_tasks`)."""
    market, k = plan.large[j]
    return _solved(tasks.solve(plan.plans[market], k, options, solver=solver, stop=stop))


def solve_alone(plan: BucketPlan, options: BatchOptions, threads: int) -> BucketPlan:
    """``plan`` with its one large component, if it has exactly one, solved on the spot with
    the cluster's ``threads``: a batch of one bucket then needs no solve task and no round
    trip to the client to count its components."""
    if len(plan.large) != 1:
        return plan
    market, k = key = plan.large[0]
    shared = with_thread_share(options, threads, 1)
    solution = _solved(tasks.solve(plan.plans[market], k, shared))
    return replace(plan, solved=plan.solved | {key: solution}, large=[])


def solve_spare(
    plan: BucketPlan, j: int, options: BatchOptions, threads: int
) -> ComponentSolution | None:
    """``enx-solve`` of a batch of one bucket, submitted before its count is known: the
    ``j``-th large component (the cluster's ``threads`` shared among them), or ``None``."""
    if j >= len(plan.large):
        return None
    return solve_large(plan, j, with_thread_share(options, threads, len(plan.large)))


def assemble_bucket(
    plan: BucketPlan, options: BatchOptions, *large: ComponentSolution | None
) -> BucketRows:
    """Join the bucket's solved components into its markets' rows; a large component with
    no solution given (more of them than spare solve tasks) is solved here."""
    solutions = plan.solved | {
        k: s for k, s in zip(plan.large, large, strict=False) if s is not None
    }
    for j, key in enumerate(plan.large):
        if key not in solutions:
            solutions[key] = solve_large(plan, j, options)
    cleared, outcomes = [], {}
    for m, market_plan in plan.plans.items():
        parts = [solutions[(m, k)] for k in range(len(market_plan.pending))]
        one = tasks.clear_mip(plan.bids[m], m, options, market_plan, parts)
        if one.outcome is None:
            cleared.append(one)
            continue
        outcomes[m] = one.result(plan.bids[m])
    # the markets VCG does not reprice become rows all at once: a frame per market cost 1 ms
    rows = BucketRows(
        _mip_allocations(plan, cleared),
        pl.DataFrame([c.summary for c in cleared], schema=SUMMARY_COLUMNS),
        _concat([c.prices for c in cleared if c.prices is not None], PRICE_COLUMNS),
    )
    return replace(_join(plan.done, rows), outcomes=outcomes)


def _mip_allocations(plan: BucketPlan, cleared: list[tasks.ClearedMip]) -> pl.DataFrame:
    if not cleared:
        return pl.DataFrame(schema=ALLOCATION_COLUMNS)
    bids = pl.concat([plan.bids[str(c.summary["market_id"])] for c in cleared])
    results = pl.DataFrame(
        {
            "bid_id": np.concatenate([c.bid_ids for c in cleared]),
            "won": np.concatenate([c.won for c in cleared]),
            "payment": np.concatenate([c.payment for c in cleared]),
        },
        schema={"bid_id": pl.String, "won": pl.Boolean, "payment": pl.Float64},
    )
    return allocation_frame(bids, results)


def _no_prices() -> pl.DataFrame:
    return pl.DataFrame(schema=PRICE_COLUMNS)


VcgBucket = tuple[BucketRows, dict[str, VcgPlan], dict[Key, Improvement], list[Key]]
"""A bucket's rows, its markets' VCG plans, the re-solves settled and those left as tasks."""


def plan_bucket_vcg(rows: BucketRows, options: BatchOptions, inline_max: int) -> VcgBucket:
    """Plan the VCG re-solves of the bucket's VCG markets; solve the small ones here."""
    plans = {m: tasks.plan_vcg(result, options) for m, result in rows.outcomes.items()}
    gains: dict[Key, Improvement] = {}
    large: list[Key] = []
    for m, vcg in plans.items():
        for k, job in enumerate(vcg.jobs):
            if job.problem.n_bids <= inline_max:
                gains[(m, k)] = tasks.solve_vcg(vcg, k, options)
            else:
                large.append((m, k))
    return rows, plans, gains, large


def n_large_vcg(planned: VcgBucket) -> int:
    """The number of VCG re-solves that need a task of their own."""
    return len(planned[3])


def solve_large_vcg(planned: VcgBucket, j: int, options: BatchOptions) -> Improvement:
    """Run the ``j``-th large VCG re-solve."""
    market, k = planned[3][j]
    return tasks.solve_vcg(planned[1][market], k, options)


def price_bucket(planned: VcgBucket, options: BatchOptions, *large: Improvement) -> BucketRows:
    """Set the VCG (or core) payments of the bucket's VCG and core markets; return every
    row of the bucket."""
    rows, plans, gains, keys = planned
    gains = gains | dict(zip(keys, large, strict=True))
    priced = []
    for m, result in rows.outcomes.items():
        jobs = [gains[(m, k)] for k in range(len(plans[m].jobs))]
        priced.append(tasks.price(result, plans[m], options, *jobs))
    return replace(_join(rows, rows_of(priced)), outcomes={})


def _solved(solution: ComponentSolution | None) -> ComponentSolution:
    assert solution is not None  # every pending component has an index
    return solution


def _by_market(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    if frame.height == 0:
        return {}
    return {k[0]: v for k, v in frame.partition_by("market_id", as_dict=True).items()}  # type: ignore[misc]


def rows_of(results: Iterable[tasks.MarketResult | BucketRows]) -> BucketRows:
    """The rows of several markets (or buckets) as one :class:`BucketRows`."""
    results = list(results)
    return BucketRows(
        _concat([r.allocations for r in results], ALLOCATION_COLUMNS),
        _concat([r.summary for r in results], SUMMARY_COLUMNS),
        _concat([r.prices for r in results], PRICE_COLUMNS),
    )


def _join(a: BucketRows, b: BucketRows) -> BucketRows:
    return BucketRows(
        pl.concat([a.allocations, b.allocations]),
        pl.concat([a.summary, b.summary]),
        pl.concat([a.prices, b.prices]),
        a.outcomes | b.outcomes,
    )


def _concat(frames: list[pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)
