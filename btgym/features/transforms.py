"""Scaler, Bucketizer and label conversions (``features.md`` §8).

Both transforms are fitted on train only (``FeatureLabelSet.split`` does that) and travel
as JSON; floats round-trip exactly (``repr`` → ``float``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from btgym.errors import ConfigError, DegenerateBucketsError, DegenerateFeatureError

BOUNDARY_RULES = ("drop", "assign_left", "assign_right", "assign_random")
MODES = ("sign", "boundaries", "percentiles", "up_flat_down")


# --------------------------------------------------------------------------- Scaler


@dataclass(frozen=True)
class Scaler:
    """Per-column standardisation ``(x − mean) / std`` (std with ddof 1).

    Build with :meth:`Scaler.fit`; an unfitted ``Scaler()`` has no columns.
    """

    columns: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    fit_range: tuple[str | None, str | None] = (None, None)
    n_rows: int = 0

    @classmethod
    def fit(cls, X: pd.DataFrame) -> Scaler:
        """Fit on ``X`` (the train features).

        Raises:
            DegenerateFeatureError: a zero or non-finite std (names the columns).
            ConfigError: no rows.
        """
        if len(X) < 2:
            raise ConfigError(f"Scaler.fit needs at least 2 rows, got {len(X)}")
        arr = X.to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            mean = arr.mean(axis=0)
            std = arr.std(axis=0, ddof=1)
        bad = [str(c) for c, s in zip(X.columns, std) if not np.isfinite(s) or s == 0]
        if bad:
            raise DegenerateFeatureError(
                f"cannot scale column(s) {bad}: zero or non-finite standard deviation over "
                f"{len(X)} train rows (constant feature, e.g. Volume on HistData's zero volume)"
            )
        idx = X.index
        rng = (str(idx[0]), str(idx[-1])) if isinstance(idx, pd.DatetimeIndex) else (None, None)
        return cls(
            tuple(str(c) for c in X.columns),
            tuple(float(m) for m in mean),
            tuple(float(s) for s in std),
            rng,
            len(X),
        )

    def _check(self, X: pd.DataFrame) -> None:
        cols = tuple(str(c) for c in X.columns)
        if cols != self.columns:
            raise ConfigError(
                f"Scaler columns differ: fitted on {list(self.columns)}, got {list(cols)}"
            )

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Standardise ``X`` (same columns in the same order)."""
        self._check(X)
        arr = (X.to_numpy(dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.std)
        return pd.DataFrame(arr, index=X.index, columns=X.columns)

    def inverse_transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Undo :meth:`transform`."""
        self._check(X)
        arr = X.to_numpy(dtype=np.float64) * np.asarray(self.std) + np.asarray(self.mean)
        return pd.DataFrame(arr, index=X.index, columns=X.columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (floats round-trip exactly)."""
        return {
            "columns": list(self.columns),
            "mean": list(self.mean),
            "std": list(self.std),
            "fit_range": list(self.fit_range),
            "n_rows": self.n_rows,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scaler:
        """Rebuild from :meth:`to_dict`."""
        extra = set(d) - {"columns", "mean", "std", "fit_range", "n_rows"}
        if extra:
            raise ConfigError(f"Scaler.from_dict: unknown keys {sorted(extra)}")
        cols, mean, std = tuple(d["columns"]), tuple(d["mean"]), tuple(d["std"])
        if not len(cols) == len(mean) == len(std):
            raise ConfigError("Scaler.from_dict: columns, mean and std differ in length")
        return cls(
            tuple(str(c) for c in cols),
            tuple(float(m) for m in mean),
            tuple(float(s) for s in std),
            tuple(d.get("fit_range") or (None, None)),  # type: ignore[arg-type]
            int(d.get("n_rows", 0)),
        )


# --------------------------------------------------------------------------- conversions


def to_classes(
    values: Any,
    boundaries: Sequence[float],
    handle_boundary: str = "drop",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Class of each value: the number of boundaries strictly below it.

    A value equal to a boundary follows ``handle_boundary`` (``assign_left`` lower class,
    ``assign_right`` upper class, ``assign_random`` seeded coin, ``drop`` NaN). NaN stays
    NaN. Returns float64 (NaN where no class).
    """
    if handle_boundary not in BOUNDARY_RULES:
        raise ConfigError(
            f"handle_boundary must be one of {BOUNDARY_RULES}, got {handle_boundary!r}"
        )
    v = np.asarray(values, dtype=np.float64)
    b = np.asarray(boundaries, dtype=np.float64)
    cls = np.searchsorted(b, v, side="left").astype(np.float64)  # boundaries strictly below
    on = np.isin(v, b)
    if handle_boundary == "assign_right":
        cls[on] += 1
    elif handle_boundary == "drop":
        cls[on] = np.nan
    elif handle_boundary == "assign_random":
        gen = rng if rng is not None else np.random.default_rng(0)
        cls[on] += gen.integers(0, 2, size=int(on.sum()))
    cls[np.isnan(v)] = np.nan
    return cls


def percentile_boundaries(values: Any, percentiles: Sequence[float]) -> np.ndarray:
    """``numpy.quantile(values, p, method="linear")`` over the finite values.

    Raises:
        DegenerateBucketsError: the boundaries are not strictly increasing.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    p = np.asarray(percentiles, dtype=np.float64)
    if not len(v):
        raise DegenerateBucketsError("cannot fit percentile boundaries on no finite values")
    if np.any((p <= 0) | (p >= 1)) or np.any(np.diff(p) <= 0):
        raise ConfigError(f"percentiles must increase strictly inside (0, 1), got {list(p)}")
    out = np.quantile(v, p, method="linear")
    _check_increasing(out, f"percentiles {list(p)}")
    return out


def _check_increasing(b: np.ndarray, what: str) -> None:
    if np.any(~np.isfinite(b)) or np.any(np.diff(b) <= 0):
        raise DegenerateBucketsError(
            f"bucket boundaries {list(map(float, b))} from {what} are not strictly increasing"
        )


def one_hot(classes: Any, n_classes: int) -> np.ndarray:
    """``(n,) → (n, K)`` float64 one-hot rows; a NaN / NA class gives a row of NaN."""
    c = pd.array(classes, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.zeros((len(c), n_classes))
    ok = np.isfinite(c)
    out[np.flatnonzero(ok), c[ok].astype(np.int64)] = 1.0
    out[~ok] = np.nan
    return out


def from_one_hot(a: Any) -> np.ndarray:
    """``(n, K) → (n,)`` float64 classes (argmax); a row with NaN gives NaN."""
    arr = np.asarray(a, dtype=np.float64)
    out = np.argmax(np.nan_to_num(arr, nan=-np.inf), axis=1).astype(np.float64)
    out[np.isnan(arr).any(axis=1)] = np.nan
    return out


# --------------------------------------------------------------------------- Bucketizer


@dataclass
class Bucketizer:
    """Label → class buckets (``sign``, ``boundaries``, ``percentiles``, ``up_flat_down``).

    ``fit(y)`` sets ``fitted_boundaries`` and returns the bucketizer (sklearn style, so
    ``Bucketizer(...).fit(y).transform(y)`` works); ``transform`` gives a nullable
    ``Int64`` Series (``<NA>`` for NaN and dropped values).
    """

    mode: str = "sign"
    _: KW_ONLY
    boundaries: tuple[float, ...] | None = None
    percentiles: tuple[float, ...] | None = None
    up_flat_down: float | None = None
    handle_boundary: str = "drop"
    seed: int = 0
    fitted_boundaries: tuple[float, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"Bucketizer mode must be one of {MODES}, got {self.mode!r}")
        if self.handle_boundary not in BOUNDARY_RULES:
            raise ConfigError(
                f"handle_boundary must be one of {BOUNDARY_RULES}, got {self.handle_boundary!r}"
            )
        need = {"boundaries": self.boundaries, "percentiles": self.percentiles}
        if self.mode in need and need[self.mode] is None:
            raise ConfigError(f"Bucketizer mode {self.mode!r} needs {self.mode}=[...]")
        if self.mode == "up_flat_down" and (self.up_flat_down is None or self.up_flat_down < 0):
            raise ConfigError(f"up_flat_down must be a number ≥ 0, got {self.up_flat_down!r}")
        for key in ("boundaries", "percentiles"):
            val = getattr(self, key)
            if val is not None:
                setattr(self, key, tuple(float(x) for x in val))
        if self.fitted_boundaries is not None:
            self.fitted_boundaries = tuple(float(x) for x in self.fitted_boundaries)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        if self.mode == "sign":
            return 2
        if self.mode == "up_flat_down":
            return 3
        n = self.boundaries if self.mode == "boundaries" else self.percentiles
        return len(n or ()) + 1

    @property
    def class_names(self) -> tuple[str, ...]:
        """``down, up`` (sign), ``down, flat, up`` (up_flat_down), else ``c0 … c{K−1}``."""
        if self.mode == "sign":
            return ("down", "up")
        if self.mode == "up_flat_down":
            return ("down", "flat", "up")
        return tuple(f"c{i}" for i in range(self.n_classes))

    def fit(self, y: Any) -> Bucketizer:
        """Fix the boundaries (percentiles: fitted on ``y``, the train labels); returns self."""
        if self.mode == "sign":
            b = np.array([0.0])
        elif self.mode == "boundaries":
            b = np.asarray(self.boundaries, dtype=np.float64)
            _check_increasing(b, "boundaries")
        elif self.mode == "percentiles":
            b = percentile_boundaries(np.asarray(y, dtype=np.float64), self.percentiles or ())
        else:
            x = float(self.up_flat_down or 0.0)
            b = np.array([-x, x])
        self.fitted_boundaries = tuple(float(v) for v in b)
        return self

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def transform(self, y: Any) -> pd.Series:
        """Classes of ``y`` as nullable ``Int64`` (index kept for a Series)."""
        if self.fitted_boundaries is None:
            raise ConfigError("Bucketizer.transform before fit()")
        v = np.asarray(y, dtype=np.float64)
        if self.mode == "up_flat_down":
            x = float(self.up_flat_down or 0.0)
            cls = np.where(v < -x, 0.0, np.where(v > x, 2.0, 1.0))
            cls[np.isnan(v)] = np.nan
        else:
            cls = to_classes(v, self.fitted_boundaries, self.handle_boundary, self._rng())
        index = y.index if isinstance(y, pd.Series) else None
        name = y.name if isinstance(y, pd.Series) else None
        return pd.Series(pd.array(cls, dtype="Float64"), index=index, name=name).astype("Int64")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "mode": self.mode,
            "boundaries": None if self.boundaries is None else list(self.boundaries),
            "percentiles": None if self.percentiles is None else list(self.percentiles),
            "up_flat_down": self.up_flat_down,
            "handle_boundary": self.handle_boundary,
            "seed": self.seed,
            "fitted_boundaries": None
            if self.fitted_boundaries is None
            else list(self.fitted_boundaries),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Bucketizer:
        """Rebuild from :meth:`to_dict`."""
        known = {
            "mode",
            "boundaries",
            "percentiles",
            "up_flat_down",
            "handle_boundary",
            "seed",
            "fitted_boundaries",
        }
        extra = set(d) - known
        if extra:
            raise ConfigError(f"Bucketizer.from_dict: unknown keys {sorted(extra)}")
        return cls(**dict(d))
