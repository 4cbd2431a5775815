"""EconoNexus: batch market clearing among software agents, on Dask.

The public API is what ``__all__`` lists; every other module is private.
"""

from __future__ import annotations

from econonexus import _config  # noqa: F401  (registers the dask.config defaults)
from econonexus._api import clear, read_bids, read_cats, read_run, validate_bids
from econonexus._errors import (
    CatsFormatError,
    EconoNexusError,
    InputError,
    RunConflictError,
    RunFailedError,
    SolverError,
    SourceReadError,
)
from econonexus.pipelines.generate import generate
from econonexus.pipelines.result import ClearingResult
from econonexus.solvers.schemas import (
    ALLOCATIONS_SCHEMA,
    BIDS_SCHEMA,
    EVENTS_SCHEMA,
    ITEMS_SCHEMA,
    PRICES_SCHEMA,
    REJECTED_SCHEMA,
    SUMMARY_SCHEMA,
)

__version__ = "0.1.0"

__all__ = [
    "ALLOCATIONS_SCHEMA",
    "BIDS_SCHEMA",
    "EVENTS_SCHEMA",
    "ITEMS_SCHEMA",
    "PRICES_SCHEMA",
    "REJECTED_SCHEMA",
    "SUMMARY_SCHEMA",
    "CatsFormatError",
    "ClearingResult",
    "EconoNexusError",
    "InputError",
    "RunConflictError",
    "RunFailedError",
    "SolverError",
    "SourceReadError",
    "__version__",
    "clear",
    "generate",
    "read_bids",
    "read_cats",
    "read_run",
    "validate_bids",
]
