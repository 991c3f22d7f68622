"""PPO on Ray: worker actors collect rollouts, the learner on the driver updates.

Synchronous, as the local :class:`~btgym.algorithms.PPO`: the learner puts its
weights in Ray's object store once per update, every worker steps its
``envs_per_worker`` envs ``n_steps`` times with them and returns the arrays; the
learner normalises rewards over all envs, adds the time-limit bootstraps, fills one
``(n_steps, num_envs)`` buffer and runs the same update (GAE, clipped loss, epochs of
minibatches). A worker that dies mid-rollout is restarted by Ray and asked again: one
rollout of that worker is lost, the update waits for the new one.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from btgym.algorithms.common.buffers import RolloutBuffer
from btgym.algorithms.common.seeding import Stream
from btgym.algorithms.common.training import ProgressCallback, TrainResult, train_result
from btgym.algorithms.distributed.base import RayTrainerMixin, weights_of
from btgym.algorithms.distributed.pool import WorkerPool
from btgym.algorithms.ppo.ppo import PPO, _leaf, _PPORun
from btgym.errors import ConfigError
from btgym.log import get_logger

log = get_logger(__name__)


class RayPPO(RayTrainerMixin, PPO):
    """:class:`~btgym.algorithms.PPO` with its envs in Ray worker actors
    (``num_envs / ray_config.envs_per_worker`` workers).

    Example::

        from btgym.algorithms.distributed import RayPPO
        with RayPPO(env_kwargs=dict(filename="sine.csv"), logdir="runs/ppo", num_envs=8,
                    ray_config={"address": "auto", "envs_per_worker": 2}) as algo:
            algo.train()
    """

    @property
    def n_workers(self) -> int:
        k = self.envs_per_worker
        if self.config.num_envs % k:
            raise ConfigError(
                f"num_envs={self.config.num_envs} is not a multiple of envs_per_worker={k}"
            )
        return self.config.num_envs // k

    @property
    def envs_per_worker(self) -> int:
        return self.ray_config.envs_per_worker

    def make_vec_env(self) -> Any:
        raise ConfigError("RayPPO's envs live in its worker actors, not in a vector env")

    def train(
        self,
        total_steps: int | None = None,
        *,
        resume: bool = False,
        callback: ProgressCallback | None = None,
    ) -> TrainResult:
        """As :meth:`btgym.algorithms.PPO.train` (see :meth:`RayA3C.train` for deaths)."""
        with self._ray_run():
            return super().train(total_steps, resume=resume, callback=callback)

    def _run_class(self) -> type[_PPORun]:
        return _RayPPORun


class _RayPPORun(_PPORun):
    """One :meth:`RayPPO.train` call: the local run's update, summaries and checkpoints,
    with a :class:`WorkerPool` instead of a vector env."""

    def execute(self, seeds: list[int], callback: ProgressCallback | None) -> TrainResult:
        r = self
        cfg, algo, ray = self.cfg, self.algo, self.algo._ray
        k, n_workers = algo.envs_per_worker, algo.n_workers
        spec, conf = r.model.spec(), cfg.to_dict()

        def args(i: int) -> tuple:
            return (
                i,
                "ppo",
                algo.envs.worker_spec(i),
                spec,
                conf,
                Stream(
                    rng=np.random.default_rng(seeds[i * k]), torch_seed=seeds[i * k], env_seed=0
                ),
                None,
                cfg.image_every if i == 0 else 0,
                seeds[i * k : (i + 1) * k],
            )

        pool = self.pool = WorkerPool(ray, algo.ray_config, n_workers, args)
        t0 = time.monotonic()
        interrupted = False
        try:
            algo.pool = pool
            pool.start()
            model = r.model
            space = model.observation_space
            buf = RolloutBuffer(
                cfg.n_steps,
                cfg.num_envs,
                {key: tuple(_leaf(space, key).shape) for key in model.keys},
                model.adapter.dim,
                torch.long if model.adapter.kind == "categorical" else torch.float32,
                r.dev,
            )
            next_ckpt = r.steps + cfg.checkpoint_every
            while r.steps < cfg.total_steps:
                lr = cfg.learning_rate(r.steps / cfg.total_steps)
                for group in r.optimizer.param_groups:
                    group["lr"] = lr
                self._fill(buf, self._gather(ray.put(weights_of(model))))
                scalars = r._update(buf)
                r.steps += cfg.n_steps * cfg.num_envs
                r.counters["updates"] += 1
                scalars["learning_rate"] = lr
                r._log(scalars)
                if r.steps >= next_ckpt:
                    r._checkpoint(t0)
                    next_ckpt = r.steps + cfg.checkpoint_every
                if callback is not None and callback(r._progress()) is False:
                    log.info("callback asked to stop")
                    break
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: stopping workers and writing a final checkpoint")
        except BaseException:
            self._stop()
            r._finish(t0)
            raise
        self._stop()
        path = r._finish(t0)
        if callback is not None:
            callback(r._progress())
        return train_result("ppo", r, t0, path, interrupted)

    def _stop(self) -> None:
        self.algo.lost_rollouts = self.pool.lost
        self.pool.stop()
        self.algo.pool = None

    def _gather(self, weights: Any) -> list[dict[str, Any]]:
        """One rollout of every worker (a dead worker's again, once Ray restarted it)."""
        ray, pool, n = self.algo._ray, self.pool, self.cfg.n_steps
        results: list[dict[str, Any] | None] = [None] * pool.n
        pending = {pool.call(i, "ppo_rollout", weights, n): i for i in range(pool.n)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    results[i] = ray.get(ref)
                    pool.ok(i, results[i])
                except Exception as exc:
                    time.sleep(pool.failed(i, exc))
                    pending[pool.call(i, "ppo_rollout", weights, n)] = i
        return results  # type: ignore[return-value]

    def _fill(self, buf: RolloutBuffer, parts: list[dict[str, Any]]) -> None:
        """The workers' arrays into ``buf`` (env axis in worker order), then GAE."""
        r, cfg, dev = self, self.cfg, self.dev
        cat = lambda name: np.concatenate([p[name] for p in parts], axis=1)  # noqa: E731
        k = self.algo.envs_per_worker
        obs = {
            key: np.concatenate([p["obs"][key] for p in parts], axis=1) for key in parts[0]["obs"]
        }
        actions, log_probs, values = cat("actions"), cat("log_probs"), cat("values")
        rewards, terms, truncs, boot, starts = (
            cat(n) for n in ("rewards", "terms", "truncs", "boot", "starts")
        )
        state0 = tuple(
            np.concatenate([p["state0"][j] for p in parts], axis=0)
            for j in range(len(parts[0]["state0"]))
        )
        buf.reset(tuple(torch.as_tensor(s, device=dev).unsqueeze(0) for s in state0))
        for t in range(cfg.n_steps):
            dones = terms[t] | truncs[t]
            rew = rewards[t] if r.norm is None else r.norm(rewards[t], dones)
            rew = rew + cfg.gamma * boot[t]
            buf.add(
                {key: torch.as_tensor(v[t], device=dev) for key, v in obs.items()},
                torch.as_tensor(actions[t], device=dev),
                torch.as_tensor(log_probs[t], dtype=torch.float32, device=dev),
                torch.as_tensor(values[t], dtype=torch.float32, device=dev),
                torch.as_tensor(rew, dtype=torch.float32, device=dev),
                torch.as_tensor(dones.astype(np.float32), device=dev),
                torch.as_tensor(starts[t], dtype=torch.float32, device=dev),
            )
        last = np.concatenate([p["last"] for p in parts])
        buf.compute(
            torch.as_tensor(last, dtype=torch.float32, device=dev), cfg.gamma, cfg.gae_lambda
        )
        events = sorted(
            (t, i * k + env, stats) for i, p in enumerate(parts) for t, env, stats in p["episodes"]
        )
        for t, env, stats in events:
            r.book.add(stats, r.steps + t * cfg.num_envs, env)
        for p in parts:  # (PPO's checkpoint keeps the learner's RNG only, as the local PPO)
            for t, image in p["images"]:
                r.book.image(image, r.steps + t * cfg.num_envs)
