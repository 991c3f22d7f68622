"""Small trained models for the live tests and the latency benchmark."""

from __future__ import annotations

from pathlib import Path

from btgym.datafeed import Bars


def reference_features() -> list:
    """The 20-feature reference set of ``features.md`` §10 (1-minute)."""
    from btgym.features import reference_set

    return reference_set()


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
