"""Statistics of model predictions: metrics, curves, sign-trading PnL, and the summary.

:func:`summary_metrics` gives the fixed key names the registry and reports use:
classifiers ``acc, pv_k, pr_k, lr_k, lr_plus_k, auc_k, log_loss, n``; regressors
``mse, mae, r2, dir_acc, mse_ratio_zero, n``; both add ``pnl_total, pnl_sharpe,
hit_rate, turnover``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from btgym.models.stats import curves, metrics, trading
from btgym.models.stats.curves import (
    acc_over_time,
    confidence_table,
    default_thresholds,
    win_rate,
)
from btgym.models.stats.metrics import (
    accuracy,
    confusion,
    directional_accuracy,
    likelihood_ratio,
    log_loss,
    lr_plus,
    mae,
    mse,
    mse_ratio_mean,
    mse_ratio_zero,
    precision,
    r2,
    recall,
    roc_auc,
    roc_curve,
)
from btgym.models.stats.trading import PnL, sign_pnl, sign_pnl_frame

CLASSIFIER_KEYS = ("acc", "pv", "pr", "lr", "lr_plus", "auc", "log_loss", "n")
REGRESSOR_KEYS = ("mse", "mae", "r2", "dir_acc", "mse_ratio_zero", "n")
TRADING_KEYS = ("pnl_total", "pnl_sharpe", "hit_rate", "turnover")


def proba_matrix(frame: pd.DataFrame, n_classes: int) -> np.ndarray:
    """The ``proba_0 … proba_{K−1}`` columns as an ``(n, K)`` array."""
    return frame[[f"proba_{k}" for k in range(n_classes)]].to_numpy(np.float64)


def summary_metrics(
    frame: pd.DataFrame, task: str, n_classes: int | None, *, horizon: int = 1, cost: float = 0.0
) -> dict[str, float]:
    """The metric set of one split's predictions frame (fixed key names, see module doc)."""
    out: dict[str, float] = {}
    if task == "classification":
        K = int(n_classes)
        p = frame["y_pred"].to_numpy(np.int64)
        r = frame["y_true"].to_numpy(np.int64)
        out["acc"] = accuracy(p, r)
        for k in range(K):
            out[f"pv_{k}"] = precision(p, r, k)
        for k in range(K):
            out[f"pr_{k}"] = recall(p, r, k)
        for k in range(K):
            out[f"lr_{k}"] = likelihood_ratio(p, r, k)
        for k in range(K):
            out[f"lr_plus_{k}"] = lr_plus(p, r, k)
        proba = proba_matrix(frame, K)
        for k in range(K):
            out[f"auc_{k}"] = roc_auc(proba, r, k)
        out["log_loss"] = log_loss(proba, r)
    else:
        pred = frame["y_pred"].to_numpy(np.float64)
        true = frame["y_true"].to_numpy(np.float64)
        out.update(
            mse=mse(pred, true),
            mae=mae(pred, true),
            r2=r2(pred, true),
            dir_acc=directional_accuracy(pred, true),
            mse_ratio_zero=mse_ratio_zero(pred, true),
        )
    out["n"] = float(len(frame))
    if "y_value" in frame:
        out.update(sign_pnl_frame(frame, task, n_classes, horizon=horizon, cost=cost).to_dict())
    else:
        out.update(dict.fromkeys(TRADING_KEYS, float("nan")))
    return out


__all__ = [
    "PnL",
    "acc_over_time",
    "accuracy",
    "confidence_table",
    "confusion",
    "curves",
    "default_thresholds",
    "directional_accuracy",
    "likelihood_ratio",
    "log_loss",
    "lr_plus",
    "mae",
    "metrics",
    "mse",
    "mse_ratio_mean",
    "mse_ratio_zero",
    "precision",
    "proba_matrix",
    "r2",
    "recall",
    "roc_auc",
    "roc_curve",
    "sign_pnl",
    "sign_pnl_frame",
    "summary_metrics",
    "trading",
    "win_rate",
]
