"""One cluster per process: ``clear`` without a client reuses this process's LocalCluster, and
a scheduler file left by a killed ``serve`` is ignored."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

from econonexus._core.errors import InputError
from econonexus.pipelines.graph.scheduler_file import (
    read_scheduler_file,
    remove_scheduler_file,
    scheduler_address,
    write_scheduler_file,
)

DATA = pathlib.Path(__file__).parents[1] / "data"

REUSE = """
import sys
import econonexus as enx
from econonexus.pipelines.graph import cluster

first = enx.clear(sys.argv[1])
client = cluster.process_client()
second = enx.clear(sys.argv[1])
assert cluster.process_client() is client, "the same client serves every call"
assert len(cluster._PROCESS_CLUSTERS) == 1, cluster._PROCESS_CLUSTERS
assert first.allocations.equals(second.allocations.with_columns(run_id=first.allocations["run_id"]))
print("workers", len(client.scheduler_info(n_workers=-1)["workers"]))
"""


@pytest.mark.slow
def test_clear_without_a_client_reuses_one_local_cluster_per_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", REUSE, str(DATA / "auctions.csv")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "DASK_ECONONEXUS__CLUSTER__N_WORKERS": "1"},  # the setting is used
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("workers 1")


def test_a_stale_scheduler_file_is_replaced_and_ignored(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:  # a port nobody listens on once this socket closes
        closed.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    where = tmp_path / "scheduler.json"
    where.write_text(json.dumps({"address": dead}))
    monkeypatch.setenv("DASK_ECONONEXUS__CLUSTER__SCHEDULER_FILE", str(where))
    import dask.config

    with dask.config.set({"econonexus.cluster.scheduler-file": str(where)}):
        assert scheduler_address() is None, "a dead scheduler's file is not used"
        assert scheduler_address("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
        assert scheduler_address(scheduler_file=str(where)) == dead, "named explicitly: used"
        with dask.config.set({"scheduler-address": "tcp://10.0.0.6:8786"}):
            assert scheduler_address() == "tcp://10.0.0.6:8786"
        with socket.socket() as live:
            live.bind(("127.0.0.1", 0))
            live.listen()
            address = f"tcp://127.0.0.1:{live.getsockname()[1]}"
            assert write_scheduler_file(where, address), "the stale file is replaced"
            assert not write_scheduler_file(where, "tcp://127.0.0.1:1"), "a live one is kept"
            assert scheduler_address() == address
        remove_scheduler_file(where, "tcp://127.0.0.1:1")
        assert where.exists(), "only the scheduler it names removes it"
        remove_scheduler_file(where, address)
        assert not where.exists()


def test_an_unreadable_scheduler_file_names_the_file(tmp_path: pathlib.Path) -> None:
    where = tmp_path / "scheduler.json"
    where.write_text("{not json")
    with pytest.raises(InputError, match=r"--scheduler-file.*scheduler\.json"):
        read_scheduler_file(where)
