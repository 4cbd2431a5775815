"""Dask TLS: a client without the certificate is refused; with it, batches clear."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from distributed import Client
from distributed.security import Security

import econonexus as enx
from econonexus.pipelines.graph.cluster import local_cluster

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
        # a refused client runs in its own process: a failed TLS client can leave the test
        # process's shared event loop unable to start the next one. This one's certificate
        # is not signed by the cluster's CA; one with none is tried against `serve` below.
        tried = subprocess.run(
            [sys.executable, "-c", REFUSED, cluster.scheduler_address, "stranger"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert tried.stdout.startswith("refused:"), (tried.stdout, tried.stderr)


def test_clear_with_tls_on_the_command_line(tmp_path: pathlib.Path) -> None:
    command = [
        sys.executable,
        "-m",
        "econonexus.pipelines.ops.cli",
        "clear",
        str(DATA / "bids.csv"),
    ]
    command += ["--out", str(tmp_path), "--tls", "--workers", "1", "--run-id", "secure"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "secure" / "manifest.json").exists()


def test_serve_with_certificate_files_and_clear_through_it(tmp_path: pathlib.Path) -> None:
    made = Security.temporary()  # PEM text: written out as the files a real cluster has
    files = {"ca": made.tls_ca_file, "cert": made.tls_client_cert, "key": made.tls_client_key}
    for name, pem in files.items():
        (tmp_path / f"{name}.pem").write_text(pem)
    tls = [f"--tls-{name}={tmp_path / f'{name}.pem'}" for name in files]
    cli = [sys.executable, "-m", "econonexus.pipelines.ops.cli"]
    server = subprocess.Popen(
        [*cli, "serve", "--port", "0", "--scheduler-port", "0", "--workers", "1", *tls],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline().strip()
        assert first.startswith("scheduler: tls://"), (first, server.stderr)
        address = first.removeprefix("scheduler: ")
        command = [*cli, "clear", str(DATA / "bids.csv"), "--out", str(tmp_path / "runs")]
        done = subprocess.run(
            [*command, "--scheduler", address, "--run-id", "served", *tls],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "runs" / "served" / "manifest.json").exists()
        tried = subprocess.run(
            [sys.executable, "-c", REFUSED, address, "none"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert tried.stdout.startswith("refused:"), tried.stdout
    finally:
        server.terminate()
        server.communicate(timeout=60)  # drains and closes the pipes
        assert server.returncode == 0
