"""The CATS file format (Combinatorial Auction Test Suite): parse and write.

``%`` starts a comment line; headers ``goods N``, ``bids M``, ``dummy D``;
then one line per bid, tab-separated: ``bid_id price good good ... #``.
Goods ``0..N-1`` are real items; goods ``N..N+D-1`` are dummy goods: ordinary
goods of supply 1 whose only job is exclusion (bids sharing one exclude each
other). The original generator writes lines with several dummy goods, so a
dummy good is read as a hidden item ``~g`` (:data:`HIDDEN_ITEM_PREFIX`), never
as an XOR label. A malformed bid line becomes a rejected row; a malformed
header makes the file unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

from econonexus._core.errors import CatsFormatError, InputError
from econonexus._core.schemas import HIDDEN_ITEM_PREFIX, REJECTED_SCHEMA, polars_schema

_HEADERS = ("goods", "bids", "dummy")
_WHOLE = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() accepts '²', which int() rejects
ERRORS_SCHEMA = polars_schema(REJECTED_SCHEMA, drop=("run_id",), extra={"market_id": pl.String()})
"""Line errors of a source, in the rejected table's column names plus ``market_id``."""


@dataclass
class _Parsed:
    headers: dict[str, tuple[int, int]] = field(default_factory=dict)
    rows: list[dict[str, object]] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)


def parse_cats(text: str, *, source: str, market_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse CATS ``text`` into bid rows and line errors.

    Returns
    -------
    bids, errors
        ``bids`` has the bids-schema columns plus ``_source`` and ``_row`` (the
        line number). ``errors`` follows :data:`ERRORS_SCHEMA`: one row
        for each bad line.

    Raises
    ------
    CatsFormatError
        If a header line is malformed or ``goods`` is missing.
    """
    parsed = _Parsed()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        word = stripped.split()[0]
        if word in _HEADERS:
            _parse_header(parsed, stripped, number, source)
        else:
            _parse_bid(parsed, stripped, number, source, market_id)
    _check_counts(parsed, source)
    return _bids_frame(parsed.rows), _errors_frame(parsed.errors)


def _parse_header(parsed: _Parsed, line: str, number: int, source: str) -> None:
    tokens = line.split()
    if len(tokens) != 2 or not _WHOLE.fullmatch(tokens[1]):
        raise CatsFormatError(
            f"{source} line {number}: expected '{tokens[0]} N' with N a whole number, got {line!r}"
        )
    if tokens[0] in parsed.headers:
        raise CatsFormatError(f"{source} line {number}: header {tokens[0]!r} given twice")
    parsed.headers[tokens[0]] = (int(tokens[1]), number)


def _parse_bid(parsed: _Parsed, line: str, number: int, source: str, market_id: str) -> None:
    if "goods" not in parsed.headers:
        raise CatsFormatError(f"{source} line {number}: bid line before the 'goods N' header")
    n_goods = parsed.headers["goods"][0]
    n_dummy = parsed.headers.get("dummy", (0, 0))[0]
    tokens = line.split()
    bid_token = tokens[0]
    problem = _bid_line_problem(tokens, n_goods + n_dummy)
    if problem is not None:
        parsed.errors.append(
            {
                "source": source,
                "row": number,
                "market_id": market_id,
                "bid_id": f"{market_id}:{bid_token}",
                "field": "line",
                "reason": f"CATS syntax: {problem}; line was {line!r}",
            }
        )
        return
    goods = [int(t) for t in tokens[2:-1]]
    items = [str(g) if g < n_goods else f"{HIDDEN_ITEM_PREFIX}{g}" for g in goods]
    dummies = [g for g in goods if g >= n_goods]
    parsed.rows.append(
        {
            "bid_id": f"{market_id}:{bid_token}",
            # the generator gives each bidder its own dummy good: the first one names the bidder
            "agent_id": f"{market_id}:d{dummies[0]}" if dummies else f"{market_id}:b{bid_token}",
            "market_id": market_id,
            "items": items,
            "quantities": [1] * len(items),
            "price": float(tokens[1]),
            "xor_group": None,
            "_source": source,
            "_row": number,
        }
    )


def _bid_line_problem(tokens: list[str], n_total: int) -> str | None:
    if tokens[-1] != "#":
        return "expected the line to end with '#'"
    if len(tokens) < 4:
        return "expected 'bid_id price good ... #' with at least one good"
    if not _WHOLE.fullmatch(tokens[0]):
        return f"bid id {tokens[0]!r} is not a whole number"
    try:
        float(tokens[1])
    except ValueError:
        return f"price {tokens[1]!r} is not a number"
    for t in tokens[2:-1]:
        if not _WHOLE.fullmatch(t) or int(t) >= n_total:
            return f"good {t!r} is not a number in 0..{n_total - 1}"
    return None


def _check_counts(parsed: _Parsed, source: str) -> None:
    if "goods" not in parsed.headers:
        raise CatsFormatError(f"{source}: missing the 'goods N' header")
    if "bids" in parsed.headers:
        expected, number = parsed.headers["bids"]
        found = len(parsed.rows) + len(parsed.errors)
        if found != expected:
            parsed.errors.append(
                {
                    "source": source,
                    "row": number,
                    "market_id": None,
                    "bid_id": None,
                    "field": "bids",
                    "reason": f"header says {expected} bids, the file has {found} bid lines",
                }
            )


def _bids_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    schema = {
        "bid_id": pl.String(),
        "agent_id": pl.String(),
        "market_id": pl.String(),
        "items": pl.List(pl.String()),
        "quantities": pl.List(pl.Int64()),
        "price": pl.Float64(),
        "xor_group": pl.String(),
        "_source": pl.String(),
        "_row": pl.Int64(),
    }
    return pl.DataFrame(rows, schema=schema)


def _errors_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ERRORS_SCHEMA)


def write_cats_text(bids: pl.DataFrame, *, comment: str | None = None) -> str:
    """Render bids (bids schema, unit quantities) as CATS text.

    Items are numbered in natural order (numeric ids by value). Hidden items (``~g``) and each
    (agent, XOR group) become dummy goods after them; bids are numbered in table order.

    Raises
    ------
    InputError
        If a bid asks for more than one unit of an item (CATS has unit supply).
    """
    if "quantities" in bids.columns and (bids["quantities"].list.max() > 1).any():
        raise InputError("`quantities`: CATS files hold one unit per good; got a quantity > 1")
    named = set(bids["items"].explode().drop_nulls().to_list())
    goods = sorted((g for g in named if not g.startswith(HIDDEN_ITEM_PREFIX)), key=_natural)
    hidden = sorted(named - set(goods), key=lambda g: _natural(g[len(HIDDEN_ITEM_PREFIX) :]))
    index = {g: i for i, g in enumerate([*goods, *hidden])}
    groups: dict[tuple[str, str], int] = {}
    lines = [f"% {comment}"] if comment else []
    body = []
    for number, row in enumerate(bids.iter_rows(named=True)):
        cols = [str(number), repr(float(row["price"]))] + [str(index[g]) for g in row["items"]]
        if row.get("xor_group") is not None:
            key = (row["agent_id"], row["xor_group"])
            cols.append(str(len(index) + groups.setdefault(key, len(groups))))
        body.append("\t".join([*cols, "#"]))
    n_dummy = len(hidden) + len(groups)
    lines += [f"goods {len(goods)}", f"bids {bids.height}", f"dummy {n_dummy}", ""]
    return "\n".join(lines + body) + "\n"


def _natural(item: str) -> tuple[int, int, str]:
    return (0, int(item), "") if _WHOLE.fullmatch(item) else (1, 0, item)
