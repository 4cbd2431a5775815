"""Clearing one market, whatever its format: the steps a bucket's tasks run per market.

Integer-program formats (``combinatorial``, ``procurement``) are planned into
components, solved and assembled (:func:`plan`, :func:`solve`,
:func:`clear_mip`); VCG adds one re-solve per winner and sub-component
(:func:`plan_vcg`, :func:`solve_vcg`) and a pricing step (:func:`price`).
Single-item and clock formats clear in :func:`assemble`. Every function is
pure; :mod:`econonexus.pipelines.clearing.bucket` runs them for a bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl
import pulp

from econonexus._core.errors import EconoNexusError
from econonexus._core.formats import PIVOT_RULES, market_format
from econonexus._core.market_settings import MarketSettings
from econonexus._core.schemas import SOLVERS
from econonexus.pipelines.clearing.cca_market import (
    PackageValues,
    cca_efficiency,
    cca_problem,
)
from econonexus.pipelines.clearing.market_rows import (
    SUMMARY_COLUMNS,
    allocation_frame,
    empty_prices,
    market_items,
    prices_frame,
    summary_row,
    summary_values,
)
from econonexus.pipelines.clearing.single_item import clear_clock_market, clear_single_item
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.pipelines.store.out_folder import write_solver_log
from econonexus.solvers.cancel import Stop
from econonexus.solvers.cca import supplementary_problem
from econonexus.solvers.core import core_payments
from econonexus.solvers.market import (
    MarketOutcome,
    MarketPlan,
    assemble_market,
    plan_market,
    relative_gap,
)
from econonexus.solvers.market import solve_pending as _solve_pending
from econonexus.solvers.problem import FloatArray, MarketProblem, build_problem
from econonexus.solvers.procurement import quality_factors, seller_payments, surplus_problem
from econonexus.solvers.pulp_any import is_pulp_spec
from econonexus.solvers.vcg import (
    Improvement,
    VcgPlan,
    buyer_payments,
    net_of_reserves,
    solve_job,
    vcg_payments,
    vcg_plan,
)
from econonexus.solvers.wdp import ComponentSolution

Validated = tuple[pl.DataFrame, pl.DataFrame]


@dataclass(frozen=True)
class MarketResult:
    """One market's output rows; ``outcome`` is kept only while VCG still needs it."""

    allocations: pl.DataFrame
    summary: pl.DataFrame
    prices: pl.DataFrame
    outcome: MarketOutcome | None = None


def plan(
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    market_id: str,
    options: BatchOptions,
    built: MarketProblem | None = None,
    values_for: PackageValues | None = None,
) -> MarketPlan | None:
    """Partition a MIP-format market given its bids; ``None`` for the other formats
    (``values_for``: a CCA's live supplementary bids)."""
    settings = options.settings(market_id)
    if not settings.kind.mip:
        return None
    if settings.kind.supplementary:  # a CCA: one package per agent, priced by its rounds
        base, cca = cca_problem(bids, items, market_id, settings, options, values_for)
        problem = mip_problem(
            bids, items, market_id, settings, options, supplementary_problem(base, cca)
        )
        return replace(plan_market(problem, enumerate_max=options.enumerate_max), cca=cca)
    problem = mip_problem(bids, items, market_id, settings, options, built)
    return plan_market(problem, enumerate_max=options.enumerate_max)


def mip_problem(
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    market_id: str,
    settings: MarketSettings,
    options: BatchOptions,
    built: MarketProblem | None = None,
) -> MarketProblem:
    """The winner-determination problem of a combinatorial or procurement market.

    ``built``: the market's problem as :func:`build_problem` makes it, when
    already made (:func:`econonexus.solvers.problem_batch.build_problems`).
    """
    problem = built or build_problem(
        market_id,
        bids,
        market_items(items, market_id),
        tie_epsilon=options.tie_epsilon,
        default_reserve=settings.reserve,
    )
    if settings.side == "buy":
        if settings.payment_rule in PIVOT_RULES and problem.reserve.any():
            return net_of_reserves(problem, options.tie_epsilon)[0]
        return problem
    quality = _quality(bids, problem, settings)
    return surplus_problem(problem, quality, tie_epsilon=options.tie_epsilon)[0]


def _quality(
    bids: pl.DataFrame, problem: MarketProblem, settings: MarketSettings
) -> FloatArray | None:
    """Reputation quality factors in problem order (``None`` when reputation is not weighed)."""
    if settings.reputation_weight == 0 or "_reputation" not in bids.columns:
        return None
    reputation = dict(zip(bids["bid_id"], bids["_reputation"], strict=True))
    values = np.array([reputation[b] for b in problem.bid_ids], dtype=np.float64)
    return quality_factors(values, settings.reputation_weight)


def solve(
    plan: MarketPlan | None,
    k: int,
    options: BatchOptions,
    *,
    solver: str | None = None,
    stop: Stop | None = None,
) -> ComponentSolution | None:
    """Solve MIP component ``k`` of ``plan`` with ``solver`` (default: the options'; in a
    race, until ``stop()``); ``None`` if the plan has no such component."""
    if plan is None or k >= len(plan.pending):
        return None
    backend = solver or options.solver
    try:
        solution = _solve_pending(plan, k, solver=backend, limits=options.limits, stop=stop)
        if solution.log is None:
            return solution
        if options.log_dir is not None:
            name = f"{plan.problem.market_id}-c{k}-{solution.method}"
            write_solver_log(options.log_dir, name, solution.log)
        return replace(solution, log=None)  # written beside the run: not sent back
    except (EconoNexusError, pulp.PulpSolverError) as exc:
        sub = plan.pending[k]
        return ComponentSolution(
            sub.index[:0],
            "error",
            0.0,
            float(sub.price.sum()),
            0.0,
            backend,
            error=f"{type(exc).__name__}: {exc}",
        )


def assemble(
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    market_id: str,
    options: BatchOptions,
    plan: MarketPlan | None,
    *solutions: ComponentSolution,
) -> MarketResult:
    """Clear the market of ``bids``: join its solved components, or run its single-item or
    clock format."""
    settings = options.settings(market_id)
    if plan is None:
        lots = market_items(items, market_id)
        if settings.kind.clears == "discovery":
            return MarketResult(*clear_clock_market(market_id, bids, lots, settings, options))
        return MarketResult(*clear_single_item(market_id, bids, lots, settings))
    return clear_mip(bids, market_id, options, plan, list(solutions)).result(bids)


@dataclass(frozen=True)
class ClearedMip:
    """A MIP market's result before it becomes rows: per bid (problem order) the winner flags
    and payments, its summary values, and the outcome VCG pricing still needs (or ``None``)."""

    bid_ids: np.ndarray
    won: np.ndarray
    payment: np.ndarray
    summary: dict[str, Any]
    outcome: MarketOutcome | None
    prices: pl.DataFrame | None = None
    """A CCA's clock price path."""

    def rows(self) -> pl.DataFrame:
        """``bid_id``, ``won``, ``payment``."""
        return pl.DataFrame(
            {"bid_id": self.bid_ids, "won": self.won, "payment": self.payment},
            schema={"bid_id": pl.String, "won": pl.Boolean, "payment": pl.Float64},
        )

    def result(self, bids: pl.DataFrame) -> MarketResult:
        """The market's rows, given its ``bids``."""
        summary = pl.DataFrame([self.summary], schema=SUMMARY_COLUMNS)
        prices = empty_prices() if self.prices is None else self.prices
        return MarketResult(allocation_frame(bids, self.rows()), summary, prices, self.outcome)


def clear_mip(
    bids: pl.DataFrame,
    market_id: str,
    options: BatchOptions,
    plan: MarketPlan,
    solutions: list[ComponentSolution],
) -> ClearedMip:
    """Join the solved components of a MIP market: winners, pay-as-bid payments, summary."""
    settings = options.settings(market_id)
    outcome = assemble_market(plan, solutions)
    won = outcome.won
    payment = _asks(bids, outcome.problem)  # the bids' prices: the problem's may be net of reserves
    # procurement welfare is the buyer's surplus; otherwise the winning bids' value
    extra = 0.0 if settings.side == "sell" else float(payment[won].sum()) - outcome.welfare
    paid = np.where(won, payment, 0.0)
    summary = summary_values(
        market_id,
        settings,
        status=outcome.status,
        counts=(len(won), int(won.sum()), float(paid.sum())),
        figures=(
            outcome.welfare + extra,
            outcome.bound + extra,
            relative_gap(outcome.bound + extra, outcome.welfare + extra),
        ),
        solver=_solver_used(outcome.methods),
        seconds=outcome.solve_seconds,
        components=outcome.components,
    )
    keep = outcome if settings.payment_rule in PIVOT_RULES and won.any() else None
    if plan.cca is None or not len(won):
        return ClearedMip(outcome.problem.bid_ids, won, paid, summary, keep)
    efficiency = cca_efficiency(plan.cca, outcome, options)
    summary |= {"rounds": plan.cca.clock.rounds, "efficiency": efficiency}
    path = prices_frame(market_id, plan.cca.item_ids.tolist(), plan.cca.clock.path)
    return ClearedMip(outcome.problem.bid_ids, won, paid, summary, keep, path)


def held(bids: pl.DataFrame, market_id: str, options: BatchOptions) -> MarketResult:
    """A market halted before the batch: its valid bids counted, nothing solved or awarded."""
    rows = bids.select("bid_id", won=pl.lit(False), payment=pl.lit(0.0))
    allocations = allocation_frame(bids, rows)
    summary = summary_row(
        market_id,
        options.settings(market_id),
        status="halted",
        allocations=allocations,
        welfare=0.0,
        bound=0.0,
        gap=0.0,
        solver="none",
        seconds=0.0,
        components=0,
    )
    return MarketResult(allocations, summary, empty_prices())


def _solver_used(methods: list[str]) -> str:
    """The summary's ``solver``: the MIP backend if any component needed it (the first such
    component's), else how it cleared."""
    for method in methods:
        if method in SOLVERS or is_pulp_spec(method):
            return method
    for method in ("lp", "enumerate"):
        if method in methods:
            return method
    return "enumerate"


def _asks(bids: pl.DataFrame, problem: MarketProblem) -> np.ndarray:
    """The bids' ``price`` in problem order (the problem may price surplus or net of reserves)."""
    lookup = dict(zip(bids["bid_id"].to_list(), bids["price"].to_list(), strict=True))
    return np.array([lookup[b] for b in problem.bid_ids.tolist()], dtype=np.float64)


def plan_vcg(result: MarketResult, options: BatchOptions) -> VcgPlan:
    """The VCG re-solves a cleared market needs (none unless its rule is VCG)."""
    if result.outcome is None:
        return VcgPlan([], [])
    return vcg_plan(result.outcome.problem, result.outcome.won, enumerate_max=options.enumerate_max)


def solve_vcg(plan: VcgPlan, k: int, options: BatchOptions) -> Improvement:
    """Re-solve VCG job ``k`` of ``plan`` (its LP relaxation is known to be fractional)."""
    return solve_job(
        plan.jobs[k],
        solver=options.solver,
        limits=options.limits,
        enumerate_max=options.enumerate_max,
        lp_first=False,
    )


def price(
    result: MarketResult, plan: VcgPlan, options: BatchOptions, *gains: Improvement
) -> MarketResult:
    """Set the VCG (or core: :mod:`econonexus.solvers.core`) payments of a cleared market
    from its planned and solved re-solves."""
    outcome = result.outcome
    if outcome is None:
        return result
    problem = outcome.problem
    improvements = [*plan.settled, *gains]
    pay = vcg_payments(problem, outcome.won, improvements, proven=outcome.status == "optimal")
    if result.summary["payment_rule"][0] == "core":
        pay = core_payments(problem, outcome.won, pay, solver=options.solver, limits=options.limits)
    prices = _asks(result.allocations, problem)
    sells = market_format(str(result.summary["format"][0])).side == "sell"
    settle = seller_payments if sells else buyer_payments
    payment, low, high = settle(prices, problem.price, outcome.won, pay)
    rows = pl.DataFrame(
        {
            "bid_id": problem.bid_ids.tolist(),
            "won": outcome.won.tolist(),
            "payment": payment.tolist(),
            "payment_exact": pay.exact.tolist(),
            "payment_low": low.tolist(),
            "payment_high": high.tolist(),
        }
    )
    bids = result.allocations.select("market_id", "bid_id", "agent_id", "price", "items")
    allocations = allocation_frame(bids, rows)
    summary = result.summary.with_columns(revenue=pl.lit(float(allocations["payment"].sum())))
    return replace(result, allocations=allocations, summary=summary, outcome=None)
