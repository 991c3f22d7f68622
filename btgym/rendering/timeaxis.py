"""Date ticks for a gap-free bar-number x axis.

The x axis of the price charts is the bar number (no empty nights and weekends).
:func:`date_ticks` picks a "nice" calendar step (1 min ... 1 year) for the visible
span, places a tick on the first bar of every step, and labels it with the time,
adding the date where the day changes (the year where the year changes).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

_MIN = 60 * 10**9
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR
_STEPS = (
    _MIN,
    2 * _MIN,
    5 * _MIN,
    10 * _MIN,
    15 * _MIN,
    30 * _MIN,
    _HOUR,
    2 * _HOUR,
    3 * _HOUR,
    4 * _HOUR,
    6 * _HOUR,
    12 * _HOUR,
    _DAY,
    2 * _DAY,
    7 * _DAY,
    14 * _DAY,
)
_MONTH_STEPS = (1, 2, 3, 6, 12)  # in months
_EPOCH_THURSDAY = 3 * _DAY  # 1970-01-01 was a Thursday; weeks start on Monday


def _buckets(times: np.ndarray, step: int) -> np.ndarray:
    if step == 7 * _DAY or step == 14 * _DAY:
        return (times + _EPOCH_THURSDAY) // step
    return times // step


def _month_buckets(times: np.ndarray, months: int) -> np.ndarray:
    return times.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64) // months


def _to_datetime(t: int) -> _dt.datetime:
    return _dt.datetime(1970, 1, 1) + _dt.timedelta(microseconds=int(t) // 1000)


def date_ticks(
    times: np.ndarray, lo: int, hi: int, max_ticks: int = 8
) -> tuple[np.ndarray, list[str]]:
    """Tick positions (bar numbers) and labels for bars ``lo..hi`` of ``times``.

    Args:
        times: increasing int64 ns bar times of the whole axis.
        lo, hi: first and last visible bar numbers (inclusive).
        max_ticks: most ticks wanted.

    Returns:
        positions (float bar numbers) and their labels.
    """
    lo, hi = max(0, int(lo)), min(len(times) - 1, int(hi))
    if hi < lo:
        return np.zeros(0), []
    seg = times[lo : hi + 1]
    span = int(seg[-1] - seg[0])
    step, months = _pick_step(span, max_ticks)
    b = _month_buckets(seg, months) if months else _buckets(seg, step)
    pos = np.flatnonzero(np.diff(b)) + 1
    if len(pos) == 0 or (pos[0] > (hi - lo) / (2 * max_ticks) and len(pos) < max_ticks):
        pos = np.concatenate([[0], pos])  # always label the start of the view
    pos = _spaced(pos, (hi - lo + 1) / (1.6 * max_ticks))
    return pos.astype(np.float64) + lo, _labels(seg[pos], step, months)


def _spaced(pos: np.ndarray, min_gap: float) -> np.ndarray:
    """Drop ticks closer than ``min_gap`` bars to the previous kept one (gaps in the data
    can bunch calendar boundaries together)."""
    keep, last = [], -np.inf
    for p in pos.tolist():
        if p - last >= min_gap:
            keep.append(p)
            last = p
    return np.asarray(keep, dtype=np.int64)


def _pick_step(span: int, max_ticks: int) -> tuple[int, int]:
    for step in _STEPS:
        if span / step <= max_ticks:
            return step, 0
    for months in _MONTH_STEPS:
        if span / (months * 30.44 * _DAY) <= max_ticks:
            return 0, months
    return 0, 12 * int(np.ceil(span / (365.25 * _DAY) / max_ticks))


def _labels(ticks: np.ndarray, step: int, months: int) -> list[str]:
    labels, prev = [], None
    for t in ticks:
        d = _to_datetime(int(t))
        if months:
            text = d.strftime("%b\n%Y") if prev is None or d.year != prev.year else d.strftime("%b")
        elif step >= _DAY:
            new_year = prev is None or d.year != prev.year
            text = d.strftime("%b %d\n%Y") if new_year else d.strftime("%b %d")
        else:
            new_day = prev is None or d.date() != prev.date()
            text = d.strftime("%H:%M\n%a %b %d") if new_day else d.strftime("%H:%M")
        labels.append(text)
        prev = d
    return labels


def format_time(t: int, seconds: bool = False) -> str:
    """``YYYY-MM-DD HH:MM`` of an int64 ns timestamp."""
    return _to_datetime(t).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
