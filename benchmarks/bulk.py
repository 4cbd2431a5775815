"""Bulk: millions of sealed bids read from Parquet files, cleared and written (issue 15).

``--bids`` sealed Vickrey bids in ``--auctions`` auctions (one market whose
items are the auctions), written as ``--files`` Parquet files, cleared by
``econonexus.clear`` with the list of files and ``out`` on a warm
LocalCluster. Per size: the median wall time over ``--repeats``, auctions
per second, the client's peak RSS and the largest worker's peak RSS
(sampled every 50 ms), and with ``--one-worker`` the same batch on one
worker for the 1 -> 2 workers speed-up.

Targets: client peak < 1 GB and flat between 1M and 10M bids, each worker
< 4 GB, >= 500,000 auctions/s at 10M bids, 1 -> 2 workers >= 1.6x.

Run: python -m benchmarks.bulk [--sizes 1000000,10000000] [--repeats 3] [--one-worker]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pathlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np
import polars as pl
import psutil

import econonexus as enx
from benchmarks.common import cluster, print_table

MARKET = {"bulk": {"format": "vickrey"}}


def write_files(root: pathlib.Path, bids: int, auctions: int, files: int) -> list[str]:
    """``bids`` sealed bids on ``auctions`` items of market ``bulk``, in ``files`` files."""
    rng = np.random.default_rng(7)
    per = bids // files
    paths = []
    for f in range(files):
        first = f * per
        item = rng.integers(0, auctions, per)
        frame = pl.DataFrame(
            {
                "bid_id": pl.Series(np.arange(first, first + per)).cast(pl.String),
                "agent_id": pl.Series(rng.integers(0, 200_000, per)).cast(pl.String),
                "market_id": pl.repeat("bulk", per, eager=True),
                "items": ("i" + pl.Series(item).cast(pl.String))
                .to_frame()
                .select(pl.concat_list(pl.first()))
                .to_series(),
                "price": np.round(rng.uniform(1, 100, per), 2),
            }
        )
        path = root / f"part-{f:02d}.parquet"
        frame.write_parquet(path)
        paths.append(str(path))
    return paths


@contextmanager
def peak_rss(pids: Callable[[], list[int]]) -> Iterator[dict[str, int]]:
    """Sample the RSS of this process and of ``pids()`` every 50 ms; the peaks in bytes."""
    peaks = {"client": 0, "worker": 0}
    done = threading.Event()
    me = psutil.Process()
    workers = [psutil.Process(p) for p in pids()]

    def sample() -> None:
        while not done.is_set():
            peaks["client"] = max(peaks["client"], me.memory_info().rss)
            for w in workers:
                with suppress(psutil.NoSuchProcess):
                    peaks["worker"] = max(peaks["worker"], w.memory_info().rss)
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        done.set()
        thread.join()


def measure(client: Any, files: list[str], out: str, repeats: int) -> tuple[float, dict[str, int]]:
    """Median seconds of clearing ``files`` into ``out``, and the peak RSS over all runs."""
    pids = lambda: list(client.run(os.getpid).values())  # noqa: E731
    times = []
    with peak_rss(pids) as peaks:
        for k in range(repeats):  # a fresh folder each: never the stored run
            start = time.perf_counter()
            result = enx.clear(files, markets=MARKET, client=client, out=f"{out}/{k}")
            times.append(time.perf_counter() - start)
            assert result.status == "completed"
    return float(np.median(times)), dict(peaks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one-worker", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        made = {}
        # the files are made in another process: this one's memory is the client's
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for bids in sizes:
                root = pathlib.Path(tmp) / f"bids-{bids}"
                root.mkdir()
                made[bids] = pool.submit(write_files, root, bids, bids // 10, args.files).result()
        workers = [2, 1] if args.one_worker else [2]
        seconds: dict[tuple[int, int], float] = {}
        for n in workers:
            with cluster(n) as c:
                enx.clear(made[sizes[0]][:1], markets=MARKET, client=c)  # warm, one file
                for bids in sizes:
                    t, peaks = measure(c, made[bids], f"{tmp}/out-{n}-{bids}", args.repeats)
                    seconds[(n, bids)] = t
                    rows.append(
                        (
                            f"{bids:,} bids, {n} worker(s)",
                            t,
                            f"{bids // 10 / t:,.0f}",
                            f"{peaks['client'] / 2**20:,.0f}",
                            f"{peaks['worker'] / 2**20:,.0f}",
                        )
                    )
        if args.one_worker:
            for bids in sizes:
                speedup = seconds[(1, bids)] / seconds[(2, bids)]
                rows.append((f"{bids:,} bids: 1 -> 2 workers", speedup, "-", "-", "-"))
    print_table(
        f"bulk sealed Vickrey from {args.files} Parquet files (median of {args.repeats})",
        ["case", "seconds", "auctions/s", "client peak MB", "worker peak MB"],
        rows,
    )


if __name__ == "__main__":
    main()
