"""Loading an episode into a lane, beyond the core's arrays: observation encoders and
the backtrader engine's setup warnings.

- **Encoders** (``StrategyConfig(encoders=...)``, ``btgym.models``): per episode the
  lane builds the same :class:`~btgym.models.env_encoders.EpisodeEncoders` the
  backtrader strategy builds (leakage guard included), which binds every encoder to
  the episode's bars once, each row using bars ≤ its own bar only; the observation at
  the decision bar ``t`` is row ``t`` of each leaf, exactly as the strategy serves it.
  When the encoders need a longer warm-up than ``raw``'s time dim, the strategy's
  first decision moves later; the lane then runs the episode from
  ``warm-up − T`` bars in (nothing happens before the first decision: no orders, no
  values, no peak), so its decisions fall on the same bars.
- **Warnings**: the notes :class:`~btgym.strategy.BTgymBaseStrategy` takes at each
  episode's start, worded by the strategy's own code, warned once per env and key
  (``BTgymWarning`` + log): a bounded ``raw`` Box that clips the episode's data, a
  leaf whose first observation lies outside its Box, a ``fixed_stake`` (or one unit,
  for portfolio actions) that ``start_cash`` cannot pay for.

No per-step work: everything here runs once per episode and lane.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np

from btgym.engine.hooks import EngineHooks, LaneView
from btgym.errors import BTgymWarning, ConfigError
from btgym.log import get_logger

log = get_logger(__name__)


class EncoderLeaves:
    """Per-lane rows of every encoder leaf, served to the engine as hooks.

    Args:
        config: the :class:`~btgym.strategy.StrategyConfig` (its ``encoders``).
        n: lanes.
    """

    def __init__(self, config: Any, n: int) -> None:
        from btgym.models.env_encoders import materialise

        self.dicts = tuple(config.encoders)
        self.n = n
        self.specs = {}
        for d in self.dicts:
            for key in materialise(d).spaces():
                self.specs[key] = config.state_shape[key]
        self.capacity = 0
        self.bufs: dict[str, np.ndarray] = {}

    def install(self, hooks: EngineHooks) -> None:
        """Give ``hooks`` a ``get_<key>_state(view)`` per leaf (row ``t`` of each lane)."""
        for key in self.specs:
            setattr(hooks, f"get_{key}_state", self._getter(key))

    def _getter(self, key: str) -> Any:
        def get(view: LaneView) -> np.ndarray:
            return self.bufs[key][view.lanes, view.t]  # fancy indexing: a new array

        return get

    def bind(self, bars: Any, metadata: Any) -> Any:
        """The strategy's per-episode encoders (leakage guard, one bind)."""
        from btgym.models.env_encoders import EpisodeEncoders

        return EpisodeEncoders(self.dicts, bars, metadata)

    def store(self, lane: int, leaves: dict[str, np.ndarray], start: int) -> None:
        """Rows ``start:`` of each leaf into ``lane``'s buffers."""
        rows = len(next(iter(leaves.values()))) - start
        if rows > self.capacity:
            cap = max(rows, int(self.capacity * 1.5), 64)
            for key, spec in self.specs.items():
                buf = np.zeros((self.n, cap, *spec.shape), np.dtype(spec.dtype))
                if key in self.bufs:
                    buf[:, : self.capacity] = self.bufs[key]
                self.bufs[key] = buf
            self.capacity = cap
        for key in self.specs:
            self.bufs[key][lane, :rows] = leaves[key][start:]


class LaneLoader:
    """Loads episodes into the core's lanes (see the module doc).

    Args:
        setup: the env's :class:`~btgym.engine.setup.EngineSetup` (its ``hooks`` are
            made here when ``None``, and get the encoder leaves).
        n: lanes.
    """

    def __init__(self, setup: Any, n: int) -> None:
        self.config = setup.configs["strategy"]
        self.broker = setup.configs["broker"]
        if setup.hooks is None:
            setup.hooks = EngineHooks()
        self.hooks: EngineHooks = setup.hooks
        raw = self.config.state_shape.get("raw")
        self.time_dim = int(raw.shape[0]) if raw is not None else 1
        self.encoders = EncoderLeaves(self.config, n) if self.config.encoders else None
        if self.encoders is not None:
            self.encoders.install(self.hooks)
        #: the episode each lane runs (whole, as sampled) and the bars it skips
        self.episodes: list[Any] = [None] * n
        self.offsets = [0] * n
        self._warned: set[str] = set()
        self._const_checked: set[str] = set()
        #: called with ``(lane, episode)`` when a lane starts loading an episode
        self.listener: Any = None

    def load(self, core: Any, lane: int, episode: Any) -> None:
        """Put ``episode`` into ``lane`` (encoders bound, warm-up aligned, notes warned)."""
        if self.listener is not None:
            self.listener(lane, episode)
        self.episodes[lane], self.offsets[lane] = episode, 0  # even if binding fails
        offset, run = 0, episode
        if self.encoders is not None:
            offset, run = self._bind_encoders(lane, episode)
        self.offsets[lane] = offset
        notes = self._data_notes(episode, offset)
        core.load(lane, run)
        notes += self._first_obs_notes(core, lane)
        self._warn(notes)

    # ------------------------------------------------------------------ encoders

    def _bind_encoders(self, lane: int, episode: Any) -> tuple[int, Any]:
        from btgym.datafeed.episode import Episode

        bars = episode.bars
        enc = self.encoders.bind(bars, getattr(episode, "metadata", None))
        warm = max(self.time_dim, enc.warmup)
        if len(bars) < warm + 1:
            raise ConfigError(
                f"the episode has {len(bars)} bars; the state needs {warm} "
                "bars of history plus one step: sample longer episodes"
            )
        offset = warm - self.time_dim
        self.encoders.store(lane, enc.leaves, offset)
        if not offset:
            return 0, episode
        return offset, Episode(bars.slice(offset, len(bars)), episode.metadata)

    # ------------------------------------------------------------------ warnings

    def _data_notes(self, episode: Any, offset: int) -> list[tuple[str, str]]:
        """The strategy's notes taken before the first observation: ``raw`` clipping
        the episode's data, and stakes ``start_cash`` cannot pay for."""
        from btgym.strategy import BTgymBaseStrategy
        from btgym.strategy.state import StateMixin

        bars, cfg = episode.bars, self.config
        holder = SimpleNamespace(notes=[])
        raw = cfg.state_shape.get("raw")
        check_raw = raw is not None and self.hooks.default_raw and raw.bounded
        if check_raw and "clip:raw" not in self._warned:
            names = tuple(bars.names)
            lines = [self._assets(bars)[0]] if raw.shape[1] == 4 else list(names)
            cols = [np.asarray(bars.values[n])[:, :4] for n in lines]
            ohlc = np.ascontiguousarray(np.concatenate(cols, axis=1), dtype=raw.dtype)
            StateMixin._note_clip(holder, "raw", raw, ohlc)
        assets = self._assets(bars)
        holder.__dict__.update(
            time_dim=self.time_dim + offset,
            broker_config=self.broker,
            start_cash=float(self.broker.start_cash),
            asset_names=assets,
            stakes=[cfg.stake(a) for a in assets],
            bars=bars,
            config=cfg,
        )
        BTgymBaseStrategy._note_unaffordable(holder)
        return holder.notes

    def _assets(self, bars: Any) -> tuple[str, ...]:
        return tuple(self.config.asset_names or bars.names)

    def _first_obs_notes(self, core: Any, lane: int) -> list[tuple[str, str]]:
        """Leaves whose first observation lies outside their Box (encoder leaves and
        the default ``raw`` are checked elsewhere, as the strategy does)."""
        from btgym.strategy.state import StateMixin

        holder = SimpleNamespace(notes=[])
        skip = set(self.encoders.specs) if self.encoders is not None else set()
        view = None
        for key, spec in self.config.state_shape.items():
            if key in skip or not spec.bounded or f"clip:{key}" in self._warned:
                continue
            if key == "raw" and self.hooks.default_raw:
                continue
            constant = key == "internal" and self.hooks.default("get_internal_state")
            if constant and key in self._const_checked:  # (1, 1, 0, ...) at every reset
                continue
            if view is None:
                view = LaneView(core, np.array([lane]))
            values = np.asarray(getattr(self.hooks, f"get_{key}_state")(view), spec.dtype)[0]
            StateMixin._note_clip(holder, key, spec, values)
            if constant:
                self._const_checked.add(key)
        return holder.notes

    def _warn(self, notes: list[tuple[str, str]]) -> None:
        for key, text in notes:
            if key not in self._warned:
                self._warned.add(key)
                log.warning(text)
                warnings.warn(text, BTgymWarning, stacklevel=5)
