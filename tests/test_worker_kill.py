"""A worker process killed mid-batch: the batch completes with the same result."""

from __future__ import annotations

import os
import signal
import threading
import time

import dask
import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.graph.cluster import local_cluster

pytestmark = pytest.mark.slow
VOLATILE = ["run_id", "solve_seconds"]  # differ between any two runs


def _batch() -> list[pl.DataFrame]:
    return [
        enx.generate("uniform", goods=70, bids=350, seed=s, market_id=f"k{s}") for s in range(4)
    ]


def _solving_worker(client: Client, deadline: float) -> str:
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if any(str(k).startswith("enx-solve") for k in keys):
                return worker
        time.sleep(0.02)
    raise AssertionError("no enx-solve task started in time")


def test_killing_a_worker_mid_batch_gives_the_same_result() -> None:
    bids = _batch()
    with (
        local_cluster(n_workers=2, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        control = enx.clear(bids, client=client)
        outcome: dict[str, enx.ClearingResult] = {}
        runner = threading.Thread(target=lambda: outcome.update(r=enx.clear(bids, client=client)))
        runner.start()
        victim = _solving_worker(client, time.monotonic() + 60)
        pids = client.run(os.getpid)
        os.kill(pids[victim], signal.SIGKILL)
        runner.join(timeout=300)
        assert "r" in outcome, "the batch did not complete after the worker was killed"
        assert victim not in client.scheduler_info()["workers"]  # it really died
    again = outcome["r"]
    assert again.summary.drop(VOLATILE).equals(control.summary.drop(VOLATILE))
    assert again.allocations.drop("run_id").equals(control.allocations.drop("run_id"))


def test_a_cluster_that_loses_every_worker_fails_the_run_instead_of_hanging() -> None:
    bids = _batch()
    failure: dict[str, BaseException] = {}

    def run(client: Client) -> None:
        try:
            enx.clear(bids, client=client)
        except BaseException as exc:  # the outcome under test
            failure["e"] = exc

    with (
        local_cluster(n_workers=2, dashboard_address=":0") as cluster,
        Client(cluster) as client,
        dask.config.set({"econonexus.cluster.no-worker-timeout": 3}),
    ):
        runner = threading.Thread(target=run, args=(client,))
        runner.start()
        _solving_worker(client, time.monotonic() + 60)
        for nanny in cluster.workers.values():
            nanny.close_gracefully()  # no restart: as if the machines went away, nannies and all
        for pid in client.run(os.getpid).values():
            os.kill(pid, signal.SIGKILL)
        runner.join(timeout=120)
        assert not runner.is_alive(), "clear hung after the cluster lost every worker"
    assert isinstance(failure.get("e"), enx.RunFailedError)
    assert "no worker for 3 s" in str(failure["e"])
