"""HiGHS in a process of its own, for solves that must end: a time limit or a race.

HiGHS checks its time limit only at some points of its MIP search, and
stopping a large search it can spend minutes putting its open nodes back
in its queue: seen here on a CATS arbitrary 200x1000 instance, 15 minutes
past a 60 s limit in ``HighsNodeQueue::link_estim`` (HiGHS issues #885,
#1278, #2226 report the same class of overrun). A thread cannot be killed,
a process can: a solve with a limit or a ``stop`` runs HiGHS in a child
process (``python -m econonexus.solvers.highs_process``), which is ended
once ``stop()`` is true or once it overruns its limit by :data:`GRACE`
seconds (then it has found nothing: the caller falls back to its greedy
allocation).

Starting a child costs about 0.5 s (its imports), so a child that finished
its solve is kept, idle, for the next one (:func:`shutdown` ends the idle
ones; a child also ends when its parent does, as its input closes). Models
and answers travel through its standard input and output as
length-prefixed ``.npz`` frames.
"""

from __future__ import annotations

import atexit
import io
import os
import pathlib
import select
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO

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
    log: str | None = None


def solve_apart(
    cost: FloatArray,
    rows: sp.csr_matrix,
    upper: FloatArray,
    *,
    time_limit: float | None,
    gap: float,
    start: FloatArray | None,
    stop: Stop | None,
    log: bool,
) -> HighsOutcome:
    """Maximise ``cost @ x`` over binary ``x`` with ``rows @ x <= upper`` in a child process
    (with HiGHS's log when ``log``)."""
    given = _pack(
        cost=cost,
        indptr=rows.indptr,
        indices=rows.indices,
        data=rows.data,
        upper=upper,
        start=np.zeros(0) if start is None else start,
        limits=np.array([np.inf if time_limit is None else time_limit, gap, float(log)]),
    )
    child = _take()
    try:
        _write_frame(child.stdin, given)
        answer = _wait(child, time_limit, stop)
    except BaseException:
        _end(child)
        raise
    if isinstance(answer, bool):
        _end(child)
        return HighsOutcome("kInterrupt", None, np.inf, stopped=answer)
    _give_back(child)
    with np.load(io.BytesIO(answer)) as found:
        x = found["x"] if found["has_x"] else None
        text = found["log"].tobytes().decode(errors="replace") if log else None
        return HighsOutcome(str(found["status"]), x, float(found["bound"]), log=text)


_Child = subprocess.Popen[bytes]
_IDLE: list[_Child] = []
_POOL_LOCK = threading.Lock()


def _take() -> _Child:
    """An idle child, or a new one."""
    while (idle := _pop_idle()) is not None:
        if idle.poll() is None:
            return idle
        _end(idle)  # it died while idle: close its pipes
    command = [sys.executable, "-m", "econonexus.solvers.highs_process"]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def _pop_idle() -> _Child | None:
    with _POOL_LOCK:
        return _IDLE.pop() if _IDLE else None


def _give_back(child: _Child) -> None:
    with _POOL_LOCK:
        _IDLE.append(child)


def _end(child: _Child) -> None:
    child.kill()
    child.wait()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


def shutdown() -> None:
    """End every idle child of this process."""
    with _POOL_LOCK:
        idle = list(_IDLE)
        _IDLE.clear()
    for child in idle:
        _end(child)


atexit.register(shutdown)


def _wait(child: _Child, limit: float | None, stop: Stop | None) -> bytes | bool:
    """The child's answer; ``True`` if it was ended by ``stop()``, ``False`` if ended for
    overrunning ``limit``."""
    deadline = None if limit is None else time.monotonic() + limit + GRACE
    assert child.stdout is not None
    while True:
        ready, _, _ = select.select([child.stdout], [], [], _POLL)
        if ready:
            answer = _read_frame(child.stdout)
            if answer is None:
                raise SolverError(f"HiGHS's process exited with status {child.wait()}")
            return answer
        stopped = stop is not None and stop()
        if stopped or (deadline is not None and time.monotonic() > deadline):
            return stopped


def _pack(**arrays: object) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _write_frame(stream: IO[bytes] | None, payload: bytes) -> None:
    assert stream is not None
    stream.write(len(payload).to_bytes(8, "big") + payload)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    """One length-prefixed frame, or ``None`` at the end of the stream."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    return stream.read(int.from_bytes(head, "big"))


def _solve(given: bytes) -> bytes:
    """The child's work: solve the model in ``given``, return HiGHS's answer."""
    with np.load(io.BytesIO(given)) as model:
        cost, upper, start = model["cost"], model["upper"], model["start"]
        time_limit, gap, log = (float(v) for v in model["limits"])
        rows = sp.csr_matrix((model["data"], model["indices"], model["indptr"]))
    lp = packing_lp(cost, rows, upper)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * len(cost)
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", bool(log))
    path = _log_path() if log else None
    if path is not None:
        highs.setOptionValue("log_to_console", False)
        highs.setOptionValue("log_file", path)
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
    text = b""
    if path is not None:
        highs.setOptionValue("log_file", "")  # closes the file
        text = pathlib.Path(path).read_bytes()
        os.unlink(path)
    return _pack(
        log=np.frombuffer(text, dtype=np.uint8),
        status=highs.getModelStatus().name,
        has_x=has_x,
        x=np.asarray(highs.getSolution().col_value) if has_x else np.zeros(0),
        bound=-float(highs.getInfo().mip_dual_bound),  # HiGHS minimised -cost
    )


def _log_path() -> str:
    handle, path = tempfile.mkstemp(prefix="enx-highs-", suffix=".log")
    os.close(handle)
    return path


def _serve() -> None:
    """The child: answer models from standard input until it closes."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever HiGHS prints goes to standard error, not into the answers
    while (given := _read_frame(sys.stdin.buffer)) is not None:
        _write_frame(answers, _solve(given))


if __name__ == "__main__":
    _serve()
