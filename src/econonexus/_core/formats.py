"""The market-format registry: every auction format, once, and what it needs.

Each format is one :class:`MarketFormat` that says which bids it takes
(bundles or one item, buy or sell), how it clears (``mip`` components,
``sealed`` ranking, a ``clock`` per item, or ``discovery`` over all items),
its payment rules, the settings it requires, and whether live agents can
answer its clock. Validation, the batch graph, the market tasks, the
clearing code, the simulation and the agents' strategies ask this registry;
no other module names a format. A new format is one more entry here plus
the clearing code its ``clears`` kind dispatches to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Clears = Literal["mip", "sealed", "clock", "discovery"]
FormatName = Literal[
    "combinatorial",
    "procurement",
    "sealed-first-price",
    "vickrey",
    "english",
    "dutch",
    "clock",
    "cca",
]
PaymentRule = Literal["pay-as-bid", "vcg", "core"]


@dataclass(frozen=True)
class MarketFormat:
    """One auction format: its bids, how it clears and prices, and what it needs."""

    name: FormatName
    clears: Clears
    bundles: bool
    """Bids may name several items (else one item, one unit each)."""
    side: Literal["buy", "sell"] = "buy"
    payment_rules: tuple[PaymentRule, ...] = ()
    """The rules a markets table may choose (first: the default); empty: ``rule`` is fixed."""
    rule: str = "pay-as-bid"
    """The payment rule the summary records when the format fixes it."""
    sealed_rule: Literal["first-price", "second-price"] | None = None
    ascending: bool = True
    """A clock's direction: up from the reserve (English) or down from ``start_price``."""
    live: bool = False
    """Live agents can answer its clock round by round (``english``, ``dutch``), or its
    supplementary round (``cca``): with live bidders it clears on the client."""
    requires: tuple[str, ...] = ()
    """Settings the format cannot clear without (``step`` is ``increment`` or ``decrement``)."""
    one_unit: bool = False
    """Each auction sells one unit (``units`` must be 1)."""
    supplementary: bool = False
    """A clock phase and a supplementary round come before winner determination, which
    then gives each agent at most one package (:mod:`econonexus.solvers.cca`)."""

    @property
    def mip(self) -> bool:
        """Cleared by winner determination over independent components."""
        return self.clears == "mip"


_ALL: Final = (
    MarketFormat("combinatorial", "mip", True, payment_rules=("pay-as-bid", "vcg", "core")),
    MarketFormat(
        "procurement", "mip", True, side="sell", payment_rules=("pay-as-bid", "vcg", "core")
    ),
    MarketFormat("sealed-first-price", "sealed", False, sealed_rule="first-price"),
    MarketFormat("vickrey", "sealed", False, rule="second-price", sealed_rule="second-price"),
    MarketFormat(
        "english",
        "clock",
        False,
        rule="clock-price",
        live=True,
        requires=("increment",),
        one_unit=True,
    ),
    MarketFormat(
        "dutch",
        "clock",
        False,
        rule="clock-price",
        ascending=False,
        live=True,
        requires=("start_price", "step"),
        one_unit=True,
    ),
    MarketFormat("clock", "discovery", True, rule="clock-price", requires=("increment",)),
    MarketFormat(
        "cca",
        "mip",
        True,
        payment_rules=("core", "vcg", "pay-as-bid"),
        requires=("increment",),
        live=True,
        supplementary=True,
    ),
)
FORMATS: Final[dict[str, MarketFormat]] = {f.name: f for f in _ALL}
"""Every format by name, in the order the documentation lists them."""
DEFAULT_FORMAT: Final[FormatName] = "combinatorial"
PAYMENT_RULES: Final[tuple[PaymentRule, ...]] = ("pay-as-bid", "vcg", "core")
PIVOT_RULES: Final = frozenset({"vcg", "core"})
"""Rules priced from the VCG re-solves (``core`` starts from VCG's payments)."""


def market_format(name: str) -> MarketFormat:
    """The format called ``name`` (a validated setting, so it exists)."""
    return FORMATS[name]


def names(*, bundles: bool | None = None, side: str | None = None) -> list[str]:
    """Format names, those taking bundles (or single items) and of one side if asked."""
    return [
        f.name
        for f in _ALL
        if (bundles is None or f.bundles == bundles) and (side is None or f.side == side)
    ]
