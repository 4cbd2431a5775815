"""CATS's ``regions`` and ``arbitrary`` distributions: goods that belong together.

Each good has a common value ``c`` (uniform in [1, 100]). Each bidder draws
private values ``p`` per good (normal(0, 30), or uniform in [-50, 50]: one of
the two per instance, at random, as CATS chooses) and from them a weight per
good ``pn`` (``p`` shifted to be non-negative, normalized). Its bundle starts
with one good drawn by ``pn`` and grows, while a uniform draw stays at or
under 0.9, by a good drawn by how strongly the goods held draw it:

- **regions**: goods are the cells of a ``k x k`` grid (``k = floor(sqrt(m))``)
  joined to their right and lower neighbours (each link dropped with
  probability 0.1) and, with probability 0.2 per cell, across one diagonal; a
  held good draws its neighbours by their ``pn``, and with probability 0.05
  the next good is any good at all (a jump);
- **arbitrary**: every pair of goods has a closeness ``d`` (uniform in (0, 1]);
  a held good draws every other by ``pn * d``.

A bundle is worth the sum of ``p + c`` over its goods plus ``n ** 1.2`` (n
goods; additivity 0.2); a bidder whose bundle is worth nothing draws again.
It then makes, from each of its goods, a substitute bundle of the same size
grown the same way, and keeps those worth at least 0 and at most 1.5 times
its bundle, whose common value is at least half its own, and which differ
from it: its bundle and up to 5 of them, best first, as XOR bids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from econonexus.pipelines.sim.bundles import Rng, Row, xor_rows

MAX_GOOD_VALUE = 100.0
MAX_SUBSTITUTES = 5
REMOVE_NEIGHBOUR = 0.1
ADD_DIAGONAL = 0.2
ADDITIONAL_LOCATION = 0.9
JUMP = 0.05
ADDITIVITY = 0.2
DEVIATION = 0.5
BUDGET_FACTOR = 1.5
RESALE_FACTOR = 0.5
NORMAL_VALUE = (0.0, 30.0)


@dataclass
class _Space:
    """The goods of an instance: how strongly each draws each other, their common values,
    the jump probability, and whether private values are normal."""

    draw: np.ndarray
    common: np.ndarray
    jump: float
    normal: bool
    lowest: float = math.inf  # the lowest normal private value drawn so far (CATS's minP)


def regions(rng: Rng, goods: int, bids: int) -> list[Row]:
    side = max(2, math.isqrt(goods))
    space = _Space(_grid(rng, side), _common(rng, side * side), JUMP, bool(rng.random() < 0.5))
    return _bidders(rng, space, bids)


def arbitrary(rng: Rng, goods: int, bids: int) -> list[Row]:
    closeness = np.triu(1.0 - rng.random((goods, goods)), 1)  # in (0, 1]
    closeness = closeness + closeness.T
    space = _Space(closeness, _common(rng, goods), 0.0, bool(rng.random() < 0.5))
    return _bidders(rng, space, bids)


def _common(rng: Rng, goods: int) -> np.ndarray:
    return 1.0 + rng.random(goods) * (MAX_GOOD_VALUE - 1.0)


def _grid(rng: Rng, side: int) -> np.ndarray:
    """The adjacency of a ``side x side`` grid, redrawn until no cell is alone."""
    while True:
        links = np.zeros((side * side, side * side))
        for i in range(side):
            for j in range(side):
                if rng.random() > REMOVE_NEIGHBOUR:
                    _join(links, side, (i, j), (i + 1, j))
                if rng.random() > REMOVE_NEIGHBOUR:
                    _join(links, side, (i, j), (i, j + 1))
                if rng.random() < ADD_DIAGONAL:
                    if rng.random() < 0.5:
                        _join(links, side, (i, j), (i + 1, j + 1))
                    else:
                        _join(links, side, (i + 1, j), (i, j + 1))
        if links.sum(axis=1).all():
            return links


def _join(links: np.ndarray, side: int, a: tuple[int, int], b: tuple[int, int]) -> None:
    """Link cells ``a`` and ``b`` of the grid when both are on it."""
    if all(0 <= k < side for k in (*a, *b)):
        x, y = a[0] * side + a[1], b[0] * side + b[1]
        links[x, y] = links[y, x] = 1.0


def _bidders(rng: Rng, space: _Space, bids: int) -> list[Row]:
    out: list[Row] = []
    bidder = 0
    while len(out) < bids:
        out += xor_rows(_bidder(rng, space), bidder, bids - len(out))
        bidder += 1
    return out


def _bidder(rng: Rng, space: _Space) -> list[tuple[list[int], float]]:
    """One bidder's bundle and its substitutes (module docstring), best first."""
    while True:
        private, weight = _private(rng, space)
        bundle = [int(rng.choice(len(weight), p=weight))]
        while rng.random() <= ADDITIONAL_LOCATION:
            _grow(rng, space, weight, bundle)
        value = _value(space, private, bundle)
        if value > 0:
            break
    budget, resale = BUDGET_FACTOR * value, RESALE_FACTOR * space.common[bundle].sum()
    substitutes = []
    for good in bundle:
        other = [good]
        while len(other) < len(bundle) and _grow(rng, space, weight, other):
            pass
        substitutes.append((sorted(other), _value(space, private, other)))
    substitutes.sort(key=lambda s: -s[1])
    kept: list[tuple[list[int], float]] = []
    seen = [sorted(bundle)]
    for items, worth in substitutes:
        fits = 0 <= worth <= budget and space.common[items].sum() >= resale
        if fits and items not in seen and len(kept) < MAX_SUBSTITUTES:
            kept.append((items, worth))
        seen.append(items)
    return [(sorted(bundle), value), *kept]


def _private(rng: Rng, space: _Space) -> tuple[np.ndarray, np.ndarray]:
    """A bidder's private value per good and its weight per good (summing to 1)."""
    n = len(space.common)
    if space.normal:
        private = rng.normal(*NORMAL_VALUE, size=n)
        space.lowest = min(space.lowest, float(private.min()))
        shifted = private - space.lowest
    else:
        spread = DEVIATION * MAX_GOOD_VALUE
        private = rng.uniform(-spread, spread, size=n)
        shifted = private + spread
    total = shifted.sum()
    weight = shifted / total if total > 0 else np.full(n, 1.0 / n)
    return private, weight


def _grow(rng: Rng, space: _Space, weight: np.ndarray, bundle: list[int]) -> bool:
    """Add one good to ``bundle``: a jump, or one the goods held draw; False if none can."""
    n = len(weight)
    if len(bundle) >= n:
        return False
    if rng.random() < space.jump:
        free = np.setdiff1d(np.arange(n), bundle)
        bundle.append(int(rng.choice(free)))
        return True
    pull = space.draw[bundle].sum(axis=0) * weight
    pull[bundle] = 0.0
    total = pull.sum()
    if total <= 0:
        return False
    bundle.append(int(rng.choice(n, p=pull / total)))
    return True


def _value(space: _Space, private: np.ndarray, bundle: list[int]) -> float:
    held = np.asarray(bundle)
    return float((private[held] + space.common[held]).sum() + len(bundle) ** (1 + ADDITIVITY))
