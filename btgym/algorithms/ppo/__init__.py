"""PPO over a gymnasium vector env: :class:`PPO` (:mod:`.ppo`), :class:`PPOConfig`
(:mod:`.config`)."""

from __future__ import annotations

from typing import Any

__all__ = ["PPO", "PPOConfig"]


def __getattr__(name: str) -> Any:
    if name == "PPO":
        from btgym.algorithms.ppo.ppo import PPO

        return PPO
    if name == "PPOConfig":
        from btgym.algorithms.ppo.config import PPOConfig

        return PPOConfig
    raise AttributeError(f"module 'btgym.algorithms.ppo' has no attribute {name!r}")
