"""The batch pipeline on a real 2-process LocalCluster, and its outputs."""

from __future__ import annotations

import json
import pathlib
import shutil

import polars as pl
import pyarrow.parquet as pq
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.io.cats import write_cats_text
from econonexus.pipelines.store.run_files import to_arrow, write_part
from econonexus.pipelines.store.run_store import manifest_digest
from tests.oracle import brute_force

DATA = pathlib.Path(__file__).parents[1] / "data"
SAMPLE = [str(DATA / n) for n in ("bids.csv", "paths.parquet", "decay.cats")]
ITEMS = str(DATA / "items.csv")


@pytest.fixture(scope="module")
def sample_run(client: Client, tmp_path_factory: pytest.TempPathFactory) -> enx.ClearingResult:
    out = tmp_path_factory.mktemp("runs")
    return enx.clear(SAMPLE, items=ITEMS, client=client, out=str(out))


def test_outputs_match_the_contract(sample_run: enx.ClearingResult) -> None:
    root = pathlib.Path(sample_run.location or "")
    assert sorted(p.name for p in root.iterdir()) == [
        "_lease",
        "allocations",
        "events",
        "flagged",
        "inputs",
        "manifest.json",
        "prices",
        "rejected",
        "summary",
    ]
    manifest = json.loads((root / "manifest.json").read_text())
    listed = manifest["outputs"]
    # every table is a dataset of parts, each listed with its rows and hash, and nothing else
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*.parquet") if p.parts[-3] != "inputs"}
    assert on_disk - {p for p in on_disk if p.startswith("inputs/")} == set(listed)
    for name, schema in [
        ("allocations", enx.ALLOCATIONS_SCHEMA),
        ("summary", enx.SUMMARY_SCHEMA),
        ("rejected", enx.REJECTED_SCHEMA),
        ("events", enx.EVENTS_SCHEMA),
        ("prices", enx.PRICES_SCHEMA),
    ]:
        parts = sorted((root / name).glob("part-*.parquet"))
        assert parts, name
        for part in parts:
            assert pq.read_schema(part).remove_metadata().equals(schema), name
        rows = sum(v["rows"] for k, v in listed.items() if k.startswith(f"{name}/"))
        assert rows == sample_run.tables[name].height == pl.read_parquet(root / name).height
    assert manifest["status"] == "completed"
    assert [i["source"] for i in manifest["inputs"]] == SAMPLE
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert {"pulp", "dask", "polars"} <= set(manifest["versions"])
    assert manifest["started_at"] <= manifest["finished_at"]


def test_a_run_written_before_parts_existed_still_reads(
    sample_run: enx.ClearingResult, tmp_path: pathlib.Path
) -> None:
    # the layout of earlier runs: one file per table, listed as `<table>.parquet`
    old = tmp_path / "old"
    shutil.copytree(sample_run.location or "", old)
    manifest = json.loads((old / "manifest.json").read_text())
    listed = {}
    for name, frame in sample_run.tables.items():
        shutil.rmtree(old / name)
        listed |= write_part(str(old), f"{name}.parquet", to_arrow(name, frame))
    manifest["outputs"] = listed
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (old / "manifest.json").write_text(json.dumps(manifest))
    stored = enx.read_run(str(old))
    assert stored.summary.equals(sample_run.summary)
    assert stored.allocations.equals(sample_run.allocations)


def test_sample_markets_clear_with_expected_figures(sample_run: enx.ClearingResult) -> None:
    summary = {r["market_id"]: r for r in sample_run.summary.iter_rows(named=True)}
    assert set(summary) == {"compute", "tasks", "paths", "decay"}
    assert all(r["status"] == "optimal" for r in summary.values())
    assert summary["compute"]["welfare"] == pytest.approx(100.0)  # c4 + c1 use all cpu, gpu, ram
    assert summary["tasks"]["welfare"] == pytest.approx(28.5)
    assert summary["compute"]["n_rejected"] == 3 and summary["tasks"]["n_rejected"] == 5
    alloc = sample_run.allocations
    assert (
        alloc.filter(pl.col("won"))["payment"].to_list()
        == alloc.filter(pl.col("won"))["price"].to_list()
    )
    assert alloc.filter(~pl.col("won"))["payment"].sum() == 0
    for r in summary.values():
        market = alloc.filter(pl.col("market_id") == r["market_id"])
        assert r["revenue"] == pytest.approx(market["payment"].sum())
        assert r["n_winners"] == market["won"].sum()


def test_rejected_rows_are_kept_with_reasons(sample_run: enx.ClearingResult) -> None:
    rejected = sample_run.rejected
    assert set(rejected["bid_id"].drop_nulls()) == {
        "bad1",
        "bad2",
        "bad3",
        "bad4",
        "bad5",
        "bad6",
        "c2",
    }
    row = rejected.filter(pl.col("bid_id") == "bad6").row(0, named=True)
    assert row["source"].endswith("bids.csv") and row["row"] == 21 and row["field"] == "price"
    assert "bad3" in rejected.filter(pl.col("reason").str.contains("unknown item 'tpu'"))["bid_id"]


def test_small_batches_agree_with_the_oracle(client: Client) -> None:
    bids = enx.generate("decay", goods=6, bids=9, seed=3, market_id="tiny")
    result = enx.clear(bids, client=client)
    answer = brute_force(bids.with_columns(pl.col("xor_group")))
    assert result.summary["welfare"][0] == pytest.approx(answer.welfare)


def test_same_input_same_winners_whatever_the_file_order(
    client: Client, tmp_path: pathlib.Path
) -> None:
    bids = enx.generate("uniform", goods=20, bids=60, seed=4, market_id="u").with_columns(
        pl.col("price").round(0)
    )  # many exact ties
    runs = [
        enx.clear(b, client=client, solver=s)
        for b in (bids, bids.reverse(), bids.sample(fraction=1.0, shuffle=True, seed=9))
        for s in ("cbc", "highs")
    ]
    winners = {frozenset(r.allocations.filter(pl.col("won"))["bid_id"]) for r in runs}
    assert len(winners) == 1


def test_rerun_with_same_run_id_is_served_from_store(
    client: Client, tmp_path: pathlib.Path
) -> None:
    bids = enx.generate("decay", goods=20, bids=40, seed=1, market_id="d")
    first = enx.clear(bids, client=client, out=str(tmp_path), run_id="r1")
    again = enx.clear(bids, client=client, out=str(tmp_path), run_id="r1")
    assert not first.from_store and again.from_store
    assert again.allocations.equals(first.allocations)
    with pytest.raises(enx.RunConflictError, match=r"`run_id`: run 'r1' already exists"):
        enx.clear(bids.head(10), client=client, out=str(tmp_path), run_id="r1")
    with pytest.raises(enx.RunConflictError):
        enx.clear(bids, client=client, out=str(tmp_path), run_id="r1", solver="highs")


def test_default_run_id_is_utc_time_and_hash(client: Client) -> None:
    result = enx.clear(enx.generate("decay", goods=5, bids=5, seed=1), client=client)
    assert result.run_id[8] == "T" and result.run_id[15] == "Z" and len(result.run_id) == 25
    assert result.location is None


def test_batch_with_no_valid_bid_is_empty_not_a_crash(client: Client) -> None:
    bids = pl.DataFrame(
        {"bid_id": ["a", "b"], "agent_id": ["x", "y"], "items": [["i"], []], "price": [-1.0, 2.0]}
    )
    result = enx.clear(bids, client=client)
    assert result.summary["status"].to_list() == ["empty"]
    assert result.summary["n_rejected"].to_list() == [2]
    assert result.allocations.height == 0


def test_time_limit_is_reported_honestly(client: Client) -> None:
    bids = enx.generate("uniform", goods=100, bids=600, seed=2, market_id="hard")
    for solver in ("cbc", "highs"):
        result = enx.clear(bids, client=client, solver=solver, time_limit=0.5)
        row = result.summary.row(0, named=True)
        assert row["status"] == "time_limit", row
        assert row["bound"] > row["welfare"] > 0
        assert row["gap"] == pytest.approx((row["bound"] - row["welfare"]) / row["bound"])


def test_gap_option_stops_early_but_not_as_optimal(client: Client) -> None:
    bids = enx.generate("uniform", goods=60, bids=300, seed=3, market_id="g")
    exact = enx.clear(bids, client=client, solver="highs").summary.row(0, named=True)
    loose = enx.clear(bids, client=client, solver="highs", gap=0.05).summary.row(0, named=True)
    assert exact["status"] == "optimal"
    assert loose["welfare"] >= (1 - 0.05) * exact["welfare"] - 1e-6
    assert loose["status"] in ("optimal", "time_limit")
    assert loose["status"] == "optimal" or loose["bound"] >= exact["welfare"] - 1e-6


def test_markets_clear_independently_and_decompose(client: Client, tmp_path: pathlib.Path) -> None:
    sources = []
    for i in range(3):
        path = tmp_path / f"m{i}.cats"
        path.write_text(write_cats_text(enx.generate("paths", goods=40, bids=80, seed=i)))
        sources.append(str(path))
    result = enx.clear(sources, client=client)
    assert result.summary["market_id"].to_list() == ["m0", "m1", "m2"]
    assert (result.summary["components"] >= 1).all()
    for i, src in enumerate(sources):
        alone = enx.clear(src, client=client).summary.row(0, named=True)
        assert result.summary.row(i, named=True)["welfare"] == pytest.approx(alone["welfare"])


def test_bad_options_are_refused_with_the_parameter_name() -> None:
    bids = enx.generate("decay", goods=5, bids=5, seed=1)
    with pytest.raises(
        enx.InputError,
        match="`solver`: expected one of auto, cbc, highs, scip, 'pulp:NAME' or a PuLP solver "
        "object, got 'gurobi'",
    ):
        enx.clear(bids, solver="gurobi")  # type: ignore[arg-type]
    with pytest.raises(enx.InputError, match="`time_limit`: expected seconds > 0"):
        enx.clear(bids, time_limit=-1)
    with pytest.raises(enx.InputError, match=r"`gap`: expected a relative gap in \[0, 1\)"):
        enx.clear(bids, gap=2)
    with pytest.raises(enx.InputError, match=r"`client`: expected a distributed\.Client"):
        enx.clear(bids, client=42)  # type: ignore[arg-type]


def test_result_write_and_read_back(sample_run: enx.ClearingResult, tmp_path: pathlib.Path) -> None:
    location = sample_run.write(f"memory://enx-{tmp_path.name}")
    back = enx.read_run(location)
    assert back.allocations.equals(sample_run.allocations)
    assert back.summary.equals(sample_run.summary)
    assert back.manifest["run_id"] == sample_run.run_id
