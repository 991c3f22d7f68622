"""Observation building of :class:`~btgym.strategy.base.BTgymBaseStrategy`.

Each ``state_shape`` key ``k`` is computed by ``get_k_state()``; the result is copied
into a fresh array of the leaf's dtype, its shape checked and clipped to the leaf's
finite bounds, so observations always lie in the declared space.

Default leaves (see the strategy's module doc): ``raw`` (T×OHLC window of bars ≤ t,
a view over arrays converted once per episode), ``internal`` (7 normalised broker
statistics) and ``metadata`` (5 numbers of the episode's ``SampleMeta``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from btgym.errors import ConfigError
from btgym.strategy.config import METADATA_DIM

_META_FIELDS = ("type", "trial_num", "sample_num", "first_row", "timestamp")


def metadata_vector(meta: Any) -> np.ndarray:
    """``SampleMeta`` (object or dict) → float64 ``[type, trial_num, sample_num,
    first_row, timestamp]``; missing or non-numeric fields are 0."""
    out = np.zeros(METADATA_DIM, np.float64)
    if meta is None:
        return out
    for i, name in enumerate(_META_FIELDS):
        value = meta.get(name) if isinstance(meta, dict) else getattr(meta, name, None)
        if value is None:
            continue
        if hasattr(value, "timestamp"):  # datetime / pandas Timestamp
            value = value.timestamp()
        elif isinstance(value, np.datetime64):
            value = value.astype("datetime64[ns]").astype(np.int64) / 1e9
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            out[i] = 0.0
    return out


class StateMixin:
    """Observation hooks and the per-decision observation builder."""

    def _init_state(self) -> None:
        custom = type(self).get_state is not StateMixin.get_state
        #: setup warnings ``(key, text)``, handed out with the reset (warned once per key)
        self.notes: list[tuple[str, str]] = []
        self._clip_check: set[str] = set()  # leaves checked at the first observation
        self._init_raw()
        enc = self._episode_encoders()
        encoded = enc.getters(self) if enc is not None else {}
        plan = []
        for key, spec in self.state_shape.items():
            getter = encoded.get(key) or getattr(self, f"get_{key}_state", None)
            if getter is None and not custom:
                raise ConfigError(
                    f"state_shape key {key!r} has no get_{key}_state() method on "
                    f"{type(self).__name__}"
                )
            low = spec.low if math.isfinite(spec.low) else None
            high = spec.high if math.isfinite(spec.high) else None
            if key == "raw" and not custom and self._default_raw() and (low, high) != (None, None):
                self._note_clip(key, spec, self._ohlc)
                np.clip(self._ohlc, spec.low, spec.high, out=self._ohlc)  # once per episode
                low = high = None
            elif key in encoded:  # encoder leaves are clipped to their Box once, at bind
                low = high = None
            else:
                self._clip_check.add(key)
            plan.append((key, getter, np.dtype(spec.dtype), spec.shape, low, high))
        self._obs_plan = plan
        self._encoder_keys = set(encoded)
        self._custom_state = custom
        # the default raw leaf alone, already clipped (or unbounded): one slice copy
        self._raw_only = (
            not custom
            and not encoded
            and len(plan) == 1
            and plan[0][0] == "raw"
            and plan[0][4:] == (None, None)
            and self._default_raw()
        )
        self._meta_vec = metadata_vector(getattr(self.episode, "metadata", None))

    def _default_raw(self) -> bool:
        return type(self).get_raw_state is StateMixin.get_raw_state and self._ohlc is not None

    def warmup_bars(self) -> int:
        """Bars of history the first observation needs (``raw``'s time dim, else 1;
        at least every encoder's warm-up)."""
        raw = self.state_shape.get("raw")
        bars = int(raw.shape[0]) if raw is not None else 1
        enc = self._episode_encoders()
        return max(bars, enc.warmup) if enc is not None else bars

    def _episode_encoders(self) -> Any:
        """The episode's bound encoders (``None`` without any); built once per episode,
        checking the leakage guard (``btgym.models.env_encoders``)."""
        if not getattr(self.config, "encoders", ()):
            return None
        if getattr(self, "_encoders", None) is None:
            from btgym.models.env_encoders import EpisodeEncoders

            self._encoders = EpisodeEncoders(
                self.config.encoders, self.bars, getattr(self.episode, "metadata", None)
            )
        return self._encoders

    def _init_raw(self) -> None:
        raw = self.state_shape.get("raw")
        self._ohlc = None
        self._raw_len = int(raw.shape[0]) if raw is not None else 0  # ≤ time_dim (encoders)
        if raw is None:
            return
        names = tuple(self.bars.names)
        if len(raw.shape) != 2 or raw.shape[1] not in (4, 4 * len(names)):
            raise ConfigError(
                f"state_shape['raw'] shape {raw.shape} must be (T, 4) (first asset) "
                f"or (T, {4 * len(names)}) (OHLC of every data line {names})"
            )
        lines = [self.asset_names[0]] if raw.shape[1] == 4 else list(names)
        cols = [np.asarray(self.bars.values[n])[:, :4] for n in lines]
        self._ohlc = np.ascontiguousarray(np.concatenate(cols, axis=1), dtype=raw.dtype)

    def _observe(self) -> dict[str, np.ndarray]:
        if self._raw_only and not self._clip_check:  # a view of the right dtype and shape
            t = self.bar_index
            return {"raw": self._ohlc[t - self._raw_len + 1 : t + 1].copy()}
        state = self.get_state() if self._custom_state else None
        obs = {}
        for key, getter, dtype, shape, low, high in self._obs_plan:
            if state is None or key in self._encoder_keys:
                value = getter()
            else:
                try:
                    value = state[key]
                except KeyError:
                    raise ConfigError(f"get_state() returned no {key!r} observation") from None
            arr = np.array(value, dtype=dtype)
            if arr.shape != shape:
                raise ConfigError(
                    f"observation {key!r} has shape {arr.shape}, state_shape says {shape}"
                )
            if self._clip_check and key in self._clip_check:
                self._clip_check.discard(key)
                self._note_clip(key, self.state_shape[key], arr)
            if low is not None:
                np.maximum(arr, low, out=arr)
            if high is not None:
                np.minimum(arr, high, out=arr)
            obs[key] = arr
        return obs

    def _note_clip(self, key: str, spec: Any, values: np.ndarray) -> None:
        """Note (warned once at reset) when a leaf's Box would clip real values."""
        if not spec.bounded or not values.size:
            return
        lo, hi = float(np.min(values)), float(np.max(values))
        if lo < spec.low or hi > spec.high:
            self.notes.append((
                f"clip:{key}",
                f"state_shape[{key!r}] is Box({spec.low:g}, {spec.high:g}) but the "
                f"{'episode data' if key == 'raw' else 'first observation'} has values in "
                f"[{lo:.6g}, {hi:.6g}]: observations are clipped to the Box (widen its "
                "bounds, or normalise in get_" + key + "_state())",
            ))  # fmt: skip

    # ------------------------------------------------------------------ hooks

    def get_state(self) -> dict[str, Any]:
        """The observation, keyed like ``state_shape`` (calls ``get_<key>_state()``)."""
        return {key: getter() for key, getter, *_ in self._obs_plan}

    def get_raw_state(self) -> np.ndarray:
        """OHLC of the last ``T`` bars (≤ the current bar): a view, copied by the caller."""
        t = self.bar_index
        return self._ohlc[t - self._raw_len + 1 : t + 1]

    def get_internal_state(self) -> np.ndarray:
        """``[cash/start, value/start, gross exposure, drawdown, net exposure,
        realized_pnl/start, unrealized_pnl/start]`` (exposures over the value)."""
        start, value = self.start_cash, self.value
        gross = net = 0.0
        for data, size in zip(self.asset_datas, self.position_sizes):
            if size:
                exposure = size * data.close[0]
                gross += abs(exposure)
                net += exposure
        denom = value if value > 0 else start
        realized = self.realized_pnl
        return np.array(
            (
                self.cash / start,
                value / start,
                gross / denom,
                self.drawdown,
                net / denom,
                realized / start,
                (value - start - realized) / start,
            ),
        )

    def get_metadata_state(self) -> np.ndarray:
        """The episode's ``SampleMeta`` as ``[type, trial_num, sample_num, first_row,
        timestamp]`` (POSIX seconds)."""
        return self._meta_vec
