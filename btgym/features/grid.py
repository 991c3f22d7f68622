"""Resampling, the regular grid, gaps and the bounded fill (``features.md`` §3).

Bins are **left-closed and left-labelled**, epoch-anchored in the source clock: the
5-minute bin labelled 10:00 holds the bars stamped 10:00 … 10:04 and is known at 10:05.
There is no interpolation of any kind: absent bins are missing rows, and the optional
``fill=k`` only copies the past (the close of the last present row) into at most k
missing rows right after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btgym.datafeed.bars import Bars
from btgym.errors import FeatureSpecError, FeatureUnavailableError

MINUTE_NS = 60_000_000_000


def check_resolution(bars: Bars, minutes: int, what: str = "") -> None:
    """Raise unless ``minutes`` is a whole multiple of the bars' timeframe.

    Raises:
        FeatureUnavailableError: finer than the data.
        FeatureSpecError: not a multiple of the timeframe.
    """
    check_minutes(bars.timeframe, minutes, what)


def check_minutes(tf: int, minutes: int, what: str = "") -> None:
    """:func:`check_resolution` for bars of ``tf`` minutes."""
    who = f"{what}: " if what else ""
    if minutes < tf:
        raise FeatureUnavailableError(
            f"{who}resolution {minutes} min is finer than the data ({tf} min bars)"
        )
    if minutes % tf:
        raise FeatureSpecError(
            f"{who}resolution {minutes} min is not a multiple of the data's {tf} min bars"
        )


def resample(bars: Bars, minutes: int, *, min_count: int = 1) -> Bars:
    """Left-closed, left-labelled OHLCV bins of ``minutes`` (no partial edge bins).

    Bin start ``floor(stamp / R) * R``; open first, high max, low min, close last, volume
    sum. A bin is emitted when it has ≥ ``min_count`` bars, starts at or after the first
    bar's stamp and its last slot ``start + R − timeframe`` is at or before the last bar.

    Raises:
        FeatureSpecError: ``minutes`` not a multiple of ``bars.timeframe``.
        FeatureUnavailableError: ``minutes`` finer than the data.
    """
    minutes = int(minutes)
    check_resolution(bars, minutes)
    step = minutes * MINUTE_NS
    tf = bars.timeframe * MINUTE_NS
    idx = bars.index
    if not len(idx):
        return bars
    bins = (idx // step) * step
    if minutes == bars.timeframe and np.array_equal(bins, idx):
        return bars  # already on the grid: identity (no copy)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    ends = np.r_[starts[1:], len(idx)]
    counts = ends - starts
    labels = bins[starts]
    keep = (counts >= min_count) & (labels >= idx[0]) & (labels + step - tf <= idx[-1])
    values = {}
    for name in bars.names:
        v = bars.values[name]
        out = np.empty((len(starts), 5))
        out[:, 0] = v[starts, 0]
        out[:, 1] = np.maximum.reduceat(v[:, 1], starts)
        out[:, 2] = np.minimum.reduceat(v[:, 2], starts)
        out[:, 3] = v[ends - 1, 3]
        out[:, 4] = np.add.reduceat(v[:, 4], starts)
        values[name] = out[keep]
    return Bars(bars.names, labels[keep], values, minutes)


@dataclass(frozen=True)
class Grid:
    """A dense regular grid of one resolution.

    Attributes:
        minutes: the resolution R.
        stamps: int64 ns, every R from the first to the last emitted bin.
        present: emitted bins (the only rows that are ever samples).
        missing: rows with no data at all (neither present nor filled).
        values: asset → ``(G, 5)``; NaN on missing rows, synthetic bars on filled ones
            (read-only views of the binned bars when the grid has no gaps).
    """

    minutes: int
    stamps: np.ndarray
    present: np.ndarray
    missing: np.ndarray
    values: dict[str, np.ndarray]

    @property
    def step(self) -> int:
        """R in nanoseconds."""
        return self.minutes * MINUTE_NS

    def __len__(self) -> int:
        return len(self.stamps)


def build_grid(bars: Bars, minutes: int, *, fill: int | None = None) -> Grid:
    """Resample ``bars`` to ``minutes`` and spread the bins on their regular grid."""
    binned = resample(bars, minutes)
    step = minutes * MINUTE_NS
    if not len(binned):
        empty = np.zeros(0, bool)
        nothing = {n: np.zeros((0, 5)) for n in bars.names}
        return Grid(minutes, np.zeros(0, np.int64), empty, empty, nothing)
    first = int(binned.index[0])
    size = (int(binned.index[-1]) - first) // step + 1
    stamps = first + np.arange(size, dtype=np.int64) * step
    if size == len(binned):  # no gaps: the bins are the grid (read-only views, no copy)
        present = np.ones(size, bool)
        dense = {}
        for name in bars.names:
            view = binned.values[name].view()
            view.flags.writeable = False
            dense[name] = view
        return Grid(minutes, stamps, present, ~present, dense)
    pos = (binned.index - first) // step
    present = np.zeros(size, bool)
    present[pos] = True
    values = {}
    for name in bars.names:
        arr = np.full((size, 5), np.nan)
        arr[pos] = binned.values[name]
        values[name] = arr
    missing = ~present
    if fill:
        filled = fill_rows(present, int(fill))
        if filled.any():
            src = last_present(present)[filled]
            for arr in values.values():
                close = arr[src, 3]
                arr[filled, :4] = close[:, None]
                arr[filled, 4] = 0.0
            missing = ~present & ~filled
    return Grid(minutes, stamps, present, missing, values)


def last_present(present: np.ndarray) -> np.ndarray:
    """Index of the last present row at or before each row (−1 before the first)."""
    idx = np.where(present, np.arange(len(present)), -1)
    return np.maximum.accumulate(idx) if len(idx) else idx


def fill_rows(present: np.ndarray, k: int) -> np.ndarray:
    """Missing rows within ``k`` rows after a present row (the rows ``fill=k`` bridges)."""
    if k <= 0:
        return np.zeros(len(present), bool)
    src = last_present(present)
    dist = np.arange(len(present)) - src
    return ~present & (src >= 0) & (dist <= k)


def asof_bins(index: np.ndarray, timeframe: int, minutes: int) -> np.ndarray:
    """The as-of bin ``b*(t) = floor((t + tf) / R) * R − R`` of each base stamp."""
    step = minutes * MINUTE_NS
    return ((index + timeframe * MINUTE_NS) // step) * step - step
