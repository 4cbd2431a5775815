"""How a batch clears: solver, limits, tie budget, retries and per-market settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import pulp

from econonexus._core.config import get_setting, setting_default
from econonexus._core.errors import InputError
from econonexus._core.market_settings import DEFAULT_SETTINGS, MarketSettings
from econonexus._core.schemas import SOLVER_CHOICES
from econonexus.pipelines.io.flag_sanctions import NO_SANCTIONS, Sanctions
from econonexus.pipelines.io.market_policy import DETECTION_MODES, DetectionMode, MarketPolicy
from econonexus.pipelines.io.market_table import MarketsSource, load_market_table
from econonexus.solvers.backends import SolveLimits, get_backend
from econonexus.solvers.pulp_any import is_pulp_spec, pulp_spec


@dataclass(frozen=True)
class BatchOptions:
    """Backend, stopping rules, enumeration size, tie budget, retries, market settings.

    ``markets`` holds the markets listed in a markets table; the others use
    :data:`econonexus._core.market_settings.DEFAULT_SETTINGS`.
    """

    solver: str = field(default_factory=setting_default("solver.backend", str))
    limits: SolveLimits = field(default_factory=SolveLimits)
    enumerate_max: int = field(default_factory=setting_default("solver.enumerate-max-bids", int))
    tie_epsilon: float = field(default_factory=setting_default("solver.tie-epsilon", float))
    retries: int = field(default_factory=setting_default("retries", int))
    markets: dict[str, MarketSettings] = field(default_factory=dict)
    policies: dict[str, MarketPolicy] = field(default_factory=dict)
    detection: DetectionMode = field(
        default_factory=setting_default("detection.mode", str)  # type: ignore[arg-type]
    )
    batch_time_limit: float | None = None
    log_dir: str | None = None
    """Where each MIP component's solver log goes (setting ``solver.log``, with ``out``)."""
    sanctions: Sanctions = NO_SANCTIONS
    """What the run's manipulation flags impose (:mod:`.sanctions`), once found."""

    def settings(self, market_id: str) -> MarketSettings:
        """The settings of ``market_id``."""
        return self.markets.get(market_id, DEFAULT_SETTINGS)

    @property
    def halt_rules(self) -> bool:
        """Whether some market has a circuit breaker."""
        return any(p.has_halt_rules for p in self.policies.values())


def make_options(
    *,
    solver: str | pulp.LpSolver | None,
    time_limit: float | None,
    gap: float | None,
    markets: MarketsSource | None = None,
    batch_time_limit: float | None = None,
) -> BatchOptions:
    """Check the solver options and fill the unset ones from the settings; a batch time
    limit becomes a deadline counted from now."""
    name = solver_name(solver or get_setting("solver.backend"))
    if name != "auto":
        get_backend(name)  # installed (and, for a PuLP solver, runnable here)?
    limit = time_limit if time_limit is not None else get_setting("solver.time-limit")
    if limit is not None and not limit > 0:
        raise InputError(f"`time_limit`: expected seconds > 0 or None, got {limit!r}")
    whole = batch_time_limit
    if whole is None:
        whole = get_setting("solver.batch-time-limit")
    if whole is not None and not whole > 0:
        raise InputError(f"`batch_time_limit`: expected seconds > 0 or None, got {whole!r}")
    deadline = None if whole is None else time.time() + float(whole)
    rel_gap = gap if gap is not None else get_setting("solver.gap")
    if not 0 <= rel_gap < 1:
        raise InputError(f"`gap`: expected a relative gap in [0, 1), got {rel_gap!r}")
    limits = SolveLimits(time_limit=limit, gap=float(rel_gap), deadline=deadline)
    detection = get_setting("detection.mode")
    if detection not in DETECTION_MODES:
        raise InputError(
            f"setting `econonexus.detection.mode`: expected 'off' or 'flag', got {detection!r}"
        )
    settings, policies = load_market_table(markets)
    for market, policy in policies.items():
        if policy.on_flag != "flag" and (policy.detection or detection) == "off":
            raise InputError(
                f"markets {market!r}: `on_flag` expected 'flag' while detection is off "
                f"(setting `econonexus.detection.mode`), got {policy.on_flag!r}"
            )
    return BatchOptions(
        solver=name,
        limits=limits,
        markets=settings,
        policies=policies,
        detection=detection,
        batch_time_limit=None if whole is None else float(whole),
    )


def solver_name(solver: Any) -> str:
    """The choice of ``solver``: a backend's name, ``"pulp:NAME"``, or a PuLP solver object
    (with its options: :func:`econonexus.solvers.pulp_any.pulp_spec`)."""
    if isinstance(solver, pulp.LpSolver):
        return pulp_spec(solver)
    if not isinstance(solver, str) or not (solver in SOLVER_CHOICES or is_pulp_spec(solver)):
        raise InputError(
            f"`solver`: expected one of {', '.join(SOLVER_CHOICES)}, 'pulp:NAME' or a PuLP "
            f"solver object, got {solver!r}"
        )
    return solver


def with_thread_share(options: BatchOptions, threads: int, n_large: int) -> BatchOptions:
    """Options for the large components: the cluster's threads shared among them.

    A batch of one hard component would otherwise keep one core busy and the
    rest idle; CBC's parallel branch and bound on the idle cores measured up
    to 2.5x faster on 2 cores (``benchmarks/pipeline_vs_direct.py``). Setting
    ``solver.share-threads`` false turns this off.
    """
    if not get_setting("solver.share-threads") or n_large == 0:
        return options
    share = threads // n_large
    if share <= options.limits.threads:
        return options
    return replace(options, limits=replace(options.limits, threads=share))
