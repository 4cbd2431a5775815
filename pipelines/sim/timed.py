"""CATS's ``matching`` and ``scheduling`` distributions: goods are time slots.

- **matching** (airport take-off and landing slots, the FAA study behind
  CATS): four airports (Chicago O'Hare, Washington National, JFK and
  LaGuardia, which have no route between them) each have ``m / 4`` time
  slots (good ``(t - 1) * 4 + airport``) and a landing fee uniform in
  [0, 5]. A bidder flies between two airports; its flight takes slots in
  proportion to the distance (the longest route ``min(10, T - 1)`` slots),
  wanted from a random start. It bids, XOR, on every take-off from 1 slot
  early to 2 late and every landing up to 2 late, each worth its fee sum
  times a private factor (uniform in [0.5, 1.5]) times ``0.9 ** delay``
  (slots beyond the flight's length) times ``0.75 ** late`` (slots after the
  wanted landing). CATS 2.1 takes the lateness as ``min(late, 0)``, which
  makes landing early worth more; the paper's ``max`` is used here.
- **scheduling** (a factory's time slots): a job needs ``l`` consecutive
  slots (``l`` uniform in 1..10) by a deadline ``d1``; it bids, XOR, on every
  run of ``l`` slots ending by ``d1``, worth ``l ** 1.2`` times a private
  factor (uniform in [0.5, 1.5]), then with probability 0.7 each on runs
  ending by a later deadline ``d``, worth ``d1 / d`` of that.
"""

from __future__ import annotations

import numpy as np

from econonexus.pipelines.sim.bundles import Rng, Row, xor_rows

AIRPORTS = np.array(
    [[-87.75, 41.98333333], [-77.03333333, 38.85], [-73.783333, 40.65], [-73.8666666, 40.76666666]]
)
NO_ROUTE = {(2, 3), (3, 2)}
MAX_FEE = 5.0
LONGEST_FLIGHT = 10
EARLY_TAKEOFF, LATE_TAKEOFF, LATE_LANDING = 1, 2, 2
DEVIATION = 0.5
DELAY_FACTOR = 0.9
LATE_FACTOR = 0.75
MAX_JOB = 10
ANOTHER_DEADLINE = 0.7
ADDITIVITY = 0.2


def matching(rng: Rng, goods: int, bids: int) -> list[Row]:
    airports = len(AIRPORTS)
    times = max(2, goods // airports)
    fees = rng.random(airports) * MAX_FEE
    distance = np.linalg.norm(AIRPORTS[:, None, :] - AIRPORTS[None, :, :], axis=2)
    routes = [(a, b) for a in range(airports) for b in range(airports) if a != b]
    routes = [r for r in routes if r not in NO_ROUTE]
    longest = max(distance[a, b] for a, b in routes)
    out: list[Row] = []
    bidder = 0
    while len(out) < bids:
        a, b = routes[int(rng.integers(len(routes)))]
        span = round(min(LONGEST_FLIGHT, times - 1) * distance[a, b] / longest)
        start = 1 if span >= times else 1 + int(rng.integers(times - span))
        factor = (1 - DEVIATION + 2 * DEVIATION * rng.random()) * (fees[a] + fees[b])
        flights = []
        for takeoff in range(max(1, start - EARLY_TAKEOFF), min(times, start + LATE_TAKEOFF) + 1):
            for land in range(takeoff + span, min(start + span + LATE_LANDING, times) + 1):
                delay = max(land - takeoff - span, 0)
                late = max(land - (start + span), 0)
                worth = factor * DELAY_FACTOR**delay * LATE_FACTOR**late
                flights.append(([(takeoff - 1) * airports + a, (land - 1) * airports + b], worth))
        if flights:
            out += xor_rows(flights, bidder, bids - len(out))
            bidder += 1
    return out


def scheduling(rng: Rng, goods: int, bids: int) -> list[Row]:
    out: list[Row] = []
    bidder = 0
    while len(out) < bids:
        length = 1 + int(rng.integers(min(MAX_JOB, goods)))
        first = length - 1 + int(rng.integers(goods - length + 1))
        factor = (1 - DEVIATION + 2 * DEVIATION * rng.random()) * length ** (1 + ADDITIVITY)
        runs: list[tuple[list[int], float]] = []
        covered, deadline = -1, first
        while True:
            for start in range(max(0, covered - length + 2), deadline - length + 2):
                worth = factor * (first + 1) / (deadline + 1)
                runs.append((list(range(start, start + length)), worth))
            covered = deadline
            if covered == goods - 1 or rng.random() > ANOTHER_DEADLINE:
                break
            deadline = covered + 1 + int(rng.integers(goods - covered - 1))
        out += xor_rows(runs, bidder, bids - len(out))
        bidder += 1
    return out
