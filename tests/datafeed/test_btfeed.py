"""The array-backed backtrader feed: identical runs to PandasData, exact datetimes."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from btgym.datafeed import (
    BTgymArrayFeed,
    BTgymDataset,
    CointegratedPairSource,
    bt_datenums,
    load_bars,
    make_feed,
)
from tests.datafeed.helpers import BTC_PARAMS, eurusd


class Recorder(bt.Strategy):
    """Trades on a fixed schedule and records what it saw."""

    def __init__(self):
        self.seen = []
        self.k = 0

    def next(self):
        d = self.datas[0]
        self.seen.append(
            (d.datetime.datetime(0), d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0])
        )
        self.k += 1
        if self.k % 40 == 1:
            self.buy(size=10_000)
        elif self.k % 40 == 21:
            self.close()
        elif self.k % 40 == 30:
            self.sell(size=5_000)


def _run(feed, **cerebro_kw):
    cerebro = bt.Cerebro(stdstats=False, **cerebro_kw)
    cerebro.adddata(feed)
    cerebro.addstrategy(Recorder)
    cerebro.broker.setcash(100_000)
    cerebro.broker.setcommission(commission=0.0001)
    strat = cerebro.run()[0]
    return strat, cerebro.broker.getvalue(), cerebro.broker.getcash()


@pytest.mark.parametrize(
    "mode",
    [{}, {"preload": False}, {"runonce": False}, {"exactbars": 1}],
    ids=["preload+runonce", "no-preload", "preload+next", "exactbars"],
)
def test_same_strategy_run_as_pandasdata(shared_data, mode):
    ds = BTgymDataset(filename=eurusd(shared_data, 1), episode_duration={"hours": 12}, seed=5)
    ep = ds.sample()
    feed = ep.to_btfeed()["default_asset"]
    assert isinstance(feed, BTgymArrayFeed)
    ours, value, cash = _run(feed, **mode)
    ref = bt.feeds.PandasData(dataname=ep.data, timeframe=bt.TimeFrame.Minutes, openinterest=None)
    theirs, ref_value, ref_cash = _run(ref, **mode)
    assert len(ours.seen) == len(ep) == len(theirs.seen)
    assert ours.seen == theirs.seen
    assert value == ref_value and cash == ref_cash
    assert value != 100_000  # trades happened


def test_date_limits_fall_back_to_bar_by_bar_loading(shared_data):
    ep = BTgymDataset(filename=eurusd(shared_data, 1), seed=7).sample()
    start = ep.data.index[100].to_pydatetime()
    feed = make_feed(ep.bars)
    feed.p.fromdate = start  # a date limit: backtrader's own preload must filter
    strat, _, _ = _run(feed)
    assert len(strat.seen) == len(ep) - 100 and strat.seen[0][0] == start


def test_backtrader_datetimes_equal_bar_open_stamps(shared_data):
    ds = BTgymDataset(filename=eurusd(shared_data, 1), seed=6)
    ep = ds.sample()
    strat, _, _ = _run(ep.to_btfeed()["default_asset"])
    seen = pd.DatetimeIndex([row[0] for row in strat.seen])
    np.testing.assert_array_equal(seen.as_unit("ns").asi8, ep.bars.index)
    # the float day numbers are exactly backtrader's own date2num
    stamps = ep.bars.frame().index.to_pydatetime()
    assert bt_datenums(ep.bars.index).tolist() == [bt.date2num(d) for d in stamps]


def test_hourly_feed_uses_minutes_compression(shared_data):
    bars = load_bars(str(shared_data / "BTC_USD_hour_data.csv"), parsing_params=BTC_PARAMS)
    feed = make_feed(bars)
    assert feed.p.timeframe == bt.TimeFrame.Minutes and feed.p.compression == 60
    strat, _, _ = _run(feed)
    assert len(strat.seen) == 337 and strat.seen[0][0] == pd.Timestamp("2018-10-17 08:00")


def test_multi_asset_episode_gives_one_feed_per_asset():
    pair = CointegratedPairSource(num_bars=3000, names=("a", "b"), seed=2)
    ds = BTgymDataset(
        filename=pair, episode_duration={"hours": 10}, start_00=False, start_weekdays=None, seed=0
    )
    ep = ds.sample()
    feeds = ep.to_btfeed()
    assert list(feeds) == ["a", "b"] and isinstance(ep.data, dict)

    class Both(bt.Strategy):
        def __init__(self):
            self.rows = []

        def next(self):
            self.rows.append(
                (
                    self.datas[0].datetime[0],
                    self.datas[1].datetime[0],
                    self.datas[0].close[0],
                    self.datas[1].close[0],
                )
            )

    cerebro = bt.Cerebro(stdstats=False)
    for name, feed in feeds.items():
        cerebro.adddata(feed, name=name)
    cerebro.addstrategy(Both)
    rows = cerebro.run()[0].rows
    assert len(rows) == 600 and all(r[0] == r[1] for r in rows)
    np.testing.assert_array_equal([r[3] for r in rows], ep.bars.close("b"))
