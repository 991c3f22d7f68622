"""The :class:`Dataset` a :meth:`FeatureLabelSet.split` returns, and ``make_windows``.

Stored as one parquet file per frame plus ``dataset.json`` (no pickle anywhere).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from btgym.errors import ConfigError
from btgym.features.transforms import Bucketizer, Scaler

SPLITS = ("train", "val", "test")
FORMAT = "btgym-dataset"
VERSION = 1


class DatasetInfo(NamedTuple):
    """Shape facts of a Dataset."""

    n_features: int
    n_classes: int | None
    class_counts: dict[str, int]
    feature_names: tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    """Leak-proof train / val / test data (build it with ``FeatureLabelSet.split``).

    ``X_*`` are time-indexed DataFrames of scaled features; ``y_*`` Series of labels
    (nullable ``Int64`` classes for classification, float64 for regression); ``*_val`` are
    ``None`` without a val range. ``y_value`` keeps the continuous label per split (for
    PnL); ``train_origin`` says ``orig`` / ``dup`` / ``synthetic`` per train row.
    Iterating gives Atlas's 5-tuple ``(X_train, y_train, X_test, y_test, scaler_dict)``.
    """

    X_train: pd.DataFrame
    y_train: pd.Series
    X_val: pd.DataFrame | None
    y_val: pd.Series | None
    X_test: pd.DataFrame
    y_test: pd.Series
    y_value: dict[str, pd.Series]
    scaler: Scaler
    bucketizer: Bucketizer | None
    task: str
    n_classes: int | None
    class_names: tuple[str, ...] | None
    feature_names: tuple[str, ...]
    label_name: str
    ranges: dict[str, tuple[str, str]]
    coverage: pd.DataFrame
    train_origin: pd.Series
    data_fingerprint: str
    featureset: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.X_train, self.y_train, self.X_test, self.y_test, self.scaler.to_dict()))

    def info(self) -> DatasetInfo:
        """Feature and class counts (class counts of the train split)."""
        counts: dict[str, int] = {}
        if self.task == "classification" and self.class_names:
            vc = self.y_train.value_counts()
            counts = {name: int(vc.get(i, 0)) for i, name in enumerate(self.class_names)}
        return DatasetInfo(len(self.feature_names), self.n_classes, counts, self.feature_names)

    def frames(self) -> dict[str, pd.DataFrame | pd.Series | None]:
        """Every frame by file stem."""
        out: dict[str, pd.DataFrame | pd.Series | None] = {}
        for s in SPLITS:
            out[f"X_{s}"] = getattr(self, f"X_{s}")
            out[f"y_{s}"] = getattr(self, f"y_{s}")
        for s, v in self.y_value.items():
            out[f"y_value_{s}"] = v
        out["train_origin"] = self.train_origin
        out["coverage"] = self.coverage
        return out

    def to_dir(self, path: str | Path) -> Path:
        """Write parquet per frame plus ``dataset.json``; returns the directory."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        stored = []
        for stem, frame in self.frames().items():
            if frame is None:
                continue
            df = frame.to_frame() if isinstance(frame, pd.Series) else frame
            df.to_parquet(root / f"{stem}.parquet")
            stored.append(stem)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "frames": stored,
            "series": [k for k, v in self.frames().items() if isinstance(v, pd.Series)],
            "scaler": self.scaler.to_dict(),
            "bucketizer": None if self.bucketizer is None else self.bucketizer.to_dict(),
            "task": self.task,
            "n_classes": self.n_classes,
            "class_names": None if self.class_names is None else list(self.class_names),
            "feature_names": list(self.feature_names),
            "label_name": self.label_name,
            "ranges": {k: list(v) for k, v in self.ranges.items()},
            "data_fingerprint": self.data_fingerprint,
            "featureset": self.featureset,
            "params": self.params,
        }
        tmp = root / "dataset.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1))
        tmp.replace(root / "dataset.json")
        return root

    @classmethod
    def from_dir(cls, path: str | Path) -> Dataset:
        """Read what :meth:`to_dir` wrote."""
        root = Path(path)
        try:
            meta = json.loads((root / "dataset.json").read_text())
        except FileNotFoundError:
            raise ConfigError(f"no dataset.json in {root}") from None
        if meta.get("format") != FORMAT:
            raise ConfigError(f"{root / 'dataset.json'} is not a {FORMAT} file")
        frames: dict[str, Any] = {}
        for stem in meta["frames"]:
            df = pd.read_parquet(root / f"{stem}.parquet")
            frames[stem] = df.iloc[:, 0] if stem in meta["series"] else df
        bucket = meta["bucketizer"]
        return cls(
            X_train=frames["X_train"],
            y_train=frames["y_train"],
            X_val=frames.get("X_val"),
            y_val=frames.get("y_val"),
            X_test=frames["X_test"],
            y_test=frames["y_test"],
            y_value={s: frames[f"y_value_{s}"] for s in SPLITS if f"y_value_{s}" in frames},
            scaler=Scaler.from_dict(meta["scaler"]),
            bucketizer=None if bucket is None else Bucketizer.from_dict(bucket),
            task=meta["task"],
            n_classes=meta["n_classes"],
            class_names=None if meta["class_names"] is None else tuple(meta["class_names"]),
            feature_names=tuple(meta["feature_names"]),
            label_name=meta["label_name"],
            ranges={k: (v[0], v[1]) for k, v in meta["ranges"].items()},
            coverage=frames["coverage"],
            train_origin=frames["train_origin"],
            data_fingerprint=meta["data_fingerprint"],
            featureset=meta["featureset"],
            params=meta["params"],
        )


def make_windows(
    X: pd.DataFrame, m: int, minutes: int | None = None
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Time-first windows ``(n, m, F)`` ending at each row, oldest row first.

    Only windows over ``m`` consecutive grid rows are built: a window that spans a
    missing (or dropped) row is skipped. The grid step is ``minutes``, else
    ``X.attrs["resolution"]``, else the smallest gap between stamps.

    Returns:
        The windows and the stamps of their last rows.
    """
    from btgym.features.base import parse_resolution

    if m < 1:
        raise ConfigError(f"make_windows: m must be ≥ 1, got {m}")
    idx = pd.DatetimeIndex(X.index)
    stamps = idx.as_unit("ns").asi8
    if minutes is None and "resolution" in X.attrs:
        minutes = parse_resolution(X.attrs["resolution"])[1]
    if minutes is None:
        gaps = np.diff(stamps)
        step = int(gaps[gaps > 0].min()) if len(gaps) else 60_000_000_000
    else:
        step = int(minutes) * 60_000_000_000
    values = X.to_numpy(dtype=np.float64)
    n, f = values.shape
    if n < m:
        return np.zeros((0, m, f)), pd.DatetimeIndex([], name=idx.name)
    ends = np.arange(m - 1, n)
    ok = stamps[ends] - stamps[ends - (m - 1)] == (m - 1) * step
    view = np.lib.stride_tricks.sliding_window_view(values, m, axis=0)  # (n−m+1, F, m)
    out = np.ascontiguousarray(view[ok].transpose(0, 2, 1))
    return out, idx[ends[ok]]
