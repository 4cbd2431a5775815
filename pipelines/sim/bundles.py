"""What every instance generator makes: bids as item numbers, a price and a bidder."""

from __future__ import annotations

import numpy as np

Rng = np.random.Generator
Row = tuple[list[int], float, int | None]
"""A generated bid: item numbers, price, bidder number for XOR bids (else None)."""


def pick(rng: Rng, goods: int, size: int) -> list[int]:
    """``size`` distinct goods of ``0..goods-1``, drawn uniformly, sorted."""
    return sorted(int(g) for g in rng.choice(goods, size=min(size, goods), replace=False))


def xor_rows(bundles: list[tuple[list[int], float]], bidder: int, room: int) -> list[Row]:
    """One bidder's bids: XOR bids when there are several, else one plain bid; at most
    ``room`` of them (the batch's last bidder may be cut short)."""
    who = bidder if len(bundles) > 1 else None
    return [(sorted(items), price, who) for items, price in bundles[:room]]
