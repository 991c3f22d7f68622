"""``VectorBTgymEnv`` (N episodes in one numpy engine) and ``EngineEnv`` (one).

Both take BTgymEnv's keywords and give the backtrader engine's observations,
rewards, termination and info (see :mod:`btgym.engine.core`), proven by the parity
tests in ``tests/engine``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from btgym.engine.actions import (
    KINDS,
    batch_action_space,
    decode_codes,
    decode_weights,
    single_action_space,
)
from btgym.engine.core import BatchEpisodes
from btgym.engine.info import batch_info, lane_info
from btgym.engine.lane import LaneStep, one_lane_reader
from btgym.engine.lanes import LaneLoader
from btgym.engine.render import refuse_render_mode
from btgym.engine.setup import EngineSetup, draw_reset, reset_configs
from btgym.engine.surface import EngineEnvSurface
from btgym.errors import ConfigError, EnvClosedError, ResetNeededError
from btgym.server.sampler import EpisodeSampler  # the episode loop's sampling, per lane
from btgym.spaces import DictSpace


def _kind(actions: str | None, portfolio: bool) -> str:
    kind = actions or ("portfolio" if portfolio else "discrete")
    if kind not in KINDS:
        raise ConfigError(f"actions={kind!r} is not one of {KINDS}")
    return kind


def _expand(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape((-1,) + (1,) * (like.ndim - 1))


class _EngineBase:
    """What the single and the vector env share: setup, core, sampling."""

    def _build(
        self, n: int, actions: str | None, kwargs: Mapping[str, Any], backend: str | None = None
    ) -> None:
        portfolio = actions == "portfolio" or bool(kwargs.get("portfolio_actions"))
        self.setup = EngineSetup.build(kwargs, portfolio=portfolio)
        self.config = self.setup.configs
        strat = self.config["strategy"]
        self.kind = _kind(actions, strat.portfolio_actions)
        if (self.kind == "portfolio") != bool(strat.portfolio_actions):
            raise ConfigError("actions='portfolio' and portfolio_actions must agree")
        self.asset_names = self.setup.asset_names
        self.cash_name = strat.cash_name
        self.action_keys = self.asset_names
        if strat.portfolio_actions:
            self.action_keys = (self.cash_name, *self.asset_names)
        self.lanes = LaneLoader(self.setup, n)  # encoders, setup warnings (per episode)
        self.core = BatchEpisodes(
            n,
            strat,
            self.config["broker"],
            self.setup.data_names,
            hooks=self.setup.hooks,
            backend=backend,
        )
        # discrete codes decode straight into the kernel's action buffer (no copy)
        self._code_buf = self.core.action_buffer()
        self._samplers = [EpisodeSampler(self.setup.domain) for _ in range(n)]
        self._lane_rngs: list[np.random.Generator | None] = [None] * n
        self._options: tuple[dict, dict] = ({}, {})
        self._closed = False

    def _decode(self, action: Any, n: int) -> np.ndarray:
        if self.kind == "portfolio":
            return decode_weights(action, self.asset_names, n, self.cash_name)
        if n == self.core.n:  # the whole batch: into one buffer (the core's fast path)
            return decode_codes(action, self.asset_names, n, out=self._code_buf)
        return decode_codes(action, self.asset_names, n)

    def _reset_lane(self, lane: int, seed: int | None, owner: bool, rng: Any = None) -> None:
        if rng is None:  # the lane's own generator, (re)seeded by a seeded reset
            rng = self._lane_rngs[lane]
            if seed is not None or rng is None:
                rng, _ = gym.utils.seeding.np_random(seed)
        self._lane_rngs[lane] = rng
        trial_cfg, episode_cfg = (dict(c) for c in self._options)
        episode_seed = draw_reset(rng, seed, self.setup.domain, owner, trial_cfg)
        episode = self._samplers[lane].sample(trial_cfg, episode_cfg, episode_seed)
        self.lanes.load(self.core, lane, episode)

    def _check_open(self) -> None:
        if self._closed:
            raise EnvClosedError(f"{type(self).__name__} is closed")


class VectorBTgymEnv(_EngineBase, VectorEnv):
    """``num_envs`` btgym episodes stepped at once by the numpy engine.

    A ``gymnasium.vector.VectorEnv`` with batched ``Dict`` observations and
    next-step autoreset: the step after a lane's episode ended resets that lane
    (its action is ignored, reward 0, not done); with
    ``autoreset_mode="SameStep"`` the ending step itself returns the new episode's
    first observation and puts the last one in ``info["final_obs"]`` (and its info in
    ``info["final_info"]``), as gymnasium's ``SAME_STEP`` mode does.
    ``reset(seed=s)`` seeds lane ``i`` with ``s + i`` (a list seeds each lane); the
    data domain is reseeded once, from lane 0. Reset options (``trial_config`` /
    ``episode_config``) hold for every later autoreset too.

    Args:
        num_envs: lanes.
        actions: ``"discrete"`` (default), ``"multidiscrete"`` or ``"portfolio"``
            (see :mod:`btgym.engine.actions`).
        messages: also put ``broker_message`` strings into the info (slower).
        backend: ``"numba"`` (compiled, the default when numba is installed) or
            ``"numpy"``.
        hooks: :class:`~btgym.engine.hooks.EngineHooks` (instance or class) for
            custom observation / reward / done in numpy.
        **kwargs: BTgymEnv's keywords (``filename``, ``state_shape``, ``skip_frame``,
            ``drawdown_call``, ``start_cash``, ``broker_commission``, ``leverage``...).
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        actions: str | None = None,
        messages: bool = False,
        backend: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **kwargs: Any,
    ) -> None:
        mode = AutoresetMode(autoreset_mode)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ConfigError(f"autoreset_mode {mode} is not supported (NEXT_STEP, SAME_STEP)")
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self._same_step = mode == AutoresetMode.SAME_STEP
        if int(num_envs) < 1:
            raise ConfigError(f"num_envs must be ≥ 1, got {num_envs!r}")
        self.num_envs = int(num_envs)
        refuse_render_mode(kwargs)
        self._build(self.num_envs, actions, kwargs, backend)
        self.messages = messages
        self.single_observation_space = DictSpace(self.setup.observation_spaces())
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = single_action_space(self.kind, self.asset_names)
        self.action_space = batch_action_space(self.kind, self.asset_names, self.num_envs)
        self.render_mode = None
        self._needs_reset = True
        self._autoreset = np.zeros(self.num_envs, bool)
        self._n_redo = 0  # lanes in _autoreset (a count: cheaper than .any())
        #: one lane: its batched step outputs from one read of its rows (None: generic)
        self._one = one_lane_reader(self.core, self.action_keys, messages)

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[dict, dict]:
        """Reset every lane (see the class doc for seeding)."""
        self._check_open()
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"reset(seed=list) needs {self.num_envs} seeds, got {len(seeds)}")
        if seeds[0] is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seeds[0])
        self._options = reset_configs(options)
        for lane, s in enumerate(seeds):
            self._reset_lane(lane, s, owner=lane == 0)
        self._needs_reset = False
        self._autoreset[:] = False
        self._n_redo = 0
        return self.core.observe(), batch_info(self.core, None, self.action_keys, self.messages)

    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every lane (lanes that ended last step are reset instead)."""
        self._check_open()
        if self._needs_reset:
            raise ResetNeededError("call reset() before step()")
        core = self.core
        decoded = self._decode(actions, self.num_envs)
        redo = self._autoreset
        if self._n_redo:
            for lane in np.flatnonzero(redo):
                self._reset_lane(int(lane), None, owner=False)
            core.step(decoded, active=~redo)
            core.reason[redo] = 0
            core.terminated[redo] = core.truncated[redo] = False
        else:
            core.step(decoded)
            if self._one is not None:
                out = self._one()
                if not (self._same_step and out[5]):
                    if out[5]:
                        self._autoreset, self._n_redo = out[2] | out[3], 1
                    return out[:5]
        terminated, truncated = core.terminated.copy(), core.truncated.copy()
        reward = core.reward.copy()
        done = terminated | truncated
        info = batch_info(core, None, self.action_keys, self.messages)
        obs = core.observe()
        n_done = np.count_nonzero(done)
        if self._same_step and n_done:
            final_obs = np.empty(self.num_envs, dtype=object)
            for lane in np.flatnonzero(done):
                final_obs[lane] = {k: v[lane] for k, v in obs.items()}
                self._reset_lane(int(lane), None, owner=False)
            fresh = core.observe()
            obs = {k: np.where(_expand(done, v), fresh[k], v) for k, v in obs.items()}
            final_info = info
            info = batch_info(core, None, self.action_keys, self.messages)
            for key in ("done_reason", "_done_reason", "bars_stepped", "_bars_stepped"):
                info.pop(key, None)
            info.update(
                final_obs=final_obs, _final_obs=done, final_info=final_info, _final_info=done
            )
        else:
            self._autoreset, self._n_redo = done, n_done
        return obs, reward, terminated, truncated, info

    def close(self, **kwargs: Any) -> None:
        """Release the buffers (idempotent)."""
        self._closed = True

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        raise ConfigError(f"VectorBTgymEnv lanes are not separate env objects (call {name!r})")


class EngineEnv(_EngineBase, EngineEnvSurface, gym.Env):
    """One btgym env on the numpy engine (what ``BTgymEnv(engine="vector")`` gives).

    Same spaces, observations, rewards, termination and info as ``BTgymEnv`` with the
    backtrader engine (``info`` includes ``broker_message`` and ``done_reason``);
    with ``records=True`` or a ``render_mode`` also its ``episode_records()``,
    ``get_stat()`` and rendering (:mod:`btgym.engine.surface`).

    Args:
        render_mode: ``None``, ``"rgb_array"`` or ``"human"`` (keeps records).
        records: keep per-step records (``episode_records()``, ``get_stat()``,
            ``render_image()``); default: only with a ``render_mode``.
        actions: ``"discrete"``, ``"multidiscrete"`` or ``"portfolio"``.
        backend: ``"numba"`` or ``"numpy"`` (see :class:`VectorBTgymEnv`).
        **kwargs: BTgymEnv's keywords.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        render_mode: str | None = None,
        actions: str | None = None,
        backend: str | None = None,
        records: bool | None = None,
        **kwargs: Any,
    ) -> None:
        self._build(1, actions, kwargs, backend)
        self._init_surface(render_mode, records, kwargs)
        self.observation_space = DictSpace(self.setup.observation_spaces())
        self.action_space = single_action_space(self.kind, self.asset_names)
        self._needs_reset = True
        self._codes = np.zeros((1, len(self.asset_names)), np.int64)
        self._lane = LaneStep(self.core, self.action_keys)
        #: one-asset discrete codes on the compiled lane path (None: not this env)
        self._stepper = self._lane.code_stepper()

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[dict, dict]:
        """Start a new episode (same seed, same episode as the backtrader engine's)."""
        self._check_open()
        super().reset(seed=seed)
        self._options = reset_configs(options)
        self._reset_lane(0, seed, owner=True, rng=self.np_random)
        self._needs_reset = False
        obs = self._obs()
        if self._recorder is not None:
            self._recorder.start(obs)
        return obs, lane_info(self.core, 0, self.action_keys)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Act at the decision bar; orders fill at the next bar's open."""
        stepper = self._stepper
        if (
            stepper is not None
            and (type(action) is int or isinstance(action, np.integer))
            and 0 <= action <= 3
            and not (self._closed or self._needs_reset)
        ):
            out = stepper(action)  # already in range: no space normalisation
        else:
            if self._closed or self._needs_reset:
                self._check_open()
                raise ResetNeededError("call reset() before step() (and after an episode ends)")
            core = self.core
            if self.kind == "discrete":
                codes = self._codes
                if (
                    (type(action) is int or isinstance(action, np.integer))
                    and 0 <= action <= 3
                    and len(self.asset_names) == 1
                ):
                    codes[0, 0] = action
                else:
                    codes[0] = list(self.action_space.normalize(action).values())
                core.step(codes)
            else:
                core.step(self._decode(action, 1))
            out = self._lane.result()
        if out[2] or out[3]:
            self._needs_reset = True
        if self._recorder is not None:
            self._recorder.step(out[0])
        return out

    def _obs(self) -> dict[str, np.ndarray]:
        return self.core.observe_lane(0)

    def close(self) -> None:
        """Idempotent (closes a ``human`` window)."""
        self._closed = True
        self._close_surface()
