"""Observation encoders: one per observation entry, chosen by the entry's shape.

- a time window ``(T, F...)`` with ``T >= 4`` goes through a 1-D convolution over
  time (:class:`WindowEncoder`), each feature being a channel;
- anything else is flattened into an MLP (:class:`VectorEncoder`).

:class:`DictEncoder` runs one encoder per key and concatenates their outputs.

Inputs are scaled inside the model so raw market values work out of the box:
windows are standardised per feature over time (a price window keeps its shape,
not its level; a z-score over T samples is bounded by sqrt(T - 1), so nothing
explodes), vectors go through ``asinh(x)`` (linear near 0, logarithmic beyond: a
broker value of 1e4 and a position of 0.1 both land in a usable range). Both can be
switched off.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import gymnasium as gym
import torch
from torch import nn

MIN_WINDOW = 4


def _mlp(sizes: Sequence[int], act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers)


class WindowEncoder(nn.Module):
    """1-D convolution over the time axis of a ``(T, F...)`` window.

    Args:
        shape: the entry's shape; axis 0 is time, the rest are flattened into channels.
        channels: output channels of each conv layer.
        kernel: kernel size; stride: stride of every conv layer.
        out_dim: size of the embedding.
        normalize: standardise each feature over the window before the convolution.
    """

    def __init__(
        self,
        shape: Sequence[int],
        channels: Sequence[int] = (32, 32),
        kernel: int = 3,
        stride: int = 2,
        out_dim: int = 64,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.time = int(shape[0])
        self.features = int(math.prod(shape[1:])) if len(shape) > 1 else 1
        self.normalize = normalize
        convs: list[nn.Module] = []
        c_in, length = self.features, self.time
        for c_out in channels:
            k = min(kernel, length)
            convs += [nn.Conv1d(c_in, c_out, k, stride=stride if length > k else 1), nn.ReLU()]
            length = (length - k) // (stride if length > k else 1) + 1
            c_in = c_out
        self.conv = nn.Sequential(*convs)
        self.head = nn.Sequential(nn.Linear(c_in * length, out_dim), nn.ReLU())
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], self.time, self.features).float()
        if self.normalize:
            mean = x.mean(dim=1, keepdim=True)
            std = x.std(dim=1, keepdim=True, unbiased=False)
            x = (x - mean) / (std + 1e-8)
        y = self.conv(x.transpose(1, 2))
        return self.head(y.flatten(1))


class VectorEncoder(nn.Module):
    """MLP over a flattened entry.

    Args:
        size: number of input values.
        hidden: hidden layer sizes; out_dim: embedding size.
        normalize: apply ``asinh(x)`` to the inputs.
    """

    def __init__(
        self, size: int, hidden: Sequence[int] = (64,), out_dim: int = 64, normalize: bool = True
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.net = _mlp([size, *hidden, out_dim])
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1).float()
        if self.normalize:
            x = torch.asinh(x)
        return self.net(x)


def make_encoder(
    space: gym.spaces.Box,
    *,
    channels: Sequence[int] = (32, 32),
    kernel: int = 3,
    stride: int = 2,
    hidden: Sequence[int] = (64,),
    out_dim: int = 64,
    normalize: bool = True,
) -> nn.Module:
    """Pick the encoder for one Box entry by its shape (see module docstring)."""
    shape = tuple(space.shape)
    if len(shape) >= 2 and shape[0] >= MIN_WINDOW:
        return WindowEncoder(shape, channels, kernel, stride, out_dim, normalize)
    return VectorEncoder(max(1, math.prod(shape)), hidden, out_dim, normalize)


class DictEncoder(nn.Module):
    """One encoder per observation key; outputs concatenated in key order.

    Args:
        spaces: key -> Box of the entries to encode (key ``""`` for a plain Box space).
        **kwargs: passed to :func:`make_encoder`.
    """

    def __init__(self, spaces: Mapping[str, gym.spaces.Box], **kwargs) -> None:
        super().__init__()
        self.keys = tuple(spaces)
        self.encoders = nn.ModuleList(make_encoder(spaces[k], **kwargs) for k in self.keys)
        self.out_dim = sum(e.out_dim for e in self.encoders)

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([enc(obs[k]) for k, enc in zip(self.keys, self.encoders)], dim=-1)
