"""Seeded class rebalancing of a train split that keeps timestamps (``features.md`` §8).

Every output row carries a stamp: an original row keeps its own, a duplicate keeps its
source's, a synthetic (SMOTE / ADASYN) row takes the stamp of its seed sample. ``origin``
says which (``orig``, ``dup``, ``synthetic``); time-based statistics skip non-``orig``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from btgym.errors import ConfigError, MissingExtraError

METHODS = ("undersample", "oversample", "smote", "adasyn")


def rebalance(
    X: pd.DataFrame, y: pd.Series, method: str, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Rebalance classes; returns ``(X, y, origin)`` on a time index.

    Args:
        X: features (time-indexed).
        y: integer classes (no NA), same index.
        method: ``undersample`` (every class cut to the smallest count, drawn without
            replacement), ``oversample`` (minority rows drawn with replacement up to the
            largest count), ``smote`` / ``adasyn`` (imbalanced-learn, ``btgym[imbalance]``).
        seed: seed of ``numpy.random.default_rng``.

    Raises:
        ConfigError: unknown method, NA classes, misaligned X / y.
        MissingExtraError: smote / adasyn without imbalanced-learn.
    """
    if method not in METHODS:
        raise ConfigError(f"rebalance method must be one of {METHODS}, got {method!r}")
    if len(X) != len(y) or not X.index.equals(y.index):
        raise ConfigError("rebalance: X and y must share one index")
    if y.isna().any():
        raise ConfigError("rebalance: y holds missing classes; drop them first")
    classes = y.to_numpy(dtype=np.int64)
    values, counts = np.unique(classes, return_counts=True)
    rng = np.random.default_rng(seed)
    if method in ("smote", "adasyn"):
        return _synthetic(X, y, method, seed)
    if method == "undersample":
        n = counts.min()
        keep = np.concatenate(
            [rng.choice(np.flatnonzero(classes == c), size=n, replace=False) for c in values]
        )
        keep.sort()  # rows are in time order, so sorting positions sorts by time
        origin = pd.Series("orig", index=X.index[keep], name="origin")
        return X.iloc[keep], y.iloc[keep], origin
    n = counts.max()
    extra = [
        rng.choice(np.flatnonzero(classes == c), size=n - k, replace=True)
        for c, k in zip(values, counts)
        if n > k
    ]
    dup = np.concatenate(extra) if extra else np.zeros(0, np.int64)
    rows = np.concatenate([np.arange(len(X)), dup])
    kind = np.array(["orig"] * len(X) + ["dup"] * len(dup), dtype=object)
    order = np.argsort(rows, kind="stable")  # by time (positions), originals first
    rows, kind = rows[order], kind[order]
    origin = pd.Series(kind, index=X.index[rows], name="origin")
    return X.iloc[rows], y.iloc[rows], origin


def _synthetic(
    X: pd.DataFrame, y: pd.Series, method: str, seed: int
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    try:
        from imblearn.over_sampling import ADASYN, SMOTE
    except ImportError:
        raise MissingExtraError("imbalanced-learn", "imbalance", f"rebalance={method!r}") from None
    cls = SMOTE if method == "smote" else ADASYN
    sampler = cls(random_state=seed)
    Xr, yr = sampler.fit_resample(X.to_numpy(), y.to_numpy(dtype=np.int64))
    n = len(X)
    stamps = np.asarray(X.index)
    new = len(Xr) - n
    seeds = np.zeros(new, np.int64)
    if new:
        # imbalanced-learn appends synthetic rows; each lies between a seed sample and a
        # neighbour: take the stamp of the nearest original row of its class.
        Xn = X.to_numpy()
        for c in np.unique(yr[n:]):  # classes, then blocks of rows (bounded memory)
            pos = np.flatnonzero(y.to_numpy() == c)
            src = Xn[pos]
            new_rows = np.flatnonzero(yr[n:] == c)
            block = max(1, 2**22 // max(1, src.size))
            for s in range(0, len(new_rows), block):
                rows = new_rows[s : s + block]
                d = ((Xr[n:][rows, None, :] - src[None, :, :]) ** 2).sum(axis=2)
                seeds[rows] = pos[np.argmin(d, axis=1)]
    rows = np.concatenate([np.arange(n), seeds])
    kind = np.array(["orig"] * n + ["synthetic"] * new, dtype=object)
    order = np.argsort(rows, kind="stable")
    index = pd.DatetimeIndex(stamps[rows[order]], name=X.index.name)
    Xo = pd.DataFrame(Xr[order], index=index, columns=X.columns)
    yo = pd.Series(yr[order], index=index, name=y.name).astype(y.dtype)
    return Xo, yo, pd.Series(kind[order], index=index, name="origin")
