"""Batch computation: :func:`compute_features` (vectorised; no Python loop over rows).

Each feature's kernel runs once over the dense grid of its resolution (see
:mod:`btgym.features.kernels`); the window rule then blanks every value whose window
``[t − extent, t + horizon]`` holds a missing row. ``at="grid"`` returns the present bins
of one shared resolution; ``at="bars"`` returns one row per base bar, each column as-of
its own bin ``b*(t) = floor((t + tf) / R) * R − R``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from btgym.datafeed.bars import Bars
from btgym.errors import ConfigError, FeatureSpecError, FeatureUnavailableError
from btgym.features.base import Feature, as_feature
from btgym.features.grid import Grid, asof_bins, build_grid, check_minutes
from btgym.features.kernels import Ctx, missing_mask
from btgym.features.orderbook import is_order_book


def as_features(features: Iterable[Feature | str | Mapping[str, Any]] | Feature) -> list[Feature]:
    """A list of Features (objects, names or dicts), names unique."""
    if isinstance(features, (Feature, str)):
        features = [features]
    out = [as_feature(f) for f in features]
    names = [f.name for f in out]
    if len(set(names)) < len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise FeatureSpecError(f"duplicate features: {dup}")
    return out


def validate_features(features: Sequence[Feature], bars: Bars) -> None:
    """Raise if ``bars`` cannot provide a feature (cheap: computes nothing).

    Raises:
        FeatureUnavailableError: an order-book feature, an unknown asset, a resolution
            finer than the data.
        FeatureSpecError: a resolution that is not a multiple of the data's timeframe.
    """
    _validate(tuple(features), tuple(bars.names), int(bars.timeframe))


@functools.lru_cache(maxsize=256)
def _validate(features: tuple[Feature, ...], names: tuple[str, ...], timeframe: int) -> None:
    """:func:`validate_features` on what it reads (features are frozen: a list that
    passed once for these assets and timeframe passes again; errors are not cached)."""
    for f in features:
        if is_order_book(f):
            raise f.unavailable()
        f.check_complete()
        for asset in f.assets(names[0]):
            if asset not in names:
                raise FeatureUnavailableError(
                    f"{f.name}: asset {asset!r} is not in the bars (assets {list(names)})"
                )
        check_minutes(timeframe, f.minutes, f.name)


def grid_values(
    features: Sequence[Feature], bars: Bars, *, fill: int | None = None
) -> tuple[Grid, np.ndarray]:
    """Values of features of one resolution on every row of their grid, as a ``(G, F)``
    array in the order of ``features`` (NaN where the window rule says so; values on
    non-present rows are not samples). One grid, one context (basis prices and shared
    intermediates computed once) and one missing-row count serve every feature."""
    minutes = features[0].minutes
    grid = build_grid(bars, minutes, fill=fill)
    ctx = Ctx(grid.values, grid.stamps, bars.names[0])
    n = len(grid)
    out = np.empty((n, len(features)))
    blank = _Blanker(grid.missing)
    for j, f in enumerate(features):
        out[:, j] = f.kernel(ctx)
        blank(out[:, j], f.extent, f.horizon)
    return grid, out


class _Blanker:
    """Blanks the rows whose window ``[t − back, t + fwd]`` meets a missing row (or the
    grid's edges): one cumulative count per grid, one mask per distinct window."""

    def __init__(self, missing: np.ndarray) -> None:
        self.n = len(missing)
        self.any = bool(missing.any())
        self.missing = missing
        self.masks: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, v: np.ndarray, back: int, fwd: int) -> None:
        if not self.any:  # only the edges
            v[: min(back, self.n)] = np.nan
            if fwd:
                v[max(self.n - fwd, 0) :] = np.nan
            return
        mask = self.masks.get((back, fwd))
        if mask is None:
            mask = self.masks[(back, fwd)] = missing_mask(self.missing, back, fwd)
        v[mask] = np.nan


def compute_features(
    features: Iterable[Feature | str | Mapping[str, Any]] | Feature,
    bars: Bars,
    *,
    at: str = "grid",
    fill: int | None = None,
) -> pd.DataFrame:
    """Compute features (and labels) over ``bars``; one float64 column per feature.

    Args:
        features: Feature objects, canonical names or dicts.
        bars: the data.
        at: ``"grid"`` (all features share one resolution; index = present bins) or
            ``"bars"`` (one row per base bar; each column as-of its own bin).
        fill: bridge at most this many missing grid rows after a present row with
            synthetic bars copying its close (``None``: no fill).

    Returns:
        DataFrame indexed by a ``DatetimeIndex`` named ``timestamp``.

    Raises:
        FeatureUnavailableError, FeatureSpecError: see :func:`validate_features`; mixed
            resolutions with ``at="grid"``.
        ConfigError: an unknown ``at`` or a negative ``fill``.
    """
    feats = as_features(features)
    if at not in ("grid", "bars"):
        raise ConfigError(f"compute_features: at must be 'grid' or 'bars', got {at!r}")
    if fill is not None and (int(fill) != fill or fill < 0):
        raise ConfigError(f"compute_features: fill must be an int ≥ 0 or None, got {fill!r}")
    validate_features(feats, bars)
    if not feats:
        idx = bars.index if at == "bars" else np.zeros(0, np.int64)
        return pd.DataFrame(index=_dt_index(idx))
    if at == "grid":
        res = {f.res for f in feats}
        if len(res) > 1:
            raise FeatureSpecError(
                f"at='grid' needs one resolution for all features, got {sorted(res)}"
            )
        grid, vals = grid_values(feats, bars, fill=fill)
        present = grid.present
        arr = vals if present.all() else vals[present]
        return _frame(arr, grid.stamps if present.all() else grid.stamps[present], feats)
    groups = _by_resolution(feats)
    if len(groups) == 1:
        grid, vals = grid_values(feats, bars, fill=fill)
        return _frame(_asof(grid, vals, bars), bars.index, feats)
    arr = np.empty((len(bars), len(feats)))
    for cols, group in groups:
        grid, vals = grid_values(group, bars, fill=fill)
        arr[:, cols] = _asof(grid, vals, bars)
    return _frame(arr, bars.index, feats)


def _asof(grid: Grid, vals: np.ndarray, bars: Bars) -> np.ndarray:
    """Rows of ``vals`` (grid rows) as of each base bar (NaN where that bin is missing)."""
    if len(grid) == len(bars) and np.array_equal(grid.stamps, bars.index):
        return vals  # the base grid without gaps: every bar is its own (present) bin
    take, ok = asof_positions(grid, bars.index, bars.timeframe)
    out = vals[take]
    out[~ok] = np.nan
    return out


def _frame(arr: np.ndarray, stamps: np.ndarray, feats: Sequence[Feature]) -> pd.DataFrame:
    """The result frame, wrapping ``arr`` (fresh, owned by nobody else) without a copy."""
    columns = _columns(tuple(f.name for f in feats))
    return pd.DataFrame(arr, index=_dt_index(stamps), columns=columns, copy=False)


@functools.lru_cache(maxsize=128)
def _columns(names: tuple[str, ...]) -> pd.Index:
    """The column index of a feature list (an immutable ``pd.Index``, built once)."""
    return pd.Index(list(names))


def asof_positions(grid: Grid, index: np.ndarray, timeframe: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid row of each base stamp's as-of bin, and whether that bin is present."""
    if not len(grid):
        return np.zeros(len(index), np.int64), np.zeros(len(index), bool)
    b = asof_bins(index, timeframe, grid.minutes)
    pos = (b - grid.stamps[0]) // grid.step
    inside = (pos >= 0) & (pos < len(grid))
    take = np.where(inside, pos, 0)
    return take, inside & grid.present[take]


def _by_resolution(feats: Sequence[Feature]) -> list[tuple[list[int], list[Feature]]]:
    """Features grouped by resolution, with their column positions."""
    groups: dict[str, tuple[list[int], list[Feature]]] = {}
    for j, f in enumerate(feats):
        cols, members = groups.setdefault(f.res, ([], []))
        cols.append(j)
        members.append(f)
    return list(groups.values())


def _dt_index(stamps: np.ndarray) -> pd.DatetimeIndex:
    arr = np.asarray(stamps, dtype=np.int64).view("datetime64[ns]")
    return pd.DatetimeIndex(arr, name="timestamp")
