"""Validate a batch of bids against the bids contract.

Every rule is a Polars expression over the whole batch (no Python loop per
row). A row that breaks a rule is kept in the rejected table with the field
and the reason, once per broken rule; the other rows clear.
"""

from __future__ import annotations

import polars as pl

from econonexus._core.market_settings import MarketSettings
from econonexus._core.schemas import (
    BIDS_SCHEMA,
    HIDDEN_ITEM_PREFIX,
    MAX_PRICE,
    REJECTED_SCHEMA,
    polars_schema,
)
from econonexus.pipelines.io.accounts import POSITION as _POSITION
from econonexus.pipelines.io.accounts import account_rules, with_reputation
from econonexus.pipelines.io.format_rules import format_rules
from econonexus.pipelines.io.market_policy import MarketPolicy
from econonexus.pipelines.io.normalize import TYPED
from econonexus.pipelines.io.signing import signature_rules

REJECTED_COLUMNS = polars_schema(REJECTED_SCHEMA, drop=("run_id",))


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


def _row_rules() -> list[tuple[str, pl.Expr, pl.Expr]]:
    """(field, broken, reason) for every rule that needs only the row itself.

    A field whose column type was refused gets that one reason, not the others.
    """
    refused = [(f, pl.col(f"_type_{f}").is_not_null(), pl.col(f"_type_{f}")) for f in TYPED]
    return refused + [
        (field, broken & pl.col(f"_type_{field}").is_null(), reason)
        if field in TYPED
        else (field, broken, reason)
        for field, broken, reason in _value_rules()
    ]


def _value_rules() -> list[tuple[str, pl.Expr, pl.Expr]]:
    price, raw_price = pl.col("price"), pl.col("_raw_price")
    items, qty = pl.col("items"), pl.col("quantities")
    n_qty = pl.col("_raw_quantities_len")
    return [
        ("bid_id", _blank("bid_id"), pl.lit("required: expected a non-empty string, got none")),
        ("agent_id", _blank("agent_id"), pl.lit("required: expected a non-empty string, got none")),
        (
            "market_id",
            pl.col("market_id").str.strip_chars() == "",
            pl.lit("expected a non-empty string or no value (market 'default')"),
        ),
        ("items", items.is_null(), pl.lit("required: expected a list of item ids, got none")),
        ("items", items.list.len() == 0, pl.lit("empty bundle: expected at least one item")),
        (
            "items",
            items.list.eval(pl.element().is_null() | (pl.element() == "")).list.any(),
            pl.lit("expected non-empty item ids, got an empty one"),
        ),
        (
            "items",
            items.list.len() != items.list.n_unique(),
            pl.format("repeated item in bundle {}: expected each item once", items.list.join(";")),
        ),
        (
            "quantities",
            qty.list.eval(pl.element().is_null()).list.sum() > 0,
            pl.lit("expected whole numbers >= 1"),
        ),
        (
            "quantities",
            (n_qty > 0) & (qty.list.len() != items.list.len()),
            pl.format(
                "has {} entries for {} items: expected one per item",
                qty.list.len(),
                items.list.len(),
            ),
        ),
        (
            "quantities",
            qty.list.eval(pl.element() < 1).list.any(),
            pl.format(
                "expected every quantity >= 1, got {}", qty.cast(pl.List(pl.String)).list.join(";")
            ),
        ),
        ("price", raw_price.is_null(), pl.lit("required: expected a finite number > 0, got none")),
        (
            "price",
            raw_price.is_not_null() & price.is_null(),
            pl.format("expected a finite number > 0, got '{}'", raw_price),
        ),
        ("price", price.is_nan(), pl.lit("expected a finite number > 0, got NaN")),
        ("price", price.is_infinite(), pl.format("expected a finite number > 0, got {}", price)),
        (
            "price",
            price.is_finite() & (price <= 0),
            pl.format("expected a number > 0, got {}", price),
        ),
        (
            "price",
            price.is_finite() & (price > MAX_PRICE),
            pl.format(f"expected a number <= {MAX_PRICE:g} (the price range), got {{}}", price),
        ),
        (
            "side",
            ~pl.col("side").fill_null("buy").is_in(["buy", "sell"]),
            pl.format("expected 'buy' or 'sell', got '{}'", pl.col("side")),
        ),
        (
            "submitted_at",
            pl.col("_raw_submitted_at").is_not_null() & pl.col("submitted_at").is_null(),
            pl.format("expected an ISO 8601 timestamp, got '{}'", pl.col("_raw_submitted_at")),
        ),
    ]


def _duplicate_rule(frame: pl.DataFrame) -> pl.DataFrame:
    keyed = frame.filter(~_blank("bid_id"))
    first = (
        keyed.group_by("bid_id")
        .agg(
            pl.len().alias("n"),
            pl.col("_source").first().alias("s"),
            pl.col("_row").first().alias("r"),
        )
        .filter(pl.col("n") > 1)
    )
    hits = keyed.join(first, on="bid_id")
    return hits.select(
        *_POSITION,
        "bid_id",
        pl.lit("bid_id").alias("field"),
        pl.format(
            "duplicate bid_id: {} rows share it (first: {} row {})",
            pl.col("n"),
            pl.col("s"),
            pl.col("r"),
        ).alias("reason"),
    )


def _item_rules(frame: pl.DataFrame, items: pl.DataFrame | None) -> pl.DataFrame:
    """Unknown items and quantities above supply.

    An items table governs the markets it lists: their bids may name only
    listed items. Markets it does not list have supply 1 and reserve 0 for
    every item.
    """
    units = (
        frame.filter(pl.col("items").list.len() > 0)
        .select(
            *_POSITION,
            "bid_id",
            "market_id",
            "items",
            pl.when(pl.col("quantities").list.len() == pl.col("items").list.len())
            .then(pl.col("quantities"))
            .otherwise(pl.col("items").list.eval(pl.lit(1, pl.Int64))),
        )
        .explode(["items", "quantities"])
        .rename({"items": "item_id", "quantities": "qty"})
    )
    catalogue = (
        items
        if items is not None
        else pl.DataFrame(schema={"market_id": pl.String, "item_id": pl.String, "supply": pl.Int64})
    )
    joined = units.join(
        catalogue.select("market_id", "item_id", "supply"), on=["market_id", "item_id"], how="left"
    )
    listed = catalogue["market_id"].unique().implode()
    hidden = pl.col("item_id").str.starts_with(HIDDEN_ITEM_PREFIX)
    unknown_here = pl.col("supply").is_null() & pl.col("market_id").is_in(listed) & ~hidden
    unknown = joined.filter(unknown_here).select(
        *_POSITION,
        "bid_id",
        pl.lit("items").alias("field"),
        pl.format(
            "unknown item '{}' in market '{}': not in the items table",
            pl.col("item_id"),
            pl.col("market_id"),
        ).alias("reason"),
    )
    in_listed = pl.col("market_id").is_in(listed)
    supply = pl.col("supply").fill_null(1)
    note = (
        pl.when(in_listed)
        .then(pl.lit(""))
        .otherwise(pl.lit(" (market not in an items table: supply 1)"))
    )
    above = joined.filter((pl.col("qty") > supply) & ~unknown_here).select(
        *_POSITION,
        "bid_id",
        pl.lit("quantities").alias("field"),
        pl.format(
            "{} units of '{}' asked, its supply is {}{}",
            pl.col("qty"),
            pl.col("item_id"),
            supply,
            note,
        ).alias("reason"),
    )
    return pl.concat([unknown, above])


def validate(
    frame: pl.DataFrame,
    items: pl.DataFrame | None = None,
    markets: dict[str, MarketSettings] | None = None,
    accounts: pl.DataFrame | None = None,
    keys: dict[str, bytes] | None = None,
    seen: pl.DataFrame | None = None,
    policies: dict[str, MarketPolicy] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a normalized batch into valid bids and rejected records.

    Parameters
    ----------
    frame
        The batch as returned by :func:`econonexus.pipelines.io.normalize.normalize`,
        all sources concatenated.
    items
        The validated items table, or ``None`` (every item: supply 1, reserve 0).
    markets
        Settings of the markets listed in a markets table; the others are
        combinatorial markets of buy bids.
    accounts
        Agents' accounts (:func:`econonexus.pipelines.io.accounts.load_accounts`),
        checked when given or when a market asks for stake or reputation.
    keys, seen
        Agents' signing keys, and the ``bid_id``/``run_id`` of signed bids
        accepted by earlier runs, for markets with ``signed: true``.
    policies
        The listed markets' policies: stakes, minimum reputation, signed bids.

    Returns
    -------
    valid, rejected
        ``valid`` holds the bids-schema columns plus ``_source``, ``_row``
        and ``_reputation`` (the bidder's, for reputation-scored markets);
        ``rejected`` holds ``source``, ``row``, ``bid_id``, ``field``, ``reason``.
    """
    rules = _row_rules()
    # one pass finds the rules that any row breaks; only those build their reasons
    hit = frame.select(
        broken.fill_null(False).any().alias(str(i)) for i, (_, broken, _) in enumerate(rules)
    ).row(0)
    checks = [
        frame.filter(broken.fill_null(False)).select(
            *_POSITION, "bid_id", pl.lit(field).alias("field"), reason.alias("reason")
        )
        for (field, broken, reason), broken_somewhere in zip(rules, hit, strict=True)
        if broken_somewhere
    ]
    checks += [
        _duplicate_rule(frame),
        _item_rules(frame, items),
        format_rules(frame, markets or {}),
    ]
    rejected = pl.concat(checks).sort(*_POSITION, "field")
    bad = rejected.select(*_POSITION).unique()
    valid = frame.join(bad, on=_POSITION, how="anti").with_columns(
        pl.col("side").fill_null("buy"),
        pl.when(pl.col("_raw_quantities_len") > 0)
        .then(pl.col("quantities"))
        .otherwise(pl.col("items").list.eval(pl.lit(1, pl.Int64)))
        .alias("quantities"),
    )
    columns = [*BIDS_SCHEMA.names, *_POSITION]
    policies = policies or {}
    later = []
    if any(p.signed for p in policies.values()):
        later.append(signature_rules(valid, policies, keys, seen))
    if accounts is not None or any(p.needs_accounts for p in policies.values()):
        unsigned = (
            valid.join(later[0].select(*_POSITION), on=_POSITION, how="anti") if later else valid
        )
        later.append(account_rules(unsigned, policies, accounts))
    if later:
        ineligible = pl.concat(later)
        valid = valid.join(ineligible.select(*_POSITION), on=_POSITION, how="anti")
        rejected = pl.concat([rejected, ineligible]).sort(*_POSITION, "field")
    return with_reputation(valid, accounts).select(*columns, "_reputation"), rejected.rename(
        {"_source": "source", "_row": "row"}
    ).cast(REJECTED_COLUMNS)  # type: ignore[arg-type]
