"""Action spaces and batched action decoding of the vector engine.

Three kinds, as the backtrader envs have them:

- ``"discrete"`` (``BTgymEnv``): ``Dict({asset: Discrete(4)})`` (0 hold, 1 buy,
  2 sell, 3 close); batched ``Dict({asset: MultiDiscrete([4] * N)})``. An (N, K) int
  array is accepted too.
- ``"multidiscrete"`` (``MultiDiscreteEnv``): ``MultiDiscrete([4] * K)``; batched
  (N, K).
- ``"portfolio"`` (``PortfolioEnv``): ``Box(0, 1, (K+1,))`` target weights
  ``[cash, *assets]``, normalised over all K+1 entries; all-zero means all cash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from btgym.errors import ConfigError, InvalidActionError

KINDS = ("discrete", "multidiscrete", "portfolio")


def single_action_space(kind: str, assets: tuple[str, ...]) -> gym.Space:
    """The action space of one env."""
    if kind == "discrete":
        from btgym.spaces import ActionDictSpace

        return ActionDictSpace(assets)
    if kind == "multidiscrete":
        return gym.spaces.MultiDiscrete([4] * len(assets))
    if kind == "portfolio":
        return gym.spaces.Box(0.0, 1.0, (len(assets) + 1,), dtype=np.float32)
    raise ConfigError(f"action kind {kind!r} is not one of {KINDS}")


def batch_action_space(kind: str, assets: tuple[str, ...], n: int) -> gym.Space:
    """The batched action space of ``n`` envs."""
    if kind == "discrete":
        return gym.spaces.Dict({a: gym.spaces.MultiDiscrete([4] * n) for a in assets})
    if kind == "multidiscrete":
        return gym.spaces.MultiDiscrete(np.full((n, len(assets)), 4))
    return gym.spaces.Box(0.0, 1.0, (n, len(assets) + 1), dtype=np.float32)


def decode_codes(
    action: Any, assets: tuple[str, ...], n: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Batched discrete action → int64 codes (n, k), each in 0..3.

    Args:
        out: an int64 (n, k) buffer to write the codes into (and return): integer
            arrays of the right shape are then copied and range-checked in one pass.

    Raises:
        InvalidActionError: wrong shape, unknown asset, value outside 0..3.
    """
    if out is not None:
        arr = _int_array(action, assets)
        if arr is not None and arr.shape == out.shape:
            np.copyto(out, arr, casting="unsafe")
            if out.size <= 16:  # a few codes: checked as Python ints (cheaper)
                vals = out.ravel().tolist()
                if not vals or (min(vals) >= 0 and max(vals) <= 3):
                    return out
            elif out.view(np.uint64).max() <= 3:  # negatives wrap: > 3
                return out
        out[:] = decode_codes(action, assets, n)
        return out
    if isinstance(action, Mapping):
        extra = set(action) - set(assets)
        if extra:
            raise InvalidActionError(
                f"action names unknown assets {sorted(extra)}; assets are {list(assets)}"
            )
        cols = []
        for a in assets:
            if a not in action:
                raise InvalidActionError(f"action lacks asset {a!r}")
            cols.append(np.asarray(action[a]).reshape(-1))
        arr = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
    else:
        arr = np.asarray(action)
        if arr.ndim == 1 and len(assets) == 1:
            arr = arr[:, None]
    if arr.shape != (n, len(assets)):
        raise InvalidActionError(
            f"batched action has shape {arr.shape}, expected ({n}, {len(assets)}) "
            f"(one code per env and asset {list(assets)})"
        )
    if arr.dtype.kind not in "iub" and (arr.dtype.kind != "f" or not np.all(arr == np.round(arr))):
        raise InvalidActionError(f"actions must be ints in 0..3, got dtype {arr.dtype}")
    codes = arr.astype(np.int64)
    if codes.size and (codes.min() < 0 or codes.max() > 3):
        raise InvalidActionError("actions must be in 0..3 (hold, buy, sell, close)")
    return codes


def _int_array(action: Any, assets: tuple[str, ...]) -> np.ndarray | None:
    """``action`` as an (n, k) integer array when that needs no checks beyond the
    shape and the range (an int ndarray, or a one-asset dict of one), else None."""
    if isinstance(action, Mapping):
        if len(assets) != 1 or len(action) != 1:
            return None
        action = action.get(assets[0])
    if type(action) is not np.ndarray or action.dtype.kind not in "iu":
        return None
    if action.ndim == 1 and len(assets) == 1:
        return action[:, None]
    return action


def decode_weights(action: Any, assets: tuple[str, ...], n: int, cash_name: str) -> np.ndarray:
    """Batched portfolio action → float64 weights (n, k+1) ``[cash, *assets]`` summing
    to 1: each row divided by its sum (all K+1 entries; an all-zero row means all
    cash), as ``btgym.server.contract.WeightsCodec`` does.

    Raises:
        InvalidActionError: wrong shape, a negative or non-finite weight.
    """
    if isinstance(action, Mapping):
        names = (cash_name, *assets)
        if set(action) != set(names):
            raise InvalidActionError(f"portfolio action keys must be {list(names)}")
        action = np.stack([np.asarray(action[k], np.float64).reshape(-1) for k in names], axis=1)
    w = np.asarray(action, dtype=np.float64)
    if w.ndim == 1 and n == 1:
        w = w[None, :]
    if w.shape != (n, len(assets) + 1):
        raise InvalidActionError(
            f"portfolio action has shape {w.shape}, expected ({n}, {len(assets) + 1}) "
            f"weights [{cash_name}, {', '.join(assets)}] per env"
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise InvalidActionError(f"portfolio weights must be finite and ≥ 0, got {w}")
    total = w.sum(axis=1, keepdims=True)
    flat = total[:, 0] <= 0
    if flat.any():
        w = w.copy()
        w[flat] = 0.0
        w[flat, 0] = 1.0
        total[flat] = 1.0
    return w / total
