"""The supervised-model interface, its training history and the model registry.

Every model of the zoo is a :class:`SupervisedModel`: ``fit`` on a feature matrix
(``(n, F)``, or ``(n, m, F)`` windows for window models), ``predict`` class ids or
values, ``predict_proba`` for classifiers, ``save`` to a pickle-free directory and
``load`` back (see :mod:`btgym.models.persistence`). Only classes registered with
:func:`register_model` are ever built, by :func:`build_model` or from a ``model.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from btgym.errors import (
    ConfigError,
    ModelError,
    ModelInputError,
    ModelNotFittedError,
    UnknownComponentError,
    check_keywords,
)
from btgym.log import get_logger

log = get_logger(__name__)

#: name → class of every registered model.
MODEL_REGISTRY: dict[str, type[SupervisedModel]] = {}

TASKS = ("classification", "regression")


def register_model(cls: type[SupervisedModel]) -> type[SupervisedModel]:
    """Class decorator: make ``cls`` buildable by name (its class name)."""
    if cls.task not in TASKS:
        raise ConfigError(f"model {cls.__name__}: task must be one of {TASKS}, got {cls.task!r}")
    MODEL_REGISTRY[cls.__name__] = cls
    return cls


def model_class(name: str) -> type[SupervisedModel]:
    """The registered class called ``name``.

    Raises:
        UnknownComponentError: ``name`` is not registered (the message lists close matches).
    """
    _import_zoo()
    try:
        return MODEL_REGISTRY[name]
    except KeyError:
        raise UnknownComponentError(name, MODEL_REGISTRY, "model") from None


def build_model(name: str, **params: Any) -> SupervisedModel:
    """Build the registered model ``name`` with ``params`` (constructor keywords)."""
    return model_class(name)(**params)


def _import_zoo() -> None:
    """Import the zoo modules so their classes are registered."""
    from btgym.models import baselines, ensembles, nets, sequence, sk  # noqa: F401


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """Training history: rows ``(step, split, key, value, wall_time)``.

    ``key`` is ``loss`` plus ``acc`` (classifiers) or ``mae`` (regressors); ``split``
    is ``train`` or ``val``.
    """

    rows: list[tuple[int, str, str, float, float]] = field(default_factory=list)
    callbacks: Sequence[Callable[[dict], None]] = ()

    def add(self, step: int, split: str, key: str, value: float) -> None:
        """Append a row and hand it to every callback as a dict."""
        row = (int(step), split, key, float(value), time.time())
        self.rows.append(row)
        for cb in self.callbacks:
            cb(dict(zip(("step", "split", "key", "value", "wall_time"), row)))

    def to_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame with columns ``step, split, key, value, wall_time``."""
        return pd.DataFrame(self.rows, columns=["step", "split", "key", "value", "wall_time"])

    def last(self, split: str, key: str) -> float:
        """The latest value of ``key`` on ``split`` (NaN when never recorded)."""
        for _step, s, k, v, _ in reversed(self.rows):
            if s == split and k == key:
                return v
        return float("nan")


def default_eval_every(epochs: int) -> int:
    """Atlas's cadence: about 100 evaluations per fit."""
    return max(1, int(epochs) // 100)


# --------------------------------------------------------------------------- interface


class SupervisedModel:
    """Base class of every model of the zoo (see the module doc and ``models.md`` §2).

    Subclasses declare ``task`` and ``defaults`` (hyperparameter → default) and
    implement ``_fit``, ``_predict_raw`` (class probabilities ``(n, K)`` or values
    ``(n,)``), ``_state`` / ``_set_state`` for persistence.
    """

    task: ClassVar[str] = "regression"
    defaults: ClassVar[dict[str, Any]] = {}
    #: files the persistence layer writes: "torch" (weights.pt), "numpy" (arrays.npz),
    #: "skops" (estimator.skops) or "members" (sub-directories).
    storage: ClassVar[str] = "numpy"
    #: whether window inputs ``(n, m, F)`` are consumed as sequences (m ≥ 2 required).
    sequence: ClassVar[bool] = False

    def __init__(
        self,
        *,
        n_features: int,
        n_classes: int | None = None,
        window: int = 1,
        seed: int = 0,
        device: str = "auto",
        feature_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
        **hyperparams: Any,
    ) -> None:
        where = type(self).__name__
        check_keywords(hyperparams, self.defaults, where)
        if not (isinstance(n_features, (int, np.integer)) and n_features >= 1):
            raise ConfigError(f"{where}: n_features must be an int ≥ 1, got {n_features!r}")
        if not (isinstance(window, (int, np.integer)) and window >= 1):
            raise ConfigError(f"{where}: window must be an int ≥ 1, got {window!r}")
        if self.sequence and window < 2:
            raise ConfigError(f"{where}: a recurrent model needs window ≥ 2, got {window}")
        if self.task == "classification":
            if n_classes is not None and not (
                isinstance(n_classes, (int, np.integer)) and n_classes >= 2
            ):
                raise ConfigError(f"{where}: n_classes must be an int ≥ 2, got {n_classes!r}")
        elif n_classes not in (None, 1):
            raise ConfigError(f"{where}: a regressor takes no n_classes (got {n_classes!r})")
        self.n_features = int(n_features)
        self.n_classes = int(n_classes) if n_classes and self.task == "classification" else None
        self.window = int(window)
        self.seed = int(seed)
        self.device_request = str(device)
        self.params: dict[str, Any] = {**self.defaults, **hyperparams}
        if feature_names is not None:
            feature_names = tuple(str(c) for c in feature_names)
            if len(feature_names) != self.n_features:
                raise ConfigError(
                    f"{where}: {len(feature_names)} feature_names for n_features={self.n_features}"
                )
        self.feature_names: tuple[str, ...] = feature_names or tuple(
            f"f{i}" for i in range(self.n_features)
        )
        self._names_given = feature_names is not None
        self.class_names: tuple[str, ...] | None = (
            tuple(str(c) for c in class_names) if class_names is not None else None
        )
        self.is_fitted = False
        self._validate_params()

    # ------------------------------------------------------------------ hooks

    def _validate_params(self) -> None:
        """Check hyperparameters (subclasses)."""

    def _fit(self, X: np.ndarray, y: np.ndarray, X_val, y_val, epochs, history: History) -> None:
        raise NotImplementedError

    def _predict_raw(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _embed(self, X: np.ndarray) -> np.ndarray:
        raise ModelError(f"{type(self).__name__} has no hidden layer to embed")

    def _state(self) -> dict[str, np.ndarray]:
        """Fitted arrays (persistence)."""
        raise NotImplementedError

    def _set_state(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    @property
    def n_parameters(self) -> int:
        """Number of fitted scalar parameters (0 before ``fit`` for lazily built models)."""
        if not self.is_fitted:
            return 0
        return int(sum(np.asarray(v).size for v in self._state().values()))

    # ------------------------------------------------------------------ input checks

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(F,)`` or ``(m, F)``."""
        return (self.n_features,) if self.window == 1 else (self.window, self.n_features)

    def check_X(self, X: Any, where: str = "X", *, fitting: bool = False) -> np.ndarray:
        """Validate and convert ``X`` to a float64 array of shape ``(n, *input_shape)``.

        Raises:
            ModelInputError: wrong shape or columns, non-numeric, NaN or inf.
        """
        cls = type(self).__name__
        if isinstance(X, pd.DataFrame):
            if self.window != 1:
                raise ModelInputError(
                    f"{cls}.{where}: a window model (window={self.window}) takes an (n, m, F) "
                    "array (features.make_windows), not a DataFrame"
                )
            cols = tuple(str(c) for c in X.columns)
            if fitting and not self._names_given and len(cols) == self.n_features:
                self.feature_names = cols
                self._names_given = True
            elif self._names_given and cols != self.feature_names:
                if set(cols) == set(self.feature_names):
                    raise ModelInputError(
                        f"{cls}.{where}: columns are in a different order than at fit time; "
                        f"expected {list(self.feature_names)}, got {list(cols)}"
                    )
                missing = [c for c in self.feature_names if c not in cols]
                extra = [c for c in cols if c not in self.feature_names]
                raise ModelInputError(
                    f"{cls}.{where}: columns do not match the fit-time features "
                    f"(missing {missing}, unexpected {extra})"
                )
            index = X.index
            try:
                arr = X.to_numpy(dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ModelInputError(f"{cls}.{where}: non-numeric column: {exc}") from exc
        else:
            index = None
            try:
                arr = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ModelInputError(f"{cls}.{where}: not a numeric array: {exc}") from exc
        if arr.ndim < 1 or arr.shape[1:] != self.input_shape:
            raise ModelInputError(
                f"{cls}.{where}: expected shape (n, {', '.join(map(str, self.input_shape))}), "
                f"got {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ModelInputError(f"{cls}.{where}: no rows")
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            col = int(np.argwhere(bad)[0][-1])
            at = index[row] if index is not None else row
            raise ModelInputError(
                f"{cls}.{where}: non-finite value (NaN/inf) at row {at!s}, "
                f"feature {self.feature_names[col]!r}"
            )
        return arr

    def check_y(self, y: Any, n: int, where: str = "y") -> np.ndarray:
        """Validate ``y`` against ``n`` rows: class ids ``0 … K−1`` or finite values."""
        cls = type(self).__name__
        if isinstance(y, (pd.Series, pd.DataFrame)):
            y = y.to_numpy()
        arr = np.asarray(y)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1 or len(arr) != n:
            raise ModelInputError(f"{cls}.{where}: expected shape ({n},), got {arr.shape}")
        if arr.dtype == object:
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ModelInputError(f"{cls}.{where}: not numeric ({exc})") from exc
        arr = arr.astype(np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ModelInputError(f"{cls}.{where}: NaN/inf label at row {int(np.argmax(bad))}")
        if self.task == "regression":
            return arr
        if (arr != np.round(arr)).any() or (arr < 0).any():
            row = int(np.argmax((arr != np.round(arr)) | (arr < 0)))
            raise ModelInputError(
                f"{cls}.{where}: class ids must be ints ≥ 0; row {row} holds {arr[row]!r}"
            )
        ids = arr.astype(np.int64)
        if self.n_classes is not None and (ids >= self.n_classes).any():
            row = int(np.argmax(ids >= self.n_classes))
            raise ModelInputError(
                f"{cls}.{where}: class id {ids[row]} at row {row} is out of range "
                f"0 … {self.n_classes - 1}"
            )
        return ids

    def _require_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise ModelNotFittedError(f"{type(self).__name__}.{what}() called before fit()")

    # ------------------------------------------------------------------ public API

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        X_val: Any = None,
        y_val: Any = None,
        epochs: int | None = None,
        callbacks: Sequence[Callable[[dict], None]] = (),
    ) -> History:
        """Fit on ``(X, y)``; evaluate on ``(X_val, y_val)`` when given.

        Returns:
            The :class:`History` of losses and ``acc`` / ``mae``.
        """
        Xa = self.check_X(X, "fit(X)", fitting=True)
        if self.task == "classification" and self.n_classes is None:
            ids = self.check_y(y, len(Xa), "fit(y)")
            self.n_classes = max(2, int(ids.max()) + 1)
        ya = self.check_y(y, len(Xa), "fit(y)")
        if (X_val is None) != (y_val is None):
            raise ModelInputError(
                f"{type(self).__name__}.fit: give both X_val and y_val, or neither"
            )
        Xv = yv = None
        if X_val is not None:
            Xv = self.check_X(X_val, "fit(X_val)")
            yv = self.check_y(y_val, len(Xv), "fit(y_val)")
        if epochs is not None and not (isinstance(epochs, (int, np.integer)) and epochs >= 1):
            raise ConfigError(
                f"{type(self).__name__}.fit: epochs must be an int ≥ 1, got {epochs!r}"
            )
        if self.class_names is None and self.n_classes:
            self.class_names = tuple(str(k) for k in range(self.n_classes))
        history = History(callbacks=tuple(callbacks))
        self._fit(Xa, ya, Xv, yv, epochs, history)
        self.is_fitted = True
        return history

    def predict(self, X: Any) -> np.ndarray:
        """Class ids ``(n,)`` int64 (classifiers) or values ``(n,)`` float64."""
        self._require_fitted("predict")
        out = self._predict_raw(self.check_X(X, "predict(X)"))
        if self.task == "classification":
            return np.argmax(out, axis=1).astype(np.int64)
        return np.asarray(out, np.float64).reshape(-1)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, K)`` float64, rows summing to 1 (classifiers only)."""
        if self.task != "classification":
            raise ModelError(f"{type(self).__name__} is a regressor: it has no predict_proba")
        self._require_fitted("predict_proba")
        p = np.asarray(self._predict_raw(self.check_X(X, "predict_proba(X)")), np.float64)
        p = np.clip(p, 0.0, None)
        return p / p.sum(axis=1, keepdims=True)

    def embed(self, X: Any) -> np.ndarray:
        """The last hidden layer ``(n, H)`` float64 (torch nets with hidden layers)."""
        self._require_fitted("embed")
        return np.asarray(self._embed(self.check_X(X, "embed(X)")), np.float64)

    @property
    def embedding_size(self) -> int | None:
        """``H`` of :meth:`embed`, or ``None`` for models without hidden layers."""
        return None

    def get_config(self) -> dict[str, Any]:
        """``{"class", "params"}``, JSON-able; ``build_model(**params)`` rebuilds it unfitted."""
        params = {
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "window": self.window,
            "seed": self.seed,
            "device": self.device_request,
            **_jsonable(self.params),
        }
        if self._names_given:
            params["feature_names"] = list(self.feature_names)
        if self.class_names is not None:
            params["class_names"] = list(self.class_names)
        return {"class": type(self).__name__, "params": params}

    def save(self, path: str | Path, *, dataset: Any = None) -> Path:
        """Write the fitted model to directory ``path`` (atomic; see persistence)."""
        from btgym.models.persistence import save_model

        return save_model(self, path, dataset=dataset)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> SupervisedModel:
        """Read a model saved by :meth:`save` (checks its class is ``cls`` or a subclass)."""
        from btgym.models.persistence import load_model

        model = load_model(path, device=device)
        if not isinstance(model, cls):
            raise ModelError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    def __repr__(self) -> str:
        fitted = "fitted" if self.is_fitted else "unfitted"
        return (
            f"{type(self).__name__}(n_features={self.n_features}, window={self.window}, {fitted})"
        )


def _jsonable(value: Any) -> Any:
    """Tuples → lists, numpy scalars → Python numbers, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
