"""Trend and oscillators: MAGap (sma, truncated ema), ZScore, RSI."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from btgym.features.base import BASIS, Feature, Param, register_feature
from btgym.features.kernels import Ctx, lag, r_mean, r_std, r_weighted


def ema_weights(w: int) -> np.ndarray:
    """Truncated EMA weights over 3w rows, oldest first: ``a(1−a)^j`` for j = 3w−1 … 0."""
    a = 2.0 / (w + 1.0)
    j = np.arange(3 * w - 1, -1, -1, dtype=np.float64)
    return a * (1.0 - a) ** j


@functools.lru_cache(maxsize=64)
def _ema_reducer(w: int) -> Callable[[np.ndarray], np.ndarray]:
    """The truncated-EMA window reducer of ``window=w`` (built once per w)."""
    return r_weighted(ema_weights(w))


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class MAGap(Feature):
    """``ln(P[t] / MA)``: MA = mean of the last w prices (``sma``) or the EMA with
    a = 2/(w+1) truncated to 3w rows and renormalised (``ema``)."""

    PARAMS = (BASIS, Param("window", int, 20, minimum=1), Param("kind", str, "sma", ("sma", "ema")))

    def _extent(self) -> int:
        w = self.get("window")
        return 3 * w - 1 if self.get("kind") == "ema" else w - 1

    def kernel(self, ctx: Ctx) -> np.ndarray:
        p = ctx.price(self.asset, self.get("basis"))
        w = self.get("window")
        if self.get("kind") == "ema":
            ma = ctx.roll(p, 3 * w, _ema_reducer(w))
        else:
            ma = ctx.roll(p, w, r_mean)
        return np.log(ctx.tail(p) / ma)


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class ZScore(Feature):
    """``(P[t] − mean) / std`` (ddof 1) over the last w prices; NaN when std = 0."""

    PARAMS = (BASIS, Param("window", int, 60, minimum=2))

    def _extent(self) -> int:
        return self.get("window") - 1

    def kernel(self, ctx: Ctx) -> np.ndarray:
        p = ctx.price(self.asset, self.get("basis"))
        return zscore(ctx, p, self.get("window"))


def zscore(ctx: Ctx, x: np.ndarray, w: int) -> np.ndarray:
    """``(x[t] − mean) / std`` (ddof 1) over the last w rows; NaN when std = 0."""
    m = ctx.roll(x, w, r_mean)
    s = ctx.roll(x, w, r_std)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (ctx.tail(x) - m) / s
    return np.where(s == 0, np.nan, out)


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class RSI(Feature):
    """``U / (U + D)`` over the last w steps of ``P[j] − P[j−1]``; 0.5 when U + D = 0."""

    PARAMS = (BASIS, Param("window", int, 14, minimum=1))

    def _extent(self) -> int:
        return self.get("window")

    def kernel(self, ctx: Ctx) -> np.ndarray:
        p = ctx.price(self.asset, self.get("basis"))
        d = p - lag(p, 1)
        w = self.get("window")
        # positive and negative parts (NaN stays NaN: np.maximum propagates it)
        up = ctx.roll(np.maximum(0.0, d), w, r_mean)
        down = ctx.roll(np.maximum(0.0, -d), w, r_mean)
        total = up + down
        with np.errstate(divide="ignore", invalid="ignore"):
            out = up / total
        return np.where(total == 0, 0.5, out)
