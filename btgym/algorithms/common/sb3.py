"""Stable-Baselines3 vec envs over btgym env factories: :func:`sb3_env_fns`.

The env form SB3 takes (``Discrete`` / ``MultiDiscrete`` / symmetric ``Box`` actions,
flat observation leaves, no ``metadata``) is :class:`btgym.wrappers.sb3.SB3Env`;
this module only adds what a subprocess vec env needs: picklable factories that
wrap each env and watch their parent (no orphan after a crash).

Example::

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import SubprocVecEnv
    from btgym.envs import make_env_fns
    from btgym.algorithms.common.sb3 import sb3_env_fns

    fns = make_env_fns(2, filename="data.csv")
    venv = SubprocVecEnv(sb3_env_fns(fns), start_method="spawn")
    PPO("MultiInputPolicy", venv).learn(10_000)
    venv.close(); fns.close()

For the native vector envs use :class:`btgym.integrations.sb3.SB3VecEnv` instead
(``btgym.make_vec(n, sb3=True, ...)`` or ``SB3VecEnv(num_envs=n, engine ...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym

from btgym.algorithms.common.envs import GuardedEnvFn
from btgym.wrappers.sb3 import SB3Env


def sb3_env_fns(
    env_fns: Sequence[Callable[[], gym.Env]], observation_keys: Sequence[str] | None = None
) -> list[Callable[[], gym.Env]]:
    """Wrap env factories for SB3's vec envs: :class:`~btgym.wrappers.sb3.SB3Env` plus a
    parent-death watch in ``SubprocVecEnv`` workers."""
    keys = tuple(observation_keys) if observation_keys else None
    return [GuardedEnvFn(fn, wrap=_Wrap(keys)) for fn in env_fns]


class _Wrap:
    def __init__(self, keys: tuple[str, ...] | None) -> None:
        self.keys = keys

    def __call__(self, env: gym.Env) -> gym.Env:
        return SB3Env(env, self.keys)
