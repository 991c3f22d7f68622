"""``BTgymEnv``: the Gymnasium shell around a backtrader episode server.

The env owns no accounting: it validates actions, forwards them to the episode
handle (a backtrader server process, or the same episode loop run in-process) and
returns what the strategy computed. See :mod:`btgym.server` for the loop and
:mod:`btgym.strategy` for observations, rewards and termination.

``terminated`` is true when the episode ends *inside* the MDP: the drawdown or target
call fired, or the strategy's ``get_done()`` said so. ``truncated`` is true when the
episode's data ran out (a time limit, not a terminal state).
"""

from __future__ import annotations

import multiprocessing
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from btgym.envs import wiring
from btgym.errors import CommError, RenderError
from btgym.log import get_logger
from btgym.server.contract import CLOSED, EpisodeState, split_options
from btgym.spaces import ActionDictSpace, DictSpace

log = get_logger(__name__)


def _refuse_while_bootstrapping() -> None:
    """An env made while a child process re-runs the user's script to import something
    from it (a strategy class defined in an unguarded ``__main__``): exit that child
    with one line instead of starting servers from it."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise SystemExit(
            "btgym: this script creates an env at import time and a btgym server process "
            "had to import it (a strategy class defined in the script): put the script's "
            'code under `if __name__ == "__main__":`'
        )


class BTgymEnv(gym.Env):
    """Gymnasium env over a backtrader broker running in its own process.

    Args:
        render_mode: ``None``, ``"rgb_array"`` (``render()`` returns an H×W×3 uint8
            array of the recent price window) or ``"human"`` (shows it in a window).
        server: ``"process"`` (default: backtrader in a child process over ZeroMQ) or
            ``"inprocess"`` (the same loop in this process, switched by greenlet).
        dataset: a ready data domain (``BTgymDataset``, ``BTgymRandomDataDomain``...)
            instead of data keywords.
        strategy: a ``BTgymBaseStrategy`` subclass.
        data_master: start (and own) the data server; ``False`` connects to
            ``data_address``, the endpoint of another env's data server.
        config: optional ready component configs ``{"data": DataConfig, "strategy":
            StrategyConfig, "broker": BrokerConfig, "server": ServerConfig, "render":
            RenderConfig}``; keywords override nothing inside them.
        engine: ``"vector"`` returns a :class:`btgym.engine.EngineEnv` instead: the same
            episode on the numpy vector engine (docs/engine.md).
        **kwargs: BTGym's keywords (``filename``, ``episode_duration``, ``state_shape``,
            ``drawdown_call``, ``start_cash``, ``broker_commission``, ...). An unknown one
            raises ``TypeError`` (:class:`~btgym.errors.UnknownKeywordError`).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"], "render_fps": 4}
    #: discrete actions per asset (``None``: continuous weights, see PortfolioEnv).
    base_actions: ClassVar[tuple[str, ...] | None] = ("hold", "buy", "sell", "close")

    #: the vector engine's action kind of this env class (see ``engine="vector"``).
    engine_actions: ClassVar[str] = "discrete"

    def __new__(cls, render_mode: str | None = None, **kwargs: Any) -> Any:
        if kwargs.get("engine") == "vector":  # the same episode on the numpy engine
            from btgym.engine import EngineEnv

            kind = "portfolio" if cls.base_actions is None else cls.engine_actions
            return EngineEnv(render_mode=render_mode, actions=kind, **kwargs)
        return super().__new__(cls)

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise RenderError(
                f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}"
            )
        _refuse_while_bootstrapping()
        self.render_mode = render_mode
        self._window: Any = None
        self._obs_ready = False  # step() hands the handle's observation out as is
        self.state = EpisodeState(type(self).__name__)  # replaced by the handle's below
        self.spec_kwargs = dict(kwargs)
        self._setup = wiring.EnvSetup.build(kwargs, portfolio=self.base_actions is None)
        self.config = self._setup.configs
        self.asset_names: tuple[str, ...] = self._setup.asset_names
        self.observation_space = DictSpace(self._setup.observation_spaces())
        self.action_space = self._make_action_space()
        self._handle = self._setup.start()
        # one episode state for the env, its handle (and, in-process, the loop)
        self.state = self._handle.state
        self._finalizer = weakref.finalize(self, wiring.EnvSetup.close_quietly, self._setup)

    # ------------------------------------------------------------------ spaces and actions

    def _make_action_space(self) -> gym.Space:
        return ActionDictSpace(self.asset_names, self.base_actions)

    @property
    def codec(self) -> Any:
        """The action codec of this env kind (:mod:`btgym.server.contract`): the one
        place where actions are validated and encoded."""
        return self._handle.codec

    @property
    def data_address(self) -> str | None:
        """Endpoint of the data server this env uses (give it to ``data_master=False`` envs)."""
        return self._setup.data_address

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict]:
        """Start a new episode.

        Args:
            seed: seeds ``self.np_random``; the episode (and, for a data master, the
                trial) is drawn from it, so the same seed gives the same episode.
            options: ``{"episode_config": {...}, "trial_config": {...}}`` with
                ``DataSampleConfig`` keys (``get_new``, ``sample_type``, ``timestamp``,
                ``b_alpha``, ``b_beta``), as BTGym's ``EnvResetConfig``.
        """
        self._check_open()
        trial_cfg, episode_cfg = split_options(options)
        super().reset(seed=seed)
        episode_seed = int(self.np_random.integers(2**62))
        self._setup.check_data_server(restart=True)  # an owned data server that died
        if seed is not None:
            self._setup.reseed_data(int(self.np_random.integers(2**62)))
        try:
            obs, info = self._handle.reset(trial_cfg, episode_cfg, episode_seed)
        except CommError:
            self._setup.check_data_server()  # name the real cause if it is ours
            raise
        obs = self._fresh(obs)
        return obs, dict(info)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Act on the current bar; the market order fills at the next bar's open.

        Raises:
            ResetNeededError: no episode runs (before ``reset()``, after its end).
            InvalidActionError: ``action`` is not an action of this env (the episode
                goes on).
        """
        handle = self._handle
        obs, reward, terminated, truncated, info = handle.step(action)
        if not self._obs_ready:
            obs = self._fresh(obs)
        if not getattr(handle, "fresh_info", False):
            info = dict(info)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the recent price window with the position, as H×W×3 uint8.
        ``human``: the same image in a window (needs a display)."""
        self._check_open()
        from btgym.rendering import env_render

        return env_render(self)

    def render_image(self, mode: str = "episode") -> np.ndarray:
        """BTGym's named render modes as an H×W×3 uint8 array: ``"human"`` (recent
        prices and position), ``"episode"`` (the whole episode: trades, position, value,
        drawdown, rewards), ``"state"`` or any observation key (that tensor as an image).
        """
        self._check_open()
        return self._handle.render(mode)

    def close(self) -> None:
        """Stop the server (and the data server this env owns). Idempotent."""
        if self.state.closed or not hasattr(self, "_finalizer"):
            return
        if self._window is not None:
            self._window.close()
        self._finalizer()
        if not self.state.closed:  # the handle failed to close: the env is closed anyway
            self.state.to(CLOSED)

    # ------------------------------------------------------------------ extras

    def get_stat(self) -> dict:
        """Statistics of the running or last episode."""
        self._check_open()
        return self._handle.get_stat()

    def episode_data(self) -> Any:
        """The bars of the running (or last) episode, a :class:`btgym.datafeed.Bars`."""
        self._check_open()
        return self._handle.episode_bars()

    def episode_records(self) -> dict[str, np.ndarray]:
        """Per-step records of the running (or last) episode (see docs/internals.md)."""
        self._check_open()
        return self._handle.records()

    def _check_open(self) -> None:
        self.state.check_open()

    def _fresh(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Observations in space order and dtype. Both handles already hand out new,
        writable arrays each step (no copy here unless a dtype differs). When the
        reset's observation already had the space's keys in order and its dtypes,
        ``step()`` skips this (the handles keep one layout per episode)."""
        out = {}
        ready = True
        for key, space in self.observation_space.spaces.items():
            arr = obs[key]
            if arr.dtype != space.dtype:
                arr, ready = arr.astype(space.dtype), False
            out[key] = arr
        self._obs_ready = ready and list(obs) == list(out)
        return out
