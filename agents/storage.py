"""Atomic small writes through fsspec, for pointers and journal entries."""

from __future__ import annotations

import uuid

import fsspec


def put_atomically(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    Local disks: write a hidden temporary file beside it, then rename (atomic
    on POSIX). Other filesystems (object stores, ``memory://``): one put of
    the whole object, which they make visible at once.
    """
    if "file" not in fs.protocol and "local" not in fs.protocol:
        fs.pipe_file(path, data)
        return
    parent, _, name = path.rpartition("/")
    tmp = f"{parent}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
    fs.pipe_file(tmp, data)
    fs.mv(tmp, path)
