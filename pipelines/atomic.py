"""Create-if-absent writes: the one primitive every shared write under ``OUT/`` builds on.

On a local disk the bytes go to a temporary file that is then hard-linked to
its name, so the file appears whole or not at all, and only one of two
writers succeeds. Other fsspec filesystems use exclusive-create mode
(``"xb"``), which the ones we test (``memory://``) honour; a store without it
fails on its first write, never silently.
"""

from __future__ import annotations

import os
import posixpath
import uuid

import fsspec
from fsspec.implementations.local import LocalFileSystem


def create_if_absent(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it exists; return whether this call created it."""
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    if isinstance(fs, LocalFileSystem):
        return _link_local(path, data)
    try:
        with fs.open(path, "xb") as fh:
            fh.write(data)
    except FileExistsError:
        return False
    return True


def _link_local(path: str, data: bytes) -> bool:
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(temporary, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True
