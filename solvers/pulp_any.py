"""Any solver PuLP can run, as a backend: ``"pulp:NAME"`` or a PuLP solver object.

``NAME`` is one of ``pulp.listSolvers()`` (``GUROBI``, ``GUROBI_CMD``,
``CPLEX_CMD``, ``CPLEX_PY``, ``XPRESS``, ``MOSEK``, ``GLPK_CMD``,
``COIN_CMD``, ...), run if it is available here (installed, licensed). A
solver object keeps its own options (``path``, ``options``, ...) by travelling
as PuLP's own dictionary of it (``toDict``); the time limit, gap and
threads are EconoNexus's. Status is honest with what PuLP can read of any
solver: ``optimal`` only when the solver reports an optimal solution at
gap 0; otherwise the bound is the LP relaxation's (solved by CBC, which
PuLP ships), since PuLP has no common way to read a solver's own bound.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pulp

from econonexus._core.errors import InputError, SolverError
from econonexus.solvers.backends import (
    BackendResult,
    SolveLimits,
    log_file,
    options_of,
    outcome,
)
from econonexus.solvers.cancel import Stop
from econonexus.solvers.problem import FloatArray

PREFIX = "pulp:"


def pulp_spec(solver: pulp.LpSolver) -> str:
    """The ``solver`` choice naming a PuLP solver object, with its options."""
    return PREFIX + json.dumps(solver.toDict(), sort_keys=True, default=str)


def is_pulp_spec(name: str) -> bool:
    """Whether ``name`` chooses a PuLP solver (``"pulp:..."``)."""
    return name.startswith(PREFIX)


def spec_label(name: str) -> str:
    """``pulp:NAME`` for the summary, whatever options the choice carries."""
    return PREFIX + str(_settings(name)["solver"]) if is_pulp_spec(name) else name


def _settings(name: str) -> dict[str, Any]:
    body = name.removeprefix(PREFIX)
    settings = json.loads(body) if body.startswith("{") else {"solver": body}
    known = pulp.listSolvers()
    if settings.get("solver") not in known:
        raise InputError(
            f"`solver`: expected 'pulp:NAME' with NAME one of {known}, or a PuLP solver object, "
            f"got {name!r}"
        )
    return dict(settings)


@dataclass(frozen=True)
class PulpBackend:
    """The PuLP solver a ``"pulp:..."`` choice names."""

    spec: str
    name: ClassVar[str] = "pulp"
    module: ClassVar[str] = "pulp"

    def check(self) -> None:
        """Raise :class:`SolverError` unless PuLP can run the solver here."""
        settings = _settings(self.spec)
        if not pulp.getSolverFromDict(settings).available():
            raise SolverError(
                f"backend {spec_label(self.spec)!r}: PuLP cannot run {settings['solver']} here "
                f"(not installed or not licensed); available: {pulp.listSolvers(True)}"
            )

    def solve(
        self,
        model: pulp.LpProblem,
        variables: list[pulp.LpVariable],
        limits: SolveLimits,
        start: FloatArray | None = None,
        stop: Stop | None = None,
    ) -> BackendResult:
        settings = _settings(self.spec)
        options = {k: v for k, v in options_of(limits).items() if v is not None}
        if limits.threads <= 1 or settings["solver"] == "HiGHS":
            # HiGHS keeps one thread pool per process, sized by its first run: a run asking
            # another size fails (see HighsBackend); its MIP search is serial anyway
            options.pop("threads", None)
        solver = pulp.getSolverFromDict({**settings, **options})
        if start is not None and getattr(solver, "warmStart", None) is not None:
            for variable, value in zip(variables, start.tolist(), strict=True):
                variable.setInitialValue(value)
            solver.warmStart = True
        with log_file(limits.log, "pulp") as log:
            if log is not None:  # the command-line solvers write it; others ignore it
                solver.optionsDict["logPath"] = log
                if hasattr(solver, "logPath"):
                    solver.logPath = log
            try:
                model.solve(solver)
            except pulp.PulpSolverError as exc:
                raise SolverError(f"backend {spec_label(self.spec)!r}: {exc}") from exc
            text = None if log is None else pathlib.Path(log).read_text(errors="replace")
        return replace(outcome(model, variables, limits, _relaxation_bound), log=text or None)


def _relaxation_bound(model: pulp.LpProblem) -> float:
    """The LP relaxation's optimum: a valid bound whichever solver ran."""
    relaxed = model.deepcopy()
    relaxed.solve(pulp.PULP_CBC_CMD(msg=False, mip=False))
    value = pulp.value(relaxed.objective)
    return float(value) if value is not None else float(np.inf)
