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
