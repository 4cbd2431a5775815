"""Per-market settings: the auction format, payment rule and their parameters.

A market not named in the markets table is ``combinatorial`` with
``pay-as-bid`` payments. Each format reads only the parameters it needs:

========================  ==========================================================
format                    parameters
========================  ==========================================================
``combinatorial``         ``payment_rule`` (``pay-as-bid``, ``vcg`` or ``core``), ``reserve``
``procurement``           ``payment_rule``, ``reserve`` (the buyer's value per unit),
                          ``reputation_weight`` (offers scored by reputation)
``sealed-first-price``    ``reserve``, ``units`` (pay-as-bid, k highest win)
``vickrey``               ``reserve``, ``units`` (k highest pay max(k+1-th, reserve))
``english``               ``reserve`` (start), ``increment``, ``max_rounds``
``dutch``                 ``start_price``, ``decrement``, ``reserve`` (floor), ``max_rounds``
``clock``                 ``reserve`` (start), ``increment``, ``max_rounds``
``cca``                   ``reserve`` (start), ``increment``, ``max_rounds``,
                          ``payment_rule`` (``core``, ``vcg`` or ``pay-as-bid``)
========================  ==========================================================

``reserve`` is a price per unit of every item of the market that the items
table does not price itself.

A markets table also holds each market's policy (stakes, minimum
reputation, signed bids, halts): the pipeline's
:class:`econonexus.pipelines.io.market_policy.MarketPolicy`, not read here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any, Final

from econonexus._core.errors import InputError
from econonexus._core.formats import (
    DEFAULT_FORMAT,
    FORMATS,
    PAYMENT_RULES,
    FormatName,
    MarketFormat,
    PaymentRule,
    market_format,
)
from econonexus._core.schemas import MAX_PRICE


@dataclass(frozen=True)
class MarketSettings:
    """How one market clears. See the module docstring for who reads what."""

    format: FormatName = DEFAULT_FORMAT
    payment_rule: PaymentRule = PAYMENT_RULES[0]
    reserve: float = 0.0
    units: int = 1
    increment: float | None = None
    decrement: float | None = None
    start_price: float | None = None
    max_rounds: int = 1000
    reputation_weight: float = 0.0

    @cached_property  # asked per market of batches listing 100,000 markets
    def kind(self) -> MarketFormat:
        """The market's format: how it clears and prices (see :mod:`.formats`)."""
        return market_format(self.format)

    @property
    def summary_rule(self) -> str:
        """The payment rule as the summary records it."""
        return self.payment_rule if self.kind.payment_rules else self.kind.rule

    @property
    def side(self) -> str:
        """The side every bid of this market must take."""
        return self.kind.side


DEFAULT_SETTINGS: Final = MarketSettings()
SETTING_NAMES: Final = tuple(f.name for f in fields(MarketSettings))


def make_settings(values: dict[str, Any], *, where: str) -> MarketSettings:
    """Check one market's raw settings (``None`` = default) and return them.

    Raises
    ------
    InputError
        Naming ``where`` (the market and source), the field, what was
        expected and what was received.
    """
    check_known(values, SETTING_NAMES, where)
    given = present(values)
    fmt = given.get("format", DEFAULT_FORMAT)
    expect(fmt in FORMATS, where, "format", f"one of {list(FORMATS)}", fmt)
    kind = FORMATS[fmt]
    rule = given.get("payment_rule", (kind.payment_rules or ("pay-as-bid",))[0])
    # a format that fixes its rule also accepts the name the summary gives it
    names: list[str] = list(kind.payment_rules) or list(dict.fromkeys(("pay-as-bid", kind.rule)))
    fixed = "" if kind.payment_rules else f" (format {fmt!r} sets its own rule)"
    expect(rule in names, where, "payment_rule", f"one of {names}{fixed}", rule)
    chosen: PaymentRule = rule if rule in kind.payment_rules else PAYMENT_RULES[0]
    settings = replace(
        DEFAULT_SETTINGS,
        format=fmt,
        payment_rule=chosen,
        reserve=number(given, "reserve", 0.0, where, minimum=0.0),
        units=int(number(given, "units", 1, where, minimum=1, whole=True)),
        increment=optional(given, "increment", where),
        decrement=optional(given, "decrement", where),
        start_price=optional(given, "start_price", where),
        max_rounds=int(number(given, "max_rounds", 1000, where, minimum=1, whole=True)),
        reputation_weight=number(given, "reputation_weight", 0.0, where, minimum=0.0),
    )
    expect(
        settings.reputation_weight < 2,
        where,
        "reputation_weight",
        "a number in [0, 2) (the quality factor 1 + w * (reputation - 0.5) must stay > 0)",
        settings.reputation_weight,
    )
    _check_clock(settings, where)
    return settings


def _check_clock(settings: MarketSettings, where: str) -> None:
    kind = settings.kind
    for name in kind.requires:
        given = (
            settings.decrement or settings.increment if name == "step" else getattr(settings, name)
        )
        field = "decrement" if name == "step" else name
        expect(given is not None, where, field, "a number > 0", None)
    if kind.one_unit:
        expect(settings.units == 1, where, "units", f"1 for format {settings.format!r}", None)


def flag(given: dict[str, Any], name: str, where: str) -> bool:
    value = given.get(name, False)
    if isinstance(value, str):
        value = {"true": True, "false": False, "yes": True, "no": False}.get(value.lower(), value)
    expect(isinstance(value, bool | int) and value in (0, 1), where, name, "true or false", value)
    return bool(value)


def check_known(values: dict[str, Any], names: Sequence[str], where: str) -> None:
    """Raise, naming ``where``, if ``values`` holds a setting not in ``names``."""
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise InputError(f"{where}: unknown setting(s) {unknown}; expected {list(names)}")


def present(values: dict[str, Any]) -> dict[str, Any]:
    """The settings given a value (``None`` and ``""`` mean: the default)."""
    return {k: v for k, v in values.items() if not is_missing(v)}


def is_missing(value: Any) -> bool:
    return value is None or value == ""  # NaN is a value (YAML `.nan`), and not a valid one


def number(
    given: dict[str, Any],
    name: str,
    default: float,
    where: str,
    *,
    minimum: float,
    whole: bool = False,
) -> float:
    raw = given.get(name, default)
    try:
        value = math.nan if isinstance(raw, bool) else float(raw)
    except (TypeError, ValueError):
        value = math.nan
    ok = math.isfinite(value) and minimum <= value <= MAX_PRICE
    ok = ok and (not whole or value == int(value))
    kind = "a whole number" if whole else "a finite number"
    expect(ok, where, name, f"{kind} >= {minimum:g} and <= {MAX_PRICE:g}", raw)
    return value


def optional(given: dict[str, Any], name: str, where: str) -> float | None:
    if name not in given:
        return None
    value = number(given, name, 0.0, where, minimum=0.0)
    expect(value > 0, where, name, "a finite number > 0", given[name])
    return value


def expect(ok: bool, where: str, field: str, expected: str, got: Any) -> None:
    if not ok:
        raise InputError(f"{where}: `{field}` expected {expected}, got {got!r}")
