"""The A3C worker process: own env, local model copy, Hogwild updates of the shared model.

Run as a :class:`btgym.comm.process.ChildProcess` target (spawned, dies with its
parent). Each loop: copy the shared weights, collect up to ``rollout_steps`` steps
(less at an episode's end), compute n-step returns, backprop locally, copy the
gradients onto the shared parameters and step the shared optimizer. Results go
to the chief through a queue of plain tuples:

``("update", worker, steps, scalars)``, ``("episode", worker, stats)``,
``("image", worker, rgb)``, ``("rng", worker, state)``, ``("done", worker)``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from btgym.algorithms.a3c.config import A3CConfig
from btgym.algorithms.a3c.shared_optim import make_shared_optimizer
from btgym.algorithms.common.actors import make_actor, state_to_torch
from btgym.algorithms.common.monitor import IMAGE_KEY, STATS_KEY, EpisodeMonitor
from btgym.algorithms.common.normalize import RewardNormalizer
from btgym.algorithms.common.policies import ActorCritic
from btgym.algorithms.common.seeding import Stream
from btgym.errors import ConfigError
from btgym.log import get_logger

log = get_logger(__name__)


def rng_to_wire(rng: np.random.Generator, norm: RewardNormalizer | None = None) -> dict[str, Any]:
    """Torch + numpy RNG state (and the reward normaliser's) as picklable plain data."""
    state = {"torch": torch.get_rng_state().numpy().tobytes(), "numpy": rng.bit_generator.state}
    if norm is not None:
        state["reward_norm"] = norm.state()
    return state


def rng_from_wire(
    state: dict[str, Any], rng: np.random.Generator, norm: RewardNormalizer | None = None
) -> None:
    """Restore what :func:`rng_to_wire` captured."""
    torch.set_rng_state(torch.from_numpy(np.frombuffer(state["torch"], dtype=np.uint8).copy()))
    rng.bit_generator.state = state["numpy"]
    if norm is not None and state.get("reward_norm"):
        norm.load(state["reward_norm"])


def worker_main(
    ready: Callable[[str], None],
    *,
    worker: int,
    env_fn: Callable[[], Any],
    policy_spec: dict[str, Any],
    shared_model: ActorCritic,
    optim_state: list[dict[str, torch.Tensor]],
    config: dict[str, Any],
    stream: Stream,
    rng_state: dict[str, Any] | None,
    global_steps: Any,
    stop: Any,
    queue: Any,
    device: str,
    vector_fn: Callable[[], Any] | None = None,
    go: Any = None,
) -> None:
    """Worker body (see module docstring). Returns when the step budget is spent.

    With ``go`` (an event) the worker, once ready, waits for it before its first step:
    the trainer sets it when every worker is ready.

    With ``vector_fn`` the worker steps that vector env instead of ``env_fn``'s env
    (:class:`~btgym.algorithms.a3c.vec_worker.VecWorker`)."""
    cfg = A3CConfig.from_keywords(**config)
    torch.set_num_threads(cfg.torch_threads or 1)
    torch.manual_seed(stream.torch_seed)
    rng = stream.rng
    if vector_fn is not None:
        env = vector_fn()
        n_lanes = int(env.num_envs)
    else:
        env = EpisodeMonitor(env_fn(), image_every=cfg.image_every if worker == 0 else 0)
        n_lanes = 1
    norm = RewardNormalizer(n_lanes, cfg.gamma, cfg.reward_clip) if cfg.normalize_reward else None
    if rng_state is not None:
        rng_from_wire(rng_state, rng, norm)
    try:
        local = ActorCritic.from_spec(policy_spec).to(device)
        optimizer = make_shared_optimizer(cfg.optimizer, shared_model.parameters(), cfg.lr)
        optimizer.attach(optim_state)
        seed = stream.env_seed if rng_state is None else int(rng.integers(2**31 - 1))
        obs, info = env.reset(seed=seed)
        ready(f"a3c-worker-{worker}")
        while go is not None and not go.wait(0.5) and not stop.is_set():
            pass  # the others are still starting
        if vector_fn is not None:
            from btgym.algorithms.a3c.vec_worker import VecWorker

            vw = VecWorker(worker, env, local, shared_model, optimizer, cfg, rng, queue, device)
            vw.norm = norm
            vw.run_vector(env, obs, info, global_steps, stop)
        else:
            w = _Worker(worker, env, local, shared_model, optimizer, cfg, rng, queue, device)
            w.norm = norm
            w.run(obs, global_steps, stop)
    finally:
        with contextlib.suppress(Exception):
            env.close()
    queue.put(("rng", worker, rng_to_wire(rng, norm)))
    queue.put(("done", worker))


class _Worker:
    def __init__(self, index, env, local, shared, optimizer, cfg, rng, queue, device) -> None:
        self.index, self.env, self.local, self.shared = index, env, local, shared
        self.optimizer, self.cfg, self.rng, self.queue = optimizer, cfg, rng, queue
        self.device = torch.device(device)
        self.norm: RewardNormalizer | None = None
        self.actor = make_actor(local, rng, cfg.rollout_actor)
        self.local_param_objs = list(local.parameters())
        self.shared_param_objs = list(shared.parameters())
        self.local_params = [p.data for p in self.local_param_objs]
        self.shared_params = [p.data for p in self.shared_param_objs]
        for name, _ in local.named_buffers():
            raise ConfigError(f"A3C policies must not have buffers (found {name!r})")

    def run(self, obs: Any, global_steps: Any, stop: Any) -> None:
        cfg, actor = self.cfg, self.actor
        adapter = self.local.adapter
        state, start = actor.initial_state(1), 1.0
        last_rng = time.monotonic()
        zero, one = np.zeros(1), np.ones(1)
        env_step, to_env, norm = self.env.step, adapter.to_env, self.norm
        scale, gamma, n = cfg.reward_scale, cfg.gamma, cfg.rollout_steps
        while not stop.is_set() and global_steps.value < cfg.total_steps:
            self._pull()
            actor.refresh()
            state0 = state
            obs_l, act_l, rew_l, done_l, start_l = [], [], [], [], []
            done = False
            for _ in range(n):
                batch = _batch1(obs)
                action, _, _, state = actor.act(batch, state, one if start else zero)
                obs, reward, term, trunc, info = env_step(to_env(action[0]))
                reward = float(reward) * scale
                done = bool(term or trunc)
                if norm is not None:
                    reward = norm.one(reward, done)
                if trunc and not term:  # time limit: bootstrap from the final observation
                    reward += gamma * float(actor.value(_batch1(obs), state, zero)[0])
                obs_l.append(batch)
                act_l.append(action[0])
                rew_l.append(reward)
                done_l.append(float(done))
                start_l.append(start)
                start = 0.0
                if done:
                    self._episode_end(info)
                    obs, _ = self.env.reset(seed=int(self.rng.integers(2**31 - 1)))
                    state, start = actor.initial_state(1), 1.0
                    break
                if stop.is_set():
                    return
            last = 0.0 if done else float(actor.value(_batch1(obs), state, np.array([start]))[0])
            scalars = self._update(
                obs_l, act_l, rew_l, done_l, start_l, state0, last, global_steps.value
            )
            with global_steps.get_lock():
                global_steps.value += len(rew_l)
            self.queue.put(("update", self.index, len(rew_l), scalars))
            if time.monotonic() - last_rng > cfg.rng_report_secs:
                self.queue.put(("rng", self.index, rng_to_wire(self.rng, self.norm)))
                last_rng = time.monotonic()

    @torch.no_grad()
    def _pull(self) -> None:
        """Copy the shared weights into the local model (one fused copy on CPU)."""
        if self.device.type == "cpu":
            torch._foreach_copy_(self.local_params, self.shared_params)
        else:
            for lp, sp in zip(self.local_params, self.shared_params):
                lp.copy_(sp, non_blocking=True)

    def _episode_end(self, info: dict[str, Any]) -> None:
        self.queue.put(("episode", self.index, dict(info[STATS_KEY])))
        if IMAGE_KEY in info:
            self.queue.put(("image", self.index, np.asarray(info[IMAGE_KEY])))

    def _update(
        self, obs_l, act_l, rew_l, done_l, start_l, state0, last, steps
    ) -> dict[str, float]:
        cfg, local, dev = self.cfg, self.local, self.device
        t = len(rew_l)
        col = lambda xs: torch.tensor(xs, device=dev, dtype=torch.float32).view(t, 1)  # noqa: E731
        obs_seq = {
            k: torch.as_tensor(np.concatenate([_entry(o, k) for o in obs_l]), device=dev)
            .float()
            .unsqueeze(1)
            for k in local.keys
        }
        actions = torch.as_tensor(np.stack(act_l), device=dev).unsqueeze(1)
        log_probs, entropy, values = local.evaluate(
            obs_seq, actions, state_to_torch(state0, dev), col(start_l)
        )
        returns = col(discounted_returns(rew_l, done_l, last, cfg.gamma))
        adv = returns - values
        policy_loss = -(log_probs * adv.detach()).mean()
        value_loss = 0.5 * adv.pow(2).mean()
        ent = entropy.mean()
        loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * ent
        return self._apply(loss, policy_loss, value_loss, ent, steps)

    def _apply(self, loss, policy_loss, value_loss, ent, steps: int) -> dict[str, float]:
        """Backprop ``loss`` locally, then step the shared optimizer with the gradients."""
        cfg = self.cfg
        params = self.local_param_objs
        for p in params:
            p.grad = None
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm, foreach=True)
        for lp, sp in zip(params, self.shared_param_objs):
            sp.grad = None if lp.grad is None else lp.grad.to("cpu")
        lr = cfg.learning_rate(steps / cfg.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        return {
            "policy_loss": float(policy_loss.detach()),
            "value_loss": float(value_loss.detach()),
            "entropy": float(ent.detach()),
            "grad_norm": float(grad_norm),
            "learning_rate": lr,
        }


def _batch1(obs: Any) -> Any:
    """One observation as a batch of one (numpy)."""
    if isinstance(obs, dict):
        return {k: np.asarray(v)[None] for k, v in obs.items()}
    return np.asarray(obs)[None]


def _entry(obs: Any, key: str) -> np.ndarray:
    return obs if key == "" else obs[key]


def discounted_returns(
    rewards: list[float], dones: list[float], last: float, gamma: float
) -> list[float]:
    """n-step returns in plain floats (same as :func:`~btgym.algorithms.common.buffers.
    n_step_returns`, without a tensor op per step)."""
    out, running = [0.0] * len(rewards), last
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * (1.0 - dones[t]) * running
        out[t] = running
    return out
