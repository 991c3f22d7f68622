"""What A3C and PPO trainers share: construction, model building, checkpoints, hparams."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from btgym.algorithms.common.checkpoint import (
    check_logdir,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from btgym.algorithms.common.config import TrainConfig
from btgym.algorithms.common.device import resolve_device
from btgym.algorithms.common.envs import EnvFn, EnvGroup
from btgym.algorithms.common.logger import MetricLogger, Tags
from btgym.algorithms.common.policies import ActorCritic
from btgym.algorithms.common.seeding import Stream
from btgym.algorithms.common.vecenv import VectorFn
from btgym.errors import CheckpointError
from btgym.log import get_logger

log = get_logger(__name__)


class BaseTrainer:
    """Common constructor and helpers of :class:`~btgym.algorithms.A3C` and
    :class:`~btgym.algorithms.PPO`.

    Args:
        env_fns: one zero-argument env factory per worker / env (or one, repeated).
        logdir: run directory: TensorBoard event files and ``checkpoint.pt``.
        env_kwargs: instead of ``env_fns``: ``btgym.BTgymEnv`` keywords (the envs then
            share one data server; stored in checkpoints for ``btgym eval``);
            ``engine="vector"`` runs them on the numpy vector engine.
        vector_env: instead of either: a zero-argument factory of a gymnasium
            ``VectorEnv`` (``btgym.make_vec``, ``btgym.VectorBTgymEnv``; see
            :mod:`~btgym.algorithms.common.vecenv`).
        config: the algorithm's config; ``**keywords`` fill (or override) it.
        observation_space, action_space: skip the probe env that otherwise reads them.
    """

    config_cls: type[TrainConfig] = TrainConfig

    def __init__(
        self,
        env_fns: Sequence[EnvFn] | EnvFn | None = None,
        *,
        logdir: str | os.PathLike,
        env_kwargs: dict[str, Any] | None = None,
        config: TrainConfig | None = None,
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        vector_env: VectorFn | None = None,
        **keywords: Any,
    ) -> None:
        if config is None:
            config = self.config_cls.from_keywords(**keywords)
        elif keywords:
            config = config.replace(**keywords)
        self.config = config
        self.logdir = check_logdir(logdir)  # a named error now, not after the envs start
        self.device = resolve_device(config.device)
        self.envs = EnvGroup(
            self.n_envs, env_fns, env_kwargs, seed=config.seed, vector_env=vector_env
        )
        self._spaces = (
            (observation_space, action_space) if observation_space and action_space else None
        )

    @property
    def n_envs(self) -> int:
        raise NotImplementedError

    @property
    def checkpoint_file(self) -> Path:
        return checkpoint_path(self.logdir)

    # ------------------------------------------------------------------ pieces

    def _resume_payload(self, resume: bool) -> dict[str, Any] | None:
        if not resume:
            if self.checkpoint_file.exists():
                log.warning(
                    f"starting a fresh run in {self.logdir}: its checkpoint will be replaced "
                    "(pass resume=True / --resume to continue it)"
                )
            return None
        if not self.checkpoint_file.exists():
            log.warning(f"resume asked, but {self.checkpoint_file} does not exist: starting fresh")
            return None
        ckpt = load_checkpoint(self.checkpoint_file)
        if ckpt.get("algo") != self.config.algo:
            raise CheckpointError(
                f"{self.checkpoint_file} holds a {ckpt.get('algo')!r} run, not {self.config.algo!r}"
            )
        return ckpt

    def _build_model(self, ckpt: dict[str, Any] | None, stream: Stream) -> ActorCritic:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream.torch_seed)
            if ckpt is not None:
                model = ActorCritic.from_spec(ckpt["policy_spec"])
                model.load_state_dict(ckpt["model"])
            else:
                if self._spaces is None:
                    self._spaces = self.envs.spaces()
                model = ActorCritic(*self._spaces, self.config.policy)
        return model

    def _save(
        self,
        model: ActorCritic,
        optimizer: torch.optim.Optimizer,
        counters: dict[str, Any],
        **extra: Any,
    ) -> Path:
        payload = {
            "algo": self.config.algo,
            "policy_spec": model.spec(),
            "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "counters": dict(counters),
            "config": self.config.to_dict(),
            "env_kwargs": self.envs.env_kwargs,
            **extra,
        }
        return save_checkpoint(self.checkpoint_file, payload)

    def _logger(self, ckpt: dict[str, Any] | None) -> MetricLogger:
        purge = int(ckpt["counters"]["env_steps"]) if ckpt is not None else None
        logger = MetricLogger(self.logdir, purge_step=purge)
        hp = self.config.hparams()
        hp.update(device=str(self.device), n_envs=self.n_envs)
        logger.hparams(
            hp, (Tags.EPISODE_RETURN, Tags.EPISODE_BROKER_VALUE, Tags.EPISODE_MAX_DRAWDOWN)
        )
        return logger

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        """Set torch's thread count for the duration of a ``train`` call."""
        n = self.config.torch_threads
        old = torch.get_num_threads()
        if n is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(old)

    def close(self) -> None:
        """Stop what the envs share (the data server started for ``env_kwargs``)."""
        self.envs.close()

    def __enter__(self) -> BaseTrainer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
