"""A CCA market in the pipeline: its problem priced by its rounds, and its efficiency.

The clock phase and supplementary round (:mod:`econonexus.solvers.cca`) run
where the market is planned; winner determination and the payment rule then
treat the market as any combinatorial one. Its summary adds the clock's
rounds and the efficiency against the full-information optimum, and its
clock price path goes to ``prices``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import polars as pl

from econonexus._core.market_settings import MarketSettings
from econonexus.pipelines.clearing.market_rows import market_items
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.solvers.cca import CcaOutcome, run_cca
from econonexus.solvers.market import MarketOutcome, clear_market
from econonexus.solvers.problem import FloatArray, MarketProblem, build_problem

PackageValues = Callable[[MarketProblem], FloatArray]
"""A CCA's supplementary bids on a problem's packages (NaN: the proxy's value stands)."""


def cca_problem(
    bids: pl.DataFrame,
    items: pl.DataFrame | None,
    market_id: str,
    settings: MarketSettings,
    options: BatchOptions,
    values_for: PackageValues | None = None,
) -> tuple[MarketProblem, CcaOutcome]:
    """A CCA market's problem at the bids' own prices (each agent's bids one XOR group) and
    its clock phase and supplementary round (bids from ``values_for`` where given: live
    agents)."""
    problem = build_problem(
        market_id,
        bids.with_columns(xor_group=pl.lit("cca-package")),  # XOR groups are per agent
        market_items(items, market_id),
        tie_epsilon=options.tie_epsilon,
        default_reserve=settings.reserve,
    )
    assert settings.increment is not None  # a required setting of the format
    values = None
    if values_for is not None:
        answered = values_for(problem)
        values = np.where(np.isnan(answered), problem.price, answered)
    cca = run_cca(
        problem, increment=settings.increment, max_rounds=settings.max_rounds, values=values
    )
    return problem, cca


def cca_efficiency(cca: CcaOutcome, outcome: MarketOutcome, options: BatchOptions) -> float:
    """The CCA winners' value over the full-information optimum (one package per agent)."""
    problem = outcome.problem
    at = {b: k for k, b in enumerate(cca.bid_ids.tolist())}
    order = np.array([at[b] for b in problem.bid_ids.tolist()], dtype=np.int64)
    # the values, net of whatever the problem took off the final bids (reserves)
    values = cca.values[order] - (cca.final[order] - problem.price)
    optimum = clear_market(
        replace(problem, price=values),
        solver=options.solver,
        limits=options.limits,
        enumerate_max=options.enumerate_max,
    )
    won = float(values[outcome.won].sum())
    return won / optimum.welfare if optimum.welfare > 0 else 1.0
