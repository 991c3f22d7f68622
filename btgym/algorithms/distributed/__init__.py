"""Distributed training on Ray: rollout workers as Ray actors, the learner on the driver.

- :class:`RayA3C`, :class:`RayPPO`: :class:`~btgym.algorithms.A3C` and
  :class:`~btgym.algorithms.PPO` with their workers on a Ray cluster (``ray_config``:
  :class:`RayConfig`); same TensorBoard tags, checkpoints and resume.
- ``btgym train --backend ray [--address ADDR]`` (:mod:`.cli`).

Needs the extra: ``pip install "btgym[ray]"``. Importing this package does not import
Ray; building a trainer does (and raises :class:`~btgym.errors.MissingExtraError`
without it). See ``docs/scaling.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RayA3C": "btgym.algorithms.distributed.a3c",
    "RayPPO": "btgym.algorithms.distributed.ppo",
    "RayConfig": "btgym.algorithms.distributed.config",
    "get_ray_algo": "btgym.algorithms.distributed.cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'btgym.algorithms.distributed' has no attribute {name!r}")
