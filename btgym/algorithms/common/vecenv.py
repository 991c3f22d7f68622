"""Native vector envs for the trainers, and their per-lane episode statistics.

The trainers step btgym's own vector envs where they help:

- the backtrader engine: :class:`btgym.envs.vec.BTgymVectorEnv` (what
  ``btgym.make_vec(n)`` gives) over process-mode servers that share the trainer's
  data server, stepped concurrently from one process (no worker processes, no
  pickling);
- ``engine="vector"``: :class:`btgym.engine.VectorBTgymEnv`, all lanes in one numpy
  engine.

Both use gymnasium's ``NEXT_STEP`` autoreset: the step after a lane's episode ended
resets that lane (its action is ignored, reward 0) and returns the new episode's
first observation. That transition is not an experience: :class:`VecEpisodeMonitor`
marks it invalid, and the trainers neither learn from it nor count it in an episode
(``SAME_STEP`` vector envs, e.g. gymnasium's ``AsyncVectorEnv`` as PPO builds it,
have no such step).

:class:`VecEpisodeMonitor` computes the per-lane statistics that
:class:`~btgym.algorithms.common.monitor.EpisodeMonitor` computes for one env (the
same keys, so the same TensorBoard tags): ``return``, ``length``, ``broker_value``,
``max_drawdown``, ``trades`` (position changes per asset).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from btgym.log import get_logger

log = get_logger(__name__)

VectorFn = Callable[[], gym.vector.VectorEnv]


def autoreset_mode(venv: gym.vector.VectorEnv) -> AutoresetMode:
    """The vector env's autoreset mode (gymnasium's default, ``NEXT_STEP``, if unsaid)."""
    mode = (getattr(venv, "metadata", None) or {}).get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return AutoresetMode(mode)


def is_vector_engine(env_kwargs: dict[str, Any] | None) -> bool:
    """``env_kwargs`` select the numpy vector engine (``engine="vector"``)."""
    return bool(env_kwargs) and env_kwargs.get("engine") == "vector"


def native_possible(env_kwargs: dict[str, Any] | None) -> bool:
    """A native vector env can run these keywords: the vector engine, or process-mode
    servers of the backtrader engine (the default ``server``)."""
    if not env_kwargs:
        return False
    return is_vector_engine(env_kwargs) or env_kwargs.get("server", "process") == "process"


def engine_actions(cls: type) -> str:
    """The vector engine's action kind of an env class (as ``BTgymEnv(engine="vector")``
    picks it)."""
    if getattr(cls, "base_actions", ()) is None:
        return "portfolio"
    return getattr(cls, "engine_actions", "discrete")


def vector_engine(n: int, env_class: type, env_kwargs: dict[str, Any]) -> gym.vector.VectorEnv:
    """``n`` lanes of the numpy engine for ``env_class`` and its keywords."""
    from btgym.engine import VectorBTgymEnv

    kw = {k: v for k, v in env_kwargs.items() if k not in ("engine", "server")}
    return VectorBTgymEnv(num_envs=n, actions=engine_actions(env_class), **kw)


def backtrader_vector(fns: Sequence[Callable[[], gym.Env]]) -> gym.vector.VectorEnv:
    """``make_vec``'s vector env over ready env factories (they share their data server,
    which the caller owns and stops)."""
    from btgym.envs.vec import BTgymVectorEnv

    return BTgymVectorEnv(list(fns), autoreset_mode=AutoresetMode.NEXT_STEP)


def vector_fn(
    fns: Sequence[Callable[[], gym.Env]], env_class: type, env_kwargs: dict[str, Any] | None
) -> VectorFn:
    """A picklable factory of the native vector env over ``fns`` (their count is the
    lane count): the vector engine for ``engine="vector"`` keywords, else
    ``BTgymVectorEnv``."""
    if is_vector_engine(env_kwargs):
        return functools.partial(vector_engine, len(fns), env_class, dict(env_kwargs or {}))
    return functools.partial(backtrader_vector, list(fns))


def _positions(info: dict[str, Any], n: int) -> np.ndarray | None:
    """``info["position"]`` of a vector env as ``(n, assets)``: an ``(n, k)`` array
    (``BTgymVectorEnv``) or ``{asset: (n,)}`` (``VectorBTgymEnv``)."""
    pos = info.get("position")
    if pos is None:
        return None
    if isinstance(pos, dict):
        return np.stack([np.asarray(v, np.float64) for v in pos.values()], axis=1)
    return np.asarray(pos, np.float64).reshape(n, -1)


def _column(info: dict[str, Any], key: str, n: int) -> np.ndarray | None:
    value = info.get(key)
    if value is None:
        return None
    return np.asarray(value, np.float64).reshape(n)


class VecEpisodeMonitor:
    """Per-lane episode statistics of a vector env, and which transitions are real.

    Call :meth:`reset` with the info of ``venv.reset()`` and :meth:`step` with every
    step's results. :meth:`step` returns ``(valid, ended)``: ``valid`` (``(n,)`` bool)
    is ``False`` for the ``NEXT_STEP`` autoreset transition of a lane; ``ended`` is a
    list of ``(lane, stats)`` for the episodes that ended at this step.

    Args:
        venv: the vector env (its autoreset mode is read from its metadata).
        image_every: render lane 0's episode image every this many of its episodes
            (needs ``venv.envs[0].render_image``, i.e. ``BTgymVectorEnv`` before its
            autoreset; otherwise images are turned off with one warning).

    Attributes:
        image: lane 0's episode image of the last :meth:`step`, or ``None``.
    """

    def __init__(self, venv: gym.vector.VectorEnv, image_every: int = 0) -> None:
        self.venv = venv
        self.n = int(venv.num_envs)
        self.mode = autoreset_mode(venv)
        self.image_every = int(image_every)
        self.image: np.ndarray | None = None
        self.lane0_episodes = 0
        n = self.n
        self._return = np.zeros(n)
        self._length = np.zeros(n, np.int64)
        self._dd = np.zeros(n)
        self._trades = np.zeros(n, np.int64)
        self._pos: np.ndarray | None = None
        self._pending = np.zeros(n, bool)  # NEXT_STEP: the lane's next step is an autoreset

    def reset(self, info: dict[str, Any]) -> None:
        """Every lane starts a new episode (after ``venv.reset()``)."""
        self._return[:] = 0.0
        self._length[:] = 0
        self._dd[:] = 0.0
        self._trades[:] = 0
        self._pending[:] = False
        self._pos = _positions(info, self.n)

    def step(
        self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, info: dict
    ) -> tuple[np.ndarray, list[tuple[int, dict[str, float]]]]:
        """Account one vector step (see the class doc for what it returns)."""
        self.image = None
        done = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        valid = ~self._pending
        restarted = self._pending.copy()  # lanes whose new episode starts at this step
        same_step = self.mode is AutoresetMode.SAME_STEP and "final_info" in info
        last = info["final_info"] if same_step and done.any() else info
        self._account(np.asarray(rewards, np.float64), valid, info, last, done, restarted)
        ended = []
        for i in np.flatnonzero(done & valid):
            ended.append((int(i), self._stats(int(i), last)))
            if i == 0:
                self._lane0_image()
        if self.mode is AutoresetMode.NEXT_STEP:
            self._pending = done & valid
        for i in np.flatnonzero(done & valid):
            self._clear(int(i))
        if same_step and done.any():  # the returned info is the new episode's
            pos = _positions(info, self.n)
            if pos is not None and self._pos is not None:
                self._pos[done] = pos[done]
        return valid, ended

    def _account(self, rewards, valid, info, last, done, restarted) -> None:
        """Add the step to the running episodes (``last``: the info of the step itself,
        ``final_info`` for ended lanes of a ``SAME_STEP`` env)."""
        n = self.n
        self._return[valid] += rewards[valid]
        self._length[valid] += 1
        dd = _column(info, "drawdown", n)
        if last is not info and dd is not None:
            final_dd = _column(last, "drawdown", n)
            dd = np.where(done, final_dd, dd) if final_dd is not None else dd
        if dd is not None:
            self._dd = np.where(valid, np.maximum(self._dd, dd), self._dd)
        pos = _positions(info, n)
        if last is not info and pos is not None:
            final_pos = _positions(last, n)
            if final_pos is not None:
                pos = np.where(done[:, None], final_pos, pos)
        if pos is not None:
            if self._pos is not None and self._pos.shape == pos.shape:
                changed = (pos != self._pos).sum(axis=1)
                self._trades += np.where(valid, changed, 0)
            self._pos = pos.copy()
        if restarted.any():  # the autoreset's info is the new episode's start
            self._dd[restarted] = 0.0

    def _stats(self, i: int, last: dict[str, Any]) -> dict[str, float]:
        value = _column(last, "broker_value", self.n)
        return {
            "return": float(self._return[i]),
            "length": float(self._length[i]),
            "broker_value": float(value[i]) if value is not None else float("nan"),
            "max_drawdown": float(self._dd[i]),
            "trades": float(self._trades[i]),
        }

    def _clear(self, i: int) -> None:
        self._return[i] = 0.0
        self._length[i] = 0
        self._dd[i] = 0.0
        self._trades[i] = 0

    def _lane0_image(self) -> None:
        self.lane0_episodes += 1
        if self.image_every <= 0 or self.lane0_episodes % self.image_every:
            return
        if self.mode is not AutoresetMode.NEXT_STEP:
            self.image_every = 0
            log.warning("episode images need a NEXT_STEP vector env: turning images off")
            return
        try:
            image = self.venv.envs[0].render_image("episode")
        except Exception as exc:
            log.warning(f"episode image unavailable, turning images off: {exc}")
            self.image_every = 0
            return
        self.image = np.asarray(image, dtype=np.uint8)
