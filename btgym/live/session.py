"""Policies live: the training strategy run bar by bar, with backtrader's paper broker.

Observations come from the strategy itself, not from a copy of it:

- a :class:`LiveSession` is one backtrader ``Cerebro`` (``preload=False,
  runonce=False``) over :class:`LiveFeed` feeds whose ``_load`` asks for the next closed
  bar through a greenlet switch — the same switch :class:`~btgym.server.loop.EpisodeLoop`
  uses to hand out decisions — so :meth:`LiveSession.feed` switches a bar into the run
  and gets the strategy's decision back, and :meth:`LiveSession.act` switches the action
  in;
- the strategy runs in *streaming mode*: a subclass (:func:`streaming_class`) of the
  checkpoint's strategy class whose per-episode arrays (the ``raw`` window, stamps,
  encoder leaves) are filled row by row as bars arrive instead of precomputed, so both
  modes give equal observations (tested against an in-process env episode on the same
  bars);
- the broker is backtrader's, set from ``BrokerConfig``: a paper account where an action
  at t fills at t+1's open, exactly as in training.

:class:`~btgym.live.policy.PolicyTarget` drives the sessions: a session holds at most
``session_bars`` bars, ends at its last bar or when the drawdown / target call fires, and
the next one opens on the next bar with the start cash, primed with the trailing warm-up
bars, so no bar goes without a decision.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np
from greenlet import GreenletExit, getcurrent, greenlet

from btgym.datafeed import Bars, Episode, SampleMeta
from btgym.datafeed.btfeed import bt_datenums, bt_timeframe
from btgym.datafeed.timeutil import to_posix
from btgym.errors import ConfigError
from btgym.log import get_logger
from btgym.strategy import StepResult
from btgym.strategy.info import iso_time

log = get_logger(__name__)


class _NeedBar:
    def __repr__(self) -> str:
        return "NEED_BAR"


NEED_BAR = _NeedBar()


# ---------------------------------------------------------------------- streaming strategy


class _IsoOnDemand:
    """ISO strings of a growing index, computed per call (rows fill as bars arrive)."""

    def __init__(self, index: np.ndarray) -> None:
        self._index = index

    def __getitem__(self, i: int) -> str:
        return iso_time(int(self._index[i]))


class StreamingMixin:
    """Streaming mode of a :class:`~btgym.strategy.BTgymBaseStrategy`: rows of the
    per-episode arrays are written when their bar arrives (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self._iso = _IsoOnDemand(self.bars.index)
        self._filled = int(self.p.episode.known)  # rows known at session start (warm-up)
        raw = self.state_shape.get("raw")
        self._raw_rows = None
        if raw is not None and self._ohlc is not None and self._default_raw():
            names = tuple(self.bars.names)
            lines = [self.asset_names[0]] if raw.shape[1] == 4 else list(names)
            self._raw_rows = (lines, np.dtype(raw.dtype), raw.low, raw.high, raw.bounded)
        self._init_encoder_streams()

    def _init_encoder_streams(self) -> None:
        """Encoder leaves were bound over rows not yet known: recompute them bar by bar
        with each encoder's ``stream()`` (equal to ``bind`` row for row)."""
        self._streams: list = []
        bound = getattr(self, "_encoders", None)
        if bound is None:
            return
        names = tuple(self.bars.names)
        assets = names if len(names) > 1 else None
        for enc in bound.encoders:
            self._streams.append((enc, enc.stream(self.bars.timeframe, assets=assets)))
        for t in range(self._filled):
            self._encode(t)

    def _encode(self, t: int) -> None:
        if not self._streams:
            return
        names = tuple(self.bars.names)
        values = self.bars.values
        row = {n: values[n][t] for n in names} if len(names) > 1 else values[names[0]][t]
        leaves = self._encoders.leaves
        stamp = int(self.bars.index[t])
        for enc, stream in self._streams:
            value, valid = stream.update(stamp, row)
            leaves[enc.key][t] = value
            if enc.valid_key:
                leaves[f"{enc.key}_valid"][t] = valid

    def next(self) -> None:
        t = self.bar_index + 1
        if not self.finished and t >= self._filled:
            self._fill(t)
        super().next()

    def _fill(self, t: int) -> None:
        self._stamps[t] = int(self.bars.index[t])
        if self._raw_rows is not None:
            lines, dtype, low, high, bounded = self._raw_rows
            values = self.bars.values
            row = np.concatenate([values[n][t, :4] for n in lines]).astype(dtype)
            if bounded:
                np.clip(row, low, high, out=row)
            self._ohlc[t] = row
        self._encode(t)
        self._filled = t + 1


def streaming_class(strategy_class: type) -> type:
    """``strategy_class`` in streaming mode (a subclass; hooks and params unchanged)."""

    class Streaming(StreamingMixin, strategy_class):  # type: ignore[misc, valid-type]
        pass

    Streaming.__name__ = Streaming.__qualname__ = f"Streaming{strategy_class.__name__}"
    return Streaming


# ---------------------------------------------------------------------- the feed


class _Pump:
    """The session's bar buffers; row ``i`` is asked from the runner when first needed."""

    def __init__(self, names: tuple[str, ...], capacity: int) -> None:
        self.names, self.capacity = names, capacity
        self.index = np.zeros(capacity, np.int64)
        self.values = {n: np.zeros((capacity, 5)) for n in names}
        self.datenums = np.zeros(capacity)
        self.known = 0

    def put(self, stamp: int, values: Any) -> None:
        i = self.known
        self.index[i] = stamp
        for n in self.names:
            self.values[n][i] = values[n]
        self.datenums[i] = bt_datenums(self.index[i : i + 1])[0]
        self.known = i + 1

    def pad(self, timeframe: int) -> None:
        """Fill the rows not known yet with flat bars at the next stamps (the last close,
        volume 0), so what reads the whole episode at its start (encoders' ``bind``) sees
        valid bars; each row is overwritten by the real bar before anything uses it."""
        i, n = self.known, self.capacity
        if i >= n:
            return
        step = int(timeframe) * 60_000_000_000
        last = int(self.index[i - 1]) if i else 0
        self.index[i:] = last + step * np.arange(1, n - i + 1, dtype=np.int64)
        for name in self.names:
            price = float(self.values[name][i - 1, 3]) if i else 1.0
            self.values[name][i:, :4] = price
            self.values[name][i:, 4] = 0.0

    def row(self, i: int) -> bool:
        """Make sure row ``i`` is there (switching out for the next closed bar)."""
        while i >= self.known:
            bar = getcurrent().parent.switch(NEED_BAR)
            if bar is None:  # the session is being closed
                return False
            self.put(bar[0], bar[1])
        return True


class LiveFeed(bt.feed.DataBase):
    """A backtrader feed reading one asset of a :class:`_Pump`, bar by bar."""

    params = (("pump", None), ("asset", None))

    def start(self) -> None:
        super().start()
        self._i = 0
        ln = self.lines
        self._targets = (ln.datetime, ln.open, ln.high, ln.low, ln.close, ln.volume)

    def _load(self) -> bool:
        i, pump = self._i, self.p.pump
        if i >= pump.capacity or not pump.row(i):
            return False
        v = pump.values[self.p.asset][i]
        ldt, lo_, lh, ll, lc, lv = self._targets
        ldt[0] = pump.datenums[i]
        lo_[0], lh[0], ll[0], lc[0], lv[0] = v[0], v[1], v[2], v[3], v[4]
        self._i = i + 1
        return True


# ---------------------------------------------------------------------- a session


class LiveEpisode(Episode):
    """An Episode whose bars fill while it runs (``known`` rows so far)."""

    __slots__ = ("pump",)

    def __init__(self, bars: Bars, metadata: SampleMeta, pump: _Pump) -> None:
        super().__init__(bars, metadata)
        self.pump = pump

    @property
    def known(self) -> int:
        return self.pump.known


class LiveSession:
    """One backtrader run over live bars (see the module doc).

    Args:
        target: the :class:`~btgym.live.policy.PolicyTarget` (configs, strategy class,
            asset names, session length).
        warmup: ``(stamp, {asset: row})`` bars before the session's first decision bar.
        number: session number (1, 2, ...).
    """

    def __init__(self, target: Any, warmup: list, number: int) -> None:
        names = target.data_names
        self.number = number
        pump = _Pump(names, target.session_bars)
        for stamp, values in warmup:
            pump.put(stamp, values)
        pump.pad(target.timeframe)
        bars = Bars(names, pump.index, pump.values, target.timeframe)
        first = warmup[0][0] if warmup else 0
        meta = SampleMeta(
            type=1,
            trial_num=0,
            trial_type=1,
            sample_num=number - 1,
            first_row=0,
            source_row=0,
            num_rows=target.session_bars,
            timestamp=to_posix(first),
            last_timestamp=to_posix(first),
            name=f"live_session_{number}",
        )
        self.episode = LiveEpisode(bars, meta, pump)
        cerebro = bt.Cerebro(stdstats=False, preload=False, runonce=False, tradehistory=False)
        tf, comp = bt_timeframe(target.timeframe)
        for n in names:
            feed = LiveFeed(pump=pump, asset=n, name=n, timeframe=tf, compression=comp)
            cerebro.adddata(feed, name=n)
        target.broker_config.apply(cerebro)
        cerebro.addstrategy(
            target.strategy_class,
            config=target.strategy_config,
            broker_config=target.broker_config,
            episode=self.episode,
            channel=self,
        )
        self.strategy: Any = None
        self.done = False
        self._glet = greenlet(cerebro.run)
        msg = self._switch()
        if msg is not NEED_BAR:
            raise ConfigError(f"live session {number}: the strategy decided before any live bar")

    def attach(self, strategy: Any) -> None:
        self.strategy = strategy

    def emit(self, result: StepResult) -> Any:
        """Called by the strategy (inside the run): hand out the decision, get the action."""
        return getcurrent().parent.switch(result)

    def _switch(self, *args: Any) -> Any:
        glet = self._glet
        if glet.parent is not getcurrent():
            glet.parent = getcurrent()
        try:
            msg = glet.switch(*args)
        except BaseException:
            self.done = True
            raise
        if glet.dead:
            self.done = True
        return msg

    def feed(self, stamp: int, values: Any) -> StepResult | None:
        """One closed bar in; the strategy's decision at it (``None``: no decision)."""
        msg = self._switch((stamp, values))
        return msg if isinstance(msg, StepResult) else None

    def act(self, action: Any) -> None:
        """The canonical action for the last decision (placed as backtrader orders)."""
        self._switch(action)

    def close(self) -> None:
        """End the run (idempotent)."""
        glet = self._glet
        if glet is not None and not glet.dead:
            try:
                glet.throw(GreenletExit)
            except Exception as exc:  # a strategy's cleanup failing must not block
                log.debug(f"closing live session {self.number}: {type(exc).__name__}: {exc}")
        self.done = True
