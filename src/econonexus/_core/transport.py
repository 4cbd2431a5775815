"""How a Polars DataFrame travels between processes: zstd-compressed Arrow IPC.

Polars pickles a frame as its raw memory, where a string column that is all
null still takes 16 bytes a row (string views): a normalized batch of a
million bids pickled to 370 MB, against 12 MB of compressed IPC written in
0.2 s and read in 0.1 s. Importing ``econonexus`` registers this with
:mod:`copyreg`, which pickle and cloudpickle (and so Dask) consult; every
process that runs an EconoNexus task has imported it, and unpickling needs
only :func:`restore_frame`, importable wherever EconoNexus is installed.
"""

from __future__ import annotations

import copyreg
import io
from typing import Any

import polars as pl


def restore_frame(data: bytes) -> pl.DataFrame:
    """A frame from the bytes :func:`_reduce_frame` wrote."""
    return pl.read_ipc(io.BytesIO(data))


def _reduce_frame(frame: pl.DataFrame) -> str | tuple[Any, ...]:
    buffer = io.BytesIO()
    try:
        frame.write_ipc(buffer, compression="zstd")
    except Exception:  # a column IPC cannot hold (Object): Polars' own pickle
        return frame.__reduce_ex__(5)
    return restore_frame, (buffer.getvalue(),)


copyreg.pickle(pl.DataFrame, _reduce_frame)
