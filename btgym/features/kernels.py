"""The one set of kernels shared by the batch path and the stream.

A kernel reads a :class:`Ctx`: dense grid arrays (NaN rows where the grid has no bar).
In batch mode (``last=False``) the arrays span the whole grid and the kernel returns one
value per row. In stream mode (``last=True``) the arrays are the trailing ``extent + 1``
rows and only the value of the last row is used; rolling reductions then reduce just that
one window, with the same code the batch path applies to every window (a reducer's
``batch`` form, when it has one, computes each window with operations that depend only
on that window's rows, so one window alone gives the same bits). Elementwise formulas run
on identical numbers in both modes, hence bit-exact parity.

Every kernel has finite memory: a value depends on exactly the rows of its window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: rows per block of a rolling reduction in batch mode (bounds temporary memory).
CHUNK = 1 << 12  # small blocks stay in cache


class Ctx:
    """Grid arrays handed to kernels.

    Attributes:
        values: asset → float64 ``(n, 5)`` open, high, low, close, volume (NaN rows missing).
        stamps: int64 ns grid stamps ``(n,)``.
        default: the asset an unset ``asset`` stands for.
        last: stream mode (only the last row's value matters).
    """

    __slots__ = ("_cache", "default", "last", "stamps", "values")

    def __init__(
        self,
        values: Mapping[str, np.ndarray],
        stamps: np.ndarray,
        default: str,
        last: bool = False,
    ) -> None:
        self.values = values
        self.stamps = stamps
        self.default = default
        self.last = last
        self._cache: dict = {}

    def __len__(self) -> int:
        return len(self.stamps)

    def col(self, asset: str | None, j: int) -> np.ndarray:
        """Column ``j`` (0 open … 4 volume) of an asset."""
        return self.values[asset or self.default][:, j]

    def price(self, asset: str | None, basis: str) -> np.ndarray:
        """The basis price P of an asset."""
        key = (asset or self.default, basis)
        out = self._cache.get(key)
        if out is None:
            v = self.values[key[0]]
            if basis == "close":
                out = v[:, 3]
            elif basis == "open":
                out = v[:, 0]
            elif basis == "hl2":
                out = (v[:, 1] + v[:, 2]) / 2.0
            elif basis == "hlc3":
                out = (v[:, 1] + v[:, 2] + v[:, 3]) / 3.0
            else:  # ohlc4
                out = (v[:, 0] + v[:, 1] + v[:, 2] + v[:, 3]) / 4.0
            self._cache[key] = out
        return out

    def tail(self, x: np.ndarray) -> np.ndarray:
        """``x`` in batch mode; its last element (as a 1-array) in stream mode."""
        return x[-1:] if self.last else x

    def roll(self, x: np.ndarray, w: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``fn`` over each trailing window of ``w`` rows (``fn`` maps ``(m, w) → (m,)``).

        Rows without ``w`` predecessors get NaN. Stream mode reduces only the last window.
        """
        if self.last:
            win = x[-w:]
            if len(win) < w or np.isnan(win).any():
                return np.full(1, np.nan)
            single = getattr(fn, "single", None)  # the batch form's bits on one window
            return fn(win.reshape(1, w)) if single is None else single(win)
        return rolling(x, w, fn)

    def memo(self, key: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
        """``make()`` once per context and ``key`` (intermediates features share, e.g. the
        one-step log returns of a price or the angle of a calendar encoding). Callers
        never write into the result."""
        out = self._cache.get(key)
        if out is None:
            out = self._cache[key] = make()
        return out


def lag(x: np.ndarray, n: int) -> np.ndarray:
    """``x[t − n]`` (NaN for the first n rows)."""
    out = np.full_like(x, np.nan)
    if n < len(x):
        out[n:] = x[: len(x) - n] if n else x
    return out


def lead(x: np.ndarray, n: int) -> np.ndarray:
    """``x[t + n]`` (NaN for the last n rows)."""
    out = np.full_like(x, np.nan)
    if n < len(x):
        out[: len(x) - n] = x[n:]
    return out


def rolling(x: np.ndarray, w: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Batch rolling reduction: ``out[t] = fn(x[t−w+1 … t])``; NaN for t < w − 1 and
    for every window holding a NaN (whatever ``fn`` does with NaN)."""
    n = len(x)
    out = np.full(n, np.nan)
    if n < w:
        return out
    fast = getattr(fn, "batch", None)
    if fast is not None:
        out[w - 1 :] = fast(x, w)
    else:
        view = sliding_window_view(x, w)  # row i covers x[i … i+w−1] → out[i + w − 1]
        for s in range(0, len(view), CHUNK):  # blocks of rows, not a loop over rows
            block = view[s : s + CHUNK]
            out[s + w - 1 : s + w - 1 + len(block)] = fn(block)
    nans = np.flatnonzero(np.isnan(x))
    if len(nans) == 0:
        return out
    if len(nans) <= 8:  # a few NaN (a lag's leading rows): no cumsum
        for i in nans:
            out[i : i + w] = np.nan
        return out
    out[nan_windows(x, w)] = np.nan
    return out


def nan_windows(x: np.ndarray, w: int) -> np.ndarray:
    """True at t when ``x[t−w+1 … t]`` holds a NaN (or reaches before the start)."""
    c = np.concatenate([[0], np.cumsum(np.isnan(x), dtype=np.int64)])
    out = np.ones(len(x), bool)
    if len(x) >= w:
        out[w - 1 :] = (c[w:] - c[: len(x) - w + 1]) > 0
    return out


def _doubling(op: np.ufunc) -> Callable[[np.ndarray, int], np.ndarray]:
    """Rolling ``op`` (max, min, add) over the last axis in O(n log w): combine windows of
    doubling width. The blocks a window combines, and their order, depend only on ``w``,
    never on where the window sits: one window alone gives the same bits."""

    def run(x: np.ndarray, w: int) -> np.ndarray:
        n = x.shape[-1]
        acc, width = x, 1  # acc[..., i] = op over x[..., i … i+width−1]
        out: np.ndarray | None = None
        start = 0  # out covers x[..., i … i+start−1] for i = 0 … n−w
        rem = w
        while rem:
            if rem & 1:
                part = acc[..., start : start + n - w + 1]
                out = part.copy() if out is None else op(out, part)
                start += width
            rem >>= 1
            if rem:
                if width < acc.shape[-1]:
                    acc = op(acc[..., :-width], acc[..., width:])
                else:
                    acc = acc[..., :0]
                width *= 2
        assert out is not None
        return out

    return run


# --------------------------------------------------------------------------- reductions


#: exact rolling sums in O(n log w): each window's sum adds the same blocks of doubling
#: width in the same order wherever the window sits (the error is that of a pairwise sum).
rolling_sum = _doubling(np.add)


def window_sum(win: np.ndarray) -> np.ndarray:
    """The sum of one whole window, bit for bit :func:`rolling_sum`'s value for it, with
    ~log2(w) numpy calls: the same doubling blocks, each halved pairwise in place."""
    y, rem = win, len(win)
    parts = []
    while True:  # blocks of 1, 2, 4, … rows, smallest first, as in rolling_sum
        if rem & 1:
            parts.append(y[:1])
            y = y[1:]
        rem >>= 1
        if not rem:
            break
        y = y[0::2] + y[1::2]  # the pairs rolling_sum adds at the next width
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    return out


def r_mean(v: np.ndarray) -> np.ndarray:
    """Mean of each window (rows of ``v``)."""
    return r_sum(v) / v.shape[1]


def r_sum(v: np.ndarray) -> np.ndarray:
    """Sum of each window (rows of ``v``)."""
    return rolling_sum(v, v.shape[1])[:, 0]


def r_std(v: np.ndarray) -> np.ndarray:
    """Sample standard deviation (ddof 1) of each window (rows of ``v``; two-pass: mean,
    then squared deviations)."""
    w = v.shape[1]
    return _deviation(v, r_sum(v) / w)


def _deviation(windows: np.ndarray, mean: np.ndarray) -> np.ndarray:
    d = windows - mean[:, None]
    return np.sqrt(np.einsum("ij,ij->i", d, d) / (windows.shape[1] - 1))


def _std_batch(x: np.ndarray, w: int) -> np.ndarray:
    m = rolling_sum(x, w) / w
    view = sliding_window_view(x, w)
    out = np.empty(len(view))
    for s in range(0, len(view), CHUNK):  # blocks of rows, not a loop over rows
        out[s : s + CHUNK] = _deviation(view[s : s + CHUNK], m[s : s + CHUNK])
    return out


r_sum.batch = rolling_sum  # type: ignore[attr-defined]
r_sum.single = window_sum  # type: ignore[attr-defined]
r_mean.batch = lambda x, w: rolling_sum(x, w) / w  # type: ignore[attr-defined]
r_mean.single = lambda win: window_sum(win) / len(win)  # type: ignore[attr-defined]
r_std.batch = _std_batch  # type: ignore[attr-defined]
r_std.single = lambda win: _deviation(win[None, :], window_sum(win) / len(win))  # type: ignore[attr-defined]


def r_max(v: np.ndarray) -> np.ndarray:
    """Maximum of each window."""
    return v.max(axis=1)


def r_min(v: np.ndarray) -> np.ndarray:
    """Minimum of each window."""
    return v.min(axis=1)


r_max.batch = _doubling(np.maximum)  # type: ignore[attr-defined]  # max/min are exact
r_min.batch = _doubling(np.minimum)  # type: ignore[attr-defined]


def r_weighted(weights: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Weighted average of each window (``weights`` oldest first, sum normalised)."""
    total = float(weights.sum())

    def fn(v: np.ndarray) -> np.ndarray:
        return (v @ weights) / total  # windows with a NaN are blanked by the caller

    def batch(x: np.ndarray, w: int) -> np.ndarray:
        # one dot product per window, in C (windows with a NaN are blanked by the caller)
        return np.correlate(x, weights, "valid") / total

    fn.batch = batch  # type: ignore[attr-defined]
    fn.single = lambda win: batch(win, len(win))  # type: ignore[attr-defined]
    return fn


def log_return(p: np.ndarray) -> np.ndarray:
    """One-step log return ``ln(p[t] / p[t−1])`` (NaN for the first row)."""
    return np.log(p / lag(p, 1))


def safe_div(num: np.ndarray, den: np.ndarray, when_zero: float) -> np.ndarray:
    """``num / den`` with ``when_zero`` where ``den == 0`` (NaN stays NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den == 0, when_zero, out)


def missing_mask(missing: np.ndarray, back: int, fwd: int) -> np.ndarray:
    """True at t when any row of ``[t − back, t + fwd]`` is missing (or off the grid)."""
    n = len(missing)
    pad = np.concatenate([np.ones(back, bool), missing, np.ones(fwd, bool)]).astype(np.int64)
    c = np.concatenate([[0], np.cumsum(pad)])
    span = back + fwd + 1
    return (c[span : span + n] - c[:n]) > 0
