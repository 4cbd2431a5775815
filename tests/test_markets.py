"""Markets tables and per-market formats through the pipeline, on a real LocalCluster."""

from __future__ import annotations

import gc
import pathlib
import time

import dask
import polars as pl
import pytest
from distributed import Client, get_task_stream

import econonexus as enx
from econonexus._core.market_settings import DEFAULT_SETTINGS, MarketSettings
from econonexus.pipelines.io.market_table import load_market_table, load_markets

DATA = pathlib.Path(__file__).parents[1] / "data"


def test_markets_table_from_yaml_csv_and_dict(tmp_path: pathlib.Path) -> None:
    from_yaml = load_markets(str(DATA / "markets.yaml"))
    assert from_yaml["gpu-hours"].format == "vickrey" and from_yaml["gpu-hours"].units == 2
    csv = tmp_path / "markets.csv"
    csv.write_text(
        "market_id,format,payment_rule,increment,max_rounds\nm,combinatorial,vcg,,\n"
        "e,english,,0.5,30\n"
    )
    from_csv = load_markets(str(csv))
    assert from_csv["m"].payment_rule == "vcg" and from_csv["e"].max_rounds == 30
    assert (
        load_markets({"x": {"format": "dutch", "start_price": 9, "decrement": 1}})["x"].start_price
        == 9
    )
    assert (
        DEFAULT_SETTINGS.format == "combinatorial" and DEFAULT_SETTINGS.payment_rule == "pay-as-bid"
    )
    named = {"v": {"format": "vickrey", "payment_rule": "second-price"}}
    named |= {"e": {"format": "english", "increment": 1, "payment_rule": "clock-price"}}
    loaded = load_markets(named)  # the names the summary gives these formats' rules
    assert (loaded["v"].summary_rule, loaded["e"].summary_rule) == ("second-price", "clock-price")


@pytest.mark.parametrize(
    ("markets", "message"),
    [
        ({"m": {"format": "sealed"}}, "market 'm': `format` expected one of"),
        (
            {"m": {"format": "vickrey", "payment_rule": "vcg"}},
            "`payment_rule` expected one of ['pay-as-bid', 'second-price'] (format 'vickrey' sets",
        ),
        ({"m": {"format": "english"}}, "`increment` expected a number > 0, got None"),
        ({"m": {"format": "dutch", "decrement": 1}}, "`start_price` expected a number > 0"),
        ({"m": {"reserve": -1}}, "`reserve` expected a finite number >= 0 and <= 1e+12, got -1"),
        ({"m": {"reserve": float("nan")}}, "`reserve` expected a finite number >= 0"),
        ({"m": {"reserve": True}}, "`reserve` expected a finite number >= 0"),
        ({"m": {"reserve": 2e12}}, "`reserve` expected a finite number >= 0 and <= 1e+12"),
        ({"m": {"units": 1.5}}, "`units` expected a whole number >= 1 and <= 1e+12, got 1.5"),
        ({"m": {"max_round": 3}}, "unknown setting(s) ['max_round']"),
        (
            {"m": {"format": "english", "increment": 1, "units": 2}},
            "`units` expected 1 for format 'english'",
        ),
    ],
)
def test_bad_settings_name_market_field_and_value(markets: dict, message: str) -> None:
    with pytest.raises(enx.InputError, match="markets '<markets dict>'") as err:
        load_markets(markets)
    assert message in str(err.value)


def test_duplicate_and_missing_market_ids_are_refused() -> None:
    with pytest.raises(enx.InputError, match="row 2: market 'a' is listed twice"):
        load_markets(pl.DataFrame({"market_id": ["a", "a"], "format": ["vickrey", "vickrey"]}))
    with pytest.raises(enx.InputError, match="row 1: `market_id` expected a non-empty string"):
        load_markets(pl.DataFrame({"market_id": [None], "format": ["vickrey"]}))


def test_a_large_table_is_checked_once_per_distinct_row() -> None:
    table = pl.DataFrame(
        {
            "market_id": [f"m{i}" for i in range(30_000)],
            "format": ["vickrey", "sealed-first-price", "vickrey"] * 10_000,
            "reserve": [1.0, None, 1.0] * 10_000,
        }
    )
    markets, policies = load_market_table(table)
    assert len({id(s) for s in markets.values()}) == 2, "two kinds of rows, two checks"
    assert markets["m0"] == MarketSettings(format="vickrey", reserve=1.0)
    assert markets["m1"].format == "sealed-first-price" and markets["m1"].reserve == 0.0
    assert len(policies) == 30_000
    bad = table.with_columns(
        reserve=pl.when(pl.col("market_id") == "m29998").then(-1.0).otherwise(pl.col("reserve"))
    )
    with pytest.raises(enx.InputError, match=r"market 'm29998': `reserve` expected"):
        load_market_table(bad)
    with pytest.raises(enx.InputError, match="row 30001: market 'm7' is listed twice"):
        load_market_table(pl.concat([table, table.filter(pl.col("market_id") == "m7")]))


def _bids(rows: list[tuple[str, str, str, list[str], float, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["bid_id", "agent_id", "market_id", "items", "price", "side"], orient="row"
    )


def test_formats_clear_side_by_side(client: Client) -> None:
    bids = _bids(
        [
            ("v1", "a", "vick", ["x"], 10.0, "buy"),
            ("v2", "b", "vick", ["x"], 8.0, "buy"),
            ("v3", "c", "vick", ["x", "y"], 9.0, "buy"),  # a bundle: not in a single-item market
            ("f1", "a", "first", ["x"], 10.0, "buy"),
            ("f2", "b", "first", ["x"], 8.0, "buy"),
            ("p1", "s", "proc", ["t1"], 5.0, "sell"),
            ("p2", "u", "proc", ["t1"], 7.0, "sell"),
            ("p3", "w", "proc", ["t1"], 6.0, "buy"),  # wrong side for procurement
            ("c1", "a", "combo", ["x", "y"], 10.0, "buy"),
            ("c2", "b", "combo", ["x"], 6.0, "buy"),
            ("c3", "c", "combo", ["y"], 6.0, "buy"),
        ]
    )
    markets = {
        "vick": {"format": "vickrey", "reserve": 1.0},
        "first": {"format": "sealed-first-price"},
        "proc": {"format": "procurement", "payment_rule": "vcg", "reserve": 10.0},
        "combo": {"payment_rule": "vcg"},
    }
    with get_task_stream(client) as stream:
        result = enx.clear(bids, markets=markets, client=client)
    prefixes = {str(t["key"]).strip("('").split("-")[1] for t in stream.data}
    # VCG markets keep the full graph, whose re-solves are tasks across the workers
    assert {"validate", "plan", "combine", "vcg", "price"} <= prefixes
    pay = dict(result.allocations.select("bid_id", "payment").iter_rows())
    assert pay["v1"] == 8.0 and pay["v2"] == 0.0  # Vickrey
    assert pay["f1"] == 10.0  # first price
    assert pay["p1"] == 7.0  # cheapest seller paid the second ask (VCG)
    assert pay["c2"] == 4.0 and pay["c3"] == 4.0  # VCG: 10 - 6 each, not their bids
    reasons = dict(result.rejected.select("bid_id", "reason").iter_rows())
    assert "expected one item with quantity 1 per bid" in reasons["v3"]
    assert "expected side 'sell', got 'buy'" in reasons["p3"]
    summary = result.summary.select("market_id", "format", "payment_rule", "revenue").rows()
    assert ("vick", "vickrey", "second-price", 8.0) in summary
    assert ("combo", "combinatorial", "vcg", 8.0) in summary
    revenue = result.allocations.group_by("market_id").agg(pl.col("payment").sum())
    assert dict(revenue.rows()) == {m: r for m, _, _, r in summary}


def test_vcg_at_a_time_limit_is_marked_approximate_with_bounds(client: Client) -> None:
    bids = enx.generate("weighted-random", goods=100, bids=500, seed=2, market_id="hard")
    result = enx.clear(
        bids,
        markets={"hard": {"payment_rule": "vcg"}},
        client=client,
        solver="cbc",
        time_limit=0.05,
    )
    won = result.allocations.filter("won")
    assert result.summary["status"][0] == "time_limit"
    assert not won["payment_exact"].any()
    assert (won["payment_low"] <= won["payment"]).all()
    assert (won["payment"] <= won["payment_high"] + 1e-9).all()
    assert (won["payment_high"] <= won["price"] + 1e-9).all()


def test_clock_market_reports_rounds_prices_and_efficiency(client: Client) -> None:
    bids = enx.generate("paths", goods=20, bids=60, seed=4, market_id="spec")
    result = enx.clear(bids, markets={"spec": {"format": "clock", "increment": 1.0}}, client=client)
    row = result.summary.row(0, named=True)
    assert row["format"] == "clock" and row["rounds"] >= 1
    assert 0 < row["efficiency"] <= 1.0
    prices = result.prices.filter(pl.col("market_id") == "spec")
    assert prices["round"].max() == row["rounds"] - 1
    final = prices.filter(pl.col("round") == prices["round"].max())
    assert (final["answers"] <= 1).all()  # supply 1: no item over-demanded at the end


@pytest.mark.parametrize("embed_max_bytes", [0, 1 << 20])  # broadcast, or in the task graph
def test_back_to_back_identical_batches_do_not_share_scattered_data(
    client: Client, embed_max_bytes: int
) -> None:
    # Identical inputs once got one content-hashed key: releasing a finished
    # batch could drop the data of the next one ("lost dependencies").
    one = _bids([(f"b{i}", f"a{i}", "lot", ["x"], float(i + 1), "buy") for i in range(5)])
    combo = enx.generate("decay", goods=10, bids=30, seed=3, market_id="combo")
    gc.collect()  # what earlier tests on the shared cluster let go of
    before = set(client.who_has())
    expected = enx.clear(combo, client=client).summary["welfare"][0]
    with dask.config.set({"econonexus.cluster.embed-max-bytes": embed_max_bytes}):
        for _ in range(4):
            result = enx.clear(one, client=client, markets={"lot": {"format": "vickrey"}})
            assert result.allocations.filter("won")["payment"].to_list() == [4.0]
            assert enx.clear(combo, client=client).summary["welfare"][0] == expected
    # every batch released what it placed on the workers (releases reach the scheduler async)
    deadline = time.monotonic() + 60  # generous: a loaded machine is slow
    while set(client.who_has()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(client.who_has()) - before


def test_a_small_batch_in_one_task_clears_as_the_full_graph(client: Client) -> None:
    """Three MIP markets whose hard components ``enx-clear`` hands to ``enx-solve`` tasks
    give the allocations and summaries of the stage-by-stage graph."""
    bids = pl.concat(
        [enx.generate("decay", goods=12, bids=40, seed=s, market_id=f"m{s}") for s in (1, 2, 3)]
    )
    markets = {"m1": {"payment_rule": "pay-as-bid"}}
    settings = {"econonexus.solver.inline-max-bids": 0, "econonexus.solver.enumerate-max-bids": 0}
    results, stages = [], []
    for small in (1000, 0):
        with (
            dask.config.set({**settings, "econonexus.cluster.small-batch-bids": small}),
            get_task_stream(client) as stream,
        ):
            results.append(enx.clear(bids, markets=markets, client=client))
        stages.append({str(t["key"]).strip("('").split("-")[1] for t in stream.data})
    # several hard components: solve tasks (the picks enx-rows and enx-rejected may run or
    # be released unrun: a run that publishes nothing gathers enx-clear itself)
    assert {"clear", "solve"} <= stages[0]
    assert not {"validate", "plan", "combine"} & stages[0]
    assert {"validate", "plan", "solve", "combine"} <= stages[1]
    one_task, full = (r.allocations.sort("bid_id").drop("run_id") for r in results)
    assert one_task["won"].sum() > 2
    assert one_task.equals(full)
    one_summary, full_summary = (r.summary.drop("run_id", "solve_seconds") for r in results)
    assert one_summary.equals(full_summary)
