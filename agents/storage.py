"""Atomic small writes through fsspec: replace-whole and create-if-absent.

:func:`create_if_absent` is the one primitive every shared write builds on
(leases, journal commits, run manifests). On a local disk the bytes go to a
temporary file that is then hard-linked to its name, so the file appears
whole or not at all and only one of two writers succeeds. Other fsspec
filesystems use exclusive-create mode (``"xb"``), which the ones tested here
(``memory://``) honour; a store without it fails on its first write, never
silently.
"""

from __future__ import annotations

import os
import posixpath
import uuid

import fsspec
from fsspec.implementations.local import LocalFileSystem


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


def local_path_made_absolute(url: str) -> str:
    """``url`` itself, or for a plain local path (no protocol) its absolute form.

    Paths are resolved here, on the client: a worker resolving a relative path
    would use its own working directory.
    """
    if "://" in url or "::" in url:
        return url
    return os.path.abspath(url)


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
