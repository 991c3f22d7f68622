"""``ActionDictSpace``: one action per asset, discrete or continuous, with encodings.

Discrete (``base_actions`` given, BTGym's default ``('hold', 'buy', 'sell', 'close')``):
a ``Dict({asset: Discrete(len(base_actions))})``. Continuous (``base_actions=None``):
a ``Dict({asset: Box(0, 1, (1,))})`` of portfolio weights, the first asset usually
being the cash account.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from btgym.errors import ConfigError, InvalidActionError
from btgym.spaces.dict_space import DictSpace

BASE_ACTIONS = ("hold", "buy", "sell", "close")
_INT_TYPES = frozenset({int, np.int64, np.int32, np.int16, np.int8, np.uint8, np.intp})


class ActionDictSpace(DictSpace):
    """Action space of btgym envs: a shallow dictionary, one sub-space per asset.

    Args:
        assets: asset names, in order.
        base_actions: names of the discrete actions (``None``: continuous weights).
        seed: optional seed for :meth:`sample`.
    """

    def __init__(
        self,
        assets: Sequence[str],
        base_actions: Sequence[str] | None = BASE_ACTIONS,
        seed: Any = None,
    ) -> None:
        self.assets = tuple(str(a) for a in assets)
        if not self.assets or len(set(self.assets)) != len(self.assets):
            raise ConfigError(f"assets must be unique, non-empty names, got {list(assets)}")
        self.base_actions = None if base_actions is None else tuple(base_actions)
        if self.base_actions is None:
            sub: dict[str, spaces.Space] = {
                a: spaces.Box(0.0, 1.0, (1,), dtype=np.float32) for a in self.assets
            }
        else:
            if len(self.base_actions) < 2:
                raise ConfigError("base_actions needs at least two actions")
            sub = {a: spaces.Discrete(len(self.base_actions)) for a in self.assets}
        super().__init__(sub, seed=seed)

    @property
    def is_discrete(self) -> bool:
        return self.base_actions is not None

    @property
    def _bits(self) -> int:
        return max(1, math.ceil(math.log2(len(self.base_actions or (0, 0)))))

    def get_initial_action(self) -> OrderedDict:
        """'Do nothing' (hold) for discrete spaces; 'all in cash' (first asset 1, others
        0) for continuous ones."""
        if self.is_discrete:
            return OrderedDict((a, 0) for a in self.assets)
        return OrderedDict(
            (a, np.array([1.0 if i == 0 else 0.0], np.float32)) for i, a in enumerate(self.assets)
        )

    def normalize(self, action: Any) -> OrderedDict:
        """Validate ``action`` and return it as an ordered ``{asset: value}`` dict.

        A plain int (discrete, one asset) or a sequence/array in asset order is accepted.

        Raises:
            InvalidActionError: not in this space, saying which asset and why.
        """
        fast = self._fast_single(action)
        if fast is not None:
            return fast
        if not isinstance(action, Mapping):
            if self.is_discrete and len(self.assets) == 1 and np.ndim(action) == 0:
                action = {self.assets[0]: action}
            else:
                arr = np.asarray(action).reshape(-1)
                if arr.size != len(self.assets):
                    raise InvalidActionError(
                        f"action {action!r}: expected {len(self.assets)} values, one per asset "
                        f"{list(self.assets)}"
                    )
                action = dict(zip(self.assets, arr))
        extra = set(action) - set(self.assets)
        if extra:
            raise InvalidActionError(
                f"action names unknown assets {sorted(extra)}; assets are {list(self.assets)}"
            )
        out = OrderedDict()
        for asset in self.assets:
            if asset not in action:
                raise InvalidActionError(f"action lacks asset {asset!r}")
            out[asset] = self._check_one(asset, action[asset])
        return out

    def _fast_single(self, action: Any) -> OrderedDict | None:
        """The hot path: one discrete asset and a plain (numpy) int in range."""
        if (
            len(self.assets) == 1
            and type(action) in _INT_TYPES
            and self.base_actions is not None
            and 0 <= action < len(self.base_actions)
        ):
            return OrderedDict(((self.assets[0], int(action)),))
        return None

    def _check_one(self, asset: str, value: Any) -> Any:
        space = self.spaces[asset]
        if self.is_discrete:
            v = _as_int(value)
            if v is None:
                raise InvalidActionError(f"action for {asset!r}: {value!r} is not an integer")
            if not space.contains(np.int64(v)):
                raise InvalidActionError(
                    f"action for {asset!r}: {v} is outside Discrete({space.n}) "
                    f"{list(self.base_actions or ())}"
                )
            return v
        arr = np.asarray(value, dtype=np.float32).reshape(-1)
        if arr.shape != (1,) or not np.isfinite(arr).all() or not space.contains(arr):
            raise InvalidActionError(f"action for {asset!r}: {value!r} is not a weight in [0, 1]")
        return arr

    def encode(self, action: Any) -> np.ndarray:
        """Binary code of a discrete action (bits per asset, most significant first), or
        the weights vector of a continuous one; a 1-D float array in [0, 1]."""
        act = self.normalize(action)
        if not self.is_discrete:
            return np.concatenate([act[a] for a in self.assets]).astype(np.float32)
        bits = self._bits
        code = [(v >> (bits - 1 - b)) & 1 for v in act.values() for b in range(bits)]
        return np.asarray(code, dtype=np.float32)

    def decode(self, code: Sequence[float] | np.ndarray) -> OrderedDict:
        """Inverse of :meth:`encode`.

        Raises:
            InvalidActionError: wrong length, or a code of no action.
        """
        arr = np.asarray(code, dtype=np.float64).reshape(-1)
        if not self.is_discrete:
            return self.normalize(arr.astype(np.float32))
        bits = self._bits
        if arr.size != bits * len(self.assets):
            raise InvalidActionError(
                f"code has {arr.size} values, expected {bits * len(self.assets)}"
            )
        ints = (arr.reshape(len(self.assets), bits) > 0.5).astype(int)
        values = [int("".join(map(str, row)), 2) for row in ints]
        return self.normalize(dict(zip(self.assets, values)))

    def one_hot_encode(self, action: Any) -> np.ndarray:
        """One-hot code of a discrete action (``len(assets) * len(base_actions)``
        values, asset-major), or the weights vector of a continuous one."""
        act = self.normalize(action)
        if not self.is_discrete:
            return self.encode(act)
        n = len(self.base_actions or ())
        out = np.zeros((len(self.assets), n), dtype=np.float32)
        for i, v in enumerate(act.values()):
            out[i, v] = 1.0
        return out.reshape(-1)


def _as_int(value: Any) -> int | None:
    """``value`` as an int if it is one integral number (int, numpy int, 3.0), else None."""
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype == bool:
        return None
    if np.issubdtype(arr.dtype, np.integer):
        return int(arr.reshape(()))
    if np.issubdtype(arr.dtype, np.floating) and float(arr.reshape(())).is_integer():
        return int(arr.reshape(()))
    return None
