"""EconoNexus: batch market clearing among software agents, on Dask.

The public API is what ``__all__`` lists; every other module is private.
"""

from __future__ import annotations

from econonexus._api import clear, read_bids, read_cats, read_run, validate_bids
from econonexus._core import config as _config  # noqa: F401  (registers the dask.config defaults)
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
from econonexus.agents.pool import AgentPool
from econonexus.agents.population import population
from econonexus.agents.settlement import SettlementTerms
from econonexus.agents.snapshot import AGENTS_SCHEMA
from econonexus.agents.state import AgentState
from econonexus.pipelines.io.signing import sign_bids
from econonexus.pipelines.ops.settle_run import SettlementReport, settle
from econonexus.pipelines.sim.generate import generate
from econonexus.pipelines.sim.simulate import SimulationResult, simulate
from econonexus.pipelines.store.clearing_result import ClearingResult

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
    "generate",
    "outcome_events",
    "population",
    "read_bids",
    "read_cats",
    "read_run",
    "settle",
    "sign_bids",
    "simulate",
    "validate_bids",
]
