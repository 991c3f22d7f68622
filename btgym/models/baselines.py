"""Closed-form numpy baselines (``models.md`` §3); saved as ``arrays.npz``.

They ignore ``epochs``; window inputs are flattened to ``m·F`` features.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from btgym.errors import CheckpointError
from btgym.models.base import History, SupervisedModel, register_model


class NumpyModel(SupervisedModel):
    """A model whose fitted state is a few numpy arrays."""

    storage = "numpy"
    state_keys: tuple[str, ...] = ()

    def _flat(self, X: np.ndarray) -> np.ndarray:
        return X.reshape(len(X), -1)

    def _record(self, X, y, X_val, y_val, history: History) -> None:
        """One history row per split at step 1 (the fit is closed-form)."""
        for split, Xs, ys in (("train", X, y), ("val", X_val, y_val)):
            if Xs is None:
                continue
            out = self._predict_raw(Xs)
            if self.task == "classification":
                p = np.clip(out[np.arange(len(ys)), ys], 1e-15, 1.0)
                history.add(1, split, "loss", float(-np.log(p).mean()))
                history.add(1, split, "acc", float((out.argmax(1) == ys).mean()))
            else:
                history.add(1, split, "loss", float(np.mean((out - ys) ** 2)))
                history.add(1, split, "mae", float(np.mean(np.abs(out - ys))))

    def _fit(self, X, y, X_val, y_val, epochs, history: History) -> None:
        self._fit_arrays(self._flat(X), y)
        self.is_fitted = True
        self._record(X, y, X_val, y_val, history)

    def _fit_arrays(self, X: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _state(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(getattr(self, k), np.float64) for k in self.state_keys}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        missing = [k for k in self.state_keys if k not in state]
        if missing:
            raise CheckpointError(f"{type(self).__name__}: arrays.npz lacks {missing}")
        for k in self.state_keys:
            setattr(self, k, np.asarray(state[k], np.float64))
        self.is_fitted = True


@register_model
class OLSBaseline(NumpyModel):
    """Ordinary least squares with an intercept (``numpy.linalg.lstsq``)."""

    task = "regression"
    state_keys = ("coef_", "intercept_")

    def _fit_arrays(self, X, y) -> None:
        A = np.hstack([X, np.ones((len(X), 1))])
        sol, *_ = np.linalg.lstsq(A, y, rcond=None)
        self.coef_, self.intercept_ = sol[:-1], np.asarray(sol[-1])

    def _predict_raw(self, X):
        return self._flat(X) @ self.coef_ + float(self.intercept_)


@register_model
class ZeroChangeBaseline(NumpyModel):
    """Predicts 0 (no change) for every row."""

    task = "regression"

    def _fit_arrays(self, X, y) -> None:
        pass

    def _predict_raw(self, X):
        return np.zeros(len(X))


@register_model
class MeanBaseline(NumpyModel):
    """Predicts the train mean of the label."""

    task = "regression"
    state_keys = ("mean_",)

    def _fit_arrays(self, X, y) -> None:
        self.mean_ = np.asarray(float(np.mean(y)))

    def _predict_raw(self, X):
        return np.full(len(X), float(self.mean_))


@register_model
class PriorBaseline(NumpyModel):
    """Predicts the train class shares as probabilities (argmax: the majority class)."""

    task = "classification"
    state_keys = ("priors_",)

    def _fit_arrays(self, X, y) -> None:
        counts = np.bincount(y, minlength=self.n_classes).astype(np.float64)
        self.priors_ = counts / counts.sum()

    def _predict_raw(self, X):
        return np.tile(self.priors_, (len(X), 1))


@register_model
class MajorityClassBaseline(PriorBaseline):
    """One-hot of the most frequent train class (ties: the lowest class id)."""

    def _predict_raw(self, X):
        p = np.zeros((len(X), len(self.priors_)))
        p[:, int(np.argmax(self.priors_))] = 1.0
        return p
