"""Gymnasium ids of btgym's envs (registered when ``btgym`` is imported)."""

from __future__ import annotations

import gymnasium as gym

IDS = {
    "btgym/Backtrader-v0": "btgym.envs:BTgymEnv",
    "btgym/MultiDiscrete-v0": "btgym.envs:MultiDiscreteEnv",
    "btgym/Portfolio-v0": "btgym.envs:PortfolioEnv",
}


def register_envs() -> None:
    """Register the ids once (idempotent)."""
    for env_id, entry_point in IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=False)
