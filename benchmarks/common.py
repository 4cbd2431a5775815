"""Timing helpers shared by the benchmarks: medians over repeats, printed tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from distributed import Client

from econonexus.pipelines.graph.cluster import local_cluster


def median_seconds(fn: Callable[[], Any], *, repeats: int) -> tuple[float, Any]:
    """Run ``fn`` ``repeats`` times; return the median wall time and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Markdown table."""
    cells = [[_fmt(c) for c in row] for row in rows]
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in cells:
        print("| " + " | ".join(row) + " |")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


@contextmanager
def cluster(n_workers: int) -> Iterator[Client]:
    """A multi-process LocalCluster with one thread per worker."""
    with local_cluster(n_workers=n_workers, dashboard_address=":0") as lc, Client(lc) as c:
        yield c
