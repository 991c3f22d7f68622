"""Stable-Baselines3 on the vector engine: :class:`SB3VecEnv`.

SB3 steps a ``VecEnv``; :class:`SB3VecEnv` is one, over a
:class:`~btgym.engine.VectorBTgymEnv` (all lanes in one numpy engine, no processes) or
over backtrader servers, ``btgym.make_vec(n, sb3=True, ...)`` (see
:mod:`btgym.envs.vec`)::

    from stable_baselines3 import PPO
    from btgym.integrations.sb3 import SB3VecEnv

    venv = VecNormalize(SB3VecEnv(num_envs=16, filename="data.csv", state_shape=...))
    PPO("MultiInputPolicy", venv, n_steps=128, batch_size=256).learn(100_000)

Normalise observations and rewards (SB3's ``VecNormalize``, as above): the default
``raw`` leaf is a price window (e.g. 1.1 +- 0.002) and a step's reward is a change of
broker value over the start cash (~1e-5); SB3's defaults learn nothing from either
(btgym's own trainers standardise windows and rewards themselves). On the sine
benchmark (benchmarks/engine_learning.py, 16 lanes, 100k steps): raw 0 % of the
oracle, both normalised 100 %. At test time pass observations through
``venv.normalize_obs`` (with ``venv.training = False``).

Spaces as SB3 takes them: one asset → ``Discrete(4)``, several → ``MultiDiscrete``,
portfolio weights → ``Box``; observations are the env's ``Dict`` minus ``metadata``
(bookkeeping, not market data) unless ``observation_keys`` says otherwise. Episode
ends follow SB3's convention: the returned observation is the new episode's, the last
one is in ``info["terminal_observation"]`` and ``info["TimeLimit.truncated"]`` marks
episodes cut by the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from btgym.engine import VectorBTgymEnv

INFO_KEYS = ("broker_value", "broker_cash", "drawdown", "realized_pnl", "unrealized_pnl")


class SB3VecEnv(VecEnv):
    """A Stable-Baselines3 ``VecEnv`` over the vector engine.

    Args:
        venv: a ready :class:`VectorBTgymEnv` or :class:`btgym.envs.vec.BTgymVectorEnv`
            (``btgym.make_vec``; its autoreset must be ``SameStep``), or ``None`` to
            build a vector engine from ``num_envs`` and ``**kwargs``.
        num_envs: lanes (when building).
        observation_keys: observation entries SB3 sees (``None``: all but
            ``metadata``).
        **kwargs: :class:`VectorBTgymEnv` keywords (when building).
    """

    def __init__(
        self,
        venv: VectorBTgymEnv | None = None,
        num_envs: int = 1,
        observation_keys: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if venv is None:
            venv = VectorBTgymEnv(num_envs=num_envs, autoreset_mode="SameStep", **kwargs)
        if not getattr(venv, "_same_step", False):
            raise ValueError("SB3VecEnv needs a vector env with autoreset_mode='SameStep'")
        self.venv = venv
        space = venv.single_observation_space
        keys = [k for k in space.spaces if k != "metadata"] if observation_keys is None else None
        self.keys = tuple(keys if keys is not None else observation_keys)
        obs_space = gym.spaces.Dict({k: space.spaces[k] for k in self.keys})
        k = len(venv.asset_names)
        if venv.kind == "portfolio":
            act_space: gym.Space = gym.spaces.Box(0.0, 1.0, (k + 1,), dtype=np.float32)
        elif k == 1:
            act_space = gym.spaces.Discrete(4)
        else:
            act_space = gym.spaces.MultiDiscrete([4] * k)
        super().__init__(venv.num_envs, obs_space, act_space)
        self._actions: Any = None
        self._seed: int | None = None

    def _obs(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: obs[k] for k in self.keys}

    def reset(self) -> dict[str, np.ndarray]:
        seed, self._seed = self._seed, None
        obs, _ = self.venv.reset(seed=seed, options=self._options[0] or None)
        return self._obs(obs)

    def step_async(self, actions: np.ndarray) -> None:
        a = np.asarray(actions)
        if self.venv.kind != "portfolio" and a.ndim == 1:
            a = a[:, None]
        self._actions = a

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict]]:
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        done = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in range(self.num_envs):
            row = infos[i]
            for key in INFO_KEYS:
                row[key] = float(info[key][i])
        if done.any():
            final = info["final_info"]
            for i in np.flatnonzero(done):
                row = infos[i]
                row["terminal_observation"] = self._obs(info["final_obs"][i])
                row["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                if "done_reason" in final:
                    row["done_reason"] = str(final["done_reason"][i])
                for key in INFO_KEYS:
                    row[key] = float(final[key][i])
        return self._obs(obs), reward.astype(np.float32), done, infos

    def seed(self, seed: int | None = None) -> list[int | None]:
        self._seed = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def close(self) -> None:
        self.venv.close()

    # the lanes are not separate env objects
    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.venv, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kw: Any) -> list:
        return [getattr(self.venv, method_name)(*args, **kw)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))
