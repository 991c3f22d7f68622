"""Ensembles of classifiers (``models.md`` §3); members are saved as sub-directories.

- :class:`MaxConfidenceEnsemble`: per row, the member whose top probability is the
  highest decides (class and probabilities).
- :class:`MajorityVoteEnsemble`: (weighted) votes of the members' classes; ties go to
  the lowest class id; the vote shares are ``predict_proba``.
- :class:`MeanProbaEnsemble`: (weighted) mean of the members' probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from btgym.errors import ConfigError
from btgym.models.base import History, SupervisedModel, build_model, register_model


def _coerce_member(m: Any, where: str) -> SupervisedModel:
    if isinstance(m, SupervisedModel):
        return m
    if isinstance(m, Mapping) and "class" in m:
        return build_model(m["class"], **dict(m.get("params", {})))
    raise ConfigError(f"{where}: a member must be a model or {{'class', 'params'}}, got {m!r}")


class Ensemble(SupervisedModel):
    """Base of the classifier ensembles: ``members`` and optional ``weights``."""

    task = "classification"
    storage = "members"
    defaults = {"members": (), "weights": None}

    def __init__(
        self,
        *,
        members: Sequence[Any],
        weights: Sequence[float] | None = None,
        n_features: int | None = None,
        n_classes: int | None = None,
        window: int | None = None,
        **kwargs: Any,
    ) -> None:
        where = type(self).__name__
        built = [_coerce_member(m, where) for m in members]
        if not built:
            raise ConfigError(f"{where}: needs at least one member")
        for m in built:
            if m.task != "classification":
                raise ConfigError(f"{where}: member {type(m).__name__} is not a classifier")
        first = built[0]
        for m in built[1:]:
            if (m.n_features, m.window) != (first.n_features, first.window):
                raise ConfigError(f"{where}: members differ in n_features/window")
        if weights is not None:
            weights = [float(w) for w in weights]
            if len(weights) != len(built) or min(weights) < 0 or sum(weights) <= 0:
                raise ConfigError(
                    f"{where}: weights must be {len(built)} numbers ≥ 0 with a positive sum"
                )
        self.members = built
        ks = {m.n_classes for m in built if m.n_classes is not None}
        if n_classes is None and len(ks) == 1:
            n_classes = ks.pop()
        super().__init__(
            n_features=n_features or first.n_features,
            n_classes=n_classes,
            window=window or first.window,
            **kwargs,
        )
        self.params = {"weights": weights}
        self.is_fitted = all(m.is_fitted for m in built)
        if self.is_fitted and len({m.n_classes for m in built}) != 1:
            raise ConfigError(f"{where}: fitted members differ in n_classes")

    @property
    def weights(self) -> np.ndarray:
        w = self.params["weights"]
        return np.ones(len(self.members)) if w is None else np.asarray(w, np.float64)

    def _fit(self, X, y, X_val, y_val, epochs, history: History) -> None:
        for m in self.members:
            if m.n_classes is None:
                m.n_classes = self.n_classes
            m.fit(X, y, X_val=X_val, y_val=y_val, epochs=epochs)
        self.is_fitted = True
        for split, Xs, ys in (("train", X, y), ("val", X_val, y_val)):
            if Xs is None:
                continue
            out = self._predict_raw(Xs)
            p = np.clip(out[np.arange(len(ys)), ys], 1e-15, 1.0)
            history.add(1, split, "loss", float(-np.log(p).mean()))
            history.add(1, split, "acc", float((out.argmax(1) == ys).mean()))

    def _probas(self, X: np.ndarray) -> np.ndarray:
        """Members' probabilities ``(M, n, K)``."""
        return np.stack([m.predict_proba(X) for m in self.members])

    @property
    def n_parameters(self) -> int:
        return int(sum(m.n_parameters for m in self.members))

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg["params"]["members"] = [m.get_config() for m in self.members]
        return cfg


@register_model
class MaxConfidenceEnsemble(Ensemble):
    """The most confident member decides each row."""

    def _predict_raw(self, X):
        P = self._probas(X)
        conf = P.max(axis=2) * self.weights[:, None]
        pick = np.argmax(conf, axis=0)
        return P[pick, np.arange(P.shape[1])]


@register_model
class MajorityVoteEnsemble(Ensemble):
    """Weighted majority vote; ties go to the lowest class id; vote shares as proba."""

    def _predict_raw(self, X):
        P = self._probas(X)
        votes = np.zeros(P.shape[1:])
        rows = np.arange(P.shape[1])
        for w, p in zip(self.weights, P):
            votes[rows, p.argmax(axis=1)] += w
        return votes / votes.sum(axis=1, keepdims=True)


@register_model
class MeanProbaEnsemble(Ensemble):
    """Weighted mean of the members' probabilities."""

    def _predict_raw(self, X):
        P = self._probas(X)
        w = self.weights / self.weights.sum()
        return np.tensordot(w, P, axes=1)
