"""The legacy distributions of the CATS suite, bundle sizes and prices drawn independently.

As the CATS generator (v2.1) makes them with its default parameters:

===  ==========================================  ======================================
L1   size uniform in 1..m                        price uniform in [0, 1000]
L2   size uniform in 1..m                        price uniform in [n, 1000 n]
L3   size 3                                      price uniform in [0, 1000]
L4   size: 1, then +1 while a draw < 0.55        price uniform in [n, 1000 n]
L5   size round(normal(4, 1)) in 1..m            price normal(16, 3)
L6   size 1 + floor of an exponential (q = 5)    price uniform in [n, 1000 n]
     truncated to m
L7   each good with probability 0.2 (size >= 1)  price uniform in [n, 1000 n]
L8   size 3                                      quadratic: see :func:`_l8`
===  ==========================================  ======================================

(m goods, n the bundle's size; goods are drawn uniformly without repeats.)
CATS 2.1 leaves L8's price at 0 ("needs a concept of bidders"); here each
bidder has a value ``v_g`` per good and a pairwise complementarity ``w_gh``
(both uniform in [0, 1], ``w`` symmetric) and bids ``1000 * (sum of v_g +
sum over pairs of w_gh)`` on bundles of 3, a quadratic valuation.

``weighted-random``, ``uniform`` and ``decay`` are this project's first
variants of L2-L4 (Sandholm's: bundles up to m / 20, prices per unit), kept
as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from econonexus.pipelines.sim.bundles import Rng, Row, pick

HIGH = 1000.0
DECAY_ALPHA = 0.55
NORMAL_GOODS = (4.0, 1.0)
NORMAL_PRICE = (16.0, 3.0)
EXPONENTIAL_Q = 5.0
BINOMIAL_P = 0.2
CONSTANT_GOODS = 3
SizeDraw = Callable[[], int]
PriceDraw = Callable[[int], float]


def weighted_random(rng: Rng, goods: int, bids: int) -> list[Row]:
    max_bundle = max(2, goods // 20)
    out: list[Row] = []
    for _ in range(bids):
        size = int(rng.integers(1, max_bundle + 1))
        out.append((pick(rng, goods, size), float(rng.uniform(0, size)), None))
    return out


def uniform(rng: Rng, goods: int, bids: int) -> list[Row]:
    return [(pick(rng, goods, 3), float(rng.uniform(0, 1)), None) for _ in range(bids)]


def decay(rng: Rng, goods: int, bids: int) -> list[Row]:
    out: list[Row] = []
    for _ in range(bids):
        size = _decay_size(rng, goods, start=1)
        out.append((pick(rng, goods, size), float(rng.uniform(0, size)), None))
    return out


def l1(rng: Rng, goods: int, bids: int) -> list[Row]:
    return _legacy(rng, goods, bids, lambda: int(rng.integers(1, goods + 1)), _fixed(rng))


def l2(rng: Rng, goods: int, bids: int) -> list[Row]:
    return _legacy(rng, goods, bids, lambda: int(rng.integers(1, goods + 1)), _linear(rng))


def l3(rng: Rng, goods: int, bids: int) -> list[Row]:
    return _legacy(rng, goods, bids, lambda: min(CONSTANT_GOODS, goods), _fixed(rng))


def l4(rng: Rng, goods: int, bids: int) -> list[Row]:
    return _legacy(rng, goods, bids, lambda: _decay_size(rng, goods, start=0), _linear(rng))


def l5(rng: Rng, goods: int, bids: int) -> list[Row]:
    def size() -> int:
        while not 1 <= (n := round(rng.normal(*NORMAL_GOODS))) <= goods:
            pass
        return int(n)

    return _legacy(rng, goods, bids, size, lambda n: float(rng.normal(*NORMAL_PRICE)))


def l6(rng: Rng, goods: int, bids: int) -> list[Row]:
    q = EXPONENTIAL_Q
    tail = 1.0 - math.exp(-goods / q)  # truncates the exponential at m goods

    def size() -> int:
        return 1 + math.floor(-q * math.log(1.0 - tail * rng.random()))

    return _legacy(rng, goods, bids, size, _linear(rng))


def l7(rng: Rng, goods: int, bids: int) -> list[Row]:
    def size() -> int:
        while (n := int(rng.binomial(goods, BINOMIAL_P))) == 0:
            pass
        return n

    return _legacy(rng, goods, bids, size, _linear(rng))


def l8(rng: Rng, goods: int, bids: int) -> list[Row]:
    """Bundles of 3, each bidder's price a quadratic form over the bundle (module docstring)."""
    out: list[Row] = []
    bidder = 0
    while len(out) < bids:
        values = rng.random(goods)
        pairs = np.triu(rng.random((goods, goods)), 1)
        pairs = pairs + pairs.T
        for _ in range(min(int(rng.integers(1, 6)), bids - len(out))):
            items = pick(rng, goods, CONSTANT_GOODS)
            inside = np.ix_(items, items)
            price = HIGH * (values[items].sum() + pairs[inside].sum() / 2)
            out.append((items, float(price), bidder))
        bidder += 1
    return out


def _legacy(rng: Rng, goods: int, bids: int, size: SizeDraw, price: PriceDraw) -> list[Row]:
    """``bids`` single bids: a size, that many goods, a price for that size."""
    out: list[Row] = []
    for _ in range(bids):
        n = size()
        out.append((pick(rng, goods, n), price(n), None))
    return out


def _fixed(rng: Rng) -> PriceDraw:
    return lambda n: float(rng.uniform(0.0, HIGH))


def _linear(rng: Rng) -> PriceDraw:
    return lambda n: float(rng.uniform(n, HIGH * n))


def _decay_size(rng: Rng, goods: int, *, start: int) -> int:
    """1, then one more good while a uniform draw stays under the decay ``alpha``
    (``start`` 0: CATS's L4 loop, which redraws an empty bundle)."""
    while True:
        size = start
        while size < goods and rng.random() < DECAY_ALPHA:
            size += 1
        if size:
            return size
