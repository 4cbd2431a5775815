"""Racing backends: a racer is stopped the moment another wins, leaves no process behind,
and every racer that finishes finds the same winners."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import replace

import dask
import numpy as np
import polars as pl
import psutil
import pytest
from dask.utils import key_split
from distributed import Client, get_task_stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import econonexus as enx
from econonexus.pipelines.graph.race_tasks import RACERS, racers, racing
from econonexus.solvers import highs_process
from econonexus.solvers.backends import SolveLimits, _arrays
from econonexus.solvers.problem import build_problem
from econonexus.solvers.wdp import CANCELLED, ComponentSolution, build_model, solve_component
from tests.test_anytime import lp_bound

GUARD = SolveLimits(time_limit=60)  # a racer that is never stopped still ends


def _solver_children() -> list[str]:
    """This process's CBC and HiGHS child processes, but for HiGHS's idle ones (ended here);
    not its cluster workers' (each keeps its own idle HiGHS children)."""
    highs_process.shutdown()
    children = psutil.Process().children()
    return [" ".join(c.cmdline()) for c in children if _solver_process(c)]


def _solver_process(child: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "cbc" in child.name().lower() or "highs_process" in " ".join(child.cmdline())
    return False


@pytest.mark.parametrize("solver", ["cbc", "highs", "scip"])
def test_a_racer_stopped_mid_search_ends_and_leaves_no_process(solver: str) -> None:
    frame = enx.generate("L3", goods=150, bids=1500, seed=1, market_id="m")
    problem = build_problem("m", frame, None, tie_epsilon=1e-6)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()  # another racer has won
    cut = solve_component(problem, solver=solver, limits=GUARD, lp_first=False, stop=stop.is_set)
    assert cut.method == CANCELLED and cut.status == "time_limit"
    assert _solver_children() == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    family=st.sampled_from(["L3", "regions", "arbitrary", "scheduling", "matching", "L7"]),
    seed=st.integers(0, 10_000),
)
def test_every_racer_that_finishes_finds_the_same_winners(family: str, seed: int) -> None:
    frame = enx.generate(family, goods=16, bids=30, seed=seed, market_id="m")  # type: ignore[arg-type]
    problem = build_problem("m", frame, None, tie_epsilon=1e-6)
    never = threading.Event()
    found = [
        solve_component(problem, solver=s, limits=GUARD, enumerate_max=0, lp_first=False, stop=stop)
        for s in ("cbc", "highs", "scip")
        for stop in (None, never.is_set)  # raced (stop given) or not
    ]
    cbc_default = replace(GUARD, cbc_options=())  # the racer cbc-default
    found.append(solve_component(problem, solver="cbc", limits=cbc_default, enumerate_max=0))
    assert all(f.status == "optimal" for f in found)
    assert all(np.array_equal(f.winners, found[0].winners) for f in found), family


def test_a_highs_child_that_finished_serves_the_next_solve() -> None:
    frame = enx.generate("L3", goods=16, bids=30, seed=3, market_id="m")
    problem = build_problem("m", frame, None, tie_epsilon=1e-6)
    limits = SolveLimits(time_limit=30.0)  # a limit: HiGHS runs in a child

    def solve() -> tuple[ComponentSolution, list[int]]:
        found = solve_component(problem, solver="highs", limits=limits, enumerate_max=0)
        highs = [c.pid for c in psutil.Process().children() if _solver_process(c)]
        return found, highs

    (first, kept), (second, again) = solve(), solve()
    assert first.status == second.status == "optimal" and first.method == "highs"
    assert np.array_equal(first.winners, second.winners)
    assert len(kept) == 1 and again == kept  # the same child, idle between solves
    assert _solver_children() == []  # ended by shutdown()


def test_a_highs_solve_that_overruns_its_limit_is_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    """HiGHS does not always stop at its time limit; its process is ended GRACE seconds later."""
    monkeypatch.setattr(highs_process, "GRACE", -9.9)  # HiGHS is given 10 s, its child 0.1 s
    frame = enx.generate("arbitrary", goods=100, bids=500, seed=1, market_id="m")
    problem = build_problem("m", frame, None, tie_epsilon=1e-6)
    model, variables, _ = build_model(problem)
    cost, rows, upper = _arrays(model, variables)
    ended = highs_process.solve_apart(
        cost, rows, upper, time_limit=10.0, gap=0.0, start=None, stop=None, log=False
    )
    assert ended.status == "kInterrupt" and ended.x is None and not ended.stopped
    assert _solver_children() == []
    cut = solve_component(problem, solver="highs", limits=SolveLimits(time_limit=0.05))
    assert cut.status == "time_limit" and cut.welfare > 0  # the greedy allocation at least


def test_each_component_gets_as_many_racers_as_it_has_threads() -> None:
    assert racers(2, 1) == ("cbc", "highs")
    assert racers(4, 1) == RACERS == ("cbc", "highs", "scip", "cbc-default")
    assert racers(5, 2) == ("cbc", "highs")
    assert racers(3, 2) == ("cbc",)
    with dask.config.set({"econonexus.solver.portfolio": "race"}):
        assert racing(2, 1, "auto") and racing(8, 4, "auto")
        assert not racing(3, 2, "auto") and not racing(2, 0, "auto")
        assert not racing(2, 1, "cbc")  # a backend given by name is that backend
    with dask.config.set({"econonexus.solver.portfolio": "single"}):
        assert not racing(2, 1, "auto")


def test_a_batch_races_its_hard_component_on_idle_workers_to_the_same_winners(
    client: Client,
) -> None:
    bids = enx.generate("regions", goods=50, bids=250, seed=1, market_id="r")  # one MIP component
    alone = enx.clear(bids, client=client)
    with dask.config.set({"econonexus.solver.portfolio": "race"}), get_task_stream(client) as ts:
        raced = enx.clear(bids, client=client)
    stages = {key_split(t["key"]) for t in ts.data}
    assert {"enx-race-cbc", "enx-race-highs", "enx-combine"} <= stages  # one bucket: no count
    assert "enx-solve" not in stages
    assert raced.summary["status"].to_list() == ["optimal"]
    assert raced.summary["solver"].to_list()[0] in RACERS
    assert raced.allocations.drop("run_id").equals(alone.allocations.drop("run_id"))
    left = client.run(
        lambda: [c.pid for c in psutil.Process().children(recursive=True) if "cbc" in c.name()]
    )
    assert all(pids == [] for pids in left.values()), left  # the loser's CBC was ended


def test_a_batch_of_several_buckets_races_its_one_hard_component(client: Client) -> None:
    hard = enx.generate("regions", goods=50, bids=250, seed=1, market_id="r")
    easy = enx.generate("decay", goods=6, bids=8, seed=2, market_id="s")
    bids = pl.concat([hard, easy])
    alone = enx.clear(bids, client=client)
    with dask.config.set({"econonexus.solver.portfolio": "race"}), get_task_stream(client) as ts:
        raced = enx.clear(bids, client=client)
    stages = {key_split(t["key"]) for t in ts.data}
    assert {"enx-size", "enx-race-cbc", "enx-race-highs", "enx-race-pick"} <= stages
    assert raced.summary["status"].to_list() == ["optimal", "optimal"]
    assert raced.allocations.drop("run_id").equals(alone.allocations.drop("run_id"))


def test_a_race_stopped_at_its_limit_keeps_the_best_allocation_and_bound(client: Client) -> None:
    bids = enx.generate("regions", goods=50, bids=250, seed=1, market_id="r")
    exact = enx.clear(bids, client=client).summary.row(0, named=True)
    lp = lp_bound(build_problem("r", bids, None, tie_epsilon=1e-6))
    with dask.config.set({"econonexus.solver.portfolio": "race"}):
        cut = enx.clear(bids, client=client, time_limit=0.05).summary.row(0, named=True)
    slack = 1e-6 * exact["welfare"]
    assert cut["status"] in ("time_limit", "optimal")  # a fast machine may prove it in time
    assert exact["welfare"] - slack <= cut["bound"] <= lp + slack
    assert 0 < cut["welfare"] <= exact["welfare"] + slack
