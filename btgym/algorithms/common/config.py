"""The configuration shared by btgym's trainers.

Each algorithm has one frozen, keyword-only dataclass deriving from
:class:`TrainConfig`. ``from_keywords`` fills it from keywords, accepts BTGym's
old A3C keyword names as aliases (``opt_learn_rate``, ``model_gamma``,
``model_beta``, ``rollout_length``, ``model_gae_lambda``, ``env_render_freq``),
builds the nested :class:`PolicyConfig` from a dict, and raises
:class:`~btgym.errors.UnknownKeywordError` for anything else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from btgym.algorithms.common.policies import PolicyConfig
from btgym.errors import ConfigError, check_keywords

#: BTGym (TF1) trainer keyword -> btgym field
ALIASES = {
    "opt_learn_rate": "lr",
    "model_gamma": "gamma",
    "model_beta": "entropy_coef",
    "rollout_length": "rollout_steps",
    "model_gae_lambda": "gae_lambda",
    "env_render_freq": "image_every",
}

LR_SCHEDULES = ("constant", "linear")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Fields every trainer has.

    Attributes:
        total_steps: env steps to train for (all workers / envs together).
        seed: run seed (``None``: fresh entropy). One seed spawns every worker's stream.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda[:N]"``.
        lr: initial learning rate; lr_schedule: ``"constant"`` or ``"linear"`` (to
            ``lr_final`` at ``total_steps``).
        gamma: discount; entropy_coef, value_coef: loss weights.
        max_grad_norm: gradient clipping by global norm.
        reward_scale: rewards are multiplied by this before learning.
        normalize_reward: divide rewards by the running std of the discounted return
            (:mod:`~btgym.algorithms.common.normalize`); reward_clip bounds the result.
        checkpoint_every: env steps between checkpoints (one more at exit).
        log_every: env steps between training-scalar summaries.
        image_every: an episode image every this many episodes of the first worker (0: off).
        rollout_actor: who computes actions during rollouts: ``"auto"`` (numpy for a
            CPU model, torch otherwise), ``"numpy"`` or ``"torch"``
            (:mod:`~btgym.algorithms.common.actors`).
        torch_threads: torch's intra-op threads in the trainer and its workers while
            training (``None``: leave torch's default). 1 is fastest for btgym's small
            networks: more threads spin against the env processes for the same cores.
        policy: the network (:class:`PolicyConfig`).
    """

    total_steps: int = 100_000
    seed: int | None = None
    device: str = "auto"
    lr: float = 3e-4
    lr_final: float = 0.0
    lr_schedule: str = "constant"
    gamma: float = 0.99
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    reward_scale: float = 1.0
    normalize_reward: bool = True
    reward_clip: float = 10.0
    checkpoint_every: int = 10_000
    log_every: int = 1_000
    image_every: int = 0
    rollout_actor: str = "auto"
    torch_threads: int | None = 1
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    algo: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.rollout_actor not in ("auto", "numpy", "torch"):
            raise ConfigError(
                f"rollout_actor {self.rollout_actor!r} is not 'auto', 'numpy' or 'torch'"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule {self.lr_schedule!r} is not one of {LR_SCHEDULES}")
        for name in ("total_steps", "checkpoint_every", "log_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.lr <= 0 or not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(
                f"need lr > 0 and 0 <= gamma <= 1, got lr={self.lr}, gamma={self.gamma}"
            )

    @classmethod
    def from_keywords(cls, **keywords: Any) -> TrainConfig:
        """Build from keywords (aliases accepted, unknown keys rejected)."""
        names = [f.name for f in dataclasses.fields(cls)]
        given = {}
        for key, value in keywords.items():
            key = ALIASES.get(key, key)
            given[key] = value
        check_keywords(given, names, cls.__name__)
        if isinstance(given.get("policy"), dict):
            given["policy"] = PolicyConfig.from_keywords(**given["policy"])
        return cls(**given)

    def replace(self, **keywords: Any) -> TrainConfig:
        """A copy with some fields changed (same checks as :meth:`from_keywords`)."""
        return type(self).from_keywords(**{**self.to_dict(), **keywords})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def learning_rate(self, progress: float) -> float:
        """The learning rate at ``progress`` in [0, 1] of ``total_steps``."""
        if self.lr_schedule == "linear":
            p = min(max(progress, 0.0), 1.0)
            return self.lr + (self.lr_final - self.lr) * p
        return self.lr

    def hparams(self) -> dict[str, Any]:
        """Flat hyperparameters for TensorBoard."""
        flat = {k: v for k, v in self.to_dict().items() if k != "policy"}
        flat.update({f"policy.{k}": v for k, v in dataclasses.asdict(self.policy).items()})
        flat["algo"] = self.algo
        return flat
