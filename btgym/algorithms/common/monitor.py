"""Per-episode statistics and episode images, collected inside the env.

:class:`EpisodeMonitor` wraps one env. On the step that ends an episode it adds to
``info``:

- ``info["episode_stats"]``: ``return``, ``length``, ``broker_value`` (final
  ``info["broker_value"]``), ``max_drawdown`` (max of ``info["drawdown"]`` over the
  episode), ``trades`` (orders filled, from the env's fill records when it has
  them (``episode_records()["fill_time"]``), else position changes seen in ``info``);
- ``info["episode_image"]``: every ``image_every``-th episode, the env's
  ``render_image("episode")`` RGB array (taken *before* the next reset wipes it).

Doing it in the env means the numbers travel with the step through any vector env
(gymnasium's ``final_info``, SB3's ``infos``) and A3C worker queues alike.
Rendering failures are logged once and turn images off; training goes on.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from btgym.log import get_logger

log = get_logger(__name__)

STATS_KEY = "episode_stats"
IMAGE_KEY = "episode_image"


def _positions(info: dict[str, Any]) -> tuple[Any, ...] | None:
    pos = info.get("position")
    if pos is None:
        return None
    if isinstance(pos, dict):  # btgym: {asset: size}, same key order every step
        return tuple(pos.values())
    return tuple(np.atleast_1d(np.asarray(pos, dtype=np.float64)).tolist())


class EpisodeMonitor(gym.Wrapper):
    """Adds episode statistics (and optionally images) to the last step's ``info``.

    Args:
        env: the env to wrap.
        image_every: render an episode image every this many episodes (0: never).
    """

    def __init__(self, env: gym.Env, image_every: int = 0) -> None:
        super().__init__(env)
        self.image_every = int(image_every)
        self.episodes = 0
        self._clear()

    def _clear(self) -> None:
        self._return, self._length, self._dd, self._trades = 0.0, 0, 0.0, 0
        self._value: float = float("nan")
        self._pos: tuple[float, ...] | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._clear()
        self._pos = _positions(info)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += reward
        self._length += 1
        dd = info.get("drawdown")
        if dd is not None and dd > self._dd:
            self._dd = float(dd)
        pos = _positions(info)
        if pos != self._pos and pos is not None and self._pos is not None:
            self._trades += sum(a != b for a, b in zip(pos, self._pos))
        self._pos = pos
        if terminated or truncated:
            self.episodes += 1
            self._value = float(info.get("broker_value", float("nan")))
            self._return = float(self._return)
            info = dict(info)
            info[STATS_KEY] = self._stats()
            if self.image_every > 0 and self.episodes % self.image_every == 0:
                image = self._image()
                if image is not None:
                    info[IMAGE_KEY] = image
        return obs, reward, terminated, truncated, info

    def _stats(self) -> dict[str, float]:
        trades = self._fills()
        return {
            "return": self._return,
            "length": float(self._length),
            "broker_value": self._value,
            "max_drawdown": self._dd,
            "trades": float(self._trades if trades is None else trades),
        }

    def _fills(self) -> int | None:
        try:
            records = self.env.get_wrapper_attr("episode_records")()
        except Exception:
            return None
        if isinstance(records, dict) and "fill_time" in records:
            return len(records["fill_time"])
        return None

    def _image(self) -> np.ndarray | None:
        try:
            image = self.env.get_wrapper_attr("render_image")("episode")
        except Exception as exc:
            log.warning(f"episode image unavailable, turning images off: {exc}")
            self.image_every = 0
            return None
        return np.asarray(image, dtype=np.uint8)
