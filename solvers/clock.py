"""English (ascending) and Dutch (descending) clock auctions, many at once.

Each round the auctioneer announces one price per open auction and every
bidder of that auction answers through a :class:`Bidders` object: for the
English clock "I stay in at this price", for the Dutch clock "I take it at
this price". :class:`ProxyBidders` answers from a valuation per bidder (a
bid's ``price`` is the most that bidder pays); the live agents answer from
their own strategies. The bidders are asked for many rounds' prices at once
(:class:`_Lookahead`): the same answers, far fewer calls.

English: the clock starts at the reserve and rises by ``increment`` while two
or more bidders stay in. Activity rule: a bidder who drops out cannot come
back. The last bidder in wins at the current price; if the last ones all
drop in the same round, the one with the largest tie weight wins at the
previous price. Dutch: the clock starts at ``start_price`` and falls by
``decrement`` until someone takes it (the first taker pays its stop price;
simultaneous takers are split by tie weight) or it would fall below the
reserve (unsold). An auction still open after ``max_rounds`` rounds stops
there: English sells to the remaining bidder with the largest tie weight at
the current price, Dutch stays unsold, and the auction is reported as
stopped by the round limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from econonexus.solvers.problem import FloatArray, IntArray
from econonexus.solvers.sealed import TieWeights, pick_one


class Bidders(Protocol):
    """Answers the clock: which of the asked bidder rows accept their prices."""

    def respond(self, rows: IntArray, prices: FloatArray) -> np.ndarray: ...


@dataclass(frozen=True)
class ProxyBidders:
    """Truthful proxies: a bidder accepts any price up to its value."""

    values: FloatArray

    def respond(self, rows: IntArray, prices: FloatArray) -> np.ndarray:
        return np.asarray(self.values[rows] >= prices)


@dataclass(frozen=True)
class ClockAuctions:
    """Bidder rows grouped by auction: auction ``a`` holds rows ``starts[a]`` to the next start."""

    starts: IntArray
    n_rows: int
    tie_weights: TieWeights

    @property
    def group(self) -> IntArray:
        sizes = np.diff(np.append(self.starts, self.n_rows))
        return np.repeat(np.arange(len(self.starts)), sizes)


@dataclass(frozen=True)
class ClockOutcome:
    """Winners and payments per bidder row, rounds per auction, and the price path.

    ``path`` rows are ``(auction, round, price, answers)`` where ``answers``
    counts the bidders who accepted that round's price.
    """

    won: np.ndarray
    payment: FloatArray
    rounds: IntArray
    hit_limit: np.ndarray
    path: tuple[IntArray, IntArray, FloatArray, IntArray]


LOOKAHEAD = 16
"""Clock rounds whose prices the first call to the bidders covers (:class:`_Lookahead`);
an English clock doubles it with each further call, up to :data:`MAX_LOOKAHEAD`."""
MAX_LOOKAHEAD = 256
_MAX_CELLS = 1 << 20  # prices held at once: the lookahead narrows for many bidder rows


class _Lookahead:
    """Asks each bidder row for its next prices at once, then answers the clock's rounds
    from those answers until a row's prices run out.

    A bidder's answer at a price does not depend on the round it is asked in
    (a proxy's value, a live agent's limit for ``(seed, round_no)``), so the
    clock runs as if asked round by round, with one call (for live agents, one
    round trip to their shards) per ``LOOKAHEAD`` rounds, or, when ``grow``,
    per 16, 32, 64, ... rounds. The next prices are made as the clock makes
    them, by repeated addition of ``step`` (``-decrement`` for a Dutch clock),
    so they are the same numbers.
    """

    def __init__(self, bidders: Bidders, n_rows: int, step: float, *, grow: bool) -> None:
        self.bidders, self.step, self.width = bidders, step, LOOKAHEAD
        widest = min(MAX_LOOKAHEAD, _MAX_CELLS // max(n_rows, 1))
        self.widest = max(LOOKAHEAD, widest) if grow else LOOKAHEAD
        self.prices = np.full((n_rows, LOOKAHEAD), np.nan)
        self.answers = np.zeros((n_rows, LOOKAHEAD), dtype=bool)

    def respond(self, rows: IntArray, prices: FloatArray) -> np.ndarray:
        found = self.prices[rows] == prices[:, None]
        known = found.any(axis=1)
        missing = rows[~known]
        if len(missing):
            self._ask_ahead(missing, prices[~known])
        accepts = np.zeros(len(rows), dtype=bool)
        accepts[known] = self.answers[rows[known], found[known].argmax(axis=1)]
        accepts[~known] = self.answers[missing, 0]
        return accepts

    def _ask_ahead(self, rows: IntArray, first: FloatArray) -> None:
        width = self.width
        if width > self.prices.shape[1]:  # every row's ladder gets the new columns
            extra = width - self.prices.shape[1]
            self.prices = np.pad(self.prices, ((0, 0), (0, extra)), constant_values=np.nan)
            self.answers = np.pad(self.answers, ((0, 0), (0, extra)))
        ladder = np.empty((len(rows), width))
        ladder[:, 0] = first
        for k in range(1, width):
            ladder[:, k] = ladder[:, k - 1] + self.step
        said = self.bidders.respond(np.repeat(rows, width), ladder.ravel())
        self.prices[rows], self.answers[rows] = ladder, np.reshape(said, ladder.shape)
        self.width = min(2 * width, self.widest)


def _asked(bidders: Bidders, n_rows: int, step: float, *, grow: bool = False) -> Bidders:
    """The bidders as the clock asks them: proxies directly (an answer costs nothing),
    others through :class:`_Lookahead` (``grow``: ever longer ladders of prices)."""
    if isinstance(bidders, ProxyBidders):
        return bidders
    return _Lookahead(bidders, n_rows, step, grow=grow)


class _Log:
    """Asks the bidders each round and records rounds per auction and the price path."""

    def __init__(self, auctions: ClockAuctions, bidders: Bidders) -> None:
        self.auctions, self.bidders, self.group = auctions, bidders, auctions.group
        self.rounds = np.zeros(len(auctions.starts), dtype=np.int64)
        self.parts: list[tuple[IntArray, int, FloatArray, IntArray]] = []

    def ask(
        self, r: int, askable: np.ndarray, is_open: np.ndarray, price: FloatArray
    ) -> tuple[np.ndarray, IntArray]:
        """Ask the ``askable`` bidders of open auctions; return who accepts and how many."""
        asked = np.flatnonzero(askable & is_open[self.group])
        accepts = np.zeros(self.auctions.n_rows, dtype=bool)
        accepts[asked] = self.bidders.respond(asked, price[self.group[asked]])
        count = np.bincount(self.group, accepts, minlength=len(is_open)).astype(np.int64)
        open_now = np.flatnonzero(is_open)
        self.parts.append((open_now, r, price[open_now], count[open_now]))
        self.rounds[open_now] = r + 1
        return accepts, count

    def outcome(self, won: np.ndarray, payment: FloatArray, hit_limit: np.ndarray) -> ClockOutcome:
        """The outcome of the clocks with this log's rounds and path."""
        parts = self.parts or [(np.zeros(0, np.int64), 0, np.zeros(0), np.zeros(0, np.int64))]
        path = (
            np.concatenate([a for a, _, _, _ in parts]).astype(np.int64),
            np.concatenate([np.full(len(a), r, dtype=np.int64) for a, r, _, _ in parts]),
            np.concatenate([p for _, _, p, _ in parts]).astype(np.float64),
            np.concatenate([n for _, _, _, n in parts]).astype(np.int64),
        )
        return ClockOutcome(won, payment, self.rounds, hit_limit, path)


def english(
    auctions: ClockAuctions,
    bidders: Bidders,
    *,
    start: FloatArray,
    increment: float,
    max_rounds: int,
) -> ClockOutcome:
    """Run ascending clocks from ``start`` (per auction) until one bidder is left."""
    group, n_auctions = auctions.group, len(auctions.starts)
    price = start.astype(np.float64).copy()
    active = np.ones(auctions.n_rows, dtype=bool)
    is_open = np.ones(n_auctions, dtype=bool)
    won, payment = np.zeros(auctions.n_rows, dtype=bool), np.zeros(auctions.n_rows)
    # ladders grow: a bidder's "no" ends its part in an English clock anyway, while a Dutch
    # clock keeps asking every round (a shard lost mid-clock answers again sooner)
    log = _Log(auctions, _asked(bidders, auctions.n_rows, increment, grow=True))
    for r in range(max_rounds):
        stay, count = log.ask(r, active, is_open, price)
        last = is_open & (count == 1)
        _award(won, payment, stay & last[group], price[group])
        dropped_all = is_open & (count == 0) & (r > 0)
        candidates = active & dropped_all[group]
        picked = pick_one(candidates, auctions.starts, group, auctions.tie_weights)
        _award(won, payment, picked, (price - increment)[group])
        is_open &= count >= 2
        active = np.where(is_open[group], stay, active)
        price[is_open] += increment
        if not is_open.any():
            break
    hit_limit = is_open.copy()
    if hit_limit.any():
        price[hit_limit] -= increment
        stayers = active & hit_limit[group]
        picked = pick_one(stayers, auctions.starts, group, auctions.tie_weights)
        _award(won, payment, picked, price[group])
    return log.outcome(won, payment, hit_limit)


def dutch(
    auctions: ClockAuctions,
    bidders: Bidders,
    *,
    start: FloatArray,
    decrement: float,
    floor: FloatArray,
    max_rounds: int,
) -> ClockOutcome:
    """Run descending clocks from ``start`` until a bidder takes the item or the floor is passed."""
    group = auctions.group
    price = start.astype(np.float64).copy()
    is_open = price >= floor
    won, payment = np.zeros(auctions.n_rows, dtype=bool), np.zeros(auctions.n_rows)
    log = _Log(auctions, _asked(bidders, auctions.n_rows, -decrement))
    everyone = np.ones(auctions.n_rows, dtype=bool)
    for r in range(max_rounds):
        if not is_open.any():
            break
        take, count = log.ask(r, everyone, is_open, price)
        picked = pick_one(take, auctions.starts, group, auctions.tie_weights)
        _award(won, payment, picked, price[group])
        is_open &= count == 0
        price[is_open] -= decrement
        is_open &= price >= floor
    return log.outcome(won, payment, is_open.copy())


def _award(won: np.ndarray, payment: FloatArray, rows: np.ndarray, price: FloatArray) -> None:
    """Mark ``rows`` (a mask or positions) as winners paying their auction's ``price``."""
    won[rows] = True
    payment[rows] = price[rows]
