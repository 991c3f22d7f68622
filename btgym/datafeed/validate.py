"""Checks on parsed bars, and the rules for joining several files.

What is an error and what is a warning-and-fix:

==========================================  =====================================
problem                                     outcome
==========================================  =====================================
missing file                                ``DataFileNotFoundError``
row with the wrong number of fields,        ``DataParseError`` (file, line, column)
unreadable number or datetime
NaN / empty price or volume                 ``DataValidationError`` (file, line, column)
inf price or volume                         ``DataValidationError`` (file, line, column)
price <= 0 or > ``max_price`` (1e12),       ``DataValidationError`` (file, line, column)
negative volume
high < low, high below open/close,          ``DataValidationError``
low above open/close
timestamps not increasing within a file     ``DataValidationError`` (unsorted)
duplicated timestamp within a file          ``DataValidationError`` (names both lines)
blank lines                                 skipped silently
next file starts before the previous one    ``DataValidationError`` (files out of order)
next file overlaps the previous one's end   warning; its rows at or before the
                                            previous file's last stamp are dropped
                                            (the first file's bars are kept)
assets with different stamps                warning; aligned on common stamps
==========================================  =====================================

Line numbers are 1-based and count every line of the file (header and blank lines
included), so an editor jumps straight to the row.
"""

from __future__ import annotations

import numpy as np

from btgym.datafeed.parsing import PRICE_FIELDS
from btgym.datafeed.timeutil import stamp_str
from btgym.errors import DataValidationError
from btgym.log import get_logger

log = get_logger(__name__)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


#: default bound on believable prices (``ParsingParams.max_price``).
MAX_PRICE = 1e12


def check_values(
    values: np.ndarray, lines: np.ndarray, path: str, max_price: float = MAX_PRICE
) -> None:
    """Raise DataValidationError on the first bad OHLCV cell (see module table)."""
    if not len(values):
        return
    nan = np.isnan(values)
    if nan.any():
        r, c = (int(x) for x in np.argwhere(nan)[0])
        raise DataValidationError(
            f"missing or NaN {PRICE_FIELDS[c]} ({int(nan.sum())} NaN cell(s) in all)",
            path,
            int(lines[r]),
            PRICE_FIELDS[c],
        )
    inf = np.isinf(values)
    if inf.any():
        r, c = (int(x) for x in np.argwhere(inf)[0])
        raise DataValidationError(
            f"infinite {PRICE_FIELDS[c]} {values[r, c]!r} ({int(inf.sum())} infinite cell(s))",
            path,
            int(lines[r]),
            PRICE_FIELDS[c],
        )
    o, h, lo, c, v = values.T
    prices = values[:, :4]
    bad = prices <= 0
    if bad.any():
        r, j = (int(x) for x in np.argwhere(bad)[0])
        raise DataValidationError(
            f"non-positive price {prices[r, j]!r}", path, int(lines[r]), PRICE_FIELDS[j]
        )
    huge = prices > max_price
    if huge.any():
        r, j = (int(x) for x in np.argwhere(huge)[0])
        raise DataValidationError(
            f"price {prices[r, j]!r} is above max_price {max_price:g} (raise "
            "parsing_params={'max_price': ...} if it is real)",
            path,
            int(lines[r]),
            PRICE_FIELDS[j],
        )
    checks = (
        (v < 0, "volume", "negative volume {v}"),
        (h < lo, "high", "high {h} is below low {lo}"),
        (h < np.maximum(o, c), "high", "high {h} is below open {o} or close {c}"),
        (lo > np.minimum(o, c), "low", "low {lo} is above open {o} or close {c}"),
    )
    for mask, col, text in checks:
        r = _first(mask)
        if r is not None:
            msg = text.format(o=o[r], h=h[r], lo=lo[r], c=c[r], v=v[r])
            raise DataValidationError(msg, path, int(lines[r]), col)


def check_stamps(stamps: np.ndarray, lines: np.ndarray, path: str, column: str) -> None:
    """Stamps must strictly increase within one file (unsorted or duplicated → error)."""
    if len(stamps) < 2:
        return
    d = np.diff(stamps)
    r = _first(d <= 0)
    if r is None:
        return
    prev, cur = int(lines[r]), int(lines[r + 1])
    if d[r] == 0:
        dupes = int((d == 0).sum())
        raise DataValidationError(
            f"duplicated timestamp {stamp_str(stamps[r + 1])} (also on line {prev}); "
            f"{dupes} duplicate(s) in the file",
            path,
            cur,
            column,
        )
    raise DataValidationError(
        f"timestamps not sorted: {stamp_str(stamps[r + 1])} comes after "
        f"{stamp_str(stamps[r])} (line {prev})",
        path,
        cur,
        column,
    )


def join_overlap(prev_first: int, prev_last: int, stamps: np.ndarray, path: str, prev_path: str):
    """How many leading rows of the next file to drop so the join stays increasing.

    Raises:
        DataValidationError: the next file starts before the previous one does.
    """
    if not len(stamps) or stamps[0] > prev_last:
        return 0
    if stamps[0] < prev_first:
        raise DataValidationError(
            f"files out of time order: it starts at {stamp_str(stamps[0])}, before "
            f"{prev_path!s} (starts {stamp_str(prev_first)}); list files oldest first",
            path,
            None,
        )
    drop = int(np.searchsorted(stamps, prev_last, side="right"))
    log.warning(
        f"file {path}: {drop} row(s) overlap the previous file {prev_path} "
        f"(up to {stamp_str(prev_last)}); keeping the earlier file's bars"
    )
    return drop
