"""Dask TLS: a client without the certificate is refused; with it, batches clear."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from distributed import Client
from distributed.security import Security

import econonexus as enx
from econonexus.pipelines.cluster import local_cluster

DATA = pathlib.Path(__file__).parents[1] / "data"
pytestmark = pytest.mark.slow
REFUSED = """
import sys
from distributed import Client
from distributed.security import Security
address, mode = sys.argv[1], sys.argv[2]
security = Security.temporary() if mode == "stranger" else None  # not signed by the cluster's CA
try:
    Client(address, security=security, timeout="3s").close()
    print("connected")
except (OSError, TimeoutError, TypeError) as exc:
    print(f"refused: {type(exc).__name__}")
"""


def test_a_client_without_the_certificate_is_refused() -> None:
    security = Security.temporary()
    with local_cluster(n_workers=1, security=security, protocol="tls://") as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        with Client(cluster.scheduler_address, security=security, timeout="10s") as client:
            result = enx.clear(str(DATA / "bids.csv"), client=client)
            assert result.status == "completed"
        # refused clients run in their own process: a failed TLS client can leave the
        # test process's shared event loop unable to start the next one
        for mode in ("none", "stranger"):
            tried = subprocess.run(
                [sys.executable, "-c", REFUSED, cluster.scheduler_address, mode],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert tried.stdout.startswith("refused:"), (mode, tried.stdout, tried.stderr)


def test_clear_with_tls_on_the_command_line(tmp_path: pathlib.Path) -> None:
    command = [sys.executable, "-m", "econonexus.pipelines.cli", "clear", str(DATA / "bids.csv")]
    command += ["--out", str(tmp_path), "--tls", "--workers", "1", "--run-id", "secure"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "secure" / "manifest.json").exists()
