"""The episode loop, transport-agnostic: Cerebro in a greenlet, one action per decision.

:class:`EpisodeLoop` runs ``cerebro.run()`` inside a greenlet. At each decision bar
the strategy calls :meth:`EpisodeLoop.emit`, which switches back to the caller with
the :class:`~btgym.strategy.StepResult`; :meth:`EpisodeLoop.step` switches in again
with the action. No thread, no queue, no copy: the same object is driven by the
server process (``btgym.server.process``) and directly by the in-process handle.

Reset semantics (the original's): ``trial_config`` (``DataSampleConfig`` keys) picks
a new Trial from the source when ``get_new`` (default True) or when there is none
yet, and a new trial gets ``trial.reset(seed)``; a kept trial goes on sampling its
stream (unless ``reset`` got a seed). Then ``episode =
trial.sample(**episode_config)`` and the strategy runs on ``episode.to_btfeed()``.

A source that hands out episodes directly (``BTgymDataset``: its ``sample()``
returns an Episode) has no trial level; ``get_new=False`` then replays the episode.

Seeding: ``reset(seed=s)`` makes a ``Generator`` from ``s`` and every
``trial.reset`` gets a seed drawn from it. The source itself is never reseeded here
(a data server may be shared by many envs: only its owner reseeds it). With a
source seeded by its owner, ``reset(seed=s)`` followed by seedless resets replays
exactly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import backtrader as bt
import numpy as np
from greenlet import GreenletExit, getcurrent, greenlet

from btgym.errors import ConfigError
from btgym.log import get_logger
from btgym.server.contract import (
    CLOSED,
    ENDED,
    IDLE,
    RUNNING,
    EpisodeState,
    make_codec,
    sample_request,
)
from btgym.server.sampler import EpisodeSampler
from btgym.server.stats import episode_stat
from btgym.strategy import FINISH, BrokerConfig, BTgymBaseStrategy, StepResult, StrategyConfig

log = get_logger(__name__)


class Handoff:
    """What an ``inline`` hook (see :class:`EpisodeLoop`) returns for a request it
    does not take: the loop switches out with it and :meth:`EpisodeLoop.advance`
    (or ``_switch``) returns it to its caller instead of a decision."""

    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request


class EpisodeLoop:
    """One backtrader episode at a time over a trial source.

    Args:
        source: anything with ``.sample(**trial_config) -> Trial`` (a data domain or a
            ``DataClient``).
        strategy: the strategy config.
        broker: the broker config.
        strategy_class: a ``BTgymBaseStrategy`` subclass.
        render: a ``RenderConfig`` for :meth:`render` (``None``: rendering defaults).
        lazy_info: let the default strategy skip building the standard info dict in
            :meth:`advance` / :meth:`start` (the server ships record rows instead);
            :meth:`step` / :meth:`reset` build it on demand.

    Attributes:
        inline: ``None``, or ``inline(result)`` called at each decision inside the
            episode (the process server's): it returns the next canonical action (the
            episode goes on without switching out), ``None`` (switch out with the
            decision, as usual) or a :class:`Handoff` (switch out with it).
    """

    def __init__(
        self,
        source: Any,
        strategy: StrategyConfig | None = None,
        broker: BrokerConfig | None = None,
        strategy_class: type[BTgymBaseStrategy] = BTgymBaseStrategy,
        render: Any = None,
        lazy_info: bool = False,
    ) -> None:
        self._sampler = EpisodeSampler(source)
        if not (isinstance(strategy_class, type) and issubclass(strategy_class, bt.Strategy)):
            raise ConfigError(f"strategy_class {strategy_class!r} is not a backtrader Strategy")
        self.source = source
        self.strategy_config = strategy or StrategyConfig()
        self._portfolio = self.strategy_config.portfolio_actions
        self.broker_config = broker or BrokerConfig()
        self.strategy_class = strategy_class
        self.render_config = render
        self.lazy_info = lazy_info
        self.inline: Any = None
        self.episode: Any = None
        self.strategy: BTgymBaseStrategy | None = None
        self.episode_count = 0
        self.last_obs: dict[str, np.ndarray] | None = None
        self._glet: greenlet | None = None
        self.state = EpisodeState("episode loop")
        self._codec: Any = None
        self._assets: tuple[str, ...] = ()
        self._t_start = 0.0
        self._t_end: float | None = None

    # ------------------------------------------------------------------ episode control

    @property
    def active(self) -> bool:
        """True while an episode runs and accepts actions."""
        return self.state.phase is RUNNING

    @property
    def asset_names(self) -> tuple[str, ...]:
        """Tradable assets of the current episode (empty before the first reset)."""
        return self._assets

    @property
    def codec(self) -> Any:
        """The action codec of the current episode (``None`` before the first reset)."""
        return self._codec

    def reset(
        self,
        trial_config: Mapping[str, Any] | None = None,
        episode_config: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> StepResult:
        """Abort any running episode, sample a new one and return its first decision.
        The configs are checked here (:func:`~btgym.server.contract.sample_request`)."""
        return self._full(
            self.start(
                sample_request(trial_config, "trial_config"),
                sample_request(episode_config, "episode_config"),
                seed,
            )
        )

    def start(
        self,
        trial_config: Mapping[str, Any] | None = None,
        episode_config: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> StepResult:
        """:meth:`reset` without building the standard info dict (see :meth:`advance`)
        and without checking the configs again (the handles and the server's wire
        check did: see :mod:`btgym.server.contract`)."""
        self.state.check_open()
        self.abort()
        episode = self._sample(dict(trial_config or {}), dict(episode_config or {}), seed)
        cerebro = self._cerebro(episode)
        self.episode, self.strategy = episode, None
        self.episode_count += 1
        self._t_start, self._t_end = time.perf_counter(), None
        self._glet = greenlet(cerebro.run)
        self.state.to(RUNNING)
        result = self._switch()
        assets = tuple(self.strategy.asset_names)
        if assets != self._assets or self._codec is None:
            self._assets = assets
            cfg = self.strategy_config
            self._codec = make_codec(cfg.portfolio_actions, assets, cfg.cash_name)
        return result

    def step(self, action: Any) -> StepResult:
        """Encode ``action`` (the episode's codec), execute it at the current decision
        bar and run to the next one.

        Raises:
            ResetNeededError: no episode is running (before reset, after its end).
            InvalidActionError: ``action`` is malformed (the episode goes on).
        """
        self.state.require_running()
        result = self.advance(self._codec.encode(action))
        return result if result.info is not None else self._full(result)

    def _full(self, result: StepResult) -> StepResult:
        if result.info is None:
            info = self.strategy.standard_info()
            return StepResult(result.obs, result.reward, result.terminated, result.truncated, info)
        return result

    def advance(self, action: Any) -> StepResult:
        """Execute a *canonical* action (``codec.encode``'s or ``codec.check_wire``'s
        output) without building the standard info dict: ``info`` is ``None`` when
        the strategy uses the default ``get_info`` (read it from the records).

        Raises:
            ResetNeededError: no episode is running.
        """
        self.state.require_running()
        return self._switch(action)

    def finish(self) -> None:
        """End the running episode now (the original's ``_done``); no-op if none."""
        if self.state.phase is RUNNING:
            self.state.to(ENDED)
            self._complete()

    def abort(self) -> None:
        """Drop the running episode without finishing its Cerebro run."""
        if self.state.closed:
            return
        if self.state.phase is not IDLE:
            self.state.to(IDLE)
        glet, self._glet = self._glet, None
        if glet is not None and not glet.dead:
            try:
                glet.throw(GreenletExit)
            except Exception as exc:  # a strategy's cleanup failing must not block a reset
                log.debug(f"aborting an episode raised {type(exc).__name__}: {exc}")
        self._end_clock()

    def close(self) -> None:
        """Abort the running episode; the loop refuses everything after (idempotent)."""
        if self.state.closed:
            return
        self.abort()
        self.state.to(CLOSED)

    # ------------------------------------------------------------------ greenlet plumbing

    def attach(self, strategy: BTgymBaseStrategy) -> None:
        """Called by the strategy when Cerebro instantiates it."""
        self.strategy = strategy

    def emit(self, result: StepResult) -> Any:
        """Called by the strategy (inside the greenlet): hand out ``result``, get the action."""
        inline = self.inline
        if inline is not None:
            got = inline(result)
            if type(got) is tuple:  # the next action, taken without switching out
                return got
            if got is not None:  # a Handoff: the caller serves it, then switches back
                return getcurrent().parent.switch(got)
        return getcurrent().parent.switch(result)

    def _switch(self, *args: Any) -> StepResult:
        glet = self._glet
        current = getcurrent()
        if glet.parent is not current:
            glet.parent = current
        try:
            result = glet.switch(*args)
        except BaseException:
            self.state.to(ENDED)
            self._glet = None
            self._end_clock()
            raise
        if glet.dead:  # Cerebro ended without a final decision: the feed came up short
            self.state.to(ENDED)
            self._end_clock()
            n = self.strategy.bar_index + 1 if self.strategy is not None else 0
            raise ConfigError(
                f"the backtrader run ended after {n} bars, before the episode's last bar "
                f"({len(self.episode.bars)} bars): the feed does not deliver every bar"
            )
        if type(result) is Handoff:  # the episode goes on; its inline hook handed this out
            return result
        self.last_obs = result.obs
        if result.terminated or result.truncated:
            self.state.to(ENDED)
            self._complete()
        return result

    def _complete(self) -> None:
        """Let Cerebro finish the run (stop hooks, analyzers) after the last decision."""
        glet, self._glet = self._glet, None
        if glet is not None and not glet.dead:
            glet.switch(FINISH)
            if not glet.dead:  # a strategy that ignored FINISH
                glet.throw(GreenletExit)
        self._end_clock()

    def _end_clock(self) -> None:
        if self._t_end is None and self._t_start:
            self._t_end = time.perf_counter()

    # ------------------------------------------------------------------ episode building

    def _sample(self, trial_config: dict, episode_config: dict, seed: int | None) -> Any:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ConfigError(f"seed must be a non-negative int or None, got {seed!r}")
        return self._sampler.sample(trial_config, episode_config, seed)

    def _cerebro(self, episode: Any) -> bt.Cerebro:
        cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True, tradehistory=False)
        feeds = episode.to_btfeed()
        names = tuple(episode.bars.names)
        for name in names:
            cerebro.adddata(feeds[name], name=name)
        self.broker_config.apply(cerebro)
        cerebro.addstrategy(
            self.strategy_class,
            config=self.strategy_config,
            broker_config=self.broker_config,
            episode=episode,
            channel=self,
        )
        return cerebro

    # ------------------------------------------------------------------ episode data

    def records(self) -> dict[str, np.ndarray]:
        """Per-step and fill records of the running / last episode (fresh arrays)."""
        if self.strategy is None:
            return {}
        return self.strategy.records.to_dict()

    def episode_bars(self) -> Any:
        """``Bars`` of the running / last episode (``None`` before the first reset)."""
        return None if self.episode is None else self.episode.bars

    def get_stat(self) -> dict[str, Any]:
        """Statistics of the running / last episode (JSON-able)."""
        end = self._t_end if self._t_end is not None else time.perf_counter()
        wall = end - self._t_start if self._t_start else 0.0
        return episode_stat(self, wall)

    def render(self, mode: str) -> np.ndarray:
        """Render ``mode`` with ``btgym.rendering`` (see :func:`btgym.server.render.render`)."""
        from btgym.server.render import render_loop

        return render_loop(self, mode)
