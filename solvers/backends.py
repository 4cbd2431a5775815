"""MIP backends behind one small interface: CBC, HiGHS and (when installed) SCIP, through PuLP.

Each backend solves a maximisation model and reports whether optimality was
proven and the best upper bound it can vouch for: HiGHS's dual bound, CBC's
own best bound read from its log. Status comes from PuLP's
``sol_status`` (``LpStatus`` says "Optimal" for any integer solution at a
time limit).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

import numpy as np
import pulp
import scipy.sparse as sp

from econonexus._core.config import setting_default
from econonexus._core.errors import InputError, SolverError
from econonexus._core.schemas import SOLVERS
from econonexus.solvers.cancel import Stop, interrupt_scip, run_cbc
from econonexus.solvers.highs_process import solve_apart
from econonexus.solvers.problem import FloatArray

_CBC_UPPER_BOUND = re.compile(r"^Upper bound:\s+(\S+)", re.MULTILINE)
_CBC_BEST_POSSIBLE = re.compile(r"best possible (-?[0-9.eE+-]+)")
_MOMENT = 0.01
_SOL_OPTIMAL = 1
_SOL_FOUND = 2
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BackendResult:
    """What a backend returns: the 0/1 values, whether proven, an upper bound, and whether
    it was stopped because another racer won (its values and bound then mean nothing)."""

    values: FloatArray
    proven: bool
    bound: float
    cancelled: bool = False
    log: str | None = None
    """The solver's log, when ``SolveLimits.log`` asked for it and the solver writes one."""


def _words(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


@dataclass(frozen=True)
class SolveLimits:
    """Stopping rules (seconds per solve or ``None``, relative gap, and the batch's
    ``deadline``: a ``time.time()`` every solve stops by), solver threads, and CBC's
    command-line options: ``cbc_options`` (setting ``econonexus.solver.cbc-options``)
    and, for solves given a starting solution, ``cbc_start_options``
    (``econonexus.solver.cbc-start-options``)."""

    time_limit: float | None = field(default_factory=setting_default("solver.time-limit", float))
    gap: float = field(default_factory=setting_default("solver.gap", float))
    threads: int = field(default_factory=setting_default("solver.threads", int))
    cbc_options: tuple[str, ...] = field(
        default_factory=setting_default("solver.cbc-options", _words)
    )
    cbc_start_options: tuple[str, ...] = field(
        default_factory=setting_default("solver.cbc-start-options", _words)
    )
    deadline: float | None = None
    log: bool = field(default_factory=setting_default("solver.log", bool))
    """Keep the solver's log (``BackendResult.log``; setting ``econonexus.solver.log``)."""

    def seconds(self) -> float | None:
        """The time this solve may take: its own limit, cut to what is left before the
        batch's deadline (a past deadline leaves a moment: the solver stops at once)."""
        if self.deadline is None:
            return self.time_limit
        left = max(self.deadline - time.time(), _MOMENT)
        return left if self.time_limit is None else min(self.time_limit, left)


class Backend(Protocol):
    """A MIP backend: solves a PuLP maximisation model over binary variables."""

    name: ClassVar[str]
    module: ClassVar[str]

    def solve(
        self,
        model: pulp.LpProblem,
        variables: list[pulp.LpVariable],
        limits: SolveLimits,
        start: FloatArray | None = None,
        stop: Stop | None = None,
    ) -> BackendResult:
        """Solve ``model``; ``start`` (0/1 per variable) is a feasible solution to begin from;
        the solve ends early, cancelled, once ``stop()`` is true (:mod:`.cancel`)."""
        ...


def _values(variables: list[pulp.LpVariable]) -> FloatArray:
    return np.array([(v.varValue or 0.0) > 0.5 for v in variables], dtype=np.float64)


def _objective(model: pulp.LpProblem) -> float:
    return float(pulp.value(model.objective) or 0.0)


def _set_start(variables: list[pulp.LpVariable], start: FloatArray) -> None:
    """Give each variable its value in ``start``, which PuLP hands the solver (``warmStart``)."""
    for variable, value in zip(variables, start.tolist(), strict=True):
        variable.setInitialValue(value)


def options_of(limits: SolveLimits) -> dict[str, object]:
    """PuLP solver arguments shared by the backends: quiet, limits, exact absolute gap."""
    return {
        "msg": False,
        "timeLimit": limits.seconds(),
        "gapRel": limits.gap,
        "gapAbs": 0.0,
        "threads": limits.threads,
    }


def outcome(
    model: pulp.LpProblem,
    variables: list[pulp.LpVariable],
    limits: SolveLimits,
    upper_bound: Callable[[pulp.LpProblem], float],
) -> BackendResult:
    """Read a solved model: proven when the solver says optimal at gap 0, or the bound meets it.

    ``upper_bound`` is asked only when optimality is not already proven.
    """
    has_solution = model.sol_status in (_SOL_OPTIMAL, _SOL_FOUND)
    values = _values(variables) if has_solution else np.zeros(len(variables))
    objective = _objective(model) if values.any() else 0.0
    optimal = model.sol_status == _SOL_OPTIMAL
    return _result(values, objective, optimal, limits, lambda: upper_bound(model))


def _result(
    values: FloatArray,
    objective: float,
    optimal: bool,
    limits: SolveLimits,
    upper_bound: Callable[[], float],
) -> BackendResult:
    """Proven when the solver says ``optimal`` at gap 0, or when its bound meets ``objective``
    (``upper_bound`` is asked only then)."""
    if optimal and limits.gap == 0.0:  # proven within the solver's own tolerances
        return BackendResult(values, True, objective)
    bound = upper_bound()
    proven = optimal and bound - objective <= _slack(bound)
    return BackendResult(values, proven, max(bound, objective))


def _positive_total(costs: FloatArray) -> float:
    """The trivial bound of a maximisation over 0/1 columns: its positive costs' total."""
    return float(costs[costs > 0].sum())


class CbcBackend:
    """COIN-OR CBC, the solver PuLP ships (run as a subprocess)."""

    name: ClassVar[str] = "cbc"
    module: ClassVar[str] = "pulp"

    def solve(
        self,
        model: pulp.LpProblem,
        variables: list[pulp.LpVariable],
        limits: SolveLimits,
        start: FloatArray | None = None,
        stop: Stop | None = None,
    ) -> BackendResult:
        options = options_of(limits)
        # CBC's "-threads 1" still starts a helper thread, and now and then the
        # solver then sleeps ~10 s on a futex before exiting (about 1 run in 700
        # here); without the flag CBC runs single-threaded with no helper.
        options["threads"] = limits.threads if limits.threads > 1 else None
        flags = limits.cbc_options
        if start is not None:  # CBC reads it as a MIP start (``-mips``)
            _set_start(variables, start)
            options["warmStart"], flags = True, limits.cbc_start_options
        handle, log = tempfile.mkstemp(prefix="enx-cbc-", suffix=".log")
        os.close(handle)
        command = pulp.PULP_CBC_CMD(**options, options=list(flags), logPath=log)
        try:
            if stop is None:
                model.solve(command)
            elif run_cbc(command, model, log, stop):
                return BackendResult(np.zeros(len(variables)), False, np.inf, cancelled=True)
            text = pathlib.Path(log).read_text(errors="replace")
        except pulp.PulpSolverError as error:
            return self._crashed(model, variables, limits, error)
        finally:
            os.unlink(log)
        found = outcome(model, variables, limits, lambda m: self._bound(m, text))
        return replace(found, log=text) if limits.log else found

    def _crashed(
        self,
        model: pulp.LpProblem,
        variables: list[pulp.LpVariable],
        limits: SolveLimits,
        error: pulp.PulpSolverError,
    ) -> BackendResult:
        """CBC 2.10 (PuLP's) segfaults when its time limit stops it during preprocessing with
        a MIP start: under a limit that is a stop with no solution (the caller keeps its
        start) and the LP relaxation's bound; with no limit it is an error."""
        if limits.seconds() is None:
            raise SolverError(f"CBC failed on model {model.name!r}: {error}") from error
        return BackendResult(np.zeros(len(variables)), False, self._bound(model, ""))

    @staticmethod
    def _bound(model: pulp.LpProblem, log: str) -> float:
        """CBC's own best bound, read from its log (PuLP's API does not give it); the LP
        relaxation, a weaker valid bound, when the log has none (no search ran)."""
        if found := _CBC_UPPER_BOUND.search(log):  # the summary of a stopped search
            return float(found.group(1))
        if possible := _CBC_BEST_POSSIBLE.findall(log):  # progress lines, minimising -objective
            return -float(possible[-1])
        relaxed = model.deepcopy()
        relaxed.solve(pulp.PULP_CBC_CMD(msg=False, mip=False))
        return _objective(relaxed)


class HighsBackend:
    """HiGHS through highspy; its proven bound is ``mip_dual_bound``. A solve with a
    ``stop`` or a time limit runs in a process of its own (:mod:`.highs_process`)."""

    name: ClassVar[str] = "highs"
    module: ClassVar[str] = "highspy"

    def solve(
        self,
        model: pulp.LpProblem,
        variables: list[pulp.LpVariable],
        limits: SolveLimits,
        start: FloatArray | None = None,
        stop: Stop | None = None,
    ) -> BackendResult:
        if stop is not None or limits.seconds() is not None:  # it must end: a process
            return self._solve_apart(model, variables, limits, start, stop)
        return self._solve_here(model, variables, limits, start)

    def _solve_here(
        self,
        model: pulp.LpProblem,
        variables: list[pulp.LpVariable],
        limits: SolveLimits,
        start: FloatArray | None,
    ) -> BackendResult:
        """Solve in this process (without a limit: see :mod:`.highs_process`)."""
        options = options_of(limits)
        # HiGHS runs on one thread pool per process, sized by the first run in
        # it; a later run asking another size fails (reported as a stop with no
        # solution). Every HiGHS user here keeps HiGHS's default size, so
        # ``threads`` applies to CBC only; HiGHS's MIP search is serial anyway.
        options["threads"] = None
        with log_file(limits.log, "highs") as log:
            if log is not None:  # HiGHS writes it, and nothing to the console
                options |= {"msg": True, "log_file": log, "log_to_console": False}
            solver = _WarmHighs(**options)
            if start is not None:
                solver.start = {
                    v.name: value for v, value in zip(variables, start.tolist(), strict=True)
                }
            model.solve(solver)
            text = None if log is None else pathlib.Path(log).read_text(errors="replace")
        status = model.solverModel.getModelStatus()
        if status.name in _HIGHS_FAILED:  # no search ran: there is neither solution nor bound
            raise SolverError(f"HiGHS did not solve the model: model status {status.name}")
        return replace(outcome(model, variables, limits, self._dual_bound), log=text)

    @staticmethod
    def _solve_apart(
        model: pulp.LpProblem,
        variables: list[pulp.LpVariable],
        limits: SolveLimits,
        start: FloatArray | None,
        stop: Stop | None,
    ) -> BackendResult:
        """Solve in a child process (:mod:`.highs_process`), ended at ``stop()`` or when it
        overruns its limit."""
        cost, rows, upper = _arrays(model, variables)
        order = np.argsort([v.name for v in variables])  # PuLP's column order, as in process
        found = solve_apart(
            cost[order],
            rows[:, order].tocsr(),
            upper,
            time_limit=limits.seconds(),
            gap=limits.gap,
            start=None if start is None else start[order],
            stop=stop,
            log=limits.log,
        )
        if found.stopped:
            return BackendResult(np.zeros(len(variables)), False, np.inf, cancelled=True)
        if found.status in _HIGHS_FAILED:
            raise SolverError(f"HiGHS did not solve the model: model status {found.status}")
        values = np.zeros(len(variables))
        if found.x is not None:
            values[order] = found.x > 0.5
        bound = found.bound if np.isfinite(found.bound) else _positive_total(cost)
        optimal = found.status == "kOptimal"
        result = _result(values, float(cost @ values), optimal, limits, lambda: bound)
        return replace(result, log=found.log)

    @staticmethod
    def _dual_bound(model: pulp.LpProblem) -> float:
        bound = -float(model.solverModel.getInfo().mip_dual_bound)  # HiGHS minimises -objective
        if np.isfinite(bound):
            return bound
        return _positive_total(np.fromiter(model.objective.values(), dtype=np.float64))


class ScipBackend:
    """SCIP through PySCIPOpt (PuLP's ``SCIP_PY``), when ``pyscipopt`` is installed; its proven
    bound is SCIP's dual bound."""

    name: ClassVar[str] = "scip"
    module: ClassVar[str] = "pyscipopt"

    def solve(
        self,
        model: pulp.LpProblem,
        variables: list[pulp.LpVariable],
        limits: SolveLimits,
        start: FloatArray | None = None,
        stop: Stop | None = None,
    ) -> BackendResult:
        options = options_of(limits)
        options["threads"] = None  # SCIP's search is serial
        if start is not None:
            _set_start(variables, start)
            options["warmStart"] = True
        solver = _StoppableScip(**options)
        solver.stop = stop
        model.solve(solver)
        if stop is not None and model.solverModel.getStatus() == "userinterrupt":
            return BackendResult(np.zeros(len(variables)), False, np.inf, cancelled=True)
        return outcome(model, variables, limits, lambda m: float(m.solverModel.getDualbound()))


class _StoppableScip(pulp.SCIP_PY):  # type: ignore[misc]
    """PuLP's SCIP, stopped by :func:`~econonexus.solvers.cancel.interrupt_scip` when a
    ``stop`` is set."""

    stop: Stop | None = None

    def callSolver(self, lp: pulp.LpProblem) -> None:
        if self.stop is not None:
            interrupt_scip(lp.solverModel, self.stop)
        super().callSolver(lp)


_HIGHS_FAILED = frozenset(
    {"kNotset", "kLoadError", "kModelError", "kPresolveError", "kSolveError", "kPostsolveError"}
)


class _WarmHighs(pulp.HiGHS):  # type: ignore[misc]
    """PuLP's HiGHS, handing HiGHS a starting solution when one is set."""

    start: dict[str, float] | None = None

    def callSolver(self, lp: pulp.LpProblem) -> None:
        if self.start is not None:
            import highspy

            solution = highspy.HighsSolution()
            columns = sorted(lp.variables(), key=lambda v: v.index)
            solution.col_value = [self.start.get(v.name, 0.0) for v in columns]
            solution.value_valid = True
            lp.solverModel.setSolution(solution)
        super().callSolver(lp)


def _arrays(
    model: pulp.LpProblem, variables: list[pulp.LpVariable]
) -> tuple[FloatArray, sp.csr_matrix, FloatArray]:
    """``model`` (maximise, ``<=`` rows) as arrays over ``variables``: cost, rows, bounds."""
    position = {v.name: i for i, v in enumerate(variables)}
    cost = np.array([model.objective.get(v, 0.0) for v in variables], dtype=np.float64)
    indptr, indices, data, upper = [0], [], [], []
    for constraint in model.constraints.values():
        if constraint.sense != pulp.LpConstraintLE:
            raise SolverError(f"expected only <= rows, got {constraint.name}: {constraint}")
        for variable, coefficient in constraint.items():
            indices.append(position[variable.name])
            data.append(coefficient)
        indptr.append(len(indices))
        upper.append(-constraint.constant)
    shape = (len(upper), len(variables))
    rows = sp.csr_matrix((np.array(data, dtype=np.float64), indices, indptr), shape=shape)
    return cost, rows, np.array(upper, dtype=np.float64)


@contextmanager
def log_file(wanted: bool, solver: str) -> Iterator[str | None]:
    """A temporary file for a solver's log when one is ``wanted`` (removed after)."""
    if not wanted:
        yield None
        return
    handle, path = tempfile.mkstemp(prefix=f"enx-{solver}-", suffix=".log")
    os.close(handle)
    try:
        yield path
    finally:
        os.unlink(path)


def _slack(bound: float) -> float:
    return _TOLERANCE * max(1.0, abs(bound))


_BACKENDS: dict[str, type[CbcBackend] | type[HighsBackend] | type[ScipBackend]] = {
    "cbc": CbcBackend,
    "highs": HighsBackend,
    "scip": ScipBackend,
}


def installed_backend(name: str) -> bool:
    """Whether the backend ``name`` is known and its package installed."""
    return name in _BACKENDS and importlib.util.find_spec(_BACKENDS[name].module) is not None


def get_backend(name: str) -> Backend:
    """Return the backend called ``name`` (``"cbc"``, ``"highs"``, ``"scip"``, or
    ``"pulp:NAME"`` for any solver PuLP runs: :mod:`.pulp_any`).

    Raises
    ------
    InputError
        If ``name`` is not a known backend.
    SolverError
        If the backend's package is not installed.
    """
    if name.startswith("pulp:"):  # any solver PuLP runs (imported here: it imports this)
        from econonexus.solvers.pulp_any import PulpBackend

        chosen = PulpBackend(name)
        chosen.check()
        return chosen
    if name not in _BACKENDS:
        raise InputError(
            f"`solver`: expected one of {', '.join(SOLVERS)} or 'pulp:NAME', got {name!r}"
        )
    backend = _BACKENDS[name]
    if not installed_backend(name):
        raise SolverError(f"backend {name!r}: package {backend.module!r} is not installed")
    return backend()
