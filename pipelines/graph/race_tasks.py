"""A portfolio race on a bucket's hard components: each backend solves, the first proof wins.

With ``solver.portfolio: race`` and idle cores (every large component of
the batch times the racers fits the cluster's threads), each large
component is solved by every racer at once (``enx-race-cbc``,
``enx-race-highs``). The first racer to prove its optimum sets the Dask
event of the component; the others see it within 50 ms and end their
solvers (CBC's process is killed, HiGHS interrupted: :mod:`econonexus.solvers.cancel`).
``enx-race-pick`` takes the proven answer; the tie rule makes the optimum
unique, so the winners do not depend on which racer proved it first. When
no racer proves it (a time limit), it takes the best allocation found and
the best bound of all racers.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from distributed import Client, Event, Future, get_client

from econonexus._core.config import get_setting
from econonexus.pipelines.clearing.bucket import BucketPlan, solve_large
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.solvers.wdp import CANCELLED, ComponentSolution

RACERS: tuple[str, ...] = ("cbc", "highs")
_WATCH = 0.05


def racing(threads: int, n_large: int) -> bool:
    """Whether a batch's ``n_large`` hard components race: ``solver.portfolio`` is ``race``
    and every racer of every component has a thread of its own."""
    wanted = get_setting("solver.portfolio")
    return wanted == "race" and 0 < n_large * len(RACERS) <= threads


def submit_race(
    client: Client, plan: Future[Any], j: int, lean: BatchOptions, tag: str
) -> Future[Any]:
    """Race component ``j`` of a bucket's ``plan``; the future of the picked solution."""
    name = f"enx-race-{tag}"
    racers = [
        client.submit(race_large, plan, j, lean, solver, name, key=f"enx-race-{solver}-{tag}")
        for solver in RACERS
    ]
    return client.submit(pick_racer, name, *racers, key=f"enx-race-pick-{tag}")


def race_large(
    plan: BucketPlan, j: int, options: BatchOptions, solver: str, name: str
) -> ComponentSolution:
    """``enx-race-<solver>``: solve large component ``j`` of ``plan`` with ``solver`` until
    it is proven here or another racer proves it first (the Dask event ``name``)."""
    client = get_client()  # the worker's: the watcher thread has no task context of its own
    won, stop, done = Event(name, client=client), threading.Event(), threading.Event()

    def watch() -> None:
        while not done.wait(_WATCH):
            if won.is_set():
                stop.set()
                return

    watcher = threading.Thread(target=watch, name="enx-race-watch", daemon=True)
    watcher.start()
    try:
        solution = solve_large(plan, j, options, solver=solver, stop=stop.is_set)
    finally:
        done.set()
        watcher.join()
    if solution.status == "optimal":
        won.set()
    return solution


def pick_racer(name: str, *racers: ComponentSolution) -> ComponentSolution:
    """``enx-race-pick``: the proven solution (the first racer's of those that proved it),
    else the best allocation found under the best bound of every racer."""
    Event(name).clear()
    proven = [r for r in racers if r.status == "optimal"]
    if proven:
        return proven[0]
    ran = [r for r in racers if r.method != CANCELLED and r.status != "error"]
    if not ran:
        return racers[0]
    best = max(ran, key=lambda r: r.welfare)
    return replace(best, bound=max(min(r.bound for r in ran), best.welfare))
