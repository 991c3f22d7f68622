"""scikit-learn adapters (extra ``btgym[sklearn]`` = scikit-learn + skops).

The estimators are saved with skops (``estimator.skops``) and loaded with an explicit
allow-list of types (:data:`SKOPS_ALLOWED`): a file naming any other type is refused,
so loading never runs code a file chooses. Window inputs are flattened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from btgym.errors import ConfigError
from btgym.models.base import History, SupervisedModel, register_model

#: types an ``estimator.skops`` file may contain, beyond skops' own defaults.
SKOPS_ALLOWED = (
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "numpy.dtype",
    "builtins.getattr",
    "collections.OrderedDict",
)


def require_sklearn() -> None:
    """Import scikit-learn and skops or raise ``MissingExtraError`` naming the extra."""
    from btgym.errors import MissingExtraError

    for module, package in (("sklearn", "scikit-learn"), ("skops", "skops")):
        try:
            __import__(module)
        except ImportError as exc:
            raise MissingExtraError(package, "sklearn", "the scikit-learn models") from exc


def _one_thread():
    """OpenMP/BLAS pools limited to one thread: these small fits gain nothing from threads,
    and on a loaded machine the pools spin (a 15-iteration boosting fit took 8 s)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


class SKModel(SupervisedModel):
    """A scikit-learn estimator behind the :class:`SupervisedModel` interface."""

    storage = "skops"

    def __init__(self, **kwargs: Any) -> None:
        require_sklearn()
        super().__init__(**kwargs)
        self.estimator = None

    def _make(self):
        raise NotImplementedError

    def _flat(self, X: np.ndarray) -> np.ndarray:
        return X.reshape(len(X), -1)

    def _fit(self, X, y, X_val, y_val, epochs, history: History) -> None:
        self.estimator = self._make()
        with _one_thread():
            self.estimator.fit(self._flat(X), y)
        self.is_fitted = True
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

    def _predict_raw(self, X):
        X = self._flat(X)
        with _one_thread():
            if self.task == "regression":
                return np.asarray(self.estimator.predict(X), np.float64)
            p = np.asarray(self.estimator.predict_proba(X), np.float64)
        out = np.zeros((len(X), self.n_classes))
        out[:, np.asarray(self.estimator.classes_, np.int64)] = p  # classes absent in train: 0
        return out

    @property
    def n_parameters(self) -> int:
        if self.estimator is None:
            return 0
        est = self.estimator
        if hasattr(est, "coef_"):
            return int(est.coef_.size + np.size(est.intercept_))
        return int(sum(p.nodes.size for preds in getattr(est, "_predictors", []) for p in preds))

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self.estimator = state["estimator"]
        self.is_fitted = True


@register_model
class SKLogisticRegression(SKModel):
    """``sklearn.linear_model.LogisticRegression``."""

    task = "classification"
    defaults = {"C": 1.0, "max_iter": 1000}

    def _validate_params(self) -> None:
        if not self.params["C"] > 0:
            raise ConfigError(f"SKLogisticRegression: C must be > 0, got {self.params['C']!r}")

    def _make(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(
            C=float(self.params["C"]), max_iter=int(self.params["max_iter"]), random_state=self.seed
        )


GB_DEFAULTS = {"max_iter": 200, "learning_rate": 0.1, "max_depth": None}


@register_model
class SKGradientBoostingClassifier(SKModel):
    """``HistGradientBoostingClassifier`` (``random_state=seed``)."""

    task = "classification"
    defaults = GB_DEFAULTS

    def _make(self):
        from sklearn.ensemble import HistGradientBoostingClassifier

        p = self.params
        return HistGradientBoostingClassifier(
            max_iter=int(p["max_iter"]),
            learning_rate=float(p["learning_rate"]),
            max_depth=p["max_depth"],
            random_state=self.seed,
        )


@register_model
class SKGradientBoostingRegressor(SKModel):
    """``HistGradientBoostingRegressor`` (``random_state=seed``)."""

    task = "regression"
    defaults = GB_DEFAULTS

    def _make(self):
        from sklearn.ensemble import HistGradientBoostingRegressor

        p = self.params
        return HistGradientBoostingRegressor(
            max_iter=int(p["max_iter"]),
            learning_rate=float(p["learning_rate"]),
            max_depth=p["max_depth"],
            random_state=self.seed,
        )
