"""Stable-Baselines3 compatibility.

SB3 takes ``Dict`` *observations* (``MultiInputPolicy``) but not ``Dict`` *actions*:
its action spaces are Box, Discrete, MultiDiscrete and MultiBinary. btgym's envs act
with ``Dict({asset: Discrete(4)})`` (or Dict / Box weights for portfolios), so SB3
needs :class:`SB3ActionWrapper`:

- one asset, ``Dict({asset: Discrete(n)})`` -> ``Discrete(n)``;
- several assets -> ``MultiDiscrete([n, ...])`` in the Dict's key order;
- continuous weights (Box, or Dict of Boxes) -> one flat ``Box``.

``observation_keys`` drops observation entries SB3 should not see (by default
``metadata``: bookkeeping such as timestamps and trial numbers, not market data).

Example::

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import SubprocVecEnv
    from btgym.envs import make_env_fns
    from btgym.algorithms.common.sb3 import sb3_env_fns

    fns = make_env_fns(2, filename="data.csv")
    venv = SubprocVecEnv(sb3_env_fns(fns), start_method="spawn")
    PPO("MultiInputPolicy", venv).learn(10_000)
    venv.close(); fns.close()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from btgym.algorithms.common.envs import GuardedEnvFn
from btgym.algorithms.common.spaces import ActionAdapter, obs_keys


class SB3ActionWrapper(gym.ActionWrapper):
    """Exposes a Dict action space as Discrete / MultiDiscrete / Box (see module doc).

    Args:
        env: a btgym env (or any env with a supported action space).
        observation_keys: observation entries to keep (``None``: all but ``metadata``).
    """

    def __init__(self, env: gym.Env, observation_keys: Sequence[str] | None = None) -> None:
        super().__init__(env)
        self.adapter = ActionAdapter(env.action_space)
        a = self.adapter
        if a.kind == "categorical":
            if len(a.nvec) == 1:
                self.action_space = gym.spaces.Discrete(a.nvec[0])
            else:
                self.action_space = gym.spaces.MultiDiscrete(list(a.nvec))
        else:
            self.action_space = gym.spaces.Box(
                a.low.astype(np.float32), a.high.astype(np.float32), dtype=np.float32
            )
        space = env.observation_space
        self.keys: tuple[str, ...] | None = None
        if isinstance(space, gym.spaces.Dict):
            keys = obs_keys(space, tuple(observation_keys) if observation_keys else None)
            if set(keys) != set(space.spaces):
                self.keys = keys
                self.observation_space = gym.spaces.Dict({k: space[k] for k in keys})

    def action(self, action: Any) -> Any:
        flat = np.atleast_1d(np.asarray(action))
        return self.adapter.to_env(flat)

    def observation(self, obs: Any) -> Any:
        if self.keys is None:
            return obs
        return {k: obs[k] for k in self.keys}

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self.observation(obs), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(self.action(action))
        return self.observation(obs), reward, terminated, truncated, info


def sb3_env_fns(
    env_fns: Sequence[Callable[[], gym.Env]], observation_keys: Sequence[str] | None = None
) -> list[Callable[[], gym.Env]]:
    """Wrap env factories for SB3's vec envs: :class:`SB3ActionWrapper` plus a
    parent-death watch in ``SubprocVecEnv`` workers (no orphan after a crash)."""
    keys = tuple(observation_keys) if observation_keys else None
    return [GuardedEnvFn(fn, wrap=_Wrap(keys)) for fn in env_fns]


class _Wrap:
    def __init__(self, keys: tuple[str, ...] | None) -> None:
        self.keys = keys

    def __call__(self, env: gym.Env) -> gym.Env:
        return SB3ActionWrapper(env, self.keys)
