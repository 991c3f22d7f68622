"""Classification and regression metrics (numpy), Atlas's definitions (``models.md`` §5).

Conventions: ``p`` predicted class ids, ``r`` real class ids (same length, else
:class:`~btgym.errors.ModelInputError`); an empty input or a zero denominator gives
NaN. ``likelihood_ratio`` is Atlas's own ``recall / (1 − precision)`` (inf when the
precision is 1 and the recall > 0); ``lr_plus`` is the textbook ``TPR / FPR``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from btgym.errors import ModelInputError

NAN = float("nan")


def _pair(p: Any, r: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    p, r = np.asarray(p).reshape(-1), np.asarray(r).reshape(-1)
    if len(p) != len(r):
        raise ModelInputError(
            f"{where}: predictions ({len(p)}) and truth ({len(r)}) differ in length"
        )
    return p, r


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else NAN


def accuracy(p: Any, r: Any) -> float:
    """Share of rows where ``p == r`` (NaN when empty)."""
    p, r = _pair(p, r, "accuracy")
    return _div(np.sum(p == r), len(p))


def precision(p: Any, r: Any, k: int) -> float:
    """PV_k = TP_k / #predicted k."""
    p, r = _pair(p, r, "precision")
    return _div(np.sum((p == k) & (r == k)), np.sum(p == k))


def recall(p: Any, r: Any, k: int) -> float:
    """PR_k = TP_k / #real k."""
    p, r = _pair(p, r, "recall")
    return _div(np.sum((p == k) & (r == k)), np.sum(r == k))


def likelihood_ratio(p: Any, r: Any, k: int) -> float:
    """Atlas's LR_k = recall / (1 − precision); inf at precision 1 with recall > 0."""
    pv, pr = precision(p, r, k), recall(p, r, k)
    if np.isnan(pv) or np.isnan(pr):
        return NAN
    if pv == 1.0:
        return float("inf") if pr > 0 else NAN
    return pr / (1.0 - pv)


def lr_plus(p: Any, r: Any, k: int) -> float:
    """Textbook positive likelihood ratio TPR_k / FPR_k (inf when FPR is 0 < TPR)."""
    p, r = _pair(p, r, "lr_plus")
    tpr = _div(np.sum((p == k) & (r == k)), np.sum(r == k))
    fpr = _div(np.sum((p == k) & (r != k)), np.sum(r != k))
    if np.isnan(tpr) or np.isnan(fpr):
        return NAN
    if fpr == 0:
        return float("inf") if tpr > 0 else NAN
    return tpr / fpr


def confusion(p: Any, r: Any, n_classes: int, normalize: str | None = None) -> np.ndarray:
    """``(K, K)`` counts, rows = real class, columns = predicted class.

    Args:
        normalize: ``None`` (counts, float64) or ``"all"`` (divided by the total; NaN when empty).
    """
    p, r = _pair(p, r, "confusion")
    K = int(n_classes)
    ok = (p >= 0) & (p < K) & (r >= 0) & (r < K)
    if not ok.all():
        raise ModelInputError(f"confusion: class ids outside 0 … {K - 1}")
    m = np.zeros((K, K))
    np.add.at(m, (r.astype(np.int64), p.astype(np.int64)), 1.0)
    if normalize == "all":
        total = m.sum()
        return m / total if total else np.full((K, K), NAN)
    if normalize is not None:
        raise ModelInputError(f"confusion: normalize must be None or 'all', got {normalize!r}")
    return m


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged (as ``scipy.stats.rankdata``)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], len(xs)]
    avg = (starts + ends + 1) / 2.0  # mean of 1-based positions start+1 … end
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def roc_auc(proba: Any, r: Any, k: int) -> float:
    """One-vs-rest ROC AUC of class ``k`` (Mann-Whitney rank statistic; NaN if one class)."""
    proba = np.asarray(proba, np.float64)
    score = proba[:, k] if proba.ndim == 2 else proba
    score, r = _pair(score, r, "roc_auc")
    pos = r == k
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return NAN
    ranks = _average_ranks(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(proba: Any, r: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` of class ``k`` one-vs-rest, one point per distinct score."""
    proba = np.asarray(proba, np.float64)
    score = proba[:, k] if proba.ndim == 2 else proba
    score, r = _pair(score, r, "roc_curve")
    pos = r == k
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], pos[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def log_loss(proba: Any, r: Any, eps: float = 1e-15) -> float:
    """Mean negative log probability of the real class."""
    proba = np.asarray(proba, np.float64)
    r = np.asarray(r).reshape(-1)
    if proba.ndim != 2 or len(proba) != len(r):
        raise ModelInputError(f"log_loss: proba {proba.shape} does not match {len(r)} labels")
    if not len(r):
        return NAN
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(r)), r.astype(np.int64)], eps, 1.0))))


def mse(pred: Any, true: Any) -> float:
    """Mean squared error."""
    a, b = _pair(pred, true, "mse")
    return float(np.mean((a.astype(float) - b) ** 2)) if len(a) else NAN


def mae(pred: Any, true: Any) -> float:
    """Mean absolute error."""
    a, b = _pair(pred, true, "mae")
    return float(np.mean(np.abs(a.astype(float) - b))) if len(a) else NAN


def r2(pred: Any, true: Any) -> float:
    """Coefficient of determination (NaN when the truth is constant)."""
    a, b = _pair(pred, true, "r2")
    if not len(a):
        return NAN
    tot = float(np.sum((b - b.mean()) ** 2))
    return 1.0 - float(np.sum((b - a) ** 2)) / tot if tot else NAN


def directional_accuracy(pred: Any, true: Any) -> float:
    """Sign agreement over rows where neither truth nor prediction is 0."""
    a, b = _pair(pred, true, "directional_accuracy")
    keep = (a != 0) & (b != 0)
    return _div(np.sum(np.sign(a[keep]) == np.sign(b[keep])), keep.sum())


def mse_ratio_zero(pred: Any, true: Any) -> float:
    """MSE of the predictions over the MSE of predicting 0 (< 1 beats no-change)."""
    a, b = _pair(pred, true, "mse_ratio_zero")
    return _div(mse(a, b), mse(np.zeros_like(b, dtype=float), b)) if len(a) else NAN


def mse_ratio_mean(pred: Any, true: Any, train_mean: float) -> float:
    """MSE of the predictions over the MSE of predicting the train mean."""
    a, b = _pair(pred, true, "mse_ratio_mean")
    return _div(mse(a, b), mse(np.full(len(b), float(train_mean)), b)) if len(a) else NAN
