"""BTgymBaseStrategy on its own (plain Cerebro) and through the EpisodeLoop:
timeline, observations, broker statistics, records, metadata."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

from btgym.datafeed import SampleMeta
from btgym.server import EpisodeLoop
from btgym.strategy import (
    INTERNAL_DIM,
    BrokerConfig,
    BTgymBaseStrategy,
    StrategyConfig,
    iso_time,
    metadata_vector,
)
from btgym.strategy.info import IsoTimes
from tests.server.helpers import FixedSource, frame

STATE = {"raw": ((5, 4), 0.0, float("inf"), "float32"), "internal": ((7,),),
         "metadata": ((5,), float("-inf"), float("inf"), "float64")}  # fmt: skip
BROKER = BrokerConfig(start_cash=1000.0, broker_commission=0.001)


def loop(n=60, **kw):
    cfg = StrategyConfig(state_shape=STATE, drawdown_call=90, target_call=90, **kw)
    return EpisodeLoop(FixedSource({"a": frame(n, seed=2)}), cfg, BROKER)


def test_plain_cerebro_run_holds_to_the_end():
    source = FixedSource({"a": frame(40)})
    episode = source.sample().sample()
    cerebro = bt.Cerebro(stdstats=False)
    for name, feed in episode.to_btfeed().items():
        cerebro.adddata(feed, name=name)
    BROKER.apply(cerebro)
    cfg = StrategyConfig(state_shape=STATE)
    cerebro.addstrategy(BTgymBaseStrategy, config=cfg, broker_config=BROKER, episode=episode)
    strat = cerebro.run()[0]
    rec = strat.records.to_dict()
    assert strat.step_count == 40 - 5 and strat.done_reason == "end_of_data"
    assert len(rec["time"]) == 36 and rec["time"][0] == episode.bars.index[4]
    assert np.all(rec["broker_value"] == 1000.0) and len(rec["fill_time"]) == 0


def test_internal_state_and_pnl_accounting():
    lp = loop()
    first = lp.reset(seed=0)
    np.testing.assert_allclose(first.obs["internal"], [1, 1, 0, 0, 0, 0, 0])
    lp.step({"a": 1})  # buy 10 at the next open
    r = lp.step({"a": 0})
    s = lp.strategy
    close = s.bars.values["a"][s.bar_index, 3]
    value, cash = r.info["broker_value"], r.info["broker_cash"]
    assert r.info["position"] == {"a": 10.0}
    want = [
        cash / 1000,
        value / 1000,
        10 * close / value,
        r.info["drawdown"],
        10 * close / value,
        r.info["realized_pnl"] / 1000,
        r.info["unrealized_pnl"] / 1000,
    ]
    np.testing.assert_allclose(r.obs["internal"], np.float32(want), rtol=1e-6)
    assert r.obs["internal"].shape == (INTERNAL_DIM,)
    rec = lp.records()
    entry, comm_in = rec["fill_price"][0], rec["fill_price"][0] * 10 * 0.001
    assert r.info["realized_pnl"] == pytest.approx(-comm_in)  # commission counts as realized
    assert r.info["unrealized_pnl"] == pytest.approx(10 * (close - entry))
    closed = lp.step({"a": 3})  # close: fills at the next open, reported with that bar
    assert "CLOSE executed" in closed.info["broker_message"]
    r = lp.step({"a": 0})
    rec = lp.records()
    exit_ = rec["fill_price"][1]
    comm = (entry + exit_) * 10 * 0.001
    assert r.info["position"] == {"a": 0.0}
    assert r.info["realized_pnl"] == pytest.approx(10 * (exit_ - entry) - comm)
    assert r.info["unrealized_pnl"] == pytest.approx(0.0, abs=1e-9)
    assert r.info["broker_value"] == pytest.approx(1000 + r.info["realized_pnl"])
    assert rec["fill_kind"].tolist() == [1, 3] and rec["fill_size"].tolist() == [10.0, -10.0]


def test_short_selling_is_allowed():
    lp = loop()
    lp.reset(seed=0)
    lp.step({"a": 2})
    r = lp.step({"a": 2})
    assert r.info["position"] == {"a": -20.0}
    assert r.obs["internal"][4] < 0 < r.obs["internal"][2]  # net short, gross positive


def test_margin_rejection_is_reported():
    lp = loop(fixed_stake=1000)  # 1000 units at ~100: far beyond the cash
    lp.reset(seed=0)
    r = lp.step({"a": 1})  # rejected when the broker checks it, at the next bar
    assert r.info["position"] == {"a": 0.0} and "Margin" in r.info["broker_message"]
    assert lp.step({"a": 0}).info["broker_message"] == ""


def test_metadata_state_and_vector():
    lp = loop()
    obs = lp.reset(seed=0).obs["metadata"]
    meta = lp.episode.metadata
    np.testing.assert_array_equal(obs, [0, 0, 0, 0, meta.timestamp])
    m = SampleMeta(type=1, trial_num=4, trial_type=1, sample_num=2, first_row=10,
                   source_row=0, num_rows=5, timestamp=1.5e9, last_timestamp=0.0)  # fmt: skip
    np.testing.assert_array_equal(metadata_vector(m), [1, 4, 2, 10, 1.5e9])
    np.testing.assert_array_equal(metadata_vector({"type": 1, "timestamp": "x"}), [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(metadata_vector(None), np.zeros(5))


def test_observation_bounds_are_enforced():
    state = {"raw": ((5, 4), 0.0, 100.5, "float32"), "internal": ((7,), -0.5, 0.5, "float32")}
    lp = EpisodeLoop(FixedSource({"a": frame(60, seed=2)}), StrategyConfig(state_shape=state),
                     BROKER)  # fmt: skip
    r = lp.reset(seed=0)
    assert r.obs["raw"].max() <= 100.5 and r.obs["internal"].max() == 0.5
    assert frame(60, seed=2)["high"].max() > 100.5  # the clip did something


def test_iso_times_match_iso_time_across_chunks():
    index = np.datetime64("2017-01-02T00:00", "ns").astype(np.int64) + np.arange(1500) * 60 * 10**9
    iso = IsoTimes(index)
    for i in (0, 511, 512, 1499):
        assert iso[i] == iso_time(index[i])
    assert iso[0] == "2017-01-02T00:00:00"


def test_empty_records():
    lp = loop()
    assert lp.records() == {} and lp.get_stat() == {"episode": 0, "active": False}
    assert lp.episode_bars() is None
