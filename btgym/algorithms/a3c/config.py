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
    rollout_steps: int = 50
    optimizer: str = "adam"
    lr: float = 5e-4
    max_grad_norm: float = 40.0
    rng_report_secs: float = 1.0

    algo: ClassVar[str] = "a3c"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_workers < 1 or self.rollout_steps < 1:
            raise ConfigError(
                f"need num_workers >= 1 and rollout_steps >= 1, got "
                f"{self.num_workers}, {self.rollout_steps}"
            )
