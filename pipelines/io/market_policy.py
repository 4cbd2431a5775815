"""A market's policy: who may bid (stakes, reputation, signatures) and when it halts.

The markets table holds two kinds of settings per market: how it clears
(:class:`econonexus._core.market_settings.MarketSettings`, read by the
clearing code) and its policy, read only by the pipeline:

- ``stake`` (absolute, per bid) and ``stake_fraction`` (of the bid's price)
  make up the free stake a bid needs, and ``min_reputation`` the reputation
  its agent needs, checked against the agents' accounts at validation;
- ``signed: true`` accepts only bids signed with their agent's key
  (:mod:`econonexus.pipelines.io.signing`);
- the ``halt_*`` settings are the market's circuit breakers
  (:mod:`econonexus.pipelines.store.halts`);
- ``detection``: ``flag`` looks for manipulation (rings, sybils) among the
  market's bids and writes what it finds to ``flagged``; ``off`` skips it.
  Unset: the setting ``detection.mode``;
- ``on_flag``: what a flag does to the market (:mod:`econonexus.pipelines.graph.sanctions`):
  ``flag`` (default) only records it; ``exclude`` rejects the flagged agents'
  bids before winner determination, with the detector's reason; ``halt``
  halts the market (rule ``manipulation``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, Final, Literal

import polars as pl

from econonexus._core.market_settings import (
    check_known,
    expect,
    flag,
    number,
    optional,
    present,
)

DetectionMode = Literal["off", "flag"]
DETECTION_MODES: Final = ("off", "flag")
OnFlag = Literal["flag", "exclude", "halt"]
ON_FLAG: Final = ("flag", "exclude", "halt")


@dataclass(frozen=True)
class MarketPolicy:
    """Eligibility, signatures and halts of one market (see the module docstring)."""

    stake: float = 0.0
    stake_fraction: float = 0.0
    min_reputation: float = 0.0
    signed: bool = False
    halt_price_move: float | None = None
    halt_bid_ratio: float | None = None
    halt_rejected_share: float | None = None
    halt_winner_share: float | None = None
    halt_on_error: bool = False
    halt_window: int = 10
    detection: DetectionMode | None = None
    on_flag: OnFlag = "flag"

    @cached_property  # asked per market of batches listing 100,000 markets
    def has_halt_rules(self) -> bool:
        """True when some circuit breaker watches this market."""
        limits = (
            self.halt_price_move,
            self.halt_bid_ratio,
            self.halt_rejected_share,
            self.halt_winner_share,
        )
        return self.halt_on_error or any(limit is not None for limit in limits)

    @property
    def needs_accounts(self) -> bool:
        """True when a bid's eligibility depends on its agent's account."""
        return self.stake > 0 or self.stake_fraction > 0 or self.min_reputation > 0


DEFAULT_POLICY: Final = MarketPolicy()
POLICY_NAMES: Final = tuple(f.name for f in fields(MarketPolicy))


def make_policy(values: dict[str, Any], *, where: str) -> MarketPolicy:
    """Check one market's raw policy settings (``None`` = default) and return them.

    Raises
    ------
    InputError
        Naming ``where`` (the market and source), the field, what was
        expected and what was received.
    """
    check_known(values, POLICY_NAMES, where)
    given = present(values)
    policy = MarketPolicy(
        stake=number(given, "stake", 0.0, where, minimum=0.0),
        stake_fraction=number(given, "stake_fraction", 0.0, where, minimum=0.0),
        min_reputation=number(given, "min_reputation", 0.0, where, minimum=0.0),
        signed=flag(given, "signed", where),
        halt_price_move=optional(given, "halt_price_move", where),
        halt_bid_ratio=optional(given, "halt_bid_ratio", where),
        halt_rejected_share=optional(given, "halt_rejected_share", where),
        halt_winner_share=optional(given, "halt_winner_share", where),
        halt_on_error=flag(given, "halt_on_error", where),
        halt_window=int(number(given, "halt_window", 10, where, minimum=1, whole=True)),
        detection=given.get("detection"),
        on_flag=given.get("on_flag", "flag"),
    )
    expect(
        policy.on_flag in ON_FLAG, where, "on_flag", "'flag', 'exclude' or 'halt'", policy.on_flag
    )
    expect(
        policy.on_flag == "flag" or policy.detection != "off",
        where,
        "on_flag",
        "'flag' in a market whose detection is 'off'",
        policy.on_flag,
    )
    expect(
        policy.detection in (None, *DETECTION_MODES),
        where,
        "detection",
        "'off' or 'flag'",
        policy.detection,
    )
    expect(
        policy.min_reputation <= 1,
        where,
        "min_reputation",
        "a number in [0, 1]",
        policy.min_reputation,
    )
    return policy


def detected_markets(policies: dict[str, MarketPolicy], default: DetectionMode) -> pl.Expr:
    """True for rows whose ``market_id`` has detection on (``default``: unset and unlisted)."""
    on = [m for m, p in policies.items() if (p.detection or default) == "flag"]
    unlisted = ~pl.col("market_id").is_in(pl.Series(list(policies), dtype=pl.String).implode())
    return pl.col("market_id").is_in(pl.Series(on, dtype=pl.String).implode()) | (
        unlisted & pl.lit(default == "flag")
    )
