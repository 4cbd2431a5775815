"""A pool's root: its ``pool.json`` and the one-writer lease taken before anything is written."""

from __future__ import annotations

import json

import fsspec

from econonexus._core.errors import InputError
from econonexus.agents.lease import Lease, acquire
from econonexus.agents.storage import create_if_absent


def claim_new_root(root: str, shards: int) -> Lease:
    """Take the lease of a new pool's ``root`` and create its ``pool.json`` (if absent).

    Raises
    ------
    InputError
        If ``root`` already holds a pool (or another process just created one there).
    """
    fs, path = fsspec.core.url_to_fs(f"{root.rstrip('/')}/pool.json")
    taken = InputError(f"`root`: {root!r} already holds an agent pool; open it with AgentPool.open")
    if fs.exists(path):
        raise taken
    lease = acquire(root)
    if not create_if_absent(fs, path, json.dumps({"shards": shards}).encode()):
        lease.release()
        raise taken
    return lease


def claim_existing_root(root: str, *, wait: float, break_lease: bool) -> tuple[int, Lease]:
    """The shard count of the pool at ``root``, and its lease (see :func:`.lease.acquire`).

    Raises
    ------
    InputError
        If ``root`` holds no pool.
    """
    fs, path = fsspec.core.url_to_fs(f"{root.rstrip('/')}/pool.json")
    if not fs.exists(path):
        raise InputError(f"`root`: expected an agent pool at {root!r} (no pool.json)")
    shards = int(json.loads(fs.cat_file(path))["shards"])
    return shards, acquire(root, wait=wait, break_lease=break_lease)
