"""Supervised model zoo, Atlas statistics and cards, and observation encoders.

See ``docs/models.md``. Models: :func:`build_model`, :func:`load_model` and the
classes of :data:`MODEL_REGISTRY`; results: :func:`evaluate` → :class:`ModelResult`;
statistics in :mod:`btgym.models.stats`; figures in :mod:`btgym.models.plots`;
observation encoders :class:`FeatureEncoder`, :class:`ModelEncoder`.
"""

from __future__ import annotations

from typing import Any

from btgym.models.base import (
    MODEL_REGISTRY,
    History,
    SupervisedModel,
    build_model,
    model_class,
    register_model,
)
from btgym.models.baselines import (
    MajorityClassBaseline,
    MeanBaseline,
    OLSBaseline,
    PriorBaseline,
    ZeroChangeBaseline,
)
from btgym.models.ensembles import MajorityVoteEnsemble, MaxConfidenceEnsemble, MeanProbaEnsemble
from btgym.models.nets import LinearRegressor, LogisticClassifier, MLPClassifier, MLPRegressor
from btgym.models.persistence import load_model, save_model
from btgym.models.sequence import GRUClassifier, GRURegressor, LSTMClassifier, LSTMRegressor
from btgym.models.sk import (
    SKGradientBoostingClassifier,
    SKGradientBoostingRegressor,
    SKLogisticRegression,
)

_LAZY = {
    "evaluate": "btgym.models.results",
    "ModelResult": "btgym.models.results",
    "predictions_frame": "btgym.models.results",
    "FeatureEncoder": "btgym.models.encoders",
    "ModelEncoder": "btgym.models.encoders",
    "encoder_from_dict": "btgym.models.encoders",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'btgym.models' has no attribute {name!r}")


__all__ = [
    "MODEL_REGISTRY",
    "History",
    "SupervisedModel",
    "build_model",
    "model_class",
    "register_model",
    "load_model",
    "save_model",
    "LinearRegressor",
    "LogisticClassifier",
    "MLPClassifier",
    "MLPRegressor",
    "GRUClassifier",
    "GRURegressor",
    "LSTMClassifier",
    "LSTMRegressor",
    "OLSBaseline",
    "ZeroChangeBaseline",
    "MeanBaseline",
    "MajorityClassBaseline",
    "PriorBaseline",
    "SKLogisticRegression",
    "SKGradientBoostingClassifier",
    "SKGradientBoostingRegressor",
    "MaxConfidenceEnsemble",
    "MajorityVoteEnsemble",
    "MeanProbaEnsemble",
    *_LAZY,
]
