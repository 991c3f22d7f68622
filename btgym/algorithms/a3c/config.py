"""A3C configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from btgym.algorithms.common.config import TrainConfig
from btgym.errors import ConfigError

#: ``envs_per_worker=None`` on the vector engine (see :class:`A3CConfig`)
VECTOR_ENGINE_LANES = 4


@dataclass(frozen=True, kw_only=True)
class A3CConfig(TrainConfig):
    """Asynchronous advantage actor-critic (Mnih et al. 2016).

    Attributes:
        num_workers: worker processes, each with its own env.
        envs_per_worker: lanes of btgym's native vector env each worker steps
            (``BTgymVectorEnv`` over process-mode servers sharing the trainer's data
            server, or the numpy ``VectorBTgymEnv`` with ``engine="vector"``; more than
            1 needs ``env_kwargs``); one update per ``rollout_steps`` x lanes
            (:mod:`~btgym.algorithms.a3c.vec_worker`). ``None`` (default): 4 on the
            vector engine, 1 otherwise, as measured: on the vector engine, 2 workers x
            4 lanes reach the sine oracle's score ~1.4x sooner in wall time than 2 x 1
            (extra numpy lanes cost little); on backtrader servers (2 shared cores,
            benchmarks/train_throughput.py) 2 x 1 does 2367 env steps per CPU second
            and 4534 per wall second, 2 x 2 lanes 1881 and 2899.
        optimizer: ``"adam"`` or ``"rmsprop"`` (shared state, Hogwild).
        lr: default 5e-4 (shared Adam; rewards are normalised by default). On the sine
            benchmark 1e-4 (BTGym's default) left the policy near uniform after 50k steps.
        rng_report_secs: how often workers send their RNG states to the chief (these
            go into checkpoints).
        (others: see :class:`~btgym.algorithms.common.config.TrainConfig`)
    """

    num_workers: int = 2
    envs_per_worker: int | None = None
    rollout_steps: int = 50
    optimizer: str = "adam"
    lr: float = 5e-4
    max_grad_norm: float = 40.0
    rng_report_secs: float = 1.0

    algo: ClassVar[str] = "a3c"

    def __post_init__(self) -> None:
        super().__post_init__()
        lanes = 1 if self.envs_per_worker is None else self.envs_per_worker
        if min(self.num_workers, self.rollout_steps, lanes) < 1:
            raise ConfigError(
                f"need num_workers, rollout_steps and envs_per_worker >= 1, got "
                f"{self.num_workers}, {self.rollout_steps}, {self.envs_per_worker}"
            )
