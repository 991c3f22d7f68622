"""Volatility and range: Volatility (std, parkinson, garman_klass), Range."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btgym.errors import FeatureSpecError
from btgym.features.base import BASIS, LOOKFORWARD, Feature, Param, register_feature
from btgym.features.kernels import Ctx, lead, log_return, r_max, r_mean, r_min, r_std, rolling

_LN2 = np.log(2.0)


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class Volatility(Feature):
    """Volatility of one-step log returns r of P over the last ``window`` rows.

    - ``std``: sample std (ddof 1) of ``r[t−w+1 … t]`` (extent w); as a label
      (``lookforward(n)``, n ≥ 2) the std of ``r[t+1 … t+n]``.
    - ``parkinson``: ``sqrt(mean((ln H/L)²) / (4 ln 2))`` over the last w bars (extent w−1).
    - ``garman_klass``: ``sqrt(mean(½(ln H/L)² − (2 ln 2 − 1)(ln C/O)²))`` (extent w−1).
    """

    PARAMS = (
        BASIS,
        Param("window", int, 30, minimum=2),
        Param("estimator", str, "std", ("std", "parkinson", "garman_klass")),
        LOOKFORWARD,
    )
    BACK = "window"

    def _validate(self) -> None:
        n = self.get("lookforward")
        if n is not None:
            if self.get("estimator") != "std":
                raise FeatureSpecError(f"{self.name}: only estimator=std takes a lookforward")
            if n < 2:
                raise FeatureSpecError(f"{self.name}: a volatility label needs lookforward ≥ 2")
        elif self.get("estimator") != "std" and self.get("window") < 1:
            raise FeatureSpecError(f"{self.name}: window must be ≥ 1")

    def _extent(self) -> int:
        w = self.get("window")
        return w if self.get("estimator") == "std" else w - 1

    def kernel(self, ctx: Ctx) -> np.ndarray:
        est = self.get("estimator")
        n = self.get("lookforward")
        if est == "std":
            p = ctx.price(self.asset, self.get("basis"))
            r = ctx.memo(("log_return", self.asset, self.get("basis")), lambda: log_return(p))
            if n is not None:
                return lead(rolling(r, n, r_std), n)
            return ctx.roll(r, self.get("window"), r_std)
        o, h, lo, c = (ctx.col(self.asset, j) for j in range(4))
        hl = np.log(h / lo) ** 2
        if est == "parkinson":
            x = hl / (4.0 * _LN2)
        else:
            x = 0.5 * hl - (2.0 * _LN2 - 1.0) * np.log(c / o) ** 2
        with np.errstate(invalid="ignore"):
            return np.sqrt(ctx.roll(x, self.get("window"), r_mean))


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class Range(Feature):
    """``(max H − min L over the last w bars) / P[t]``."""

    PARAMS = (BASIS, Param("window", int, 1, minimum=1))

    def _extent(self) -> int:
        return self.get("window") - 1

    def kernel(self, ctx: Ctx) -> np.ndarray:
        w = self.get("window")
        h, lo = ctx.col(self.asset, 1), ctx.col(self.asset, 2)
        p = ctx.tail(ctx.price(self.asset, self.get("basis")))
        if w == 1:
            return ctx.tail(h - lo) / p
        return (ctx.roll(h, w, r_max) - ctx.roll(lo, w, r_min)) / p
