"""EconoNexus: batch market clearing among software agents, on Dask.

The public API is what ``__all__`` lists; every other module is private. Names
resolve on first use (a module ``__getattr__``), so importing a solver module
on a worker loads neither Dask's distributed scheduler, Bokeh nor Prometheus.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from econonexus._core import config as _config  # noqa: F401  (registers the dask.config defaults)
from econonexus._core import transport as _transport  # noqa: F401  (compact pickling of frames)

if TYPE_CHECKING:
    from econonexus._api import clear, read_bids, read_cats, read_run, validate_bids
    from econonexus._core.errors import (
        AgentStateError,
        CatsFormatError,
        EconoNexusError,
        InputError,
        IntegrityError,
        JournalError,
        LeaseError,
        RunConflictError,
        RunFailedError,
        ShardUnavailableError,
        SnapshotError,
        SolverError,
        SourceReadError,
    )
    from econonexus._core.schemas import (
        ALLOCATIONS_SCHEMA,
        BIDS_SCHEMA,
        EVENTS_SCHEMA,
        FLAGGED_SCHEMA,
        ITEMS_SCHEMA,
        PRICES_SCHEMA,
        REJECTED_SCHEMA,
        SUMMARY_SCHEMA,
    )
    from econonexus.agents.events import AGENT_EVENTS_SCHEMA
    from econonexus.agents.live import LiveBidders
    from econonexus.agents.messaging import CircuitBreaker, RetryPolicy
    from econonexus.agents.outcomes import outcome_events
    from econonexus.agents.population import population
    from econonexus.agents.settlement import SettlementTerms
    from econonexus.agents.snapshot import AGENTS_SCHEMA
    from econonexus.agents.state import AgentState
    from econonexus.pipelines.dashboard.pool_face import AgentPool
    from econonexus.pipelines.io.signing import sign_bids
    from econonexus.pipelines.ops.delegate import Delegation, delegate
    from econonexus.pipelines.ops.settle_run import SettlementReport, settle
    from econonexus.pipelines.sim.generate import generate
    from econonexus.pipelines.sim.simulate import SimulationResult, simulate
    from econonexus.pipelines.store.clearing_result import ClearingResult

_WHERE: dict[str, str] = {
    "AGENTS_SCHEMA": "econonexus.agents.snapshot",
    "AGENT_EVENTS_SCHEMA": "econonexus.agents.events",
    "ALLOCATIONS_SCHEMA": "econonexus._core.schemas",
    "AgentPool": "econonexus.pipelines.dashboard.pool_face",
    "AgentState": "econonexus.agents.state",
    "AgentStateError": "econonexus._core.errors",
    "BIDS_SCHEMA": "econonexus._core.schemas",
    "CatsFormatError": "econonexus._core.errors",
    "CircuitBreaker": "econonexus.agents.messaging",
    "ClearingResult": "econonexus.pipelines.store.clearing_result",
    "Delegation": "econonexus.pipelines.ops.delegate",
    "EVENTS_SCHEMA": "econonexus._core.schemas",
    "EconoNexusError": "econonexus._core.errors",
    "FLAGGED_SCHEMA": "econonexus._core.schemas",
    "ITEMS_SCHEMA": "econonexus._core.schemas",
    "InputError": "econonexus._core.errors",
    "IntegrityError": "econonexus._core.errors",
    "JournalError": "econonexus._core.errors",
    "LeaseError": "econonexus._core.errors",
    "LiveBidders": "econonexus.agents.live",
    "PRICES_SCHEMA": "econonexus._core.schemas",
    "REJECTED_SCHEMA": "econonexus._core.schemas",
    "RetryPolicy": "econonexus.agents.messaging",
    "RunConflictError": "econonexus._core.errors",
    "RunFailedError": "econonexus._core.errors",
    "SUMMARY_SCHEMA": "econonexus._core.schemas",
    "SettlementReport": "econonexus.pipelines.ops.settle_run",
    "SettlementTerms": "econonexus.agents.settlement",
    "ShardUnavailableError": "econonexus._core.errors",
    "SimulationResult": "econonexus.pipelines.sim.simulate",
    "SnapshotError": "econonexus._core.errors",
    "SolverError": "econonexus._core.errors",
    "SourceReadError": "econonexus._core.errors",
    "clear": "econonexus._api",
    "delegate": "econonexus.pipelines.ops.delegate",
    "generate": "econonexus.pipelines.sim.generate",
    "outcome_events": "econonexus.agents.outcomes",
    "population": "econonexus.agents.population",
    "read_bids": "econonexus._api",
    "read_cats": "econonexus._api",
    "read_run": "econonexus._api",
    "sample_data": "econonexus._api",
    "settle": "econonexus.pipelines.ops.settle_run",
    "sign_bids": "econonexus.pipelines.io.signing",
    "simulate": "econonexus.pipelines.sim.simulate",
    "validate_bids": "econonexus._api",
}

__version__ = "0.1.0"

__all__ = [
    "AGENTS_SCHEMA",
    "AGENT_EVENTS_SCHEMA",
    "ALLOCATIONS_SCHEMA",
    "BIDS_SCHEMA",
    "EVENTS_SCHEMA",
    "FLAGGED_SCHEMA",
    "ITEMS_SCHEMA",
    "PRICES_SCHEMA",
    "REJECTED_SCHEMA",
    "SUMMARY_SCHEMA",
    "AgentPool",
    "AgentState",
    "AgentStateError",
    "CatsFormatError",
    "CircuitBreaker",
    "ClearingResult",
    "Delegation",
    "EconoNexusError",
    "InputError",
    "IntegrityError",
    "JournalError",
    "LeaseError",
    "LiveBidders",
    "RetryPolicy",
    "RunConflictError",
    "RunFailedError",
    "SettlementReport",
    "SettlementTerms",
    "ShardUnavailableError",
    "SimulationResult",
    "SnapshotError",
    "SolverError",
    "SourceReadError",
    "__version__",
    "clear",
    "delegate",
    "generate",
    "outcome_events",
    "population",
    "read_bids",
    "read_cats",
    "read_run",
    "sample_data",
    "settle",
    "sign_bids",
    "simulate",
    "validate_bids",
]


def __getattr__(name: str) -> Any:
    """Import the module that defines public ``name`` on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'econonexus' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
