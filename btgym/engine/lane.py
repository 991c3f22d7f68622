"""The single env's per-step path: one engine lane stepped and read back cheaply.

:class:`LaneStep` reads a one-lane engine's step result, ``(obs, reward,
terminated, truncated, info)``, from prepared views of the packed tables
(:mod:`btgym.engine.layout`): one ``tolist()`` per table instead of a numpy scalar
per value, broker-message numbers from float-keyed string caches, ISO times from the
episode's :class:`~btgym.engine.times.LaneTimes`, observations as fresh copies. With
the compiled backend, a one-asset discrete env whose hooks are the defaults steps
through one closure (:meth:`LaneStep.code_stepper`) that also skips the engine's
Python step. :func:`one_lane_reader` does the same read for a one-lane
``VectorBTgymEnv``, batched. The values are exactly those of
:func:`btgym.engine.info.lane_step` / :func:`~btgym.engine.info.batch_info` and
:meth:`~btgym.engine.observe.LaneObservations.observe_lane` /
:meth:`~btgym.engine.observe.LaneObservations.observe` (``tests/engine/test_lane.py``
compares them byte for byte).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from btgym.engine import info as info_mod
from btgym.engine.broker import COMPLETED
from btgym.engine.core import CLOSE, REASONS, BatchEpisodes
from btgym.engine.info import asset_message, broker_message, margin_message, one_lane_step
from btgym.engine.kernel import CASH, DD, REALIZED, REWARD, VALUE
from btgym.errors import ConfigError

#: observation plans the inline reader handles: (internal, metadata, raw window), the
#: observation space's sorted key order
_DEFAULT_MODES = (1, 2, 0)


class LaneStep:
    """Step results of lane 0 of a one-lane :class:`BatchEpisodes`.

    Args:
        core: the engine (``n == 1``).
        action_keys: the info's action keys.
    """

    def __init__(self, core: BatchEpisodes, action_keys: tuple[str, ...]) -> None:
        if core.n != 1:
            raise ConfigError(f"LaneStep reads a one-lane engine, got {core.n} lanes")
        self.core = core
        pk = core._pk
        k = core.k
        self._size0 = pk.columns["size"][0]
        self._fills0 = pk.columns["fills"][0]
        self._head = pk.lanes[0, : pk.columns["fills"][1]]  # F, size, fills of lane 0
        self._ints = pk.I[0]
        self._flags = pk.flags[:2]  # terminated, truncated of lane 0
        self._last = pk.last_action[0]
        self._acts = core.action_buffer()
        self._k = k
        self._names = core.asset_names
        self._keys = tuple(action_keys)
        self._start = core.start_cash
        self._portfolio = core.portfolio
        #: codes stepped without the engine's Python step (see :meth:`code_stepper`)
        self.fast = (
            core.backend == "numba"
            and not core.portfolio
            and k == 1
            and core._default_reward
            and not core._has_done_hook
        )
        plan = core._lane_plan or core._make_lane_plan()
        self._obs_keys = tuple(key for key, _, _ in plan)
        self._inline_obs = tuple(mode for _, mode, _ in plan) == _DEFAULT_MODES
        self._internal_dtype = plan[0][2] if self._inline_obs else None
        self._internal = pk.internal[0]
        self._meta = None if core._meta_obs is None else core._meta_obs[0]
        self._T = core.time_dim
        self._raw_src: Any = None
        self._raw: Any = None

    def code_stepper(self) -> Callable[[int], tuple] | None:
        """A function stepping a one-asset discrete action ``code`` (0..3) on the
        compiled kernel and returning what :meth:`result` would: one closure, its state
        in cells rather than attributes (the single env's per-step path: one long
        function on purpose, every helper call or attribute read costs a measurable
        share of a ~4 µs step). None where :attr:`fast` is false."""
        if not self.fast:
            return None
        core = self.core
        head, ints, flags, acts = self._head, self._ints, self._flags, self._acts
        name0, key0, start = self._names[0], self._keys[0], self._start
        fo, so = self._fills0, self._size0
        inline, T = self._inline_obs, self._T
        k0, k1, k2 = self._obs_keys if inline else (None, None, None)
        internal, meta, idtype = self._internal, self._meta, self._internal_dtype
        observe_lane, kernel_step, iso_times = core.observe_lane, core.kernel_step, core.iso_times
        G, G6, g, g6 = info_mod._G, info_mod._G6, info_mod._g, info_mod._g6
        margin = margin_message(name0)
        raw_state: list[Any] = [None, None]  # the bar buffer, lane 0's view of it
        time_state: list[Any] = [None, []]  # the episode's LaneTimes, its strings

        def step(code: int) -> tuple[dict, float, bool, bool, dict]:
            acts[0, 0] = code
            args, entry = core._args, core._entry
            if args is None or entry is None:
                kernel_step(None)
            else:
                entry(*args)
            f = head.tolist()
            t, _, n_step, reason, bars = ints.tolist()
            terminated, truncated = flags.tolist()
            value, realized = f[VALUE], f[REALIZED]
            status = f[fo]
            iso = iso_times[0]  # the episode's LaneTimes: its strings list, filled lazily
            if iso is not time_state[0]:  # a new episode (its list made by the first read)
                stamp = iso[t]
                time_state[0], time_state[1] = iso, iso.strings
            else:
                stamp = time_state[1][t]
                if stamp is None:
                    stamp = iso[t]
            info = {
                "step": n_step,
                "time": stamp,
                "action": {key0: int(code)},
                "broker_cash": f[CASH],
                "broker_value": value,
                "position": {name0: f[so]},
                "drawdown": f[DD],
                "realized_pnl": realized,
                "unrealized_pnl": value - start - realized,
                "broker_message": "",
            }
            if status == COMPLETED:  # asset_message, inlined
                size, price, comm = f[fo + 1], f[fo + 2], f[fo + 3]
                what = "CLOSE" if f[fo + 4] == CLOSE else ("BUY" if size > 0 else "SELL")
                info["broker_message"] = (
                    f"{name0}: {what} executed, size {G.get(size) or g(size)}, "
                    f"price {G6.get(price) or g6(price)}, comm {G6.get(comm) or g6(comm)}"
                )
            elif status:
                info["broker_message"] = margin
            if reason:
                info["done_reason"] = REASONS[reason]
                info["bars_stepped"] = bars
            if inline:
                raw = raw_state[1]
                if core.raw is not raw_state[0]:  # the bar buffers grew: new views
                    raw_state[0], raw_state[1] = core.raw, core.raw[0]
                    raw = raw_state[1]
                t1 = t + 1
                obs = {k0: internal.astype(idtype), k1: meta.copy(), k2: raw[t1 - T : t1].copy()}
            else:
                obs = observe_lane(0)
            return obs, f[REWARD], terminated, truncated, info

        return step

    def result(self, action: dict | None = None) -> tuple[dict, float, bool, bool, dict]:
        """``(obs, reward, terminated, truncated, info)`` of the lane after a step
        (``action``: the info's action dict, default: read from the engine)."""
        f = self._head.tolist()
        t, _, step, reason, bars = self._ints.tolist()
        terminated, truncated = self._flags.tolist()
        value, realized = f[VALUE], f[REALIZED]
        if self._k == 1:
            fo = self._fills0
            message = asset_message(self._names[0], *f[fo : fo + 5]) if step else ""
            position = {self._names[0]: f[self._size0]}
        else:
            message = broker_message(self.core, 0) if step else ""
            position = dict(zip(self._names, f[self._size0 : self._size0 + self._k]))
        if action is None:
            action = self._action()
        info = {
            "step": step,
            "time": self._time(t),
            "action": action,
            "broker_cash": f[CASH],
            "broker_value": value,
            "position": position,
            "drawdown": f[DD],
            "realized_pnl": realized,
            "unrealized_pnl": value - self._start - realized,
            "broker_message": message,
        }
        if reason:
            info["done_reason"] = REASONS[reason]
            info["bars_stepped"] = bars
        return self.observe(t), f[REWARD], terminated, truncated, info

    def observe(self, t: int) -> dict[str, np.ndarray]:
        """The lane's observation at bar ``t`` (fresh arrays)."""
        core = self.core
        if not self._inline_obs:
            return core.observe_lane(0)
        if core.raw is not self._raw_src:  # the bar buffers grew: new views
            self._raw_src, self._raw = core.raw, core.raw[0]
        k0, k1, k2 = self._obs_keys
        t1 = t + 1
        return {
            k0: self._internal.astype(self._internal_dtype),
            k1: self._meta.copy(),
            k2: self._raw[t1 - self._T : t1].copy(),
        }

    def _action(self) -> dict:
        act = self._last.tolist()
        if self._portfolio:
            return dict(zip(self._keys, act))
        if len(act) == 1:
            return {self._keys[0]: int(act[0])}
        return {k: int(a) for k, a in zip(self._keys, act)}

    def _time(self, t: int) -> str:
        return self.core.iso_times[0][t]


def one_lane_reader(
    core: BatchEpisodes, action_keys: tuple[str, ...], messages: bool
) -> Callable[[], tuple] | None:
    """For a one-lane ``VectorBTgymEnv``: a function returning ``(obs, reward,
    terminated, truncated, info, done)`` of the lane after a step, batched (arrays of
    one row, exactly what ``observe()`` / ``batch_info`` give) from one read of its
    rows; ``done`` a Python bool. None where the observation plan is not the default
    one on the compiled backend."""
    if core.n != 1 or core.backend != "numba":
        return None
    plan = core._lane_plan or core._make_lane_plan()
    if tuple(mode for _, mode, _ in plan) != _DEFAULT_MODES:
        return None
    (k0, _, idtype), (k1, _, _), (k2, _, _) = plan
    T, flags, internal = core.time_dim, core._pk.flags[:2], core._pk.internal
    keys = tuple(action_keys)

    def read() -> tuple:
        info, t, reward = one_lane_step(core, keys, messages)
        terminated, truncated = flags.tolist()
        t1 = t + 1
        obs = {
            k0: internal.astype(idtype),
            k1: core._meta_obs.copy(),
            k2: core.raw[0:1, t1 - T : t1].copy(),
        }
        return (
            obs,
            np.array([reward]),
            np.array([terminated]),
            np.array([truncated]),
            info,
            terminated or truncated,
        )

    return read
