"""Env variants on the same base: several assets with one discrete action each, and a
continuous portfolio of target weights."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from btgym.envs.base import BTgymEnv
from btgym.errors import InvalidActionError


class MultiDiscreteEnv(BTgymEnv):
    """Several assets, one ``Discrete(4)`` action each (hold, buy, sell, close), as a
    ``MultiDiscrete([4] * n_assets)`` action space (SB3 takes it directly).

    A ``{asset: action}`` dict is accepted too.
    """

    def _make_action_space(self) -> gym.Space:
        n = len(self._action_dict_space.base_actions or ())
        return gym.spaces.MultiDiscrete([n] * len(self.asset_names))

    def _to_server_action(self, action: Any) -> dict[str, Any]:
        return dict(self._action_dict_space.normalize(action))


class PortfolioEnv(BTgymEnv):
    """Continuous portfolio: the action is a vector of target weights
    ``[cash, asset_1, ..., asset_K]`` in [0, 1] (a ``Box``), normalised to sum to 1;
    each asset's share is reached by a market target order (no shorts). An all-zero
    action means all in cash.
    """

    base_actions: ClassVar[tuple[str, ...] | None] = None

    def _make_action_space(self) -> gym.Space:
        return gym.spaces.Box(0.0, 1.0, (len(self.asset_names) + 1,), dtype=np.float32)

    def _to_server_action(self, action: Any) -> dict[str, Any]:
        if isinstance(action, dict):
            names = (self.cash_name, *self.asset_names)
            missing = [n for n in names if n not in action]
            if missing or set(action) - set(names):
                raise InvalidActionError(f"portfolio action keys must be {list(names)}")
            action = [np.asarray(action[n], dtype=np.float64).reshape(()) for n in names]
        w = np.asarray(action, dtype=np.float64).reshape(-1)
        if w.size != len(self.asset_names) + 1:
            raise InvalidActionError(
                f"portfolio action needs {len(self.asset_names) + 1} "
                f"weights [cash, {', '.join(self.asset_names)}], got {w.size}"
            )
        if not np.isfinite(w).all() or (w < 0).any() or (w > 1).any():
            raise InvalidActionError(f"portfolio weights must be finite and in [0, 1], got {w}")
        total = w.sum()
        w = np.eye(w.size)[0] if total <= 0 else w / total
        return {name: float(x) for name, x in zip(self.asset_names, w[1:])}

    @property
    def cash_name(self) -> str:
        return self.config["strategy"].cash_name
