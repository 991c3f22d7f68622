"""Small trained models for the live tests and the latency benchmark."""

from __future__ import annotations

from pathlib import Path

from btgym.datafeed import Bars


def reference_features() -> list:
    """The 20-feature reference set of ``features.md`` §10 (1-minute)."""
    from btgym.features import (
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

    return [
        LogReturns().lookback(1),
        LogReturns().lookback(5),
        LogReturns().lookback(15),
        LogReturns().lookback(60),
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


def train(path: Path, bars: Bars, features: list, label, hidden=(64, 64), epochs: int = 1) -> Path:
    from btgym.features import FeatureLabelSet
    from btgym.models import MLPClassifier

    fls = FeatureLabelSet(features, [label])
    ds = fls.split(
        bars,
        train=("2017-01-03", "2017-01-05"),
        test=("2017-01-06", "2017-01-07"),
        task="classification",
    )
    model = MLPClassifier(
        n_features=len(features), n_classes=ds.n_classes, hidden_layers=hidden, seed=0
    )
    model.fit(ds.X_train, ds.y_train, epochs=epochs)
    return model.save(path, dataset=ds)


def train_models(root: Path, bars: Bars) -> dict[str, Path]:
    from btgym.features import BodyRatio, CloseLocation, LogReturns, TimeOfDay, Volatility

    return {
        "mlp20": train(root / "mlp20", bars, reference_features(), LogReturns().lookforward(1)),
        "tiny": train(
            root / "tiny",
            bars,
            [BodyRatio(), CloseLocation(), TimeOfDay().part("sin"), TimeOfDay().part("cos")],
            LogReturns().lookforward(1),
            hidden=(8,),
        ),
        "five": train(
            root / "five",
            bars,
            [
                LogReturns().five_min().lookback(1),
                LogReturns().five_min().lookback(3),
                Volatility().five_min().window(6),
                TimeOfDay().five_min().part("sin"),
            ],
            LogReturns().five_min().lookforward(1),
            hidden=(8,),
        ),
    }
