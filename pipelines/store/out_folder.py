"""``RunStore(out)``: every folder under ``OUT/`` besides the runs, and the one fsspec caller there.

Layout (the runs themselves, ``OUT/<run_id>/``, are written by
:mod:`econonexus.pipelines.store.run_store`):

- ``_halts/<market>.json``: active halts; ``_history/<run>.parquet``: per-market
  stats of cleared runs, ``_history/_reset/<market>.json``: resume stamps;
- ``_carryover/<market>.parquet``: halted markets' bids for the next batch;
- ``_signed/<run>.parquet``: signed bids each run accepted;
- ``_schedule/``: the scheduler's lease (``_lease/``) and ledger (``ledger/``);
- ``_solver-logs/<run>/<market>-c<k>-<solver>.log``: each MIP component's solver log,
  when the setting ``solver.log`` is on.

File names made from market ids keep only ``A-Z a-z 0-9 - _ .`` (others become ``_``).
"""

from __future__ import annotations

import io
import json
import posixpath
from typing import Any, Final

import fsspec
import polars as pl

from econonexus.agents.storage import create_if_absent, put_atomically

HALTS: Final = "_halts"
HISTORY: Final = "_history"
RESETS: Final = "_history/_reset"
CARRYOVER: Final = "_carryover"
SIGNED: Final = "_signed"
SCHEDULE: Final = "_schedule"
LEDGER: Final = "_schedule/ledger"
SOLVER_LOGS: Final = "_solver-logs"


def write_solver_log(folder: str, name: str, text: str) -> None:
    """Write one component's solver log as ``<folder>/<name>.log`` (a retried task's
    attempt replaces the earlier one's)."""
    fs, path = fsspec.core.url_to_fs(folder)
    fs.makedirs(path, exist_ok=True)
    put_atomically(fs, posixpath.join(path, f"{file_name(name)}.log"), text.encode())


def file_name(name: str) -> str:
    """A market or run id as one safe file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class RunStore:
    """The folders under ``out`` that runs, halts, signatures and the scheduler share."""

    def __init__(self, out: str):
        self.out = out.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.out)

    def url(self, folder: str) -> str:
        """The URL of ``folder`` under ``OUT/`` (for the leases kept there)."""
        return posixpath.join(self.out, folder)

    def names(self, folder: str, suffix: str) -> list[str]:
        """File names (without ``suffix``) in ``folder``, sorted."""
        base = self._path(folder)
        if not self.fs.exists(base):
            return []
        found = (str(p).rsplit("/", 1)[-1] for p in self.fs.ls(base, detail=False))
        return sorted(n[: -len(suffix)] for n in found if n.endswith(suffix))

    def read_json(self, folder: str, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.fs.cat_file(self._path(folder, f"{name}.json")))
        return loaded

    def write_json(self, folder: str, name: str, record: dict[str, Any]) -> None:
        """Replace ``folder/name.json`` whole."""
        self._put(folder, f"{name}.json", json.dumps(record, default=str).encode())

    def create_json(self, folder: str, name: str, record: dict[str, Any]) -> bool:
        """Create ``folder/name.json`` unless it exists; whether this call created it."""
        path = self._path(folder, f"{name}.json")
        return create_if_absent(self.fs, path, json.dumps(record, default=str).encode())

    def read_parquet(self, folder: str, name: str) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self.fs.cat_file(self._path(folder, f"{name}.parquet"))))

    def write_parquet(self, folder: str, name: str, frame: pl.DataFrame) -> None:
        """Replace ``folder/name.parquet`` whole."""
        sink = io.BytesIO()
        frame.write_parquet(sink)
        self._put(folder, f"{name}.parquet", sink.getvalue())

    def remove(self, folder: str, name: str) -> None:
        self.fs.rm(self._path(folder, name))

    def _put(self, folder: str, name: str, data: bytes) -> None:
        self.fs.makedirs(self._path(folder), exist_ok=True)
        put_atomically(self.fs, self._path(folder, name), data)

    def _path(self, folder: str, name: str | None = None) -> str:
        return posixpath.join(self.root, folder, *([name] if name else []))
