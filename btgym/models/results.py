"""Model results: the time-indexed predictions frame and :func:`evaluate` (``models.md`` §5).

The predictions frame is shared with ``experiments``: index ``timestamp`` (bar open
stamps), columns ``split`` (``train | val | test``), ``y_true``, ``y_pred``,
``proba_0 … proba_{K−1}`` (classifiers), ``y_value`` (the continuous label, for PnL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from btgym.errors import ModelInputError
from btgym.models.base import SupervisedModel
from btgym.models.stats import summary_metrics

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ModelResult:
    """A model's predictions on a dataset's splits and their summary metrics."""

    name: str
    task: str
    n_classes: int | None
    class_names: tuple[str, ...] | None
    predictions: pd.DataFrame
    summary: dict[str, dict[str, float]]
    spec_info: dict[str, Any] = field(default_factory=dict)

    def split(self, split: str) -> pd.DataFrame:
        """The predictions of one split."""
        return self.predictions[self.predictions["split"] == split]


def predictions_frame(
    model: SupervisedModel, X: Any, y: Any, *, split: str, y_value: Any = None, index: Any = None
) -> pd.DataFrame:
    """Predict ``X`` and build the predictions frame of one split.

    ``index`` defaults to ``X.index`` (a DataFrame) or ``y.index`` (a Series).
    """
    if index is None:
        index = getattr(X, "index", None)
        if index is None:
            index = getattr(y, "index", None)
    if index is None:
        raise ModelInputError("predictions_frame: needs a time index (DataFrame X or index=)")
    index = pd.DatetimeIndex(index, name="timestamp")
    y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    cols: dict[str, Any] = {"split": np.full(len(index), split, dtype=object)}
    if model.task == "classification":
        proba = model.predict_proba(X)
        cols["y_true"] = y_arr.astype(np.int64)
        cols["y_pred"] = np.argmax(proba, axis=1).astype(np.int64)
        for k in range(proba.shape[1]):
            cols[f"proba_{k}"] = proba[:, k]
    else:
        cols["y_true"] = y_arr.astype(np.float64)
        cols["y_pred"] = model.predict(X)
    if y_value is None:
        cols["y_value"] = (
            cols["y_true"].astype(np.float64) if model.task == "regression" else np.nan
        )
    else:
        v = y_value.reindex(index) if isinstance(y_value, pd.Series) else y_value
        cols["y_value"] = np.asarray(v, np.float64)
    return pd.DataFrame(cols, index=index)


def _horizon(dataset: Any) -> int:
    params = getattr(dataset, "params", None) or {}
    if params.get("horizon"):
        return int(params["horizon"])
    label = getattr(dataset, "label_name", None)
    if label:
        try:
            from btgym.features import Feature

            return int(Feature.parse(label).horizon) or 1
        except Exception:
            return 1
    return 1


def evaluate(
    model: SupervisedModel,
    dataset: Any,
    splits: Sequence[str] = SPLITS,
    *,
    name: str | None = None,
    cost: float = 0.0,
) -> ModelResult:
    """Predict every split of ``dataset`` and summarise it.

    Window models get ``features.make_windows`` windows of each split (rows whose
    window spans a missing grid row are left out). Train rows made by rebalancing
    (``train_origin`` ≠ ``"orig"``) are left out: time statistics use real rows only.

    Returns:
        :class:`ModelResult` with the predictions frame and ``summary[split]``.
    """
    frames = []
    for split in splits:
        X = getattr(dataset, f"X_{split}", None)
        y = getattr(dataset, f"y_{split}", None)
        if X is None or y is None or not len(X):
            continue
        if split == "train" and getattr(dataset, "train_origin", None) is not None:
            origin = np.asarray(dataset.train_origin)
            if len(origin) == len(X):
                X, y = X[origin == "orig"], y[origin == "orig"]
        values = (getattr(dataset, "y_value", None) or {}).get(split)
        if model.window > 1:
            from btgym.features import make_windows

            W, idx = make_windows(X, model.window)
            y = y.reindex(idx)
            frames.append(predictions_frame(model, W, y, split=split, y_value=values, index=idx))
        else:
            frames.append(predictions_frame(model, X, y, split=split, y_value=values))
    if not frames:
        raise ModelInputError(f"evaluate: the dataset has none of the splits {list(splits)}")
    pred = pd.concat(frames)
    pred.index.name = "timestamp"
    horizon = _horizon(dataset)
    summary = {
        s: summary_metrics(
            pred[pred["split"] == s], model.task, model.n_classes, horizon=horizon, cost=cost
        )
        for s in pred["split"].unique()
    }
    class_names = getattr(dataset, "class_names", None) or model.class_names
    info = {
        "horizon": horizon,
        "label": getattr(dataset, "label_name", None),
        "model": model.get_config(),
        "data_fingerprint": getattr(dataset, "data_fingerprint", None),
        "cost": cost,
    }
    return ModelResult(
        name=name or type(model).__name__,
        task=model.task,
        n_classes=model.n_classes,
        class_names=tuple(class_names) if class_names is not None else None,
        predictions=pred,
        summary=summary,
        spec_info=info,
    )
