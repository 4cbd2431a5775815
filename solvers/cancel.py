"""Stopping a solve that another racer has already won.

A race hands each backend a ``stop`` predicate (cheap to ask: a flag).
PuLP runs CBC as a subprocess it does not expose, so a raced CBC solve runs
CBC here (:func:`run_cbc`) as PuLP would (its MPS writer, its options, its
solution reader) while holding the process, which it ends once ``stop()``
is true. SCIP runs in this process and is interrupted by its own event
handler (:func:`interrupt_scip`); HiGHS, which does not always stop in
time, runs in a process of its own (:mod:`.highs_process`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from typing import Any

import pulp

Stop = Callable[[], bool]
_POLL = 0.02


def run_cbc(command: pulp.PULP_CBC_CMD, model: pulp.LpProblem, log: str, stop: Stop) -> bool:
    """Solve ``model`` with CBC as ``command`` would (its output to ``log``), ending the
    process once ``stop()`` is true; return whether it was ended (then nothing is read)."""
    mps, solution, start = command.create_tmp_files(model.name, "mps", "sol", "mst")
    try:
        columns, variable_names, row_names, _ = model.writeMPS(mps, rename=1)
        args = [command.path, mps, *(["-max"] if model.sense == pulp.LpMaximize else [])]
        if command.optionsDict.get("warmStart", False):
            command.writesol(start, model, columns, variable_names, row_names)
            args += ["-mips", start]
        if command.timeLimit is not None:
            args += ["-sec", str(command.timeLimit)]
        for option in [*command.options, *command.getOptions()]:
            args += f"-{option}".split()
        args += ["-solve" if command.mip else "-initialSolve"]
        args += ["-printingOptions", "all", "-solution", solution]
        if _ended(args, log, stop):
            return True
        status, values, _, _, _, sol_status = command.readsol_MPS(
            solution, model, columns, variable_names, row_names
        )
        model.assignVarsVals(values)
        model.assignStatus(status, sol_status)
        return False
    finally:
        for path in (mps, solution, start):
            with contextlib.suppress(OSError):
                os.remove(path)


def _ended(args: list[str], log: str, stop: Stop) -> bool:
    with open(log, "w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        while True:
            try:
                code = process.wait(timeout=_POLL)
            except subprocess.TimeoutExpired:
                if stop():
                    process.kill()
                    process.wait()
                    return True
                continue
            if code != 0:
                raise pulp.PulpSolverError(f"CBC exited with status {code}; its log: {log}")
            return False


def interrupt_scip(scip: Any, stop: Stop) -> None:
    """Have the SCIP model ``scip`` (PySCIPOpt) stop once ``stop()`` is true, checked after
    every node of its search."""
    import pyscipopt

    class _Interrupt(pyscipopt.Eventhdlr):  # type: ignore[misc]
        def eventinit(self) -> None:
            nodes = pyscipopt.SCIP_EVENTTYPE.NODESOLVED  # type: ignore[attr-defined]
            self.model.catchEvent(nodes, self)

        def eventexec(self, event: Any) -> None:
            if stop():
                self.model.interruptSolve()

    scip.includeEventhdlr(_Interrupt(), "enx-stop", "ends a racer another racer beat")
