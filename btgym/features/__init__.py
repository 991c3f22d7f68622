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
from btgym.features.dataset import Dataset, DatasetInfo, make_windows
from btgym.features.grid import build_grid, resample
from btgym.features.labelset import FeatureLabelSet
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
from btgym.features.rebalance import rebalance
from btgym.features.reference import reference_set
from btgym.features.stream import FeatureStream
from btgym.features.transforms import (
    Bucketizer,
    Scaler,
    from_one_hot,
    one_hot,
    percentile_boundaries,
    to_classes,
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
    "Bucketizer",
    "CloseLocation",
    "Dataset",
    "DatasetInfo",
    "DayOfWeek",
    "Feature",
    "FeatureLabelSet",
    "FeatureStream",
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
    "Scaler",
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
    "from_one_hot",
    "make_windows",
    "one_hot",
    "parse_resolution",
    "percentile_boundaries",
    "rebalance",
    "reference_set",
    "register_feature",
    "registered",
    "resample",
    "to_classes",
    "validate_features",
]
