"""The Dask graph of one batch: validate, partition, solve, assemble.

The normalized batch is scattered once (to every worker, so losing a worker
never loses the only copy); every later stage is a task with a readable key
prefix (``enx-validate``, ``enx-plan``, ``enx-solve``, ``enx-assemble``), and
every task is pure, so the scheduler can rerun any of them on a live worker
when a worker dies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pulp
from distributed import Client, Future

from econonexus._errors import EconoNexusError
from econonexus.pipelines.validate import validate
from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.market import MarketOutcome, MarketPlan, assemble_market, plan_market
from econonexus.solvers.market import solve_pending as _solve_pending
from econonexus.solvers.problem import build_problem
from econonexus.solvers.schemas import ALLOCATIONS_SCHEMA, SUMMARY_SCHEMA, polars_schema
from econonexus.solvers.wdp import ComponentSolution


@dataclass(frozen=True)
class BatchOptions:
    """How to clear: backend, stopping rules, enumeration size, tie budget, retries."""

    solver: str = "cbc"
    limits: SolveLimits = field(default_factory=SolveLimits)
    enumerate_max: int = 10
    tie_epsilon: float = 1e-6
    retries: int = 2


@dataclass(frozen=True)
class BatchOutput:
    """The gathered results of a batch, before run ids are stamped and files written."""

    allocations: pl.DataFrame
    summary: pl.DataFrame
    rejected: pl.DataFrame


def run_batch(
    client: Client,
    frame: pl.DataFrame,
    items: pl.DataFrame | None,
    options: BatchOptions,
    source_errors: pl.DataFrame,
) -> BatchOutput:
    """Clear the normalized batch ``frame`` on ``client``'s cluster.

    ``source_errors`` are rows the readers already rejected (CATS line errors),
    in :data:`econonexus.pipelines.cats.ERRORS_SCHEMA`.
    """
    token = uuid.uuid4().hex[:12]
    markets = batch_markets(frame, source_errors)
    [raw] = client.scatter([frame], broadcast=True)
    validated = client.submit(validate, raw, items, key=f"enx-validate-{token}")
    rejected = client.submit(_rejected, raw, validated, source_errors, key=f"enx-rejected-{token}")
    plans = [
        client.submit(_plan, validated, items, m, options, key=f"enx-plan-{token}-{i}")
        for i, m in enumerate(markets)
    ]
    # The largest component (k=0) starts as soon as its plan exists; the count
    # of the others needs one round trip to the client.
    first = [
        _submit_solve(client, plan, 0, options, f"{token}-{i}") for i, plan in enumerate(plans)
    ]
    sizes = client.gather(
        [client.submit(_n_pending, p, key=f"enx-size-{token}-{i}") for i, p in enumerate(plans)]
    )
    assembled = [
        client.submit(
            _assemble,
            validated,
            plan,
            options,
            *([head] if size else []),
            *[_submit_solve(client, plan, k, options, f"{token}-{i}") for k in range(1, size)],
            key=f"enx-assemble-{token}-{i}",
        )
        for i, (plan, head, size) in enumerate(zip(plans, first, sizes, strict=True))
    ]
    results, rejected_rows = client.gather([assembled, rejected])
    _release([raw, validated, rejected, *plans, *first, *assembled])
    counts = rejected_counts(rejected_rows)
    summary = _concat([s for _, s in results], SUMMARY_COLUMNS).with_columns(
        n_rejected=pl.col("market_id").replace_strict(counts, default=0, return_dtype=pl.Int64)
    )
    return BatchOutput(
        allocations=_concat([a for a, _ in results], ALLOCATION_COLUMNS),
        summary=summary,
        rejected=rejected_rows,
    )


def batch_markets(frame: pl.DataFrame, source_errors: pl.DataFrame) -> list[str]:
    """Return every market named in the batch, valid or not, sorted."""
    names = pl.concat([frame["market_id"], source_errors["market_id"]]).drop_nulls().unique()
    return sorted(m for m in names.to_list() if m.strip())


ALLOCATION_COLUMNS = polars_schema(ALLOCATIONS_SCHEMA, drop=("run_id",))
SUMMARY_COLUMNS = polars_schema(SUMMARY_SCHEMA, drop=("run_id",))


def _rejected(
    raw: pl.DataFrame, validated: tuple[pl.DataFrame, pl.DataFrame], source_errors: pl.DataFrame
) -> pl.DataFrame:
    """Return every rejected row of the batch with its market."""
    positions = raw.select("_source", "_row", "market_id")
    rejected = validated[1].join(
        positions, left_on=["source", "row"], right_on=["_source", "_row"], how="left"
    )
    return pl.concat([rejected, source_errors.select(rejected.columns)])


def rejected_counts(rejected: pl.DataFrame) -> dict[str, int]:
    """Return the number of rejected rows (not reasons) per market."""
    counts = rejected.unique(["source", "row"]).group_by("market_id").len()
    return {m: n for m, n in counts.iter_rows() if m is not None}


def _plan(
    validated: tuple[pl.DataFrame, pl.DataFrame],
    items: pl.DataFrame | None,
    market_id: str,
    options: BatchOptions,
) -> MarketPlan:
    bids = validated[0].filter(pl.col("market_id") == market_id)
    market_items = None if items is None else items.filter(pl.col("market_id") == market_id)
    problem = build_problem(market_id, bids, market_items, tie_epsilon=options.tie_epsilon)
    return plan_market(problem, enumerate_max=options.enumerate_max)


def _n_pending(plan: MarketPlan) -> int:
    return len(plan.pending)


def _submit_solve(
    client: Client, plan: Future[Any], k: int, options: BatchOptions, tag: str
) -> Future[Any]:
    return client.submit(
        _solve, plan, k, options, key=f"enx-solve-{tag}-{k}", retries=options.retries
    )


def _solve(plan: MarketPlan, k: int, options: BatchOptions) -> ComponentSolution | None:
    """Solve MIP component ``k`` of ``plan``; ``None`` if the plan has no such component."""
    if k >= len(plan.pending):
        return None
    try:
        return _solve_pending(plan, k, solver=options.solver, limits=options.limits)
    except (EconoNexusError, pulp.PulpSolverError) as exc:
        sub = plan.pending[k]
        return ComponentSolution(
            sub.index[:0],
            "error",
            0.0,
            float(sub.price.sum()),
            0.0,
            options.solver,
            error=f"{type(exc).__name__}: {exc}",
        )


def _assemble(
    validated: tuple[pl.DataFrame, pl.DataFrame],
    plan: MarketPlan,
    options: BatchOptions,
    *solutions: ComponentSolution,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    outcome = assemble_market(plan, list(solutions))
    market = outcome.problem.market_id
    won = pl.DataFrame(
        {"bid_id": outcome.problem.bid_ids.tolist(), "won": outcome.won.tolist()},
        schema={"bid_id": pl.String(), "won": pl.Boolean},
    )
    bids = validated[0].filter(pl.col("market_id") == market)
    allocations = (
        bids.join(won, on="bid_id", how="left")
        .with_columns(pl.col("won").fill_null(False))
        .with_columns(pl.when(pl.col("won")).then(pl.col("price")).otherwise(0.0).alias("payment"))
        .select(list(ALLOCATION_COLUMNS))
        .sort("bid_id")
    )
    return allocations, _summary_row(outcome, allocations, options)


def _summary_row(
    outcome: MarketOutcome, allocations: pl.DataFrame, options: BatchOptions
) -> pl.DataFrame:
    """One summary row; ``n_rejected`` is filled in once the batch's rejections are counted."""
    uses_mip = any(m != "enumerate" for m in outcome.methods)
    row = {
        "market_id": outcome.problem.market_id,
        "format": "combinatorial",
        "payment_rule": "pay-as-bid",
        "status": outcome.status,
        "n_bids": allocations.height,
        "n_rejected": 0,
        "n_winners": int(allocations["won"].sum()),
        "welfare": outcome.welfare,
        "revenue": float(allocations["payment"].sum()),
        "bound": outcome.bound,
        "gap": outcome.gap,
        "solver": options.solver if uses_mip else "enumerate",
        "solve_seconds": outcome.solve_seconds,
        "components": outcome.components,
    }
    return pl.DataFrame([row], schema=SUMMARY_COLUMNS)


def _concat(frames: list[pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _release(futures: list[Future[Any]]) -> None:
    for future in futures:
        future.release()
