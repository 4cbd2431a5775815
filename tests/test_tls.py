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


def test_a_client_without_the_certificate_is_refused() -> None:
    security = Security.temporary()
    with local_cluster(n_workers=1, security=security, protocol="tls://") as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        with pytest.raises(TypeError, match="TLS expects a `ssl_context`"):
            Client(cluster.scheduler_address, timeout="3s")  # no certificate at all
        stranger = Security.temporary()  # a certificate the cluster's CA did not sign
        with pytest.raises((OSError, TimeoutError)):
            Client(cluster.scheduler_address, security=stranger, timeout="3s")
        with Client(cluster.scheduler_address, security=security, timeout="10s") as client:
            result = enx.clear(str(DATA / "bids.csv"), client=client)
            assert result.status == "completed"


def test_clear_with_tls_on_the_command_line(tmp_path: pathlib.Path) -> None:
    command = [sys.executable, "-m", "econonexus.pipelines.cli", "clear", str(DATA / "bids.csv")]
    command += ["--out", str(tmp_path), "--tls", "--workers", "1", "--run-id", "secure"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "secure" / "manifest.json").exists()
