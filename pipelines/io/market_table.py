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
    rows = _rows(source)
    markets: Markets = {}
    policies: Policies = {}
    # rows with equal values share one checked settings and policy object: a table of
    # 100,000 markets of a few kinds is checked a few times, not 100,000
    checked: dict[Any, tuple[MarketSettings, MarketPolicy]] = {}
    for number, row in enumerate(rows, start=1):
        market = row.pop("market_id", None)
        if not isinstance(market, str) or not market.strip():
            raise InputError(
                f"markets {name!r} row {number}: `market_id` expected a non-empty string, "
                f"got {market!r}"
            )
        if market in markets:
            raise InputError(f"markets {name!r} row {number}: market {market!r} is listed twice")
        key = _values_key(row)
        if key is None or key not in checked:
            where = f"markets {name!r} market {market!r}"
            check_known(row, [*SETTING_NAMES, *POLICY_NAMES], where)
            made = (
                make_settings({k: v for k, v in row.items() if k in SETTING_NAMES}, where=where),
                make_policy({k: v for k, v in row.items() if k in POLICY_NAMES}, where=where),
            )
            if key is not None:
                checked[key] = made
        markets[market], policies[market] = made if key is None else checked[key]
    return markets, policies


def _values_key(row: dict[str, Any]) -> Any:
    """A hashable key of a row's values, ``None`` if some value is not hashable."""
    key = tuple(sorted((k, type(v).__name__, v) for k, v in row.items()))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _rows(source: MarketsSource) -> list[dict[str, Any]]:
    if isinstance(source, Mapping):
        return _mapping_rows(source, "<markets dict>")
    if isinstance(source, pa.Table):
        return pl.DataFrame(pl.from_arrow(source)).to_dicts()
    if isinstance(source, pl.DataFrame):
        return source.to_dicts()
    if source.lower().rstrip("/").endswith((".yaml", ".yml")):
        return _yaml_rows(source)
    return read_frame(source).to_dicts()


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
