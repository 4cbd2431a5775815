"""``audit verify`` catches every kind of edit to a stored run, not just won and payment."""

from __future__ import annotations

import json
import pathlib
import shutil
from collections.abc import Callable

import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.store.run_audit import verify_run

DATA = pathlib.Path(__file__).parents[1] / "data"
pytestmark = pytest.mark.slow


def _rewrite(table: pathlib.Path, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    """Apply ``change`` to each part of the dataset ``table``; rewrite the parts it changes."""
    for part in sorted(table.glob("part-*.parquet")):
        before = pl.read_parquet(part)
        after = change(before)
        if not after.equals(before):
            after.write_parquet(part)


def _winner(run: pathlib.Path) -> str:
    return str(pl.read_parquet(run / "allocations").filter("won").sort("bid_id")["bid_id"][0])


def _bid_price(run: pathlib.Path) -> None:
    w = _winner(run)
    _rewrite(
        run / "allocations",
        lambda f: f.with_columns(
            price=pl.when(pl.col("bid_id") == w).then(pl.col("price") + 1).otherwise("price")
        ),
    )


def _welfare(run: pathlib.Path) -> None:
    _rewrite(run / "summary", lambda f: f.with_columns(welfare=pl.col("welfare") * 10))


def _rejected_row(run: pathlib.Path) -> None:
    _rewrite(run / "rejected", lambda f: f.slice(1))


def _event_row(run: pathlib.Path) -> None:
    _rewrite(run / "events", lambda f: f.filter(pl.col("seq") != 1))


def _manifest(run: pathlib.Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"]["solver"] = "highs"
    (run / "manifest.json").write_text(json.dumps(manifest))


def _input_and_payment(run: pathlib.Path) -> None:
    w = _winner(run)
    raise_price = lambda f: f.with_columns(  # noqa: E731
        price=pl.when(pl.col("bid_id") == w).then(pl.col("price") * 2).otherwise("price")
    )
    _rewrite(run / "inputs" / "bids", raise_price)
    _rewrite(
        run / "allocations",
        lambda f: f.with_columns(
            payment=pl.when(pl.col("bid_id") == w).then(pl.col("payment") * 2).otherwise("payment")
        ),
    )


@pytest.fixture(scope="module")
def stored_run(client: Client, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("audited")
    sources = [str(DATA / "bids.csv"), str(DATA / "auctions.csv"), str(DATA / "decay.cats")]
    enx.clear(
        sources,
        items=str(DATA / "items.csv"),
        markets=str(DATA / "markets.yaml"),
        client=client,
        out=str(out),
        run_id="r",
    )
    return out / "r"


@pytest.mark.parametrize(
    ("tamper", "finding"),
    [
        (_bid_price, "allocations/part-"),
        (_welfare, "summary: "),
        (_rejected_row, "rejected: 1 rows differ"),
        (_event_row, "events: "),
        (_manifest, "manifest.json: its content differs"),
        (_input_and_payment, "SHA-256 differs"),
    ],
)
def test_every_edit_is_found(
    tamper: Callable[[pathlib.Path], None],
    finding: str,
    stored_run: pathlib.Path,
    client: Client,
    tmp_path: pathlib.Path,
) -> None:
    run = tmp_path / "r"
    shutil.copytree(stored_run, run)
    assert verify_run(str(run), client=client).ok
    tamper(run)
    report = verify_run(str(run), client=client)
    assert not report.ok
    assert any(finding in line for line in report.findings), report.findings
