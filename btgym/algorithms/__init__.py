"""PyTorch trainers for btgym envs: A3C and PPO, with TensorBoard and checkpoints.

This is the only package of btgym that imports torch. Layout follows
Stable-Baselines3: one folder per algorithm plus ``common/``.

- :class:`A3C` / :class:`A3CConfig`, :class:`PPO` / :class:`PPOConfig`: trainers.
- :func:`load_policy`: a trained :class:`ActorCritic` from a checkpoint, no env needed.
- :func:`evaluate`: test episodes of a policy.

Names are imported lazily, so a worker process that needs one submodule does not
pay for TensorBoard and every trainer.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "A3C": "btgym.algorithms.a3c",
    "A3CConfig": "btgym.algorithms.a3c",
    "PPO": "btgym.algorithms.ppo",
    "PPOConfig": "btgym.algorithms.ppo",
    "ActorCritic": "btgym.algorithms.common.policies",
    "PolicyConfig": "btgym.algorithms.common.policies",
    "Tags": "btgym.algorithms.common.logger",
    "TrainResult": "btgym.algorithms.common.training",
    "Progress": "btgym.algorithms.common.training",
    "load_checkpoint": "btgym.algorithms.common.checkpoint",
    "resolve_device": "btgym.algorithms.common.device",
    "EpisodeResult": "btgym.algorithms.evaluation",
    "evaluate": "btgym.algorithms.evaluation",
    "load_policy": "btgym.algorithms.evaluation",
}

__all__ = [*sorted(_EXPORTS), "ALGOS", "get_algo"]


def get_algo(name: str) -> type:
    """The trainer class for ``"a3c"`` or ``"ppo"``."""
    from btgym.errors import ConfigError

    key = name.lower()
    if key not in ("a3c", "ppo"):
        raise ConfigError(f"algorithm {name!r} is not one of ['a3c', 'ppo']")
    return __getattr__(key.upper())


def __getattr__(name: str) -> Any:
    if name == "ALGOS":
        return {"a3c": __getattr__("A3C"), "ppo": __getattr__("PPO")}
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'btgym.algorithms' has no attribute {name!r}")
