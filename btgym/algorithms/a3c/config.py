"""A3C configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from btgym.algorithms.common.config import TrainConfig
from btgym.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class A3CConfig(TrainConfig):
    """Asynchronous advantage actor-critic (Mnih et al. 2016).

    Attributes:
        num_workers: worker processes, each with its own env.
        envs_per_worker: with more than 1, each worker steps that many lanes of btgym's
            native vector env (``BTgymVectorEnv`` over process-mode servers sharing the
            trainer's data server, or the numpy ``VectorBTgymEnv`` with
            ``engine="vector"``; needs ``env_kwargs``) and updates once per
            ``rollout_steps`` x lanes (:mod:`~btgym.algorithms.a3c.vec_worker`).
            Measured in benchmarks/train_throughput.py (2 shared cores, backtrader,
            process servers): 2 workers x 1 env 1862 env steps per CPU second, 1 x 2
            lanes 1589, 2 x 2 lanes 1580 (more steps/s in wall time, 2462 vs 1995, from
            twice the envs): one env per worker (the default) does the most per CPU.
        rollout_steps: n of the n-step returns (BTGym: ``rollout_length``, 20 there); a
            rollout also ends at an episode's end. One update costs about as much CPU
            for 50 steps as for 20 (dispatch overhead of a small network), so 50 keeps
            the learner's share of a step small (benchmarks/train_throughput.py).
        optimizer: ``"adam"`` or ``"rmsprop"`` (shared state, Hogwild).
        lr: default 5e-4 (shared Adam; rewards are normalised by default). On the sine
            benchmark 1e-4 (BTGym's default) left the policy near uniform after 50k steps.
        rng_report_secs: how often workers send their RNG states to the chief (these
            go into checkpoints).
        (others: see :class:`~btgym.algorithms.common.config.TrainConfig`)
    """

    num_workers: int = 2
    envs_per_worker: int = 1
    rollout_steps: int = 50
    optimizer: str = "adam"
    lr: float = 5e-4
    max_grad_norm: float = 40.0
    rng_report_secs: float = 1.0

    algo: ClassVar[str] = "a3c"

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.num_workers, self.rollout_steps, self.envs_per_worker) < 1:
            raise ConfigError(
                f"need num_workers, rollout_steps and envs_per_worker >= 1, got "
                f"{self.num_workers}, {self.rollout_steps}, {self.envs_per_worker}"
            )
