"""The body of a Ray rollout worker actor: its envs, a CPU copy of the policy.

:class:`RolloutWorker` is a plain class; :func:`~.runtime.remote_worker_class` makes
it a Ray actor (restarted by Ray when it dies). Every call carries the learner's
current weights (a list of numpy arrays that Ray's object store hands to every worker
on a node without copying), so a restarted worker needs nothing but its next call.

- A3C (:meth:`a3c_rollout`): up to ``rollout_steps`` steps of its one env, then the
  local gradient of the A3C loss, computed by the same code as the local backend's
  worker (:class:`btgym.algorithms.a3c.worker._Worker`); the learner applies it.
- PPO (:meth:`ppo_rollout`): ``n_steps`` steps of its ``envs_per_worker`` envs (a sync
  vector env, ``SAME_STEP`` autoreset like the local PPO); the learner does the rest.

Results are plain dicts of numpy arrays, floats and strings.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from btgym.algorithms.a3c.worker import _batch1, _Worker, rng_from_wire, rng_to_wire
from btgym.algorithms.common.actors import make_actor
from btgym.algorithms.common.monitor import IMAGE_KEY, STATS_KEY, EpisodeMonitor
from btgym.algorithms.common.normalize import RewardNormalizer
from btgym.algorithms.common.policies import ActorCritic
from btgym.algorithms.common.seeding import Stream
from btgym.algorithms.distributed.envs import WorkerEnvs
from btgym.errors import ConfigError
from btgym.log import get_logger

log = get_logger(__name__)


class _Outbox(list):
    """Collects what the local worker would put on the chief's queue."""

    def put(self, item: tuple) -> None:
        self.append(item)


class _GradSink:
    """Takes the place of the shared optimizer: the gradient stays on the parameters
    for the learner (the learner sets its own learning rate)."""

    def __init__(self) -> None:
        self.param_groups: list[dict[str, Any]] = [{"lr": 0.0}]

    def step(self) -> None:
        pass


def _config(algo: str, config: dict[str, Any]) -> Any:
    if algo == "a3c":
        from btgym.algorithms.a3c.config import A3CConfig

        return A3CConfig.from_keywords(**config)
    if algo == "ppo":
        from btgym.algorithms.ppo.config import PPOConfig

        return PPOConfig.from_keywords(**config)
    raise ConfigError(f"algorithm {algo!r} is not one of ['a3c', 'ppo']")


def _state_np(state: tuple) -> tuple[np.ndarray, ...]:
    """A recurrent state as numpy ``(B, H)`` rows (numpy actors' form)."""
    return tuple(s[0].detach().cpu().numpy() if isinstance(s, torch.Tensor) else s for s in state)


class RolloutWorker:
    """One worker actor.

    Args:
        index: worker number (episode tags ``worker_<index>/...``).
        algo: ``"a3c"`` or ``"ppo"``.
        env_spec: from :meth:`~.envs.RayEnvGroup.worker_spec`.
        policy_spec: :meth:`ActorCritic.spec` of the learner's model.
        config: the trainer's config as a dict.
        stream: this worker's random stream; rng_state: a checkpointed state (resume).
        image_every: episode images every K episodes (0: off).
        env_seeds: PPO: first reset seeds of this worker's envs.
    """

    def __init__(
        self,
        index: int,
        algo: str,
        env_spec: dict[str, Any],
        policy_spec: dict[str, Any],
        config: dict[str, Any],
        stream: Stream,
        rng_state: dict[str, Any] | None = None,
        image_every: int = 0,
        env_seeds: list[int] | None = None,
    ) -> None:
        import ray

        self.index, self.algo = index, algo
        self.cfg = cfg = _config(algo, config)
        with warnings.catch_warnings():  # Ray's own property warns about its internals
            warnings.simplefilter("ignore", DeprecationWarning)
            self.reborn = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        torch.set_num_threads(cfg.torch_threads or 1)
        torch.manual_seed(stream.torch_seed)
        rng = stream.rng
        if self.reborn:  # a restart draws new numbers (and new data) rather than replaying
            rng = np.random.default_rng([stream.env_seed, os.getpid(), time.time_ns()])
            torch.manual_seed(int(rng.integers(2**62)))
        self.rng = rng
        self.envs = WorkerEnvs(env_spec, seed_offset=os.getpid() if self.reborn else 0)
        self.model = ActorCritic.from_spec(policy_spec)
        self.params = [p.data for p in self.model.parameters()]
        self.last_rng = time.monotonic()
        self.info: dict[str, Any] = {"pid": os.getpid(), "reborn": self.reborn}
        try:
            if algo == "a3c":
                self._a3c_init(policy_spec, rng_state, stream, image_every)
            else:
                self._ppo_init(rng_state, env_seeds, image_every)
        except BaseException:
            self.close()
            raise
        if self.reborn:
            log.warning(f"worker {index} restarted by Ray (pid {os.getpid()})")

    # ------------------------------------------------------------------ common

    def ready(self) -> dict[str, Any]:
        """``pid``, ``node_id``, ``reborn`` (answers once the envs are built)."""
        import ray

        return {**self.info, "node_id": ray.get_runtime_context().get_node_id()}

    def pid(self) -> int:
        return os.getpid()

    @torch.no_grad()
    def _load(self, weights: list[np.ndarray]) -> None:
        for p, w in zip(self.params, weights):
            p.copy_(torch.from_numpy(np.array(w)))

    def data_info(self) -> dict[str, Any] | None:
        """This worker's data server: ``info()`` (``global_time``, trials served, ...)."""
        client = self.envs.data_client()
        if client is None:
            return None
        try:
            return client.info()
        finally:
            client.close()

    def set_broadcast(self, message: Any, timestamp: Any = None) -> dict[str, Any] | None:
        """Set the broadcast message (and maybe advance global time) on this worker's server."""
        client = self.envs.data_client()
        if client is None:
            return None
        try:
            return client.set_broadcast(message, timestamp)
        finally:
            client.close()

    def _rng_report(self, force: bool = False) -> dict[str, Any] | None:
        if not force and time.monotonic() - self.last_rng < getattr(
            self.cfg, "rng_report_secs", 1.0
        ):
            return None
        self.last_rng = time.monotonic()
        return rng_to_wire(self.rng, self.norm)

    def final_rng(self) -> dict[str, Any]:
        """The RNG (and reward normaliser) state now, for the exit checkpoint."""
        return self._rng_report(force=True)

    def close(self) -> None:
        """Close the envs and stop this worker's data server (idempotent)."""
        for env in (getattr(self, "env", None), getattr(self, "venv", None)):
            if env is not None:
                with contextlib.suppress(Exception):
                    env.close()
        self.env = self.venv = None
        envs = getattr(self, "envs", None)
        if envs is not None:
            envs.close()

    # ------------------------------------------------------------------ A3C

    def _a3c_init(self, policy_spec, rng_state, stream: Stream, image_every: int) -> None:
        cfg = self.cfg
        self.norm = (
            RewardNormalizer(1, cfg.gamma, cfg.reward_clip) if cfg.normalize_reward else None
        )
        if rng_state is not None and not self.reborn:
            rng_from_wire(rng_state, self.rng, self.norm)
        self.env = EpisodeMonitor(self.envs.fns[0](), image_every=image_every)
        local = ActorCritic.from_spec(policy_spec)
        self.outbox = _Outbox()
        self.w = _Worker(
            self.index, self.env, local, self.model, _GradSink(), cfg, self.rng, self.outbox, "cpu"
        )
        self.w.norm = self.norm
        fresh = rng_state is None and not self.reborn
        seed = stream.env_seed if fresh else int(self.rng.integers(2**31 - 1))
        self.obs, _ = self.env.reset(seed=seed)
        self.state, self.start = self.w.actor.initial_state(1), 1.0

    def a3c_rollout(self, weights: list[np.ndarray], steps: int) -> dict[str, Any]:
        """One rollout with ``weights`` and the gradient of its loss.

        Args:
            weights: the learner's parameters; steps: the run's env steps so far.

        Returns:
            ``grads`` (numpy, parameter order), ``steps``, ``scalars``, ``episodes``
            (list of stats dicts), ``images``, ``rng`` (state or ``None``), ``pid``.
        """
        w, cfg = self.w, self.cfg
        self._load(weights)
        w._pull()
        w.actor.refresh()
        actor, to_env = w.actor, self.model.adapter.to_env
        zero, one = np.zeros(1), np.ones(1)
        state0, state, start, obs = self.state, self.state, self.start, self.obs
        obs_l, act_l, rew_l, done_l, start_l = [], [], [], [], []
        done = False
        for _ in range(cfg.rollout_steps):
            batch = _batch1(obs)
            action, _, _, state = actor.act(batch, state, one if start else zero)
            obs, reward, term, trunc, info = self.env.step(to_env(action[0]))
            reward = float(reward) * cfg.reward_scale
            done = bool(term or trunc)
            if self.norm is not None:
                reward = self.norm.one(reward, done)
            if trunc and not term:
                reward += cfg.gamma * float(actor.value(_batch1(obs), state, zero)[0])
            obs_l.append(batch)
            act_l.append(action[0])
            rew_l.append(reward)
            done_l.append(float(done))
            start_l.append(start)
            start = 0.0
            if done:
                w._episode_end(info)
                obs, _ = self.env.reset(seed=int(self.rng.integers(2**31 - 1)))
                state, start = actor.initial_state(1), 1.0
                break
        last = 0.0 if done else float(actor.value(_batch1(obs), state, np.array([start]))[0])
        scalars = w._update(obs_l, act_l, rew_l, done_l, start_l, state0, last, steps)
        scalars.pop("learning_rate", None)  # the learner's schedule decides
        self.obs, self.state, self.start = obs, state, start
        grads = [
            np.zeros(tuple(p.shape), np.float32) if p.grad is None else p.grad.numpy().copy()
            for p in self.model.parameters()
        ]
        return {"grads": grads, "steps": len(rew_l), "scalars": scalars, **self._drain()}

    def _drain(self) -> dict[str, Any]:
        episodes = [m[2] for m in self.outbox if m[0] == "episode"]
        images = [np.asarray(m[2]) for m in self.outbox if m[0] == "image"]
        self.outbox.clear()
        return {"episodes": episodes, "images": images, "rng": self._rng_report(), **self.info}

    # ------------------------------------------------------------------ PPO

    def _ppo_init(self, rng_state, env_seeds, image_every: int) -> None:
        self.norm = None  # PPO normalises rewards on the learner, over all envs
        if rng_state is not None and not self.reborn:
            rng_from_wire(rng_state, self.rng)
        fns = [
            functools.partial(_monitored, fn, image_every if i == 0 else 0)
            for i, fn in enumerate(self.envs.fns)
        ]
        self.venv = gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        k = len(fns)
        if env_seeds is None or self.reborn:
            env_seeds = [int(x) for x in self.rng.integers(2**31 - 1, size=k)]
        self.obs, _ = self.venv.reset(seed=list(env_seeds))
        self.actor = make_actor(self.model, self.rng, self.cfg.rollout_actor)
        self.state = self.actor.initial_state(k)
        self.starts = np.ones(k, dtype=np.float32)
        self.keys = self.model.keys

    def ppo_rollout(self, weights: list[np.ndarray], n_steps: int) -> dict[str, Any]:
        """``n_steps`` steps of this worker's envs with ``weights`` (see module docstring).

        Returns:
            Arrays ``(n_steps, k, ...)``: ``obs`` (dict by policy key), ``actions``,
            ``log_probs``, ``values``, ``rewards`` (scaled, not normalised), ``terms``,
            ``truncs``, ``boot`` (``V(final obs)`` of time-limit truncations, else 0),
            ``starts``; ``last`` ``(k,)``; ``state0`` (recurrent state before step 0);
            ``episodes`` (``(t, env, stats)``); ``images``; ``rng``; ``pid``.
        """
        self._load(weights)
        self.actor.refresh()
        actor, cfg, model = self.actor, self.cfg, self.model
        k = len(self.starts)
        out: dict[str, list] = {n: [] for n in ("actions", "log_probs", "values", "rewards")}
        out.update({n: [] for n in ("terms", "truncs", "boot", "starts")})
        obs_l: dict[str, list] = {key: [] for key in self.keys}
        episodes, images = [], []
        state0 = _state_np(self.state)
        obs, state, starts = self.obs, self.state, self.starts
        for t in range(n_steps):
            actions, log_probs, values, state = actor.act(obs, state, starts)
            for key in self.keys:
                obs_l[key].append(np.asarray(obs if key == "" else obs[key], dtype=np.float32))
            obs, rewards, term, trunc, infos = self.venv.step(model.adapter.to_env_batch(actions))
            term, trunc = np.asarray(term, bool), np.asarray(trunc, bool)
            boot = np.zeros(k)
            for i in np.flatnonzero(trunc & ~term):
                sub = tuple(
                    s[:, i : i + 1] if isinstance(s, torch.Tensor) else s[i : i + 1] for s in state
                )
                boot[i] = float(actor.value(_batch1(infos["final_obs"][i]), sub, np.zeros(1))[0])
            _collect_episodes(infos, t, episodes, images)
            for name, value in (("actions", actions), ("log_probs", log_probs)):
                out[name].append(np.asarray(value))
            out["values"].append(np.asarray(values))
            out["rewards"].append(np.asarray(rewards, dtype=np.float64) * cfg.reward_scale)
            out["terms"].append(term)
            out["truncs"].append(trunc)
            out["boot"].append(boot)
            out["starts"].append(np.asarray(starts, dtype=np.float32))
            starts = (term | trunc).astype(np.float32)
        last = np.asarray(actor.value(obs, state, starts))
        self.obs, self.state, self.starts = obs, state, starts
        result = {name: np.stack(v) for name, v in out.items()}
        result.update(
            obs={key: np.stack(v) for key, v in obs_l.items()},
            last=last,
            state0=state0,
            episodes=episodes,
            images=images,
            rng=self._rng_report(),
            **self.info,
        )
        return result


def _monitored(fn: Any, image_every: int) -> gym.Env:
    return EpisodeMonitor(fn(), image_every=image_every)


def _collect_episodes(infos: dict[str, Any], t: int, episodes: list, images: list) -> None:
    """Finished episodes' stats (and images) of one vector step (see PPO's ``_episodes``)."""
    final = infos.get("final_info")
    if not final or STATS_KEY not in final:
        return
    stats, mask = final[STATS_KEY], final.get(f"_{STATS_KEY}")
    for i in np.flatnonzero(mask if mask is not None else infos["_final_info"]):
        episodes.append(
            (t, int(i), {k: float(v[i]) for k, v in stats.items() if not k.startswith("_")})
        )
    if IMAGE_KEY in final:
        for i in np.flatnonzero(final[f"_{IMAGE_KEY}"]):
            images.append((t, np.asarray(final[IMAGE_KEY][i], dtype=np.uint8)))
