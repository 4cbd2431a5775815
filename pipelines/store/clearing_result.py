"""The result of a clearing run, as Polars frames."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from econonexus._core.errors import InputError
from econonexus.pipelines.store.result_views import MarketView
from econonexus.pipelines.store.run_store import StoredRun, read_run, run_location, write_run

PlotKind = Literal["all", "welfare", "payments", "prices"]


@dataclass(frozen=True)
class ClearingResult:
    """What :func:`econonexus.clear` returns.

    Attributes
    ----------
    run_id
        The run's id.
    tables
        The output tables by name: ``allocations``, ``summary``,
        ``rejected``, ``events``, ``prices`` (the price path of clock
        markets) and ``flagged`` (agents the manipulation checks flagged,
        :mod:`econonexus.agents.detection`); see the README for their
        columns. Each is also an attribute. A run written with ``out`` reads
        a table from its files when it is first used, so a large run is
        never held whole by the client.
    manifest
        Inputs with content hashes, settings, versions, times and status.
    location
        Where the run was written, or ``None`` if it was not.
    from_store
        True when an identical earlier run was returned without recomputing.
    """

    run_id: str
    tables: Mapping[str, pl.DataFrame] = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)
    location: str | None = None
    from_store: bool = False

    @property
    def allocations(self) -> pl.DataFrame:
        """One row per valid bid: who won, what they pay, the stake it needs."""
        return self.tables["allocations"]

    @property
    def summary(self) -> pl.DataFrame:
        """One row per market: format, status, welfare, revenue, ..."""
        return self.tables["summary"]

    @property
    def rejected(self) -> pl.DataFrame:
        """One row per broken rule of a rejected row, with the reason."""
        return self.tables["rejected"]

    @property
    def events(self) -> pl.DataFrame:
        """The run's audit events."""
        return self.tables["events"]

    @property
    def prices(self) -> pl.DataFrame:
        """The price path of clock markets."""
        return self.tables["prices"]

    @property
    def flagged(self) -> pl.DataFrame:
        """Agents flagged for manipulation."""
        return self.tables["flagged"]

    @property
    def status(self) -> str:
        """``"completed"``, or ``"completed_with_errors"`` if a market's status is ``error``."""
        return str(self.manifest["status"])

    @property
    def rejected_rows(self) -> int:
        """How many input rows were rejected (a row can break several rules)."""
        return self.rejected.select("source", "row").n_unique()

    def counts(self) -> str:
        """The run in one phrase: markets, bids, rejected rows and flagged agents."""
        return (
            f"{self.summary.height} markets, {self.allocations.height} bids, "
            f"{self.rejected_rows} rejected rows ({self.rejected.height} broken rules), "
            f"{self.flagged.height} flagged agents"
        )

    def __repr__(self) -> str:
        return (
            f"<ClearingResult {self.run_id}: {self.status}; {self.counts()}; "
            f"{self.location or 'not written'}>"
        )

    def _repr_html_(self) -> str:
        """The run in a notebook: id, status, where it is, and the summary table."""
        where = html.escape(self.location or "not written")
        head = f"<p><b>EconoNexus run {html.escape(self.run_id)}</b>: {self.status}; {where}</p>"
        tail = f"<p>{html.escape(self.counts())}</p>"
        return head + self.summary.drop("run_id")._repr_html_() + tail

    def market(self, market_id: str) -> MarketView:
        """One market of the run, with its own HTML view and plots."""
        known = self.summary["market_id"].to_list()
        if market_id not in known:
            raise InputError(f"`market_id`: expected one of {known}, got {market_id!r}")
        mine = pl.col("market_id") == market_id
        return MarketView(
            market_id,
            self.summary.filter(mine).row(0, named=True),
            self.allocations.filter(mine),
            self.prices.filter(mine),
        )

    def plot(self, kind: PlotKind = "all") -> Any:
        """Bokeh plots of the run: ``welfare`` (welfare and revenue per market),
        ``payments`` (payments against bids), ``prices`` (bid prices), or ``all``."""
        from econonexus.pipelines.dashboard.plots import run_plots  # Bokeh loads only here

        return run_plots(self.summary, self.allocations, kind)

    def write(self, url: str) -> str:
        """Write the run under ``url/<run_id>/`` (manifest last) and return that location."""
        location = run_location(url, self.run_id)
        write_run(location, dict(self.tables), self.manifest)
        return location

    @classmethod
    def from_stored(cls, stored: StoredRun, *, from_store: bool = True) -> ClearingResult:
        """A result over a run in storage (its tables read when first used)."""
        return cls(
            str(stored.manifest["run_id"]),
            stored.tables,
            stored.manifest,
            stored.location,
            from_store=from_store,
        )


def load_run(url: str) -> ClearingResult:
    """Read a completed run back from ``url`` (a ``<out>/<run_id>`` location), hashes checked."""
    return ClearingResult.from_stored(read_run(url))
