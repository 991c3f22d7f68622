"""An A3C worker that steps a small native vector env (``envs_per_worker > 1``).

The worker of :mod:`.worker` steps one env and ends a rollout at an episode's end.
This one steps ``k`` lanes of btgym's native vector env (``BTgymVectorEnv`` over
process-mode servers, or the numpy ``VectorBTgymEnv``) in ``NEXT_STEP`` autoreset
mode: rollouts are always ``rollout_steps`` long, n-step returns are cut at each
lane's episode end, and each lane's autoreset transition (its action ignored, reward
0) is masked out of the loss and the reward normaliser
(:class:`~btgym.algorithms.common.vecenv.VecEpisodeMonitor` tells which). One update
per rollout of ``rollout_steps * k`` steps, Hogwild as the single-env worker.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from btgym.algorithms.a3c.worker import _Worker, rng_to_wire
from btgym.algorithms.common.actors import state_to_torch
from btgym.algorithms.common.buffers import n_step_returns
from btgym.algorithms.common.vecenv import VecEpisodeMonitor, autoreset_mode


class VecWorker(_Worker):
    """:class:`~btgym.algorithms.a3c.worker._Worker` over a vector env (see module doc)."""

    def run_vector(self, venv: Any, obs: Any, info: dict, global_steps: Any, stop: Any) -> None:
        cfg, actor = self.cfg, self.actor
        adapter = self.local.adapter
        k = int(venv.num_envs)
        monitor = VecEpisodeMonitor(venv, cfg.image_every if self.index == 0 else 0)
        monitor.reset(info)
        next_step = autoreset_mode(venv).value == "NextStep"
        state, starts = actor.initial_state(k), np.ones(k, np.float32)
        last_rng = time.monotonic()
        scale, gamma, n = cfg.reward_scale, cfg.gamma, cfg.rollout_steps
        while not stop.is_set() and global_steps.value < cfg.total_steps:
            self._pull()
            actor.refresh()
            state0 = state
            obs_l, act_l, rew_l, done_l, start_l, valid_l = [], [], [], [], [], []
            for _ in range(n):
                action, _, _, state = actor.act(obs, state, starts)
                obs_l.append(obs)
                act_l.append(action)
                start_l.append(starts)
                obs, reward, term, trunc, info = venv.step(adapter.to_env_batch(action))
                term, trunc = np.asarray(term, bool), np.asarray(trunc, bool)
                valid, ended = monitor.step(reward, term, trunc, info)
                reward = np.asarray(reward, np.float64) * scale
                if self.norm is not None:
                    reward = self.norm(reward, term | trunc, valid)
                for i in np.flatnonzero(trunc & ~term & valid):  # time limit: bootstrap
                    final = _lane(obs, i) if next_step else _batch1(info["final_obs"][i])
                    sub = _sub_state(state, int(i))
                    reward[i] += gamma * float(actor.value(final, sub, np.zeros(1))[0])
                ended_now = term | trunc | ~valid  # the autoreset step cuts like a done
                rew_l.append(reward)
                done_l.append(ended_now.astype(np.float32))
                valid_l.append(valid.astype(np.float32))
                starts = np.maximum((~valid).astype(np.float32), (term | trunc).astype(np.float32))
                for _lane_i, stats in ended:
                    self.queue.put(("episode", self.index, stats))
                if monitor.image is not None:
                    self.queue.put(("image", self.index, monitor.image))
                if stop.is_set():
                    return
            last = actor.value(obs, state, starts)
            scalars = self._update_vec(
                obs_l, act_l, rew_l, done_l, start_l, valid_l, state0, last, global_steps.value
            )
            taken = n * k
            with global_steps.get_lock():
                global_steps.value += taken
            self.queue.put(("update", self.index, taken, scalars))
            if time.monotonic() - last_rng > cfg.rng_report_secs:
                self.queue.put(("rng", self.index, rng_to_wire(self.rng, self.norm)))
                last_rng = time.monotonic()

    def _update_vec(
        self, obs_l, act_l, rew_l, done_l, start_l, valid_l, state0, last, steps
    ) -> dict[str, float]:
        cfg, local, dev = self.cfg, self.local, self.device
        tb = lambda xs: torch.as_tensor(np.stack(xs), dtype=torch.float32, device=dev)  # noqa: E731
        obs_seq = {
            key: torch.as_tensor(np.stack([_entry(o, key) for o in obs_l]), device=dev).float()
            for key in local.keys
        }
        actions = torch.as_tensor(np.stack(act_l), device=dev)
        log_probs, entropy, values = local.evaluate(
            obs_seq, actions, state_to_torch(state0, dev), tb(start_l)
        )
        dones, valid = tb(done_l), tb(valid_l)
        last_t = torch.as_tensor(last, dtype=torch.float32, device=dev)
        returns = n_step_returns(tb(rew_l), dones, last_t, cfg.gamma)
        total = valid.sum().clamp(min=1.0)
        adv = returns - values
        policy_loss = -(log_probs * adv.detach() * valid).sum() / total
        value_loss = 0.5 * (adv.pow(2) * valid).sum() / total
        ent = (entropy * valid).sum() / total
        loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * ent
        return self._apply(loss, policy_loss, value_loss, ent, steps)


def _sub_state(state: tuple, i: int) -> tuple:
    """Lane ``i``'s recurrent state: numpy ``(B, H)`` rows or torch ``(1, B, H)`` columns."""
    return tuple(s[:, i : i + 1] if isinstance(s, torch.Tensor) else s[i : i + 1] for s in state)


def _lane(obs: Any, i: int) -> Any:
    if isinstance(obs, dict):
        return {key: np.asarray(v)[i : i + 1] for key, v in obs.items()}
    return np.asarray(obs)[i : i + 1]


def _batch1(obs: Any) -> Any:
    if isinstance(obs, dict):
        return {key: np.asarray(v)[None] for key, v in obs.items()}
    return np.asarray(obs)[None]


def _entry(obs: Any, key: str) -> np.ndarray:
    return obs if key == "" else obs[key]
