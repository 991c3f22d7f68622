"""Helpers of the feature tests: the reference set, synthetic bars, perturbations."""

from __future__ import annotations

import numpy as np

from btgym.datafeed import Bars
from btgym.features import reference_set

MIN = 60_000_000_000
T0 = np.datetime64("2017-01-02T00:00", "ns").astype(np.int64)  # a Monday

#: the 20-feature reference set of features.md §10.
REFERENCE = reference_set()


def ohlc_from_close(close: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Valid OHLCV rows around a close path (open = previous close)."""
    n = len(close)
    op = np.r_[close[0], close[:-1]]
    hi = np.maximum(op, close) * (1 + rng.uniform(0, 2e-4, n))
    lo = np.minimum(op, close) * (1 - rng.uniform(0, 2e-4, n))
    vol = rng.uniform(1, 100, n)
    return np.column_stack([op, hi, lo, close, vol])


def geometric_bars(n: int = 3000, seed: int = 0, name: str = "X", stamps=None) -> Bars:
    """A synthetic geometric path of 1-minute bars."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    idx = T0 + np.arange(n, dtype=np.int64) * MIN if stamps is None else stamps
    return Bars((name,), idx, {name: ohlc_from_close(close, rng)}, 1)


def randomise_after(bars: Bars, i: int, seed: int) -> Bars:
    """Bars whose rows after position ``i`` are replaced by a random valid path."""
    rng = np.random.default_rng(seed)
    values = {}
    for name in bars.names:
        v = bars.values[name].copy()
        n = len(v) - i - 1
        if n > 0:
            close = v[i, 3] * np.exp(np.cumsum(rng.normal(0, 5e-3, n)))
            v[i + 1 :] = ohlc_from_close(close, rng)
        values[name] = v
    return Bars(bars.names, bars.index, values, bars.timeframe)


def perturb_row(bars: Bars, i: int, factor: float = 1.01) -> Bars:
    """Bars with row ``i`` scaled by ``factor`` (prices; still a valid bar)."""
    values = {}
    for name in bars.names:
        v = bars.values[name].copy()
        v[i, :4] *= factor
        values[name] = v
    return Bars(bars.names, bars.index, values, bars.timeframe)
