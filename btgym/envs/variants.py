"""Env variants on the same base: several assets with one discrete action each, and a
continuous portfolio of target weights.

Each env kind has one action codec (:mod:`btgym.server.contract`), applied once by
its handle: the variants only declare their action space.
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np

from btgym.envs.base import BTgymEnv


class MultiDiscreteEnv(BTgymEnv):
    """Several assets, one ``Discrete(4)`` action each (hold, buy, sell, close), as a
    ``MultiDiscrete([4] * n_assets)`` action space (SB3 takes it directly).

    A ``{asset: action}`` dict is accepted too (assets left out hold).
    """

    engine_actions = "multidiscrete"

    def _make_action_space(self) -> gym.Space:
        return gym.spaces.MultiDiscrete([4] * len(self.asset_names))


class PortfolioEnv(BTgymEnv):
    """Continuous portfolio: the action is a vector of target weights
    ``[cash, asset_1, ..., asset_K]`` in [0, 1] (a ``Box``), or ``{name: weight}``.

    The weights are normalised over all K + 1 entries (cash included): ``[0.5, 0.5]``
    puts half the value in the asset and keeps half in cash; ``[1, 0]`` (all cash) and
    ``[0, 0]`` (all zero) mean flat. Each asset's share is reached by backtrader's
    ``order_target_percent`` (whole units, no shorts), the assets whose weight drops
    first. A ``start_cash`` that cannot buy one unit of an asset is warned about at
    reset (:class:`~btgym.errors.BTgymWarning`).
    """

    base_actions: ClassVar[tuple[str, ...] | None] = None

    def _make_action_space(self) -> gym.Space:
        return gym.spaces.Box(0.0, 1.0, (len(self.asset_names) + 1,), dtype=np.float32)

    @property
    def cash_name(self) -> str:
        return self.config["strategy"].cash_name
