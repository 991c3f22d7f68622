"""Reward normalisation by a running estimate of the return's spread.

A btgym reward is a change of broker value over the start cash: per step it is often
1e-6..1e-3, so raw, the value loss is negligible and the entropy bonus drowns the
policy gradient. Dividing rewards by the running standard deviation of the
discounted return (the scheme of SB3's ``VecNormalize(norm_reward=True)``) makes
the defaults (learning rates, entropy and value coefficients) work whatever the
cash, stake and commission. The mean is not subtracted (that would change which
policies are optimal); scaled rewards are clipped to ``±clip``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class RewardNormalizer:
    """Scales rewards of ``n_envs`` envs by ``1 / std(discounted return)``.

    Args:
        n_envs: parallel envs whose rewards come in together.
        gamma: the discount of the return whose spread is tracked.
        clip: bound of the scaled rewards.
    """

    def __init__(self, n_envs: int, gamma: float, clip: float = 10.0, eps: float = 1e-8) -> None:
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.returns = np.zeros(n_envs)
        self.count, self.mean, self.var = 1e-4, 0.0, 1.0

    @property
    def scale(self) -> float:
        """What rewards are divided by now."""
        return math.sqrt(self.var + self.eps)

    def _update(self, batch: np.ndarray) -> None:
        n = batch.size
        b_mean, b_var = float(batch.mean()), float(batch.var())
        delta, total = b_mean - self.mean, self.count + n
        self.mean += delta * n / total
        m2 = self.var * self.count + b_var * n + delta * delta * self.count * n / total
        self.var, self.count = m2 / total, total

    def __call__(self, rewards: Any, dones: Any, valid: Any = None) -> np.ndarray:
        """Scaled rewards of one step of every env (``dones`` end their returns; envs
        not ``valid`` (a vector env's autoreset step) leave the statistics alone)."""
        r = np.asarray(rewards, dtype=np.float64).reshape(self.returns.shape)
        self.returns = self.returns * self.gamma + r
        if valid is None:
            self._update(self.returns)
        else:
            keep = np.asarray(valid, dtype=bool).reshape(self.returns.shape)
            if keep.any():
                self._update(self.returns[keep])
        out = np.clip(r / self.scale, -self.clip, self.clip)
        self.returns[np.asarray(dones, dtype=bool).reshape(self.returns.shape)] = 0.0
        return out

    def one(self, reward: float, done: bool) -> float:
        """The single-env case in plain floats (no numpy call per step)."""
        ret = float(self.returns[0]) * self.gamma + reward
        self.count += 1.0
        delta = ret - self.mean
        self.mean += delta / self.count
        self.var += (delta * (ret - self.mean) - self.var) / self.count
        self.returns[0] = 0.0 if done else ret
        scaled = reward / math.sqrt(self.var + self.eps)
        return max(-self.clip, min(self.clip, scaled))

    def state(self) -> dict[str, Any]:
        return {  # plain floats: checkpoints load with weights_only=True
            "count": float(self.count),
            "mean": float(self.mean),
            "var": float(self.var),
            "returns": [float(x) for x in self.returns],
        }

    def load(self, state: dict[str, Any]) -> None:
        self.count, self.mean, self.var = state["count"], state["mean"], state["var"]
        returns = np.asarray(state["returns"], dtype=np.float64)
        if returns.shape == self.returns.shape:
            self.returns = returns
