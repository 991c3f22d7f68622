"""PPO over a gymnasium vector env (clipped objective, GAE, value clipping).

Rollouts of ``n_steps`` x ``num_envs`` steps, then ``n_epochs`` passes of
``n_minibatches`` shuffled minibatches (whole env sequences for an LSTM policy).

The vector env is btgym's native one where the envs allow it (``vec_env="auto"``,
see :class:`PPOConfig`): ``BTgymVectorEnv`` (``btgym.make_vec``) over process-mode
servers or the numpy ``VectorBTgymEnv``, in ``NEXT_STEP`` autoreset mode:
:class:`~btgym.algorithms.common.vecenv.VecEpisodeMonitor` keeps the per-lane
episode statistics and marks each lane's autoreset step, which is left out of the
losses (and of the reward normaliser's statistics). gymnasium's Async/SyncVectorEnv
run in ``SAME_STEP`` mode, each env wrapped in
:class:`~btgym.algorithms.common.monitor.EpisodeMonitor`, so a finished episode's
statistics and final observation arrive with the step that ended it. Time-limit
truncations are bootstrapped from the final observation either way. Checkpoints are
taken between updates.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from btgym.algorithms.common.actors import make_actor, state_to_torch
from btgym.algorithms.common.base import BaseTrainer
from btgym.algorithms.common.buffers import RolloutBuffer
from btgym.algorithms.common.envs import GuardedEnvFn
from btgym.algorithms.common.logger import Tags
from btgym.algorithms.common.monitor import IMAGE_KEY, STATS_KEY, EpisodeMonitor
from btgym.algorithms.common.normalize import RewardNormalizer
from btgym.algorithms.common.policies import ActorCritic
from btgym.algorithms.common.seeding import rng_state, set_rng_state, spawn_streams
from btgym.algorithms.common.training import (
    EpisodeBook,
    Progress,
    ProgressCallback,
    RateMeter,
    TrainResult,
    train_result,
)
from btgym.algorithms.common.vecenv import VecEpisodeMonitor, autoreset_mode
from btgym.algorithms.ppo.config import PPOConfig
from btgym.errors import ConfigError
from btgym.log import get_logger

log = get_logger(__name__)


class PPO(BaseTrainer):
    """Proximal policy optimisation on ``num_envs`` envs.

    Example::

        from btgym.algorithms import PPO
        with PPO(env_kwargs=dict(filename="sine.csv"), logdir="runs/ppo",
                 num_envs=2, total_steps=50_000, seed=0) as algo:
            result = algo.train()

    See :class:`~btgym.algorithms.common.base.BaseTrainer` for the arguments and
    :class:`PPOConfig` for the keywords.
    """

    config_cls = PPOConfig
    config: PPOConfig

    @property
    def n_envs(self) -> int:
        return self.config.num_envs

    @property
    def native(self) -> bool:
        """Whether training steps btgym's native vector env (see :class:`PPOConfig`)."""
        kind = self.config.vec_env
        return kind == "native" or (kind == "auto" and self.envs.native)

    def make_vec_env(self) -> gym.vector.VectorEnv:
        """The vector env: native (NEXT_STEP autoreset) or gymnasium's (SAME_STEP, env 0
        renders episode images)."""
        cfg = self.config
        if self.native:
            venv = self.envs.vector()()
            if venv.num_envs != cfg.num_envs:
                venv.close()
                raise ConfigError(
                    f"the vector env has {venv.num_envs} envs, the config num_envs="
                    f"{cfg.num_envs}: pass num_envs={venv.num_envs}"
                )
            return venv
        if self.envs.vector_env is not None:
            raise ConfigError(f"vec_env={cfg.vec_env!r} needs env_fns or env_kwargs")
        fns = [
            GuardedEnvFn(
                fn,
                wrap=functools.partial(
                    EpisodeMonitor, image_every=cfg.image_every if i == 0 else 0
                ),
            )
            for i, fn in enumerate(self.envs.fns)
        ]
        mode = gym.vector.AutoresetMode.SAME_STEP
        if cfg.vec_env == "sync":
            return gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
        return gym.vector.AsyncVectorEnv(fns, context="spawn", autoreset_mode=mode)

    def train(
        self,
        total_steps: int | None = None,
        *,
        resume: bool = False,
        callback: ProgressCallback | None = None,
    ) -> TrainResult:
        """Train until ``total_steps`` env steps (all envs together) are done.

        Same contract as :meth:`btgym.algorithms.A3C.train`.
        """
        if total_steps is not None:
            self.config = self.config.replace(total_steps=int(total_steps))
        ckpt = self._resume_payload(resume)
        model_stream, streams = spawn_streams(self.config.seed, self.config.num_envs)
        model = self._build_model(ckpt, model_stream).to(self.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.config.lr, eps=1e-5)
        rng = model_stream.rng
        torch.manual_seed(model_stream.torch_seed)
        counters = {"env_steps": 0, "episodes": 0, "updates": 0, "wall_time": 0.0}
        if ckpt is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
            counters.update(ckpt["counters"])
            set_rng_state(ckpt["rng"], rng)
            log.info(f"resuming ppo from step {counters['env_steps']} ({self.checkpoint_file})")
        seeds = (
            [s.env_seed for s in streams]
            if ckpt is None
            else [int(x) for x in rng.integers(2**31 - 1, size=len(streams))]
        )
        with self._threads():
            run = self._run_class()(self, model, optimizer, rng, counters, ckpt)
            return run.execute(seeds, callback)

    def _run_class(self) -> type[_PPORun]:
        """What runs one :meth:`train` call (the Ray backend swaps in its own)."""
        return _PPORun


class _PPORun:
    """One :meth:`PPO.train` call."""

    def __init__(self, algo: PPO, model: ActorCritic, optimizer, rng, counters, ckpt) -> None:
        self.algo, self.cfg, self.model, self.optimizer = algo, algo.config, model, optimizer
        self.rng, self.counters, self.dev = rng, counters, algo.device
        self.logger = algo._logger(ckpt)
        self.book = EpisodeBook(self.logger, episodes=int(counters["episodes"]))
        self.rate = RateMeter(int(counters["env_steps"]))
        self.steps = int(counters["env_steps"])
        self.start_steps = self.steps
        self.actor = make_actor(model, rng, self.cfg.rollout_actor)
        self.norm = (
            RewardNormalizer(self.cfg.num_envs, self.cfg.gamma, self.cfg.reward_clip)
            if self.cfg.normalize_reward
            else None
        )
        if self.norm is not None and ckpt is not None and ckpt.get("reward_norm"):
            self.norm.load(ckpt["reward_norm"])
        self.monitor: VecEpisodeMonitor | None = None
        self.next_step = False

    def execute(self, seeds: list[int], callback: ProgressCallback | None) -> TrainResult:
        cfg, model = self.cfg, self.model
        t0 = time.monotonic()
        interrupted = False
        venv = None
        try:
            venv = self.algo.make_vec_env()
            buf = RolloutBuffer(
                cfg.n_steps,
                cfg.num_envs,
                {k: tuple(_leaf(venv.single_observation_space, k).shape) for k in model.keys},
                model.adapter.dim,
                torch.long if model.adapter.kind == "categorical" else torch.float32,
                self.dev,
            )
            obs, info = venv.reset(seed=seeds)
            self.next_step = autoreset_mode(venv) is gym.vector.AutoresetMode.NEXT_STEP
            self.monitor = VecEpisodeMonitor(venv, cfg.image_every) if self.algo.native else None
            if self.monitor is not None:
                self.monitor.reset(info)
            state = self.actor.initial_state(cfg.num_envs)
            starts = np.ones(cfg.num_envs, dtype=np.float32)
            next_ckpt = self.steps + cfg.checkpoint_every
            while self.steps < cfg.total_steps:
                lr = cfg.learning_rate(self.steps / cfg.total_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                obs, state, starts = self._rollout(venv, buf, obs, state, starts)
                scalars = self._update(buf)
                self.actor.refresh()
                self.steps += cfg.n_steps * cfg.num_envs
                self.counters["updates"] += 1
                scalars["learning_rate"] = lr
                self._log(scalars)
                if self.steps >= next_ckpt:
                    self._checkpoint(t0)
                    next_ckpt = self.steps + cfg.checkpoint_every
                if callback is not None and callback(self._progress()) is False:
                    log.info("callback asked to stop")
                    break
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: closing envs and writing a final checkpoint")
        except BaseException:
            _close(venv, terminate=True)
            self._finish(t0)
            raise
        _close(venv, terminate=interrupted)
        path = self._finish(t0)
        if callback is not None:
            callback(self._progress())
        return train_result("ppo", self, t0, path, interrupted)

    # ------------------------------------------------------------------ rollout

    def _rollout(self, venv, buf: RolloutBuffer, obs, state, starts):
        cfg, model, dev, actor = self.cfg, self.model, self.dev, self.actor
        monitor, next_step = self.monitor, self.next_step
        buf.reset(state_to_torch(state, dev))
        for _ in range(cfg.n_steps):
            actions, log_probs, values, state = actor.act(obs, state, starts)
            obs_t = model.obs_to_tensor(obs, dev)
            obs, rewards, term, trunc, infos = venv.step(model.adapter.to_env_batch(actions))
            rewards = np.asarray(rewards, dtype=np.float64) * cfg.reward_scale
            term, trunc = np.asarray(term, bool), np.asarray(trunc, bool)
            step = self.steps + (buf.pos + 1) * cfg.num_envs  # as logged before
            if monitor is not None:
                valid, ended = monitor.step(rewards, term, trunc, infos)
                self._ended(ended, monitor.image, step)
            else:
                valid = None
                self._episodes(infos, step)
            if self.norm is not None:
                rewards = self.norm(rewards, term | trunc, valid)
            cut = trunc & ~term if valid is None else trunc & ~term & valid
            for i in np.flatnonzero(cut):  # time limit: bootstrap from V(final obs)
                sub = _sub_state(state, int(i))
                final = _lane(obs, int(i)) if next_step else _batch1(infos["final_obs"][i])
                rewards[i] += cfg.gamma * float(actor.value(final, sub, np.zeros(1))[0])
            ended_now = term | trunc
            if valid is not None:  # an autoreset step is no experience: it cuts like a done
                ended_now = ended_now | ~valid
            dones = ended_now.astype(np.float32)
            buf.add(
                obs_t,
                torch.as_tensor(actions, device=dev),
                torch.as_tensor(log_probs, dtype=torch.float32, device=dev),
                torch.as_tensor(values, dtype=torch.float32, device=dev),
                torch.as_tensor(rewards, dtype=torch.float32, device=dev),
                torch.as_tensor(dones, device=dev),
                torch.as_tensor(starts, dtype=torch.float32, device=dev),
                None if valid is None else torch.as_tensor(valid, dtype=torch.float32, device=dev),
            )
            # NEXT_STEP: after a done the lane still shows its final observation; its
            # new episode starts at the observation after the autoreset step
            starts = dones if valid is None else (~valid).astype(np.float32)
            if valid is not None:
                starts = np.maximum(starts, (term | trunc).astype(np.float32))
        last = actor.value(obs, state, starts)
        buf.compute(
            torch.as_tensor(last, dtype=torch.float32, device=dev), cfg.gamma, cfg.gae_lambda
        )
        return obs, state, starts

    def _ended(self, ended: list[tuple[int, dict[str, float]]], image, step: int) -> None:
        for lane, stats in ended:
            self.book.add(stats, step, lane)
        if image is not None:
            self.book.image(image, step)

    def _episodes(self, infos: dict[str, Any], step: int) -> None:
        final = infos.get("final_info")
        if not final or STATS_KEY not in final:
            return
        stats, mask = final[STATS_KEY], final.get(f"_{STATS_KEY}")
        for i in np.flatnonzero(mask if mask is not None else infos["_final_info"]):
            self.book.add(
                {k: float(v[i]) for k, v in stats.items() if not k.startswith("_")}, step, int(i)
            )
        if IMAGE_KEY in final:
            for i in np.flatnonzero(final[f"_{IMAGE_KEY}"]):
                self.book.image(np.asarray(final[IMAGE_KEY][i], dtype=np.uint8), step)

    # ------------------------------------------------------------------ update

    def _update(self, buf: RolloutBuffer) -> dict[str, float]:
        cfg, model = self.cfg, self.model
        acc: dict[str, list[float]] = {
            k: []
            for k in (
                "policy_loss",
                "value_loss",
                "entropy",
                "grad_norm",
                "approx_kl",
                "clip_fraction",
            )
        }
        for _ in range(cfg.n_epochs):
            for batch in buf.minibatches(cfg.n_minibatches, self.rng, model.recurrent):
                out = self._loss(batch)
                self.optimizer.zero_grad(set_to_none=True)
                out.pop("loss").backward()
                gn = torch.nn.utils.clip_grad_norm_(
                    model.parameters(), cfg.max_grad_norm, foreach=True
                )
                self.optimizer.step()
                out["grad_norm"] = float(gn)
                for k, v in out.items():
                    acc[k].append(float(v))
            if cfg.target_kl is not None and np.mean(acc["approx_kl"]) > 1.5 * cfg.target_kl:
                break
        return {k: float(np.mean(v)) for k, v in acc.items() if v}

    def _loss(self, batch) -> dict[str, Any]:
        cfg = self.cfg
        log_probs, entropy, values = self.model.evaluate(
            batch.obs, batch.actions, batch.state, batch.starts
        )
        mean = _masked_mean(batch.valid)
        adv = batch.advantages
        if cfg.normalize_advantage and adv.numel() > 1:
            mu = mean(adv)
            adv = (adv - mu) / (mean((adv - mu) ** 2).sqrt() + 1e-8)
        log_ratio = log_probs - batch.log_probs
        ratio = log_ratio.exp()
        clipped = ratio.clamp(1.0 - cfg.clip_range, 1.0 + cfg.clip_range)
        policy_loss = mean(torch.max(-adv * ratio, -adv * clipped))
        if cfg.clip_range_vf is not None:
            v_clip = batch.values + (values - batch.values).clamp(
                -cfg.clip_range_vf, cfg.clip_range_vf
            )
            value_loss = 0.5 * mean(
                torch.max((values - batch.returns) ** 2, (v_clip - batch.returns) ** 2)
            )
        else:
            value_loss = 0.5 * mean((values - batch.returns) ** 2)
        ent = mean(entropy)
        loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * ent
        with torch.no_grad():
            approx_kl = mean((ratio - 1.0) - log_ratio)
            clip_fraction = mean(((ratio - 1.0).abs() > cfg.clip_range).float())
        return {
            "loss": loss,
            "policy_loss": policy_loss.detach(),
            "value_loss": value_loss.detach(),
            "entropy": ent.detach(),
            "approx_kl": approx_kl,
            "clip_fraction": clip_fraction,
        }

    # ------------------------------------------------------------------ outputs

    def _log(self, scalars: dict[str, float]) -> None:
        tags = {
            "policy_loss": Tags.POLICY_LOSS,
            "value_loss": Tags.VALUE_LOSS,
            "entropy": Tags.ENTROPY,
            "grad_norm": Tags.GRAD_NORM,
            "learning_rate": Tags.LEARNING_RATE,
            "approx_kl": "train/approx_kl",
            "clip_fraction": "train/clip_fraction",
        }
        for key, value in scalars.items():
            self.logger.scalar(tags[key], value, self.steps)
        self.logger.scalar(Tags.STEPS_PER_SEC, self.rate.rate(self.steps), self.steps)

    def _progress(self) -> Progress:
        return Progress(
            self.steps,
            self.cfg.total_steps,
            self.book.episodes,
            self.book.mean_return,
            self.rate.last,
        )

    def _finish(self, t0: float) -> Any:
        """The exit checkpoint (also after a failure), then close the summaries."""
        try:
            return self._checkpoint(t0)
        finally:
            self.logger.close()

    def _checkpoint(self, t0: float):
        counters = dict(self.counters)
        counters.update(
            env_steps=self.steps,
            episodes=self.book.episodes,
            wall_time=float(self.counters["wall_time"]) + time.monotonic() - t0,
        )
        norm = self.norm.state() if self.norm is not None else None
        return self.algo._save(
            self.model, self.optimizer, counters, rng=rng_state(self.rng), reward_norm=norm
        )


def _close(venv: gym.vector.VectorEnv | None, terminate: bool) -> None:
    if venv is None:
        return
    try:
        venv.close(terminate=terminate)
    except Exception as exc:  # a broken env must not hide the original error
        log.warning(f"closing the vector env failed: {exc}")


def _sub_state(state: tuple, i: int) -> tuple:
    """Env ``i``'s recurrent state: numpy ``(B, H)`` rows or torch ``(1, B, H)`` columns."""
    return tuple(s[:, i : i + 1] if isinstance(s, torch.Tensor) else s[i : i + 1] for s in state)


def _masked_mean(valid: torch.Tensor | None):
    """``x.mean()``, or the mean over ``valid`` entries (a recurrent batch's mask)."""
    if valid is None:
        return lambda x: x.mean()
    total = valid.sum().clamp(min=1.0)
    return lambda x: (x * valid).sum() / total


def _lane(obs: Any, i: int) -> Any:
    """Lane ``i`` of a batched observation, as a batch of one."""
    if isinstance(obs, dict):
        return {k: np.asarray(v)[i : i + 1] for k, v in obs.items()}
    return np.asarray(obs)[i : i + 1]


def _batch1(obs: Any) -> Any:
    if isinstance(obs, dict):
        return {k: np.asarray(v)[None] for k, v in obs.items()}
    return np.asarray(obs)[None]


def _leaf(space: gym.Space, key: str) -> gym.Space:
    return space if key == "" else space[key]
