"""Volume features: Volume, RelativeVolume.

HistData volume is always 0: ``Volume`` is constant there and scaling it raises
``DegenerateFeatureError``; ``RelativeVolume`` is NaN wherever its mean is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btgym.features.base import Feature, Param, register_feature
from btgym.features.kernels import Ctx, r_mean, r_sum


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class Volume(Feature):
    """Sum of V over the last ``window`` bars."""

    PARAMS = (Param("window", int, 1, minimum=1),)

    def _extent(self) -> int:
        return self.get("window") - 1

    def kernel(self, ctx: Ctx) -> np.ndarray:
        v = ctx.col(self.asset, 4)
        w = self.get("window")
        return ctx.tail(v).copy() if w == 1 else ctx.roll(v, w, r_sum)


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class RelativeVolume(Feature):
    """``V[t] / mean(V over the last window)``; NaN when that mean is 0."""

    PARAMS = (Param("window", int, 60, minimum=1),)

    def _extent(self) -> int:
        return self.get("window") - 1

    def kernel(self, ctx: Ctx) -> np.ndarray:
        v = ctx.col(self.asset, 4)
        m = ctx.roll(v, self.get("window"), r_mean)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = ctx.tail(v) / m
        return np.where(m == 0, np.nan, out)
