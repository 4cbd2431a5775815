"""Any solver PuLP runs is a backend (``"pulp:NAME"`` or a PuLP solver object), with an
honest status and bound; one PuLP cannot run here is refused up front."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import dask
import pulp
import pytest
from distributed import Client

import econonexus as enx

BIDS = enx.generate("arbitrary", goods=30, bids=120, seed=2, market_id="m")


@pytest.fixture(scope="module")
def optimum(client: Client) -> float:
    result = enx.clear(BIDS, solver="highs", client=client)
    assert result.summary["status"][0] == "optimal"
    return float(result.summary["welfare"][0])


@pytest.mark.parametrize(
    ("solver", "label"),
    [
        ("pulp:PULP_CBC_CMD", "pulp:PULP_CBC_CMD"),
        ("pulp:HiGHS", "pulp:HiGHS"),
        (pulp.PULP_CBC_CMD(msg=False, options=["cuts off"]), "pulp:PULP_CBC_CMD"),
    ],
)
def test_a_pulp_solver_clears_to_the_proven_optimum(
    client: Client, optimum: float, solver: str | pulp.LpSolver, label: str
) -> None:
    result = enx.clear(BIDS, solver=solver, client=client)
    row = result.summary.row(0, named=True)
    assert (row["status"], row["solver"]) == ("optimal", label)
    assert row["welfare"] == pytest.approx(optimum)
    config = result.manifest["config"]["solver"]
    assert config.startswith("pulp:"), "the manifest records the choice, options and all"


def test_a_pulp_solver_stopped_at_its_limit_is_not_called_optimal(client: Client) -> None:
    hard = enx.generate("arbitrary", goods=60, bids=400, seed=5, market_id="h")
    result = enx.clear(hard, solver="pulp:PULP_CBC_CMD", time_limit=0.01, client=client)
    row = result.summary.row(0, named=True)
    assert row["status"] == "time_limit", "0.01 s proves nothing on 400 arbitrary bids"
    assert row["bound"] >= row["welfare"] and row["gap"] > 0


def test_a_solver_pulp_cannot_run_or_does_not_know_is_refused(tmp_path: pathlib.Path) -> None:
    missing = next(s for s in pulp.listSolvers() if s not in pulp.listSolvers(onlyAvailable=True))
    with pytest.raises(enx.SolverError, match=f"PuLP cannot run {missing} here"):
        enx.clear(BIDS, solver=f"pulp:{missing}")
    with pytest.raises(enx.InputError, match="'pulp:NAME' with NAME one of"):
        enx.clear(BIDS, solver="pulp:NOPE")
    with pytest.raises(enx.InputError, match="`solver`: expected one of auto, cbc"):
        enx.clear(BIDS, solver="gurobi")
    BIDS.write_parquet(tmp_path / "b.parquet")
    done = subprocess.run(
        [sys.executable, "-m", "econonexus.pipelines.ops.cli", "clear", str(tmp_path / "b.parquet"),
         "--out", str(tmp_path / "runs"), "--solver", f"pulp:{missing}"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and f"PuLP cannot run {missing} here" in done.stderr


@pytest.mark.parametrize(
    ("solver", "limit", "marker"),
    [
        ("cbc", None, "Cbc0001I"),  # CBC's own log lines
        ("highs", None, "HiGHS"),  # in this process
        ("highs", 30.0, "HiGHS"),  # in HiGHS's child process
        ("pulp:PULP_CBC_CMD", None, "Cbc0001I"),
    ],
)
def test_solver_logs_are_kept_beside_the_run(
    client: Client, tmp_path: pathlib.Path, solver: str, limit: float | None, marker: str
) -> None:
    hard = enx.generate("arbitrary", goods=30, bids=120, seed=4, market_id="h")
    with dask.config.set({"econonexus.solver.log": True}):
        result = enx.clear(
            hard, solver=solver, time_limit=limit, client=client, out=str(tmp_path), run_id="r"
        )
    assert result.summary["components"][0] >= 1
    logs = sorted((tmp_path / "_solver-logs" / "r").glob("h-c*.log"))
    assert logs, "one log per MIP component"
    assert all(marker in log.read_text() for log in logs)
    quiet = enx.clear(hard, solver=solver, client=client, out=str(tmp_path), run_id="q")
    assert quiet.summary["status"][0] == "optimal"
    assert not (tmp_path / "_solver-logs" / "q").exists(), "off unless asked for"
