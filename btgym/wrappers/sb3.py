"""Stable-Baselines3's form of a btgym env: ``PPO("MultiInputPolicy", env)`` as it is.

SB3 takes ``Dict`` observations but not ``Dict`` actions, and its checker asks for a
symmetric ``Box`` for continuous actions. :class:`SB3Env` exposes

- ``BTgymEnv``: ``Discrete(4)`` for one asset, ``MultiDiscrete([4] * n)`` for several
  (0 hold, 1 buy, 2 sell, 3 close);
- ``MultiDiscreteEnv``: its ``MultiDiscrete`` unchanged;
- ``PortfolioEnv``: ``Box(-1, 1, (K + 1,))``; entry ``a`` becomes the weight
  ``(a + 1) / 2`` of ``[cash, *assets]`` before the env normalises the weights (all
  -1: flat);

flattens every observation leaf to 1-D (``raw`` (30, 4) → (120,): what SB3's
``MultiInputPolicy`` does anyway, and what its checker asks for) and drops the
``metadata`` leaf (episode bookkeeping: row numbers and timestamps, no market data)
unless ``observation_keys`` says otherwise.

Use ``gymnasium.make("btgym/Backtrader-v0", sb3=True, filename=...)`` (any of the
three ids), or wrap an env you built: ``btgym.wrappers.sb3(btgym.BTgymEnv(...))``.
Vector envs: ``SubprocVecEnv([lambda: sb3(fn()) for fn in btgym.make_env_fns(2, ...)])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

#: Observation leaves dropped by default (bookkeeping, not market data).
DROPPED_KEYS = ("metadata",)


class SB3Env(gym.Wrapper):
    """A btgym env in the form SB3 takes (see module doc).

    Args:
        env: a btgym env (``BTgymEnv``, ``MultiDiscreteEnv`` or ``PortfolioEnv``).
        observation_keys: observation leaves to keep (``None``: all but ``metadata``).
    """

    def __init__(self, env: gym.Env, observation_keys: Sequence[str] | None = None) -> None:
        super().__init__(env)
        space = env.action_space
        self._weights = False
        if isinstance(space, gym.spaces.Dict):  # BTgymEnv: one Discrete per asset
            nvec = [sub.n for sub in space.spaces.values()]
            self.action_space = (
                gym.spaces.Discrete(nvec[0]) if len(nvec) == 1 else gym.spaces.MultiDiscrete(nvec)
            )
        elif isinstance(space, gym.spaces.Box):  # PortfolioEnv weights
            self._weights = True
            self.action_space = gym.spaces.Box(-1.0, 1.0, space.shape, dtype=np.float32)
        obs_space = env.observation_space
        keys = tuple(observation_keys or (k for k in obs_space.spaces if k not in DROPPED_KEYS))
        unknown = [k for k in keys if k not in obs_space.spaces]
        if unknown:
            from btgym.errors import ConfigError

            raise ConfigError(f"observation_keys {unknown} are not in {list(obs_space.spaces)}")
        self._keys = keys
        self._flatten = tuple(k for k in keys if len(obs_space[k].shape) != 1)
        self.observation_space = gym.spaces.Dict({k: _flat_box(obs_space[k]) for k in keys})

    def action(self, action: Any) -> Any:
        """The wrapped env's action for an SB3 action."""
        if self._weights:
            a = np.asarray(action, dtype=np.float64).reshape(-1)
            return np.clip((a + 1.0) * 0.5, 0.0, 1.0)
        return action

    def observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: obs[k] for k in self._keys}
        for k in self._flatten:
            out[k] = out[k].reshape(-1)
        return out

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self.observation(obs), info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(self.action(action))
        return self.observation(obs), reward, terminated, truncated, info


def _flat_box(space: gym.spaces.Box) -> gym.spaces.Box:
    if len(space.shape) == 1:
        return space
    return gym.spaces.Box(space.low.reshape(-1), space.high.reshape(-1), dtype=space.dtype)


def sb3(env: gym.Env, observation_keys: Sequence[str] | None = None) -> SB3Env:
    """``env`` in the form Stable-Baselines3 takes (see :class:`SB3Env`)."""
    return SB3Env(env, observation_keys)


def make_env(
    env_class: str | type,
    *,
    sb3: bool = False,
    observation_keys: Sequence[str] | None = None,
    **kwargs: Any,
) -> gym.Env:
    """Entry point of the gymnasium ids: ``env_class(**kwargs)``, in SB3's form when
    ``sb3=True``."""
    if isinstance(env_class, str):
        import btgym.envs

        env_class = getattr(btgym.envs, env_class)
    env = env_class(**kwargs)
    if not sb3:
        if observation_keys is not None:
            env.close()
            from btgym.errors import ConfigError

            raise ConfigError("observation_keys= needs sb3=True")
        return env
    return SB3Env(env, observation_keys)
