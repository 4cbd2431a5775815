"""A worker process killed mid-batch: the batch completes with the same result."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import threading
import time
from collections.abc import Iterator

import dask
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.graph.cluster import local_cluster
from econonexus.pipelines.graph.read_batch import read_batch

pytestmark = pytest.mark.slow
VOLATILE = ["run_id", "solve_seconds"]  # differ between any two runs


def _batch() -> list[pl.DataFrame]:
    return [
        enx.generate("uniform", goods=70, bids=350, seed=s, market_id=f"k{s}") for s in range(4)
    ]


def _working_worker(client: Client, deadline: float, stage: str = "enx-solve") -> str:
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if any(str(k).startswith(stage) for k in keys):
                return worker
        time.sleep(0.01)
    raise AssertionError(f"no {stage} task started in time")


class _Killable:
    """A cluster of its own whose workers the tests kill; their nannies start new ones, and
    when one does not come back in time (a loaded machine) the cluster is started afresh."""

    def __init__(self) -> None:
        self._open()

    def _open(self) -> None:
        self._stack = contextlib.ExitStack()
        cluster = self._stack.enter_context(local_cluster(n_workers=2, dashboard_address=":0"))
        self.cluster = cluster
        self.client = self._stack.enter_context(Client(cluster))

    def close(self) -> None:
        self._stack.close()

    def two_workers(self) -> Client:
        try:
            self.client.wait_for_workers(2, timeout=60)  # the last test's victim is back
        except TimeoutError:
            self.close()
            self._open()
            self.client.wait_for_workers(2, timeout=120)
        return self.client


@pytest.fixture(scope="module")
def killable() -> Iterator[_Killable]:
    cluster = _Killable()
    yield cluster
    cluster.close()


def test_killing_a_worker_mid_batch_gives_the_same_result(killable: _Killable) -> None:
    bids = _batch()
    client = killable.two_workers()
    control = enx.clear(bids, client=client)
    outcome: dict[str, enx.ClearingResult] = {}
    runner = threading.Thread(target=lambda: outcome.update(r=enx.clear(bids, client=client)))
    runner.start()
    victim = _working_worker(client, time.monotonic() + 60)
    pids = client.run(os.getpid)
    os.kill(pids[victim], signal.SIGKILL)
    runner.join(timeout=300)
    assert "r" in outcome, "the batch did not complete after the worker was killed"
    assert victim not in client.scheduler_info()["workers"]  # it really died
    again = outcome["r"]
    assert again.summary.drop(VOLATILE).equals(control.summary.drop(VOLATILE))
    assert again.allocations.drop("run_id").equals(control.allocations.drop("run_id"))


# one-auction Vickrey markets in 8 buckets, a large batch in 5 parts: 5 Parquet files
# read on the workers, or a table sent to the workers in 5 parts
PART_ROWS = 8_000
PARTS = {"econonexus.cluster.buckets": 8, "econonexus.cluster.partition-rows": PART_ROWS}


@pytest.fixture(scope="module")
def vickrey() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The parted batch's bids and its markets (made once, when a test asks)."""
    n = 5 * PART_ROWS
    bids = pl.DataFrame(
        {
            "bid_id": [f"b{i}" for i in range(n)],
            "agent_id": [f"a{i % 997}" for i in range(n)],
            "market_id": [f"v{i // 5}" for i in range(n)],
            "items": [["x"]] * n,
            "price": [float(1 + (i * 7919) % 101) for i in range(n)],
        }
    )
    markets = pl.DataFrame({"market_id": [f"v{i}" for i in range(PART_ROWS)], "format": "vickrey"})
    return bids, markets


@pytest.fixture(scope="module")
def undisturbed(
    killable: _Killable, vickrey: tuple[pl.DataFrame, pl.DataFrame]
) -> enx.ClearingResult:
    """The parted batch cleared with no worker killed (the same from files or a table)."""
    bids, markets = vickrey
    with dask.config.set(PARTS):
        return enx.clear(bids, markets=markets, client=killable.two_workers())


@pytest.mark.parametrize("stage", ["enx-read", "enx-check", "enx-plan", "enx-write"])
def test_killing_a_worker_while_parts_are_read_checked_planned_or_written_gives_the_same_run(
    killable: _Killable,
    vickrey: tuple[pl.DataFrame, pl.DataFrame],
    undisturbed: enx.ClearingResult,
    tmp_path: pathlib.Path,
    stage: str,
) -> None:
    bids, markets = vickrey
    source: str | pl.DataFrame = bids
    if stage in ("enx-read", "enx-write"):
        (tmp_path / "bids").mkdir()
        for f in range(5):
            bids.slice(f * PART_ROWS, PART_ROWS).write_parquet(
                tmp_path / "bids" / f"part-{f}.parquet"
            )
        source = str(tmp_path / "bids")
    client = killable.two_workers()
    with dask.config.set(PARTS):
        outcome: dict[str, enx.ClearingResult] = {}
        out = str(tmp_path / "runs")

        def run() -> None:
            outcome["r"] = enx.clear(source, markets=markets, client=client, out=out, run_id="k")

        runner = threading.Thread(target=run)
        runner.start()
        victim = _working_worker(client, time.monotonic() + 60, stage=stage)
        os.kill(client.run(os.getpid)[victim], signal.SIGKILL)
        runner.join(timeout=300)
        assert "r" in outcome, "the batch did not complete after the worker was killed"
    again = outcome["r"]
    assert again.allocations.drop("run_id").equals(undisturbed.allocations.drop("run_id"))
    assert again.summary.drop(VOLATILE).equals(undisturbed.summary.drop(VOLATILE))
    for table in ("allocations/", "inputs/bids/"):  # each part listed once
        files = {**again.manifest["outputs"], **again.manifest["stored_inputs"]}
        parts = [v["rows"] for k, v in files.items() if k.startswith(table)]
        assert sum(parts) == 5 * PART_ROWS, table
    stored = enx.read_run(again.location or "")  # every file checked against its hash
    assert stored.allocations.drop("run_id").equals(undisturbed.allocations.drop("run_id"))


def test_the_parts_of_an_in_memory_table_keep_their_second_copy(client: Client) -> None:
    # Dask's memory manager (every 2 s) would drop the copy a worker's death needs
    table = pl.DataFrame(
        {"bid_id": [f"b{i}" for i in range(40)], "agent_id": "a", "items": [["x"]] * 40}
    ).with_columns(market_id=pl.lit("m"), price=pl.lit(1.0))
    settings = {"econonexus.cluster.embed-max-bytes": 0, "econonexus.cluster.partition-rows": 10}
    with dask.config.set(settings):
        read = read_batch(client, table)
    try:
        time.sleep(2.5)
        holders = client.who_has(read.parts)
        assert len(holders) == 4 and all(len(w) == 2 for w in holders.values()), holders
    finally:
        read.release()


def test_a_cluster_that_loses_every_worker_fails_the_run_instead_of_hanging(
    killable: _Killable,
) -> None:
    # the module's last use of its cluster: no worker comes back
    bids = _batch()
    client, cluster = killable.two_workers(), killable.cluster
    failure: dict[str, BaseException] = {}

    def run() -> None:
        try:
            enx.clear(bids, client=client)
        except BaseException as exc:  # the outcome under test
            failure["e"] = exc

    with dask.config.set({"econonexus.cluster.no-worker-timeout": 3}):
        runner = threading.Thread(target=run)
        runner.start()
        _working_worker(client, time.monotonic() + 60)
        for nanny in cluster.workers.values():
            nanny.close_gracefully()  # no restart: as if the machines went away, nannies and all
        for pid in client.run(os.getpid).values():
            os.kill(pid, signal.SIGKILL)
        runner.join(timeout=120)
        assert not runner.is_alive(), "clear hung after the cluster lost every worker"
    assert isinstance(failure.get("e"), enx.RunFailedError)
    assert "no worker for 3 s" in str(failure["e"])
