"""Figure blocks: one pane each, drawn on a given ``ax`` (Agg, no pyplot).

Every block takes plain arrays/Series, never mutates them, renders NaN as "nan" on a
grey cell, and tags its axes with a ``gid`` (``"confusion"``, ``"metrics"``, ...) so
tests and reports can find panes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from btgym.models.stats import curves, metrics

NAN_COLOR = "#bdbdbd"
CMAP = mpl.colormaps["viridis"].with_extremes(bad=NAN_COLOR)


def fmt(v: float, digits: int = 3) -> str:
    """A value at ``digits`` decimals; "nan" / "inf" spelled out."""
    v = float(v)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}f}"


def fmt_table(v: float, digits: int = 4) -> str:
    """Table values: integers bare, small magnitudes in ``digits`` significant figures."""
    v = float(v)
    if np.isfinite(v) and v == int(v) and abs(v) >= 1:
        return str(int(v))
    if np.isfinite(v) and v != 0 and abs(v) < 0.01:
        return f"{v:.{digits}g}"
    return fmt(v, digits)


def value_grid(
    ax: Axes,
    values: np.ndarray,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    digits: int = 3,
    top_labels: bool = True,
    fontsize: float = 9,
) -> Any:
    """Cells coloured ``viridis(clip(v, 0, 1))`` with the value as text; NaN grey "nan"."""
    v = np.asarray(values, np.float64)
    img = ax.imshow(
        np.ma.masked_invalid(np.clip(v, 0.0, 1.0)),
        cmap=CMAP,
        vmin=0.0,
        vmax=1.0,
        aspect="auto",
        interpolation="nearest",
    )
    for (i, j), x in np.ndenumerate(v):
        shade = np.clip(x, 0, 1) if np.isfinite(x) else 1.0
        color = "white" if np.isfinite(x) and shade < 0.6 else "black"
        ax.text(j, i, fmt(x, digits), ha="center", va="center", color=color, fontsize=fontsize)
    ax.set_yticks(range(v.shape[0]), list(row_labels))
    ax.set_xticks(range(v.shape[1]), list(col_labels) if top_labels else [""] * v.shape[1])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return img


def _date_axis(ax: Axes) -> None:
    """Concise date ticks (no overlapping labels)."""
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(axis="x", labelsize=8)


def _names(class_names: Sequence[str] | None, K: int) -> list[str]:
    return list(class_names) if class_names is not None else [str(k) for k in range(K)]


def plot_confusion(
    ax: Axes,
    p: Any,
    r: Any,
    n_classes: int,
    class_names: Sequence[str] | None = None,
    *,
    title: str = "Confusion (share of all)",
) -> np.ndarray:
    """Confusion normalised by the total, a ``Prevalence`` column and a ``Prediction Bias`` row.

    Returns:
        The drawn ``(K+1, K+1)`` matrix (rows real, columns predicted).
    """
    K = int(n_classes)
    c = metrics.confusion(p, r, K, normalize="all")
    m = np.full((K + 1, K + 1), np.nan)
    m[:K, :K] = c
    m[:K, K] = c.sum(axis=1)
    m[K, :K] = c.sum(axis=0)
    m[K, K] = c.sum() if np.isfinite(c).all() else np.nan
    names = _names(class_names, K)
    value_grid(ax, m, row_labels=[*names, "Prediction Bias"], col_labels=[*names, "Prevalence"])
    ax.set_ylabel("real")
    ax.set_title(f"{title}\npredicted →", fontsize=10)
    ax.set_gid("confusion")
    return m


def plot_metrics_table(
    ax: Axes, rows: dict[str, float], *, title: str = "Metrics", digits: int = 4
) -> None:
    """A two-column table ``metric | value`` (NaN cells grey)."""
    ax.axis("off")
    names = list(rows)
    text = [[n, fmt_table(rows[n], digits)] for n in names]
    table = ax.table(cellText=text, colLabels=["metric", "value"], loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.2)
    for i, n in enumerate(names, start=1):
        if np.isnan(float(rows[n])):
            table[i, 1].set_facecolor(NAN_COLOR)
    ax.set_title(title, fontsize=10)
    ax.set_gid("metrics")


def classifier_metric_rows(p: Any, r: Any, n_classes: int) -> dict[str, float]:
    """``ACC, PV_k, PR_k, LR_k`` of a classifier's predictions."""
    rows = {"ACC": metrics.accuracy(p, r)}
    for name, fn in (
        ("PV", metrics.precision),
        ("PR", metrics.recall),
        ("LR", metrics.likelihood_ratio),
    ):
        for k in range(int(n_classes)):
            rows[f"{name}_{k}"] = fn(p, r, k)
    return rows


def plot_acc_over_time(
    ax: Axes,
    acc: pd.Series,
    n_classes: int | None = None,
    *,
    title: str = "Accuracy over time",
    reference: float | None = None,
) -> None:
    """Bucket accuracies against time with a chance line at ``1/K`` (or ``reference``)."""
    x = acc.index if isinstance(acc.index, pd.DatetimeIndex) else np.arange(len(acc))
    ax.plot(x, acc.to_numpy(np.float64), lw=1.0, color="tab:blue", marker=".", ms=3)
    ref = reference if reference is not None else (1.0 / n_classes if n_classes else 0.5)
    ax.axhline(ref, color="tab:red", ls="--", lw=1.0, label=f"chance {ref:.3f}")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    if isinstance(acc.index, pd.DatetimeIndex):
        _date_axis(ax)
    ax.set_gid("acc_over_time")


def plot_acc_histogram(ax: Axes, acc: pd.Series, n_classes: int, *, bins: int = 50) -> float:
    """Histogram of bucket accuracies; title ``"{win_rate:.4f} interval win rate"``.

    Returns:
        The win rate (share of buckets above ``1/K``).
    """
    a = np.asarray(acc, np.float64)
    a = a[np.isfinite(a)]
    rate = curves.win_rate(a, n_classes)
    ax.hist(a, bins=bins, range=(0.0, 1.0), color="tab:blue", alpha=0.8)
    ax.axvline(1.0 / n_classes, color="tab:red", ls="--", lw=1.0)
    ax.set_xlabel("bucket accuracy")
    ax.set_ylabel("buckets")
    ax.set_title(f"{rate:.4f} interval win rate", fontsize=10)
    ax.set_gid("acc_histogram")
    return rate


def plot_lr_curves(ax: Axes, table: pd.DataFrame, n_classes: int) -> None:
    """LR_k against the frequency of confident predictions (x from 1.0 down)."""
    for k in range(int(n_classes)):
        y = table[f"LR{k}"].to_numpy(np.float64)
        y = np.where(np.isfinite(y), y, np.nan)
        ax.plot(table["Freq"].to_numpy(), y, marker=".", lw=1.0, label=f"LR{k}")
    ax.set_xlim(1.0, 0.0)
    ax.set_xlabel("frequency of confident predictions")
    ax.set_ylabel("likelihood ratio")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=8)
    ax.set_title("LR vs confidence frequency", fontsize=10)
    ax.set_gid("lr_curves")


def plot_confidence_curves(ax: Axes, table: pd.DataFrame) -> None:
    """ACC and Freq against the confidence threshold."""
    ax.plot(table.index, table["ACC"], label="ACC", lw=1.0)
    ax.plot(table.index, table["Freq"], label="Freq", lw=1.0)
    ax.set_xlabel("threshold on max probability")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Accuracy vs confidence", fontsize=10)
    ax.set_gid("confidence_curves")


def plot_roc(ax: Axes, proba: np.ndarray, r: Any, n_classes: int) -> list[float]:
    """One-vs-rest ROC per class, legend ``"class k AUC = 0.xxxx"``, dashed diagonal."""
    aucs = []
    for k in range(int(n_classes)):
        fpr, tpr = metrics.roc_curve(proba, r, k)
        auc = metrics.roc_auc(proba, r, k)
        aucs.append(auc)
        ax.plot(fpr, tpr, lw=1.0, label=f"class {k} AUC = {fmt(auc, 4)}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("ROC (one vs rest)", fontsize=10)
    ax.set_gid("roc")
    return aucs


def plot_regression_fit(ax: Axes, frame: pd.DataFrame) -> None:
    """``y_true`` and ``y_pred`` against time."""
    ax.plot(frame.index, frame["y_true"].to_numpy(np.float64), lw=0.6, label="y_true", color="0.4")
    ax.plot(
        frame.index,
        frame["y_pred"].to_numpy(np.float64),
        lw=0.8,
        label="y_pred",
        color="tab:orange",
    )
    ax.legend(loc="upper right", fontsize=8)
    _date_axis(ax)
    ax.set_title("Truth and prediction", fontsize=10)
    ax.set_gid("regression_fit")


def plot_equity(
    ax: Axes, equity: pd.Series, *, title: str = "Sign-trading equity (log units)"
) -> None:
    """Cumulative net of the sign-trading positions."""
    ax.plot(equity.index, equity.to_numpy(np.float64), lw=1.0, color="tab:green")
    if isinstance(equity.index, pd.DatetimeIndex):
        _date_axis(ax)
    ax.axhline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_title(title, fontsize=10)
    ax.set_gid("equity")
