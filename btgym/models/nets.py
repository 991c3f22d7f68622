"""Torch feed-forward models: linear, logistic and MLP (``models.md`` §3).

Window inputs ``(n, m, F)`` are flattened to ``m·F`` features for these models.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from btgym.errors import ConfigError
from btgym.models.base import register_model
from btgym.models.torchnet import TRAIN_DEFAULTS, Net, TorchModel

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}
LAYER_TOKENS = {"n": 1, "2n": 2, "4n": 4}


def resolve_layers(layers: Any, n_features: int, where: str) -> list[int]:
    """Hidden sizes: ints, or ``"n"``, ``"2n"``, ``"4n"`` (multiples of ``n_features``)."""
    if isinstance(layers, (int, str)):
        layers = [layers]
    out = []
    for item in layers:
        if isinstance(item, str) and item in LAYER_TOKENS:
            out.append(LAYER_TOKENS[item] * n_features)
        elif isinstance(item, int) and not isinstance(item, bool) and item >= 1:
            out.append(int(item))
        else:
            raise ConfigError(
                f"{where}: hidden_layers entries are ints ≥ 1 or 'n', '2n', '4n'; got {item!r}"
            )
    return out


class _Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class FeedForward(TorchModel):
    """Linear/logistic (no hidden layer) or MLP: flatten → hidden layers → head."""

    hidden_default: ClassVar[tuple] = ()

    def _validate_params(self) -> None:
        super()._validate_params()
        where = type(self).__name__
        if "hidden_layers" in self.params:
            self.params["hidden_layers"] = resolve_layers(
                self.params["hidden_layers"], self.n_features, where
            )
            if self.params.get("activation") not in ACTIVATIONS:
                raise ConfigError(
                    f"{where}: activation {self.params.get('activation')!r} is not one of "
                    f"{sorted(ACTIVATIONS)}"
                )
            d = self.params.get("dropout", 0)
            if not (isinstance(d, (int, float)) and 0 <= d < 1):
                raise ConfigError(f"{where}: dropout must be in [0, 1), got {d!r}")

    @property
    def embedding_size(self) -> int | None:
        layers = self.params.get("hidden_layers") or []
        return int(layers[-1]) if layers else None

    def _build(self) -> Net:
        size = self.n_features * self.window
        layers: list[nn.Module] = [_Flatten()]
        hidden = self.params.get("hidden_layers") or []
        act = ACTIVATIONS[self.params.get("activation", "relu")]
        for width in hidden:
            layers += [nn.Linear(size, width), act()]
            if self.params.get("dropout"):
                layers.append(nn.Dropout(float(self.params["dropout"])))
            size = width
        return Net(nn.Sequential(*layers), nn.Linear(size, self.out_dim), bool(hidden))


@register_model
class LinearRegressor(FeedForward):
    """Least squares by gradient descent (``l1``/``l2`` give lasso/ridge)."""

    task = "regression"
    defaults = {**TRAIN_DEFAULTS, "lr": 0.01, "optimizer": "adam"}


@register_model
class LogisticClassifier(FeedForward):
    """Multinomial logistic regression; ``lr=None`` → ``min(0.2, 1/√F)`` (Atlas)."""

    task = "classification"
    defaults = {**TRAIN_DEFAULTS, "lr": None, "optimizer": "adagrad"}

    def _learning_rate(self) -> float:
        lr = self.params["lr"]
        return (
            float(lr) if lr is not None else min(0.2, 1.0 / (self.n_features * self.window) ** 0.5)
        )


MLP_DEFAULTS = {**TRAIN_DEFAULTS, "hidden_layers": (64,), "activation": "relu", "dropout": 0.0}


@register_model
class MLPClassifier(FeedForward):
    """Multi-layer perceptron classifier; ``embed`` gives the last hidden layer."""

    task = "classification"
    defaults = MLP_DEFAULTS


@register_model
class MLPRegressor(FeedForward):
    """Multi-layer perceptron regressor; ``embed`` gives the last hidden layer."""

    task = "regression"
    defaults = MLP_DEFAULTS
