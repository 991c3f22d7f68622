"""``DictSpace``: a one-level gymnasium ``Dict`` with a ``shape`` mapping, as in BTGym."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from btgym.errors import ConfigError


class DictSpace(spaces.Dict):
    """A gymnasium ``Dict`` of simple spaces, one level deep.

    BTGym's ``DictSpace`` added a ``.shape`` attribute; here :attr:`shapes` maps each
    key to its sub-space's shape (``gymnasium.spaces.Dict.shape`` stays ``None`` so
    gymnasium and Stable-Baselines3 utilities keep working). Nested ``Dict`` spaces are
    refused: SB3's ``MultiInputPolicy`` takes one level only.

    Args:
        spaces_dict: mapping of key to a gymnasium space (Box, Discrete, MultiDiscrete,
            MultiBinary).
        seed: optional seed for :meth:`sample`.

    Raises:
        ConfigError: a value is not a gymnasium space, or is itself a ``Dict``/``Tuple``.
    """

    def __init__(self, spaces_dict: Mapping[str, spaces.Space], seed: Any = None) -> None:
        for key, space in dict(spaces_dict).items():
            if not isinstance(space, spaces.Space):
                raise ConfigError(f"DictSpace key {key!r}: {type(space).__name__} is not a space")
            if isinstance(space, (spaces.Dict, spaces.Tuple)):
                raise ConfigError(
                    f"DictSpace key {key!r}: nested {type(space).__name__} spaces are not "
                    "allowed (one level deep, so SB3's MultiInputPolicy can take it)"
                )
        super().__init__(dict(spaces_dict), seed=seed)

    @property
    def shapes(self) -> dict[str, tuple[int, ...] | None]:
        """Each key's shape, as BTGym's ``DictSpace.shape`` gave it."""
        return {key: space.shape for key, space in self.spaces.items()}

    def zeros(self) -> dict[str, np.ndarray]:
        """A fresh observation of zeros (clipped into bounds) for every Box key."""
        out = {}
        for key, space in self.spaces.items():
            if isinstance(space, spaces.Box):
                out[key] = np.clip(np.zeros(space.shape, space.dtype), space.low, space.high)
            else:
                out[key] = np.zeros(space.shape or (), dtype=space.dtype)
        return out
