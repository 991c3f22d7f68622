"""A fast array-backed backtrader feed for :class:`~btgym.datafeed.bars.Bars`.

``bt.feeds.PandasData`` reads every cell through pandas one by one; this feed converts
the bars once into plain Python lists (datetimes already as backtrader's float day
numbers) and ``_load`` only copies six floats per bar into the lines. The datetimes
backtrader sees are exactly the bars' open times (naive, same clock).
"""

from __future__ import annotations

import array
import math

import backtrader as bt
import numpy as np

from btgym.datafeed.bars import Bars
from btgym.datafeed.timeutil import NS_PER_DAY

#: ``datetime.date(1970, 1, 1).toordinal()``: backtrader counts days from 0001-01-01 = 1.
_EPOCH_ORDINAL = 719_163


def bt_datenums(index: np.ndarray) -> np.ndarray:
    """int64-ns stamps → backtrader's float day numbers (same values as
    ``backtrader.date2num`` on the naive datetimes)."""
    day = index // NS_PER_DAY
    rem = index - day * NS_PER_DAY
    return (day + _EPOCH_ORDINAL).astype(np.float64) + rem / float(NS_PER_DAY)


def bt_timeframe(minutes: int) -> tuple[int, int]:
    """``(backtrader TimeFrame, compression)`` for a bar length in minutes."""
    if minutes % 1440 == 0:
        return bt.TimeFrame.Days, minutes // 1440
    return bt.TimeFrame.Minutes, minutes


class BTgymArrayFeed(bt.feed.DataBase):
    """backtrader feed over preconverted columns (``dataname`` is a tuple of six
    lists: datetime numbers, open, high, low, close, volume)."""

    def start(self) -> None:
        super().start()
        self._i = 0
        cols = self.p.dataname
        self._cols = cols
        self._n = len(cols[0])
        ln = self.lines
        self._targets = (ln.datetime, ln.open, ln.high, ln.low, ln.close, ln.volume)
        ln.openinterest  # noqa: B018  (line exists; left at NaN like PandasData's -1 column)

    def _load(self) -> bool:
        i = self._i
        if i >= self._n:
            return False
        dt, o, h, lo, c, v = self._cols
        ldt, lo_, lh, ll, lc, lv = self._targets
        ldt[0] = dt[i]
        lo_[0] = o[i]
        lh[0] = h[i]
        ll[0] = lo[i]
        lc[0] = c[i]
        lv[0] = v[i]
        self._i = i + 1
        return True

    def _can_bulk_load(self, lines: list) -> bool:
        """True when preloading bar by bar would only copy values (no filters, no
        timezone or date limits, plain unbounded buffers, nothing loaded yet)."""
        if self._filters or self._ffilters or self._barstack or self._barstash:
            return False
        if self._tzinput is not None or self._i != 0:
            return False
        if self.fromdate != float("-inf") or self.todate != float("inf"):
            return False
        return all(
            ln.mode == ln.UnBounded and not ln.bindings and ln.lencount == 0 and not len(ln.array)
            for ln in lines
        )

    def preload(self) -> None:
        """Fill the line buffers in one go (same result as backtrader's bar-by-bar
        ``preload``, which is used whenever a filter, timezone or date limit is set)."""
        lines = list(self.lines.lines)
        if not self._can_bulk_load(lines):
            super().preload()
            return
        n = self._n
        for line, col in zip(self._targets, self._cols):
            line.array.extend(col)
        nans = array.array("d", [math.nan]) * n
        for line in lines:
            if not any(line is t for t in self._targets):
                line.array.extend(nans)
            line.idx += n
            line.lencount += n
        self._i = n
        self._last()
        self.home()


def make_feed(bars: Bars, name: str | None = None) -> BTgymArrayFeed:
    """One asset of ``bars`` as a :class:`BTgymArrayFeed` named ``name``."""
    key = bars.names[0] if name is None else name
    vals = bars.values[key]
    cols = (bt_datenums(bars.index).tolist(), *(vals[:, j].tolist() for j in range(5)))
    timeframe, compression = bt_timeframe(bars.timeframe)
    feed = BTgymArrayFeed(dataname=cols, name=key, timeframe=timeframe, compression=compression)
    feed.numrecords = len(bars)
    return feed


def make_feeds(bars: Bars) -> dict[str, BTgymArrayFeed]:
    """Every asset of ``bars`` as a feed: ``{name: feed}`` (BTGym's ``to_btfeed()``)."""
    return {name: make_feed(bars, name) for name in bars.names}
