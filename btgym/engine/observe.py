"""Observations of the engine's lanes: batched (:meth:`observe`) and the single env's
per-lane fast path (:meth:`observe_lane`, :meth:`lane_rows`); mixed into
:class:`~btgym.engine.core.BatchEpisodes`."""

from __future__ import annotations

import numpy as np

from btgym.engine import kernel as kern
from btgym.engine.hooks import LaneView
from btgym.errors import ConfigError


class LaneObservations:
    """Observation methods of :class:`~btgym.engine.core.BatchEpisodes` (they use its
    buffers: ``raw``, ``internal``, ``_meta_obs``, ``F``, ``I``, ``_plan``...)."""

    def lane_rows(self, lane: int) -> tuple:
        """Views of ``lane``'s rows ``(F, I, last_action, size, raw, internal, meta)``,
        made once (until the buffers grow) for the single env's per-step reads."""
        rows = self._rows.get(lane)
        if rows is None:
            raw = None if self.raw is None else self.raw[lane]
            meta = None if self._meta_obs is None else self._meta_obs[lane]
            rows = (
                self.F[lane],
                self.I[lane],
                self.last_action[lane],
                self.broker.size[lane],
                raw,
                self.internal[lane],
                meta,
            )
            self._rows[lane] = rows
        return rows

    def observe_lane(self, lane: int) -> dict[str, np.ndarray]:
        """Observation of one lane (the single env's fast path): fresh arrays."""
        plan = self._lane_plan
        if plan is None:
            plan = self._lane_plan = self._make_lane_plan()
        _, ints, _, _, raw, internal, meta = self.lane_rows(lane)
        obs = {}
        other = None
        for key, mode, dtype in plan:
            if mode == 0:  # default raw: a copy of the window
                t = int(ints[kern.T]) + 1
                obs[key] = raw[t - self.time_dim : t].copy()
            elif mode == 1:  # default internal, clipped by the kernel
                obs[key] = internal.astype(dtype)
            elif mode == 2:  # default metadata, clipped at load
                obs[key] = meta.copy()
            else:
                if other is None:
                    other = self.observe(np.array([lane]))
                obs[key] = other[key][0]
        return obs

    def _make_lane_plan(self) -> list[tuple[str, int, np.dtype]]:
        """``(key, mode, dtype)`` per leaf: how :meth:`observe_lane` gets it."""
        plan = []
        for key, _fn, dtype, _shape, _low, _high in self._plan:
            mode = 3
            if key == "raw" and self.hooks.default_raw:
                mode = 0
            elif key == "internal" and self._default_internal and self.backend == "numba":
                mode = 1
            elif key == "metadata" and self._meta_obs is not None:
                mode = 2
            plan.append((key, mode, dtype))
        return plan

    def _observe_all(self) -> dict[str, np.ndarray]:
        """:meth:`observe` of every lane, the default leaves read straight from the
        buffers as :meth:`observe_lane` reads them (raw windows and metadata were
        clipped at load, the internal state by the kernel: the clip is a no-op)."""
        plan = self._lane_plan
        if plan is None:
            plan = self._lane_plan = self._make_lane_plan()
        obs: dict[str, np.ndarray] = {}
        other = None
        for key, mode, dtype in plan:
            if mode == 0:
                T = self.time_dim
                out = np.empty((self.n, T, self.raw.shape[2]), self.raw.dtype)
                kern.gather_windows(self.raw, np.ascontiguousarray(self.t), T, out)
                obs[key] = out
            elif mode == 1:
                obs[key] = self.internal.astype(dtype)
            elif mode == 2:
                obs[key] = self._meta_obs.copy()
            else:
                if other is None:
                    other = self.observe(self._lanes)
                obs[key] = other[key]
        return obs

    def _view(self, lanes: np.ndarray | None = None) -> LaneView:
        return LaneView(self, self._lanes if lanes is None else lanes)

    def observe(self, lanes: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Observations of ``lanes`` (default all) at their current bar: fresh arrays
        ``{key: (m, *shape)}`` of the leaves' dtypes, clipped to finite bounds."""
        if lanes is None and self.backend == "numba":
            return self._observe_all()
        view = self._view(lanes)
        obs = {}
        for key, fn, dtype, shape, low, high in self._plan:
            if key == "internal" and self._default_internal and self.backend == "numba":
                arr = self.internal if lanes is None else self.internal[lanes]
            else:
                arr = np.asarray(fn(view))
            fresh = arr.dtype == dtype and arr.base is None and arr is not self.internal
            arr = arr.astype(dtype, copy=not fresh)
            if arr.shape[1:] != shape:
                raise ConfigError(
                    f"observation {key!r} has shape {arr.shape[1:]}, expected {shape}"
                )
            if low is not None:
                np.maximum(arr, low, out=arr)
            if high is not None:
                np.minimum(arr, high, out=arr)
            obs[key] = arr
        return obs
