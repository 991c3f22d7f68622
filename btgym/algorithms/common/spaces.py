"""Spaces as the algorithms see them.

- :func:`space_to_spec` / :func:`spec_to_space`: a gymnasium space as plain data (stored
  in checkpoints so a policy can be rebuilt without an env).
- :func:`obs_keys`: which observation entries the policy encodes.
- :class:`ActionAdapter`: the action space as a flat tensor of a known kind
  (``"categorical"``: one index per component; ``"dirichlet"``: simplex weights;
  ``"gaussian"``: unbounded reals clipped to the box) and back to the env's action.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from btgym.errors import ConfigError

#: observation keys left out of the policy's input by default (bookkeeping, not market data)
DEFAULT_SKIP_KEYS = ("metadata",)


def space_to_spec(space: gym.Space) -> dict[str, Any]:
    """Describe a Box / Discrete / MultiDiscrete / Dict space with plain types."""
    if isinstance(space, gym.spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_spec(s) for k, s in space.spaces.items()}}
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": space.low.astype(np.float64).ravel().tolist(),
            "high": space.high.astype(np.float64).ravel().tolist(),
        }
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": [int(n) for n in space.nvec.ravel()]}
    raise ConfigError(f"space {space!r} is not supported (Box, Discrete, MultiDiscrete, Dict)")


def spec_to_space(spec: dict[str, Any]) -> gym.Space:
    """Inverse of :func:`space_to_spec`."""
    kind = spec.get("type")
    if kind == "Dict":
        return gym.spaces.Dict({k: spec_to_space(s) for k, s in spec["spaces"].items()})
    if kind == "Box":
        shape = tuple(spec["shape"])
        dtype = np.dtype(spec["dtype"])
        low = np.asarray(spec["low"], dtype=np.float64).reshape(shape).astype(dtype)
        high = np.asarray(spec["high"], dtype=np.float64).reshape(shape).astype(dtype)
        return gym.spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
    if kind == "Discrete":
        return gym.spaces.Discrete(spec["n"], start=spec.get("start", 0))
    if kind == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(spec["nvec"])
    raise ConfigError(f"space spec of type {kind!r} is not supported")


def obs_keys(space: gym.Space, keys: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The observation entries to encode, in a fixed order.

    Args:
        space: a Dict of Box leaves, or a single Box (key ``""``).
        keys: explicit choice; ``None``: every Box entry except :data:`DEFAULT_SKIP_KEYS`.

    Raises:
        ConfigError: a requested key is missing or not a Box, or nothing is left.
    """
    if isinstance(space, gym.spaces.Box):
        return ("",)
    if not isinstance(space, gym.spaces.Dict):
        raise ConfigError(f"observation space {space!r} must be a Box or a Dict of Boxes")
    boxes = {k: s for k, s in space.spaces.items() if isinstance(s, gym.spaces.Box)}
    if keys is None:
        chosen = tuple(k for k in boxes if k not in DEFAULT_SKIP_KEYS)
    else:
        missing = [k for k in keys if k not in boxes]
        if missing:
            raise ConfigError(
                f"observation keys {missing} are not Box entries of the observation space "
                f"(Box entries: {sorted(boxes)})"
            )
        chosen = tuple(keys)
    if not chosen:
        raise ConfigError(f"no observation entry left to encode in {space!r}")
    return chosen


class ActionAdapter:
    """Maps the env's action space to one flat action tensor per step and back.

    Supported spaces: ``Discrete``, ``MultiDiscrete``, ``Dict`` of ``Discrete``
    (categorical), a ``Box`` whose bounds are [0, 1] (portfolio weights on the simplex,
    Dirichlet), any other ``Box`` (Gaussian), and a ``Dict`` of such Boxes.

    Attributes:
        kind: ``"categorical"``, ``"dirichlet"`` or ``"gaussian"``.
        nvec: category counts per component (categorical).
        dim: length of the flat action vector.
    """

    def __init__(self, space: gym.Space) -> None:
        self.space = space
        self.keys: tuple[str, ...] | None = None
        self.starts: np.ndarray | None = None
        self.nvec: tuple[int, ...] = ()
        self.low = self.high = None
        self.kind = self._classify(space)
        self.dim = len(self.nvec) if self.kind == "categorical" else int(self.low.size)

    def _classify(self, space: gym.Space) -> str:
        if isinstance(space, gym.spaces.Discrete):
            self.nvec, self.starts = (int(space.n),), np.array([int(space.start)])
            return "categorical"
        if isinstance(space, gym.spaces.MultiDiscrete):
            if space.nvec.ndim != 1:
                raise ConfigError(f"MultiDiscrete action space {space} must be 1-D")
            self.nvec = tuple(int(n) for n in space.nvec)
            self.starts = np.asarray(space.start, dtype=np.int64).ravel()
            return "categorical"
        if isinstance(space, gym.spaces.Box):
            return self._box(space.low.ravel(), space.high.ravel())
        if isinstance(space, gym.spaces.Dict) and space.spaces:
            subs = list(space.spaces.values())
            self.keys = tuple(space.spaces)
            if all(isinstance(s, gym.spaces.Discrete) for s in subs):
                self.nvec = tuple(int(s.n) for s in subs)
                self.starts = np.array([int(s.start) for s in subs])
                self._start_ints = [int(s.start) for s in subs]
                return "categorical"
            if all(isinstance(s, gym.spaces.Box) for s in subs):
                low = np.concatenate([s.low.ravel() for s in subs])
                high = np.concatenate([s.high.ravel() for s in subs])
                return self._box(low, high)
        raise ConfigError(
            f"action space {space!r} is not supported: use Discrete, MultiDiscrete, "
            "a Dict of Discrete, a Box or a Dict of Boxes"
        )

    def _box(self, low: np.ndarray, high: np.ndarray) -> str:
        self.low, self.high = low.astype(np.float64), high.astype(np.float64)
        simplex = np.all(self.low == 0.0) and np.all(self.high == 1.0) and self.low.size > 1
        return "dirichlet" if simplex else "gaussian"

    def to_env(self, flat: np.ndarray) -> Any:
        """Convert one flat action (ints or floats, shape ``(dim,)``) to the env's form."""
        flat = np.asarray(flat)
        if self.kind == "categorical":
            if self.keys is not None:  # Dict of Discrete: plain ints, no array math
                vals = flat.tolist()
                return {k: v + s for k, v, s in zip(self.keys, vals, self._start_ints)}
            idx = flat.astype(np.int64) + self.starts
            if isinstance(self.space, gym.spaces.Discrete):
                return int(idx[0])
            return idx.astype(self.space.dtype)
        values = flat.astype(np.float64)
        if self.kind == "gaussian":
            values = np.clip(values, self.low, self.high)
        if isinstance(self.space, gym.spaces.Box):
            return values.astype(self.space.dtype).reshape(self.space.shape)
        out, i = {}, 0
        for k, s in self.space.spaces.items():
            out[k] = values[i : i + s.low.size].astype(s.dtype).reshape(s.shape)
            i += s.low.size
        return out

    def to_env_batch(self, flat: np.ndarray) -> Any:
        """Convert a batch ``(B, dim)`` of flat actions to a vector env's batched action."""
        flat = np.asarray(flat)
        if self.kind == "categorical":
            idx = flat.astype(np.int64) + self.starts
            if isinstance(self.space, gym.spaces.Discrete):
                return idx[:, 0]
            if isinstance(self.space, gym.spaces.MultiDiscrete):
                return idx.astype(self.space.dtype)
            return {k: idx[:, i] for i, k in enumerate(self.keys)}
        values = flat.astype(np.float64)
        if self.kind == "gaussian":
            values = np.clip(values, self.low, self.high)
        if isinstance(self.space, gym.spaces.Box):
            return values.astype(self.space.dtype).reshape(len(flat), *self.space.shape)
        out, i = {}, 0
        for k, s in self.space.spaces.items():
            part = values[:, i : i + s.low.size]
            out[k] = part.astype(s.dtype).reshape(len(flat), *s.shape)
            i += s.low.size
        return out

    def from_env(self, action: Any) -> np.ndarray:
        """Convert an env action back to the flat form (inverse of :meth:`to_env`)."""
        if self.kind == "categorical":
            if self.keys is not None:
                vals = np.array([int(action[k]) for k in self.keys])
            else:
                vals = np.atleast_1d(np.asarray(action, dtype=np.int64))
            return (vals - self.starts).astype(np.int64)
        if self.keys is not None:
            return np.concatenate(
                [np.asarray(action[k], dtype=np.float64).ravel() for k in self.keys]
            )
        return np.asarray(action, dtype=np.float64).ravel()
