"""Snapshots, the journal and the circuit breaker, on real files and real processes."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time

import polars as pl
import pytest

from econonexus.agents.events import events_table
from econonexus.agents.journal import JournalWriter, read_chain, read_journal
from econonexus.agents.messaging import CircuitBreaker, RetryPolicy, ShardUnavailableError, call
from econonexus.agents.snapshot import SnapshotError, read_snapshot, states_table, write_snapshot
from econonexus.agents.state import AgentState

WRITER = """
import sys
from econonexus.agents.snapshot import states_table, write_snapshot
from econonexus.agents.state import AgentState
root, n = sys.argv[1], int(sys.argv[2])
valuations = (("m", "x", 1.0),) * 5
states = [AgentState(f"a{i:07d}", balance=float(i), valuations=valuations) for i in range(n)]
table = states_table(states)
while True:
    write_snapshot(root, 0, table, 99)
"""


def _states(n: int, balance: float = 1.0) -> list[AgentState]:
    return [AgentState(f"a{i}", balance=balance + i, weights=(1.0, 0.5)) for i in range(n)]


def test_snapshots_are_versioned_and_the_pointer_names_the_last_commit(
    tmp_path: pathlib.Path,
) -> None:
    root = str(tmp_path)
    assert read_snapshot(root, 3) is None
    first = write_snapshot(root, 3, states_table(_states(5)), 10)
    second = write_snapshot(root, 3, states_table(_states(6, balance=2.0)), 20)
    assert (first["version"], second["version"]) == (1, 2)
    loaded = read_snapshot(root, 3)
    assert loaded is not None
    assert (loaded.version, loaded.applied_seq, loaded.states) == (2, 20, _states(6, balance=2.0))


def test_a_partial_file_nothing_points_to_is_ignored(tmp_path: pathlib.Path) -> None:
    root = str(tmp_path)
    write_snapshot(root, 0, states_table(_states(4)), 5)
    shard = tmp_path / "snapshots" / "shard-00000"
    (shard / "v000002-deadbeef.parquet").write_bytes(b"PAR1 half a file")
    loaded = read_snapshot(root, 0)
    assert loaded is not None and loaded.version == 1 and loaded.states == _states(4)


def test_a_corrupt_pointer_is_a_clear_error_naming_the_file(tmp_path: pathlib.Path) -> None:
    write_snapshot(str(tmp_path), 1, states_table(_states(2)), 1)
    (tmp_path / "snapshots" / "shard-00001" / "CURRENT.json").write_text("{")
    with pytest.raises(SnapshotError, match=r"shard-00001/CURRENT.json: expected a JSON pointer"):
        read_snapshot(str(tmp_path), 1)


@pytest.mark.slow
def test_killing_the_writer_mid_snapshot_leaves_the_previous_snapshot_readable(
    tmp_path: pathlib.Path,
) -> None:
    root = str(tmp_path)
    write_snapshot(root, 0, states_table(_states(3)), 7)
    shard = tmp_path / "snapshots" / "shard-00000"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, root, "300000"])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _partial(shard):
            time.sleep(0.001)
    finally:
        writer.kill()
        writer.wait()
    pointer = json.loads((shard / "CURRENT.json").read_text())
    loaded = read_snapshot(root, 0)
    assert loaded is not None
    assert loaded.version == pointer["version"]
    if pointer["version"] == 1:  # killed during its first write, as intended
        assert loaded.states == _states(3) and loaded.applied_seq == 7
    else:  # the kill came later: whatever is committed must still be whole
        assert len(loaded.states) == 300000


def _partial(shard: pathlib.Path) -> bool:
    """True once a second version's file has some bytes on disk."""
    return any(p.stat().st_size > 0 for p in shard.glob("v000002-*.parquet"))


def test_the_journal_reads_entries_after_a_seq_for_one_shard(tmp_path: pathlib.Path) -> None:
    root = str(tmp_path)
    assert read_chain(root).last_seq == -1 and read_journal(root).is_empty()
    writer = JournalWriter(root, None)
    for first in (0, 4):
        rows = [
            {"seq": first + k, "kind": "deposited", "agent_id": f"a{k}", "amount": 1.0}
            for k in range(4)
        ]
        writer.append(events_table(rows).with_columns(shard_id=pl.Series([0, 1, 0, 1])))
    assert read_chain(root).last_seq == 7
    assert read_journal(root, shard_id=1, after=3)["seq"].to_list() == [5, 7]
    assert read_journal(root, after=5)["seq"].to_list() == [6, 7]


class _Answer:
    def __init__(self, outcomes: list[object]):
        self.outcomes = outcomes

    def __call__(self) -> _Answer:
        return self

    def result(self, timeout: float | None = None) -> object:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_calls_retry_timeouts_with_exponential_backoff_then_succeed() -> None:
    breaker = CircuitBreaker(failure_threshold=5)
    policy = RetryPolicy(timeout=0.1, retries=3, backoff=0.01)
    answer = _Answer([TimeoutError(), OSError("closed"), "ok"])
    assert call(answer, name="shard 0", policy=policy, breaker=breaker) == "ok"
    assert breaker.state == "closed" and breaker.failures == 0
    assert [policy.delay(k) for k in range(3)] == [0.01, 0.02, 0.04]


def test_a_lost_actor_is_not_retried_and_a_method_error_is_the_callers() -> None:
    breaker = CircuitBreaker()
    lost = _Answer([RuntimeError("Worker holding Actor was lost.  Status: error"), "never"])
    with pytest.raises(ShardUnavailableError, match="shard 2: lost with its worker") as info:
        call(lost, name="shard 2", policy=RetryPolicy(), breaker=breaker)
    assert info.value.lost and breaker.failures == 1
    with pytest.raises(ValueError, match="bad argument"):
        call(
            _Answer([ValueError("bad argument")]),
            name="shard 2",
            policy=RetryPolicy(),
            breaker=breaker,
        )
    assert breaker.failures == 1


def test_the_breaker_opens_fails_fast_half_opens_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_after=10.0, clock=lambda: now[0])
    policy = RetryPolicy(timeout=0.1, retries=0)
    for _ in range(2):
        with pytest.raises(ShardUnavailableError, match="no answer after 1 attempts"):
            call(_Answer([TimeoutError()]), name="shard 1", policy=policy, breaker=breaker)
    assert breaker.state == "open"
    with pytest.raises(
        ShardUnavailableError, match=r"circuit open after 2 failures; retry in 10.0 s"
    ):
        call(_Answer(["unreached"]), name="shard 1", policy=policy, breaker=breaker)
    now[0] = 10.0
    assert breaker.state == "half-open"
    with pytest.raises(ShardUnavailableError):
        call(_Answer([TimeoutError()]), name="shard 1", policy=policy, breaker=breaker)
    assert breaker.state == "open"  # a failed trial opens it again at once
    now[0] = 20.0
    assert call(_Answer(["back"]), name="shard 1", policy=policy, breaker=breaker) == "back"
    assert breaker.state == "closed"
