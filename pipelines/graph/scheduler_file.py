"""Finding a running cluster the way Dask does: an address, a scheduler file, or the environment.

``econonexus serve`` writes the scheduler file named by setting
``cluster.scheduler-file`` (default ``~/.econonexus/scheduler.json``, Dask's own
scheduler-file format) and removes it when it stops; every other command
uses the first of: ``--scheduler ADDRESS``, ``--scheduler-file FILE``,
``DASK_SCHEDULER_ADDRESS`` (Dask's ``scheduler-address`` setting), that file.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
from urllib.parse import urlsplit

import dask.config

from econonexus._core.config import get_setting
from econonexus._core.errors import InputError


def default_scheduler_file() -> pathlib.Path:
    """The scheduler file ``serve`` writes and the other commands look for."""
    return pathlib.Path(os.path.expanduser(str(get_setting("cluster.scheduler-file"))))


def scheduler_address(
    scheduler: str | None = None, scheduler_file: str | None = None
) -> str | None:
    """The scheduler to use, or ``None`` for this process's own LocalCluster.

    An explicit ``scheduler`` or ``scheduler_file`` wins, then Dask's
    ``scheduler-address`` setting (``DASK_SCHEDULER_ADDRESS``), then the
    default scheduler file when it names a scheduler that is listening (a
    file left behind by a killed ``serve`` is ignored).
    """
    if scheduler:
        return scheduler
    if scheduler_file:
        return read_scheduler_file(pathlib.Path(scheduler_file))
    if configured := dask.config.get("scheduler-address", None):
        return str(configured)
    default = default_scheduler_file()
    if not default.exists():
        return None
    try:
        address = read_scheduler_file(default)
    except InputError:
        return None
    return address if _listening(address) else None


def read_scheduler_file(path: pathlib.Path) -> str:
    """The scheduler address in a Dask scheduler file."""
    try:
        address = json.loads(path.read_text())["address"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"`--scheduler-file`: expected a Dask scheduler file with an 'address', "
            f"could not read {str(path)!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return str(address)


def write_scheduler_file(path: pathlib.Path, address: str) -> bool:
    """Write ``path`` naming ``address``, unless another live scheduler holds it; return if written.

    The file is replaced atomically; a file naming a scheduler that no longer
    listens (a ``serve`` that was killed) is replaced.
    """
    if path.exists():
        try:
            if _listening(read_scheduler_file(path)):
                return False
        except InputError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps({"type": "Scheduler", "address": address}))
    os.replace(partial, path)
    return True


def remove_scheduler_file(path: pathlib.Path, address: str) -> None:
    """Remove ``path`` if it still names ``address`` (another serve may have replaced it)."""
    try:
        if read_scheduler_file(path) == address:
            path.unlink()
    except (InputError, FileNotFoundError):
        pass


def _listening(address: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at a Dask address such as ``tcp://h:p``."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.hostname is None or parts.port is None:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return True
    except OSError:
        return False
