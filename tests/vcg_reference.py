"""Every VCG re-solve of a market as a MIP job, unplanned: the reference the planned path meets.

Test and benchmark code: the pipeline plans its re-solves with
:func:`econonexus.solvers.vcg.vcg_plan`.
"""

from __future__ import annotations

import numpy as np

from econonexus.solvers.components import partition
from econonexus.solvers.problem import MarketProblem
from econonexus.solvers.vcg import VcgJob, component_jobs


def vcg_jobs(problem: MarketProblem, won: np.ndarray) -> list[VcgJob]:
    """Return the re-solves VCG needs for the winners ``won`` of ``problem``."""
    return [j for c in partition(problem).components for j in component_jobs(problem, won, c)]
