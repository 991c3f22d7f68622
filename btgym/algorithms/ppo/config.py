"""PPO configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from btgym.algorithms.common.config import TrainConfig
from btgym.errors import ConfigError

VEC_ENVS = ("auto", "native", "async", "sync")


@dataclass(frozen=True, kw_only=True)
class PPOConfig(TrainConfig):
    """Proximal policy optimisation, clipped objective (Schulman et al. 2017).

    Attributes:
        num_envs: envs of the gymnasium vector env.
        vec_env: ``"native"``: btgym's own vector env, stepped from this process
            (``btgym.make_vec``'s over process-mode servers, or the numpy
            ``VectorBTgymEnv`` with ``engine="vector"``; NEXT_STEP autoreset, its reset
            transitions left out of training); ``"async"`` (gymnasium's
            ``AsyncVectorEnv``, one worker process per env), ``"sync"`` (all in this
            process); ``"auto"`` (default): native where the envs allow it
            (``env_kwargs`` with process-mode servers or the vector engine, or a
            ``vector_env``), else async.
        n_steps: rollout length per env and update.
        n_epochs: passes over each rollout; n_minibatches: minibatches per pass
            (recurrent policies: whole env sequences per minibatch).
        gae_lambda: GAE's lambda (BTGym: ``model_gae_lambda``).
        clip_range: policy ratio clip; clip_range_vf: value clip around the old value
            (``None``: no value clipping).
        normalize_advantage: standardise advantages per minibatch.
        target_kl: stop an update's epochs early past this approximate KL (``None``: never).
        lr_schedule: default ``"linear"`` (to ``lr_final``).
        (others: see :class:`~btgym.algorithms.common.config.TrainConfig`)
    """

    num_envs: int = 2
    vec_env: str = "auto"
    n_steps: int = 128
    n_epochs: int = 4
    n_minibatches: int = 4
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    clip_range_vf: float | None = 0.2
    normalize_advantage: bool = True
    target_kl: float | None = None
    lr_schedule: str = "linear"

    algo: ClassVar[str] = "ppo"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vec_env not in VEC_ENVS:
            raise ConfigError(f"vec_env {self.vec_env!r} is not one of {VEC_ENVS}")
        if min(self.num_envs, self.n_steps, self.n_epochs, self.n_minibatches) < 1:
            raise ConfigError("num_envs, n_steps, n_epochs and n_minibatches must be >= 1")
        if self.clip_range <= 0:
            raise ConfigError(f"clip_range must be > 0, got {self.clip_range}")
