"""One market of a run, for notebooks: its summary, bids and prices, as HTML and plots."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

MarketPlotKind = Literal["all", "bids", "payments", "price-path"]


@dataclass(frozen=True)
class MarketView:
    """One market of a :class:`~econonexus.ClearingResult` (``result.market("id")``).

    Attributes
    ----------
    market_id
        The market.
    summary
        Its row of the run's summary, as a dict.
    allocations, prices
        Its rows of the run's tables (``prices``: the price path of a clock market).
    """

    market_id: str
    summary: dict[str, Any]
    allocations: pl.DataFrame
    prices: pl.DataFrame

    @property
    def winners(self) -> pl.DataFrame:
        """The winning bids, highest payment first."""
        return self.allocations.filter(pl.col("won")).sort("payment", descending=True)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<MarketView {self.market_id}: {s['format']}, {s['payment_rule']}, {s['status']}; "
            f"{self.allocations.height} bids, {self.winners.height} winners>"
        )

    def _repr_html_(self) -> str:
        """The market in a notebook: its facts, then its winners."""
        s = self.summary
        facts = (
            f"{s['format']}, {s['payment_rule']}: {s['status']}; {s['n_bids']} bids, "
            f"{s['n_rejected']} rejected rows, {s['n_winners']} winners; welfare "
            f"{s['welfare']:,.2f}, revenue {s['revenue']:,.2f}"
        )
        head = f"<p><b>Market {html.escape(self.market_id)}</b>: {html.escape(facts)}</p>"
        shown = self.winners.select(
            "bid_id", "agent_id", "items", "price", "payment", *self._extra_columns()
        )
        return head + shown._repr_html_()

    def _extra_columns(self) -> list[str]:
        return [c for c in ("payment_exact", "stake") if c in self.allocations.columns]

    def plot(self, kind: MarketPlotKind = "all") -> Any:
        """Bokeh plots of the market: ``bids`` (bid prices, winners stacked),
        ``payments`` (payments against bids), ``price-path`` (clock prices per
        round, clock markets only), or ``all``."""
        from econonexus.pipelines.dashboard.plots import (
            histogram,
            payments_against_bids,
            pick,
            price_path,
        )

        makers = {
            "bids": lambda: histogram(
                self.allocations["price"],
                title=f"bid prices in {self.market_id}",
                label="bid price",
                split=self.allocations["won"],
            ),
            "payments": lambda: payments_against_bids(self.allocations),
        }
        if self.prices.height:
            makers["price-path"] = lambda: price_path(self.prices)
        return pick(makers, kind)
