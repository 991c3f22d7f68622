"""Shared fixtures of the model tests: small synthetic sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def synth():
    """2,000 rows, 4 features (DataFrame), 3-class and continuous labels."""
    rng = np.random.default_rng(0)
    n = 2000
    idx = pd.date_range("2017-01-02", periods=n, freq="1min", name="timestamp")
    X = pd.DataFrame(rng.normal(size=(n, 4)), index=idx, columns=["a", "b", "c", "d"])
    v = 0.8 * X["a"] - 0.5 * X["b"] + 0.5 * rng.normal(size=n)
    y_cls = pd.Series(np.digitize(v, [-0.4, 0.4]), index=idx, name="y")
    y_reg = pd.Series(v.to_numpy() * 1e-3, index=idx, name="y")
    return X, y_cls, y_reg


@pytest.fixture(scope="session")
def eurusd(shared_data):
    """EURUSD 1-minute bars, January 2017."""
    from btgym.datafeed import load_bars

    return load_bars(filename=str(shared_data / "DAT_ASCII_EURUSD_M1_201701.csv"))


def small_featureset():
    from btgym.features import FeatureLabelSet, LogReturns, Range, TimeOfDay, Volatility

    feats = [
        LogReturns().lookback(1),
        LogReturns().lookback(5),
        Volatility().window(15),
        Range(),
        TimeOfDay().part("sin"),
    ]
    return FeatureLabelSet(feats, [LogReturns().lookforward(5)], name="small")


RANGES = {
    "train": ("2017-01-02", "2017-01-12"),
    "val": ("2017-01-12", "2017-01-16"),
    "test": ("2017-01-16", "2017-02-01"),
}


@pytest.fixture(scope="session")
def eurusd_dataset(eurusd):
    """A 2-class dataset of the small featureset on January (train / val / test)."""
    return small_featureset().split(eurusd, **RANGES, task="classification")


@pytest.fixture(scope="session")
def mlp_dir(eurusd_dataset, tmp_path_factory):
    """A small MLP classifier fitted on ``eurusd_dataset`` and saved with it."""
    from btgym.models import MLPClassifier

    ds = eurusd_dataset
    m = MLPClassifier(n_features=len(ds.feature_names), n_classes=ds.n_classes, hidden_layers=[16])
    m.fit(ds.X_train, ds.y_train, X_val=ds.X_val, y_val=ds.y_val, epochs=30)
    return m.save(tmp_path_factory.mktemp("models") / "mlp", dataset=ds)
