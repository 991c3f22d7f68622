"""Baseball cards: one figure summarising a model on one split (Atlas's layout)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from btgym.errors import ModelError
from btgym.models.plots import blocks
from btgym.models.stats import acc_over_time, confidence_table, metrics, proba_matrix


def _frame(result: Any, split: str):
    frame = result.predictions[result.predictions["split"] == split]
    if not len(frame):
        raise ModelError(f"{result.name}: no predictions on split {split!r}")
    return frame


def _suptitle(fig: Figure, result: Any, split: str, frame) -> None:
    first, last = frame.index[0], frame.index[-1]
    fig.suptitle(
        f"{result.name} · {split} · n = {len(frame)} · "
        f"{first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M}",
        fontsize=12,
    )


def classifier_card(
    result: Any, *, split: str = "test", layout: str = "full", bucket: int | str = 60
) -> Figure:
    """Classifier card. ``full`` (2×3): confusion, metrics, accuracy over time, its
    histogram, LR vs confidence frequency, ROC; ``compact`` (2×2): the last four.
    """
    from btgym.models.plots import new_figure

    if result.task != "classification":
        raise ModelError(f"{result.name} is a regressor: use regressor_card")
    if layout not in ("full", "compact"):
        raise ModelError(f"classifier_card: layout must be 'full' or 'compact', got {layout!r}")
    frame = _frame(result, split)
    K = int(result.n_classes)
    p, r = frame["y_pred"].to_numpy(np.int64), frame["y_true"].to_numpy(np.int64)
    proba = proba_matrix(frame, K)
    acc = acc_over_time(p, r, bucket=bucket, index=frame.index)
    table = confidence_table(proba, r)
    if layout == "full":
        fig = new_figure(16, 9.5)
        axes = fig.subplots(2, 3).ravel()
        blocks.plot_confusion(axes[0], p, r, K, result.class_names)
        blocks.plot_metrics_table(axes[1], blocks.classifier_metric_rows(p, r, K))
        order = axes[2:]
    else:
        fig = new_figure(12, 8.5)
        a = fig.subplots(2, 2).ravel()
        order = [a[0], a[2], a[1], a[3]]  # panes 3, 5 / 4, 6 → acc, lr on top
    blocks.plot_acc_over_time(order[0], acc, K, title=f"Accuracy over time (bucket {bucket})")
    blocks.plot_acc_histogram(order[1], acc, K)
    blocks.plot_lr_curves(order[2], table, K)
    blocks.plot_roc(order[3], proba, r, K)
    _suptitle(fig, result, split, frame)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def regressor_card(result: Any, *, split: str = "test", bucket: int | str = 60) -> Figure:
    """Regressor card (5 axes): sign confusion without zero moves, metrics table,
    directional accuracy over time, its histogram, and a full-height pane of ``y_true``
    and ``y_pred`` against time.
    """
    from btgym.models.plots import new_figure

    if result.task != "regression":
        raise ModelError(f"{result.name} is a classifier: use classifier_card")
    frame = _frame(result, split)
    pred, true = frame["y_pred"].to_numpy(np.float64), frame["y_true"].to_numpy(np.float64)
    zero = (pred == 0) | (true == 0)
    ps, rs = (pred > 0).astype(np.int64), (true > 0).astype(np.int64)
    fig = new_figure(16, 9.5)
    grid = fig.add_gridspec(2, 3)
    ax_conf = fig.add_subplot(grid[0, 0])
    ax_table = fig.add_subplot(grid[0, 1])
    ax_time = fig.add_subplot(grid[1, 0])
    ax_hist = fig.add_subplot(grid[1, 1])
    ax_fit = fig.add_subplot(grid[:, 2])
    blocks.plot_confusion(
        ax_conf,
        ps[~zero],
        rs[~zero],
        2,
        ("down", "up"),
        title="Sign confusion (zero moves excluded)",
    )
    rows = {
        "MSE": metrics.mse(pred, true),
        "MAE": metrics.mae(pred, true),
        "R2": metrics.r2(pred, true),
        "DIR_ACC": metrics.directional_accuracy(pred, true),
        "MSE/MSE(0)": metrics.mse_ratio_zero(pred, true),
        "n": float(len(frame)),
    }
    blocks.plot_metrics_table(ax_table, rows, digits=6)
    acc = acc_over_time(ps, rs, bucket=bucket, index=frame.index, zero=zero)
    blocks.plot_acc_over_time(
        ax_time, acc, 2, title=f"Directional accuracy over time (bucket {bucket})"
    )
    blocks.plot_acc_histogram(ax_hist, acc, 2)
    blocks.plot_regression_fit(ax_fit, frame)
    _suptitle(fig, result, split, frame)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig
