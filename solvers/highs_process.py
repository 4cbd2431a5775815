"""HiGHS in a process of its own, for solves that must end: a time limit or a race.

HiGHS checks its time limit only at some points of its MIP search, and
stopping a large search it can spend minutes putting its open nodes back
in its queue: seen here on a CATS arbitrary 200x1000 instance, 15 minutes
past a 60 s limit in ``HighsNodeQueue::link_estim`` (HiGHS issues #885,
#1278, #2226 report the same class of overrun). A thread cannot be killed,
a process can: a solve with a limit or a ``stop`` runs HiGHS here, in a
child process (``python -m econonexus.solvers.highs_process IN OUT``),
which is ended once ``stop()`` is true or once it overruns its limit by
:data:`GRACE` seconds (then it has found nothing: the caller falls back to
its greedy allocation). Starting the child costs about 0.2 s.
"""

from __future__ import annotations

import contextlib
import pathlib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from econonexus._core.errors import SolverError
from econonexus.solvers.cancel import Stop
from econonexus.solvers.problem import FloatArray
from econonexus.solvers.relaxation import packing_lp

GRACE = 5.0
"""Seconds a child may run past its time limit before it is ended."""
_POLL = 0.02


@dataclass(frozen=True)
class HighsOutcome:
    """A child's answer: HiGHS's model status, the column values (``None``: no solution),
    the dual bound and whether the child was ended (``stopped``: by ``stop()``)."""

    status: str
    x: FloatArray | None
    bound: float
    stopped: bool = False


def solve_apart(
    cost: FloatArray,
    rows: sp.csr_matrix,
    upper: FloatArray,
    *,
    time_limit: float | None,
    gap: float,
    start: FloatArray | None,
    stop: Stop | None,
) -> HighsOutcome:
    """Maximise ``cost @ x`` over binary ``x`` with ``rows @ x <= upper`` in a child process."""
    with tempfile.TemporaryDirectory(prefix="enx-highs-") as folder:
        given, answer = pathlib.Path(folder) / "in.npz", pathlib.Path(folder) / "out.npz"
        np.savez(
            given,
            cost=cost,
            indptr=rows.indptr,
            indices=rows.indices,
            data=rows.data,
            upper=upper,
            start=np.zeros(0) if start is None else start,
            limits=np.array([np.inf if time_limit is None else time_limit, gap]),
        )
        command = [
            sys.executable,
            "-m",
            "econonexus.solvers.highs_process",
            str(given),
            str(answer),
        ]
        ended = _wait(subprocess.Popen(command, stdin=subprocess.DEVNULL), time_limit, stop)
        if ended is not None:
            return HighsOutcome("kInterrupt", None, np.inf, stopped=ended)
        with np.load(answer) as found:
            x = found["x"] if found["has_x"] else None
            return HighsOutcome(str(found["status"]), x, float(found["bound"]))


def _wait(process: subprocess.Popen[bytes], limit: float | None, stop: Stop | None) -> bool | None:
    """Wait for ``process``; ``True`` if ended by ``stop()``, ``False`` if ended for
    overrunning ``limit``, ``None`` if it finished."""
    deadline = None if limit is None else time.monotonic() + limit + GRACE
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = process.wait(timeout=_POLL)
            if code != 0:
                raise SolverError(f"HiGHS's process exited with status {code}")
            return None
        stopped = stop is not None and stop()
        if stopped or (deadline is not None and time.monotonic() > deadline):
            process.kill()
            process.wait()
            return stopped


def _solve(given: pathlib.Path, answer: pathlib.Path) -> None:
    """The child: solve the model in ``given``, write HiGHS's answer to ``answer``."""
    with np.load(given) as model:
        cost, upper, start = model["cost"], model["upper"], model["start"]
        time_limit, gap = (float(v) for v in model["limits"])
        rows = sp.csr_matrix((model["data"], model["indices"], model["indptr"]))
    lp = packing_lp(cost, rows, upper)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * len(cost)
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    if np.isfinite(time_limit):
        highs.setOptionValue("time_limit", time_limit)
    highs.setOptionValue("mip_rel_gap", gap)
    highs.setOptionValue("mip_abs_gap", 0.0)
    highs.passModel(lp)
    if len(start):
        solution = highspy.HighsSolution()
        solution.col_value, solution.value_valid = list(start), True
        highs.setSolution(solution)
    highs.run()
    has_x = highs.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    np.savez(
        answer,
        status=highs.getModelStatus().name,
        has_x=has_x,
        x=np.asarray(highs.getSolution().col_value) if has_x else np.zeros(0),
        bound=-float(highs.getInfo().mip_dual_bound),  # HiGHS minimised -cost
    )


if __name__ == "__main__":
    _solve(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
