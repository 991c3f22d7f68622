"""The feature catalogue, one module per family (importing registers every class)."""

from btgym.features.catalogue.calendar import DayOfWeek, TimeOfDay
from btgym.features.catalogue.candle import BodyRatio, CloseLocation
from btgym.features.catalogue.cross import InterAssetSpread, RatioZScore, ReturnSpread
from btgym.features.catalogue.returns import LogReturns, Price, PriceDiff, SimpleReturns
from btgym.features.catalogue.trend import RSI, MAGap, ZScore
from btgym.features.catalogue.volatility import Range, Volatility
from btgym.features.catalogue.volume import RelativeVolume, Volume

__all__ = [
    "RSI",
    "BodyRatio",
    "CloseLocation",
    "DayOfWeek",
    "InterAssetSpread",
    "LogReturns",
    "MAGap",
    "Price",
    "PriceDiff",
    "Range",
    "RatioZScore",
    "RelativeVolume",
    "ReturnSpread",
    "SimpleReturns",
    "TimeOfDay",
    "Volatility",
    "Volume",
    "ZScore",
]
