"""The 20-feature reference set of ``features.md`` §10.

One definition for the benchmarks, the tests and users who want a ready, varied set
of 1-minute features (returns, volatility, range, candle shape, moving-average gap,
z-score, RSI and calendar angles) to start from.
"""

from __future__ import annotations

from btgym.features.base import Feature
from btgym.features.catalogue import (
    RSI,
    BodyRatio,
    CloseLocation,
    DayOfWeek,
    LogReturns,
    MAGap,
    PriceDiff,
    Range,
    SimpleReturns,
    TimeOfDay,
    Volatility,
    ZScore,
)


def reference_set() -> list[Feature]:
    """The 20 features of ``features.md`` §10, at the default 1-minute resolution.

    Returns:
        A new list of (immutable) features; re-resolve with e.g.
        ``[f.five_min() for f in reference_set()]``.
    """
    return [
        *(LogReturns().lookback(n) for n in (1, 5, 15, 60)),
        SimpleReturns().lookback(1),
        PriceDiff().lookback(1),
        Volatility().window(15),
        Volatility().window(60),
        Volatility().estimator("parkinson").window(30),
        Range().window(1),
        Range().window(15),
        BodyRatio(),
        CloseLocation(),
        MAGap().window(20),
        MAGap().kind("ema").window(50),
        ZScore().window(60),
        RSI().window(14),
        TimeOfDay().part("sin"),
        TimeOfDay().part("cos"),
        DayOfWeek().part("sin"),
    ]
