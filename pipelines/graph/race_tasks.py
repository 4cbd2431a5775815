"""A portfolio race on a bucket's hard components: each backend solves, the first proof wins.

With ``solver.portfolio: race`` and idle cores (at least two threads per
large component of the batch), each large component is solved by as many
racers as it has threads, in the order of :data:`RACERS`: CBC with the
pipeline's options (``enx-race-cbc``), HiGHS (``enx-race-highs``), SCIP
when ``pyscipopt`` is installed (``enx-race-scip``) and CBC with its own
default options, cuts on (``enx-race-cbc-default``). The first racer to
prove its optimum sets the Dask event of the component; the others see it
within 50 ms and end their solvers (CBC's process is killed, HiGHS and
SCIP interrupted: :mod:`econonexus.solvers.cancel`).
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
from econonexus.pipelines.clearing.bucket import (
    BucketPlan,
    BucketRows,
    assemble_bucket,
    solve_large,
    solve_spare,
)
from econonexus.pipelines.graph.options import BatchOptions
from econonexus.solvers.backends import installed_backend
from econonexus.solvers.duet import best_of
from econonexus.solvers.wdp import ComponentSolution

RACERS: tuple[str, ...] = ("cbc", "highs", "scip", "cbc-default")
"""Every racer, in the order threads go to them; ``cbc-default`` is CBC with no options."""
_WATCH = 0.05
_MIN_RACERS = 2


def racers(threads: int, n_large: int) -> tuple[str, ...]:
    """The installed racers each of ``n_large`` components gets with ``threads`` in all."""
    installed = [r for r in RACERS if installed_backend(_backend(r))]
    return tuple(installed[: threads // max(n_large, 1)])


def _backend(racer: str) -> str:
    return racer.removesuffix("-default")


def _racer_options(racer: str, options: BatchOptions) -> BatchOptions:
    if racer == "cbc-default":
        return replace(options, limits=replace(options.limits, cbc_options=()))
    return options


def race_wanted(solver: str) -> bool:
    """Whether a batch with backend ``solver`` races: ``auto`` (a backend given by name is
    that backend) and the setting ``solver.portfolio`` is ``race``."""
    return solver == "auto" and get_setting("solver.portfolio") == "race"


def racing(threads: int, n_large: int, solver: str) -> bool:
    """Whether a batch's ``n_large`` hard components race (:func:`race_wanted`): each
    component has a thread for each of at least two racers."""
    return race_wanted(solver) and n_large > 0 and len(racers(threads, n_large)) >= _MIN_RACERS


def submit_race_spares(
    client: Client, plan: Future[Any], threads: int, opts: Any, lean: BatchOptions, tag: str
) -> Future[Any]:
    """The solve of a batch of one bucket whose hard components race, submitted before they
    are counted (:func:`race_spare`, one per thread) and joined by ``enx-combine``."""
    field, name = racers(threads, 1), f"enx-race-{tag}"
    slots = [
        client.submit(
            race_spare,
            *(plan, s, lean, field, threads, name),
            key=f"enx-race-{field[s]}-{tag}" if s < len(field) else f"enx-solve-{tag}-{s}",
        )
        for s in range(max(threads, len(field)))
    ]
    return client.submit(assemble_raced, plan, opts, name, *slots, key=f"enx-combine-{tag}")


def race_spare(
    plan: BucketPlan,
    slot: int,
    options: BatchOptions,
    field: tuple[str, ...],
    threads: int,
    name: str,
) -> ComponentSolution | None:
    """Slot ``slot`` of :func:`submit_race_spares`: with one hard component, its racer
    ``field[slot]`` (``None`` past the field); with more, the spare solve of component
    ``slot`` (:func:`~econonexus.pipelines.clearing.bucket.solve_spare`)."""
    if len(plan.large) == 1:
        return race_large(plan, 0, options, field[slot], name) if slot < len(field) else None
    return solve_spare(plan, slot, options, threads)


def assemble_raced(
    plan: BucketPlan, options: BatchOptions, name: str, *slots: ComponentSolution | None
) -> BucketRows:
    """``enx-combine`` of :func:`submit_race_spares`: the picked racer (:func:`pick_racer`)
    of a lone hard component, else the spares' solutions."""
    if len(plan.large) == 1:
        return assemble_bucket(plan, options, pick_racer(name, *(s for s in slots if s)))
    return assemble_bucket(plan, options, *slots)


def submit_race(
    client: Client, plan: Future[Any], j: int, lean: BatchOptions, tag: str, field: tuple[str, ...]
) -> Future[Any]:
    """Race component ``j`` of a bucket's ``plan`` among ``field`` (:func:`racers`); the
    future of the picked solution."""
    name = f"enx-race-{tag}"
    running = [
        client.submit(race_large, plan, j, lean, racer, name, key=f"enx-race-{racer}-{tag}")
        for racer in field
    ]
    return client.submit(pick_racer, name, *running, key=f"enx-race-pick-{tag}")


def race_large(
    plan: BucketPlan, j: int, options: BatchOptions, racer: str, name: str
) -> ComponentSolution:
    """``enx-race-<racer>``: solve large component ``j`` of ``plan`` as ``racer`` until
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
        mine = _racer_options(racer, options)
        solution = solve_large(plan, j, mine, solver=_backend(racer), stop=stop.is_set)
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
    return best_of(list(racers))
