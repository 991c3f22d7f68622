"""Gymnasium ids of btgym's envs (registered when ``btgym`` is imported).

Every id takes the env's keywords, plus ``sb3=True`` for the form Stable-Baselines3
takes as it is (see :mod:`btgym.wrappers.sb3`)::

    env = gymnasium.make("btgym/Backtrader-v0", sb3=True, filename=...)
    PPO("MultiInputPolicy", env)
"""

from __future__ import annotations

import gymnasium as gym

#: id → env class name in :mod:`btgym.envs`.
IDS = {
    "btgym/Backtrader-v0": "BTgymEnv",
    "btgym/MultiDiscrete-v0": "MultiDiscreteEnv",
    "btgym/Portfolio-v0": "PortfolioEnv",
}


def register_envs() -> None:
    """Register the ids once (idempotent)."""
    for env_id, class_name in IDS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="btgym.wrappers.sb3:make_env",
                kwargs={"env_class": class_name},
                disable_env_checker=False,
            )
