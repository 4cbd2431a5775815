"""The portfolio without a race: a shipped model picks each hard component's backend, and a
batch of one bucket solves its hard components without a count round trip."""

from __future__ import annotations

import csv

import numpy as np
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from benchmarks.train_backend_choice import BACKENDS, TIMES
from econonexus.solvers.choice import choice_model, choose_backend
from econonexus.solvers.features import FEATURES, component_features
from econonexus.solvers.problem import build_problem
from econonexus.solvers.relaxation import relax
from econonexus.solvers.wdp import solve_component
from tests.test_cats_and_readers import OPTIMA, REFERENCE


def test_the_shipped_model_covers_every_backend_and_feature() -> None:
    model = choice_model()
    assert {model.reference, *model.log_ratio} == set(BACKENDS)
    assert all(len(c) == len(FEATURES) + 1 for c in model.log_ratio.values())


@pytest.mark.parametrize(("threads", "cbc"), [(1, "cbc"), (2, "cbc2")])
def test_the_models_picks_take_less_time_than_either_backend_alone_on_its_data(
    threads: int, cbc: str
) -> None:
    with TIMES.open() as source:
        rows = list(csv.DictReader(source))
    model = choice_model()
    times = np.array([[float(r[cbc]), float(r["highs"])] for r in rows])
    picks = [
        BACKENDS.index(model.pick(np.array([float(r[f]) for f in FEATURES]), threads)) for r in rows
    ]
    chosen = times[np.arange(len(rows)), picks].sum()
    assert len(rows) >= 50
    assert chosen < times.sum(axis=0).min()
    assert 0 < np.mean(picks) < 1  # it does choose: each backend wins somewhere


def test_features_describe_the_component() -> None:
    table = enx.generate("L3", goods=20, bids=60, seed=3, market_id="m")
    problem = build_problem("m", table, None, tie_epsilon=1e-9)
    relaxed = relax(problem)
    features = dict(zip(FEATURES, component_features(problem, relaxed.x), strict=True))
    units = table["items"].list.len()
    assert features["log_bids"] == pytest.approx(np.log10(60))
    assert features["units_mean"] == pytest.approx(units.mean())
    assert 0 < features["fractional_share"] <= 1 and 0 <= features["lp_gap"] < 1
    assert choose_backend(problem, relaxed.x, threads=1) in BACKENDS


def test_an_lp_that_fails_on_huge_costs_still_describes_the_component() -> None:
    """Many-decimal prices put costs in tie units near 1e12; HiGHS's dual simplex then fails
    ("excessive dual values"). The LP solved scaled down gives the features, settles nothing."""
    table = enx.generate("L3", goods=100, bids=500, seed=11, market_id="m")
    problem = build_problem("m", table, None, tie_epsilon=1e-9)
    relaxed = relax(problem)
    assert relaxed.x is not None and relaxed.winners is None
    assert 0 < component_features(problem, relaxed.x)[FEATURES.index("fractional_share")] < 1


@pytest.mark.parametrize("family", ["L3", "L6", "regions", "arbitrary"])
def test_auto_finds_the_winners_each_backend_finds(family: str) -> None:
    problem = build_problem(
        "m", enx.generate(family, goods=25, bids=90, seed=5), None, tie_epsilon=1e-9
    )
    found = {
        solver: solve_component(problem, solver=solver, enumerate_max=0)
        for solver in ("auto", *BACKENDS)
    }
    assert {s.status for s in found.values()} == {"optimal"}
    winners = {tuple(s.winners.tolist()) for s in found.values()}
    assert len(winners) == 1
    assert found["auto"].method in ("lp", *BACKENDS)


@pytest.mark.parametrize("name", ["L6_50x200_11", "arbitrary_50x200_11", "regions_50x200_11"])
def test_auto_clears_reference_instances_at_their_proven_optimum(name: str, client: Client) -> None:
    result = enx.clear(str(REFERENCE / f"{name}.txt"), client=client, solver="auto")
    summary = result.summary.row(0, named=True)
    assert summary["status"] == "optimal"
    assert summary["solver"] in BACKENDS
    assert summary["welfare"] == pytest.approx(OPTIMA[name], rel=1e-7)


def _disjoint(parts: int) -> pl.DataFrame:
    """One market of ``parts`` hard components: L3 instances over disjoint items."""
    frames = []
    for p in range(parts):
        one = enx.generate("L3", goods=20, bids=70, seed=p, market_id="m")
        frames.append(
            one.with_columns(
                pl.col("items").list.eval(pl.lit(f"p{p}-") + pl.element()),
                (pl.lit(f"p{p}-") + pl.col("agent_id")).alias("agent_id"),
                (pl.lit(f"p{p}-") + pl.col("bid_id")).alias("bid_id"),
            )
        )
    return pl.concat(frames)


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_a_one_bucket_batch_solves_every_hard_component_whatever_their_number(
    parts: int, client: Client
) -> None:
    """1: solved in the plan task; 2: one spare task each; 3: more than the cluster's two
    threads, the one left over solved by the combine task."""
    bids = _disjoint(parts)
    result = enx.clear(bids, client=client)
    summary = result.summary.row(0, named=True)
    alone = [
        enx.clear(bids.filter(pl.col("bid_id").str.starts_with(f"p{p}-")), client=client)
        for p in range(parts)
    ]
    assert summary["status"] == "optimal" and summary["components"] >= parts
    assert summary["solver"] in BACKENDS  # a MIP, not the LP, settled them
    assert summary["welfare"] == pytest.approx(sum(r.summary["welfare"][0] for r in alone))
    won = set(result.allocations.filter("won")["bid_id"])
    assert won == set().union(*(set(r.allocations.filter("won")["bid_id"]) for r in alone))
