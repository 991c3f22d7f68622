"""evaluate() on real Datasets; the sine sample; saved dataset block (§11 item 5)."""

from __future__ import annotations

import numpy as np
import pytest

from btgym.features import FeatureLabelSet, LogReturns, make_windows
from btgym.models import GRUClassifier, MLPRegressor, ZeroChangeBaseline, load_model
from btgym.models.results import evaluate
from btgym.models.stats import summary_metrics


@pytest.fixture(scope="module")
def sine(shared_data):
    from btgym.datafeed import load_bars

    bars = load_bars(
        filename=str(shared_data / "test_sine_1min_period256_delta0002.csv"),
        parsing_params={"header": 0},
        data_names=["sine"],
    )
    fs = FeatureLabelSet(
        [LogReturns().lookback(1), LogReturns().lookback(2), LogReturns().lookback(5)],
        [LogReturns().lookforward(1)],
    )
    ranges = {
        "train": ("2017-01-01", "2017-01-05"),
        "val": ("2017-01-05", "2017-01-06"),
        "test": ("2017-01-06", "2017-01-08"),
    }
    return fs, bars, ranges


def test_mlp_regressor_beats_zero_change_on_the_sine(sine):
    fs, bars, ranges = sine
    ds = fs.split(bars, **ranges)
    mlp = MLPRegressor(n_features=3, hidden_layers=[16])
    mlp.fit(ds.X_train, ds.y_train, X_val=ds.X_val, y_val=ds.y_val, epochs=100)
    zero = ZeroChangeBaseline(n_features=3)
    zero.fit(ds.X_train, ds.y_train)
    rm, rz = evaluate(mlp, ds), evaluate(zero, ds)
    assert rm.summary["test"]["mse"] < 0.5 * rz.summary["test"]["mse"]
    assert rm.summary["test"]["mse_ratio_zero"] < 0.5
    # the predictions frame: time index, splits, and summaries recomputable from it
    f = rm.predictions
    assert f.index.name == "timestamp" and list(f["split"].unique()) == ["train", "val", "test"]
    assert {"y_true", "y_pred", "y_value"} <= set(f.columns)
    test = f[f["split"] == "test"]
    assert test.index.min() >= np.datetime64("2017-01-06") and test.index.is_monotonic_increasing
    assert rm.summary["test"] == pytest.approx(
        summary_metrics(test, "regression", None), nan_ok=True
    )


def test_gru_classifier_trains_on_make_windows(sine, tmp_path):
    fs, bars, ranges = sine
    ds = fs.split(bars, **ranges, task="classification")
    W, idx = make_windows(ds.X_train, 8)
    gru = GRUClassifier(n_features=3, n_classes=2, window=8, hidden=16, lr=0.01)
    hist = gru.fit(W, ds.y_train.reindex(idx), epochs=25).to_frame()
    loss = hist[(hist.split == "train") & (hist.key == "loss")].value.to_numpy()
    assert loss[-1] < 0.8 * loss[0]
    res = evaluate(gru, ds, splits=("train", "test"))
    assert res.summary["test"]["acc"] > 0.8
    assert {"proba_0", "proba_1"} <= set(res.predictions.columns)
    path = gru.save(tmp_path / "gru", dataset=ds)
    block = load_model(path).saved_meta["dataset"]
    assert block["featureset"] == ds.featureset and block["scaler"] == ds.scaler.to_dict()
    assert block["bucketizer"] == ds.bucketizer.to_dict()
    assert block["fit_ranges"]["train"][0].startswith("2017-01-01")
    assert block["data_fingerprint"] == ds.data_fingerprint
