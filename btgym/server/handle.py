"""Handles: the env's view of an episode loop, in a child process or in-process.

:func:`make_handle` returns a :class:`~btgym.server.process_handle.ProcessHandle`
(backtrader in a spawned server process, ZeroMQ REQ/REP) or an
:class:`InProcessHandle` (the same :class:`~btgym.server.loop.EpisodeLoop` driven
directly by greenlet switching). Both have the same methods and raise the same
named errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import backtrader as bt
import numpy as np

from btgym.errors import ConfigError, EnvClosedError, ResetNeededError
from btgym.log import get_logger
from btgym.server.config import ServerConfig
from btgym.server.loop import EpisodeLoop
from btgym.server.process import make_source
from btgym.strategy import BrokerConfig, BTgymBaseStrategy, LeafSpec, StrategyConfig

if TYPE_CHECKING:
    from btgym.server.process_handle import ProcessHandle

log = get_logger(__name__)


class _HandleBase:
    """What both handles share: configs, spaces, the closed flag."""

    def __init__(
        self,
        strategy: StrategyConfig | None,
        broker: BrokerConfig | None,
        server: ServerConfig | None,
        render: Any,
        strategy_class: type[BTgymBaseStrategy],
    ) -> None:
        if not (isinstance(strategy_class, type) and issubclass(strategy_class, bt.Strategy)):
            raise ConfigError(f"strategy_class {strategy_class!r} is not a backtrader Strategy")
        self.strategy_config = strategy or StrategyConfig()
        self.broker_config = broker or BrokerConfig()
        self.server_config = server or ServerConfig()
        self.render_config = render
        self.strategy_class = strategy_class
        self._closed = False
        self._asset_names = self.strategy_config.asset_names

    @property
    def spaces(self) -> dict[str, LeafSpec]:
        """Observation leaves: key → :class:`LeafSpec` (shape, low, high, dtype);
        ``spec.to_box()`` gives the gymnasium ``Box``."""
        return dict(self.strategy_config.state_shape)

    def observation_space(self) -> Any:
        """The gymnasium ``Dict`` of ``Box`` leaves the observations respect."""
        from gymnasium import spaces

        return spaces.Dict({k: v.to_box() for k, v in self.strategy_config.state_shape.items()})

    @property
    def asset_names(self) -> tuple[str, ...] | None:
        """Tradable assets: the config's, else the last episode's (``None`` before)."""
        return self._asset_names

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise EnvClosedError("this env's server handle is closed")


class InProcessHandle(_HandleBase):
    """The episode loop in the caller's process (greenlet switching, no IPC)."""

    mode = "inprocess"

    def __init__(
        self,
        data_source: Any,
        strategy: StrategyConfig | None = None,
        broker: BrokerConfig | None = None,
        server: ServerConfig | None = None,
        render: Any = None,
        strategy_class: type[BTgymBaseStrategy] = BTgymBaseStrategy,
    ) -> None:
        super().__init__(strategy, broker, server, render, strategy_class)
        source, self._close_source = make_source(data_source, self.server_config.data_timeout)
        self._loop = EpisodeLoop(
            source, self.strategy_config, self.broker_config, strategy_class, render
        )
        self.step = self._loop.step  # type: ignore[method-assign]  # the hot path, unwrapped

    def reset(
        self,
        trial_config: Mapping[str, Any] | None = None,
        episode_config: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_open()
        result = self._loop.reset(trial_config, episode_config, seed)
        self._asset_names = self._loop.asset_names
        return result.obs, result.info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Act and run to the next decision (bound to ``EpisodeLoop.step`` while open)."""
        raise EnvClosedError("this env's server handle is closed")

    def done(self) -> None:
        self._check_open()
        if not self._loop.active:
            raise ResetNeededError("done: no episode is running")
        self._loop.finish()

    def records(self) -> dict[str, np.ndarray]:
        self._check_open()
        return self._loop.records()

    def episode_bars(self) -> Any:
        self._check_open()
        return self._loop.episode_bars()

    def get_stat(self) -> dict[str, Any]:
        self._check_open()
        return self._loop.get_stat()

    def render(self, mode: str) -> np.ndarray:
        self._check_open()
        return self._loop.render(mode)

    def ping(self) -> dict[str, Any]:
        self._check_open()
        return {"active": self._loop.active}

    @property
    def active(self) -> bool:
        return not self._closed and self._loop.active

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.__dict__.pop("step", None)  # back to the class method: raises EnvClosedError
        self._loop.close()
        if self._close_source is not None:
            with contextlib.suppress(Exception):
                self._close_source()


def make_handle(
    mode: str | None = None,
    *,
    strategy: StrategyConfig | None = None,
    broker: BrokerConfig | None = None,
    server: ServerConfig | None = None,
    render: Any = None,
    data_source: Any,
    strategy_class: type[BTgymBaseStrategy] = BTgymBaseStrategy,
) -> InProcessHandle | ProcessHandle:
    """Start an episode loop and return its handle.

    Args:
        mode: ``"process"`` or ``"inprocess"``; ``None``: ``server.mode``.
        strategy: the strategy config (observation, trading, termination).
        broker: the broker config.
        server: the server config (transport, timeouts, log level).
        render: a ``RenderConfig`` for ``render()`` (``None``: rendering defaults).
        data_source: a trial source (a data domain, anything with ``sample()``) or a
            data server endpoint string. In process mode an object is handed to the
            child at spawn (it must pickle); an endpoint is preferred.
        strategy_class: a :class:`BTgymBaseStrategy` subclass (module-level, so the
            server process can import it).

    Raises:
        ConfigError: unknown mode or bad configs.
        RemoteError / ServerDiedError / ServerTimeoutError: the server failed to start.
    """
    server = server or ServerConfig()
    mode = mode or server.mode
    if mode != server.mode:
        server = ServerConfig.from_kwargs(server, mode=mode)
    if mode == "process":
        from btgym.server.process_handle import ProcessHandle

        return ProcessHandle(data_source, strategy, broker, server, render, strategy_class)
    return InProcessHandle(data_source, strategy, broker, server, render, strategy_class)
