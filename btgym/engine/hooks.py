"""Vectorized observation, reward and done hooks of the vector engine, in numpy.

The backtrader engine calls ``get_<key>_state()``, ``get_reward()`` and
``get_done()`` on one strategy per bar. The vector engine calls the same-named methods
of an :class:`EngineHooks` object **once per batch step**, with a :class:`LaneView`
over every lane at its decision bar; each returns one row per lane::

    import numpy as np
    from btgym.engine import EngineHooks, VectorBTgymEnv

    class Momentum(EngineHooks):
        def get_trend_state(self, view):           # state_shape key "trend"
            closes = view.closes_window(20)[..., 0]             # (m, 20) first asset
            return (closes[:, -1:] - closes) / closes[:, -1:]   # (m, 20)

        def get_reward(self, view):                # (m,) float
            return super().get_reward(view) - 1e-4 * np.abs(view.position).sum(axis=1)

        def get_done(self, view):                  # (m,) bool, or None: never
            return view.step >= 500

    env = VectorBTgymEnv(num_envs=64, hooks=Momentum(), state_shape={
        "raw": Box(0, 10, (30, 4)), "trend": Box(-1, 1, (20,))}, filename=...)

Everything a hook may read is in :class:`LaneView` (bars ≤ the decision bar only).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from btgym.errors import ConfigError


class LaneView:
    """Read-only view of lanes at their decision bar (arrays, one row per lane).

    Attributes:
        lanes: lane indices (m,).
        t: the decision bar's index in each lane's episode (m,).
        step: env steps since reset (m,).
        start_cash: float.
    """

    def __init__(self, core: Any, lanes: np.ndarray) -> None:
        self._core = core
        self.lanes = lanes
        self.t = core.t[lanes]
        self.step = core.step_count[lanes]
        self.start_cash = core.start_cash

    @property
    def cash(self) -> np.ndarray:
        """Broker cash (m,)."""
        return self._core.broker.cash[self.lanes]

    @property
    def value(self) -> np.ndarray:
        """Broker value (m,)."""
        return self._core.value[self.lanes]

    @property
    def prev_value(self) -> np.ndarray:
        """Broker value at the previous decision (m,)."""
        return self._core.prev_value[self.lanes]

    @property
    def position(self) -> np.ndarray:
        """Signed position sizes (m, k)."""
        return self._core.broker.size[self.lanes]

    @property
    def drawdown(self) -> np.ndarray:
        """Fraction below the peak value over every bar so far (m,)."""
        return self._core.drawdown[self.lanes]

    @property
    def realized_pnl(self) -> np.ndarray:
        """Σ executed PnL − commissions (m,)."""
        return self._core.broker.realized[self.lanes]

    @property
    def unrealized_pnl(self) -> np.ndarray:
        """``value − start_cash − realized`` (m,)."""
        return self.value - self.start_cash - self.realized_pnl

    @property
    def close(self) -> np.ndarray:
        """Close of each traded asset at the decision bar (m, k)."""
        return self._core.closes[self.lanes, self.t]

    @property
    def metadata(self) -> np.ndarray:
        """``[type, trial_num, sample_num, first_row, timestamp]`` (m, 5)."""
        return self._core.meta[self.lanes]

    def _window(self, buf: np.ndarray, length: int) -> np.ndarray:
        if length > self._core.time_dim:
            raise ConfigError(
                f"a hook asked for {length} bars of history; the warm-up is "
                f"{self._core.time_dim} bars (state_shape['raw'] time dim)"
            )
        idx = self.t[:, None] - length + 1 + np.arange(length)
        return buf[self.lanes[:, None], idx]

    def closes_window(self, length: int) -> np.ndarray:
        """Closes of the traded assets over the last ``length`` bars (m, length, k)."""
        return self._window(self._core.closes, length)

    def opens_window(self, length: int) -> np.ndarray:
        """Opens of the traded assets over the last ``length`` bars (m, length, k)."""
        return self._window(self._core.opens, length)

    def ohlc_window(self, length: int) -> np.ndarray:
        """OHLC of every data line over the last ``length`` bars (m, length, lines, 4);
        needs ``wants_ohlc = True`` on the hooks class."""
        if self._core.ohlc is None:
            raise ConfigError("ohlc_window() needs `wants_ohlc = True` on the hooks class")
        return self._window(self._core.ohlc, length)


class EngineHooks:
    """The default strategy's observation, reward and done, vectorized.

    Override ``get_<key>_state(view)`` for a ``state_shape`` key, ``get_reward(view)``
    or ``get_done(view)``; set ``wants_ohlc = True`` to read every data line's OHLC.
    """

    #: keep every data line's OHLC (for :meth:`LaneView.ohlc_window`).
    wants_ohlc = False

    def bind(self, core: Any) -> None:
        """Called once by the engine."""
        self.core = core

    def default(self, name: str) -> bool:
        """True when hook ``name`` is not overridden."""
        return getattr(type(self), name) is getattr(EngineHooks, name)

    @property
    def default_raw(self) -> bool:
        return type(self).get_raw_state is EngineHooks.get_raw_state

    def observation_plan(self, state_shape: Any) -> list[tuple]:
        """``(key, hook, dtype, shape, low, high)`` per observation leaf."""
        plan = []
        # in the observation space's key order (gymnasium's Dict sorts a dict's keys),
        # as BTgymEnv's observations come
        for key, spec in sorted(state_shape.items()):
            fn = getattr(self, f"get_{key}_state", None)
            if fn is None:
                raise ConfigError(
                    f"state_shape key {key!r} has no get_{key}_state(view) method on "
                    f"{type(self).__name__} (the vector engine's hooks, see docs/engine.md)"
                )
            low = spec.low if math.isfinite(spec.low) else None
            high = spec.high if math.isfinite(spec.high) else None
            if key == "raw" and self.default_raw:
                low = high = None  # clipped once per episode
            plan.append((key, fn, np.dtype(spec.dtype), tuple(spec.shape), low, high))
        return plan

    # ------------------------------------------------------------------ hooks

    def get_raw_state(self, view: LaneView) -> np.ndarray:
        """OHLC of the last ``T`` bars (m, T, 4) or (m, T, 4·lines)."""
        core = self.core
        T = core.time_dim
        if core.backend == "numba" and len(view.lanes) == core.n:
            from btgym.engine.kernel import gather_windows

            out = np.empty((core.n, T, core.raw.shape[2]), core.raw.dtype)
            gather_windows(core.raw, view.t, T, out)
            return out
        windows = np.lib.stride_tricks.sliding_window_view(core.raw, T, axis=1)
        return windows[view.lanes, view.t - T + 1].transpose(0, 2, 1).copy()

    def get_internal_state(self, view: LaneView) -> np.ndarray:
        """``[cash/start, value/start, gross exposure, drawdown, net exposure,
        realized/start, unrealized/start]`` (m, 7), as the strategy computes it."""
        start = view.start_cash
        value = view.value
        expo = view.position * view.close
        gross = np.zeros(len(value))
        net = np.zeros(len(value))
        for j in range(expo.shape[1]):
            gross = gross + np.abs(expo[:, j])
            net = net + expo[:, j]
        denom = np.where(value > 0, value, start)
        realized = view.realized_pnl
        return np.stack(
            (
                view.cash / start,
                value / start,
                gross / denom,
                view.drawdown,
                net / denom,
                realized / start,
                (value - start - realized) / start,
            ),
            axis=1,
        )

    def get_metadata_state(self, view: LaneView) -> np.ndarray:
        """The episode's ``[type, trial_num, sample_num, first_row, timestamp]`` (m, 5)."""
        return view.metadata

    def get_reward(self, view: LaneView) -> np.ndarray:
        """``(V − V_prev) / start_cash · reward_scale`` (m,)."""
        return (view.value - view.prev_value) / view.start_cash * self.core.reward_scale

    def get_done(self, view: LaneView) -> np.ndarray | None:
        """Extra termination per lane, asked at decision bars (default ``None``: never)."""
        return None

    # engine entry points
    def reward(self, view: LaneView) -> np.ndarray:
        return np.asarray(self.get_reward(view), np.float64).reshape(-1)

    def done(self, view: LaneView) -> np.ndarray | None:
        out = self.get_done(view)
        return None if out is None else np.asarray(out, bool).reshape(-1)
