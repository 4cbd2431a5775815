"""Seeded generators of combinatorial-auction instances: every family of the CATS suite.

The CATS suite (Leyton-Brown, Pearson and Shoham, 2000) has five
distributions from economic settings, ``arbitrary`` and ``regions``
(:mod:`.spatial`), ``matching`` and ``scheduling`` (:mod:`.timed`) and
``paths`` (here), and the legacy distributions ``L1``-``L8`` of Sandholm,
Fujishima et al. and Hoos and Boutilier (:mod:`.legacy`), with the
generator's default parameters. ``weighted-random``, ``uniform`` and
``decay`` are this project's first variants of L2-L4 (:mod:`.legacy`).
A bidder's several bids are XOR bids (``xor_group``), which the CATS writer
joins by one dummy good per bidder, as CATS does.

The CATS ``paths`` distribution ("paths in space"): cities on the unit
square joined to their nearest neighbours; each edge is a good; a bidder
wants to connect two cities and bids XOR on several short paths, valuing a
path by the straight-line distance times a private markup, discounted by the
path's detour. The same ``seed`` always gives the same instance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from econonexus._core.errors import InputError
from econonexus.pipelines.sim import legacy, spatial, timed
from econonexus.pipelines.sim.bundles import Rng, Row

Distribution = Literal[
    "weighted-random",
    "uniform",
    "decay",
    "paths",
    "arbitrary",
    "matching",
    "regions",
    "scheduling",
    "L1",
    "L2",
    "L3",
    "L4",
    "L5",
    "L6",
    "L7",
    "L8",
]
DISTRIBUTIONS: tuple[Distribution, ...] = get_args(Distribution)


def generate(
    distribution: Distribution, *, goods: int, bids: int, seed: int, market_id: str = "default"
) -> pl.DataFrame:
    """Return a generated instance as bids-schema rows (``xor_group`` for XOR bids).

    Raises
    ------
    InputError
        If ``distribution`` is unknown or ``goods``/``bids`` are below 2 and 1.
    """
    if distribution not in DISTRIBUTIONS:
        raise InputError(
            f"`distribution`: expected one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}"
        )
    if goods < 2 or bids < 1:
        raise InputError(f"`goods` >= 2 and `bids` >= 1 expected, got goods={goods}, bids={bids}")
    rng = np.random.default_rng(seed)
    rows = _GENERATORS[distribution](rng, goods, bids)
    return _frame(rows, market_id)


def _paths(rng: Rng, goods: int, bids: int) -> list[Row]:
    edges, lengths, graph, cities = _city_graph(rng, goods)
    out: list[Row] = []
    bidder = 0
    while len(out) < bids:
        a, b = rng.choice(len(cities), size=2, replace=False)
        value = float(np.linalg.norm(cities[a] - cities[b])) * rng.uniform(1.0, 1.5)
        paths = _short_paths(rng, graph, edges, lengths, int(a), int(b), tries=6)
        if not paths:
            continue
        shortest = min(length for _, length in paths)
        for path, length in paths[: bids - len(out)]:
            out.append((path, value * shortest / length, bidder))
        bidder += 1
    return out


def _city_graph(
    rng: Rng, goods: int
) -> tuple[dict[tuple[int, ...], int], np.ndarray, sp.csr_matrix, np.ndarray]:
    n_cities = max(4, int(goods / 1.6))
    cities = rng.random((n_cities, 2))
    dist = np.linalg.norm(cities[:, None, :] - cities[None, :, :], axis=2)
    np.fill_diagonal(dist, np.inf)
    pairs = {tuple(sorted((i, int(j)))) for i in range(n_cities) for j in np.argsort(dist[i])[:3]}
    ordered = sorted(pairs)[:goods]
    edges = {pair: k for k, pair in enumerate(ordered)}
    lengths = np.array([dist[i, j] for i, j in ordered])
    rows = [i for i, _ in ordered] + [j for _, j in ordered]
    cols = [j for _, j in ordered] + [i for i, _ in ordered]
    graph = sp.csr_matrix((np.concatenate([lengths, lengths]), (rows, cols)), shape=(n_cities,) * 2)
    return edges, lengths, graph, cities


def _short_paths(
    rng: Rng,
    graph: sp.csr_matrix,
    edges: dict[tuple[int, ...], int],
    lengths: np.ndarray,
    a: int,
    b: int,
    *,
    tries: int,
) -> list[tuple[list[int], float]]:
    found: dict[tuple[int, ...], float] = {}
    for attempt in range(tries):
        noisy = graph.copy()
        if attempt:
            noisy.data = noisy.data * rng.uniform(1.0, 1.6, size=len(noisy.data))
        _, pred = dijkstra(noisy, directed=False, indices=a, return_predecessors=True)
        if pred[b] < 0:
            return []
        path, node = [], b
        while node != a:
            prev = int(pred[node])
            path.append(edges[(min(prev, node), max(prev, node))])
            node = prev
        key = tuple(sorted(path))
        found[key] = float(lengths[list(key)].sum())
    return [(list(k), v) for k, v in found.items()]


_GENERATORS: dict[str, Callable[[Rng, int, int], list[Row]]] = {
    "weighted-random": legacy.weighted_random,
    "uniform": legacy.uniform,
    "decay": legacy.decay,
    "paths": _paths,
    "arbitrary": spatial.arbitrary,
    "matching": timed.matching,
    "regions": spatial.regions,
    "scheduling": timed.scheduling,
    "L1": legacy.l1,
    "L2": legacy.l2,
    "L3": legacy.l3,
    "L4": legacy.l4,
    "L5": legacy.l5,
    "L6": legacy.l6,
    "L7": legacy.l7,
    "L8": legacy.l8,
}


def _frame(rows: list[Row], market_id: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bid_id": [f"{market_id}:{i}" for i in range(len(rows))],
            "agent_id": [
                f"{market_id}:b{i}" if who is None else f"{market_id}:p{who}"
                for i, (_, _, who) in enumerate(rows)
            ],
            "market_id": [market_id] * len(rows),
            "items": [[str(g) for g in items] for items, _, _ in rows],
            "quantities": [[1] * len(items) for items, _, _ in rows],
            "price": [round(max(price, 1e-3) * 100, 4) for _, price, _ in rows],
            "xor_group": [None if who is None else "x" for _, _, who in rows],
        },
        schema_overrides={"xor_group": pl.String},
    )
