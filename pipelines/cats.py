"""The CATS file format (Combinatorial Auction Test Suite): parse and write.

``%`` starts a comment line; headers ``goods N``, ``bids M``, ``dummy D``;
then one line per bid, tab-separated: ``bid_id price good good ... #``.
Goods ``0..N-1`` are real items; goods ``N..N+D-1`` are dummy goods that
encode XOR: bids sharing a dummy good belong to one bidder and exclude each
other. A malformed bid line becomes a rejected row; a malformed header makes
the file unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from econonexus._errors import CatsFormatError, InputError
from econonexus.solvers.schemas import REJECTED_SCHEMA, polars_schema

_HEADERS = ("goods", "bids", "dummy")
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
    if len(tokens) != 2 or not tokens[1].isdigit():
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
    problem = _bid_line_problem(tokens, n_goods, n_dummy)
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
    real = [g for g in goods if g < n_goods]
    dummies = [g for g in goods if g >= n_goods]
    parsed.rows.append(
        {
            "bid_id": f"{market_id}:{bid_token}",
            "agent_id": f"{market_id}:d{dummies[0]}" if dummies else f"{market_id}:b{bid_token}",
            "market_id": market_id,
            "items": [str(g) for g in real],
            "quantities": [1] * len(real),
            "price": float(tokens[1]),
            "xor_group": f"d{dummies[0]}" if dummies else None,
            "_source": source,
            "_row": number,
        }
    )


def _bid_line_problem(tokens: list[str], n_goods: int, n_dummy: int) -> str | None:
    n_total = n_goods + n_dummy
    if tokens[-1] != "#":
        return "expected the line to end with '#'"
    if len(tokens) < 4:
        return "expected 'bid_id price good ... #' with at least one good"
    if not tokens[0].isdigit():
        return f"bid id {tokens[0]!r} is not a whole number"
    try:
        float(tokens[1])
    except ValueError:
        return f"price {tokens[1]!r} is not a number"
    for t in tokens[2:-1]:
        if not t.isdigit() or int(t) >= n_total:
            return f"good {t!r} is not a number in 0..{n_total - 1}"
    if sum(int(t) >= n_goods for t in tokens[2:-1]) > 1:
        return "more than one dummy good"
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

    Items are numbered in natural order (numeric ids by value); each (agent, XOR group) becomes a
    dummy good; bids are numbered in table order.

    Raises
    ------
    InputError
        If a bid asks for more than one unit of an item (CATS has unit supply).
    """
    if "quantities" in bids.columns and (bids["quantities"].list.max() > 1).any():
        raise InputError("`quantities`: CATS files hold one unit per good; got a quantity > 1")
    goods = sorted(set(bids["items"].explode().to_list()), key=_natural)
    index = {g: i for i, g in enumerate(goods)}
    groups: dict[tuple[str, str], int] = {}
    lines = [f"% {comment}"] if comment else []
    body = []
    for number, row in enumerate(bids.iter_rows(named=True)):
        cols = [str(number), repr(float(row["price"]))] + [str(index[g]) for g in row["items"]]
        if row.get("xor_group") is not None:
            key = (row["agent_id"], row["xor_group"])
            cols.append(str(len(goods) + groups.setdefault(key, len(groups))))
        body.append("\t".join([*cols, "#"]))
    lines += [f"goods {len(goods)}", f"bids {bids.height}", f"dummy {len(groups)}", ""]
    return "\n".join(lines + body) + "\n"


def _natural(item: str) -> tuple[int, int, str]:
    return (0, int(item), "") if item.isdigit() else (1, 0, item)
