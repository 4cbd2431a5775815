"""Shared fixtures: one real multi-process LocalCluster for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client

from econonexus.pipelines.graph.cluster import local_cluster


@pytest.fixture(scope="session")
def client() -> Iterator[Client]:
    """A 2-worker, 1-thread-each, multi-process LocalCluster shared by the session."""
    with local_cluster(n_workers=2, dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c
