"""Handles: the env's view of an episode loop, in a child process or in-process.

:func:`make_handle` returns a :class:`~btgym.server.process_handle.ProcessHandle`
(backtrader in a spawned server process, ZeroMQ REQ/REP) or an
:class:`InProcessHandle` (the same :class:`~btgym.server.loop.EpisodeLoop` driven
directly by greenlet switching). Both have the same methods, apply the same action
codec once (:mod:`btgym.server.contract`), keep the same :class:`EpisodeState`
and raise the same named errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from btgym.server.config import ServerConfig
from btgym.server.contract import RUNNING, sample_request
from btgym.server.handle_base import HandleBase
from btgym.server.loop import EpisodeLoop
from btgym.server.process import make_source
from btgym.server.process_handle import ProcessHandle
from btgym.strategy import BrokerConfig, BTgymBaseStrategy, StrategyConfig

__all__ = ["HandleBase", "InProcessHandle", "ProcessHandle", "make_handle"]


class InProcessHandle(HandleBase):
    """The episode loop in the caller's process (greenlet switching, no IPC).

    The handle shares its :class:`~btgym.server.contract.EpisodeState` with the
    loop: one phase, kept by the loop, read by both.
    """

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
        self._loop.state = self.state  # one state object for the loop and its handle
        # step() checked the phase (the loop's own state): run the loop directly
        self._advance = self._loop._switch
        # a strategy's own get_info() may hand out the same dict every step
        self.fresh_info = strategy_class.get_info is BTgymBaseStrategy.get_info

    def reset(
        self,
        trial_config: Mapping[str, Any] | None = None,
        episode_config: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_open()
        result = self._loop.reset(
            sample_request(trial_config, "trial_config"),
            sample_request(episode_config, "episode_config"),
            seed,
        )
        self._set_assets(self._loop.asset_names)
        self._warn(self._loop.strategy.notes)
        return result.obs, result.info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Encode ``action`` once and run the loop to the next decision."""
        if self.state.phase is not RUNNING:
            self.state.require_running()
        result = self._advance(self._codec.encode(action))
        return result if result.info is not None else self._loop._full(result)

    def done(self) -> None:
        self.state.require_running("done")
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
        return {"active": self.active}

    def close(self) -> None:
        if self.state.closed:
            return
        self._loop.close()  # moves the shared state to CLOSED
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
    cls = ProcessHandle if mode == "process" else InProcessHandle
    return cls(data_source, strategy, broker, server, render, strategy_class)
