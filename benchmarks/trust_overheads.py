"""What the trust guarantees cost (issue 13): each guarded write against the plain one it replaced.

- journal: one delivery's entry committed through the hash chain (entry
  file, create-if-absent record, lease check) against the plain atomic write
  of the same entry that the journal did before;
- publish: a run's tables and inputs written with their SHA-256 under the
  publish lease, manifest created if absent, against the plain write of the
  same tables;
- settle check: every settlement tried on a copy of its agent's state
  before delivery, per winning bid.

Run: ``python -m benchmarks.trust_overheads --repeats 5``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import uuid
from collections.abc import Callable

import fsspec
import polars as pl
import pyarrow.parquet as pq

import econonexus as enx
from benchmarks.common import median_seconds, print_table
from econonexus.agents.events import events_from_table, events_table
from econonexus.agents.journal import JOURNAL_SCHEMA, JournalWriter
from econonexus.agents.lease import Lease, acquire
from econonexus.agents.state import AgentState, apply
from econonexus.agents.storage import put_atomically
from econonexus.pipelines.store.run_files import to_arrow
from econonexus.pipelines.store.run_lease import claim_run, holding
from econonexus.pipelines.store.run_store import write_run


def _deliveries(n: int, size: int) -> list[pl.DataFrame]:
    rows = [
        {"seq": k, "kind": "deposited", "agent_id": f"a{k % 1000}", "amount": 1.0, "run_id": "r"}
        for k in range(n * size)
    ]
    frame = events_table(rows).with_columns(shard_id=pl.lit(0, pl.Int64))
    return [frame.slice(i * size, size) for i in range(n)]


def journal_chained(root: str, parts: list[pl.DataFrame]) -> None:
    writer = JournalWriter(root, acquire(root))
    for part in parts:
        writer.append(part)


def journal_plain(root: str, parts: list[pl.DataFrame]) -> None:
    fs, base = fsspec.core.url_to_fs(f"{root}/journal/date=x/run=r")
    fs.makedirs(base, exist_ok=True)
    for part in parts:
        buffer = io.BytesIO()
        pq.write_table(part.to_arrow().select(JOURNAL_SCHEMA.names).cast(JOURNAL_SCHEMA), buffer)
        first, last = part["seq"].min(), part["seq"].max()
        put_atomically(fs, f"{base}/{first:012d}-{last:012d}.parquet", buffer.getvalue())


def publish_guarded(out: str, result: enx.ClearingResult, inputs: dict) -> None:
    run_id = uuid.uuid4().hex[:8]
    lease = claim_run(out, run_id, "f", wait=0)
    assert isinstance(lease, Lease)
    with holding(lease):
        write_run(lease.root, result.tables, dict(result.manifest), inputs=inputs, fence=lease)


def publish_plain(out: str, result: enx.ClearingResult, inputs: dict) -> None:
    fs, root = fsspec.core.url_to_fs(f"{out}/{uuid.uuid4().hex[:8]}")
    fs.makedirs(f"{root}/inputs", exist_ok=True)
    for name, frame in inputs.items():
        frame.write_parquet(f"{root}/inputs/{name}.parquet")
    for name, frame in result.tables.items():
        pq.write_table(to_arrow(name, frame), f"{root}/{name}.parquet")


def settle_events(n: int) -> tuple[dict[str, AgentState], list]:
    states = {
        f"a{k}": AgentState(f"a{k}", balance=100.0, locked_stake=5.0, owed=30.0) for k in range(n)
    }
    frame = events_table(
        [
            {
                "seq": k,
                "kind": "settled",
                "agent_id": f"a{k}",
                "amount": 5.0,
                "price": 30.0,
                "payload": '{"outcome": "satisfactory", "bonus": 0.0, "slash": 0.0, "decay": 0.95}',
            }
            for k in range(n)
        ]
    )
    return states, events_from_table(frame)


def _journal_ms(
    writer: Callable[[str, list[pl.DataFrame]], None], parts: list, repeats: int
) -> float:
    def run() -> None:
        folder = tempfile.mkdtemp()
        try:
            writer(folder, parts)
        finally:
            shutil.rmtree(folder)

    return median_seconds(run, repeats=repeats)[0] / len(parts) * 1e3


def _publish_ms(publish: Callable[..., None], result: enx.ClearingResult, repeats: int) -> float:
    out = tempfile.mkdtemp()
    inputs = {"bids": result.allocations}
    try:
        return median_seconds(lambda: publish(out, result, inputs), repeats=repeats)[0] * 1e3
    finally:
        shutil.rmtree(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()
    rows: list[tuple[object, ...]] = []
    for size in (10, 1000):
        parts = _deliveries(args.deliveries, size)
        plain = _journal_ms(journal_plain, parts, args.repeats)
        chained = _journal_ms(journal_chained, parts, args.repeats)
        rows.append(
            (f"journal, {size} events per delivery (ms each)", plain, chained, chained / plain)
        )
    bids = enx.generate("paths", goods=100, bids=2000, seed=1, market_id="m")
    result = enx.clear(bids, workers=2)
    plain = _publish_ms(publish_plain, result, args.repeats)
    guarded = _publish_ms(publish_guarded, result, args.repeats)
    rows.append(("publish a 2,000-bid run (ms)", plain, guarded, guarded / plain))
    states, events = settle_events(100_000)
    check = median_seconds(
        lambda: [apply(states[e.agent_id], e) for e in events], repeats=args.repeats
    )[0]
    rows.append(("settle check, 100,000 winning bids (s)", "-", check, "-"))
    print_table(
        f"Trust overheads (medians of {args.repeats})",
        ["what", "plain", "guarded", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
