"""Read and check a markets table: one row of settings per ``market_id``.

Accepted: a Parquet, CSV or Arrow IPC URL; a YAML URL holding either a
mapping ``{market_id: {setting: value}}`` or a list of rows; an Arrow table or
Polars frame; or a dict of market id to settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import polars as pl
import pyarrow as pa
import yaml

from econonexus._core.errors import InputError, SourceReadError
from econonexus._core.market_settings import (
    SETTING_NAMES,
    MarketSettings,
    check_known,
    make_settings,
)
from econonexus.pipelines.io.market_policy import POLICY_NAMES, MarketPolicy, make_policy
from econonexus.pipelines.io.readers import read_bytes, read_frame

MarketsSource: TypeAlias = str | pa.Table | pl.DataFrame | Mapping[str, Mapping[str, Any]]
Markets: TypeAlias = dict[str, MarketSettings]
Policies: TypeAlias = dict[str, MarketPolicy]


def load_markets(source: MarketsSource | None) -> Markets:
    """Each listed market's checked clearing settings (``{}`` for ``None``)."""
    return load_market_table(source)[0]


def load_market_table(source: MarketsSource | None) -> tuple[Markets, Policies]:
    """Each listed market's checked clearing settings and policy (``{}`` for ``None``).

    Raises
    ------
    InputError
        Naming the source, the market (or row) and the field when a setting
        is unknown or out of range, ``market_id`` is missing, or a market is
        listed twice.
    SourceReadError
        If a URL cannot be read.
    """
    if source is None:
        return {}, {}
    name = (
        source
        if isinstance(source, str)
        else "<markets dict>"
        if isinstance(source, Mapping)
        else "<markets table>"
    )
    frame = _frame(source)
    if frame is not None and frame.schema.get("market_id") == pl.String:
        return _table_markets(frame, name)
    rows = _rows(source) if frame is None else frame.to_dicts()
    markets: Markets = {}
    policies: Policies = {}
    for number, row in enumerate(rows, start=1):
        market = row.pop("market_id", None)
        if not isinstance(market, str) or not market.strip():
            raise InputError(
                f"markets {name!r} row {number}: `market_id` expected a non-empty string, "
                f"got {market!r}"
            )
        if market in markets:
            raise InputError(f"markets {name!r} row {number}: market {market!r} is listed twice")
        where = f"markets {name!r} market {market!r}"
        check_known(row, [*SETTING_NAMES, *POLICY_NAMES], where)
        markets[market] = make_settings(
            {k: v for k, v in row.items() if k in SETTING_NAMES}, where=where
        )
        policies[market] = make_policy(
            {k: v for k, v in row.items() if k in POLICY_NAMES}, where=where
        )
    return markets, policies


def _frame(source: MarketsSource) -> pl.DataFrame | None:
    """The table of a table source; ``None`` for a mapping or YAML."""
    if isinstance(source, Mapping):
        return None
    if isinstance(source, pa.Table):
        return pl.DataFrame(pl.from_arrow(source))
    if isinstance(source, pl.DataFrame):
        return source
    if source.lower().rstrip("/").endswith((".yaml", ".yml")):
        return None
    return read_frame(source)


def _rows(source: MarketsSource) -> list[dict[str, Any]]:
    if isinstance(source, Mapping):
        return _mapping_rows(source, "<markets dict>")
    assert isinstance(source, str)  # tables are read by _frame
    return _yaml_rows(source)


def _table_markets(frame: pl.DataFrame, name: str) -> tuple[Markets, Policies]:
    """A markets table checked in bulk: each distinct row of settings is checked once."""
    ids = frame["market_id"]
    blank = frame.with_row_index("row", offset=1).filter(
        pl.col("market_id").is_null() | (pl.col("market_id").str.strip_chars() == "")
    )
    if blank.height:
        row, market = blank.row(0)[0], blank["market_id"][0]
        raise InputError(
            f"markets {name!r} row {row}: `market_id` expected a non-empty string, got {market!r}"
        )
    twice = frame.with_row_index("row", offset=1).filter(pl.col("market_id").is_duplicated())
    if twice.height:
        second = twice.filter(pl.col("market_id") == twice["market_id"][0])["row"][1]
        raise InputError(
            f"markets {name!r} row {second}: market {twice['market_id'][0]!r} is listed twice"
        )
    values = [c for c in frame.columns if c != "market_id"]
    check_known(dict.fromkeys(values), [*SETTING_NAMES, *POLICY_NAMES], f"markets {name!r}")
    if not values:
        made = (make_settings({}, where=name), make_policy({}, where=name))
        return dict.fromkeys(ids.to_list(), made[0]), dict.fromkeys(ids.to_list(), made[1])
    groups = frame.with_row_index("_row").group_by(values, maintain_order=True)
    chosen: list[tuple[MarketSettings, MarketPolicy] | None] = [None] * frame.height
    for group in groups.agg(pl.col("_row"), pl.col("market_id").first()).to_dicts():
        rows, market = group.pop("_row"), group.pop("market_id")
        where = f"markets {name!r} market {market!r}"
        made = (
            make_settings({k: v for k, v in group.items() if k in SETTING_NAMES}, where=where),
            make_policy({k: v for k, v in group.items() if k in POLICY_NAMES}, where=where),
        )
        for row in rows:
            chosen[row] = made
    markets: Markets = {}
    policies: Policies = {}
    for market, pair in zip(ids.to_list(), chosen, strict=True):
        assert pair is not None
        markets[market], policies[market] = pair
    return markets, policies


def _yaml_rows(url: str) -> list[dict[str, Any]]:
    try:
        loaded = yaml.safe_load(read_bytes(url))
    except yaml.YAMLError as exc:
        raise SourceReadError(f"cannot read {url!r} as YAML: {exc}") from exc
    if isinstance(loaded, Mapping):
        return _mapping_rows(loaded, url)
    if isinstance(loaded, list) and all(isinstance(r, Mapping) for r in loaded):
        return [dict(r) for r in loaded]
    raise InputError(
        f"markets {url!r}: expected a mapping of market id to settings or a list of rows, "
        f"got {type(loaded).__name__}"
    )


def _mapping_rows(source: Mapping[Any, Any], name: str) -> list[dict[str, Any]]:
    rows = []
    for market, settings in source.items():
        if settings is None:
            settings = {}
        if not isinstance(settings, Mapping):
            raise InputError(
                f"markets {name!r} market {market!r}: expected a mapping of settings, "
                f"got {settings!r}"
            )
        rows.append({**settings, "market_id": market})
    return rows
