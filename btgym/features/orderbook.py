"""Order-book features: registered so Atlas names parse, never computed on bars.

``BidStrength().one_min().slippage(0)`` is a valid name; computing or validating it on
:class:`~btgym.datafeed.bars.Bars` raises :class:`~btgym.errors.FeatureUnavailableError`
(never a NaN column, never a proxy): Bars hold no L2 snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btgym.errors import FeatureUnavailableError
from btgym.features.base import Feature, Param, register_feature
from btgym.features.kernels import Ctx

_SLIPPAGE = Param("slippage", float, 0.0, minimum=0.0)
_DEPTH = Param("depth", float, 0.0, minimum=0.0)


@dataclass(frozen=True, init=False, eq=False, repr=False)
class OrderBookFeature(Feature):
    """Base of the order-book features (``.slippage(usd)`` / ``.depth(units)``)."""

    PARAMS = (_SLIPPAGE,)
    ORDER_BOOK = True

    def unavailable(self) -> FeatureUnavailableError:
        """The error every use on bars raises."""
        return FeatureUnavailableError(
            f"{self.name} requires L2 order-book snapshots, which Bars do not hold"
        )

    def kernel(self, ctx: Ctx) -> np.ndarray:
        raise self.unavailable()


def _make(name: str, params: tuple[Param, ...], doc: str) -> type[OrderBookFeature]:
    body = {"PARAMS": params, "__doc__": doc, "__module__": __name__}
    cls = type(name, (OrderBookFeature,), body)
    cls = dataclass(frozen=True, init=False, eq=False, repr=False)(cls)
    return register_feature(cls)


BidStrength = _make("BidStrength", (_SLIPPAGE,), "Bid-side liquidity within a USD slippage.")
AskStrength = _make("AskStrength", (_SLIPPAGE,), "Ask-side liquidity within a USD slippage.")
BidStrengthUSD = _make("BidStrengthUSD", (_SLIPPAGE,), "Bid-side USD liquidity within a slippage.")
AskStrengthUSD = _make("AskStrengthUSD", (_SLIPPAGE,), "Ask-side USD liquidity within a slippage.")
Bid = _make("Bid", (_DEPTH,), "Volume-weighted bid price over a depth in base units.")
Ask = _make("Ask", (_DEPTH,), "Volume-weighted ask price over a depth in base units.")
Spread = _make("Spread", (_DEPTH,), "Ask minus bid over a depth in base units.")
SignedArbRevenue = _make("SignedArbRevenue", (_DEPTH,), "Cross-venue arbitrage revenue (signed).")
SignedArbVolumeUSD = _make(
    "SignedArbVolumeUSD", (_SLIPPAGE,), "Cross-venue arbitrage volume in USD (signed)."
)

ORDER_BOOK_CLASSES = (
    BidStrength,
    AskStrength,
    BidStrengthUSD,
    AskStrengthUSD,
    Bid,
    Ask,
    Spread,
    SignedArbRevenue,
    SignedArbVolumeUSD,
)


def is_order_book(f: Feature) -> bool:
    """True for an order-book feature."""
    return isinstance(f, OrderBookFeature)
