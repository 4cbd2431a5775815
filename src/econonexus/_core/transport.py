"""How a Polars DataFrame travels between processes (zstd-compressed Arrow IPC), and
how big Dask thinks it is.

Polars pickles a frame as its raw memory, where a string column that is all
null still takes 16 bytes a row (string views): a normalized batch of a
million bids pickled to 370 MB, against 12 MB of compressed IPC written in
0.2 s and read in 0.1 s (a small frame keeps Polars' own pickle: see
:data:`SMALL_FRAME_BYTES`). Importing ``econonexus`` registers this with
:mod:`copyreg`, which pickle and cloudpickle (and so Dask) consult; every
process that runs an EconoNexus task has imported it, and unpickling needs
only :func:`restore_frame`, importable wherever EconoNexus is installed.

Dask sizes what it does not know by ``sys.getsizeof``: 56 bytes for a frame
of a million rows. Its scheduler then moved whole batches to run a task that
reads a few rows of them elsewhere (23 s of transfers in a batch of 10M
bids), and its memory limits never saw the data. :func:`frame_size` tells it.
"""

from __future__ import annotations

import copyreg
import io
from collections.abc import Callable
from typing import Any

import polars as pl
from dask.sizeof import sizeof


def restore_frame(data: bytes) -> pl.DataFrame:
    """A frame from the bytes :func:`_reduce_frame` wrote."""
    return pl.read_ipc(io.BytesIO(data))


SMALL_FRAME_BYTES = 64 * 1024
"""Frames estimated at most this big travel as Polars' own pickle: for them IPC's fixed
cost (about 1.4 ms to write and read a 100-row frame, against 0.02 ms) is most of a
small batch's transfers, and its compression saves a few kilobytes at most."""


def _reduce_frame(frame: pl.DataFrame) -> str | tuple[Any, ...]:
    if frame.estimated_size() <= SMALL_FRAME_BYTES:
        return frame.__reduce_ex__(5)
    buffer = io.BytesIO()
    try:
        frame.write_ipc(buffer, compression="zstd")
    except Exception:  # a column IPC cannot hold (Object): Polars' own pickle
        return frame.__reduce_ex__(5)
    return restore_frame, (buffer.getvalue(),)


copyreg.pickle(pl.DataFrame, _reduce_frame)


def register_size(kind: type, size: Callable[[Any], int]) -> None:
    """Tell Dask how many bytes a ``kind`` object holds."""
    sizeof.register(kind, size)  # type: ignore[no-untyped-call]


def size_of(value: Any) -> int:
    """The bytes of ``value`` as Dask counts them."""
    return int(sizeof(value))


def frame_size(frame: pl.DataFrame) -> int:
    """The bytes of ``frame`` as Dask counts them: its estimated size in memory."""
    return int(frame.estimated_size())


register_size(pl.DataFrame, frame_size)
