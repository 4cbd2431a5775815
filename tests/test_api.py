"""The public surface: __all__, readers, config defaults."""

from __future__ import annotations

import pathlib

import dask.config
import pyarrow as pa

import econonexus as enx

DATA = pathlib.Path(__file__).parents[1] / "data"


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in dir(enx) if not n.startswith("_") and n not in {"annotations"}}
    modules = {"pipelines", "solvers", "agents"}
    assert set(enx.__all__) - {"__version__"} == public - modules
    for name in enx.__all__:
        assert getattr(enx, name) is not None


def test_errors_share_one_root() -> None:
    for error in (
        enx.InputError,
        enx.SourceReadError,
        enx.CatsFormatError,
        enx.SolverError,
        enx.RunConflictError,
        enx.RunFailedError,
        enx.AgentStateError,
        enx.SnapshotError,
        enx.ShardUnavailableError,
    ):
        assert issubclass(error, enx.EconoNexusError)


def test_read_bids_keeps_positions_and_read_cats_gives_bids_schema() -> None:
    raw = enx.read_bids(str(DATA / "bids.csv"))
    assert raw.num_rows == 20 and "_row" in raw.column_names
    cats = enx.read_cats(str(DATA / "decay.cats"))
    assert isinstance(cats, pa.Table) and cats.schema.equals(enx.BIDS_SCHEMA)
    assert set(cats.column("market_id").to_pylist()) == {"decay"}


def test_defaults_come_from_dask_config() -> None:
    assert dask.config.get("econonexus.solver.backend") == "auto"
    with dask.config.set({"econonexus.solver.enumerate-max-bids": 3}):
        from econonexus.pipelines.graph.options import make_options

        assert make_options(solver=None, time_limit=None, gap=None).enumerate_max == 3


def test_sample_data_is_the_installed_batch_however_often_it_is_asked_for() -> None:
    first = enx.sample_data()
    assert enx.sample_data() == first, "a second call works too (it once found a module)"
    assert callable(enx.sample_data)
    names = {p.name for p in first.iterdir()}
    assert {"bids.csv", "auctions.csv", "paths.parquet", "decay.cats", "items.csv"} <= names
    assert (first / "bids.csv").read_bytes() == (DATA / "bids.csv").read_bytes()
