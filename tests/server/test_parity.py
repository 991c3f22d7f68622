"""Parity (DESIGN §4): replaying an episode's actions through a plain ``bt.Strategy``
on the same bars and broker settings ends at the same broker value (1e-9).

The replay knows nothing of btgym's strategy: it reads the bars and the action
records, places the same market orders at the same bars with plain backtrader calls
and reads ``broker.getvalue()``.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

from btgym.datafeed import make_feeds
from btgym.strategy import BrokerConfig

from .conftest import small_strategy
from .helpers import FixedSource, frame, make_domain

BROKER = BrokerConfig(start_cash=10_000.0, broker_commission=0.002, leverage=1.0)
STAKE = 20.0


class Replay(bt.Strategy):
    """Plain backtrader: at bar ``t`` place ``plan[t]`` (per-asset codes or weights)."""

    params = (("plan", None), ("stop_at", None), ("weights", False), ("stake", STAKE))

    def __init__(self):
        self.values = {}

    def next(self):
        t = len(self) - 1
        self.values[t] = self.broker.getvalue()
        todo = self.p.plan.get(t)
        if todo is None or t == self.p.stop_at:
            return
        if self.p.weights:
            value = self.broker.getvalue()
            current = [self.getposition(d).size * d.close[0] / value for d in self.datas]
            for i in sorted(range(len(self.datas)), key=lambda i: todo[i + 1] - current[i]):
                self.order_target_percent(data=self.datas[i], target=todo[i + 1])
            return
        for data, code in zip(self.datas, todo):
            if code == 1:
                self.buy(data=data, size=self.p.stake)
            elif code == 2:
                self.sell(data=data, size=self.p.stake)
            elif code == 3:
                self.close(data=data)


def replay_value(bars, rec, assets, weights=False, cash_name="default_cash"):
    """The plain run's broker value at the bar of the episode's last record."""
    rows = np.searchsorted(bars.index, rec["time"])
    keys = ([cash_name] if weights else []) + list(assets)
    plan = {}
    for k in range(1, len(rows)):  # row k's action was decided at row k-1's bar
        plan[int(rows[k - 1])] = [rec[f"action/{a}"][k] for a in keys]
    cerebro = bt.Cerebro(stdstats=False)
    feeds = make_feeds(bars)
    for name in bars.names:
        cerebro.adddata(feeds[name], name=name)
    cerebro.broker.setcash(BROKER.start_cash)
    cerebro.broker.setcommission(commission=BROKER.broker_commission, leverage=BROKER.leverage)
    cerebro.addstrategy(Replay, plan=plan, stop_at=int(rows[-1]), weights=weights)
    strat = cerebro.run()[0]
    return strat.values[int(rows[-1])]


def random_episode(h, rng, n_assets=1, weights=False, p_hold=0.6):
    assets = h.asset_names
    while True:
        if weights:
            w = rng.dirichlet(np.ones(n_assets + 1)) if rng.random() > p_hold else None
            action = w if w is not None else np.r_[1.0, np.zeros(n_assets)]
            if w is None and rng.random() < 0.5:
                action = np.r_[0.5, np.full(n_assets, 0.5 / n_assets)]
        else:
            codes = [0 if rng.random() < p_hold else int(rng.integers(1, 4)) for _ in assets]
            action = dict(zip(assets, codes))
        _, _, terminated, truncated, info = h.step(action)[:5]
        if terminated or truncated:
            return info


@pytest.mark.slow
def test_parity_random_discrete_episodes(handles, mode):
    strat = small_strategy(fixed_stake=STAKE, drawdown_call=50, target_call=50)
    h = handles(
        mode, data_source=make_domain(num_bars=8000, hours=3), strategy=strat, broker=BROKER
    )
    rng = np.random.default_rng(42)
    h.reset(seed=42)
    fills = 0
    for episode in range(22):
        if episode:
            h.reset()
        info = random_episode(h, rng)
        rec = h.records()
        fills += len(rec["fill_time"])
        value = replay_value(h.episode_bars(), rec, h.asset_names)
        assert abs(value - info["broker_value"]) <= 1e-9, episode
        assert abs(rec["broker_value"][-1] - info["broker_value"]) <= 1e-12
    assert fills > 22 * 10  # the episodes really traded


def two_assets(n=400):
    return FixedSource({"a": frame(n, seed=1), "b": frame(n, seed=2)})


def test_parity_two_assets_discrete(handles, mode):
    strat = small_strategy(fixed_stake=STAKE, state_shape={"raw": ((10, 8),)})
    h = handles(mode, data_source=two_assets(), strategy=strat, broker=BROKER)
    rng = np.random.default_rng(1)
    for episode in range(3):
        h.reset(seed=episode)
        info = random_episode(h, rng, n_assets=2)
        rec = h.records()
        assert set(info["position"]) == {"a", "b"}
        value = replay_value(h.episode_bars(), rec, ("a", "b"))
        assert abs(value - info["broker_value"]) <= 1e-9


def test_parity_portfolio_weights(handles, mode):
    strat = small_strategy(portfolio_actions=True, state_shape={"raw": ((10, 8),)})
    h = handles(mode, data_source=two_assets(), strategy=strat, broker=BROKER)
    rng = np.random.default_rng(5)
    for episode in range(3):
        _obs, info0 = h.reset(seed=episode)
        assert info0["action"] == {"default_cash": 1.0, "a": 0.0, "b": 0.0}
        info = random_episode(h, rng, n_assets=2, weights=True)
        rec = h.records()
        assert len(rec["fill_time"]) > 0
        assert abs(sum(info["action"].values()) - 1.0) < 1e-12
        value = replay_value(h.episode_bars(), rec, ("a", "b"), weights=True)
        assert abs(value - info["broker_value"]) <= 1e-9
