"""The sample batch installed with EconoNexus (the repository's ``data/``)."""

from __future__ import annotations

import importlib.resources
import pathlib


def sample_data() -> pathlib.Path:
    """The folder of sample data installed with EconoNexus (the repository's ``data/``):
    ``bids.csv``, ``auctions.csv``, ``paths.parquet``, ``decay.cats``, ``items.csv`` and
    ``markets.yaml``, the batch ``econonexus demo`` clears."""
    # the folder holds no __init__.py: its files() may be a MultiplexedPath, a file's is a Path
    bids = importlib.resources.files("econonexus.sample_data") / "bids.csv"
    return pathlib.Path(str(bids)).parent
