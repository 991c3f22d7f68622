"""What :class:`RayA3C` and :class:`RayPPO` add to the local trainers' constructor."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from btgym.algorithms.common.config import TrainConfig
from btgym.algorithms.common.device import resolve_device
from btgym.algorithms.common.envs import EnvFn
from btgym.algorithms.distributed.config import RayConfig
from btgym.algorithms.distributed.envs import RayEnvGroup
from btgym.algorithms.distributed.runtime import ray_session


class RayTrainerMixin:
    """The local trainer's constructor, with envs built in the worker actors.

    Args:
        ray_config: a :class:`RayConfig` or a dict of its keywords (address, max_restarts, ...).
        (others: as :class:`~btgym.algorithms.common.base.BaseTrainer`; ``env_fns`` are
        pickled to the workers, ``env_kwargs`` give each worker its own data server)
    """

    config: TrainConfig

    def __init__(
        self,
        env_fns: Sequence[EnvFn] | EnvFn | None = None,
        *,
        logdir: str | os.PathLike,
        env_kwargs: dict[str, Any] | None = None,
        config: TrainConfig | None = None,
        ray_config: RayConfig | dict[str, Any] | None = None,
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        **keywords: Any,
    ) -> None:
        self.ray_config = RayConfig.coerce(ray_config)
        # the local constructor (config, logdir checks, device) with a stand-in env
        # factory: nothing starts on the driver, the workers build the real envs
        super().__init__(  # type: ignore[call-arg]
            _no_env,
            logdir=logdir,
            config=config,
            observation_space=observation_space,
            action_space=action_space,
            **keywords,
        )
        if self.ray_config.learner_device is not None:
            self.device = resolve_device(self.ray_config.learner_device)
        self.envs = RayEnvGroup(
            self.n_workers, self.envs_per_worker, env_fns, env_kwargs, seed=self.config.seed
        )
        #: the worker pool while training (tests and callbacks may look at it)
        self.pool: Any = None
        #: rollouts lost to worker deaths in the last ``train`` call
        self.lost_rollouts = 0
        self._ray: Any = None  # the ray module while train() runs

    @property
    def n_workers(self) -> int:
        raise NotImplementedError

    @property
    def envs_per_worker(self) -> int:
        return 1

    @contextlib.contextmanager
    def _ray_run(self) -> Iterator[Any]:
        """Ray for one ``train`` call (and the shared data server with ``data="shared"``)."""
        with ray_session(self.ray_config) as ray:
            self._ray = ray
            if self.ray_config.data == "shared":
                self.envs.start_shared(ray.util.get_node_ip_address(), self.config.seed)
            try:
                yield ray
            finally:
                self.envs.close()

    def global_time(self) -> int | None:
        """The run's global time (ns): the latest over the workers' data servers
        (``None`` before any data was served, or with ``env_fns``). While training only."""
        times = [i.get("global_time") for i in self._data_infos() if i]
        times = [t for t in times if t is not None]
        return int(max(times)) if times else None

    def broadcast(self, message: Any, timestamp: Any = None) -> list[dict[str, Any] | None]:
        """Set the broadcast message on every worker's data server, or on the shared one
        (while training)."""
        pool = self._live_pool()
        if self.envs.shared_server is not None:
            with self.envs.shared_server.client() as client:
                return [client.set_broadcast(message, timestamp)]
        refs = [pool.call(i, "set_broadcast", message, timestamp) for i in range(pool.n)]
        return list(pool.ray.get(refs, timeout=60))

    def _data_infos(self) -> list[dict[str, Any] | None]:
        pool = self._live_pool()
        if self.envs.shared_server is not None:
            with self.envs.shared_server.client() as client:
                return [client.info()]
        return list(pool.ray.get([pool.call(i, "data_info") for i in range(pool.n)], timeout=60))

    def _live_pool(self) -> Any:
        from btgym.errors import ConfigError

        if self.pool is None or not self.pool.actors:
            raise ConfigError("the Ray workers exist only while train() runs")
        return self.pool


def _no_env() -> Any:
    """The stand-in env factory of the local constructor (never called)."""
    raise AssertionError("the Ray backend builds its envs in the worker actors")


def weights_of(model: Any) -> list[np.ndarray]:
    """The model's parameters as numpy arrays (what workers load)."""
    return [p.detach().cpu().numpy() for p in model.parameters()]
