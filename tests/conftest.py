"""Shared fixtures: one real multi-process LocalCluster for the whole session."""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Iterator

# Before Dask reads the environment: this session's `serve` writes its scheduler file
# here, and no developer's running `serve` or DASK_SCHEDULER_ADDRESS is picked up.
os.environ["DASK_ECONONEXUS__CLUSTER__SCHEDULER_FILE"] = str(
    pathlib.Path(tempfile.mkdtemp(prefix="enx-tests-")) / "scheduler.json"
)
os.environ.pop("DASK_SCHEDULER_ADDRESS", None)

import pytest
from distributed import Client

from econonexus.pipelines.graph.cluster import local_cluster


@pytest.fixture(scope="session")
def client() -> Iterator[Client]:
    """A 2-worker, 1-thread-each, multi-process LocalCluster shared by the session."""
    with local_cluster(n_workers=2, dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c
