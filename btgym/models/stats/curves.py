"""Accuracy over time and confidence tables (Atlas's card panes; ``models.md`` §5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from btgym.errors import ModelInputError
from btgym.models.stats.metrics import _pair, likelihood_ratio, precision


def acc_over_time(
    p: Any, r: Any, bucket: int | str = 60, index: Any = None, *, zero: Any = None
) -> pd.Series:
    """Accuracy per bucket of predictions.

    Args:
        p, r: predicted and real classes (or signs, see ``zero``).
        bucket: an int (consecutive rows; a trailing partial bucket is dropped) or a
            pandas offset such as ``"1h"`` (clock buckets on ``index``; empty buckets absent).
        index: the rows' timestamps (required for an offset; for an int bucket the
            result is indexed by each bucket's first stamp, else by bucket number).
        zero: optional boolean mask of rows to leave out (e.g. zero moves of a regressor).

    Returns:
        A float Series, one value per bucket.
    """
    p, r = _pair(p, r, "acc_over_time")
    hit = (p == r).astype(np.float64)
    idx = None if index is None else pd.DatetimeIndex(index)
    if idx is not None and len(idx) != len(p):
        raise ModelInputError(f"acc_over_time: index has {len(idx)} rows, predictions {len(p)}")
    keep = np.ones(len(p), bool) if zero is None else ~np.asarray(zero, bool)
    if isinstance(bucket, (int, np.integer)):
        if bucket < 1:
            raise ModelInputError(f"acc_over_time: bucket must be ≥ 1, got {bucket}")
        hit, rows = hit[keep], np.flatnonzero(keep)
        n = len(hit) // int(bucket)
        vals = hit[: n * bucket].reshape(n, int(bucket)).mean(axis=1) if n else np.empty(0)
        if idx is not None:
            labels = idx[rows[: n * bucket : bucket]] if n else pd.DatetimeIndex([])
            return pd.Series(vals, index=pd.DatetimeIndex(labels, name="timestamp"), name="acc")
        return pd.Series(vals, name="acc")
    if idx is None:
        raise ModelInputError("acc_over_time: a clock bucket needs the timestamp index")
    s = pd.Series(hit[keep], index=idx[keep])
    try:
        out = s.groupby(s.index.floor(bucket)).mean()
    except ValueError as exc:
        raise ModelInputError(f"acc_over_time: bad bucket {bucket!r}: {exc}") from exc
    out.index.name = "timestamp"
    out.name = "acc"
    return out


def win_rate(acc: pd.Series, n_classes: int) -> float:
    """Share of buckets whose accuracy is above chance ``1/K`` (NaN with no bucket)."""
    a = np.asarray(acc, np.float64)
    return float(np.mean(a > 1.0 / n_classes)) if len(a) else float("nan")


def default_thresholds(n_classes: int) -> np.ndarray:
    """K = 2: 0.50 … 0.89 step 0.01 (40 values); else ``arange(1/K, 2/K, 0.01)``."""
    K = int(n_classes)
    if K == 2:
        return np.round(0.5 + 0.01 * np.arange(40), 2)
    return np.arange(1.0 / K, 2.0 / K, 0.01)


def confidence_table(proba: Any, r: Any, thresholds: Any = None) -> pd.DataFrame:
    """Metrics over the rows whose top probability is strictly above each threshold.

    Returns:
        DataFrame indexed by ``threshold`` with columns ``ACC, PV0…, LR0…, Freq``
        (``Freq`` = share of rows kept, non-increasing in the threshold).
    """
    proba = np.asarray(proba, np.float64)
    r = np.asarray(r).reshape(-1)
    if proba.ndim != 2 or len(proba) != len(r):
        raise ModelInputError(
            f"confidence_table: proba {proba.shape} does not match {len(r)} labels"
        )
    K = proba.shape[1]
    th = default_thresholds(K) if thresholds is None else np.unique(np.asarray(thresholds, float))
    conf, p = proba.max(axis=1), proba.argmax(axis=1)
    rows = []
    for t in th:
        keep = conf > t
        pk, rk = p[keep], r[keep]
        row = {"ACC": float(np.mean(pk == rk)) if keep.any() else float("nan")}
        row.update({f"PV{k}": precision(pk, rk, k) for k in range(K)})
        row.update({f"LR{k}": likelihood_ratio(pk, rk, k) for k in range(K)})
        row["Freq"] = float(keep.mean()) if len(keep) else float("nan")
        rows.append(row)
    cols = ["ACC", *[f"PV{k}" for k in range(K)], *[f"LR{k}" for k in range(K)], "Freq"]
    return pd.DataFrame(rows, index=pd.Index(th, name="threshold"), columns=cols)
