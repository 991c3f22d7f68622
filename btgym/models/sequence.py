"""Recurrent models (GRU, LSTM) over time-first windows ``(n, m, F)``, m ≥ 2.

The head reads the last step's hidden state of the top layer, which is also what
``embed`` returns.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from btgym.errors import ConfigError
from btgym.models.base import register_model
from btgym.models.torchnet import TRAIN_DEFAULTS, Net, TorchModel

SEQ_DEFAULTS = {**TRAIN_DEFAULTS, "hidden": 32, "layers": 1, "dropout": 0.0, "lr": 1e-3}


class _LastStep(nn.Module):
    """Run an RNN over ``(n, m, F)`` and return the last step's output ``(n, H)``."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        out, _ = self.rnn(x)
        return out[:, -1, :]


class Recurrent(TorchModel):
    """GRU/LSTM body and a linear head."""

    sequence: ClassVar[bool] = True
    cell: ClassVar[type[nn.Module]] = nn.GRU

    def _validate_params(self) -> None:
        super()._validate_params()
        where = type(self).__name__
        for name in ("hidden", "layers"):
            v = self.params[name]
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise ConfigError(f"{where}: {name} must be an int ≥ 1, got {v!r}")
        d = self.params["dropout"]
        if not (isinstance(d, (int, float)) and 0 <= d < 1):
            raise ConfigError(f"{where}: dropout must be in [0, 1), got {d!r}")

    @property
    def embedding_size(self) -> int:
        return int(self.params["hidden"])

    def _build(self) -> Net:
        p = self.params
        rnn = self.cell(
            input_size=self.n_features,
            hidden_size=int(p["hidden"]),
            num_layers=int(p["layers"]),
            batch_first=True,
            dropout=float(p["dropout"]) if p["layers"] > 1 else 0.0,
        )
        return Net(_LastStep(rnn), nn.Linear(int(p["hidden"]), self.out_dim), True)


@register_model
class GRUClassifier(Recurrent):
    """GRU classifier over windows."""

    task = "classification"
    defaults = SEQ_DEFAULTS
    cell = nn.GRU


@register_model
class GRURegressor(Recurrent):
    """GRU regressor over windows."""

    task = "regression"
    defaults = SEQ_DEFAULTS
    cell = nn.GRU


@register_model
class LSTMClassifier(Recurrent):
    """LSTM classifier over windows."""

    task = "classification"
    defaults = SEQ_DEFAULTS
    cell = nn.LSTM


@register_model
class LSTMRegressor(Recurrent):
    """LSTM regressor over windows."""

    task = "regression"
    defaults = SEQ_DEFAULTS
    cell = nn.LSTM
