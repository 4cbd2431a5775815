"""The pool's journal is a hash chain under a one-writer lease; snapshots fall back."""

from __future__ import annotations

import dataclasses
import multiprocessing
import pathlib
import subprocess
import sys
import threading

import polars as pl
import pyarrow.parquet as pq
import pytest
from distributed import Client

import econonexus as enx
from econonexus.agents.events import events_table
from econonexus.agents.journal import JournalWriter, read_chain, read_journal
from econonexus.agents.journal_audit import audit_journal
from econonexus.agents.lease import acquire
from econonexus.agents.snapshot import read_snapshot, states_table, write_snapshot
from econonexus.agents.state import AgentState
from econonexus.pipelines.ops.cli import main
from tests.racers import append_deposits
from tests.test_settlement import cleared_pool


def _deposits(first: int, n: int, amount: float = 1.0) -> pl.DataFrame:
    rows = [
        {"seq": first + k, "kind": "deposited", "agent_id": f"a{k % 3}", "amount": amount}
        for k in range(n)
    ]
    return events_table(rows).with_columns(shard_id=pl.lit(0, pl.Int64))


def _journal(root: pathlib.Path, entries: int = 4, size: int = 2) -> JournalWriter:
    writer = JournalWriter(str(root), acquire(str(root)))
    for k in range(entries):
        writer.append(_deposits(k * size, size))
    return writer


def _entry(root: pathlib.Path, first: int) -> pathlib.Path:
    return next((root / "journal").glob(f"date=*/run=*/{first:012d}-*.parquet"))


def test_a_deleted_middle_entry_is_an_error_not_a_silent_gap(tmp_path: pathlib.Path) -> None:
    _journal(tmp_path)
    _entry(tmp_path, 2).unlink()
    with pytest.raises(enx.JournalError, match=r"journal entry 000000000002 is missing"):
        read_journal(str(tmp_path))
    (tmp_path / "journal" / "_chain" / "000000000002.json").unlink()  # and its record too
    with pytest.raises(enx.JournalError, match=r"entries 2..3 are missing"):
        read_chain(str(tmp_path))


def test_an_edited_deposit_does_not_replay_as_genuine(tmp_path: pathlib.Path) -> None:
    _journal(tmp_path)
    path = _entry(tmp_path, 2)
    table = pl.read_parquet(path).with_columns(amount=pl.lit(1000.0))
    pq.write_table(table.to_arrow(), path)
    with pytest.raises(enx.JournalError, match=r"000000000002 differs from its chain record"):
        read_journal(str(tmp_path))


def test_an_edited_record_breaks_the_chain(tmp_path: pathlib.Path) -> None:
    _journal(tmp_path)
    record = tmp_path / "journal" / "_chain" / "000000000002.json"
    record.write_text(record.read_text().replace('"last": 3', '"last": 3 '))
    with pytest.raises(enx.JournalError, match=r"record 000000000004 does not link"):
        read_chain(str(tmp_path))


def test_a_torn_last_entry_is_skipped_with_a_warning_and_overwritten(
    tmp_path: pathlib.Path,
) -> None:
    writer = _journal(tmp_path)
    writer.lease.release()  # type: ignore[union-attr]
    last = _entry(tmp_path, 6)
    last.write_bytes(last.read_bytes()[:40])
    with pytest.warns(UserWarning, match=r"last entry .* is torn"):
        assert read_journal(str(tmp_path))["seq"].to_list() == list(range(6))
    with pytest.warns(UserWarning, match="torn"):
        again = JournalWriter(str(tmp_path), acquire(str(tmp_path)))
    assert again.next_seq == 6
    again.append(_deposits(6, 3))
    assert read_journal(str(tmp_path))["seq"].to_list() == list(range(9))


def test_a_second_writer_is_refused_and_a_fenced_writer_cannot_write(
    tmp_path: pathlib.Path,
) -> None:
    first = _journal(tmp_path, entries=1)
    with pytest.raises(enx.LeaseError, match=r"is held by .*one writer at a time"):
        acquire(str(tmp_path))
    taken = acquire(str(tmp_path), break_lease=True)
    with pytest.raises(enx.LeaseError, match=r"journal write refused: .* but generation 1"):
        first.append(_deposits(2, 1))
    fence = first.lease.check  # type: ignore[union-attr]
    table = states_table([AgentState("a0", balance=5.0)])
    with pytest.raises(enx.LeaseError, match="snapshot commit refused"):
        write_snapshot(str(tmp_path), 0, table, 1, fence=fence)
    JournalWriter(str(tmp_path), taken).append(_deposits(2, 1))
    assert read_journal(str(tmp_path))["seq"].to_list() == [0, 1, 2]


def test_a_waiting_writer_gets_the_lease_when_it_is_released(tmp_path: pathlib.Path) -> None:
    held = acquire(str(tmp_path))
    threading.Timer(0.3, held.release).start()
    assert acquire(str(tmp_path), wait=10).generation == held.generation + 1


def test_concurrent_writers_take_turns_and_lose_nothing(tmp_path: pathlib.Path) -> None:
    root = str(tmp_path)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        pool.starmap(append_deposits, [(root, w, 15) for w in range(3)])
    journal = read_journal(root)
    assert journal["seq"].to_list() == list(range(45))
    assert journal["agent_id"].n_unique() == 45  # every delivery once, none doubled


def test_a_cut_snapshot_falls_back_to_an_older_one_or_to_the_journal(
    tmp_path: pathlib.Path,
) -> None:
    root = str(tmp_path)
    write_snapshot(root, 0, states_table([AgentState("a0", balance=1.0)]), 3)
    write_snapshot(root, 0, states_table([AgentState("a0", balance=2.0)]), 7)
    shard = tmp_path / "snapshots" / "shard-00000"
    newest = sorted(shard.glob("v000002-*.parquet"))[0]
    newest.write_bytes(newest.read_bytes()[:30])
    with pytest.warns(UserWarning, match=r"using v000001-.* and the journal after it"):
        loaded = read_snapshot(root, 0)
    assert loaded is not None and loaded.applied_seq == 3
    assert loaded.states[0].balance == 1.0
    for version in shard.glob("v*.parquet"):
        version.write_bytes(b"")
    with pytest.warns(UserWarning, match=r"the journal alone rebuilds shard 0"):
        assert read_snapshot(root, 0) is None


def _audit_cli(root: pathlib.Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "econonexus.pipelines.ops.cli", "audit", "journal", str(root)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_audit_journal_verifies_the_chain_and_the_replay_of_a_real_pool(
    client: Client, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "pool"
    cleared_pool(client, root, tmp_path / "runs")
    good = _audit_cli(root)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "chain intact, 4 shards replay to their snapshots" in good.stdout
    # a snapshot that the journal does not explain
    snapshot = read_snapshot(str(root), 1)
    assert snapshot is not None
    forged = [dataclasses.replace(s, balance=s.balance + 1) for s in snapshot.states]
    write_snapshot(str(root), 1, states_table(forged), snapshot.applied_seq)
    bad = audit_journal(str(root))
    assert not bad.ok and "shard 1: replaying the journal" in bad.problems[0]
    # an edited entry
    entry = next((root / "journal").glob("date=*/run=none/*.parquet"))
    _rewrite_amounts(entry)
    assert main(["audit", "journal", str(root)]) == 1  # in this process, the same command
    assert "differs from its chain record" in capsys.readouterr().out


def _rewrite_amounts(path: pathlib.Path) -> None:
    frame = pl.read_parquet(path)
    pq.write_table(frame.with_columns(pl.col("amount") * 1000).to_arrow(), path)
