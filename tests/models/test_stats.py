"""Statistics: metrics against hand values, curves, confidence tables, sign PnL (§11 items 6-9)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from btgym.errors import ModelInputError
from btgym.models.results import ModelResult
from btgym.models.stats import (
    acc_over_time,
    accuracy,
    confidence_table,
    confusion,
    default_thresholds,
    directional_accuracy,
    likelihood_ratio,
    log_loss,
    lr_plus,
    mse_ratio_zero,
    precision,
    r2,
    recall,
    roc_auc,
    sign_pnl,
    summary_metrics,
)

# rows = real class, columns = predicted class
C = np.array([[5, 2, 1], [1, 6, 3], [0, 2, 8]])


def _from_confusion(c):
    r, p = [], []
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            r += [i] * c[i, j]
            p += [j] * c[i, j]
    return np.array(p), np.array(r)


def test_metrics_equal_hand_values_of_a_3x3_confusion():
    p, r = _from_confusion(C)
    assert accuracy(p, r) == pytest.approx(19 / 28)
    np.testing.assert_array_equal(confusion(p, r, 3), C)
    np.testing.assert_allclose(confusion(p, r, 3, normalize="all"), C / 28)
    assert precision(p, r, 0) == pytest.approx(5 / 6)
    assert recall(p, r, 0) == pytest.approx(5 / 8)
    assert likelihood_ratio(p, r, 0) == pytest.approx((5 / 8) / (1 - 5 / 6))
    assert lr_plus(p, r, 0) == pytest.approx((5 / 8) / (1 / 20))
    assert precision(p, r, 1) == pytest.approx(0.6)
    assert likelihood_ratio(p, r, 1) == pytest.approx(1.5)
    assert lr_plus(p, r, 1) == pytest.approx(0.6 / (4 / 18))
    assert precision(p, r, 2) == pytest.approx(8 / 12)
    assert likelihood_ratio(p, r, 2) == pytest.approx(0.8 / (1 / 3))


def test_nan_for_empty_and_zero_denominators_and_inf_at_precision_one():
    e = np.array([], dtype=int)
    assert math.isnan(accuracy(e, e)) and math.isnan(precision(e, e, 0))
    p, r = np.array([0, 0, 0]), np.array([0, 1, 1])
    assert math.isnan(precision(p, r, 1))  # class 1 never predicted
    assert math.isnan(recall(np.array([0, 1]), np.array([0, 0]), 1))  # class 1 never real
    assert likelihood_ratio(np.array([0, 0, 1]), np.array([0, 0, 0]), 0) == math.inf
    assert math.isnan(r2(np.array([1.0, 2.0]), np.array([3.0, 3.0])))
    with pytest.raises(ModelInputError):
        accuracy([0, 1], [0])


def test_roc_auc_equals_sklearn_one_vs_rest():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    r = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3)) + np.eye(3)[r] * 0.8
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    proba = np.round(proba, 2)  # ties
    for k in range(3):
        assert roc_auc(proba, r, k) == pytest.approx(
            sk.roc_auc_score(r == k, proba[:, k]), abs=1e-9
        )
    assert log_loss(np.array([[0.5, 0.5]]), np.array([1])) == pytest.approx(math.log(2))


def test_regression_metrics():
    pred, true = np.array([1.0, -1.0, 0.0, 2.0]), np.array([2.0, 1.0, 1.0, 0.0])
    assert directional_accuracy(pred, true) == pytest.approx(1 / 2)  # rows 0, 1 only
    assert mse_ratio_zero(pred, true) == pytest.approx(
        np.mean((pred - true) ** 2) / np.mean(true**2)
    )


def test_default_thresholds_and_confidence_table():
    th = default_thresholds(2)
    assert len(th) == 40 and th[0] == 0.5 and th[-1] == 0.89
    np.testing.assert_allclose(default_thresholds(4), np.arange(0.25, 0.5, 0.01))
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], size=400)
    r = rng.integers(0, 3, 400)
    t = confidence_table(proba, r, thresholds=[0.0, *default_thresholds(3), 0.5, 0.7])
    assert list(t.columns) == ["ACC", "PV0", "PV1", "PV2", "LR0", "LR1", "LR2", "Freq"]
    assert t["Freq"].iloc[0] == 1.0
    assert (np.diff(t["Freq"].to_numpy()) <= 0).all()
    assert len(confidence_table(proba, r)) == len(default_thresholds(3))
    keep = proba.max(1) > 0.5
    assert t["ACC"].to_numpy()[np.isclose(t.index, 0.5)][0] == pytest.approx(
        np.mean(proba[keep].argmax(1) == r[keep])
    )


def test_acc_over_time_by_rows_and_by_clock():
    rng = np.random.default_rng(1)
    n = 250
    p, r = rng.integers(0, 2, n), rng.integers(0, 2, n)
    a = acc_over_time(p, r, bucket=60)
    assert len(a) == n // 60
    for i in range(len(a)):
        assert a.iloc[i] == pytest.approx(
            np.mean(p[i * 60 : (i + 1) * 60] == r[i * 60 : (i + 1) * 60])
        )
    # one value per clock hour that has predictions (hour 02:00 is empty)
    idx = pd.date_range("2017-01-02 00:30", periods=90, freq="1min").append(
        pd.date_range("2017-01-02 03:10", periods=20, freq="1min")
    )
    h = acc_over_time(p[:110], r[:110], bucket="1h", index=idx)
    assert list(h.index.hour) == [0, 1, 3]
    assert h.iloc[0] == pytest.approx(np.mean(p[:30] == r[:30]))


def _result(frame, task="classification", K=2, horizon=1):
    return ModelResult("m", task, K, None, frame, {}, {"horizon": horizon})


def test_sign_pnl_hand_case_with_and_without_cost():
    idx = pd.date_range("2017-01-02", periods=6, freq="1min", name="timestamp")
    f = pd.DataFrame(
        {
            "split": "test",
            "y_true": [1, 0, 0, 1, 1, 0],
            "y_pred": [1, 1, 0, 0, 1, 0],
            "proba_0": [0.2, 0.45, 0.9, 0.6, 0.3, 0.7],
            "proba_1": [0.8, 0.55, 0.1, 0.4, 0.7, 0.3],
            "y_value": [0.01, -0.02, -0.01, 0.03, 0.02, np.nan],
        },
        index=idx,
    )
    res = _result(f)
    pnl = sign_pnl(res)  # positions +1 +1 -1 -1 +1, last row skipped (NaN)
    assert pnl.total == pytest.approx(0.01 - 0.02 + 0.01 - 0.03 + 0.02)
    assert len(pnl.equity) == 5 and pnl.equity.index[-1] == idx[4]
    assert pnl.hit_rate == pytest.approx(3 / 5)
    assert sign_pnl(res, cost=0.001).total == pytest.approx(-0.01 - 0.001 * (1 + 0 + 2 + 0 + 2))
    # flat under min_confidence: rows 1 (0.55) and 3 (0.6) trade nothing
    flat = sign_pnl(res, min_confidence=0.6)
    assert flat.total == pytest.approx(0.01 + 0.01 + 0.02)
    # three classes → (−1, 0, +1)
    f3 = f.assign(y_pred=[0, 1, 2, 2, 1, 0], proba_2=0.0)
    f3 = f3.assign(proba_0=1.0, proba_1=0.0)
    assert sign_pnl(_result(f3, K=3)).total == pytest.approx(-0.01 + 0 - 0.01 + 0.03 + 0)
    # horizon 2: only rows 0, 2, 4 trade
    assert sign_pnl(_result(f, horizon=2)).total == pytest.approx(0.01 + 0.01 + 0.02)
    s = summary_metrics(f.iloc[:5], "classification", 2)
    assert s["pnl_total"] == pytest.approx(pnl.total) and s["n"] == 5.0
    assert {"acc", "pv_0", "pr_1", "lr_0", "lr_plus_1", "auc_0", "log_loss", "hit_rate"} <= set(s)


def test_regressor_positions_follow_the_sign_of_the_prediction():
    idx = pd.date_range("2017-01-02", periods=4, freq="1min", name="timestamp")
    f = pd.DataFrame(
        {
            "split": "test",
            "y_true": [0.1, -0.2, 0.3, 0.0],
            "y_pred": [0.5, 0.2, -0.1, 0.0],
            "y_value": [0.1, -0.2, 0.3, 0.0],
        },
        index=idx,
    )
    assert sign_pnl(_result(f, task="regression", K=None)).total == pytest.approx(0.1 - 0.2 - 0.3)
    s = summary_metrics(f, "regression", None)
    assert set(s) >= {"mse", "mae", "r2", "dir_acc", "mse_ratio_zero", "n", "pnl_total"}
