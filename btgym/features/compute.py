"""Batch computation: :func:`compute_features` (vectorised; no Python loop over rows).

Each feature's kernel runs once over the dense grid of its resolution (see
:mod:`btgym.features.kernels`); the window rule then blanks every value whose window
``[t − extent, t + horizon]`` holds a missing row. ``at="grid"`` returns the present bins
of one shared resolution; ``at="bars"`` returns one row per base bar, each column as-of
its own bin ``b*(t) = floor((t + tf) / R) * R − R``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from btgym.datafeed.bars import Bars
from btgym.errors import ConfigError, FeatureSpecError, FeatureUnavailableError
from btgym.features.base import Feature, as_feature
from btgym.features.grid import Grid, asof_bins, build_grid, check_resolution
from btgym.features.kernels import Ctx, missing_mask
from btgym.features.orderbook import is_order_book


def as_features(features: Iterable[Feature | str | Mapping[str, Any]] | Feature) -> list[Feature]:
    """A list of Features (objects, names or dicts), names unique."""
    if isinstance(features, (Feature, str)):
        features = [features]
    out = [as_feature(f) for f in features]
    names = [f.name for f in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FeatureSpecError(f"duplicate features: {dup}")
    return out


def validate_features(features: Sequence[Feature], bars: Bars) -> None:
    """Raise if ``bars`` cannot provide a feature (cheap: computes nothing).

    Raises:
        FeatureUnavailableError: an order-book feature, an unknown asset, a resolution
            finer than the data.
        FeatureSpecError: a resolution that is not a multiple of the data's timeframe.
    """
    for f in features:
        if is_order_book(f):
            raise f.unavailable()
        f.check_complete()
        for asset in f.assets(bars.names[0]):
            if asset not in bars.names:
                raise FeatureUnavailableError(
                    f"{f.name}: asset {asset!r} is not in the bars (assets {list(bars.names)})"
                )
        check_resolution(bars, f.minutes, f.name)


def grid_values(
    features: Sequence[Feature], bars: Bars, *, fill: int | None = None
) -> tuple[Grid, dict[str, np.ndarray]]:
    """Values of features of one resolution on every row of their grid (NaN where the
    window rule says so; values on non-present rows are not samples)."""
    minutes = features[0].minutes
    grid = build_grid(bars, minutes, fill=fill)
    ctx = Ctx(grid.values, grid.stamps, bars.names[0])
    out = {}
    for f in features:
        v = np.asarray(f.kernel(ctx), dtype=np.float64)
        if v.base is not None or not v.flags.writeable:
            v = v.copy()
        v[missing_mask(grid.missing, f.extent, f.horizon)] = np.nan
        out[f.name] = v
    return grid, out


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
        arr = np.empty((int(present.sum()), len(feats)))
        for j, f in enumerate(feats):
            arr[:, j] = vals[f.name][present]
        names = [f.name for f in feats]
        return pd.DataFrame(arr, index=_dt_index(grid.stamps[present]), columns=names)
    arr = np.empty((len(bars), len(feats)))
    col_of = {f.name: j for j, f in enumerate(feats)}
    for group in _by_resolution(feats):
        grid, vals = grid_values(group, bars, fill=fill)
        take, ok = asof_positions(grid, bars.index, bars.timeframe)
        for f in group:
            col = vals[f.name][take]
            col[~ok] = np.nan
            arr[:, col_of[f.name]] = col
    return pd.DataFrame(arr, index=_dt_index(bars.index), columns=[f.name for f in feats])


def asof_positions(grid: Grid, index: np.ndarray, timeframe: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid row of each base stamp's as-of bin, and whether that bin is present."""
    if not len(grid):
        return np.zeros(len(index), np.int64), np.zeros(len(index), bool)
    b = asof_bins(index, timeframe, grid.minutes)
    pos = (b - grid.stamps[0]) // grid.step
    inside = (pos >= 0) & (pos < len(grid))
    take = np.where(inside, pos, 0)
    return take, inside & grid.present[take]


def _by_resolution(feats: Sequence[Feature]) -> list[list[Feature]]:
    groups: dict[str, list[Feature]] = {}
    for f in feats:
        groups.setdefault(f.res, []).append(f)
    return list(groups.values())


def _dt_index(stamps: np.ndarray) -> pd.DatetimeIndex:
    arr = np.asarray(stamps, dtype=np.int64).view("datetime64[ns]")
    return pd.DatetimeIndex(arr, name="timestamp")
