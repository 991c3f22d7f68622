"""A3C on Ray: worker actors compute gradients, the learner on the driver applies them.

Each worker actor runs rollouts of its own env with the weights of its last call and
returns the gradient of the A3C loss (the same loss code as the local backend's
workers). The learner applies every gradient as it arrives (asynchronous, as Hogwild
A3C: a gradient may be one or two updates stale), puts the new weights in Ray's object
store once and sends that worker its next call. TensorBoard tags, checkpoints
(format, contents, resume) and the :class:`TrainResult` are the local
:class:`~btgym.algorithms.A3C`'s: a run can resume on the other backend.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import torch

from btgym.algorithms.a3c.a3c import A3C, _ChiefRun, _Frozen
from btgym.algorithms.common.training import (
    EpisodeBook,
    ProgressCallback,
    RateMeter,
    TrainResult,
    train_result,
)
from btgym.algorithms.distributed.base import RayTrainerMixin, weights_of
from btgym.algorithms.distributed.pool import WorkerPool
from btgym.errors import ConfigError
from btgym.log import get_logger

log = get_logger(__name__)


class RayA3C(RayTrainerMixin, A3C):
    """:class:`~btgym.algorithms.A3C` with its workers as Ray actors.

    Example::

        from btgym.algorithms.distributed import RayA3C
        with RayA3C(env_kwargs=dict(filename="sine.csv"), logdir="runs/a3c",
                    num_workers=8, total_steps=500_000, seed=0,
                    ray_config={"address": "auto"}) as algo:
            result = algo.train()

    See :class:`~btgym.algorithms.distributed.base.RayTrainerMixin` for ``ray_config``.
    """

    @property
    def n_workers(self) -> int:
        return self.config.num_workers

    def train(
        self,
        total_steps: int | None = None,
        *,
        resume: bool = False,
        callback: ProgressCallback | None = None,
    ) -> TrainResult:
        """As :meth:`btgym.algorithms.A3C.train`; a worker that dies is restarted by Ray
        and its rollout in flight is lost (:attr:`lost_rollouts`).

        Raises:
            WorkerLostError: a worker died more than ``max_restarts`` times.
            ConfigError: ``envs_per_worker`` > 1 (the Ray workers step one env each).
        """
        if self.config.envs_per_worker not in (None, 1):
            raise ConfigError(
                f"RayA3C workers step one env each, got envs_per_worker="
                f"{self.config.envs_per_worker} (vector-env workers run on the local backend)"
            )
        with self._ray_run():
            return super().train(total_steps, resume=resume, callback=callback)

    def _run_class(self) -> type[_ChiefRun]:
        return _RayA3CRun


class _RayA3CRun(_ChiefRun):
    """One :meth:`RayA3C.train` call: the local chief's summaries and checkpoints, with
    a :class:`WorkerPool` instead of processes, a queue and shared memory."""

    def __init__(self, algo, model, optimizer, counters, worker_rng, streams, ckpt) -> None:
        self.algo, self.cfg, self.ray = algo, algo.config, algo._ray
        self.model, self.optimizer = model, optimizer
        self.counters, self.worker_rng, self.streams = counters, worker_rng, streams
        self.logger = algo._logger(ckpt)
        self.book = EpisodeBook(self.logger, episodes=int(counters["episodes"]))
        self.global_steps = _Frozen(int(counters["env_steps"]))
        self.done: set[int] = set()
        self.train_acc: dict[str, list[float]] = defaultdict(list)
        self.rate = RateMeter(int(counters["env_steps"]))
        self.start_steps = int(counters["env_steps"])
        self.params = list(model.parameters())
        spec, conf = model.spec(), self.cfg.to_dict()
        env_group, image_every = algo.envs, self.cfg.image_every

        def args(i: int) -> tuple:
            return (
                i,
                "a3c",
                env_group.worker_spec(i),
                spec,
                conf,
                streams[i],
                worker_rng[i],
                image_every if i == 0 else 0,
            )

        self.pool = WorkerPool(self.ray, algo.ray_config, self.cfg.num_workers, args)
        self.workers = []  # the local chief's process list: none here
        self._turn = 0  # RayConfig.ordered: whose gradient is applied next

    def _start_workers(self) -> None:
        self.algo.pool = self.pool
        self.pool.start()

    def execute(self, callback: ProgressCallback | None) -> TrainResult:
        ray, cfg, pool = self.ray, self.cfg, self.pool
        t0 = time.monotonic()
        interrupted = False
        next_ckpt = self.steps + cfg.checkpoint_every
        next_log = self.steps + cfg.log_every
        last_cb = 0.0
        try:
            self._start_workers()
            weights = ray.put(weights_of(self.model))
            pending = {pool.call(i, "a3c_rollout", weights, self.steps): i for i in range(pool.n)}
            retry: dict[int, float] = {}
            stopping = False
            while pending or (retry and not stopping):
                now = time.monotonic()
                for i, at in list(retry.items()):
                    if now >= at and self.steps < cfg.total_steps:
                        del retry[i]
                        pending[pool.call(i, "a3c_rollout", weights, self.steps)] = i
                if not pending:
                    time.sleep(0.05)
                    continue
                ready, _ = ray.wait(self._waiting(pending), num_returns=1, timeout=0.1)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        out = ray.get(ref)
                    except Exception as exc:
                        retry[i] = time.monotonic() + pool.failed(i, exc)
                        continue
                    pool.ok(i, out)
                    self._apply(i, out)
                    self._turn = (i + 1) % pool.n
                    if self.steps < cfg.total_steps and not stopping:
                        weights = ray.put(weights_of(self.model))
                        pending[pool.call(i, "a3c_rollout", weights, self.steps)] = i
                if self.steps >= cfg.total_steps:
                    retry.clear()
                if self.steps >= next_log:
                    self._log_train()
                    next_log = self.steps + cfg.log_every
                if self.steps >= next_ckpt:
                    self._checkpoint(t0)
                    next_ckpt = self.steps + cfg.checkpoint_every
                if callback is not None and time.monotonic() - last_cb > 0.5 and not stopping:
                    last_cb = time.monotonic()
                    if callback(self._progress()) is False:
                        log.info("callback asked to stop")
                        stopping = True
                        retry.clear()
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: stopping workers and writing a final checkpoint")
        except BaseException:
            self._shutdown()
            self._finish(t0)
            raise
        self._shutdown()
        path = self._finish(t0)
        if callback is not None:
            callback(self._progress())
        return train_result("a3c", self, t0, path, interrupted)

    def _waiting(self, pending: dict[Any, int]) -> list[Any]:
        """The rollouts to wait on: all of them, or with ``RayConfig.ordered`` only the
        one of the worker whose turn it is (the next pending one in round-robin
        order), so gradients land in the same order in every run of a seed."""
        if not self.algo.ray_config.ordered:
            return list(pending)
        by_worker = {i: ref for ref, i in pending.items()}
        n = self.pool.n
        for k in range(n):
            ref = by_worker.get((self._turn + k) % n)
            if ref is not None:
                return [ref]
        return list(pending)

    def _apply(self, i: int, out: dict[str, Any]) -> None:
        """One worker's gradient onto the model, with the learning rate of now."""
        dev = self.model_device
        for p, g in zip(self.params, out["grads"]):
            p.grad = torch.tensor(g, device=dev)  # a copy: Ray's arrays are read-only
        lr = self.cfg.learning_rate(self.steps / self.cfg.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.global_steps.value += int(out["steps"])
        self.counters["updates"] += 1
        for key, value in {**out["scalars"], "learning_rate": lr}.items():
            self.train_acc[key].append(value)
        for stats in out["episodes"]:
            self.book.add(stats, self.steps, i)
        for image in out["images"]:
            self.book.image(image, self.steps)
        if out.get("rng") is not None:
            self.worker_rng[i] = out["rng"]

    @property
    def model_device(self) -> torch.device:
        return self.params[0].device

    def _shutdown(self) -> None:
        self.algo.lost_rollouts = self.pool.lost
        self.pool.stop(self.worker_rng)
        self.algo.pool = None
