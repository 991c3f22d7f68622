"""Per-step records, fills and statistics of the single engine env's episodes.

The backtrader strategy writes one record row per decision and one row per executed
order (:class:`~btgym.strategy.records.RecordBook`); :class:`EpisodeRecorder` writes
the same rows into the same ``RecordBook`` from the engine's lane arrays after each
step, so ``EngineEnv.episode_records()`` returns what ``BTgymEnv.episode_records()``
returns, and ``get_stat()`` is built by the backtrader engine's own
:func:`btgym.server.stats.episode_stat` over the same numbers.

It only runs when the env keeps records (``records=True`` or a ``render_mode``): the
env's step does nothing more than test for it otherwise.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import numpy as np

from btgym.engine import kernel as kern
from btgym.engine.broker import COMPLETED
from btgym.engine.core import REASONS
from btgym.strategy.records import RecordBook


class EpisodeRecorder:
    """Records of lane 0's running / last episode, and a view of it shaped like the
    backtrader episode loop (``strategy``, ``episode``, ``records()``...) for the
    backtrader engine's statistics and rendering code.

    Args:
        core: the env's :class:`~btgym.engine.core.BatchEpisodes`.
        lanes: the env's :class:`~btgym.engine.lanes.LaneLoader` (whole episodes).
        action_keys: names of the action columns.
        render_config: the env's :class:`~btgym.rendering.RenderConfig`.
    """

    lane = 0

    def __init__(self, core: Any, lanes: Any, action_keys: tuple[str, ...], render_config: Any):
        self.core = core
        self.lanes = lanes
        self.action_keys = tuple(action_keys)
        self.render_config = render_config
        self.book: RecordBook | None = None
        self.episode: Any = None
        self.episode_count = 0
        self.active = False
        self._last_obs: dict[str, np.ndarray] | None = None
        #: the strategy's key order: the backtrader loop renders ``"state"`` from its
        #: observation in that order (the envs hand it out in the space's sorted order)
        self._state_keys = tuple(core.config.state_shape)
        self.total_reward = 0.0
        self._t = 0
        self._stamps: list[int] = []
        self._t_start = 0.0
        self._t_end: float | None = None
        lanes.listener = self._begin

    @property
    def last_obs(self) -> dict[str, np.ndarray] | None:
        """The latest observation, keys in the strategy's ``state_shape`` order."""
        obs = self._last_obs
        if obs is None or tuple(obs) == self._state_keys:
            return obs
        return {k: obs[k] for k in self._state_keys if k in obs} | obs

    # ------------------------------------------------------------------ recording

    def _begin(self, lane: int, episode: Any) -> None:
        """A lane starts loading ``episode`` (as the backtrader loop, a reset that
        fails from here on leaves a counted episode without records)."""
        if lane == self.lane:
            self.episode, self.book, self.active = episode, None, False
            self.episode_count += 1

    def start(self, obs: dict[str, np.ndarray]) -> None:
        """The new episode is loaded and observed (row 0)."""
        core, lane = self.core, self.lane
        off = self.lanes.offsets[lane]  # the lane's bar t is the episode's bar t + off
        self._stamps = self.episode.bars.index[off:].tolist()  # python ints: cheap reads
        self.book = RecordBook(0, core.asset_names, self.action_keys, not core.portfolio)
        self.total_reward = 0.0
        self._t_start, self._t_end = time.perf_counter(), None
        self.active = True
        self._row()
        self._last_obs = obs

    def step(self, obs: dict[str, np.ndarray]) -> None:
        """One step ran: its fills (at the bar after the previous decision), its row."""
        self._fills(self._t + 1)
        self._row()
        self._last_obs = obs
        if not self.active:
            self._t_end = time.perf_counter()

    def _row(self) -> None:
        core, lane = self.core, self.lane
        f_row, i_row, a_row, size_row = core.lane_rows(lane)[:4]
        f = f_row.tolist()
        t, _, step, reason, _ = i_row.tolist()
        terminated, truncated = 1 <= reason <= 3, reason == 4  # see core.REASONS
        value, realized = f[kern.VALUE], f[kern.REALIZED]
        reward = f[kern.REWARD]
        row = (reward, value, f[kern.CASH], f[kern.DD], realized,
               value - core.start_cash - realized, *size_row.tolist(), *a_row.tolist())  # fmt: skip
        self.book.add((self._stamps[t], step, terminated, truncated), row)
        self.total_reward += reward
        self._t = t
        if terminated or truncated:
            self.active = False

    def _fills(self, bar: int) -> None:
        core, lane = self.core, self.lane
        br = core.broker
        status = br.fill_status[lane].tolist()
        if COMPLETED not in status:
            return
        fills = br.fills[lane].tolist()
        stamp = self._stamps[bar]
        order = br.oorder[lane].tolist() if len(status) > 1 else [0]
        for a in order:  # executions in submission order, as backtrader notifies them
            st, size, price, _comm, kind = fills[a]
            if st == COMPLETED:
                self.book.add_fill(stamp, a, int(kind), price, size)

    # ------------------------------------------------------------------ the loop's view

    def records(self) -> dict[str, np.ndarray]:
        """Per-step and fill records (fresh arrays; ``{}`` before the first reset)."""
        return {} if self.book is None else self.book.to_dict()

    def episode_bars(self) -> Any:
        """The running / last episode's bars (``None`` before the first reset)."""
        return None if self.episode is None else self.episode.bars

    @property
    def strategy(self) -> Any:
        """What :func:`btgym.server.stats.episode_stat` and
        :func:`btgym.server.render.render_loop` read of the backtrader strategy, from
        the lane's arrays (``None`` before the first reset)."""
        if self.book is None:
            return None
        core, lane = self.core, self.lane
        f = core.F[lane].tolist()
        offset = self.lanes.offsets[lane]
        value, realized = f[kern.VALUE], f[kern.REALIZED]
        return SimpleNamespace(
            step_count=int(core.step_count[lane]),
            bar_index=self._t + offset,
            n_bars=len(self.episode.bars),
            asset_names=core.asset_names,
            start_cash=core.start_cash,
            value=value,
            cash=f[kern.CASH],
            total_reward=self.total_reward,
            max_drawdown=f[kern.MAXDD],
            realized_pnl=realized,
            records=self.book,
            done_reason=REASONS[int(core.reason[lane])],
            bars=self.episode.bars,
        )

    def get_stat(self) -> dict[str, Any]:
        """Statistics of the running / last episode (the backtrader engine's keys)."""
        from btgym.server.stats import episode_stat

        end = self._t_end if self._t_end is not None else time.perf_counter()
        wall = end - self._t_start if self._t_start else 0.0
        return episode_stat(self, wall)


def with_records(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``env_kwargs`` of an env whose episode will be rendered or read back
    (``btgym eval``/``render``, the experiment runner's episode image): the vector engine
    keeps records only when asked, so ``records=True`` is added there unless given; the
    backtrader engine always keeps them and gets the keywords unchanged."""
    if env_kwargs.get("engine") == "vector" and "records" not in env_kwargs:
        return {**env_kwargs, "records": True}
    return env_kwargs
