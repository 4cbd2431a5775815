"""One agent's state as a pure state machine: ``apply(state, event) -> state``.

No I/O and no clock: the same events in the same order give the same state,
which is what snapshots, migration, recovery and replay rely on.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from econonexus._core.errors import AgentStateError
from econonexus.agents.economics import OUTCOMES, beta_reputation, updated_evidence
from econonexus.agents.events import Event
from econonexus.agents.learning import adaptive_update, initial_weights

StrategyName = Literal["truthful", "fixed", "adaptive", "random"]
STRATEGIES: Final[tuple[StrategyName, ...]] = ("truthful", "fixed", "adaptive", "random")
INITIAL_REPUTATION: Final = 0.5
_DERIVED: Final = frozenset(
    {
        "agent_id",
        "last_seq",
        "reputation",
        "deposited",
        "withdrawn",
        "owed",
        "paid",
        "bonuses",
        "slashed",
        "due",
        "earned",
    }
)

Valuation = tuple[str, str, float]
"""``(market_id, item_id, value)``: what the agent would pay at most for one unit."""
Capability = tuple[str, float, int]
"""``(capability, unit_cost, capacity)``: a task kind the agent performs, what one unit
costs it, and how many units it takes on per delegation round."""


@dataclass(frozen=True, slots=True)
class AgentState:
    """Everything one agent carries from batch to batch.

    ``shade`` is the fixed strategy's factor and the random strategy's lower
    bound (it bids ``U(shade, 1) * value``); ``weights`` are the adaptive
    strategy's weights over :data:`~econonexus.agents.learning.SHADING_GRID`.
    ``synergy`` raises a bundle's value: ``sum(values) * (1 + synergy)`` for
    two or more items. ``rep_alpha`` and ``rep_beta`` are the reputation's
    evidence (:mod:`econonexus.agents.economics`). ``owed`` is what the
    agent's won bids will pay at settlement. ``capabilities`` are what the agent sells
    (:data:`Capability`); ``due`` is what its won sell offers will be paid at
    settlement and ``earned`` what they were paid. ``deposited``,
    ``withdrawn``, ``paid``, ``earned``, ``bonuses`` and ``slashed`` count money in and
    out, so that ``balance + free_stake + locked_stake == deposited - withdrawn -
    paid + earned + bonuses - slashed`` always (:func:`conservation_gap`). ``last_seq``
    is the last applied event.
    """

    agent_id: str
    balance: float = 0.0
    free_stake: float = 0.0
    locked_stake: float = 0.0
    reputation: float = INITIAL_REPUTATION
    rep_alpha: float = 0.0
    rep_beta: float = 0.0
    banned: bool = False
    strategy: StrategyName = "truthful"
    shade: float = 1.0
    weights: tuple[float, ...] = ()
    valuations: tuple[Valuation, ...] = ()
    synergy: float = 0.0
    bids: int = 0
    wins: int = 0
    losses: int = 0
    owed: float = 0.0
    paid: float = 0.0
    deposited: float = 0.0
    withdrawn: float = 0.0
    bonuses: float = 0.0
    slashed: float = 0.0
    capabilities: tuple[Capability, ...] = ()
    due: float = 0.0
    earned: float = 0.0
    last_seq: int = -1

    def value_of(self, market_id: str, items: Iterable[str]) -> float:
        """The agent's value of a bundle of ``items`` in ``market_id`` (0 if it values none)."""
        wanted = list(items)
        values = {(m, i): v for m, i, v in self.valuations if m == market_id}
        total = sum(values.get((market_id, item), 0.0) for item in wanted)
        return total * (1.0 + self.synergy) if len(wanted) > 1 else total

    def unit_cost(self, capability: str) -> float | None:
        """What one unit of ``capability`` costs the agent, or ``None`` if it cannot do it."""
        return next((c for name, c, _ in self.capabilities if name == capability), None)


_ROUNDING = 1e-9  # relative slack for float sums of stakes (a release of all that is locked)


def conservation_gap(state: AgentState) -> float:
    """Holdings minus net inflows; 0 (up to rounding) for every reachable state."""
    holdings = state.balance + state.free_stake + state.locked_stake
    return holdings - (
        state.deposited
        - state.withdrawn
        - state.paid
        + state.earned
        + state.bonuses
        - state.slashed
    )


def apply(state: AgentState | None, event: Event) -> AgentState:
    """Return the state after ``event``; ``state`` is ``None`` only for ``created``.

    Raises
    ------
    AgentStateError
        The event does not fit the state: an unknown kind, an amount that is
        not a finite number >= 0, more stake than the agent holds, or an event
        for another agent.
    """
    if event.kind == "created":
        if state is not None:
            raise _error(event, "agent already exists")
        return dataclasses.replace(_created(event), last_seq=event.seq)
    if state is None:
        raise _error(event, "no such agent (expected a 'created' event first)")
    if state.agent_id != event.agent_id:
        raise _error(event, f"applied to agent {state.agent_id!r}")
    handler = _HANDLERS.get(event.kind)
    if handler is None:
        raise _error(event, f"unknown kind; expected one of {sorted(_HANDLERS)} or 'created'")
    return dataclasses.replace(handler(state, event), last_seq=event.seq)


def _created(event: Event) -> AgentState:
    fields = json.loads(event.payload or "{}")
    fields["valuations"] = tuple(
        (str(m), str(i), float(v)) for m, i, v in fields.get("valuations", ())
    )
    fields.setdefault("strategy", "truthful")
    if fields["strategy"] not in STRATEGIES:
        raise _error(event, f"`strategy`: expected one of {STRATEGIES}, got {fields['strategy']!r}")
    if fields["strategy"] == "adaptive" and not fields.get("weights"):
        fields["weights"] = initial_weights()
    fields["weights"] = tuple(float(w) for w in fields.get("weights", ()))
    fields["capabilities"] = _capabilities(event, fields.get("capabilities") or ())
    known = {f.name for f in dataclasses.fields(AgentState)} - _DERIVED
    unknown = set(fields) - known
    if unknown:
        raise _error(event, f"unknown fields {sorted(unknown)}; expected some of {sorted(known)}")
    state = AgentState(agent_id=event.agent_id, **fields)
    inflow = state.balance + state.free_stake + state.locked_stake
    return dataclasses.replace(
        state, deposited=inflow, reputation=beta_reputation(state.rep_alpha, state.rep_beta)
    )


def _capabilities(event: Event, given: Iterable[Any]) -> tuple[Capability, ...]:
    """``[capability, unit_cost, capacity]`` lists or dicts as checked :data:`Capability`
    tuples, sorted by name."""
    found: dict[str, Capability] = {}
    for entry in given:
        row = entry if isinstance(entry, dict) else dict(zip(_CAPABILITY, entry, strict=False))
        name, cost, capacity = (row.get(k) for k in _CAPABILITY)
        if not isinstance(name, str) or not name or name in found:
            raise _error(event, f"`capabilities`: expected distinct names, got {name!r}")
        if not isinstance(cost, int | float) or not math.isfinite(cost) or cost < 0:
            raise _error(event, f"`capabilities` {name!r}: `cost` expected >= 0, got {cost!r}")
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise _error(
                event,
                f"`capabilities` {name!r}: `capacity` expected a whole number >= 1, "
                f"got {capacity!r}",
            )
        found[name] = (name, float(cost), capacity)
    return tuple(found[k] for k in sorted(found))


_CAPABILITY: Final = ("capability", "cost", "capacity")


def _amount(event: Event) -> float:
    amount = event.amount
    if amount is None or not math.isfinite(amount) or amount < 0:
        raise _error(event, f"`amount`: expected a finite number >= 0, got {amount!r}")
    return amount


def _deposited(s: AgentState, e: Event) -> AgentState:
    amount = _amount(e)
    return dataclasses.replace(s, balance=s.balance + amount, deposited=s.deposited + amount)


def _withdrawn(s: AgentState, e: Event) -> AgentState:
    amount = _covered(s, e)
    return dataclasses.replace(s, balance=s.balance - amount, withdrawn=s.withdrawn + amount)


def _covered(s: AgentState, e: Event) -> float:
    amount = _amount(e)
    if amount > s.balance:
        raise _error(e, f"`amount` {amount} > balance {s.balance}")
    return amount


def _stake_deposited(s: AgentState, e: Event) -> AgentState:
    amount = _covered(s, e)
    return dataclasses.replace(s, balance=s.balance - amount, free_stake=s.free_stake + amount)


def _stake_locked(s: AgentState, e: Event) -> AgentState:
    amount = _amount(e)
    if amount > s.free_stake:
        raise _error(e, f"`amount` {amount} > free stake {s.free_stake}")
    return dataclasses.replace(
        s, free_stake=s.free_stake - amount, locked_stake=s.locked_stake + amount
    )


def _stake_released(s: AgentState, e: Event) -> AgentState:
    amount = _locked_amount(s, e)
    return dataclasses.replace(
        s, free_stake=s.free_stake + amount, locked_stake=s.locked_stake - amount
    )


def _stake_slashed(s: AgentState, e: Event) -> AgentState:
    amount = _locked_amount(s, e)
    return dataclasses.replace(s, locked_stake=s.locked_stake - amount, slashed=s.slashed + amount)


def _bonus_paid(s: AgentState, e: Event) -> AgentState:
    amount = _amount(e)
    return dataclasses.replace(s, balance=s.balance + amount, bonuses=s.bonuses + amount)


def _locked_amount(s: AgentState, e: Event) -> float:
    amount = _amount(e)
    # locked stake is a float sum of the locks: a release of all of it may exceed it by rounding
    if amount > s.locked_stake + _ROUNDING * (1 + s.locked_stake):
        raise _error(e, f"`amount` {amount} > locked stake {s.locked_stake}")
    return min(amount, s.locked_stake)


def _settled(s: AgentState, e: Event) -> AgentState:
    """One winning bid settled: its payment (``price``) collected, stake ``amount`` released
    or slashed, bonus, reputation, ban."""
    terms: dict[str, Any] = json.loads(e.payload or "{}")
    outcome = terms.get("outcome")
    if outcome not in OUTCOMES:
        raise _error(e, f"`outcome`: expected one of {OUTCOMES}, got {outcome!r}")
    stake = _locked_amount(s, e)
    slash, bonus = float(terms.get("slash", 0.0)), float(terms.get("bonus", 0.0))
    slash = min(slash, stake) if slash <= stake + _ROUNDING * (1 + stake) else slash
    if not 0 <= slash <= stake or not math.isfinite(bonus) or bonus < 0:
        raise _error(
            e, f"expected 0 <= slash <= stake {stake} and bonus >= 0, got {slash}, {bonus}"
        )
    payment = float(e.price or 0.0)
    sells = terms.get("side") == "sell"  # the agent is paid, not paying
    limit, name = (s.due, "due") if sells else (s.owed, "owed")
    if not 0 <= payment <= limit + 1e-9:
        raise _error(
            e, f"`price` (the payment): expected 0 <= payment <= {name} {limit}, got {payment}"
        )
    alpha, beta = updated_evidence(s.rep_alpha, s.rep_beta, outcome, float(terms["decay"]))
    free = s.free_stake + stake - slash
    forfeit = free if terms.get("slash_free") else 0.0  # economics.byzantine-slash: all
    paid_out, paid_in = (0.0, payment) if sells else (payment, 0.0)
    return dataclasses.replace(
        s,
        owed=max(0.0, s.owed - paid_out),
        paid=s.paid + paid_out,
        due=max(0.0, s.due - paid_in),
        earned=s.earned + paid_in,
        locked_stake=s.locked_stake - stake,
        free_stake=free - forfeit,
        slashed=s.slashed + slash + forfeit,
        balance=s.balance - paid_out + paid_in + bonus,
        bonuses=s.bonuses + bonus,
        rep_alpha=alpha,
        rep_beta=beta,
        reputation=beta_reputation(alpha, beta),
        banned=s.banned or outcome == "byzantine",
    )


def _banned(s: AgentState, e: Event) -> AgentState:
    return dataclasses.replace(s, banned=True)


def _strategy_set(s: AgentState, e: Event) -> AgentState:
    fields: dict[str, Any] = json.loads(e.payload or "{}")
    name = fields.get("strategy", s.strategy)
    if name not in STRATEGIES:
        raise _error(e, f"`strategy`: expected one of {STRATEGIES}, got {name!r}")
    weights = initial_weights() if name == "adaptive" else ()
    return dataclasses.replace(
        s, strategy=name, shade=float(fields.get("shade", s.shade)), weights=weights
    )


def _bid_won(s: AgentState, e: Event) -> AgentState:
    payment = _amount(e)
    sells = _sell_units(e) is not None
    return dataclasses.replace(
        s,
        weights=learned_weights(s, e, payment, s.weights),
        owed=s.owed + (0.0 if sells else payment),
        due=s.due + (payment if sells else 0.0),
        bids=s.bids + 1,
        wins=s.wins + 1,
    )


def _bid_lost(s: AgentState, e: Event) -> AgentState:
    weights = learned_weights(s, e, None, s.weights)
    return dataclasses.replace(s, weights=weights, bids=s.bids + 1, losses=s.losses + 1)


def _sell_units(e: Event) -> int | None:
    """The units of a sell offer's outcome (payload ``{"side": "sell", "units": n}``), or
    ``None`` for a buy bid."""
    terms: dict[str, Any] = json.loads(e.payload or "{}")
    return int(terms.get("units", 1)) if terms.get("side") == "sell" else None


def learned_weights(
    s: AgentState, e: Event, payment: float | None, weights: tuple[float, ...]
) -> tuple[float, ...]:
    """The adaptive strategy's ``weights`` after one outcome of the agent's own bid (won
    with ``payment``, or lost: ``None``); other strategies keep theirs.

    A buyer played ``price / value`` and earned ``(value - payment) / value``; a
    seller (a sell offer: the market is named by the capability) played
    ``cost / ask`` and earned ``(payment - cost) / payment``.
    """
    if s.strategy != "adaptive" or e.price is None or e.market_id is None:
        return weights
    units = _sell_units(e)
    if units is None:
        value = s.value_of(e.market_id, e.items or ())
        if value <= 0:
            return weights
        reward = 0.0 if payment is None else max(0.0, (value - payment) / value)
        return adaptive_update(weights, e.price / value, reward)
    cost = s.unit_cost(e.market_id)
    if cost is None or cost <= 0 or not e.price:
        return weights
    cost *= units
    reward = 0.0 if not payment else max(0.0, (payment - cost) / payment)
    return adaptive_update(weights, cost / e.price, reward)


def _capabilities_set(s: AgentState, e: Event) -> AgentState:
    """New capabilities (payload ``{"capabilities": [...]}``) replace the old ones."""
    given = json.loads(e.payload or "{}").get("capabilities") or ()
    return dataclasses.replace(s, capabilities=_capabilities(e, given))


def _flagged(s: AgentState, e: Event) -> AgentState:
    """Flagged by the manipulation detector: ``weight`` (payload) of negative evidence."""
    weight = float(json.loads(e.payload or "{}").get("weight", 0.0))
    if not math.isfinite(weight) or weight < 0:
        raise _error(e, f"`weight`: expected a finite number >= 0, got {weight}")
    beta = s.rep_beta + weight
    return dataclasses.replace(s, rep_beta=beta, reputation=beta_reputation(s.rep_alpha, beta))


def _error(event: Event, problem: str) -> AgentStateError:
    return AgentStateError(f"agent {event.agent_id!r} event {event.seq} ({event.kind}): {problem}")


_HANDLERS: Final = {
    "deposited": _deposited,
    "withdrawn": _withdrawn,
    "stake_deposited": _stake_deposited,
    "stake_locked": _stake_locked,
    "stake_released": _stake_released,
    "stake_slashed": _stake_slashed,
    "bonus_paid": _bonus_paid,
    "settled": _settled,
    "banned": _banned,
    "strategy_set": _strategy_set,
    "bid_won": _bid_won,
    "bid_lost": _bid_lost,
    "flagged": _flagged,
    "capabilities_set": _capabilities_set,
}
