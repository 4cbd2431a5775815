"""The sample batch installed with EconoNexus (the repository's ``data/``)."""

from __future__ import annotations

import importlib.resources
import pathlib


def sample_data() -> pathlib.Path:
    """The folder of sample data installed with EconoNexus (the repository's ``data/``):
    ``bids.csv``, ``auctions.csv``, ``paths.parquet``, ``decay.cats``, ``items.csv`` and
    ``markets.yaml``, the batch ``econonexus demo`` clears."""
    # found from the package, not imported: importing the folder (it holds no __init__.py)
    # would make `econonexus.sample_data` that namespace module instead of this function
    bids = importlib.resources.files("econonexus") / "sample_data" / "bids.csv"
    return pathlib.Path(str(bids)).parent
