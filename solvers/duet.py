"""A component's picked backend and CBC side by side on the threads the pick leaves idle.

HiGHS's MIP search is serial, so a hard component that has two threads or
more (the only one of its batch, say) and is picked for HiGHS would leave
the others idle. With ``solver.portfolio: fill`` CBC runs on them beside
HiGHS, each in a process of its own; the first proof wins and the other is
stopped (:mod:`.cancel`); at a limit the better allocation is kept under
the lower bound of the two (:func:`best_of`). The tie rule makes the
optimum unique, so the winners do not depend on which proved it first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from econonexus._core.config import get_setting
from econonexus.solvers.backends import SolveLimits
from econonexus.solvers.cancel import Stop

if TYPE_CHECKING:
    from econonexus.solvers.wdp import ComponentSolution

_SERIAL = "highs"
_BESIDE = "cbc"
CANCELLED = "cancelled"
"""The method of a racer's solution when another racer won first."""

Solve = Callable[[str, SolveLimits, Stop], "ComponentSolution"]


def fills(backend: str, threads: int, stop: Stop | None) -> bool:
    """Whether CBC runs beside ``backend`` on the ``threads`` it leaves idle: the setting
    ``solver.portfolio`` is ``fill``, the pick is HiGHS, and this is not a racer already."""
    return (
        backend == _SERIAL
        and threads >= 2
        and stop is None
        and get_setting("solver.portfolio") == "fill"
    )


def side_by_side(solve: Solve, limits: SolveLimits) -> ComponentSolution:
    """HiGHS on one thread and CBC on the others, through ``solve(backend, limits, stop)``."""
    won = threading.Event()
    found: list[ComponentSolution] = []
    failed: list[BaseException] = []

    def run(backend: str, mine: SolveLimits) -> None:
        try:
            solution = solve(backend, mine, won.is_set)
        except BaseException as error:  # re-raised below if the other found nothing either
            failed.append(error)
            return
        if solution.status == "optimal":
            won.set()
        found.append(solution)  # list.append is atomic: the first proof comes first

    shares = {_SERIAL: 1, _BESIDE: limits.threads - 1}
    runners = [
        threading.Thread(
            target=run, args=(b, replace(limits, threads=n)), name=f"enx-fill-{b}", daemon=True
        )
        for b, n in shares.items()
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    if not found:
        raise failed[0]
    return best_of(found)


def best_of(racers: list[ComponentSolution]) -> ComponentSolution:
    """The first proven solution of ``racers``, else the best allocation found under the
    best (lowest) bound of those that ran to their limit."""
    proven = [r for r in racers if r.status == "optimal"]
    if proven:
        return proven[0]
    ran = [r for r in racers if r.method != CANCELLED and r.status != "error"]
    if not ran:
        return racers[0]
    best = max(ran, key=lambda r: r.welfare)
    return replace(best, bound=max(min(r.bound for r in ran), best.welfare))
