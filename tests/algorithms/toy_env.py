"""A small, fast env with BTgymEnv's space structure (unit-level fixture only).

Dict observation (``raw`` (30, 4) float32 price window, ``internal`` (4,) float32,
``metadata`` (2,) float32), action ``Dict({"default_asset": Discrete(4)})`` (hold, buy,
sell, close) also accepting a plain int. The price is a sine with period 32 bars;
reward is the position times the next price change. Episodes end (truncated) after
``length`` steps. ``info`` carries ``broker_value``, ``drawdown`` and ``position``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class ToyTradingEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, length: int = 48, window: int = 30, portfolio: bool = False) -> None:
        self.length, self.window, self.portfolio = length, window, portfolio
        self.observation_space = gym.spaces.Dict(
            {
                "raw": gym.spaces.Box(0.0, 10.0, (window, 4), np.float32),
                "internal": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                "metadata": gym.spaces.Box(0.0, np.inf, (2,), np.float32),
            }
        )
        if portfolio:
            self.action_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
        else:
            self.action_space = gym.spaces.Dict({"default_asset": gym.spaces.Discrete(4)})
        self._t = 0

    def _price(self, t: np.ndarray | int) -> np.ndarray:
        return 1.1 + 0.002 * np.sin(2 * np.pi * (np.asarray(t) + self._phase) / 32.0)

    def _obs(self) -> dict[str, np.ndarray]:
        ts = np.arange(self._t - self.window + 1, self._t + 1)
        close = self._price(ts)
        raw = np.stack([close, close + 1e-4, close - 1e-4, close], axis=1).astype(np.float32)
        internal = np.array(
            [self._pos, self._value / 100.0 - 1.0, self._dd, self._t / self.length], np.float32
        )
        return {"raw": raw, "internal": internal, "metadata": np.array([0.0, self._t], np.float32)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._phase = float(self.np_random.integers(0, 32))
        self._t, self._pos, self._value, self._peak, self._dd = 0, 0.0, 100.0, 100.0, 0.0
        self._log: list[float] = []
        return self._obs(), {"broker_value": self._value, "drawdown": 0.0, "position": 0.0}

    def step(self, action):
        if self.portfolio:
            w = np.asarray(action, dtype=np.float64)
            self._pos = float(w[0] / max(w.sum(), 1e-9))
        else:
            a = int(action["default_asset"]) if isinstance(action, dict) else int(action)
            self._pos = {0: self._pos, 1: 1.0, 2: -1.0, 3: 0.0}[a]
        change = float(self._price(self._t + 1) - self._price(self._t)) * 1e4
        reward = self._pos * change
        self._value += reward
        self._peak = max(self._peak, self._value)
        self._dd = (self._peak - self._value) / self._peak
        self._t += 1
        self._log.append(self._value)
        truncated = self._t >= self.length
        info = {"broker_value": self._value, "drawdown": self._dd, "position": self._pos}
        return self._obs(), reward, False, truncated, info

    def render_image(self, what: str = "episode") -> np.ndarray:
        img = np.zeros((32, 48, 3), np.uint8)
        img[:, : len(self._log) % 48, 1] = 255
        return img


def make_toy(**kwargs) -> ToyTradingEnv:
    return ToyTradingEnv(**kwargs)


class ExplodingEnv(ToyTradingEnv):
    """Raises in ``step`` after 5 steps (fault injection for worker-failure tests)."""

    def step(self, action):
        if self._t >= 5:
            raise RuntimeError("boom in the env")
        return super().step(action)


def slow_toy(delay: float, **kwargs) -> ToyTradingEnv:
    """A toy env that takes ``delay`` seconds to make (a worker that starts late)."""
    import time

    time.sleep(delay)
    return ToyTradingEnv(**kwargs)
