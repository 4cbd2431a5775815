"""Task delegation on the session's cluster: capable agents only, capacities, payments,
settlement that conserves money, and rejected tasks kept with their reason."""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Iterator

import polars as pl
import pytest
from distributed import Client

import econonexus as enx
from econonexus.pipelines.ops.settle_run import check_conservation
from tests.test_selling import sellers, tasks


@pytest.fixture(scope="module")
def pool(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[enx.AgentPool]:
    root = tmp_path_factory.mktemp("delegation") / "pool"
    agents = sellers(40).with_columns(
        banned=pl.Series([i == 3 for i in range(40)])  # s003 can paint and haul, but is banned
    )
    with enx.AgentPool.create(client, agents, shards=3, root=str(root)) as p:
        yield p


def test_capable_lists_the_agents_of_a_capability(pool: enx.AgentPool) -> None:
    painters = pool.capable("paint")
    agents = sellers(40)
    expected = {
        row["agent_id"]
        for row in agents.iter_rows(named=True)
        if any(c["capability"] == "paint" for c in row["capabilities"])
    } - {"s003"}
    assert set(painters["agent_id"]) == expected
    assert painters.columns == ["agent_id", "capability", "cost", "capacity", "reputation"]
    assert pool.capable("fly").is_empty()


def test_delegation_awards_capable_agents_within_capacity_and_settles(
    pool: enx.AgentPool, client: Client, tmp_path: pathlib.Path
) -> None:
    late = {"task_id": ["late"], "capability": ["paint"], "quantity": [1], "reserve": [50.0]}
    work = pl.concat([tasks(45), pl.DataFrame(late)], how="vertical_relaxed")
    work = work.with_columns(
        deadline=pl.when(pl.col("task_id") == "late")
        .then(pl.lit(dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
        .otherwise(None)
    )
    before = pool.states()
    done = enx.delegate(work, pool, client=client, out=str(tmp_path), payment_rule="vcg", seed=2)
    awards = done.awards
    assert awards.height > 0 and awards.height + done.unassigned.height == work.height
    assert done.left_out.is_empty() and repr(done).startswith("<Delegation ")
    able = pl.concat([pool.capable(c) for c in ("paint", "haul")])
    checked = awards.join(able, on=["agent_id", "capability"])
    assert checked.height == awards.height  # only capable agents win
    assert "s003" not in set(awards["agent_id"])
    load = checked.group_by("agent_id", "capability").agg(pl.col("quantity").sum(), "capacity")
    assert (load["quantity"] <= load["capacity"].list.first()).all()
    assert (awards["payment"] >= awards["ask"] - 1e-9).all()  # VCG never pays below the ask
    assert (awards["payment"] <= awards["reserve"] + 1e-9).all()
    reasons = dict(done.unassigned.select("task_id", "reason").iter_rows())
    assert reasons["late"] == "`deadline`: the deadline has passed"
    assert all("fly" in reasons[t] for t in work.filter(pl.col("capability") == "fly")["task_id"])
    due = pool.states().join(before.select("agent_id", pl.col("due").alias("was")), on="agent_id")
    assert (due["due"] - due["was"]).sum() == pytest.approx(awards["payment"].sum())

    outcomes = awards.select("bid_id").with_columns(outcome=pl.lit("satisfactory"))
    report = enx.settle(done.result, outcomes, pool=pool)
    assert report.ok and report.settled == awards.height
    after = pool.states().join(before.select("agent_id", "earned", "balance"), on="agent_id")
    earned = (after["earned"] - after["earned_right"]).sum()
    gained = (after["balance"] - after["balance_right"]).sum()
    assert earned == pytest.approx(awards["payment"].sum())  # what the buyer pays, sellers get
    assert gained == pytest.approx(earned)
    check_conservation(pool.states())
    again = enx.settle(done.result, outcomes, pool=pool)
    assert again.settled == 0  # exactly once


def test_pay_as_bid_pays_the_ask(
    pool: enx.AgentPool, client: Client, tmp_path: pathlib.Path
) -> None:
    done = enx.delegate(tasks(20, seed=9), pool, client=client, out=str(tmp_path), round_no=4)
    assert done.awards.height > 0
    assert (done.awards["payment"] - done.awards["ask"]).abs().max() == pytest.approx(0.0)
    with pytest.raises(enx.InputError, match="payment_rule"):
        enx.delegate(tasks(2), pool, client=client, payment_rule="second")  # type: ignore[arg-type]
