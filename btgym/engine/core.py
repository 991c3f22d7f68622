"""``BatchEpisodes``: N episodes of the default strategy stepped at once.

Each lane runs one episode with exactly the timeline of
:class:`~btgym.strategy.BTgymBaseStrategy` (see its module doc):

- bars ``0..T-2`` fill the first window, bar ``T-1`` is the reset observation
  (``T`` = ``state_shape['raw'].shape[0]``, else 1);
- an action decided at bar ``t`` becomes market orders that fill at bar ``t+1``'s
  open (:class:`~btgym.engine.broker.BatchBroker`);
- the next decision is ``skip_frame`` bars later or at the episode's last bar (a
  shorter last interval), or earlier at the **first bar** where ``drawdown_call`` /
  ``target_call`` holds: the broker value is computed at every bar in between, and the
  drawdown's peak runs over every bar;
- reward ``(V_t − V_prev) / start_cash · reward_scale``; observation leaves ``raw``,
  ``internal``, ``metadata`` as the strategy computes them (or numpy hooks, see
  :mod:`btgym.engine.hooks`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from btgym.engine import kernel as kern
from btgym.engine.broker import BatchBroker, column, held_value
from btgym.engine.hooks import EngineHooks
from btgym.engine.layout import PackedState, step_packed
from btgym.engine.observe import LaneObservations
from btgym.engine.times import LaneTimes
from btgym.errors import ConfigError

HOLD, BUY, SELL, CLOSE = 0, 1, 2, 3
#: done reasons (``reason`` array codes) → ``done_reason`` strings.
REASONS = ("", "drawdown_call", "target_call", "get_done", "end_of_data")


def icolumn(j: int, doc: str) -> property:
    """A property over column ``j`` of the int table ``self.I``."""

    def get(self):
        return self.I[:, j]

    def put(self, value):
        self.I[:, j] = value

    return property(get, put, doc=doc)


class BatchEpisodes(LaneObservations):
    """``n`` lanes of episodes on one config.

    Args:
        n: number of lanes.
        strategy: a :class:`~btgym.strategy.StrategyConfig`.
        broker: a :class:`~btgym.strategy.BrokerConfig` (stock-like settings only).
        data_names: every data line of the episodes (``raw`` may use them all).
        hooks: vectorized observation / reward / done hooks (default: the strategy's).
        backend: ``"numba"`` (compiled loop, if numba is installed) or ``"numpy"``;
            default: numba when available.
    """

    value = column(kern.VALUE, "broker value at each lane's decision bar (n,)")
    prev_value = column(kern.PREV, "value at the previous decision (n,)")
    peak = column(kern.PEAK, "peak value over every bar so far (n,)")
    drawdown = column(kern.DD, "(peak − value) / peak at the decision bar (n,)")
    max_drawdown = column(kern.MAXDD, "largest drawdown over every bar so far (n,)")
    reward = column(kern.REWARD, "reward of the last step (n,)")
    t = icolumn(kern.T, "decision bar index in each lane's episode (n,)")
    last = icolumn(kern.LAST, "last bar index of each lane's episode (n,)")
    step_count = icolumn(kern.STEP, "steps since reset (n,)")
    reason = icolumn(kern.REASON, "done reason code of the last step, see REASONS (n,)")
    bars_stepped = icolumn(kern.BARS, "bars the last step advanced (n,)")

    def __init__(
        self,
        n: int,
        strategy: Any,
        broker: Any,
        data_names: tuple[str, ...],
        hooks: EngineHooks | None = None,
        backend: str | None = None,
    ) -> None:
        self.n = n
        if backend not in (None, "numba", "numpy"):
            raise ConfigError(f"backend must be 'numba' or 'numpy', got {backend!r}")
        if backend == "numba" and not kern.HAVE_NUMBA:
            raise ConfigError("backend='numba' needs numba (pip install 'btgym[fast]')")
        self.backend = backend or ("numba" if kern.HAVE_NUMBA else "numpy")
        self.config = strategy
        self.data_names = tuple(data_names)
        self.asset_names = tuple(strategy.asset_names or self.data_names)
        self.k = len(self.asset_names)
        self._asset_cols = [self.data_names.index(a) for a in self.asset_names]
        self.portfolio = bool(strategy.portfolio_actions)
        self.n_actions = self.k + 1 if self.portfolio else self.k
        self._pk = pk = PackedState(n, self.k, self.n_actions)
        self.F, self.I = pk.F, pk.I
        self.start_cash = float(broker.start_cash)
        self.broker = BatchBroker(
            n,
            self.k,
            broker.start_cash,
            broker.broker_commission,
            broker.leverage,
            F=self.F,
            shortcash=broker.shortcash,
            arrays=pk.broker_arrays(),
        )
        self.stakes = pk.stakes
        self.stakes[:] = [strategy.stake(a) for a in self.asset_names]
        raw = strategy.state_shape.get("raw")
        self.time_dim = int(raw.shape[0]) if raw is not None else 1
        self.skip = int(strategy.skip_frame)
        self.low = self.start_cash * (1.0 - strategy.drawdown_call / 100.0)
        self.high = self.start_cash * (1.0 + strategy.target_call / 100.0)
        self.reward_scale = float(strategy.reward_scale)
        self.hooks = hooks or EngineHooks()
        self.hooks.bind(self)
        self._plan = self.hooks.observation_plan(strategy.state_shape)
        self._raw_spec = raw
        self._raw_lines = None
        if raw is not None and self.hooks.default_raw:
            if len(raw.shape) != 2 or raw.shape[1] not in (4, 4 * len(self.data_names)):
                raise ConfigError(
                    f"state_shape['raw'] shape {raw.shape} must be (T, 4) (first asset) or "
                    f"(T, {4 * len(self.data_names)}) (OHLC of every data line)"
                )
            self._raw_lines = (
                [self.data_names.index(self.asset_names[0])]
                if raw.shape[1] == 4
                else list(range(len(self.data_names)))
            )
        self.capacity = 0
        self._alloc(max(self.time_dim + 2, 64))
        self.terminated, self.truncated = pk.terminated, pk.truncated
        self.last_action = pk.last_action
        self.meta = np.zeros((n, 5))
        self.episodes: list[Any] = [None] * n
        self.iso_times: list[Any] = [None] * n
        self._lanes = np.arange(n)
        self._all = np.ones(n, bool)
        self.internal = pk.internal
        self._P = pk.P
        self._P[:] = [
            self.start_cash,
            self.broker.commission,
            self.broker.leverage,
            self.low,
            self.high,
            self.reward_scale,
            1.0 if self.broker.shortcash else 0.0,
            *_bounds(strategy.state_shape.get("internal")),
        ]
        #: codes / weights of the step, the kernel's ``acts`` argument
        self._acts = np.zeros((n, self.n_actions), np.float64 if self.portfolio else np.int64)
        self._default_reward = self.hooks.default("get_reward")
        self._default_internal = self.hooks.default("get_internal_state")
        self._has_done_hook = not self.hooks.default("get_done")
        pk.set_flags(self.skip, self.portfolio, self._default_reward)
        self._entry: Any = None
        #: the kernel's arguments (rebuilt when the bar buffers grow)
        self._args: tuple | None = None
        self._masked = False
        self._lane_plan: list | None = None
        meta = strategy.state_shape.get("metadata")
        self._meta_obs = None
        if meta is not None and self.hooks.default("get_metadata_state") and meta.shape == (5,):
            self._meta_obs = np.zeros((n, 5), meta.dtype)

    # ------------------------------------------------------------------ buffers

    def _alloc(self, capacity: int) -> None:
        n, k = self.n, self.k
        old = self.capacity
        opens, closes = np.zeros((n, capacity, k)), np.zeros((n, capacity, k))
        stamps = np.zeros((n, capacity), np.int64)
        raw = None
        if self._raw_lines is not None:
            raw = np.zeros((n, capacity, 4 * len(self._raw_lines)), self._raw_spec.dtype)
        if old:
            opens[:, :old], closes[:, :old], stamps[:, :old] = self.opens, self.closes, self.stamps
            if raw is not None:
                raw[:, :old] = self.raw
        self.opens, self.closes, self.stamps, self.raw = opens, closes, stamps, raw
        self._args = None
        self._rows: dict[int, tuple] = {}
        ohlc = None
        if self.hooks.wants_ohlc:
            ohlc = np.zeros((n, capacity, len(self.data_names), 4))
            if old:
                ohlc[:, :old] = self.ohlc
        self.ohlc = ohlc
        self.capacity = capacity

    def load(self, lane: int, episode: Any) -> None:
        """Put ``episode`` (an :class:`~btgym.datafeed.Episode`) into ``lane`` and reset
        the lane's account (no observation yet: see :meth:`reset_obs`)."""
        bars = episode.bars
        nb = len(bars)
        if nb < self.time_dim + 1:
            raise ConfigError(
                f"the episode has {nb} bars; the state needs {self.time_dim} bars of history "
                "plus one step: sample longer episodes"
            )
        names = tuple(bars.names)
        if names != self.data_names:
            raise ConfigError(f"episode data lines {names} differ from the env's {self.data_names}")
        if nb > self.capacity:
            self._alloc(max(nb, int(self.capacity * 1.5)))
        for j, col in enumerate(self._asset_cols):
            v = bars.values[names[col]]
            self.opens[lane, :nb, j] = v[:, 0]
            self.closes[lane, :nb, j] = v[:, 3]
        self.stamps[lane, :nb] = bars.index
        if self.raw is not None:
            spec = self._raw_spec
            block = np.concatenate(
                [np.asarray(bars.values[names[i]])[:, :4] for i in self._raw_lines], axis=1
            ).astype(spec.dtype)
            if math.isfinite(spec.low) or math.isfinite(spec.high):
                np.clip(block, spec.low, spec.high, out=block)
            self.raw[lane, :nb] = block
        if self.ohlc is not None:
            for i, name in enumerate(names):
                self.ohlc[lane, :nb, i] = bars.values[name][:, :4]
        self.episodes[lane] = episode
        self.iso_times[lane] = LaneTimes(bars.index)
        self.meta[lane] = _meta_vector(getattr(episode, "metadata", None))
        if self._meta_obs is not None:
            spec = self.config.state_shape["metadata"]
            lo = spec.low if math.isfinite(spec.low) else None
            hi = spec.high if math.isfinite(spec.high) else None
            self._meta_obs[lane] = _clip(self.meta[lane].astype(spec.dtype), lo, hi)
        self.t[lane] = self.time_dim - 1
        self.last[lane] = nb - 1
        sc = self.start_cash
        self.value[lane] = self.prev_value[lane] = self.peak[lane] = sc
        self.drawdown[lane] = self.max_drawdown[lane] = self.reward[lane] = 0.0
        self.step_count[lane] = 0
        self.terminated[lane] = self.truncated[lane] = False
        self.reason[lane] = 0
        self.last_action[lane] = 0.0
        self.internal[lane] = np.clip((1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0), *self._P[7:9])
        if self.portfolio:
            self.last_action[lane, 0] = 1.0
        self.broker.reset_lanes(np.array([lane]))

    # ------------------------------------------------------------------ stepping

    def step(self, codes: np.ndarray, active: np.ndarray | None = None) -> None:
        """Execute one action per lane at its decision bar and run every ``active``
        lane to its next decision (results in the lane arrays: :attr:`value`,
        :attr:`reward`, :attr:`terminated`...). ``codes``: int (n, k) for discrete
        actions, float weights (n, k+1) ``[cash, *assets]`` summing to 1 for
        portfolio actions."""
        a = self._all if active is None else active
        if self.backend == "numba":
            self.kernel_step(codes, active)
        else:
            self._step_numpy(codes, a)
            if active is None:
                self.last_action[:] = codes
            else:
                self.last_action[a] = codes[a]
        if not self._default_reward:
            self.reward = np.where(a, self.hooks.reward(self._view()), 0.0)
            self.prev_value = np.where(a, self.value, self.prev_value)
        if self._has_done_hook:
            self._apply_done_hook(a)

    def kernel_step(self, codes: np.ndarray | None, active: np.ndarray | None = None) -> None:
        """The compiled step (numba backend), hooks not applied: ``codes`` go into the
        kernel's action buffer (``None``: already written into :meth:`action_buffer`)."""
        acts = self._acts
        if codes is not None and codes is not acts:
            acts[:] = codes
        pk = self._pk
        if active is not None:
            pk.active[:] = active
            self._masked = True
        elif self._masked:
            pk.active[:] = True
            self._masked = False
        args = self._args
        if args is None:
            args = self._args = pk.kernel_args(self.opens, self.closes, acts)
            self._entry = None
        entry = self._entry
        if entry is None:
            entry = self._entry = _compiled(args)
        entry(*args)

    def action_buffer(self) -> np.ndarray:
        """The kernel's (n, na) action array (write codes into it, then
        ``kernel_step(None)``)."""
        return self._acts

    def _apply_done_hook(self, a: np.ndarray) -> None:
        done_hook = self.hooks.done(self._view())
        if done_hook is not None:
            reason = self.reason
            self.reason = np.where(((reason == 0) | (reason == 4)) & done_hook & a, 3, reason)
            reason = self.reason
            self.terminated[:] = (reason >= 1) & (reason <= 3)
            self.truncated[:] = reason == 4

    def _step_numpy(self, codes: np.ndarray, active: np.ndarray) -> None:
        lanes = self._lanes
        t = self.t.copy()
        br = self.broker
        closes_t = self.closes[lanes, t]
        if self.portfolio:
            self._rebalance(codes, active, closes_t)
        else:
            self._orders(codes, active, closes_t)
        # next bar: fills at the open, then the value at every bar to the decision
        t1 = np.minimum(t + 1, self.last)
        br.fill(self.opens[lanes, t1])
        k = self.skip
        offs = np.arange(k)
        bars = t[:, None] + 1 + offs
        valid = bars <= self.last[:, None]
        bars = np.minimum(bars, self.last[:, None])
        if k == 1:
            vals = br.values_at(self.closes[lanes, t1])[:, None]
        else:
            vals = br.values_at(self.closes[lanes[:, None], bars])
        hit_low = (vals <= self.low) & valid
        hit = hit_low | ((vals >= self.high) & valid)
        anyhit = hit.any(axis=1)
        end = valid.sum(axis=1) - 1
        dec = np.where(anyhit, hit.argmax(axis=1), end)
        value = vals[lanes, dec]
        upto = offs[None, :] <= dec[:, None]
        peak = np.maximum(self.peak, np.where(upto, vals, -np.inf).max(axis=1))
        run = np.maximum.accumulate(np.where(upto, vals, -np.inf), axis=1)
        run = np.maximum(run, self.peak[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            dds = np.where(upto & (run > 0), (run - vals) / run, 0.0)
        max_dd = np.maximum(self.max_drawdown, dds.max(axis=1))
        dd = np.where(peak > 0, (peak - value) / np.where(peak > 0, peak, 1.0), 0.0)
        new_t = t + 1 + dec
        reason = np.where(anyhit, np.where(hit_low[lanes, dec], 1, 2), 0)
        reason = np.where((reason == 0) & (new_t == self.last), 4, reason)
        a = active
        self.bars_stepped = np.where(a, new_t - t, self.bars_stepped)
        self.t = np.where(a, new_t, t)
        self.peak = np.where(a, peak, self.peak)
        self.drawdown = np.where(a, dd, self.drawdown)
        self.max_drawdown = np.where(a, max_dd, self.max_drawdown)
        self.value = np.where(a, value, self.value)
        self.reward = np.where(
            a, (self.value - self.prev_value) / self.start_cash * self.reward_scale, 0.0
        )
        if self._default_reward:
            self.prev_value = np.where(a, self.value, self.prev_value)
        self.step_count = self.step_count + a
        self.reason = np.where(a, reason, 0)
        self.terminated[:] = (self.reason == 1) | (self.reason == 2)
        self.truncated[:] = self.reason == 4

    def _orders(self, codes: np.ndarray, active: np.ndarray, closes_t: np.ndarray) -> None:
        codes = np.where(active[:, None], codes, HOLD)
        if not codes.any():
            return
        size = self.broker.size
        stake = self.stakes[None, :]
        sizes = np.where(codes == BUY, stake, 0.0)
        sizes = np.where(codes == SELL, -stake, sizes)
        sizes = np.where(codes == CLOSE, -size, sizes)  # 0 (no order) when flat
        self.broker.touch_assets(codes == CLOSE)  # close() reads the position at once
        self.broker.touch_assets((codes == BUY) | (codes == SELL))  # at the next bar's check
        self.broker.submit(self._lanes, sizes, closes_t, np.where(sizes != 0, codes, 0))

    def _rebalance(self, w: np.ndarray, active: np.ndarray, closes_t: np.ndarray) -> None:
        br = self.broker
        value = br.value
        pos = br.size
        with np.errstate(invalid="ignore", divide="ignore"):
            current = np.where(value[:, None] > 0, pos * closes_t / value[:, None], 0.0)
        order = np.argsort(w[:, 1:] - current, axis=1, kind="stable")
        target = w[:, 1:] * value[:, None]
        held = held_value(pos, br.pprice, closes_t, br.shortcash)
        lev = br.leverage
        with np.errstate(invalid="ignore", divide="ignore"):
            buy = np.trunc(lev * np.floor_divide(target - held, closes_t))
            sell = np.trunc(lev * np.floor_divide(held - target, closes_t))
        sizes = np.where(target > held, buy, np.where(target < held, -sell, 0.0))
        sizes = np.where((target == 0) & (pos != 0), -pos, sizes)
        sizes = np.where(active[:, None], sizes, 0.0)
        br.touch_assets(np.broadcast_to(active[:, None], sizes.shape))
        kinds = np.where(sizes > 0, BUY, np.where(sizes < 0, SELL, 0))
        br.submit(self._lanes, sizes, closes_t, kinds, order)


def _compiled(args: tuple) -> Any:
    """The compiled packed kernel for these argument types, called past numba's type
    dispatch (any failure of that lookup: the dispatcher itself)."""
    fn = step_packed
    try:
        sig = tuple(fn.typeof_pyval(x) for x in args)
        if sig not in fn.overloads:
            fn.compile(sig)
        return fn.overloads[sig].entry_point
    except Exception:  # pragma: no cover - numba internals changed: dispatch
        return fn


def _bounds(spec: Any) -> tuple[float, float]:
    """The internal leaf's clip bounds, applied by the kernel (±inf: none)."""
    if spec is None:
        return -np.inf, np.inf
    return float(spec.low), float(spec.high)


def _clip(arr: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    if low is not None:
        np.maximum(arr, low, out=arr)
    if high is not None:
        np.minimum(arr, high, out=arr)
    return arr


def _meta_vector(meta: Any) -> np.ndarray:
    from btgym.strategy.state import metadata_vector

    return metadata_vector(meta)
