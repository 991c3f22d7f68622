"""Rollout storage and return estimators.

Arrays are ``(T, B)``: T steps of B envs. ``dones[t]`` is 1.0 when the episode
ended after step t (terminated *or* truncated). Truncated episodes are bootstrapped
by the collector: it adds ``gamma * V(final_obs)`` to the last reward before these
estimators see it, so here a done always cuts the return.

``valid[t]`` is 0.0 for a transition that is no experience: the ``NEXT_STEP``
autoreset step of a vector env (the lane was reset, its action ignored). The
collector marks it done too, so no return crosses it; minibatches leave it out
(recurrent ones carry the mask for the loss).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch


def n_step_returns(
    rewards: torch.Tensor, dones: torch.Tensor, last_value: torch.Tensor, gamma: float
) -> torch.Tensor:
    """Discounted n-step returns ``R_t = r_t + gamma (1 - d_t) R_{t+1}``, ``R_T = V(s_T)``."""
    returns = torch.empty_like(rewards)
    running = last_value
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * (1.0 - dones[t]) * running
        returns[t] = running
    return returns


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016).

    Returns:
        ``(advantages, returns)`` with ``returns = advantages + values``.
    """
    adv = torch.empty_like(rewards)
    running = torch.zeros_like(last_value)
    next_value = last_value
    for t in range(rewards.shape[0] - 1, -1, -1):
        live = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * live - values[t]
        running = delta + gamma * lam * live * running
        adv[t] = running
        next_value = values[t]
    return adv, adv + values


@dataclass
class Batch:
    """A minibatch: tensors ``(T, b, ...)`` (recurrent, whole sequences) or ``(1, n, ...)``."""

    obs: dict[str, torch.Tensor]
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    starts: torch.Tensor
    state: tuple[torch.Tensor, ...]
    valid: torch.Tensor | None = None  # (T, b) mask of recurrent batches; None: all valid


class RolloutBuffer:
    """Fixed-size ``(T, B)`` storage for on-policy rollouts.

    Args:
        n_steps: T; n_envs: B.
        obs_shapes: key -> shape of one observation entry.
        action_dim: length of the flat action; action_dtype: its dtype.
        device: where the tensors live.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shapes: Mapping[str, tuple[int, ...]],
        action_dim: int,
        action_dtype: torch.dtype = torch.long,
        device: torch.device | str = "cpu",
    ) -> None:
        self.n_steps, self.n_envs, self.device = n_steps, n_envs, device
        tb = (n_steps, n_envs)
        self.obs = {k: torch.zeros(*tb, *s, device=device) for k, s in obs_shapes.items()}
        self.actions = torch.zeros(*tb, action_dim, dtype=action_dtype, device=device)
        z = lambda: torch.zeros(*tb, device=device)  # noqa: E731
        self.log_probs, self.values, self.rewards = z(), z(), z()
        self.dones, self.starts = z(), z()
        self.valid = torch.ones(*tb, device=device)
        self.advantages, self.returns = z(), z()
        self.state: tuple[torch.Tensor, ...] = ()
        self.pos = 0

    def reset(self, state: tuple[torch.Tensor, ...] = ()) -> None:
        """Start a new rollout; ``state`` is the recurrent state before its first step."""
        self.pos = 0
        self.state = tuple(s.detach().clone() for s in state)

    @property
    def full(self) -> bool:
        return self.pos >= self.n_steps

    def add(
        self,
        obs: Mapping[str, torch.Tensor],
        actions: torch.Tensor,
        log_probs: torch.Tensor,
        values: torch.Tensor,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        starts: torch.Tensor,
        valid: torch.Tensor | None = None,
    ) -> None:
        """Store one step of all envs (every tensor has the env axis first; ``valid``:
        see the module doc, default all valid)."""
        t = self.pos
        for k, v in obs.items():
            self.obs[k][t] = v
        self.actions[t] = actions
        self.log_probs[t], self.values[t], self.rewards[t] = log_probs, values, rewards
        self.dones[t], self.starts[t] = dones, starts
        if valid is None:
            self.valid[t] = 1.0
        else:
            self.valid[t] = valid
        self.pos += 1

    def compute(self, last_value: torch.Tensor, gamma: float, lam: float) -> None:
        """Fill :attr:`advantages` and :attr:`returns` by GAE."""
        self.advantages, self.returns = compute_gae(
            self.rewards, self.values, self.dones, last_value, gamma, lam
        )

    def minibatches(
        self, n_minibatches: int, rng: np.random.Generator, recurrent: bool = False
    ) -> Iterator[Batch]:
        """Shuffled minibatches: steps (flat) or, for recurrent policies, whole env sequences
        (invalid transitions: left out of flat ones, masked in recurrent ones)."""
        all_valid = bool((self.valid > 0).all())
        if recurrent:
            envs = rng.permutation(self.n_envs)
            for part in np.array_split(envs, min(n_minibatches, self.n_envs)):
                idx = torch.as_tensor(part, device=self.device)
                yield Batch(
                    obs={k: v[:, idx] for k, v in self.obs.items()},
                    actions=self.actions[:, idx],
                    log_probs=self.log_probs[:, idx],
                    values=self.values[:, idx],
                    advantages=self.advantages[:, idx],
                    returns=self.returns[:, idx],
                    starts=self.starts[:, idx],
                    state=tuple(s[:, idx] for s in self.state),
                    valid=None if all_valid else self.valid[:, idx],
                )
            return
        n = self.n_steps * self.n_envs
        flat = lambda x: x.reshape(1, n, *x.shape[2:])  # noqa: E731
        order = rng.permutation(n)
        if not all_valid:  # leave the autoreset transitions out (order stays a permutation)
            keep = self.valid.reshape(-1).cpu().numpy()[order] > 0
            order = order[keep]
        for part in np.array_split(order, min(n_minibatches, max(len(order), 1))):
            idx = torch.as_tensor(part, device=self.device)
            yield Batch(
                obs={k: flat(v)[:, idx] for k, v in self.obs.items()},
                actions=flat(self.actions)[:, idx],
                log_probs=flat(self.log_probs)[:, idx],
                values=flat(self.values)[:, idx],
                advantages=flat(self.advantages)[:, idx],
                returns=flat(self.returns)[:, idx],
                starts=flat(self.starts)[:, idx],
                state=(),
            )
