"""Cross-asset features on the common stamps of one Bars: InterAssetSpread,
ReturnSpread, RatioZScore (``other`` is required: ``.against("ETH")``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btgym.features.base import BASIS, LOOKBACK, OTHER, Feature, Param, register_feature
from btgym.features.catalogue.trend import zscore
from btgym.features.kernels import Ctx, lag


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class InterAssetSpread(Feature):
    """``Pᵒ[t] / P[t] − 1`` (Atlas's inter-exchange spread)."""

    PARAMS = (BASIS, OTHER)
    ELEMENTWISE = True
    CROSS = True

    def kernel(self, ctx: Ctx) -> np.ndarray:
        b = self.get("basis")
        return ctx.price(self.get("other"), b) / ctx.price(self.asset, b) - 1.0


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class ReturnSpread(Feature):
    """``ln(P[t]/P[t−n]) − ln(Pᵒ[t]/Pᵒ[t−n])``."""

    PARAMS = (BASIS, OTHER, LOOKBACK)
    ELEMENTWISE = True
    CROSS = True

    def _extent(self) -> int:
        return self.get("lookback")

    def kernel(self, ctx: Ctx) -> np.ndarray:
        b, n = self.get("basis"), self.get("lookback")
        p, q = ctx.price(self.asset, b), ctx.price(self.get("other"), b)
        return np.log(p / lag(p, n)) - np.log(q / lag(q, n))


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class RatioZScore(Feature):
    """z-score (ddof 1) of ``ln(P / Pᵒ)`` over the last w rows; NaN when std = 0."""

    PARAMS = (BASIS, OTHER, Param("window", int, 60, minimum=2))
    CROSS = True

    def _extent(self) -> int:
        return self.get("window") - 1

    def kernel(self, ctx: Ctx) -> np.ndarray:
        b = self.get("basis")
        x = np.log(ctx.price(self.asset, b) / ctx.price(self.get("other"), b))
        return zscore(ctx, x, self.get("window"))
