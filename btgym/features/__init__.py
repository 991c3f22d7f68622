"""The Atlas feature DSL, FeatureLabelSet and the one kernel shared by training, the env
and live serving (``features.md``).

>>> from btgym.features import LogReturns, Volatility, FeatureLabelSet
>>> f = LogReturns().one_min().lookback(1)     # LogReturns(1min,basis=close,lookback=1)
>>> y = LogReturns().one_min().lookforward(1)  # a label
"""

from btgym.features.base import Feature, Param, parse_resolution, register_feature, registered
from btgym.features.catalogue import (
    RSI,
    BodyRatio,
    CloseLocation,
    DayOfWeek,
    InterAssetSpread,
    LogReturns,
    MAGap,
    Price,
    PriceDiff,
    Range,
    RatioZScore,
    RelativeVolume,
    ReturnSpread,
    SimpleReturns,
    TimeOfDay,
    Volatility,
    Volume,
    ZScore,
)
from btgym.features.compute import compute_features, validate_features
from btgym.features.grid import build_grid, resample
from btgym.features.orderbook import (
    Ask,
    AskStrength,
    AskStrengthUSD,
    Bid,
    BidStrength,
    BidStrengthUSD,
    OrderBookFeature,
    SignedArbRevenue,
    SignedArbVolumeUSD,
    Spread,
)

Midpoint = Price
MidpointDiff = PriceDiff

__all__ = [
    "RSI",
    "Ask",
    "AskStrength",
    "AskStrengthUSD",
    "Bid",
    "BidStrength",
    "BidStrengthUSD",
    "BodyRatio",
    "CloseLocation",
    "DayOfWeek",
    "Feature",
    "InterAssetSpread",
    "LogReturns",
    "MAGap",
    "Midpoint",
    "MidpointDiff",
    "OrderBookFeature",
    "Param",
    "Price",
    "PriceDiff",
    "Range",
    "RatioZScore",
    "RelativeVolume",
    "ReturnSpread",
    "SignedArbRevenue",
    "SignedArbVolumeUSD",
    "SimpleReturns",
    "Spread",
    "TimeOfDay",
    "Volatility",
    "Volume",
    "ZScore",
    "build_grid",
    "compute_features",
    "parse_resolution",
    "register_feature",
    "registered",
    "resample",
    "validate_features",
]
