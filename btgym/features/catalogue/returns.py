"""Price and return features: Price, LogReturns, SimpleReturns, PriceDiff.

Horizons are single-step over ``n`` grid steps for every class (the original's
single-step diffs beside cumulative log returns are gone): ``lookback(n)`` compares
``P[t]`` with ``P[t−n]``, ``lookforward(n)`` compares ``P[t+n]`` with ``P[t]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btgym.features.base import BASIS, LOOKBACK, LOOKFORWARD, Feature, register_feature
from btgym.features.kernels import Ctx, lag, lead


@dataclass(frozen=True, init=False, eq=False, repr=False)
class _Horizon(Feature):
    """A two-point comparison of the basis price over a horizon."""

    PARAMS = (BASIS, LOOKBACK, LOOKFORWARD)
    BACK = "lookback"
    ELEMENTWISE = True

    def _extent(self) -> int:
        return self.get("lookback")

    @staticmethod
    def _op(now: np.ndarray, then: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def kernel(self, ctx: Ctx) -> np.ndarray:
        p = ctx.price(self.asset, self.get("basis"))
        n = self.get("lookforward")
        if n is not None:
            return self._op(lead(p, n), p)
        return self._op(p, lag(p, self.get("lookback")))


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class Price(Feature):
    """``P[t]``; as a label ``P[t+n]`` (Atlas ``Midpoint``)."""

    PARAMS = (BASIS, LOOKFORWARD)
    ATLAS_ALIASES = ("Midpoint",)
    ELEMENTWISE = True

    def kernel(self, ctx: Ctx) -> np.ndarray:
        p = ctx.price(self.asset, self.get("basis"))
        n = self.get("lookforward")
        return p.copy() if n is None else lead(p, n)


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class LogReturns(_Horizon):
    """``ln(P[t]/P[t−n])``; as a label ``ln(P[t+n]/P[t])``."""

    @staticmethod
    def _op(now: np.ndarray, then: np.ndarray) -> np.ndarray:
        return np.log(now / then)


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class SimpleReturns(_Horizon):
    """``P[t]/P[t−n] − 1``; as a label ``P[t+n]/P[t] − 1``."""

    @staticmethod
    def _op(now: np.ndarray, then: np.ndarray) -> np.ndarray:
        return now / then - 1.0


@register_feature
@dataclass(frozen=True, init=False, eq=False, repr=False)
class PriceDiff(_Horizon):
    """``P[t] − P[t−n]``; as a label ``P[t+n] − P[t]`` (Atlas ``MidpointDiff``)."""

    ATLAS_ALIASES = ("MidpointDiff",)

    @staticmethod
    def _op(now: np.ndarray, then: np.ndarray) -> np.ndarray:
        return now - then
