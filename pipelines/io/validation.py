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
    MAX_PRICE,
    REJECTED_SCHEMA,
    polars_schema,
)
from econonexus.pipelines.io.accounts import POSITION as _POSITION
from econonexus.pipelines.io.accounts import account_rules, with_reputation
from econonexus.pipelines.io.flag_sanctions import NO_SANCTIONS, Sanctions, excluded_rows
from econonexus.pipelines.io.format_rules import format_rules
from econonexus.pipelines.io.item_rules import item_rules
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


def duplicate_rule(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows whose ``bid_id`` another row has too (each with the first row of that id, in
    ``frame``'s order)."""
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


def validate(
    frame: pl.DataFrame,
    items: pl.DataFrame | None = None,
    markets: dict[str, MarketSettings] | None = None,
    accounts: pl.DataFrame | None = None,
    keys: dict[str, bytes] | None = None,
    seen: pl.DataFrame | None = None,
    policies: dict[str, MarketPolicy] | None = None,
    sanctions: Sanctions = NO_SANCTIONS,
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
    sanctions
        Agents whose bids ``on_flag: exclude`` markets reject (found by a first
        pass of the run: :mod:`econonexus.pipelines.graph.sanctions`).

    Returns
    -------
    valid, rejected
        ``valid`` holds the bids-schema columns plus ``_source``, ``_row``
        and ``_reputation`` (the bidder's, for reputation-scored markets);
        ``rejected`` holds ``source``, ``row``, ``bid_id``, ``field``, ``reason``.
    """
    rejected = row_checks(frame, items, markets).vstack(duplicate_rule(frame))
    valid = accept(frame, rejected)
    ineligible = eligibility(valid, policies or {}, keys, seen, accounts, sanctions)
    if ineligible is not None:
        valid = valid.join(ineligible.select(*_POSITION), on=_POSITION, how="anti")
        rejected = pl.concat([rejected, ineligible])
    return finish_valid(valid, accounts), as_rejected(rejected)


def row_checks(
    frame: pl.DataFrame,
    items: pl.DataFrame | None,
    markets: dict[str, MarketSettings] | None,
) -> pl.DataFrame:
    """The rules each row breaks on its own: values, items, the market's format.

    Rows hold ``_source`` and ``_row``; the result has them, ``bid_id``,
    ``field`` and ``reason`` (one row per broken rule). They need no other
    row, so a batch is checked part by part.
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
    checks += [item_rules(frame, items), format_rules(frame, markets or {})]
    return pl.concat(checks)


def accept(frame: pl.DataFrame, rejected: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``frame`` not in ``rejected``, side and quantities filled in."""
    bad = rejected.select(*_POSITION).unique()
    return frame.join(bad, on=_POSITION, how="anti").with_columns(
        pl.col("side").fill_null("buy"),
        pl.when(pl.col("_raw_quantities_len") > 0)
        .then(pl.col("quantities"))
        .otherwise(pl.col("items").list.eval(pl.lit(1, pl.Int64)))
        .alias("quantities"),
    )


def signed_rejects(
    valid: pl.DataFrame,
    policies: dict[str, MarketPolicy],
    keys: dict[str, bytes] | None,
    seen: pl.DataFrame | None,
) -> pl.DataFrame | None:
    """Rows of signed markets whose signature fails, or ``None`` without signed markets."""
    if not any(p.signed for p in policies.values()):
        return None
    return signature_rules(valid, policies, keys, seen)


def needs_accounts(policies: dict[str, MarketPolicy], accounts: pl.DataFrame | None) -> bool:
    """Whether the account rules (bans, reputation, stake) run."""
    return accounts is not None or any(p.needs_accounts for p in policies.values())


def eligibility(
    valid: pl.DataFrame,
    policies: dict[str, MarketPolicy],
    keys: dict[str, bytes] | None,
    seen: pl.DataFrame | None,
    accounts: pl.DataFrame | None,
    sanctions: Sanctions = NO_SANCTIONS,
) -> pl.DataFrame | None:
    """Rows rejected for their signature, their agent's exclusion, then (of the others)
    for their agent's account."""
    found = []
    if (screened := screen_rejects(valid, policies, keys, seen, sanctions)) is not None:
        found.append(screened)
        valid = valid.join(screened.select(*_POSITION), on=_POSITION, how="anti")
    if needs_accounts(policies, accounts):
        found.append(account_rules(valid, policies, accounts))
    return pl.concat(found) if found else None


def screen_rejects(
    valid: pl.DataFrame,
    policies: dict[str, MarketPolicy],
    keys: dict[str, bytes] | None,
    seen: pl.DataFrame | None,
    sanctions: Sanctions,
) -> pl.DataFrame | None:
    """Rows rejected for their signature, then (of the others) for their agent's exclusion
    (``on_flag: exclude``); ``None`` when neither rule applies. Needs no account."""
    signed = signed_rejects(valid, policies, keys, seen)
    if signed is not None:
        valid = valid.join(signed.select(*_POSITION), on=_POSITION, how="anti")
    found = [f for f in (signed, excluded_rows(valid, policies, sanctions)) if f is not None]
    return pl.concat(found) if found else None


def finish_valid(valid: pl.DataFrame, accounts: pl.DataFrame | None) -> pl.DataFrame:
    """The valid bids as the buckets take them: the bids columns, positions, reputation."""
    columns = [*BIDS_SCHEMA.names, *_POSITION]
    return with_reputation(valid, accounts).select(*columns, "_reputation")


def as_rejected(rejected: pl.DataFrame) -> pl.DataFrame:
    """Rejected records in the rejected table's columns, by position and field."""
    ordered = rejected.sort(*_POSITION, "field")
    return ordered.rename({"_source": "source", "_row": "row"}).cast(REJECTED_COLUMNS)  # type: ignore[arg-type]
