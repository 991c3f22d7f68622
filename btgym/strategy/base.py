"""``BTgymBaseStrategy``: the backtrader strategy behind every btgym env.

At each *decision bar* the strategy builds an observation, a reward and an info
dict, hands them to the episode loop (``channel.emit``) and gets the next action
back; the action becomes backtrader market orders placed at that bar, which fill at
the next bar's open (backtrader's default, no cheat-on-open).

Timeline of an episode of ``n`` bars (indices 0..n-1), ``T`` = warm-up bars
(``state_shape['raw'].shape[0]``, else 1), ``k`` = ``skip_frame``:

- bars 0..T-2 fill the first window; no decision;
- bar T-1 is the reset observation; then every k-th bar is a decision bar;
- the episode ends at the first bar where (checked at *every* bar from T-1 on, not
  only at decision bars, whatever ``skip_frame`` is):
  ``drawdown_call`` is hit (value ≤ start·(1 − drawdown_call/100)) → **terminated**;
  ``target_call`` is hit (value ≥ start·(1 + target_call/100)) → **terminated**;
  ``get_done()`` returns True (asked at decision bars) → **terminated**;
  it is the last bar of the data → **truncated** (the episode was cut by the data,
  not by the agent's outcome). The final observation is of that bar, so the last
  interval may be shorter than ``k``: its length is ``info["bars_stepped"]`` on the
  final step, and the reward is the value change over the bars actually stepped.
- the broker value, its peak and the drawdown are updated at every bar, so
  ``info["drawdown"]`` is measured from the highest value of any bar so far.

Observations at bar t use bars ≤ t only (hooks read ``self.bar_index``).

Default observation leaves (:mod:`btgym.strategy.state`):

- ``raw``: the last ``T`` bars' OHLC, ``(T, 4)`` for one asset (``asset_names[0]``)
  or ``(T, 4·m)`` for all ``m`` data lines (asset-major: o, h, l, c per asset);
- ``internal`` (7,): ``[cash/start, value/start, gross exposure, drawdown,
  net exposure, realized_pnl/start, unrealized_pnl/start]`` where exposures are
  Σ|size·close| / value and Σ size·close / value;
- ``metadata`` (5,): ``[type, trial_num, sample_num, first_row, timestamp]`` of the
  episode's ``SampleMeta`` (timestamp in POSIX seconds).

Reward (``get_reward``): ``(V_t − V_prev) / start_cash · reward_scale``, ``V`` the
broker value (commission already paid out of it), ``V_prev`` the value at the
previous decision; 0 at reset. Finite for every ``skip_frame``.

Hooks to override: ``get_<key>_state()``, ``get_state()``, ``get_reward()``,
``get_done()``, ``get_info()`` (extend ``super().get_info()``). Don't override
``next()``. Info keys: :mod:`btgym.strategy.info`.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np

from btgym.errors import ConfigError
from btgym.log import get_logger
from btgym.strategy.config import BrokerConfig, StrategyConfig
from btgym.strategy.info import InfoLayout, IsoTimes
from btgym.strategy.orders import OrderBookkeeping
from btgym.strategy.records import RecordBook
from btgym.strategy.state import StateMixin
from btgym.strategy.step import FINISH, StepResult

log = get_logger(__name__)


class BTgymBaseStrategy(StateMixin, OrderBookkeeping, bt.Strategy):
    """The default btgym strategy (see module doc for timeline, state and reward).

    Params (backtrader ``params``):
        config: :class:`StrategyConfig`.
        broker_config: :class:`BrokerConfig`.
        episode: the ``Episode`` (its ``bars`` and ``metadata`` are read directly).
        channel: the episode loop's link: ``channel.emit(StepResult) -> action``
            (``None``: hold to the end, for plain backtrader runs).
    """

    params = (("config", None), ("broker_config", None), ("episode", None), ("channel", None))

    def __init__(self) -> None:
        cfg: StrategyConfig = self.p.config or StrategyConfig()
        self.config = cfg
        self.broker_config: BrokerConfig = self.p.broker_config or BrokerConfig()
        episode = self.p.episode
        if episode is None:
            raise ConfigError(f"{type(self).__name__} needs the episode (params.episode)")
        self.episode = episode
        self.bars = episode.bars
        self.n_bars = len(self.bars)
        names = tuple(self.bars.names)
        self.asset_names = cfg.asset_names or names
        missing = [a for a in self.asset_names if a not in names]
        if missing:
            raise ConfigError(f"asset_names {missing} are not in the episode's data {names}")
        self.asset_datas = [self.getdatabyname(a) for a in self.asset_names]
        self.stakes = [cfg.stake(a) for a in self.asset_names]
        self.start_cash = float(self.broker_config.start_cash)
        self.state_shape = cfg.state_shape
        self.time_dim = self.warmup_bars()
        if self.n_bars < self.time_dim + 1:
            raise ConfigError(
                f"the episode has {self.n_bars} bars; the state needs {self.time_dim} "
                "bars of history plus one step: sample longer episodes"
            )
        self._init_state()
        self._init_trading()
        self._note_unaffordable()
        attach = getattr(self.p.channel, "attach", None)
        if attach is not None:
            attach(self)

    def _init_trading(self) -> None:
        cfg = self.config
        portfolio = cfg.portfolio_actions
        keys = [cfg.cash_name, *self.asset_names] if portfolio else list(self.asset_names)
        initial = [0.0] * len(keys)
        if portfolio:
            initial[0] = 1.0
        self.last_action: Any = tuple(initial)  # the action that led to the observation
        self.records = RecordBook(
            (self.n_bars - self.time_dim) // cfg.skip_frame + 2,
            self.asset_names,
            keys,
            discrete=not portfolio,
        )
        self.info_layout = InfoLayout(self.asset_names, keys, discrete=not portfolio)
        self._iso = IsoTimes(self.bars.index)
        self._stamps = self.bars.index.tolist()  # python ints: cheap per-step reads
        self._reward_scale = float(cfg.reward_scale)
        self._row: tuple = ()
        self._init_bookkeeping()
        self.step_count = -1
        self.bar_index = -1
        self.value = self.peak_value = self.prev_value = self.cash = self.start_cash
        self.drawdown = self.max_drawdown = 0.0
        self.position_sizes = [0.0] * len(self.asset_names)
        self.total_reward = 0.0
        self.done_reason = ""
        self.broker_message = ""
        self.finished = False
        self._low_value = self.start_cash * (1.0 - cfg.drawdown_call / 100.0)
        self._high_value = self.start_cash * (1.0 + cfg.target_call / 100.0)
        self._last_index = self.n_bars - 1
        self._skip = cfg.skip_frame
        self._first_decision = self._next_decision = self.time_dim - 1
        self._prev_decision = self._first_decision
        self.bars_stepped = 0
        self.done_info: dict[str, Any] = {}
        self._emit = self.p.channel.emit if self.p.channel is not None else None
        # a lazy channel (the process server) reads the standard info from the records
        cls = type(self)
        self._default_info = cls.get_info is BTgymBaseStrategy.get_info
        self._lazy_info = self._default_info and bool(getattr(self.p.channel, "lazy_info", False))
        self._check_done = cls.get_done is not BTgymBaseStrategy.get_done
        self._default_reward = cls.get_reward is BTgymBaseStrategy.get_reward
        self._build_info = self.info_layout.build
        self._rec_ints, self._rec_floats = self.records.ints, self.records.floats
        self._data0 = self.asset_datas[0] if len(self.asset_datas) == 1 else None

    def _note_unaffordable(self) -> None:
        """Note (warned once at reset) an asset that ``start_cash`` cannot buy one unit
        of (portfolio), or whose ``fixed_stake`` it cannot pay for (discrete)."""
        t = self.time_dim - 1
        broker, cash = self.broker_config, self.start_cash
        for name, stake in zip(self.asset_names, self.stakes):
            price = float(self.bars.values[name][t, 3])
            per_unit = broker.margin if broker.margin is not None else price / broker.leverage
            if self.config.portfolio_actions:
                if cash < per_unit:
                    self.notes.append((
                        f"cash:{name}",
                        f"start_cash={cash:g} cannot buy one unit of {name!r} (price "
                        f"{price:.6g}, leverage {broker.leverage:g}): its portfolio weight "
                        "makes no order; raise start_cash",
                    ))  # fmt: skip
            elif cash < stake * per_unit:
                self.notes.append((
                    f"stake:{name}",
                    f"a buy or sell of fixed_stake={stake:g} units of {name!r} (price "
                    f"{price:.6g}, leverage {broker.leverage:g}) needs {stake * per_unit:.6g} "
                    f"but start_cash is {cash:g}: the broker will reject it; lower "
                    "fixed_stake / order_size or raise start_cash",
                ))  # fmt: skip

    # ------------------------------------------------------------------ the bar loop

    def next(self) -> None:
        if self.finished:
            return
        t = self.bar_index = self.bar_index + 1
        if t < self._first_decision:  # warm-up: the first window is not full yet
            return
        # every bar: the value, its peak and the stops (whatever skip_frame is)
        value = self.broker.getvalue()
        peak = self.peak_value
        if value > peak:
            self.peak_value = peak = value
        dd = (peak - value) / peak if peak > 0 else 0.0
        self.drawdown = dd
        if dd > self.max_drawdown:
            self.max_drawdown = dd
        self.value = value
        if value <= self._low_value:
            self._decide(t, "drawdown_call")
        elif value >= self._high_value:
            self._decide(t, "target_call")
        elif t == self._next_decision or t == self._last_index:
            self._decide(t, "")

    def _decide(self, t: int, reason: str) -> None:
        if self.step_count < 0:
            self._check_alignment(t)
        self._next_decision = t + self._skip
        self.bars_stepped = t - self._prev_decision
        self._prev_decision = t
        broker = self.broker
        self.cash = cash = broker.getcash()
        positions = broker.positions  # .get: no empty Position the broker would then value
        if self._data0 is not None:  # one asset: no comprehension frame
            p = positions.get(self._data0)
            sizes = [float(p.size) if p else 0.0]
        else:
            sizes = [float(p.size) if (p := positions.get(d)) else 0.0 for d in self.asset_datas]
        self.position_sizes = sizes
        step = self.step_count = self.step_count + 1
        value = self.value
        if not step:
            reward = 0.0
        elif self._default_reward:  # get_reward() inlined
            reward = (value - self.prev_value) / self.start_cash * self._reward_scale
        else:
            reward = float(self.get_reward())
        obs = self._observe()
        if not reason and self._check_done and self.get_done():
            reason = "get_done"
        terminated = bool(reason)
        truncated = not terminated and t == self._last_index
        if truncated:
            reason = "end_of_data"
        self.done_reason = reason
        if reason:
            self.done_info = {"done_reason": reason, "bars_stepped": self.bars_stepped}
        messages = self.broker_messages
        if messages:
            self.broker_message = "; ".join(messages)
            messages.clear()
        elif self.broker_message:
            self.broker_message = ""
        realized = self.realized_pnl
        row = (reward, value, cash, self.drawdown, realized, value - self.start_cash - realized,
               *sizes, *self.last_action)  # fmt: skip
        self._row = row
        self._rec_ints.append((self._stamps[t], step, terminated, truncated))
        self._rec_floats.append(row)
        if self._lazy_info:
            info = None
        elif self._default_info:
            info = self._build_info(row, step, self._iso[t], self.broker_message)
            if reason:
                info.update(self.done_info)
        else:
            info = self.get_info()
            if reason:
                info.update(self.done_info)
        self.total_reward += reward
        self.prev_value = value
        result = StepResult(obs, reward, terminated, truncated, info)
        action = self._emit(result) if self._emit is not None else None
        if terminated or truncated or action is FINISH:
            self.finished = True
            self.env.runstop()
        elif action is not None:
            self.execute_action(action)

    def _check_alignment(self, t: int) -> None:
        expected = np.datetime64(self._stamps[t], "ns")
        got = np.datetime64(bt.num2date(self.data0.datetime[0]), "ns")
        if abs(int(got - expected)) > 1_000 or len(self.data0) != t + 1:
            raise ConfigError(
                f"the backtrader feed is not aligned with the episode's bars: bar {t} is "
                f"{got} in the feed but {expected} in the bars"
            )

    # ------------------------------------------------------------------ hooks

    def standard_info(self) -> dict[str, Any]:
        """The standard info dict of the latest decision (see :mod:`btgym.strategy.info`)."""
        info = self.info_layout.build(
            self._row, self.step_count, self._iso[self.bar_index], self.broker_message
        )
        if self.done_reason:
            info.update(self.done_info)
        return info

    def get_reward(self) -> float:
        """Change of broker value since the previous decision, over start cash, scaled."""
        return (self.value - self.prev_value) / self.start_cash * self._reward_scale

    def get_done(self) -> bool:
        """Extra termination condition, asked at each decision bar (default: never)."""
        return False

    def get_info(self) -> dict[str, Any]:
        """The per-step info dict (override and extend ``super().get_info()``; values
        must be JSON-able for the process mode)."""
        return self.standard_info()
