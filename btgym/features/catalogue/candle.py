"""Candle shape: BodyRatio, CloseLocation (0 when H = L)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btgym.features.base import Feature, register_feature
from btgym.features.kernels import Ctx, safe_div


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class BodyRatio(Feature):
    """``(C − O) / (H − L)``; 0 when H = L."""

    ELEMENTWISE = True

    def kernel(self, ctx: Ctx) -> np.ndarray:
        o, h, lo, c = (ctx.col(self.asset, j) for j in range(4))
        return safe_div(c - o, h - lo, 0.0)


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class CloseLocation(Feature):
    """``((C − L) − (H − C)) / (H − L)``; 0 when H = L."""

    ELEMENTWISE = True

    def kernel(self, ctx: Ctx) -> np.ndarray:
        h, lo, c = (ctx.col(self.asset, j) for j in (1, 2, 3))
        return safe_div((c - lo) - (h - c), h - lo, 0.0)
